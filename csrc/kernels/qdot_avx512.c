/* qdot_avx512.c — the quantized dot products (qdot.h) with AVX-512 and VNNI (built with
 * -mavx512f -mavx512bw -mavx512vl -mavx512vnni): vpdpbusd multiplies unsigned by signed bytes and
 * adds each four products into an int32 lane, two blocks per 512-bit register. */
#include "qdot.h"

#include "../core/internal.h"

#include <immintrin.h>

static inline float scale_of(const uint8_t *block) { return _cvtsh_ss((unsigned short)locus_read_le(block, 2)); }

static inline __m512i two_blocks(const uint8_t *a, const uint8_t *b) {
    return _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)a)),
                              _mm256_loadu_si256((const __m256i *)b), 1);
}

static inline __m512 two_scales(float a, float b) {
    /* insertf64x4 (AVX-512F) rather than insertf32x8, which needs AVX512DQ */
    return _mm512_castpd_ps(_mm512_insertf64x4(_mm512_castps_pd(_mm512_castps256_ps512(_mm256_set1_ps(a))),
                                               _mm256_castps_pd(_mm256_set1_ps(b)), 1));
}

static void quantize_q8(const float *x, uint8_t *dst, int64_t k) {
    for (int64_t b = 0; b < k / LOCUS_QK; b++, x += LOCUS_QK, dst += LOCUS_Q8_BLOCK_BYTES) {
        __m512 v0 = _mm512_loadu_ps(x), v1 = _mm512_loadu_ps(x + 16);
        float amax = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_abs_ps(v0), _mm512_abs_ps(v1)));
        float d = amax / 127.0f, id = amax != 0 ? 127.0f / amax : 0.0f;
        uint16_t h = locus_float_to_half(d);
        dst[0] = (uint8_t)h;
        dst[1] = (uint8_t)(h >> 8);
        __m512 s = _mm512_set1_ps(id);
        /* cvtps rounds to nearest even, as lrintf does in the reference; |q| <= 127 */
        _mm_storeu_si128((__m128i *)(dst + 2), _mm512_cvtsepi32_epi8(_mm512_cvtps_epi32(_mm512_mul_ps(v0, s))));
        _mm_storeu_si128((__m128i *)(dst + 18), _mm512_cvtsepi32_epi8(_mm512_cvtps_epi32(_mm512_mul_ps(v1, s))));
    }
}

/* x . w for signed bytes: |w| (unsigned) times x with w's sign */
static inline __m512i dot_signed(__m512i acc, __m512i x, __m512i w) {
    __m512i sx = _mm512_mask_sub_epi8(x, _mm512_movepi8_mask(w), _mm512_setzero_si512(), x);
    return _mm512_dpbusd_epi32(acc, _mm512_abs_epi8(w), sx);
}

static float dot_q8_0(const uint8_t *xq, const uint8_t *w, int64_t nb) {
    const int B = LOCUS_Q8_BLOCK_BYTES;
    __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
    int64_t b = 0;
    for (; b + 4 <= nb; b += 4, xq += 4 * B, w += 4 * B) {
        __m512i p0 = dot_signed(_mm512_setzero_si512(), two_blocks(xq + 2, xq + B + 2), two_blocks(w + 2, w + B + 2));
        __m512i p1 = dot_signed(_mm512_setzero_si512(), two_blocks(xq + 2 * B + 2, xq + 3 * B + 2),
                                two_blocks(w + 2 * B + 2, w + 3 * B + 2));
        acc0 = _mm512_fmadd_ps(_mm512_cvtepi32_ps(p0), two_scales(scale_of(w) * scale_of(xq), scale_of(w + B) * scale_of(xq + B)), acc0);
        acc1 = _mm512_fmadd_ps(_mm512_cvtepi32_ps(p1),
                               two_scales(scale_of(w + 2 * B) * scale_of(xq + 2 * B), scale_of(w + 3 * B) * scale_of(xq + 3 * B)), acc1);
    }
    float s = _mm512_reduce_add_ps(_mm512_add_ps(acc0, acc1));
    for (; b < nb; b++, xq += B, w += B) { /* the last blocks, one at a time */
        __m256i xv = _mm256_loadu_si256((const __m256i *)(xq + 2)), wv = _mm256_loadu_si256((const __m256i *)(w + 2));
        __m256i sx = _mm256_mask_sub_epi8(xv, _mm256_movepi8_mask(wv), _mm256_setzero_si256(), xv);
        __m256i p = _mm256_dpbusd_epi32(_mm256_setzero_si256(), _mm256_abs_epi8(wv), sx);
        __m256 f = _mm256_cvtepi32_ps(p);
        __m128 h = _mm_add_ps(_mm256_castps256_ps128(f), _mm256_extractf128_ps(f, 1));
        h = _mm_add_ps(h, _mm_movehl_ps(h, h));
        s += _mm_cvtss_f32(_mm_add_ss(h, _mm_movehdup_ps(h))) * (scale_of(w) * scale_of(xq));
    }
    return s;
}

/* a Q4_0 block's 16 bytes as 32 unsigned nibbles in element order: low nibbles, then high ones */
static inline __m256i nibbles(const uint8_t *qs) {
    const __m128i m4 = _mm_set1_epi8(0x0f);
    __m128i q = _mm_loadu_si128((const __m128i *)qs);
    return _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(q, 4), m4), _mm_and_si128(q, m4));
}

static float dot_q4_0(const uint8_t *xq, const uint8_t *w, int64_t nb) {
    const int B = LOCUS_Q8_BLOCK_BYTES, W = LOCUS_Q4_BLOCK_BYTES;
    const __m512i eights = _mm512_set1_epi8(8);
    __m512 acc = _mm512_setzero_ps();
    int64_t b = 0;
    for (; b + 2 <= nb; b += 2, xq += 2 * B, w += 2 * W) {
        __m512i x = two_blocks(xq + 2, xq + B + 2);
        __m512i q = _mm512_inserti64x4(_mm512_castsi256_si512(nibbles(w + 2)), nibbles(w + W + 2), 1);
        /* sum (q - 8) x = sum q x - 8 sum x */
        __m512i p = _mm512_sub_epi32(_mm512_dpbusd_epi32(_mm512_setzero_si512(), q, x),
                                     _mm512_dpbusd_epi32(_mm512_setzero_si512(), eights, x));
        acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(p), two_scales(scale_of(w) * scale_of(xq), scale_of(w + W) * scale_of(xq + B)), acc);
    }
    float s = _mm512_reduce_add_ps(acc);
    if (b < nb) { /* the last block */
        __m256i x = _mm256_loadu_si256((const __m256i *)(xq + 2));
        __m256i p = _mm256_sub_epi32(_mm256_dpbusd_epi32(_mm256_setzero_si256(), nibbles(w + 2), x),
                                     _mm256_dpbusd_epi32(_mm256_setzero_si256(), _mm256_set1_epi8(8), x));
        __m256 f = _mm256_cvtepi32_ps(p);
        __m128 h = _mm_add_ps(_mm256_castps256_ps128(f), _mm256_extractf128_ps(f, 1));
        h = _mm_add_ps(h, _mm_movehl_ps(h, h));
        s += _mm_cvtss_f32(_mm_add_ss(h, _mm_movehdup_ps(h))) * (scale_of(w) * scale_of(xq));
    }
    return s;
}

/* The prompt tile: 4 activation rows x 2 weight rows, two blocks per step. Each block pair of a
 * weight row is loaded (and, for Q8_0, split into |w| and its sign) once for the four rows. */
#define TILE_BODY(WBYTES, PREPARE_W, DOT)                                                          \
    const int B = LOCUS_Q8_BLOCK_BYTES;                                                             \
    __m512 acc[LOCUS_QTILE_M][LOCUS_QTILE_N];                                                       \
    for (int i = 0; i < LOCUS_QTILE_M; i++)                                                         \
        for (int j = 0; j < LOCUS_QTILE_N; j++) acc[i][j] = _mm512_setzero_ps();                    \
    float tail[LOCUS_QTILE_M][LOCUS_QTILE_N] = {{0}};                                               \
    int64_t b = 0;                                                                                  \
    for (; b + 2 <= nb; b += 2) {                                                                   \
        __m512i wv[LOCUS_QTILE_N], wa[LOCUS_QTILE_N];                                               \
        __mmask64 wneg[LOCUS_QTILE_N];                                                              \
        __m512 ws[LOCUS_QTILE_N];                                                                   \
        for (int j = 0; j < LOCUS_QTILE_N; j++) {                                                   \
            const uint8_t *wb = w + (size_t)j * wstride + (size_t)b * WBYTES;                       \
            PREPARE_W(wv[j], wa[j], wneg[j], wb);                                                   \
            ws[j] = two_scales(scale_of(wb), scale_of(wb + WBYTES));                                \
        }                                                                                           \
        for (int i = 0; i < LOCUS_QTILE_M; i++) {                                                   \
            const uint8_t *xb = xq + (size_t)i * xstride + (size_t)b * B;                           \
            __m512i x = two_blocks(xb + 2, xb + B + 2);                                             \
            __m512 xs = two_scales(scale_of(xb), scale_of(xb + B));                                 \
            for (int j = 0; j < LOCUS_QTILE_N; j++) {                                               \
                __m512i p = DOT(x, wv[j], wa[j], wneg[j]);                                          \
                acc[i][j] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(p), _mm512_mul_ps(ws[j], xs), acc[i][j]); \
            }                                                                                       \
        }                                                                                           \
    }                                                                                               \
    if (b < nb) /* an odd last block: the single dot products take it */                            \
        for (int i = 0; i < LOCUS_QTILE_M; i++)                                                     \
            for (int j = 0; j < LOCUS_QTILE_N; j++)                                                 \
                tail[i][j] = SINGLE(xq + (size_t)i * xstride + (size_t)b * B,                       \
                                    w + (size_t)j * wstride + (size_t)b * WBYTES, 1);               \
    for (int i = 0; i < LOCUS_QTILE_M; i++)                                                         \
        for (int j = 0; j < LOCUS_QTILE_N; j++) y[i * ldy + j] = _mm512_reduce_add_ps(acc[i][j]) + tail[i][j];

#define PREPARE_Q8(wv, wa, wneg, wb)                                                               \
    do {                                                                                            \
        wv = two_blocks(wb + 2, wb + LOCUS_Q8_BLOCK_BYTES + 2);                                      \
        wa = _mm512_abs_epi8(wv);                                                                   \
        wneg = _mm512_movepi8_mask(wv);                                                             \
    } while (0)
#define DOT_Q8(x, wv, wa, wneg) _mm512_dpbusd_epi32(_mm512_setzero_si512(), wa, _mm512_mask_sub_epi8(x, wneg, _mm512_setzero_si512(), x))

#define PREPARE_Q4(wv, wa, wneg, wb)                                                               \
    do {                                                                                            \
        wv = _mm512_inserti64x4(_mm512_castsi256_si512(nibbles(wb + 2)), nibbles(wb + LOCUS_Q4_BLOCK_BYTES + 2), 1); \
        wa = wv;                                                                                    \
        wneg = 0;                                                                                   \
    } while (0)
/* sum (q - 8) x: the 8 x part is the same for both weight rows, but recomputing it keeps the
 * macro simple and costs one vpdpbusd */
#define DOT_Q4(x, wv, wa, wneg)                                                                    \
    ((void)(wa), (void)(wneg), _mm512_sub_epi32(_mm512_dpbusd_epi32(_mm512_setzero_si512(), wv, x),                            \
                     _mm512_dpbusd_epi32(_mm512_setzero_si512(), _mm512_set1_epi8(8), x)))

#define SINGLE dot_q8_0
static void tile_q8_0(float *y, int64_t ldy, const uint8_t *xq, size_t xstride, const uint8_t *w, size_t wstride, int64_t nb) {
    TILE_BODY(LOCUS_Q8_BLOCK_BYTES, PREPARE_Q8, DOT_Q8)
}
#undef SINGLE
#define SINGLE dot_q4_0
static void tile_q4_0(float *y, int64_t ldy, const uint8_t *xq, size_t xstride, const uint8_t *w, size_t wstride, int64_t nb) {
    TILE_BODY(LOCUS_Q4_BLOCK_BYTES, PREPARE_Q4, DOT_Q4)
}
#undef SINGLE

const locus_qdot_kernels locus_qdot_avx512 = {quantize_q8, dot_q8_0, dot_q4_0, tile_q8_0, tile_q4_0};
