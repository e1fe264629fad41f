/* lego.h — the one public header of liblego.
 *
 * Everything between LEGO_CDEF_BEGIN and LEGO_CDEF_END is plain C that LuaJIT's ffi.cdef parses
 * as it is (lua/lego/core.lua reads it from here), so that region holds no preprocessor lines.
 *
 * Conventions
 *  - Every entry point reports failure: functions returning int give 0 on success and -1 on
 *    failure; functions returning a pointer give NULL. lego_last_error() then holds a message
 *    (per thread) that names the operation, the shapes or the file involved. Nothing aborts.
 *  - Ops write into an `out` tensor the caller allocated with the right shape (explicit memory:
 *    model code plans its workspaces once); out must be contiguous float32 unless said otherwise.
 *    Inputs may be any view (strided, transposed, expanded).
 *  - Shapes and strides count elements, not bytes. A tensor is a view of a reference-counted
 *    storage: views share it, and a storage lives while any tensor or window refers to it.
 */
#ifndef LEGO_H
#define LEGO_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* LEGO_CDEF_BEGIN */

enum { LEGO_MAX_DIMS = 8 };

typedef enum lego_dtype {
    LEGO_F32 = 0,
    LEGO_F16 = 1,
    LEGO_BF16 = 2,
    LEGO_I8 = 3,
    LEGO_U8 = 4,
    LEGO_I32 = 5,
    LEGO_I64 = 6,
    LEGO_BOOL = 7,
    /* GGUF's block-quantized types: blocks of 32 elements, each an f16 scale d and 32 int8 (Q8_0,
     * x = d q) or 32 4-bit values (Q4_0, x = d (q - 8)). A tensor of these keeps its last dim
     * contiguous and a multiple of 32; views that would split a block are refused. */
    LEGO_Q8_0 = 8,
    LEGO_Q4_0 = 9,
    LEGO_DTYPE_COUNT = 10
} lego_dtype;

typedef enum lego_storage_kind {
    LEGO_STORAGE_OWNED = 0,    /* allocated and freed by liblego */
    LEGO_STORAGE_BORROWED = 1, /* caller's memory; an optional release callback runs at the end */
    LEGO_STORAGE_MAPPED = 2,   /* a private (copy-on-write) mmap of a file */
    LEGO_STORAGE_WINDOW = 3    /* a byte range of another storage, which it keeps alive */
} lego_storage_kind;

typedef struct lego_storage lego_storage;

typedef struct lego_tensor {
    lego_storage *storage;
    int64_t offset; /* in elements, from the start of the storage */
    int64_t sizes[LEGO_MAX_DIMS];   /* the shape */
    int64_t strides[LEGO_MAX_DIMS];
    int32_t ndim;
    int32_t type; /* a lego_dtype (Lua's t:dtype() gives its name) */
} lego_tensor;

/* ---- errors, threads, CPU ---------------------------------------------------------------- */
const char *lego_last_error(void);
void lego_clear_error(void);
const char *lego_version(void);
int lego_num_threads(void);
int lego_set_num_threads(int n);            /* OpenMP, OpenBLAS and oneDNN alike */
const char *lego_cpu_features(void);        /* e.g. "avx512f avx512bw avx2 fma f16c" */
const char *lego_kernel_path(void);         /* "avx512", "avx2" or "ref" */
int lego_set_kernel_path(const char *name); /* "auto", "avx512", "avx2" or "ref" (tests) */

/* ---- dtypes -------------------------------------------------------------------------------- */
const char *lego_dtype_name(int dtype);  /* "f32", "bf16", ... ; NULL if unknown */
int lego_dtype_from_name(const char *name); /* -1 if unknown */
size_t lego_dtype_size(int dtype);       /* bytes per element; 0 for block types and unknown ones */
int lego_dtype_block(int dtype);         /* elements per block: 1, 32 for Q8_0/Q4_0, 0 if unknown */
size_t lego_dtype_block_bytes(int dtype); /* bytes per block */
float lego_bf16_to_f32(uint16_t h);
uint16_t lego_f32_to_bf16(float f);      /* round to nearest even, NaN kept */
float lego_f16_to_f32(uint16_t h);
uint16_t lego_f32_to_f16(float f);       /* round to nearest even */

/* ---- storage ------------------------------------------------------------------------------- */
lego_storage *lego_storage_new(size_t nbytes); /* owned, zero-filled, 64-byte aligned */
lego_storage *lego_storage_borrow(void *data, size_t nbytes, void (*release)(void *ctx), void *ctx);
lego_storage *lego_storage_map_file(const char *path); /* the whole file, read-only pages */
lego_storage *lego_storage_window(lego_storage *parent, size_t byte_offset, size_t nbytes);
void lego_storage_retain(lego_storage *s);
void lego_storage_release(lego_storage *s);
void *lego_storage_data(const lego_storage *s);
size_t lego_storage_nbytes(const lego_storage *s);
int lego_storage_kind_of(const lego_storage *s);
int lego_storage_refcount(const lego_storage *s);
int64_t lego_live_storages(void); /* storages alive in this process (leak checks) */
int64_t lego_live_bytes(void);    /* bytes held by owned storages (drives Lua's collector) */

/* ---- tensors ------------------------------------------------------------------------------- */
lego_tensor *lego_tensor_new(int dtype, int ndim, const int64_t *shape); /* contiguous, zeroed */
lego_tensor *lego_tensor_empty(int dtype, int ndim, const int64_t *shape); /* contents undefined */
/* A view of `s` (retained). stride NULL means contiguous. Checks that every element lies inside. */
lego_tensor *lego_tensor_from_storage(lego_storage *s, int dtype, int64_t offset, int ndim,
                                      const int64_t *shape, const int64_t *stride);
void lego_tensor_free(lego_tensor *t); /* drops this view's reference to its storage */
void *lego_tensor_data(const lego_tensor *t); /* address of element [0,...,0] */
int64_t lego_tensor_numel(const lego_tensor *t);
int lego_tensor_is_contiguous(const lego_tensor *t);
/* Human-readable shape, e.g. "[2, 3] f32"; the buffer is per thread and reused. */
const char *lego_tensor_describe(const lego_tensor *t);

/* views: new tensors sharing the storage; negative dims count from the end */
lego_tensor *lego_view_alias(const lego_tensor *t);
lego_tensor *lego_view_narrow(const lego_tensor *t, int dim, int64_t start, int64_t length);
lego_tensor *lego_view_select(const lego_tensor *t, int dim, int64_t index);
lego_tensor *lego_view_transpose(const lego_tensor *t, int dim0, int dim1);
lego_tensor *lego_view_permute(const lego_tensor *t, const int *dims);
/* reshape without copying; one size may be -1; fails if the strides do not allow it */
lego_tensor *lego_view_reshape(const lego_tensor *t, int ndim, const int64_t *shape);
/* broadcast size-1 dims (stride 0); new leading dims may be added */
lego_tensor *lego_view_expand(const lego_tensor *t, int ndim, const int64_t *shape);

/* copies */
int lego_copy(lego_tensor *dst, const lego_tensor *src); /* same shape; converts dtype */
lego_tensor *lego_contiguous(const lego_tensor *t); /* alias if already contiguous, else copy */
lego_tensor *lego_clone(const lego_tensor *t);      /* always a fresh contiguous copy */
lego_tensor *lego_cast(const lego_tensor *t, int dtype); /* fresh contiguous copy in dtype */
int lego_fill(lego_tensor *t, double value);
/* standard normal values (splitmix64 + Box-Muller): the same seed gives the same numbers */
int lego_fill_randn(lego_tensor *t, uint64_t seed, double mean, double std);
/* i-th element of any dtype as double / set from double (slow; for printing and tables) */
double lego_get(const lego_tensor *t, const int64_t *index);
int lego_set(lego_tensor *t, const int64_t *index, double value);

/* ---- ops (float32 out; see conventions) ---------------------------------------------------- */
/* a [..., M, K] @ b [..., K, N] -> out [..., M, N]; batch dims broadcast; f32 */
int lego_matmul(lego_tensor *out, const lego_tensor *a, const lego_tensor *b);
/* out [..., N] = x [..., K] @ w[N, K]^T + bias[N]; w in f32, bf16 or f16 (used as stored),
 * x f32; bias f32/bf16/f16 or NULL */
int lego_linear(lego_tensor *out, const lego_tensor *x, const lego_tensor *w,
                const lego_tensor *bias);
/* broadcasting elementwise; a and b of any float dtype */
int lego_add(lego_tensor *out, const lego_tensor *a, const lego_tensor *b);
int lego_sub(lego_tensor *out, const lego_tensor *a, const lego_tensor *b);
int lego_mul(lego_tensor *out, const lego_tensor *a, const lego_tensor *b);
int lego_div(lego_tensor *out, const lego_tensor *a, const lego_tensor *b);
int lego_affine(lego_tensor *out, const lego_tensor *x, float scale, float shift); /* x*s + b */
int lego_abs(lego_tensor *out, const lego_tensor *x);
int lego_gelu(lego_tensor *out, const lego_tensor *x);       /* x/2 (1 + erf(x/sqrt 2)) */
int lego_gelu_tanh(lego_tensor *out, const lego_tensor *x);  /* tanh approximation */
int lego_quick_gelu(lego_tensor *out, const lego_tensor *x); /* x sigmoid(1.702 x) (CLIP) */
int lego_silu(lego_tensor *out, const lego_tensor *x);       /* x sigmoid(x) */
int lego_softmax(lego_tensor *out, const lego_tensor *x);    /* over the last dim, stable */
/* over the last dim; weight and bias [C] of any float dtype, or NULL */
int lego_layer_norm(lego_tensor *out, const lego_tensor *x, const lego_tensor *weight,
                    const lego_tensor *bias, float eps);
int lego_rms_norm(lego_tensor *out, const lego_tensor *x, const lego_tensor *weight, float eps);
/* LLaMA rotary embedding on x [..., T, H, D]; token t has position pos0 + t. interleaved = 0: HF's
 * rotate-half pairs (i, i + D/2); 1: llama.cpp's adjacent pairs (2i, 2i + 1), for GGUF weights.
 * out may be x. */
int lego_rope(lego_tensor *out, const lego_tensor *x, int64_t pos0, float theta, int interleaved);
/* Attention: q [T, H, D], k and v [S, KVH, D]; query head h uses kv head h / (H / KVH);
 * out [T, H, D] = softmax(q k^T / sqrt(D)) v. causal != 0: q holds positions pos0 .. pos0+T-1 of a
 * cache (S >= pos0 + T) and each sees the keys up to its own position; causal == 0 (encoders):
 * every query sees all S keys and pos0 is ignored. */
int lego_attention(lego_tensor *out, const lego_tensor *q, const lego_tensor *k, const lego_tensor *v, int64_t pos0,
                   int causal);
/* out [n, D] = weight[ids[i]]; weight [V, D] of any float dtype; ids i32 or i64, any shape
 * of n elements */
int lego_embedding(lego_tensor *out, const lego_tensor *weight, const lego_tensor *ids);
/* out = concatenation of xs[0..n) along dim; out's dtype may be any, inputs are converted */
int lego_concat(lego_tensor *out, const lego_tensor *const *xs, int n, int dim);
/* x [B, C, H, W] (*) w [O, C, kh, kw] + bias[O] -> out [B, O, OH, OW]; f32 via oneDNN */
int lego_conv2d(lego_tensor *out, const lego_tensor *x, const lego_tensor *w,
                const lego_tensor *bias, int stride_h, int stride_w, int pad_h, int pad_w);
/* reductions over one dim; out has x's shape without that dim (or with it as size 1) */
int lego_sum(lego_tensor *out, const lego_tensor *x, int dim);
int lego_mean(lego_tensor *out, const lego_tensor *x, int dim);
int lego_max(lego_tensor *out, const lego_tensor *x, int dim);
int lego_argmax(lego_tensor *out_i64, const lego_tensor *x, int dim);
/* the k largest along the last dim, in descending order (ties: lower index first) */
int lego_topk(lego_tensor *values, lego_tensor *indices_i64, const lego_tensor *x, int k);

/* ---- files --------------------------------------------------------------------------------- */
/* NumPy .npy (format 1.0-3.0), C order, little-endian: f32 f16 i8 u8 i32 i64 bool; f64 is read
 * as f32 (lego has no f64). mmap != 0 maps the file (copy-on-write) instead of reading it. */
lego_tensor *lego_npy_load(const char *path, int mmap);
/* writes to a temporary file beside `path` and renames it: never a partial file */
int lego_npy_save(const char *path, const lego_tensor *t);

/* ---- checkpoints ---------------------------------------------------------------------------- */
/* A set of named tensors from one file or a model directory: safetensors, PyTorch zip
 * checkpoints (.bin/.pth/.pt, read by a restricted unpickler that executes nothing), GGUF, and HF
 * directories with or without a shard index. Files are mapped, not read: lego_weights_get returns
 * a view into the mapping in the stored dtype, and the mapping lives as long as any such view. */
typedef struct lego_weights lego_weights;

typedef struct lego_weight_info {
    const char *name;
    const char *file;        /* path of the file that holds it */
    const char *stored_type; /* the format's own type name: "BF16", "torch.HalfStorage", "Q8_0" */
    int32_t type;            /* a lego_dtype, or -1 when lego cannot represent the stored type */
    int32_t ndim;
    int64_t sizes[LEGO_MAX_DIMS];
    int64_t strides[LEGO_MAX_DIMS]; /* in elements, as stored (PyTorch tensors may be strided) */
    uint64_t offset;         /* byte offset of element [0, ..., 0] in the file */
    uint64_t nbytes;         /* bytes from the lowest to the highest element */
} lego_weight_info;

lego_weights *lego_weights_open(const char *path);
void lego_weights_close(lego_weights *w); /* tensors already taken stay valid */
const char *lego_weights_format(const lego_weights *w); /* "safetensors", "pytorch", "gguf" */
int64_t lego_weights_count(const lego_weights *w);
const lego_weight_info *lego_weights_info_at(const lego_weights *w, int64_t i); /* stored order */
const lego_weight_info *lego_weights_find(const lego_weights *w, const char *name); /* or NULL */
lego_tensor *lego_weights_get(const lego_weights *w, const char *name);
/* The format's metadata as a JSON object: safetensors' __metadata__, GGUF's key/values. */
const char *lego_weights_metadata_json(const lego_weights *w);

/* GGUF's type of each metadata key, as a JSON object {"key": "u32", "list": "array:string", ...}
 * (types: u8 i8 u16 i16 u32 i32 u64 i64 f32 f64 bool string, arrays as "array:<type>"), so that a
 * GGUF read can be written back with the same types. Empty for other formats. */
const char *lego_weights_metadata_types_json(const lego_weights *w);

/* Writes a GGUF v3 file: metadata_json {key: value} with types_json as above (a key without a type
 * gets one from its value: string, bool, i32 or f32 for numbers, arrays likewise), then the tensors
 * (f32, f16, bf16, q8_0, q4_0, i8, i32, i64; any layout), aligned to general.alignment (default 32).
 * Writes a temporary file beside path and renames it: never a partial file. */
int lego_gguf_save(const char *path, const char *metadata_json, const char *types_json, int64_t n,
                   const char *const *names, const lego_tensor *const *tensors);

/* ---- tokenizer -------------------------------------------------------------------------------- */
/* LLaMA's SentencePiece BPE (from tokenizer.model or GGUF metadata) plus Hugging Face's added
 * tokens, matched whole with the whitespace around them stripped (slow LlamaTokenizer). */
typedef struct lego_tokenizer lego_tokenizer;
lego_tokenizer *lego_tokenizer_load(const char *path); /* a SentencePiece tokenizer.model */
lego_tokenizer *lego_tokenizer_from_weights(const lego_weights *w); /* GGUF tokenizer.ggml.* */
void lego_tokenizer_free(lego_tokenizer *t);
/* An added token, matched whole before BPE; strip_left/strip_right eat the whitespace before/after
 * it (HF: both for plain added tokens, an AddedToken's lstrip/rstrip for special ones). */
int lego_tokenizer_add_token(lego_tokenizer *t, const char *text, int32_t id, int strip_left, int strip_right);
int32_t lego_tokenizer_vocab_size(const lego_tokenizer *t); /* pieces and added tokens */
int32_t lego_tokenizer_bos(const lego_tokenizer *t);        /* -1 when the model has none */
int32_t lego_tokenizer_eos(const lego_tokenizer *t);
int32_t lego_tokenizer_unk(const lego_tokenizer *t);
int32_t lego_tokenizer_id(const lego_tokenizer *t, const char *piece, size_t len); /* -1: none */
const char *lego_tokenizer_piece(const lego_tokenizer *t, int32_t id, size_t *len);
/* Encodes text[0..len) into ids[0..cap); returns the number of ids (call again with a larger
 * buffer when it exceeds cap), or -1. */
int64_t lego_tokenizer_encode(const lego_tokenizer *t, const char *text, size_t len, int add_bos, int32_t *ids,
                              int64_t cap);
/* Decodes ids into buf[0..cap) (NUL-terminated when it fits); returns the text's length, or -1.
 * Control tokens vanish, byte tokens become their byte, "▁" a space (dropped at the very start
 * when strip_leading_space, as sentencepiece drops the dummy prefix). */
int64_t lego_tokenizer_decode(const lego_tokenizer *t, const int32_t *ids, int64_t n, int strip_leading_space, char *buf,
                              int64_t cap);

/* ---- images ---------------------------------------------------------------------------------- */
/* Decodes JPEG, PNG, BMP, GIF (first frame), PNM or TGA into u8 [H, W, 3] (grey and alpha become
 * RGB; alpha is dropped, as PIL's convert("RGB") does); honor_exif turns JPEGs by their EXIF
 * orientation. Refuses images beyond 32768 per side or 100 million pixels. */
lego_tensor *lego_image_load(const char *path, int honor_exif);
/* Pillow's bicubic resize (antialiased when shrinking), bit for bit: u8 [H, W, 3] -> out u8 [h, w, 3]. */
int lego_image_resize(lego_tensor *out, const lego_tensor *img);
/* GroundingGPT's expand2square: img centred on a square of side max(H, W) filled with rgb[3]. */
int lego_image_pad_square(lego_tensor *out, const lego_tensor *img, const uint8_t *rgb);
/* u8 [H, W, 3] -> out f32 [3, H, W] = (x / 255 - mean[c]) / std[c] */
int lego_image_normalize(lego_tensor *out, const lego_tensor *img, const float *mean, const float *std);
/* Draws a rectangle (pixel corners) in rgb[3] on a contiguous u8 [H, W, 3] image, in place, with the
 * number `label` on a tab at its top-left corner (label < 0: none). */
int lego_image_draw_box(lego_tensor *img, int64_t x0, int64_t y0, int64_t x1, int64_t y1, const uint8_t *rgb, int label);
/* Writes u8 [H, W, 3] as .png or .jpg (stb_image_write), via a temporary file and a rename. */
int lego_image_save(const char *path, const lego_tensor *img);

/* ---- video (FFmpeg) ------------------------------------------------------------------------------- */
typedef struct lego_video_info {
    int64_t frames;   /* from the container, or counted from the stream's packets when it has none */
    double duration;  /* seconds */
    double fps;
    int32_t width, height; /* as stored, before rotation */
    int32_t rotation; /* clockwise degrees that turn the picture upright: 0, 90, 180, 270 */
    int32_t counted;  /* 1 when frames were counted */
} lego_video_info;
/* count != 0 counts the stream's packets even when the container states a frame count */
int lego_video_probe(const char *path, lego_video_info *info, int count);
/* The frames at `indices` (ascending, presentation order), upright, each resized to out_w x out_h
 * with Pillow's bicubic (squashed, no crop): u8 [n, out_h, out_w, 3]. Seeks to the keyframe before
 * a frame far ahead rather than decoding everything in between. */
lego_tensor *lego_video_frames(const char *path, const int64_t *indices, int64_t n, int32_t out_w, int32_t out_h);

/* ---- audio (libsndfile) ------------------------------------------------------------------------- */
enum { LEGO_AUDIO_SNDFILE = 0, LEGO_AUDIO_FFMPEG = 1 };
typedef struct lego_audio_info {
    int64_t frames;      /* samples per channel */
    int32_t sample_rate; /* Hz */
    int32_t channels;
    double duration;     /* seconds */
    int32_t decoder;     /* LEGO_AUDIO_SNDFILE (WAV, FLAC, Ogg, AIFF, MP3) or LEGO_AUDIO_FFMPEG (the rest) */
} lego_audio_info;
/* Opens with libsndfile, or failing that with FFmpeg (which decodes the file once to count its
 * samples: compressed streams do not say exactly). */
int lego_audio_probe(const char *path, lego_audio_info *info);
/* Samples [start, end) (clipped to the signal) of the file resampled to `rate` Hz as
 * torchaudio.functional.resample does it (windowed sinc, Hann, lowpass 0.99, width 6): f32
 * [channels, end - start]. Only the input the filter needs for that stretch is read (FFmpeg
 * decodes up to it); NaN and infinite samples read as 0. */
lego_tensor *lego_audio_read(const char *path, int64_t rate, int64_t start, int64_t end);
/* n stretches at once, out[s] as lego_audio_read's (one decoding pass with FFmpeg); info from
 * lego_audio_probe, or NULL to probe here. On failure every out[s] is NULL. */
int lego_audio_read_spans(const char *path, const lego_audio_info *info, int64_t rate, int n, const int64_t *starts, const int64_t *ends,
                          lego_tensor **out);
/* torchaudio.functional.resample of f32 [channels, n]: f32 [channels, ceil(n * to / from)] (gcd-reduced) */
lego_tensor *lego_audio_resample(const lego_tensor *x, int64_t from, int64_t to);
/* The length torchaudio's resampler gives n samples: ceil(n * to' / from'), rates reduced by their gcd */
int64_t lego_audio_resampled_length(int64_t n, int64_t from, int64_t to);
/* torchaudio.compliance.kaldi.fbank of f32 [n] at 16 kHz with ImageBind's settings (25 ms / 10 ms
 * frames, snip edges, DC removal, pre-emphasis 0.97, Hann, 512-point FFT, HTK mel banks from 20 Hz
 * to Nyquist, no energy, no dither, log floored at FLT_EPSILON): out f32 [frames, mel_bins],
 * frames = 1 + (n - 400) / 160 (0 when n < 400). */
int lego_audio_fbank(lego_tensor *out, const lego_tensor *wave, int64_t sample_rate, int32_t mel_bins);
/* Clip `index` of `clips` of clip_seconds each over `samples` samples at `rate`, as ImageBind cuts
 * them with pytorchvideo's ConstantClipsPerVideoSampler: starts index * max(duration - clip, 0) /
 * clips, samples [*start, *end) (end may pass the signal's end: the slice stops there). */
int lego_audio_clip_span(int64_t samples, int64_t rate, double clip_seconds, int64_t index, int64_t clips, int64_t *start, int64_t *end);

/* ---- transformer encoder layer (CLIP's ViT; EVA's and ImageBind's with other options) ------------ */
typedef struct lego_vit_layer_weights {
    const lego_tensor *ln1_w, *ln1_b, *q_w, *q_b, *k_w, *k_b, *v_w, *v_b, *o_w, *o_b;
    const lego_tensor *ln2_w, *ln2_b, *fc1_w, *fc1_b, *fc2_w, *fc2_b; /* biases may be NULL */
} lego_vit_layer_weights;
enum { LEGO_ACT_GELU = 0, LEGO_ACT_QUICK_GELU = 1, LEGO_ACT_GELU_TANH = 2 };
/* One pre-norm encoder layer on x [T, C] (contiguous f32, updated in place):
 * x += attn(LN1(x)) with `heads` heads; x += fc2(act(fc1(LN2(x)))). Rows form sequences of seq_len
 * (0: one sequence of all T) that attend only within themselves: frames batched together. */
int lego_vit_layer(lego_tensor *x, const lego_vit_layer_weights *w, int heads, float eps, int act, int64_t seq_len);

/* ---- LLaMA-architecture decoder (fused C blocks; the Lua recipe lua/lego/llm.lua fills it) ---- */
typedef struct lego_decoder lego_decoder;
typedef struct lego_decoder_config {
    int32_t n_layers, dim, n_heads, n_kv_heads, hidden, vocab;
    float norm_eps, rope_theta;
    int32_t rope_interleaved; /* 1 for GGUF weights (llama.cpp's q/k layout), 0 for HF */
    int64_t max_context;      /* KV cache length, preallocated */
} lego_decoder_config;

lego_decoder *lego_decoder_new(const lego_decoder_config *cfg);
void lego_decoder_free(lego_decoder *d);
/* The decoder keeps views of the weights (so their storage stays alive); matrices are [out, in]
 * in any dtype lego_linear takes, norm weights any float dtype (kept as f32 copies). */
int lego_decoder_set_layer(lego_decoder *d, int layer, const lego_tensor *attn_norm, const lego_tensor *wq,
                           const lego_tensor *wk, const lego_tensor *wv, const lego_tensor *wo,
                           const lego_tensor *ffn_norm, const lego_tensor *w_gate, const lego_tensor *w_up,
                           const lego_tensor *w_down);
int lego_decoder_set_output(lego_decoder *d, const lego_tensor *norm, const lego_tensor *lm_head);
/* Runs x [T, dim] (f32 rows of embeddings) at positions pos0 .. pos0+T-1 through every layer,
 * filling the KV cache, and writes logits: [T, vocab] for every position or [1, vocab] for the
 * last. Work buffers are planned for the largest T seen; a single token allocates nothing. */
int lego_decoder_forward(lego_decoder *d, const lego_tensor *x, int64_t pos0, lego_tensor *logits);
/* The hidden state [T, dim] after the final norm, of the last forward (a view; valid until the next). */
lego_tensor *lego_decoder_hidden(lego_decoder *d);

/* LEGO_CDEF_END */

#ifdef __cplusplus
}
#endif

#endif /* LEGO_H */
