/* locus.h — the one public header of liblocus.
 *
 * Everything between LOCUS_CDEF_BEGIN and LOCUS_CDEF_END is plain C that LuaJIT's ffi.cdef parses
 * as it is (lua/locus/core.lua reads it from here), so that region holds no preprocessor lines.
 *
 * Conventions
 *  - Every entry point reports failure: functions returning int give 0 on success and -1 on
 *    failure; functions returning a pointer give NULL. locus_last_error() then holds a message
 *    (per thread) that names the operation, the shapes or the file involved. Nothing aborts.
 *  - Ops write into an `out` tensor the caller allocated with the right shape (explicit memory:
 *    model code plans its workspaces once); out must be contiguous float32 unless said otherwise.
 *    Inputs may be any view (strided, transposed, expanded).
 *  - Shapes and strides count elements, not bytes. A tensor is a view of a reference-counted
 *    storage: views share it, and a storage lives while any tensor or window refers to it.
 *
 * A worked example: one linear layer of a checkpoint applied to random rows.
 *
 *     locus_weights *w = locus_weights_open("GroundingGPT-7B");      // mapped, nothing read yet
 *     locus_tensor *proj = locus_weights_get(w, "model.llama_proj.weight");   // bf16 [4096, 768]
 *     int64_t xs[2] = {64, 768}, ys[2] = {64, 4096};
 *     locus_tensor *x = locus_tensor_empty(LOCUS_F32, 2, xs), *y = locus_tensor_empty(LOCUS_F32, 2, ys);
 *     if (!proj || !x || !y || locus_fill_randn(x, 1, 0, 1) || locus_linear(y, x, proj, NULL))
 *         fprintf(stderr, "locus: %s\n", locus_last_error());       // names the file or the shapes
 *     locus_tensor_free(proj);   // each view is freed once; the mapping goes with the last one
 *     locus_tensor_free(x);
 *     locus_tensor_free(y);
 *     locus_weights_close(w);    // tensors taken earlier would stay valid
 *
 * The weights are used in their stored dtype (here bf16) with f32 activations; `y` is [64, 4096].
 */
#ifndef LOCUS_H
#define LOCUS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* LOCUS_CDEF_BEGIN */

enum { LOCUS_MAX_DIMS = 8 };

typedef enum locus_dtype {
    LOCUS_F32 = 0,
    LOCUS_F16 = 1,
    LOCUS_BF16 = 2,
    LOCUS_I8 = 3,
    LOCUS_U8 = 4,
    LOCUS_I32 = 5,
    LOCUS_I64 = 6,
    LOCUS_BOOL = 7,
    /* GGUF's block-quantized types: blocks of 32 elements, each an f16 scale d and 32 int8 (Q8_0,
     * x = d q) or 32 4-bit values (Q4_0, x = d (q - 8)). A tensor of these keeps its last dim
     * contiguous and a multiple of 32; views that would split a block are refused. */
    LOCUS_Q8_0 = 8,
    LOCUS_Q4_0 = 9,
    /* GGUF's K-quants: super-blocks of 256 elements (last dim a multiple of 256), in sub-blocks with
     * 6-bit (Q4_K, Q5_K: x = d sc q - dmin m) or int8 (Q6_K: x = d sc (q - 32)) scales; 4, 5 and 6 bits
     * per value; 144, 176 and 210 bytes per super-block. Read and written as ggml's reference does. */
    LOCUS_Q4_K = 10,
    LOCUS_Q5_K = 11,
    LOCUS_Q6_K = 12,
    LOCUS_DTYPE_COUNT = 13
} locus_dtype;

typedef enum locus_storage_kind {
    LOCUS_STORAGE_OWNED = 0,    /* allocated and freed by liblocus */
    LOCUS_STORAGE_BORROWED = 1, /* caller's memory; an optional release callback runs at the end */
    LOCUS_STORAGE_MAPPED = 2,   /* a private (copy-on-write) mmap of a file */
    LOCUS_STORAGE_WINDOW = 3    /* a byte range of another storage, which it keeps alive */
} locus_storage_kind;

typedef struct locus_storage locus_storage;

typedef struct locus_tensor {
    locus_storage *storage;
    int64_t offset; /* in elements, from the start of the storage */
    int64_t sizes[LOCUS_MAX_DIMS];   /* the shape */
    int64_t strides[LOCUS_MAX_DIMS];
    int32_t ndim;
    int32_t type; /* a locus_dtype (Lua's t:dtype() gives its name) */
} locus_tensor;

/* ---- errors, threads, CPU ---------------------------------------------------------------- */
const char *locus_last_error(void);
void locus_clear_error(void);
const char *locus_version(void);
int locus_num_threads(void);
int locus_set_num_threads(int n);            /* OpenMP, OpenBLAS and oneDNN alike */
const char *locus_cpu_features(void);        /* e.g. "avx512f avx512bw avx2 fma f16c" */
const char *locus_kernel_path(void);         /* "avx512", "avx2" or "ref" */
int locus_set_kernel_path(const char *name); /* "auto", "avx512", "avx2" or "ref" (tests) */
/* How products with low-precision weights are computed (locus_linear and all that uses it).
 *  LOCUS_EXACT: f32 activations times the weights widened to f32 (quantized ones dequantized).
 *  LOCUS_FAST (the default): as llama.cpp does for Q8_0/Q4_0 and K-quant weights, the activations quantized
 *    to Q8_0 blocks and multiplied in integers (AVX512-VNNI, AVX2); other weights as in EXACT.
 *  LOCUS_FAST_BF16: FAST, and bf16 weights multiplied with activations rounded to bf16 on CPUs with
 *    AVX512_BF16 (as llama.cpp runs bf16 weights and PyTorch a bf16 model); elsewhere as FAST.
 * Also LOCUS_PRECISION=exact|fast|bf16 in the environment. */
enum { LOCUS_EXACT = 0, LOCUS_FAST = 1, LOCUS_FAST_BF16 = 2 };
int locus_precision(void);
int locus_set_precision(int precision);

/* ---- dtypes -------------------------------------------------------------------------------- */
const char *locus_dtype_name(int dtype);  /* "f32", "bf16", ... ; NULL if unknown */
int locus_dtype_from_name(const char *name); /* -1 if unknown */
size_t locus_dtype_size(int dtype);       /* bytes per element; 0 for block types and unknown ones */
int locus_dtype_block(int dtype);         /* elements per block: 1, 32 (Q8_0/Q4_0), 256 (K-quants), 0 if unknown */
size_t locus_dtype_block_bytes(int dtype); /* bytes per block */
float locus_bf16_to_f32(uint16_t h);
uint16_t locus_f32_to_bf16(float f);      /* round to nearest even, NaN kept */
float locus_f16_to_f32(uint16_t h);
uint16_t locus_f32_to_f16(float f);       /* round to nearest even */

/* ---- storage ------------------------------------------------------------------------------- */
locus_storage *locus_storage_new(size_t nbytes); /* owned, zero-filled, 64-byte aligned */
locus_storage *locus_storage_borrow(void *data, size_t nbytes, void (*release)(void *ctx), void *ctx);
locus_storage *locus_storage_map_file(const char *path); /* the whole file, read-only pages */
locus_storage *locus_storage_window(locus_storage *parent, size_t byte_offset, size_t nbytes);
void locus_storage_retain(locus_storage *s);
void locus_storage_release(locus_storage *s);
void *locus_storage_data(const locus_storage *s);
size_t locus_storage_nbytes(const locus_storage *s);
int locus_storage_kind_of(const locus_storage *s);
int locus_storage_refcount(const locus_storage *s);
int64_t locus_live_storages(void); /* storages alive in this process (leak checks) */
int64_t locus_live_bytes(void);    /* bytes held by owned storages (drives Lua's collector) */
/* Freed blocks of 1 MB or more are kept for the next tensor of about their size (up to
 * LOCUS_ALLOC_CACHE_MB in all, default 1024): their bytes, and a call that gives them back. */
int64_t locus_alloc_kept_bytes(void);
void locus_alloc_release(void);

/* ---- tensors ------------------------------------------------------------------------------- */
locus_tensor *locus_tensor_new(int dtype, int ndim, const int64_t *shape); /* contiguous, zeroed */
locus_tensor *locus_tensor_empty(int dtype, int ndim, const int64_t *shape); /* contents undefined */
/* The shape an op's out must have, computed by the op itself (so callers never derive it again):
 * between locus_shape_query_begin() and locus_shape_query_end(sizes), an op called with out = NULL
 * checks its inputs, records the shape and fails without computing anything. _end fills
 * sizes[LOCUS_MAX_DIMS] and returns the number of dims, or -1 when the inputs failed their checks
 * (locus_last_error says why). */
void locus_shape_query_begin(void);
int32_t locus_shape_query_end(int64_t *sizes);
/* A view of `s` (retained). stride NULL means contiguous. Checks that every element lies inside. */
locus_tensor *locus_tensor_from_storage(locus_storage *s, int dtype, int64_t offset, int ndim,
                                      const int64_t *shape, const int64_t *stride);
void locus_tensor_free(locus_tensor *t); /* drops this view's reference to its storage */
void *locus_tensor_data(const locus_tensor *t); /* address of element [0,...,0] */
int64_t locus_tensor_numel(const locus_tensor *t);
/* A contiguous view of a mapped file: its pages go back to the page cache (read again when next
 * touched), so a pass over a big checkpoint does not stay resident; pages written in place, and
 * tensors of other storage, are left as they are. */
void locus_tensor_drop_pages(const locus_tensor *t);
int locus_tensor_is_contiguous(const locus_tensor *t);
/* Human-readable shape, e.g. "[2, 3] f32"; the buffer is per thread and reused. */
const char *locus_tensor_describe(const locus_tensor *t);

/* views: new tensors sharing the storage; negative dims count from the end */
locus_tensor *locus_view_alias(const locus_tensor *t);
locus_tensor *locus_view_narrow(const locus_tensor *t, int dim, int64_t start, int64_t length);
locus_tensor *locus_view_select(const locus_tensor *t, int dim, int64_t index);
locus_tensor *locus_view_transpose(const locus_tensor *t, int dim0, int dim1);
locus_tensor *locus_view_permute(const locus_tensor *t, const int *dims);
/* reshape without copying; one size may be -1; fails if the strides do not allow it */
locus_tensor *locus_view_reshape(const locus_tensor *t, int ndim, const int64_t *shape);
/* broadcast size-1 dims (stride 0); new leading dims may be added */
locus_tensor *locus_view_expand(const locus_tensor *t, int ndim, const int64_t *shape);

/* copies */
int locus_copy(locus_tensor *dst, const locus_tensor *src); /* same shape; converts dtype */
locus_tensor *locus_contiguous(const locus_tensor *t); /* alias if already contiguous, else copy */
locus_tensor *locus_clone(const locus_tensor *t);      /* always a fresh contiguous copy */
locus_tensor *locus_cast(const locus_tensor *t, int dtype); /* fresh contiguous copy in dtype */
int locus_fill(locus_tensor *t, double value);
/* standard normal values (splitmix64 + Box-Muller): the same seed gives the same numbers */
int locus_fill_randn(locus_tensor *t, uint64_t seed, double mean, double std);
/* i-th element of any dtype as double / set from double (slow; for printing and tables) */
double locus_get(const locus_tensor *t, const int64_t *index);
int locus_set(locus_tensor *t, const int64_t *index, double value);

/* ---- ops (float32 out; see conventions) ---------------------------------------------------- */
/* a [..., M, K] @ b [..., K, N] -> out [..., M, N]; batch dims broadcast; f32 */
int locus_matmul(locus_tensor *out, const locus_tensor *a, const locus_tensor *b);
/* out += a @ b, out an existing contiguous f32 tensor of the product's shape (a gradient
 * accumulated in place) */
int locus_matmul_acc(locus_tensor *out, const locus_tensor *a, const locus_tensor *b);
/* out [..., N] = x [..., K] @ w[N, K]^T + bias[N]; w in f32, bf16 or f16 (used as stored),
 * x f32; bias f32/bf16/f16 or NULL */
int locus_linear(locus_tensor *out, const locus_tensor *x, const locus_tensor *w,
                const locus_tensor *bias);
/* broadcasting elementwise; a and b of any float dtype */
int locus_add(locus_tensor *out, const locus_tensor *a, const locus_tensor *b);
int locus_sub(locus_tensor *out, const locus_tensor *a, const locus_tensor *b);
int locus_mul(locus_tensor *out, const locus_tensor *a, const locus_tensor *b);
int locus_div(locus_tensor *out, const locus_tensor *a, const locus_tensor *b);
int locus_affine(locus_tensor *out, const locus_tensor *x, float scale, float shift); /* x*s + b */
int locus_abs(locus_tensor *out, const locus_tensor *x);
int locus_gelu(locus_tensor *out, const locus_tensor *x);       /* x/2 (1 + erf(x/sqrt 2)) */
int locus_gelu_tanh(locus_tensor *out, const locus_tensor *x);  /* tanh approximation */
int locus_quick_gelu(locus_tensor *out, const locus_tensor *x); /* x sigmoid(1.702 x) (CLIP) */
int locus_silu(locus_tensor *out, const locus_tensor *x);       /* x sigmoid(x) */
int locus_softmax(locus_tensor *out, const locus_tensor *x);    /* over the last dim, stable */
/* over the last dim; weight and bias [C] of any float dtype, or NULL */
int locus_layer_norm(locus_tensor *out, const locus_tensor *x, const locus_tensor *weight,
                    const locus_tensor *bias, float eps);
int locus_rms_norm(locus_tensor *out, const locus_tensor *x, const locus_tensor *weight, float eps);
/* LLaMA rotary embedding on x [..., T, H, D]; token t has position pos0 + t. interleaved = 0: HF's
 * rotate-half pairs (i, i + D/2); 1: llama.cpp's adjacent pairs (2i, 2i + 1), for GGUF weights.
 * out may be x. */
int locus_rope(locus_tensor *out, const locus_tensor *x, int64_t pos0, float theta, int interleaved);
/* Attention: q [T, H, D] contiguous f32; k and v [S, KVH, D], f32 or f16 (both the same), views
 * whose last dim is contiguous and whose first two dims have any strides (token-major [S][KVH][D]
 * and head-major [KVH][S][D] storage alike); query head h uses kv head h / (H / KVH);
 * out [T, H, D] = softmax(q k^T / sqrt(D)) v. causal != 0: q holds positions pos0 .. pos0+T-1 of a
 * cache (S >= pos0 + T) and each sees the keys up to its own position; causal == 0 (encoders):
 * every query sees all S keys and pos0 is ignored. Many rows take a fused pass (online softmax
 * over blocks of keys) that never holds a T x S score matrix. */
int locus_attention(locus_tensor *out, const locus_tensor *q, const locus_tensor *k, const locus_tensor *v, int64_t pos0,
                   int causal);
/* out [n, D] = weight[ids[i]]; weight [V, D] of any float dtype; ids i32 or i64, any shape
 * of n elements */
int locus_embedding(locus_tensor *out, const locus_tensor *weight, const locus_tensor *ids);
/* out = concatenation of xs[0..n) along dim; out's dtype may be any, inputs are converted */
int locus_concat(locus_tensor *out, const locus_tensor *const *xs, int n, int dim);
/* x [B, C, H, W] (*) w [O, C, kh, kw] + bias[O] -> out [B, O, OH, OW]; f32 via oneDNN */
int locus_conv2d(locus_tensor *out, const locus_tensor *x, const locus_tensor *w,
                const locus_tensor *bias, int stride_h, int stride_w, int pad_h, int pad_w);
/* reductions over one dim; out has x's shape without that dim (or with it as size 1) */
int locus_sum(locus_tensor *out, const locus_tensor *x, int dim);
int locus_mean(locus_tensor *out, const locus_tensor *x, int dim);
int locus_max(locus_tensor *out, const locus_tensor *x, int dim);
int locus_argmax(locus_tensor *out_i64, const locus_tensor *x, int dim);
/* the k largest along the last dim, in descending order (ties: lower index first) */
int locus_topk(locus_tensor *values, locus_tensor *indices_i64, const locus_tensor *x, int k);

/* ---- gradients (training; csrc/ops/grad.c) --------------------------------------------------- */
/* Backward passes: the forward's inputs and dy (the loss's gradient with respect to the op's
 * output) give the gradients with respect to the inputs. Input gradients (dx, dq, dk, dv) are
 * overwritten, parameter gradients (dw, db, dweight) added to, so micro-batches accumulate; NULL
 * ones are skipped. Gradients are contiguous f32; other inputs may be any float type. */
int locus_rms_norm_backward(locus_tensor *dx, locus_tensor *dw, const locus_tensor *dy, const locus_tensor *x,
                           const locus_tensor *w, float eps);
int locus_layer_norm_backward(locus_tensor *dx, locus_tensor *dw, locus_tensor *db, const locus_tensor *dy,
                             const locus_tensor *x, const locus_tensor *w, float eps); /* w may be NULL */
/* kind: LOCUS_ACT_GELU, LOCUS_ACT_GELU_TANH, LOCUS_ACT_QUICK_GELU or LOCUS_ACT_SILU */
int locus_activation_backward(locus_tensor *dx, const locus_tensor *dy, const locus_tensor *x, int kind);
/* the inverse rotation of locus_rope (its transpose); dx may be dy */
int locus_rope_backward(locus_tensor *dx, const locus_tensor *dy, int64_t pos0, float theta, int interleaved);
/* q, dout [T, H, D]; k, v [S, KVH, D], all contiguous f32; causal: the queries are the last T of
 * the S positions (as locus_attention with pos0 = S - T); scores recomputed, no T x S buffer kept */
int locus_attention_backward(locus_tensor *dq, locus_tensor *dk, locus_tensor *dv, const locus_tensor *dout,
                            const locus_tensor *q, const locus_tensor *k, const locus_tensor *v, int causal);
/* dweight [V, D] += dy [n, D] at rows ids (i32 or i64, n of them) */
int locus_embedding_backward(locus_tensor *dweight, const locus_tensor *dy, const locus_tensor *ids);
/* *loss = torch's cross_entropy(logits [N, V], targets i64 [N], ignore_index) (the mean over the
 * rows not ignored); dlogits [N, V] (or NULL) its gradient */
int locus_cross_entropy(float *loss, locus_tensor *dlogits, const locus_tensor *logits, const locus_tensor *targets,
                       int64_t ignore_index);
/* One AdamW update of param in place (decoupled weight decay; m and v its moment estimates, zero
 * before step 1), as torch.optim.AdamW computes it; all contiguous f32 of one size. */
int locus_adamw_step(locus_tensor *param, const locus_tensor *grad, locus_tensor *m, locus_tensor *v, int64_t step,
                    float lr, float beta1, float beta2, float eps, float weight_decay);

/* ---- files --------------------------------------------------------------------------------- */
/* NumPy .npy (format 1.0-3.0), C order, little-endian: f32 f16 i8 u8 i32 i64 bool; f64 is read
 * as f32 (locus has no f64). mmap != 0 maps the file (copy-on-write) instead of reading it. */
locus_tensor *locus_npy_load(const char *path, int mmap);
/* writes to a temporary file beside `path` and renames it: never a partial file */
int locus_npy_save(const char *path, const locus_tensor *t);

/* ---- data pickles --------------------------------------------------------------------------- */
/* A pickle of plain data (refer's refs(unc).p: dicts, lists, tuples, strings, numbers, booleans,
 * None; protocols 0-5) as JSON text, NUL-terminated, its length in *len; free it with
 * locus_text_free. Read by the same restricted unpickler as checkpoints, with no global allowed:
 * nothing is imported or called. Python 2 strings that are not UTF-8 are read as Latin-1; NaN and
 * infinities become null. NULL with the error set on a bad file, a global, nesting deeper than
 * 256, or JSON of more than 64 bytes per byte of the file (shared references, plus 64 MB). */
char *locus_pickle_json(const char *path, size_t *len);
void locus_text_free(char *text);

/* ---- checkpoints ---------------------------------------------------------------------------- */
/* A set of named tensors from one file or a model directory: safetensors, PyTorch zip
 * checkpoints (.bin/.pth/.pt, read by a restricted unpickler that executes nothing), GGUF, and HF
 * directories with or without a shard index. Files are mapped, not read: locus_weights_get returns
 * a view into the mapping in the stored dtype, and the mapping lives as long as any such view. */
typedef struct locus_weights locus_weights;

typedef struct locus_weight_info {
    const char *name;
    const char *file;        /* path of the file that holds it */
    const char *stored_type; /* the format's own type name: "BF16", "torch.HalfStorage", "Q8_0" */
    int32_t type;            /* a locus_dtype, or -1 when locus cannot represent the stored type */
    int32_t ndim;
    int64_t sizes[LOCUS_MAX_DIMS];
    int64_t strides[LOCUS_MAX_DIMS]; /* in elements, as stored (PyTorch tensors may be strided) */
    uint64_t offset;         /* byte offset of element [0, ..., 0] in the file */
    uint64_t nbytes;         /* bytes from the lowest to the highest element */
} locus_weight_info;

locus_weights *locus_weights_open(const char *path);
void locus_weights_close(locus_weights *w); /* tensors already taken stay valid */
const char *locus_weights_format(const locus_weights *w); /* "safetensors", "pytorch", "gguf" */
int64_t locus_weights_count(const locus_weights *w);
const locus_weight_info *locus_weights_info_at(const locus_weights *w, int64_t i); /* stored order */
const locus_weight_info *locus_weights_find(const locus_weights *w, const char *name); /* or NULL */
locus_tensor *locus_weights_get(const locus_weights *w, const char *name);
/* Writes tensors as a safetensors file (whole or not at all): names[i] -> tensors[i] in that order,
 * metadata_json (an object of strings, or NULL) as __metadata__. 0, or -1 with the error set. */
int locus_safetensors_save(const char *path, int64_t n, const char *const *names, const locus_tensor *const *tensors,
                          const char *metadata_json);
/* The format's metadata as a JSON object: safetensors' __metadata__, GGUF's key/values. */
const char *locus_weights_metadata_json(const locus_weights *w);

/* GGUF's type of each metadata key, as a JSON object {"key": "u32", "list": "array:string", ...}
 * (types: u8 i8 u16 i16 u32 i32 u64 i64 f32 f64 bool string, arrays as "array:<type>"), so that a
 * GGUF read can be written back with the same types. Empty for other formats. */
const char *locus_weights_metadata_types_json(const locus_weights *w);

/* Writes a GGUF v3 file: metadata_json {key: value} with types_json as above (a key without a type
 * gets one from its value: string, bool, i32 or f32 for numbers, arrays likewise), then the tensors
 * (f32, f16, bf16, q8_0, q4_0, i8, i32, i64; any layout), aligned to general.alignment (default 32).
 * Writes a temporary file beside path and renames it: never a partial file. */
int locus_gguf_save(const char *path, const char *metadata_json, const char *types_json, int64_t n,
                   const char *const *names, const locus_tensor *const *tensors);
/* The same written as it goes, one tensor in memory at a time: begin declares every tensor (name,
 * dtype, ndim, sizes: n x 4 int64, row-major) and writes the header; add writes the next tensor's
 * data (its dtype and shape must be the declared ones); finish puts the file in place under path,
 * or removes it if anything failed; abort removes it. Until finish nothing exists under path. */
typedef struct locus_gguf_writer locus_gguf_writer;
locus_gguf_writer *locus_gguf_writer_begin(const char *path, const char *metadata_json, const char *types_json, int64_t n,
                                           const char *const *names, const int32_t *dtypes, const int32_t *ndims,
                                           const int64_t *shapes);
int locus_gguf_writer_add(locus_gguf_writer *w, const locus_tensor *t);
int locus_gguf_writer_finish(locus_gguf_writer *w);
void locus_gguf_writer_abort(locus_gguf_writer *w);

/* ---- files ---------------------------------------------------------------------------------- */
/* What identifies a file's present contents without reading it: "device:inode:size:mtime" (the
 * modification time to the nanosecond), as make and ccache judge; writes it into buf[0..cap) and
 * returns 0, or -1 with the error set (no such file). */
int locus_file_stamp(const char *path, char *buf, size_t cap);
/* Writes data[0..n) as the file `path`, whole or not at all (an unnamed file linked in place when
 * written): 0, or -1 with the error set. */
int locus_write_file(const char *path, const void *data, size_t n);

/* ---- tokenizer -------------------------------------------------------------------------------- */
/* LLaMA's SentencePiece BPE (from tokenizer.model or GGUF metadata) plus Hugging Face's added
 * tokens, matched whole with the whitespace around them stripped (slow LlamaTokenizer). */
typedef struct locus_tokenizer locus_tokenizer;
locus_tokenizer *locus_tokenizer_load(const char *path); /* a SentencePiece tokenizer.model */
locus_tokenizer *locus_tokenizer_from_weights(const locus_weights *w); /* GGUF tokenizer.ggml.* */
void locus_tokenizer_free(locus_tokenizer *t);
/* An added token, matched whole before BPE; strip_left/strip_right eat the whitespace before/after
 * it (HF: both for plain added tokens, an AddedToken's lstrip/rstrip for special ones). */
int locus_tokenizer_add_token(locus_tokenizer *t, const char *text, int32_t id, int strip_left, int strip_right);
int32_t locus_tokenizer_vocab_size(const locus_tokenizer *t); /* pieces and added tokens */
int32_t locus_tokenizer_bos(const locus_tokenizer *t);        /* -1 when the model has none */
int32_t locus_tokenizer_eos(const locus_tokenizer *t);
int32_t locus_tokenizer_unk(const locus_tokenizer *t);
int32_t locus_tokenizer_id(const locus_tokenizer *t, const char *piece, size_t len); /* -1: none */
const char *locus_tokenizer_piece(const locus_tokenizer *t, int32_t id, size_t *len);
/* A SentencePiece piece's score and type (1 normal, 2 unknown, 3 control, 4 user-defined, 5 unused,
 * 6 byte; GGUF's tokenizer.ggml.token_type) for 0 <= id < locus_tokenizer_pieces(t). */
int32_t locus_tokenizer_pieces(const locus_tokenizer *t); /* the model's pieces, added tokens aside */
int locus_tokenizer_piece_info(const locus_tokenizer *t, int32_t id, float *score, int32_t *type);
int locus_tokenizer_adds_space_prefix(const locus_tokenizer *t); /* the normalizer's add_dummy_prefix */
/* Encodes text[0..len) into ids[0..cap); returns the number of ids (call again with a larger
 * buffer when it exceeds cap), or -1. */
int64_t locus_tokenizer_encode(const locus_tokenizer *t, const char *text, size_t len, int add_bos, int32_t *ids,
                              int64_t cap);
/* The same, where no added token may match in the n_plain byte ranges plain[2r] .. plain[2r+1]
 * (start, end): text a user wrote, whose "<im_start>" is five pieces of text, never the token. */
int64_t locus_tokenizer_encode_plain(const locus_tokenizer *t, const char *text, size_t len, int add_bos,
                                    const int64_t *plain, int64_t n_plain, int32_t *ids, int64_t cap);
/* Decodes ids into buf[0..cap) (NUL-terminated when it fits); returns the text's length, or -1.
 * Control tokens vanish, byte tokens become their byte, "▁" a space (dropped at the very start
 * when strip_leading_space, as sentencepiece drops the dummy prefix). */
int64_t locus_tokenizer_decode(const locus_tokenizer *t, const int32_t *ids, int64_t n, int strip_leading_space, char *buf,
                              int64_t cap);

/* ---- images ---------------------------------------------------------------------------------- */
/* Decodes JPEG, PNG, BMP, GIF (first frame), PNM or TGA into u8 [H, W, 3] (grey and alpha become
 * RGB; alpha is dropped, as PIL's convert("RGB") does); honor_exif turns JPEGs by their EXIF
 * orientation. Refuses images beyond 32768 per side or locus_image_max_pixels(), and truncated
 * ones (the data or a scan ends before the image does) and progressive JPEGs of over 500 scans. */
locus_tensor *locus_image_load(const char *path, int honor_exif);
/* The most pixels an image may hold, decoded or padded to a square: 100 million, or the
 * environment's LOCUS_MAX_IMAGE_PIXELS (read once). */
int64_t locus_image_max_pixels(void);
/* Pillow's bicubic resize (antialiased when shrinking), bit for bit: u8 [H, W, 3] -> out u8 [h, w, 3]. */
int locus_image_resize(locus_tensor *out, const locus_tensor *img);
/* GroundingGPT's expand2square: img centred on a square of side max(H, W) filled with rgb[3]. */
int locus_image_pad_square(locus_tensor *out, const locus_tensor *img, const uint8_t *rgb);
/* u8 [H, W, 3] -> out f32 [3, H, W] = (x / 255 - mean[c]) / std[c] */
int locus_image_normalize(locus_tensor *out, const locus_tensor *img, const float *mean, const float *std);
/* Draws a rectangle (pixel corners) in rgb[3] on a contiguous u8 [H, W, 3] image, in place, with the
 * number `label` on a tab at its top-left corner (label < 0: none). */
int locus_image_draw_box(locus_tensor *img, int64_t x0, int64_t y0, int64_t x1, int64_t y1, const uint8_t *rgb, int label);
/* Writes u8 [H, W, 3] as .png or .jpg (stb_image_write), via a temporary file and a rename. */
int locus_image_save(const char *path, const locus_tensor *img);

/* ---- video (FFmpeg) ------------------------------------------------------------------------------- */
typedef struct locus_video_info {
    int64_t frames;   /* from the container, or counted from the stream's packets when it has none */
    double duration;  /* seconds */
    double fps;
    int32_t width, height; /* as stored, before rotation */
    int32_t rotation; /* clockwise degrees that turn the picture upright: 0, 90, 180, 270 */
    int32_t counted;  /* 1 when frames were counted */
} locus_video_info;
/* count != 0 counts the stream's packets even when the container states a frame count */
int locus_video_probe(const char *path, locus_video_info *info, int count);
/* The frames at `indices` (ascending, presentation order), upright, each resized to out_w x out_h
 * with Pillow's bicubic (squashed, no crop): u8 [n, out_h, out_w, 3]. Seeks to the keyframe before
 * a frame far ahead rather than decoding everything in between. When an index lies past the last
 * frame (a container that overstated its count), fails and, if frames_held is not NULL, sets it
 * to the number of frames the stream holds (else -1). */
locus_tensor *locus_video_frames(const char *path, const int64_t *indices, int64_t n, int32_t out_w, int32_t out_h,
                                 int64_t *frames_held);

/* ---- audio (libsndfile) ------------------------------------------------------------------------- */
enum { LOCUS_AUDIO_SNDFILE = 0, LOCUS_AUDIO_FFMPEG = 1 };
typedef struct locus_audio_info {
    int64_t frames;      /* samples per channel */
    int32_t sample_rate; /* Hz */
    int32_t channels;
    double duration;     /* seconds */
    int32_t decoder;     /* LOCUS_AUDIO_SNDFILE (WAV, FLAC, Ogg, AIFF, MP3) or LOCUS_AUDIO_FFMPEG (the rest) */
} locus_audio_info;
/* Opens with libsndfile, or failing that with FFmpeg (which decodes the file once to count its
 * samples: compressed streams do not say exactly). */
int locus_audio_probe(const char *path, locus_audio_info *info);
/* Samples [start, end) (clipped to the signal) of the file resampled to `rate` Hz as
 * torchaudio.functional.resample does it (windowed sinc, Hann, lowpass 0.99, width 6): f32
 * [channels, end - start]. Only the input the filter needs for that stretch is read (FFmpeg
 * decodes up to it); NaN and infinite samples read as 0. */
locus_tensor *locus_audio_read(const char *path, int64_t rate, int64_t start, int64_t end);
/* n stretches at once, out[s] as locus_audio_read's (one decoding pass with FFmpeg); info from
 * locus_audio_probe, or NULL to probe here. On failure every out[s] is NULL. */
int locus_audio_read_spans(const char *path, const locus_audio_info *info, int64_t rate, int n, const int64_t *starts, const int64_t *ends,
                          locus_tensor **out);
/* torchaudio.functional.resample of f32 [channels, n]: f32 [channels, ceil(n * to / from)] (gcd-reduced) */
locus_tensor *locus_audio_resample(const locus_tensor *x, int64_t from, int64_t to);
/* The length torchaudio's resampler gives n samples: ceil(n * to' / from'), rates reduced by their gcd */
int64_t locus_audio_resampled_length(int64_t n, int64_t from, int64_t to);
/* torchaudio.compliance.kaldi.fbank of f32 [n] at 16 kHz with ImageBind's settings (25 ms / 10 ms
 * frames, snip edges, DC removal, pre-emphasis 0.97, Hann, 512-point FFT, HTK mel banks from 20 Hz
 * to Nyquist, no energy, no dither, log floored at FLT_EPSILON): out f32 [frames, mel_bins],
 * frames = 1 + (n - 400) / 160 (0 when n < 400). */
int locus_audio_fbank(locus_tensor *out, const locus_tensor *wave, int64_t sample_rate, int32_t mel_bins);
/* Clip `index` of `clips` of clip_seconds each over `samples` samples at `rate`, as ImageBind cuts
 * them with pytorchvideo's ConstantClipsPerVideoSampler: starts index * max(duration - clip, 0) /
 * clips, samples [*start, *end) (end may pass the signal's end: the slice stops there). */
int locus_audio_clip_span(int64_t samples, int64_t rate, double clip_seconds, int64_t index, int64_t clips, int64_t *start, int64_t *end);

/* ---- transformer encoder layer (CLIP's ViT; EVA's and ImageBind's with other options) ------------ */
typedef struct locus_vit_layer_weights {
    const locus_tensor *ln1_w, *ln1_b, *q_w, *q_b, *k_w, *k_b, *v_w, *v_b, *o_w, *o_b;
    const locus_tensor *ln2_w, *ln2_b, *fc1_w, *fc1_b, *fc2_w, *fc2_b; /* biases may be NULL */
} locus_vit_layer_weights;
enum { LOCUS_ACT_GELU = 0, LOCUS_ACT_QUICK_GELU = 1, LOCUS_ACT_GELU_TANH = 2, LOCUS_ACT_SILU = 3 };
/* One pre-norm encoder layer on x [T, C] (contiguous f32, updated in place):
 * x += attn(LN1(x)) with `heads` heads; x += fc2(act(fc1(LN2(x)))). Rows form sequences of seq_len
 * (0: one sequence of all T) that attend only within themselves: frames batched together. */
int locus_vit_layer(locus_tensor *x, const locus_vit_layer_weights *w, int heads, float eps, int act, int64_t seq_len);

/* ---- LLaMA-architecture decoder (fused C blocks; the Lua recipe lua/locus/llm.lua fills it) ---- */
typedef struct locus_decoder locus_decoder;
typedef struct locus_decoder_config {
    int32_t n_layers, dim, n_heads, n_kv_heads, hidden, vocab;
    float norm_eps, rope_theta;
    int32_t rope_interleaved; /* 1 for GGUF weights (llama.cpp's q/k layout), 0 for HF */
    int64_t max_context;      /* KV cache length, preallocated */
    int32_t kv_dtype;         /* the KV cache's: LOCUS_F32 (0, the default) or LOCUS_F16 (half the memory) */
} locus_decoder_config;

locus_decoder *locus_decoder_new(const locus_decoder_config *cfg);
void locus_decoder_free(locus_decoder *d);
/* The decoder keeps views of the weights (so their storage stays alive); matrices are [out, in]
 * in any dtype locus_linear takes, norm weights any float dtype (kept as f32 copies). */
int locus_decoder_set_layer(locus_decoder *d, int layer, const locus_tensor *attn_norm, const locus_tensor *wq,
                           const locus_tensor *wk, const locus_tensor *wv, const locus_tensor *wo,
                           const locus_tensor *ffn_norm, const locus_tensor *w_gate, const locus_tensor *w_up,
                           const locus_tensor *w_down);
int locus_decoder_set_output(locus_decoder *d, const locus_tensor *norm, const locus_tensor *lm_head);
/* Runs x [T, dim] (f32 rows of embeddings) at positions pos0 .. pos0+T-1 through every layer,
 * filling the KV cache, and writes logits: [T, vocab] for every position or [1, vocab] for the
 * last. Work buffers are planned for the largest T seen; a single token allocates nothing. */
int locus_decoder_forward(locus_decoder *d, const locus_tensor *x, int64_t pos0, locus_tensor *logits);
/* The hidden state [T, dim] after the final norm, of the last forward (a view; valid until the next). */
locus_tensor *locus_decoder_hidden(locus_decoder *d);
/* The KV cache as a view [layers, 2 (keys, values), kv_heads, max_context, head_dim] of its dtype
 * (head-major: one head's positions are contiguous; keys after RoPE): to save a prompt's keys and
 * values and put them back (the decoder keeps its storage alive). */
locus_tensor *locus_decoder_cache(locus_decoder *d);

/* LOCUS_CDEF_END */

#ifdef __cplusplus
}
#endif

#endif /* LOCUS_H */
