/* qdot_avx2.c — the quantized products (qdot.h) with AVX2 (built with -mavx2 -mf16c
 * -ffp-contract=off), for CPUs without AVX512-VNNI: maddubs multiplies unsigned by signed bytes into
 * pairs of int16 and madd adds the pairs, so four products of each of 8 rows land in its int32 lane
 * (a packed group's 16 rows are two halves). A Q8_0 weight goes in as |w| against x with w's sign
 * (w + 128 against x could overflow the int16 pairs); a Q4_0 one as its nibble (0..15). */
#include "qdot.h"

#include "../core/internal.h"

#include <immintrin.h>

static inline float hmax(__m256 v) {
    __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    m = _mm_max_ps(m, _mm_movehl_ps(m, m));
    return _mm_cvtss_f32(_mm_max_ss(m, _mm_movehdup_ps(m)));
}

static inline int32_t hsum_i32(__m256i t) {
    __m128i h = _mm_add_epi32(_mm256_castsi256_si128(t), _mm256_extracti128_si256(t, 1));
    h = _mm_add_epi32(h, _mm_shuffle_epi32(h, _MM_SHUFFLE(1, 0, 3, 2)));
    return _mm_cvtsi128_si32(_mm_add_epi32(h, _mm_shuffle_epi32(h, _MM_SHUFFLE(2, 3, 0, 1))));
}

static void quantize_q8(const float *x, uint8_t *row, int64_t k) {
    const __m256 sign = _mm256_set1_ps(-0.0f);
    int64_t nb = k / LOCUS_QK;
    float *scales = (float *)(void *)(row + (size_t)nb * LOCUS_QK);
    int32_t *sums = (int32_t *)(void *)(row + (size_t)nb * (LOCUS_QK + 4));
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
        sums[2 * b] = hsum_i32(_mm256_add_epi32(i0, i1));
        sums[2 * b + 1] = hsum_i32(_mm256_add_epi32(i2, i3));
    }
}

static inline __m256i broadcast4(const uint8_t *p) { /* four activation bytes to every lane */
    int32_t v;
    memcpy(&v, p, 4);
    return _mm256_set1_epi32(v);
}

/* The integer dots of 8 rows (half h of the group) with activation block xb, over values 0..15
 * (*lo) and 16..31 (*hi), each less offset times the activations' sum (Q4_K has none): chunk c's
 * 32 bytes of this half hold four weights of each row. */
static inline void half_dot(const uint8_t *q, int h, const uint8_t *xb, int32_t sl, int32_t sh, int kind, __m256i *lo, __m256i *hi) {
    const __m256i ones = _mm256_set1_epi16(1), low = _mm256_set1_epi8(0x0f), flip = _mm256_set1_epi8((char)0x80);
    __m256i a = _mm256_setzero_si256(), b = _mm256_setzero_si256();
    if (kind == LOCUS_QKIND_Q4_0 || kind == LOCUS_QKIND_Q4_K) {
        for (int c = 0; c < 4; c++) {
            __m256i v = _mm256_loadu_si256((const __m256i *)(q + 64 * c + 32 * h));
            a = _mm256_add_epi32(a, _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_and_si256(v, low), broadcast4(xb + 4 * c)), ones));
            b = _mm256_add_epi32(b, _mm256_madd_epi16(
                                        _mm256_maddubs_epi16(_mm256_and_si256(_mm256_srli_epi16(v, 4), low), broadcast4(xb + 16 + 4 * c)), ones));
        }
    } else if (kind == LOCUS_QKIND_Q8_0) { /* |w| against x with w's sign: w + 128 against x could overflow the int16 pairs */
        for (int c = 0; c < 8; c++) {
            __m256i w = _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)(q + 64 * c + 32 * h)), flip);
            __m256i xv = broadcast4(xb + 4 * c);
            __m256i p = _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_sign_epi8(w, w), _mm256_sign_epi8(xv, w)), ones);
            if (c < 4) a = _mm256_add_epi32(a, p);
            else b = _mm256_add_epi32(b, p);
        }
    } else { /* Q5_K, Q6_K: u <= 63, so the int16 pairs do not overflow */
        for (int c = 0; c < 8; c++) {
            __m256i v = _mm256_loadu_si256((const __m256i *)(q + 64 * c + 32 * h));
            __m256i p = _mm256_madd_epi16(_mm256_maddubs_epi16(v, broadcast4(xb + 4 * c)), ones);
            if (c < 4) a = _mm256_add_epi32(a, p);
            else b = _mm256_add_epi32(b, p);
        }
    }
    int32_t offset = kind == LOCUS_QKIND_Q4_0 ? 8 : kind == LOCUS_QKIND_Q6_K ? 32 : 0; /* Q8_0's is gone with the sign trick */
    *lo = _mm256_sub_epi32(a, _mm256_set1_epi32(offset * sl));
    *hi = _mm256_sub_epi32(b, _mm256_set1_epi32(offset * sh));
}

static inline void gemm(float *y, int64_t ldy, const uint8_t *x, size_t xstride, int m, const uint8_t *group, int64_t nb, int kind) {
    const bool legacy = kind == LOCUS_QKIND_Q8_0 || kind == LOCUS_QKIND_Q4_0;
    const size_t pb = locus_qpack_block_bytes(kind);
    for (int i = 0; i < m; i++) {
        const uint8_t *row = x + (size_t)i * xstride;
        const float *dx = locus_qrow_scales(row, nb);
        const int32_t *sx = locus_qrow_sums(row, nb);
        for (int h = 0; h < 2; h++) {
            __m256 acc = _mm256_setzero_ps();
            const uint8_t *p = group;
            __m256 d = _mm256_setzero_ps(), dmin = _mm256_setzero_ps(); /* K-quants: the super-block's, for this half */
            for (int64_t b = 0; b < nb; b++, p += pb) {
                if (!legacy && b % 8 == 0) {
                    d = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(p + 16 * h)));
                    if (locus_qkind_has_mins(kind)) dmin = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(p + 32 + 16 * h)));
                    p += locus_qpack_header_bytes(kind);
                }
                __m256i lo, hi;
                int32_t sl = sx[2 * b], sh = sx[2 * b + 1];
                half_dot(p + 32, h, row + b * LOCUS_QK, sl, sh, kind, &lo, &hi);
                __m256 t, xd = _mm256_set1_ps(dx[b]);
                if (legacy) {
                    t = _mm256_cvtepi32_ps(_mm256_add_epi32(lo, hi));
                    xd = _mm256_mul_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(p + 16 * h))), xd);
                } else {
                    __m128i a = _mm_loadl_epi64((const __m128i *)(p + 8 * h)), c = _mm_loadl_epi64((const __m128i *)(p + 16 + 8 * h));
                    __m256 s0 = _mm256_mul_ps(d, _mm256_cvtepi32_ps(locus_qkind_has_mins(kind) ? _mm256_cvtepu8_epi32(a) : _mm256_cvtepi8_epi32(a)));
                    __m256 s1 = locus_qkind_has_mins(kind) ? _mm256_mul_ps(dmin, _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(c)))
                                                         : _mm256_mul_ps(d, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(c)));
                    t = locus_qkind_has_mins(kind)
                            ? _mm256_sub_ps(_mm256_mul_ps(s0, _mm256_cvtepi32_ps(_mm256_add_epi32(lo, hi))), _mm256_mul_ps(s1, _mm256_set1_ps((float)(sl + sh))))
                            : _mm256_add_ps(_mm256_mul_ps(s0, _mm256_cvtepi32_ps(lo)), _mm256_mul_ps(s1, _mm256_cvtepi32_ps(hi)));
                }
                acc = _mm256_fmadd_ps(t, xd, acc); /* one rounding, as fmaf in the reference */
            }
            _mm256_storeu_ps(y + i * ldy + 8 * h, acc);
        }
    }
}

LOCUS_QDOT_TABLE(locus_qdot_avx2, quantize_q8, gemm)
