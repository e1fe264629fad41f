/* vec_ref.c — plain C inner loops: the reference every vector path is tested against, and the
 * path for CPUs without AVX2. */
#include "vec.h"

#include "../core/internal.h"

#include <math.h>

static float dot_f32(const float *x, const float *w, int64_t k) {
    float s = 0;
    for (int64_t i = 0; i < k; i++) s += x[i] * w[i];
    return s;
}

static float dot_bf16(const float *x, const uint16_t *w, int64_t k) {
    float s = 0;
    for (int64_t i = 0; i < k; i++) s += x[i] * bf16_to_f32(w[i]);
    return s;
}

static float dot_f16(const float *x, const uint16_t *w, int64_t k) {
    float s = 0;
    for (int64_t i = 0; i < k; i++) s += x[i] * locus_half_to_float(w[i]);
    return s;
}

static void bf16_row(float *dst, const uint16_t *src, int64_t k) {
    for (int64_t i = 0; i < k; i++) dst[i] = bf16_to_f32(src[i]);
}

static void f16_row(float *dst, const uint16_t *src, int64_t k) {
    for (int64_t i = 0; i < k; i++) dst[i] = locus_half_to_float(src[i]);
}

static float max_f32(const float *x, int64_t n) {
    float m = -INFINITY;
    for (int64_t i = 0; i < n; i++) m = x[i] > m ? x[i] : m;
    return m;
}

static float exp_sum(float *x, int64_t n, float shift, float scale) {
    float s = 0;
    for (int64_t i = 0; i < n; i++) s += x[i] = expf((x[i] - shift) * scale);
    return s;
}

static void axpy_f32(float *y, float a, const float *x, int64_t n) {
    for (int64_t i = 0; i < n; i++) y[i] += a * x[i];
}

static void axpy_f16(float *y, float a, const uint16_t *x, int64_t n) {
    for (int64_t i = 0; i < n; i++) y[i] += a * locus_half_to_float(x[i]);
}

const locus_vec_kernels locus_vec_ref = {dot_f32, dot_bf16, dot_f16, bf16_row, f16_row, NULL, 0, 0,
                                        max_f32, exp_sum, axpy_f32, axpy_f16};

const locus_vec_kernels *locus_vec_active(void) {
    switch (locus_active_path()) {
    case LOCUS_PATH_AVX512: return &locus_vec_avx512;
    case LOCUS_PATH_AVX2: return &locus_vec_avx2;
    default: return &locus_vec_ref;
    }
}
