/* qdot_avx512.c — the quantized products (qdot.h) with AVX-512 and VNNI (built with -mavx512f
 * -mavx512bw -mavx512vl -mavx512vnni -ffp-contract=off): vpdpbusd multiplies 64 unsigned weight bytes
 * (four of each of 16 rows) by four signed activation bytes broadcast to every lane, adding each
 * four products into the row's int32 lane; the 16 lanes are the 16 rows of a packed group. */
#include "qdot.h"

#include "../core/internal.h"

#include <immintrin.h>

static void quantize_q8(const float *x, uint8_t *row, int64_t k) {
    int64_t nb = k / LOCUS_QK;
    float *scales = (float *)(void *)(row + (size_t)nb * LOCUS_QK);
    int32_t *sums = (int32_t *)(void *)(row + (size_t)nb * (LOCUS_QK + 4));
    for (int64_t b = 0; b < nb; b++, x += LOCUS_QK) {
        __m512 v0 = _mm512_loadu_ps(x), v1 = _mm512_loadu_ps(x + 16);
        float amax = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_abs_ps(v0), _mm512_abs_ps(v1)));
        float d = amax / 127.0f, id = amax != 0 ? 127.0f / amax : 0.0f;
        scales[b] = _cvtsh_ss(_cvtss_sh(d, 0)); /* rounded to nearest even f16, as the reference */
        __m512 s = _mm512_set1_ps(id);
        /* cvtps rounds to nearest even, as lrintf does in the reference; |q| <= 127 */
        __m512i q0 = _mm512_cvtps_epi32(_mm512_mul_ps(v0, s)), q1 = _mm512_cvtps_epi32(_mm512_mul_ps(v1, s));
        _mm_storeu_si128((__m128i *)(row + b * LOCUS_QK), _mm512_cvtsepi32_epi8(q0));
        _mm_storeu_si128((__m128i *)(row + b * LOCUS_QK + 16), _mm512_cvtsepi32_epi8(q1));
        sums[2 * b] = _mm512_reduce_add_epi32(q0);
        sums[2 * b + 1] = _mm512_reduce_add_epi32(q1);
    }
}

static inline __m512i broadcast4(const uint8_t *p) { /* four activation bytes to every lane */
    int32_t v;
    memcpy(&v, p, 4);
    return _mm512_set1_epi32(v);
}

/* m and kind (constants after inlining) activation rows against one packed group. */
static inline __attribute__((always_inline)) void gemm_body(float *y, int64_t ldy, const uint8_t *x, size_t xstride, int m,
                                                            const uint8_t *p, int64_t nb, int kind) {
    const __m512i low = _mm512_set1_epi8(0x0f);
    const bool legacy = kind == LOCUS_QKIND_Q8_0 || kind == LOCUS_QKIND_Q4_0;
    const bool nibbles = kind == LOCUS_QKIND_Q4_0 || kind == LOCUS_QKIND_Q4_K;
    const size_t pb = locus_qpack_block_bytes(kind);
    const float *dx[LOCUS_QTILE_M];
    const int32_t *sx[LOCUS_QTILE_M];
    __m512 acc[LOCUS_QTILE_M];
    for (int i = 0; i < m; i++) {
        dx[i] = locus_qrow_scales(x + (size_t)i * xstride, nb);
        sx[i] = locus_qrow_sums(x + (size_t)i * xstride, nb);
        acc[i] = _mm512_setzero_ps();
    }
    __m512 d = _mm512_setzero_ps(), dmin = _mm512_setzero_ps(); /* K-quants: the super-block's */
    for (int64_t b = 0; b < nb; b++, p += pb) {
        if (!legacy && b % 8 == 0) {
            d = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)p));
            if (locus_qkind_has_mins(kind)) dmin = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(p + 32)));
            p += locus_qpack_header_bytes(kind);
        }
        /* Q8_0/Q4_0: the f16 scales; Q4_K: d sc and dmin mn; Q6_K: the two half-block scales */
        __m512 s0, s1;
        if (legacy) {
            s0 = s1 = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)p));
        } else if (locus_qkind_has_mins(kind)) {
            s0 = _mm512_mul_ps(d, _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)p))));
            s1 = _mm512_mul_ps(dmin, _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(p + 16)))));
        } else {
            s0 = _mm512_mul_ps(d, _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)p))));
            s1 = _mm512_mul_ps(d, _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(p + 16)))));
        }
        __m512i w[8]; /* w[c]: weights 4c .. 4c+3 of the 16 rows */
        for (int c = 0; c < (nibbles ? 4 : 8); c++) {
            __m512i v = _mm512_loadu_si512(p + 32 + 64 * c);
            w[c] = nibbles ? _mm512_and_si512(v, low) : v;
            if (nibbles) w[4 + c] = _mm512_and_si512(_mm512_srli_epi16(v, 4), low);
        }
        for (int i = 0; i < m; i++) {
            const uint8_t *xb = x + (size_t)i * xstride + (size_t)b * LOCUS_QK;
            int32_t sl = sx[i][2 * b], sh = sx[i][2 * b + 1];
            /* values 0..15 and 16..31; the legacy kinds' offset (weights stored as w + offset) starts
             * the sum, integers being exact in any order */
            __m512i lo = legacy ? _mm512_set1_epi32(-(kind == LOCUS_QKIND_Q8_0 ? 128 : 8) * (sl + sh)) : _mm512_setzero_si512();
            __m512i hi = _mm512_setzero_si512();
            for (int c = 0; c < 4; c++) {
                lo = _mm512_dpbusd_epi32(lo, w[c], broadcast4(xb + 4 * c));
                hi = _mm512_dpbusd_epi32(hi, w[4 + c], broadcast4(xb + 16 + 4 * c));
            }
            __m512 t, xd = _mm512_set1_ps(dx[i][b]);
            if (legacy) {
                t = _mm512_cvtepi32_ps(_mm512_add_epi32(lo, hi));
                xd = _mm512_mul_ps(s0, xd);
            } else if (locus_qkind_has_mins(kind)) {
                t = _mm512_sub_ps(_mm512_mul_ps(s0, _mm512_cvtepi32_ps(_mm512_add_epi32(lo, hi))),
                                  _mm512_mul_ps(s1, _mm512_set1_ps((float)(sl + sh))));
            } else {
                t = _mm512_add_ps(_mm512_mul_ps(s0, _mm512_cvtepi32_ps(_mm512_sub_epi32(lo, _mm512_set1_epi32(32 * sl)))),
                                  _mm512_mul_ps(s1, _mm512_cvtepi32_ps(_mm512_sub_epi32(hi, _mm512_set1_epi32(32 * sh)))));
            }
            acc[i] = _mm512_fmadd_ps(t, xd, acc[i]); /* one rounding, as fmaf in the reference */
        }
    }
    for (int i = 0; i < m; i++) _mm512_storeu_ps(y + i * ldy, acc[i]);
}

/* the row count as a constant, so that gemm_body's loops over rows unroll */
static inline __attribute__((always_inline)) void gemm(float *y, int64_t ldy, const uint8_t *x, size_t xstride, int m,
                                                       const uint8_t *p, int64_t nb, int kind) {
    switch (m) {
    case 1: gemm_body(y, ldy, x, xstride, 1, p, nb, kind); break;
    case 2: gemm_body(y, ldy, x, xstride, 2, p, nb, kind); break;
    case 3: gemm_body(y, ldy, x, xstride, 3, p, nb, kind); break;
    default: gemm_body(y, ldy, x, xstride, 4, p, nb, kind); break;
    }
}

LOCUS_QDOT_TABLE(locus_qdot_avx512, quantize_q8, gemm)
