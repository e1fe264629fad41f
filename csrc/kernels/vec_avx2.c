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
static float dot_f16(const float *x, const uint16_t *w, int64_t k) { DOT_BODY(load_f16x8, locus_half_to_float) }

static void bf16_row(float *dst, const uint16_t *src, int64_t k) {
    int64_t i = 0;
    for (; i + 8 <= k; i += 8) _mm256_storeu_ps(dst + i, load_bf16x8(src + i));
    for (; i < k; i++) dst[i] = bf16_to_f32(src[i]);
}

static void f16_row(float *dst, const uint16_t *src, int64_t k) {
    int64_t i = 0;
    for (; i + 8 <= k; i += 8) _mm256_storeu_ps(dst + i, load_f16x8(src + i));
    for (; i < k; i++) dst[i] = locus_half_to_float(src[i]);
}

/* 2 x-rows by 4 weight rows: 8 accumulators, 2 x vectors and 1 weight vector in 11 of the 16
 * ymm registers; the tail of k in scalar code. */
#define TILE_BODY(WT, LOAD_W, SCALAR_W)                                                            \
    const WT *wp = (const WT *)w;                                                                  \
    __m256 c[2][4];                                                                                \
    for (int i = 0; i < 2; i++)                                                                    \
        for (int j = 0; j < 4; j++) c[i][j] = _mm256_setzero_ps();                                 \
    int64_t p = 0;                                                                                 \
    for (; p + 8 <= k; p += 8) {                                                                   \
        __m256 a0 = _mm256_loadu_ps(x + p), a1 = _mm256_loadu_ps(x + ldx + p);                     \
        for (int j = 0; j < 4; j++) {                                                              \
            __m256 b = LOAD_W(wp + j * ldw + p);                                                   \
            c[0][j] = _mm256_fmadd_ps(a0, b, c[0][j]);                                             \
            c[1][j] = _mm256_fmadd_ps(a1, b, c[1][j]);                                             \
        }                                                                                          \
    }                                                                                              \
    for (int i = 0; i < 2; i++)                                                                    \
        for (int j = 0; j < 4; j++) {                                                              \
            float s = hsum256(c[i][j]);                                                            \
            for (int64_t q = p; q < k; q++) s += x[i * ldx + q] * SCALAR_W(wp[j * ldw + q]);       \
            y[i * ldy + j] = s;                                                                    \
        }

static void tile_f32(float *y, int64_t ldy, const float *x, int64_t ldx, const void *w, int64_t ldw, int64_t k) {
    TILE_BODY(float, _mm256_loadu_ps, f32_id)
}
static void tile_bf16(float *y, int64_t ldy, const float *x, int64_t ldx, const void *w, int64_t ldw, int64_t k) {
    TILE_BODY(uint16_t, load_bf16x8, bf16_to_f32)
}
static void tile_f16(float *y, int64_t ldy, const float *x, int64_t ldx, const void *w, int64_t ldw, int64_t k) {
    TILE_BODY(uint16_t, load_f16x8, locus_half_to_float)
}

static void tile(float *y, int64_t ldy, const float *x, int64_t ldx, const void *w, int64_t ldw, int wtype, int64_t k) {
    switch (wtype) {
    case LOCUS_BF16: tile_bf16(y, ldy, x, ldx, w, ldw, k); break;
    case LOCUS_F16: tile_f16(y, ldy, x, ldx, w, ldw, k); break;
    default: tile_f32(y, ldy, x, ldx, w, ldw, k); break;
    }
}

const locus_vec_kernels locus_vec_avx2 = {dot_f32, dot_bf16, dot_f16, bf16_row, f16_row, tile, 2, 4};
