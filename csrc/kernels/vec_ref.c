/* vec_ref.c — plain C inner loops: the reference every vector path is tested against, and the
 * path for CPUs without AVX2. */
#include "vec.h"

#include "../core/internal.h"

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

const locus_vec_kernels locus_vec_ref = {dot_f32, dot_bf16, dot_f16, bf16_row, f16_row, NULL, 0, 0};

const locus_vec_kernels *locus_vec_active(void) {
    switch (locus_active_path()) {
    case LOCUS_PATH_AVX512: return &locus_vec_avx512;
    case LOCUS_PATH_AVX2: return &locus_vec_avx2;
    default: return &locus_vec_ref;
    }
}
