/* Checkpoint readers in C, so that AddressSanitizer and UBSan watch them: every layout of the
 * fixture state dict against the reference values, every broken or hostile file refused with its
 * reason, and every single-byte corruption and truncation of small files handled without a crash. */
#include "check.h"

#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

static char fixtures[512];
static char tmpdir[] = "/tmp/locus_weights_XXXXXX";

static const char *fx(const char *rel) {
    static char buf[8][768];
    static int slot = 0;
    slot = (slot + 1) % 8;
    snprintf(buf[slot], sizeof buf[slot], "%s/ckpt/%s", fixtures, rel);
    return buf[slot];
}

/* The tensor's values as f32 (or i64 for integers) equal the reference .npy bit for bit. */
static int same_as_reference(locus_tensor *t, const char *name) {
    char ref_path[768];
    snprintf(ref_path, sizeof ref_path, "%s/ckpt/ref/%s.npy", fixtures, name);
    locus_tensor *ref = locus_npy_load(ref_path, 0);
    if (!ref) return 0;
    int want_type = ref->type == LOCUS_BOOL ? LOCUS_U8 : ref->type;
    locus_tensor *a = locus_cast(t, want_type), *b = locus_cast(ref, want_type);
    int ok = a && b && a->ndim == b->ndim;
    for (int i = 0; ok && i < a->ndim; i++) ok = a->sizes[i] == b->sizes[i];
    ok = ok && memcmp(locus_tensor_data(a), locus_tensor_data(b), (size_t)locus_tensor_numel(a) * locus_dtype_size(want_type)) == 0;
    if (!ok) fprintf(stderr, "  %s differs from %s\n", name, ref_path);
    locus_tensor_free(a);
    locus_tensor_free(b);
    locus_tensor_free(ref);
    return ok;
}

static const char *state_dict[] = {"embed.weight", "proj.0.weight", "proj.0.bias", "proj.2.weight",
                                   "position_ids", "mask",          "scalar",      "empty"};

static void check_layout(const char *rel, const char *prefix, const char *format) {
    locus_weights *w = locus_weights_open(fx(rel));
    CHECK(w != NULL);
    if (!w) return;
    CHECK(strcmp(locus_weights_format(w), format) == 0);
    for (size_t i = 0; i < sizeof state_dict / sizeof *state_dict; i++) {
        char name[128];
        snprintf(name, sizeof name, "%s%s", prefix, state_dict[i]);
        locus_tensor *t = locus_weights_get(w, name);
        CHECK(t && same_as_reference(t, state_dict[i]));
        locus_tensor_free(t);
    }
    locus_weights_close(w);
}

static void test_layouts_agree(void) {
    check_layout("model.safetensors", "", "safetensors");
    check_layout("sharded_st", "", "safetensors");
    check_layout("pytorch_model.bin", "", "pytorch");
    check_layout("sharded_bin", "", "pytorch");
    check_layout("nested.pth", "model.", "pytorch");
}

static void test_views_and_sharing(void) {
    locus_weights *w = locus_weights_open(fx("nested.pth"));
    CHECK(w != NULL);
    if (!w) return;
    locus_tensor *tr = locus_weights_get(w, "model.views.transposed"), *rows = locus_weights_get(w, "model.views.rows"),
                *base = locus_weights_get(w, "model.views.base");
    CHECK(tr && rows && base);
    if (tr && rows && base) {
        CHECK(tr->strides[0] == 1 && tr->strides[1] == 10); /* saved non-contiguous, kept so */
        CHECK(same_as_reference(tr, "views.transposed") && same_as_reference(rows, "views.rows"));
        /* one storage: the row view starts two rows into the base tensor's bytes */
        CHECK((char *)locus_tensor_data(rows) == (char *)locus_tensor_data(base) + 2 * 10 * sizeof(float));
    }
    locus_tensor_free(tr);
    locus_tensor_free(rows);
    const locus_weight_info *info = locus_weights_find(w, "model.views.base");
    CHECK(info && strcmp(info->stored_type, "torch.FloatStorage") == 0 && info->ndim == 2);
    locus_weights_close(w); /* base keeps its mapping */
    CHECK(same_as_reference(base, "views.base"));
    locus_tensor_free(base);
}

static void test_gguf(void) {
    locus_weights *w = locus_weights_open(fx("model.gguf"));
    CHECK(w != NULL);
    if (!w) return;
    locus_tensor *t = locus_weights_get(w, "embed.weight");
    CHECK(t && same_as_reference(t, "embed.weight"));
    locus_tensor_free(t);
    const locus_weight_info *q8 = locus_weights_find(w, "gguf.q8");
    CHECK(q8 && strcmp(q8->stored_type, "Q8_0") == 0 && q8->sizes[0] == 4 && q8->sizes[1] == 64 && q8->nbytes == 8 * 34);
    const char *meta = locus_weights_metadata_json(w);
    CHECK(strstr(meta, "\"locus.test.words\":[\"alpha\",\"beta\",\"gamma\"]") != NULL);
    CHECK(strstr(meta, "\"locus.test.ints\":[-1,0,7]") != NULL);
    locus_weights_close(w);
}

static void test_gguf_round_trip(void) {
    locus_weights *w = locus_weights_open(fx("model.gguf"));
    CHECK(w != NULL);
    if (!w) return;
    int64_t n = locus_weights_count(w);
    const char *names[16];
    locus_tensor *ts[16];
    for (int64_t i = 0; i < n && i < 16; i++) {
        names[i] = locus_weights_info_at(w, i)->name;
        ts[i] = locus_weights_get(w, names[i]);
    }
    char out[640];
    snprintf(out, sizeof out, "%s/round.gguf", tmpdir);
    CHECK(locus_gguf_save(out, locus_weights_metadata_json(w), locus_weights_metadata_types_json(w), n,
                         names, (const locus_tensor *const *)ts) == 0);
    locus_weights *back = locus_weights_open(out);
    CHECK(back && locus_weights_count(back) == n);
    for (int64_t i = 0; back && i < n; i++) {
        locus_tensor *t = locus_weights_get(back, names[i]);
        CHECK(t && t->type == ts[i]->type &&
              memcmp(locus_tensor_data(t), locus_tensor_data(ts[i]), (size_t)locus_weights_find(w, names[i])->nbytes) == 0);
        locus_tensor_free(t);
    }
    CHECK(back && strcmp(locus_weights_metadata_types_json(back), locus_weights_metadata_types_json(w)) == 0);
    locus_weights_close(back);
    for (int64_t i = 0; i < n; i++) locus_tensor_free(ts[i]);
    locus_weights_close(w);
}

static void test_refusals(void) {
    static const struct {
        const char *file, *error;
    } cases[] = {
        {"bad/st_truncated.safetensors", "outside the 1072 data bytes"},
        {"bad/st_header_too_long.safetensors", "runs past the end of the file"},
        {"bad/st_bad_json.safetensors", "not a JSON object"},
        {"bad/st_unknown_dtype.safetensors", "unknown dtype 'Q9'"},
        {"bad/st_offsets_outside.safetensors", "outside the"},
        {"bad/st_overlap.safetensors", "overlap"},
        {"bad/st_size_mismatch.safetensors", "spans 544 bytes but its shape and dtype need 612"},
        {"bad/st_negative_shape.safetensors", "bad size in dim 0"},
        {"bad/st_overflow_shape.safetensors", "bad size in dim 0"},
        {"bad/st_duplicate.safetensors", "duplicate tensor name 'embed.weight'"},
        {"bad/bin_truncated.bin", "truncated or corrupt zip"},
        {"bad/bin_compressed.bin", "compressed"},
        {"bad/bin_missing_storage.bin", "which is missing"},
        {"bad/legacy.pt", "re-save it with torch >= 1.6"},
        {"bad/pickle_os_system.bin", "refuses the pickle global 'os.system'"},
        {"bad/pickle_builtins_eval.bin", "refuses the pickle global 'builtins.eval'"},
        {"bad/pickle_subprocess_popen.bin", "refuses the pickle global 'subprocess.Popen'"},
        {"bad/pickle_unknown_opcode.bin", "unsupported pickle opcode 0xff"},
        {"bad/pickle_truncated.bin", "truncated"},
        {"bad/gguf_truncated.gguf", "beyond the end of the file"},
        {"bad/gguf_version1.gguf", "GGUF version 1"},
        {"bad/gguf_huge_counts.gguf", "more than the file can hold"},
        {"does_not_exist.safetensors", "cannot open"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        locus_clear_error();
        locus_weights *w = locus_weights_open(fx(cases[i].file));
        const char *msg = locus_last_error();
        if (w || !strstr(msg, cases[i].error) || !strstr(msg, fx(cases[i].file))) {
            fprintf(stderr, "  %s: expected an error with \"%s\", got \"%s\"\n", cases[i].file, cases[i].error, msg);
            check_failures++;
        }
        locus_weights_close(w);
    }
    CHECK(access("/tmp/locus_pickle_was_executed", F_OK) != 0); /* nothing ran */
}

static void test_missing_shard(void) {
    char dir[600], cmd[1400];
    snprintf(dir, sizeof dir, "%s/shards", tmpdir);
    snprintf(cmd, sizeof cmd, "cp -r %s %s && rm %s/model-00002-of-00002.safetensors", fx("sharded_st"), dir, dir);
    CHECK(system(cmd) == 0);
    CHECK(locus_weights_open(dir) == NULL && strstr(locus_last_error(), "names shard 'model-00002-of-00002.safetensors', which is missing"));
    CHECK(locus_weights_open(tmpdir) == NULL && strstr(locus_last_error(), "no weights found"));
}

static void write_bytes(const char *path, const unsigned char *data, size_t n) {
    FILE *f = fopen(path, "wb");
    CHECK(f && fwrite(data, 1, n, f) == n);
    if (f) fclose(f);
}

/* Every single-byte change to the first `span` bytes and every truncation: a clean error or a
 * valid load, and then every tensor readable. */
static void corrupt_sweep(const char *rel, size_t span, const char *ext) {
    FILE *f = fopen(fx(rel), "rb");
    CHECK(f != NULL);
    if (!f) return;
    unsigned char *good = malloc(1 << 16), *bad = malloc(1 << 16);
    size_t n = fread(good, 1, 1 << 16, f);
    fclose(f);
    char path[640];
    snprintf(path, sizeof path, "%s/sweep%s", tmpdir, ext);
    static const unsigned char values[] = {0x00, 0xff, 0x7f, 0x80, '"', '9', ']', '}'};
    int opened = 0, refused = 0;
    for (size_t pos = 0; pos < n && pos < span; pos++)
        for (size_t v = 0; v < sizeof values; v++) {
            memcpy(bad, good, n);
            bad[pos] = values[v];
            write_bytes(path, bad, n);
            locus_weights *w = locus_weights_open(path);
            if (w) {
                opened++;
                for (int64_t i = 0; i < locus_weights_count(w); i++) {
                    locus_tensor *t = locus_weights_get(w, locus_weights_info_at(w, i)->name);
                    if (t) { /* touch every byte it claims */
                        locus_tensor *c = locus_cast(t, LOCUS_F32);
                        locus_tensor_free(c);
                    }
                    locus_tensor_free(t);
                }
                locus_weights_close(w);
            } else {
                refused++;
            }
        }
    for (size_t len = 0; len < n; len += (len < 512 ? 1 : 7)) {
        write_bytes(path, good, len);
        locus_weights *w = locus_weights_open(path);
        locus_weights_close(w);
    }
    CHECK(opened + refused > 0);
    free(good);
    free(bad);
}

static void test_corruption_sweeps(void) {
    corrupt_sweep("model.safetensors", 700, ".safetensors");
    corrupt_sweep("model.gguf", 700, ".gguf");
    corrupt_sweep("pytorch_model.bin", 4096, ".bin");
}

int main(void) {
    const char *env = getenv("LOCUS_FIXTURES");
    snprintf(fixtures, sizeof fixtures, "%s", env ? env : "tests/fixtures");
    if (!mkdtemp(tmpdir)) return 1;
    RUN(test_layouts_agree);
    RUN(test_views_and_sharing);
    RUN(test_gguf);
    RUN(test_gguf_round_trip);
    RUN(test_refusals);
    RUN(test_missing_shard);
    RUN(test_corruption_sweeps);
    char cmd[640];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    if (system(cmd) != 0) return 1;
    return check_failures != 0;
}
