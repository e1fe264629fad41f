/* fuzz_file.c — one libFuzzer harness for every file parser: the input is written to a file with the
 * extension of the format being fuzzed (so the format is chosen as it would be for a real file), then
 * opened as a checkpoint (or .npy, a tokenizer.model, an image, a sound, a video, a data pickle), and everything it
 * yields is used. The format comes from LOCUS_FUZZ_EXT (".gguf", ".wav", ...), so one build serves
 * them all. Built by tests/fuzz/run.sh with AddressSanitizer and UBSan. */
#include "locus.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *ext(void) {
    static const char *e;
    if (!e) e = getenv("LOCUS_FUZZ_EXT") ? getenv("LOCUS_FUZZ_EXT") : ".gguf";
    return e;
}

static int is(const char *e) { return strcmp(ext(), e) == 0; }

static void touch(const locus_tensor *t) {
    locus_tensor *f = locus_cast(t, LOCUS_F32); /* reads every element it claims */
    locus_tensor_free(f);
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size) {
    static char path[64];
    if (!path[0]) snprintf(path, sizeof path, "/dev/shm/locus_fuzz_%d%s", (int)getpid(), ext());
    FILE *f = fopen(path, "wb");
    if (!f) return 0;
    fwrite(data, 1, size, f);
    fclose(f);
    if (is(".model")) { /* a SentencePiece tokenizer.model */
        locus_tokenizer *t = locus_tokenizer_load(path);
        if (t) {
            static const char text[] = "Hello world, naïve 🦙 <im_patch>\n\t end";
            int32_t ids[256];
            char back[1024];
            locus_tokenizer_add_token(t, "<im_patch>", locus_tokenizer_vocab_size(t), 1, 1);
            int64_t n = locus_tokenizer_encode(t, text, sizeof text - 1, 1, ids, 256);
            if (n > 0 && n <= 256) locus_tokenizer_decode(t, ids, n, 1, back, sizeof back);
            locus_tokenizer_free(t);
        }
        return 0;
    }
    if (is(".jpg") || is(".png")) { /* pictures, then GroundingGPT's preprocessing */
        locus_tensor *img = locus_image_load(path, 1);
        if (img && img->sizes[0] * img->sizes[1] <= 1 << 20) {
            int64_t shape[3] = {32, 32, 3};
            locus_tensor *small = locus_tensor_empty(LOCUS_U8, 3, shape);
            locus_image_resize(small, img);
            locus_tensor_free(small);
        }
        locus_tensor_free(img);
        return 0;
    }
    if (is(".wav") || is(".flac") || is(".ogg")) { /* sounds: probed, then a stretch resampled to 16 kHz */
        locus_audio_info info;
        if (locus_audio_probe(path, &info) == 0) {
            locus_tensor *t = locus_audio_read(path, 16000, 0, 4000);
            locus_tensor_free(t);
        }
        return 0;
    }
    if (is(".mp4")) { /* videos: probed, then the first and last frames picked and squashed */
        locus_video_info info;
        if (locus_video_probe(path, &info, 0) == 0 && info.frames > 0) {
            int64_t idx[2] = {0, info.frames - 1};
            locus_tensor *t = locus_video_frames(path, idx, info.frames > 1 ? 2 : 1, 32, 32, NULL);
            locus_tensor_free(t);
        }
        return 0;
    }
    if (is(".p")) { /* a data pickle (refer's refs.p) as JSON */
        size_t len;
        char *json = locus_pickle_json(path, &len);
        if (json && strlen(json) != len) abort(); /* the JSON holds no NUL byte */
        locus_text_free(json);
        return 0;
    }
    if (is(".npy")) {
        for (int use_mmap = 0; use_mmap < 2; use_mmap++) {
            locus_tensor *t = locus_npy_load(path, use_mmap);
            if (t) touch(t);
            locus_tensor_free(t);
        }
        return 0;
    }
    locus_weights *w = locus_weights_open(path);
    if (!w) return 0;
    for (int64_t i = 0; i < locus_weights_count(w); i++) {
        locus_tensor *t = locus_weights_get(w, locus_weights_info_at(w, i)->name);
        if (t) touch(t);
        locus_tensor_free(t);
    }
    (void)locus_weights_metadata_json(w);
    (void)locus_weights_metadata_types_json(w);
    locus_weights_close(w);
    return 0;
}
