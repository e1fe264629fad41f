/* vec_avx2.c — AVX2 + FMA + F16C inner loops (built with -mavx2 -mfma -mf16c). */
#include "vec.h"

#include "../core/internal.h"

#include <immintrin.h>
#include <math.h>

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

static float max_f32(const float *x, int64_t n) {
    __m256 m = _mm256_set1_ps(-INFINITY);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) m = _mm256_max_ps(m, _mm256_loadu_ps(x + i));
    __m128 h = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
    h = _mm_max_ps(h, _mm_movehl_ps(h, h));
    float r = _mm_cvtss_f32(_mm_max_ss(h, _mm_movehdup_ps(h)));
    for (; i < n; i++) r = x[i] > r ? x[i] : r;
    return r;
}

/* exp(x) for x <= 0 as 2^n e^r (see vec_avx512.c's exp_neg); 2^n is built in the exponent bits,
 * n >= -126 wherever x >= -87.3, and the result is 0 below. */
static inline __m256 exp_neg(__m256 x) {
    __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
    __m256 p = _mm256_set1_ps(1.9875691500e-4f);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
    p = _mm256_fmadd_ps(p, _mm256_mul_ps(r, r), _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
    __m256 live = _mm256_cmp_ps(x, _mm256_set1_ps(-87.3f), _CMP_GE_OQ);
    n = _mm256_and_ps(live, n); /* keeps the exponent valid where the result is masked anyway */
    __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    return _mm256_and_ps(live, _mm256_mul_ps(p, _mm256_castsi256_ps(e)));
}

static float exp_sum(float *x, int64_t n, float shift, float scale) {
    __m256 s = _mm256_setzero_ps(), sh = _mm256_set1_ps(shift), sc = _mm256_set1_ps(scale);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 e = exp_neg(_mm256_mul_ps(_mm256_sub_ps(_mm256_loadu_ps(x + i), sh), sc));
        _mm256_storeu_ps(x + i, e);
        s = _mm256_add_ps(s, e);
    }
    if (i < n) { /* the tail through the same polynomial, padded with -inf (which gives 0) */
        float t[8];
        for (int j = 0; j < 8; j++) t[j] = i + j < n ? x[i + j] : -INFINITY;
        __m256 e = exp_neg(_mm256_mul_ps(_mm256_sub_ps(_mm256_loadu_ps(t), sh), sc));
        _mm256_storeu_ps(t, e);
        for (int j = 0; i + j < n; j++) x[i + j] = t[j];
        s = _mm256_add_ps(s, e);
    }
    return hsum256(s);
}

static void axpy_f32(float *y, float a, const float *x, int64_t n) {
    __m256 av = _mm256_set1_ps(a);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, _mm256_fmadd_ps(av, _mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i)));
    for (; i < n; i++) y[i] += a * x[i];
}

static void axpy_f16(float *y, float a, const uint16_t *x, int64_t n) {
    __m256 av = _mm256_set1_ps(a);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, _mm256_fmadd_ps(av, load_f16x8(x + i), _mm256_loadu_ps(y + i)));
    for (; i < n; i++) y[i] += a * locus_half_to_float(x[i]);
}

const locus_vec_kernels locus_vec_avx2 = {dot_f32, dot_bf16, dot_f16, bf16_row, f16_row, tile, 2, 4,
                                         max_f32, exp_sum, axpy_f32, axpy_f16};
