/* internal.h — what the C core shares between its files and never exports. */
#ifndef LOCUS_INTERNAL_H
#define LOCUS_INTERNAL_H

#include "locus.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#define LOCUS_ALIGN 64

/* Sets the thread's error message (printf-style) and returns -1, so `return locus_fail(...)`
 * reads naturally in int-returning functions. */
int locus_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Same, for pointer-returning functions. */
void *locus_fail_null(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

locus_storage *locus_storage_uninit(size_t nbytes); /* owned, contents undefined */
/* Gives the pages wholly inside [p, p + n) back to the page cache where s is (a window of) a
 * mapped file and the pages were never written; they are read from the file again if touched. */
void locus_storage_drop_clean_pages(const locus_storage *s, const void *p, size_t n);
typedef struct locus_qpacked locus_qpacked;

void *locus_aligned_alloc(size_t nbytes); /* LOCUS_ALIGN-aligned; NULL on failure (no error set) */
void locus_aligned_free(void *p);
/* The calling thread's buffer number `which`, grown when a call needs more and kept otherwise, so
 * that decoding allocates nothing once the first token has sized it; NULL when out of memory.
 * ACTIVATIONS: a product's rows of x in another type; GROUP: a weight group packed on the fly. */
enum { LOCUS_BUFFER_ACTIVATIONS, LOCUS_BUFFER_GROUP, LOCUS_BUFFERS };
uint8_t *locus_thread_buffer(int which, size_t bytes);

/* ---- bytes and files ---------------------------------------------------------------------- */
/* The n-byte (1..8) little-endian unsigned integer at p: every file format locus reads stores its
 * integers so. */
static inline uint64_t locus_read_le(const void *p, int n) {
    const uint8_t *b = p;
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--) v = v << 8 | b[i];
    return v;
}

/* Output files come into being whole or not at all (files.c): locus_out_open opens o->f for
 * writing `path` (an unnamed file in its directory, or a temporary beside it where the file system
 * has no unnamed files); locus_out_finish closes it and puts it in place when the writing went well
 * (WRITE_OK), else discards it, reporting WRITE_FAILED with errno or keeping the error of a
 * WRITE_REPORTED failure; both return 0 or -1 with the error set. */
enum { WRITE_OK = 0, WRITE_FAILED = 1, WRITE_REPORTED = 2 };
typedef struct {
    FILE *f;
    char *path, *tmp; /* tmp: the temporary's name (an unnamed file is linked there, then renamed) */
    bool unnamed;
} locus_out;
int locus_out_open(locus_out *o, const char *path);
int locus_out_finish(locus_out *o, int outcome);

/* ---- scalar conversions ------------------------------------------------------------------- */
static inline float bf16_to_f32(uint16_t h) {
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

static inline uint16_t f32_to_bf16(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40); /* quiet NaN */
    u += 0x7fffu + ((u >> 16) & 1u); /* round to nearest even */
    return (uint16_t)(u >> 16);
}

float locus_half_to_float(uint16_t h);
uint16_t locus_float_to_half(float f);

/* ---- tensors -------------------------------------------------------------------------------- */
static inline bool is_block_dtype(int dt) {
    return dt == LOCUS_Q8_0 || dt == LOCUS_Q4_0 || dt == LOCUS_Q4_K || dt == LOCUS_Q5_K || dt == LOCUS_Q6_K;
}
static inline bool is_float_dtype(int dt) {
    return dt == LOCUS_F32 || dt == LOCUS_F16 || dt == LOCUS_BF16 || is_block_dtype(dt);
}

/* Bytes taken by `elems` consecutive elements (a whole number of blocks for block types). */
static inline int64_t locus_bytes_for(int dt, int64_t elems) {
    return elems / locus_dtype_block(dt) * (int64_t)locus_dtype_block_bytes(dt);
}

/* Block-quantized rows (quant.c), with ggml's reference rounding: n is a multiple of the dtype's
 * block (32 for Q8_0/Q4_0, 256 for the K-quants). */
void locus_dequantize_row(int dt, const void *src, float *dst, int64_t n);
void locus_quantize_row(int dt, const float *src, void *dst, int64_t n);
/* The K-quants' part of them (kquant.c): dt is LOCUS_Q4_K, LOCUS_Q5_K or LOCUS_Q6_K. */
void locus_dequantize_kquant(int dt, const void *src, float *dst, int64_t n);
void locus_quantize_kquant(int dt, const float *src, void *dst, int64_t n);

/* Products with weights of the types the integer kernels take (locus_qkind >= 0: Q8_0, Q4_0, Q4_K,
 * Q5_K, Q6_K) in LOCUS_FAST or LOCUS_FAST_BF16 precision (ops/qlinear.c): y [m_rows, n] = x [m_rows, k]
 * times w [n, k]^T, w's rows contiguous, its packed copy used when given. */
int locus_qkind(int dtype); /* kernels/qdot.h's LOCUS_QKIND_*, or -1 */
int locus_linear_q(float *y, const float *x, int64_t m_rows, int64_t k, const locus_tensor *w, const locus_qpacked *packed);
/* A matrix of those types packed once for those products (kernels/qdot.h's groups of 16 rows); the
 * rows it copied, where they are clean pages of a mapped file, are given back to the page cache. */
locus_qpacked *locus_qpack(const locus_tensor *w);
void locus_qpacked_free(locus_qpacked *p);
/* locus_linear without bias, taking w's packed copy (or NULL) for the integer products (linear.c) */
int locus_linear_prepared(locus_tensor *out, const locus_tensor *x, const locus_tensor *w, const locus_qpacked *packed);

/* Element i (row-major over t's shape) as double, for the slow generic paths. */
double locus_load_elem(const void *p, int dtype);
void locus_store_elem(void *p, int dtype, double v);

int locus_check_tensor(const locus_tensor *t, const char *op, const char *what);
/* out must be contiguous f32 with the given shape. */
int locus_check_out(const locus_tensor *out, const char *op, int ndim, const int64_t *shape);
bool locus_same_shape(const locus_tensor *a, const locus_tensor *b);

/* A contiguous f32 version of t: t itself (*owned = NULL) when it already is, or a new copy that
 * the caller frees through *owned. Returns NULL with the error set on failure. */
const float *locus_f32_view(const locus_tensor *t, locus_tensor **owned);

/* t as f32 (t itself or a converted copy, returned in *base for the caller to free) viewed with
 * the broadcast shape (stride 0 on broadcast dims). */
locus_tensor *locus_expanded_f32(const locus_tensor *t, int ndim, const int64_t *shape, locus_tensor **base);

/* Element offset of row r (all dims but the last, in row-major order) from t's first element. */
int64_t locus_row_offset(const locus_tensor *t, int64_t r);

/* Runtime kernel choice (cpu.c). */
enum { LOCUS_PATH_REF = 0, LOCUS_PATH_AVX2 = 1, LOCUS_PATH_AVX512 = 2 };
int locus_active_path(void);
bool locus_cpu_has_vnni(void); /* AVX512-VNNI, for the integer kernels (kernels/qdot.h) */
bool locus_cpu_has_bf16(void); /* AVX512_BF16, for products of bf16 activations and weights */

#endif
