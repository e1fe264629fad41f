/* vec_avx512.c — AVX-512 inner loops (built with -mavx512f -mavx512bw -mavx512vl -mfma).
 * Tails use masked loads, so every length runs in vector code. */
#include "vec.h"

#include "../core/internal.h"

#include <immintrin.h>
#include <math.h>

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

/* 4 x-rows by 4 weight rows: 16 accumulators, 4 x vectors and 1 weight vector in 21 of the 32
 * zmm registers. The tail of k goes through the same loop with a mask. */
#define TILE_BODY(WT, LOAD_W_MASK)                                                                 \
    const WT *w0 = (const WT *)w, *w1 = w0 + ldw, *w2 = w1 + ldw, *w3 = w2 + ldw;                  \
    const float *x0 = x, *x1 = x + ldx, *x2 = x1 + ldx, *x3 = x2 + ldx;                            \
    __m512 c[4][4];                                                                                \
    for (int i = 0; i < 4; i++)                                                                    \
        for (int j = 0; j < 4; j++) c[i][j] = _mm512_setzero_ps();                                 \
    for (int64_t p = 0; p < k; p += 16) {                                                          \
        __mmask16 m = p + 16 <= k ? (__mmask16)0xffff : (__mmask16)((1u << (k - p)) - 1);          \
        __m512 a0 = _mm512_maskz_loadu_ps(m, x0 + p), a1 = _mm512_maskz_loadu_ps(m, x1 + p);       \
        __m512 a2 = _mm512_maskz_loadu_ps(m, x2 + p), a3 = _mm512_maskz_loadu_ps(m, x3 + p);       \
        const WT *wr[4] = {w0 + p, w1 + p, w2 + p, w3 + p};                                        \
        for (int j = 0; j < 4; j++) {                                                              \
            __m512 b = LOAD_W_MASK(wr[j], m);                                                      \
            c[0][j] = _mm512_fmadd_ps(a0, b, c[0][j]);                                             \
            c[1][j] = _mm512_fmadd_ps(a1, b, c[1][j]);                                             \
            c[2][j] = _mm512_fmadd_ps(a2, b, c[2][j]);                                             \
            c[3][j] = _mm512_fmadd_ps(a3, b, c[3][j]);                                             \
        }                                                                                          \
    }                                                                                              \
    for (int i = 0; i < 4; i++)                                                                    \
        for (int j = 0; j < 4; j++) y[i * ldy + j] = _mm512_reduce_add_ps(c[i][j]);

static void tile_f32(float *y, int64_t ldy, const float *x, int64_t ldx, const void *w, int64_t ldw, int64_t k) {
    TILE_BODY(float, load_f32x16_mask)
}
static void tile_bf16(float *y, int64_t ldy, const float *x, int64_t ldx, const void *w, int64_t ldw, int64_t k) {
    TILE_BODY(uint16_t, load_bf16x16_mask)
}
static void tile_f16(float *y, int64_t ldy, const float *x, int64_t ldx, const void *w, int64_t ldw, int64_t k) {
    TILE_BODY(uint16_t, load_f16x16_mask)
}

static void tile(float *y, int64_t ldy, const float *x, int64_t ldx, const void *w, int64_t ldw, int wtype, int64_t k) {
    switch (wtype) {
    case LOCUS_BF16: tile_bf16(y, ldy, x, ldx, w, ldw, k); break;
    case LOCUS_F16: tile_f16(y, ldy, x, ldx, w, ldw, k); break;
    default: tile_f32(y, ldy, x, ldx, w, ldw, k); break;
    }
}

static float max_f32(const float *x, int64_t n) {
    __m512 m = _mm512_set1_ps(-INFINITY);
    for (int64_t i = 0; i < n; i += 16) {
        __mmask16 k = i + 16 <= n ? (__mmask16)0xffff : (__mmask16)((1u << (n - i)) - 1);
        m = _mm512_mask_max_ps(m, k, m, _mm512_maskz_loadu_ps(k, x + i));
    }
    return _mm512_reduce_max_ps(m);
}

/* exp(x) for x <= 0 as 2^n e^r, r = x - n ln 2 in [-ln2/2, ln2/2] (ln 2 split in two so n ln 2 is
 * exact) and e^r by Cephes' expf polynomial; below -87.3 (e^x under FLT_MIN) the result is 0. */
static inline __m512 exp_neg(__m512 x) {
    __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)), _MM_FROUND_TO_NEAREST_INT);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
    __m512 p = _mm512_set1_ps(1.9875691500e-4f);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
    p = _mm512_fmadd_ps(p, _mm512_mul_ps(r, r), _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
    __mmask16 live = _mm512_cmp_ps_mask(x, _mm512_set1_ps(-87.3f), _CMP_GE_OQ);
    return _mm512_maskz_scalef_ps(live, p, n);
}

static float exp_sum(float *x, int64_t n, float shift, float scale) {
    __m512 s = _mm512_setzero_ps(), sh = _mm512_set1_ps(shift), sc = _mm512_set1_ps(scale);
    for (int64_t i = 0; i < n; i += 16) {
        __mmask16 k = i + 16 <= n ? (__mmask16)0xffff : (__mmask16)((1u << (n - i)) - 1);
        __m512 e = exp_neg(_mm512_mul_ps(_mm512_sub_ps(_mm512_maskz_loadu_ps(k, x + i), sh), sc));
        _mm512_mask_storeu_ps(x + i, k, e);
        s = _mm512_add_ps(s, _mm512_maskz_mov_ps(k, e));
    }
    return _mm512_reduce_add_ps(s);
}

#define AXPY_BODY(LOAD_X_MASK)                                                                     \
    __m512 av = _mm512_set1_ps(a);                                                                 \
    for (int64_t i = 0; i < n; i += 16) {                                                          \
        __mmask16 k = i + 16 <= n ? (__mmask16)0xffff : (__mmask16)((1u << (n - i)) - 1);          \
        __m512 yv = _mm512_maskz_loadu_ps(k, y + i);                                               \
        _mm512_mask_storeu_ps(y + i, k, _mm512_fmadd_ps(av, LOAD_X_MASK(x + i, k), yv));           \
    }

static void axpy_f32(float *y, float a, const float *x, int64_t n) { AXPY_BODY(load_f32x16_mask) }
static void axpy_f16(float *y, float a, const uint16_t *x, int64_t n) { AXPY_BODY(load_f16x16_mask) }

const locus_vec_kernels locus_vec_avx512 = {dot_f32, dot_bf16, dot_f16, bf16_row, f16_row, tile, 4, 4,
                                           max_f32, exp_sum, axpy_f32, axpy_f16};
