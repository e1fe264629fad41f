/* vec_avx2.c — AVX2 + FMA + F16C inner loops (built with -mavx2 -mfma -mf16c). */
#include "vec.h"

#include "../core/internal.h"

#include <immintrin.h>

static inline float hsum256(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

static inline __m256 load_bf16x8(const uint16_t *p) {
    __m256i w = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)p));
    return _mm256_castsi256_ps(_mm256_slli_epi32(w, 16));
}

static inline __m256 load_f16x8(const uint16_t *p) {
    return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p));
}

/* Two accumulators hide the FMA latency; the tail runs in scalar code. */
#define DOT_BODY(LOAD_W, SCALAR_W)                                                                 \
    __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();                                     \
    int64_t i = 0;                                                                                 \
    for (; i + 16 <= k; i += 16) {                                                                 \
        a0 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i), LOAD_W(w + i), a0);                           \
        a1 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 8), LOAD_W(w + i + 8), a1);                   \
    }                                                                                              \
    for (; i + 8 <= k; i += 8) a0 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i), LOAD_W(w + i), a0);    \
    float s = hsum256(_mm256_add_ps(a0, a1));                                                      \
    for (; i < k; i++) s += x[i] * SCALAR_W(w[i]);                                                 \
    return s;

static inline float f32_id(float v) { return v; }

static float dot_f32(const float *x, const float *w, int64_t k) { DOT_BODY(_mm256_loadu_ps, f32_id) }
static float dot_bf16(const float *x, const uint16_t *w, int64_t k) { DOT_BODY(load_bf16x8, bf16_to_f32) }
static float dot_f16(const float *x, const uint16_t *w, int64_t k) { DOT_BODY(load_f16x8, lego_half_to_float) }

static void bf16_row(float *dst, const uint16_t *src, int64_t k) {
    int64_t i = 0;
    for (; i + 8 <= k; i += 8) _mm256_storeu_ps(dst + i, load_bf16x8(src + i));
    for (; i < k; i++) dst[i] = bf16_to_f32(src[i]);
}

static void f16_row(float *dst, const uint16_t *src, int64_t k) {
    int64_t i = 0;
    for (; i + 8 <= k; i += 8) _mm256_storeu_ps(dst + i, load_f16x8(src + i));
    for (; i < k; i++) dst[i] = lego_half_to_float(src[i]);
}

const lego_vec_kernels lego_vec_avx2 = {dot_f32, dot_bf16, dot_f16, bf16_row, f16_row};
