/* vec_avx512.c — AVX-512 inner loops (built with -mavx512f -mavx512bw -mavx512vl -mfma).
 * Tails use masked loads, so every length runs in vector code. */
#include "vec.h"

#include "../core/internal.h"

#include <immintrin.h>

static inline __m512 load_bf16x16(const uint16_t *p) {
    __m512i w = _mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)p));
    return _mm512_castsi512_ps(_mm512_slli_epi32(w, 16));
}

static inline __m512 load_bf16x16_mask(const uint16_t *p, __mmask16 m) {
    __m512i w = _mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(m, p));
    return _mm512_castsi512_ps(_mm512_slli_epi32(w, 16));
}

static inline __m512 load_f16x16(const uint16_t *p) {
    return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)p));
}

static inline __m512 load_f16x16_mask(const uint16_t *p, __mmask16 m) {
    return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, p));
}

static inline __m512 load_f32x16_mask(const float *p, __mmask16 m) { return _mm512_maskz_loadu_ps(m, p); }

/* Four accumulators cover the FMA latency at two FMAs per cycle. */
#define DOT_BODY(LOAD_W, LOAD_W_MASK)                                                              \
    __m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps();                                     \
    __m512 a2 = _mm512_setzero_ps(), a3 = _mm512_setzero_ps();                                     \
    int64_t i = 0;                                                                                 \
    for (; i + 64 <= k; i += 64) {                                                                 \
        a0 = _mm512_fmadd_ps(_mm512_loadu_ps(x + i), LOAD_W(w + i), a0);                           \
        a1 = _mm512_fmadd_ps(_mm512_loadu_ps(x + i + 16), LOAD_W(w + i + 16), a1);                 \
        a2 = _mm512_fmadd_ps(_mm512_loadu_ps(x + i + 32), LOAD_W(w + i + 32), a2);                 \
        a3 = _mm512_fmadd_ps(_mm512_loadu_ps(x + i + 48), LOAD_W(w + i + 48), a3);                 \
    }                                                                                              \
    for (; i + 16 <= k; i += 16) a0 = _mm512_fmadd_ps(_mm512_loadu_ps(x + i), LOAD_W(w + i), a0);  \
    if (i < k) {                                                                                   \
        __mmask16 m = (__mmask16)((1u << (k - i)) - 1);                                            \
        a1 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, x + i), LOAD_W_MASK(w + i, m), a1);          \
    }                                                                                              \
    return _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3)));

static float dot_f32(const float *x, const float *w, int64_t k) { DOT_BODY(_mm512_loadu_ps, load_f32x16_mask) }
static float dot_bf16(const float *x, const uint16_t *w, int64_t k) { DOT_BODY(load_bf16x16, load_bf16x16_mask) }
static float dot_f16(const float *x, const uint16_t *w, int64_t k) { DOT_BODY(load_f16x16, load_f16x16_mask) }

#define ROW_BODY(LOAD_W, LOAD_W_MASK)                                                              \
    int64_t i = 0;                                                                                 \
    for (; i + 16 <= k; i += 16) _mm512_storeu_ps(dst + i, LOAD_W(src + i));                       \
    if (i < k) {                                                                                   \
        __mmask16 m = (__mmask16)((1u << (k - i)) - 1);                                            \
        _mm512_mask_storeu_ps(dst + i, m, LOAD_W_MASK(src + i, m));                                \
    }

static void bf16_row(float *dst, const uint16_t *src, int64_t k) { ROW_BODY(load_bf16x16, load_bf16x16_mask) }
static void f16_row(float *dst, const uint16_t *src, int64_t k) { ROW_BODY(load_f16x16, load_f16x16_mask) }

const lego_vec_kernels lego_vec_avx512 = {dot_f32, dot_bf16, dot_f16, bf16_row, f16_row};
