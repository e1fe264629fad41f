/* internal.h — what the C core shares between its files and never exports. */
#ifndef LEGO_INTERNAL_H
#define LEGO_INTERNAL_H

#include "lego.h"

#include <stdbool.h>
#include <string.h>

#define LEGO_ALIGN 64

/* Sets the thread's error message (printf-style) and returns -1, so `return lego_fail(...)`
 * reads naturally in int-returning functions. */
int lego_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Same, for pointer-returning functions. */
void *lego_fail_null(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

lego_storage *lego_storage_uninit(size_t nbytes); /* owned, contents undefined */

void *lego_aligned_alloc(size_t nbytes); /* LEGO_ALIGN-aligned; NULL on failure (no error set) */
void lego_aligned_free(void *p);

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

float lego_half_to_float(uint16_t h);
uint16_t lego_float_to_half(float f);

/* ---- tensors -------------------------------------------------------------------------------- */
static inline bool is_block_dtype(int dt) { return dt == LEGO_Q8_0 || dt == LEGO_Q4_0; }
static inline bool is_float_dtype(int dt) {
    return dt == LEGO_F32 || dt == LEGO_F16 || dt == LEGO_BF16 || is_block_dtype(dt);
}

/* Bytes taken by `elems` consecutive elements (a whole number of blocks for block types). */
static inline int64_t lego_bytes_for(int dt, int64_t elems) {
    return elems / lego_dtype_block(dt) * (int64_t)lego_dtype_block_bytes(dt);
}

/* Block-quantized rows (quant.c), with ggml's reference rounding: n is a multiple of 32. */
void lego_dequantize_row(int dt, const void *src, float *dst, int64_t n);
void lego_quantize_row(int dt, const float *src, void *dst, int64_t n);

/* Element i (row-major over t's shape) as double, for the slow generic paths. */
double lego_load_elem(const void *p, int dtype);
void lego_store_elem(void *p, int dtype, double v);

int lego_check_tensor(const lego_tensor *t, const char *op, const char *what);
/* out must be contiguous f32 with the given shape. */
int lego_check_out(const lego_tensor *out, const char *op, int ndim, const int64_t *shape);
bool lego_same_shape(const lego_tensor *a, const lego_tensor *b);

/* A contiguous f32 version of t: t itself (*owned = NULL) when it already is, or a new copy that
 * the caller frees through *owned. Returns NULL with the error set on failure. */
const float *lego_f32_view(const lego_tensor *t, lego_tensor **owned);

/* t as f32 (t itself or a converted copy, returned in *base for the caller to free) viewed with
 * the broadcast shape (stride 0 on broadcast dims). */
lego_tensor *lego_expanded_f32(const lego_tensor *t, int ndim, const int64_t *shape, lego_tensor **base);

/* Element offset of row r (all dims but the last, in row-major order) from t's first element. */
int64_t lego_row_offset(const lego_tensor *t, int64_t r);

/* Runtime kernel choice (cpu.c). */
enum { LEGO_PATH_REF = 0, LEGO_PATH_AVX2 = 1, LEGO_PATH_AVX512 = 2 };
int lego_active_path(void);

#endif
