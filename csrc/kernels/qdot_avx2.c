/* qdot_avx2.c — the quantized dot products (qdot.h) with AVX2 (built with -mavx2 -mfma -mf16c):
 * maddubs multiplies unsigned by signed bytes into pairs of int16, so a Q8_0 weight block goes in
 * as |w| against x with w's sign, and a Q4_0 block as its nibbles (0..15) with 8 x subtracted. */
#include "qdot.h"

#include "../core/internal.h"

#include <immintrin.h>

static inline float scale_of(const uint8_t *block) { return _cvtsh_ss((unsigned short)locus_read_le(block, 2)); }

static inline float hsum(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    return _mm_cvtss_f32(_mm_add_ss(s, _mm_movehdup_ps(s)));
}

static inline float hmax(__m256 v) {
    __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    m = _mm_max_ps(m, _mm_movehl_ps(m, m));
    return _mm_cvtss_f32(_mm_max_ss(m, _mm_movehdup_ps(m)));
}

static void quantize_q8(const float *x, uint8_t *row, int64_t k) {
    const __m256 sign = _mm256_set1_ps(-0.0f);
    int64_t nb = k / LOCUS_QK;
    float *scales = (float *)(void *)(row + (size_t)nb * LOCUS_QK);
    for (int64_t b = 0; b < nb; b++, x += LOCUS_QK) {
        __m256 v0 = _mm256_loadu_ps(x), v1 = _mm256_loadu_ps(x + 8), v2 = _mm256_loadu_ps(x + 16), v3 = _mm256_loadu_ps(x + 24);
        __m256 m = _mm256_max_ps(_mm256_max_ps(_mm256_andnot_ps(sign, v0), _mm256_andnot_ps(sign, v1)),
                                 _mm256_max_ps(_mm256_andnot_ps(sign, v2), _mm256_andnot_ps(sign, v3)));
        float amax = hmax(m), d = amax / 127.0f, id = amax != 0 ? 127.0f / amax : 0.0f;
        scales[b] = _cvtsh_ss(_cvtss_sh(d, 0)); /* rounded to nearest even f16, as the reference */
        __m256 s = _mm256_set1_ps(id);
        /* cvtps rounds to nearest even, as lrintf does in the reference */
        __m256i i0 = _mm256_cvtps_epi32(_mm256_mul_ps(v0, s)), i1 = _mm256_cvtps_epi32(_mm256_mul_ps(v1, s));
        __m256i i2 = _mm256_cvtps_epi32(_mm256_mul_ps(v2, s)), i3 = _mm256_cvtps_epi32(_mm256_mul_ps(v3, s));
        __m256i p = _mm256_packs_epi16(_mm256_packs_epi32(i0, i1), _mm256_packs_epi32(i2, i3));
        p = _mm256_permutevar8x32_epi32(p, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7)); /* undo the lane interleave */
        _mm256_storeu_si256((__m256i *)(row + b * LOCUS_QK), p);
    }
}

static float dot_q8_0(const uint8_t *row, const uint8_t *w, int64_t nb) {
    const __m256i ones = _mm256_set1_epi16(1);
    const float *dx = locus_qrow_scales(row, nb);
    __m256 acc = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; b++, w += LOCUS_Q8_BLOCK_BYTES) {
        __m256i xv = _mm256_loadu_si256((const __m256i *)(row + b * LOCUS_QK)), wv = _mm256_loadu_si256((const __m256i *)(w + 2));
        __m256i p = _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_sign_epi8(wv, wv), _mm256_sign_epi8(xv, wv)), ones);
        acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p), _mm256_set1_ps(scale_of(w) * dx[b]), acc);
    }
    return hsum(acc);
}

/* a Q4_0 block's 16 bytes as 32 unsigned nibbles in element order: low nibbles, then high ones */
static inline __m256i nibbles(const uint8_t *qs) {
    const __m128i m4 = _mm_set1_epi8(0x0f);
    __m128i q = _mm_loadu_si128((const __m128i *)qs);
    return _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(q, 4), m4), _mm_and_si128(q, m4));
}

static float dot_q4_0(const uint8_t *row, const uint8_t *w, int64_t nb) {
    const __m256i ones = _mm256_set1_epi16(1), eights = _mm256_set1_epi8(8);
    const float *dx = locus_qrow_scales(row, nb);
    __m256 acc = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; b++, w += LOCUS_Q4_BLOCK_BYTES) {
        __m256i xv = _mm256_loadu_si256((const __m256i *)(row + b * LOCUS_QK));
        __m256i p16 = _mm256_sub_epi16(_mm256_maddubs_epi16(nibbles(w + 2), xv), _mm256_maddubs_epi16(eights, xv));
        __m256i p = _mm256_madd_epi16(p16, ones);
        acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p), _mm256_set1_ps(scale_of(w) * dx[b]), acc);
    }
    return hsum(acc);
}

const locus_qdot_kernels locus_qdot_avx2 = {quantize_q8, dot_q8_0, dot_q4_0, NULL, NULL};
