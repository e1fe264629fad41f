/* qdot_avx512.c — the quantized dot products (qdot.h) with AVX-512 and VNNI (built with
 * -mavx512f -mavx512bw -mavx512vl -mavx512vnni): vpdpbusd multiplies unsigned by signed bytes and
 * adds each four products into an int32 lane; a 512-bit register holds two blocks, whose sums
 * land in lanes 0-7 and 8-15 and are scaled by the block's two scales in f32. */
#include "qdot.h"

#include "../core/internal.h"

#include <immintrin.h>

static inline float scale_of(const uint8_t *block) { return _cvtsh_ss((unsigned short)locus_read_le(block, 2)); }

static inline __m512i two_blocks(const uint8_t *a, const uint8_t *b) {
    return _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)a)),
                              _mm256_loadu_si256((const __m256i *)b), 1);
}

/* the f16 scales of four weight blocks `stride` bytes apart, as floats */
static inline __m128 four_scales(const uint8_t *p, int stride) {
    __m128i h = _mm_setr_epi16((short)locus_read_le(p, 2), (short)locus_read_le(p + stride, 2),
                               (short)locus_read_le(p + 2 * stride, 2), (short)locus_read_le(p + 3 * stride, 2), 0, 0, 0, 0);
    return _mm_cvtph_ps(h);
}

/* four block scales s as two vectors: lanes 0-7 s0 and 8-15 s1; lanes 0-7 s2 and 8-15 s3 */
static inline void spread(__m128 s, __m512 *a, __m512 *b) {
    const __m512i lo = _mm512_setr_epi32(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1);
    const __m512i hi = _mm512_setr_epi32(2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3);
    __m512 w = _mm512_castps128_ps512(s);
    *a = _mm512_permutexvar_ps(lo, w);
    *b = _mm512_permutexvar_ps(hi, w);
}

/* two block scales as one vector: lanes 0-7 a, 8-15 b */
static inline __m512 two_scales(float a, float b) {
    /* insertf64x4 (AVX-512F) rather than insertf32x8, which needs AVX512DQ */
    return _mm512_castpd_ps(_mm512_insertf64x4(_mm512_castps_pd(_mm512_castps256_ps512(_mm256_set1_ps(a))),
                                               _mm256_castps_pd(_mm256_set1_ps(b)), 1));
}

static inline float hsum256(__m256 f) {
    __m128 h = _mm_add_ps(_mm256_castps256_ps128(f), _mm256_extractf128_ps(f, 1));
    h = _mm_add_ps(h, _mm_movehl_ps(h, h));
    return _mm_cvtss_f32(_mm_add_ss(h, _mm_movehdup_ps(h)));
}

static void quantize_q8(const float *x, uint8_t *row, int64_t k) {
    int64_t nb = k / LOCUS_QK;
    float *scales = (float *)(void *)(row + (size_t)nb * LOCUS_QK);
    for (int64_t b = 0; b < nb; b++, x += LOCUS_QK) {
        __m512 v0 = _mm512_loadu_ps(x), v1 = _mm512_loadu_ps(x + 16);
        float amax = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_abs_ps(v0), _mm512_abs_ps(v1)));
        float d = amax / 127.0f, id = amax != 0 ? 127.0f / amax : 0.0f;
        scales[b] = _cvtsh_ss(_cvtss_sh(d, 0)); /* rounded to nearest even f16, as the reference */
        __m512 s = _mm512_set1_ps(id);
        /* cvtps rounds to nearest even, as lrintf does in the reference; |q| <= 127 */
        _mm_storeu_si128((__m128i *)(row + b * LOCUS_QK), _mm512_cvtsepi32_epi8(_mm512_cvtps_epi32(_mm512_mul_ps(v0, s))));
        _mm_storeu_si128((__m128i *)(row + b * LOCUS_QK + 16), _mm512_cvtsepi32_epi8(_mm512_cvtps_epi32(_mm512_mul_ps(v1, s))));
    }
}

/* x . w for signed bytes: |w| (unsigned) times x with w's sign */
static inline __m512i dot_signed(__m512i x, __m512i w) {
    __m512i sx = _mm512_mask_sub_epi8(x, _mm512_movepi8_mask(w), _mm512_setzero_si512(), x);
    return _mm512_dpbusd_epi32(_mm512_setzero_si512(), _mm512_abs_epi8(w), sx);
}

/* Two Q4_0 blocks' 32 bytes of nibbles as 64 unsigned values in element order, one block after the
 * other: [low nibbles of a, high of a, low of b, high of b]. */
static inline __m512i two_nibble_blocks(const uint8_t *a, const uint8_t *b) {
    __m256i q = _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_loadu_si128((const __m128i *)a)),
                                        _mm_loadu_si128((const __m128i *)b), 1);                    /* [qa | qb] */
    __m512i z = _mm512_inserti64x4(_mm512_castsi256_si512(q), _mm256_srli_epi16(q, 4), 1);  /* [qa qb qa>>4 qb>>4] */
    z = _mm512_and_si512(z, _mm512_set1_epi8(0x0f));
    return _mm512_shuffle_i64x2(z, z, _MM_SHUFFLE(3, 1, 2, 0)); /* [lo a, hi a, lo b, hi b] */
}

static inline __m256i nibbles(const uint8_t *qs) { /* one block: [low nibbles | high nibbles] */
    const __m128i m4 = _mm_set1_epi8(0x0f);
    __m128i q = _mm_loadu_si128((const __m128i *)qs);
    return _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(q, 4), m4), _mm_and_si128(q, m4));
}

/* sum (q - 8) x over two blocks = sum q x - 8 sum x */
static inline __m512i dot_nibbles(__m512i x, __m512i q) {
    return _mm512_sub_epi32(_mm512_dpbusd_epi32(_mm512_setzero_si512(), q, x),
                            _mm512_dpbusd_epi32(_mm512_setzero_si512(), _mm512_set1_epi8(8), x));
}

/* block b of a row against one weight block, scaled by the weight's scale only */
static float last_q8(const uint8_t *row, const uint8_t *wb, int64_t b) {
    __m256i xv = _mm256_loadu_si256((const __m256i *)(row + b * LOCUS_QK)), wv = _mm256_loadu_si256((const __m256i *)(wb + 2));
    __m256i sx = _mm256_mask_sub_epi8(xv, _mm256_movepi8_mask(wv), _mm256_setzero_si256(), xv);
    return hsum256(_mm256_cvtepi32_ps(_mm256_dpbusd_epi32(_mm256_setzero_si256(), _mm256_abs_epi8(wv), sx))) * scale_of(wb);
}

static float last_q4(const uint8_t *row, const uint8_t *wb, int64_t b) {
    __m256i x = _mm256_loadu_si256((const __m256i *)(row + b * LOCUS_QK));
    __m256i p = _mm256_sub_epi32(_mm256_dpbusd_epi32(_mm256_setzero_si256(), nibbles(wb + 2), x),
                                 _mm256_dpbusd_epi32(_mm256_setzero_si256(), _mm256_set1_epi8(8), x));
    return hsum256(_mm256_cvtepi32_ps(p)) * scale_of(wb);
}

/* One row against one weight row: four blocks per step (two registers of two), the scales of the
 * four spread over their lanes; the last blocks one at a time. */
#define DOT_BODY(WBYTES, LOAD_W, DOT, LAST)                                                        \
    const float *dx = locus_qrow_scales(row, nb);                                                   \
    __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();                                  \
    int64_t b = 0;                                                                                  \
    for (; b + 4 <= nb; b += 4, w += 4 * WBYTES) {                                                  \
        __m512i p0 = DOT(_mm512_loadu_si512(row + b * LOCUS_QK), LOAD_W(w + 2, w + WBYTES + 2));   \
        __m512i p1 = DOT(_mm512_loadu_si512(row + b * LOCUS_QK + 64), LOAD_W(w + 2 * WBYTES + 2, w + 3 * WBYTES + 2)); \
        __m512 s0, s1;                                                                              \
        spread(_mm_mul_ps(four_scales(w, WBYTES), _mm_loadu_ps(dx + b)), &s0, &s1);                  \
        acc0 = _mm512_fmadd_ps(_mm512_cvtepi32_ps(p0), s0, acc0);                                   \
        acc1 = _mm512_fmadd_ps(_mm512_cvtepi32_ps(p1), s1, acc1);                                   \
    }                                                                                               \
    float s = _mm512_reduce_add_ps(_mm512_add_ps(acc0, acc1));                                      \
    for (; b < nb; b++, w += WBYTES) s += LAST(row, w, b) * dx[b];                                  \
    return s;

static float dot_q8_0(const uint8_t *row, const uint8_t *w, int64_t nb) {
    DOT_BODY(LOCUS_Q8_BLOCK_BYTES, two_blocks, dot_signed, last_q8)
}

static float dot_q4_0(const uint8_t *row, const uint8_t *w, int64_t nb) {
    DOT_BODY(LOCUS_Q4_BLOCK_BYTES, two_nibble_blocks, dot_nibbles, last_q4)
}

/* The prompt tile: 4 activation rows x 2 weight rows, two blocks per step. Each block pair of a
 * weight row is loaded (and prepared) once for the four rows. */
#define TILE_BODY(WBYTES, LOAD_W, DOT, SINGLE)                                                     \
    __m512 acc[LOCUS_QTILE_M][LOCUS_QTILE_N];                                                       \
    for (int i = 0; i < LOCUS_QTILE_M; i++)                                                         \
        for (int j = 0; j < LOCUS_QTILE_N; j++) acc[i][j] = _mm512_setzero_ps();                    \
    float tail[LOCUS_QTILE_M][LOCUS_QTILE_N] = {{0}};                                               \
    int64_t b = 0;                                                                                  \
    for (; b + 2 <= nb; b += 2) {                                                                   \
        __m512i wv[LOCUS_QTILE_N];                                                                  \
        __m512 ws[LOCUS_QTILE_N];                                                                   \
        for (int j = 0; j < LOCUS_QTILE_N; j++) {                                                   \
            const uint8_t *wb = w + (size_t)j * wstride + (size_t)b * WBYTES;                       \
            wv[j] = LOAD_W(wb + 2, wb + WBYTES + 2);                                                \
            ws[j] = two_scales(scale_of(wb), scale_of(wb + WBYTES));                                \
        }                                                                                           \
        for (int i = 0; i < LOCUS_QTILE_M; i++) {                                                   \
            const uint8_t *xr = rows + (size_t)i * xstride;                                         \
            const float *dx = locus_qrow_scales(xr, nb);                                            \
            __m512i x = _mm512_loadu_si512(xr + b * LOCUS_QK);                                      \
            __m512 xs = two_scales(dx[b], dx[b + 1]);                                               \
            for (int j = 0; j < LOCUS_QTILE_N; j++)                                                 \
                acc[i][j] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(DOT(x, wv[j])), _mm512_mul_ps(ws[j], xs), acc[i][j]); \
        }                                                                                           \
    }                                                                                               \
    if (b < nb) /* an odd last block: the single dot product's tail takes it */                     \
        for (int i = 0; i < LOCUS_QTILE_M; i++)                                                     \
            for (int j = 0; j < LOCUS_QTILE_N; j++) {                                               \
                const uint8_t *xr = rows + (size_t)i * xstride, *wb = w + (size_t)j * wstride + (size_t)b * WBYTES; \
                tail[i][j] = SINGLE(xr, wb, b) * locus_qrow_scales(xr, nb)[b];                      \
            }                                                                                       \
    for (int i = 0; i < LOCUS_QTILE_M; i++)                                                         \
        for (int j = 0; j < LOCUS_QTILE_N; j++) y[i * ldy + j] = _mm512_reduce_add_ps(acc[i][j]) + tail[i][j];

static void tile_q8_0(float *y, int64_t ldy, const uint8_t *rows, size_t xstride, const uint8_t *w, size_t wstride, int64_t nb) {
    TILE_BODY(LOCUS_Q8_BLOCK_BYTES, two_blocks, dot_signed, last_q8)
}

static void tile_q4_0(float *y, int64_t ldy, const uint8_t *rows, size_t xstride, const uint8_t *w, size_t wstride, int64_t nb) {
    TILE_BODY(LOCUS_Q4_BLOCK_BYTES, two_nibble_blocks, dot_nibbles, last_q4)
}

const locus_qdot_kernels locus_qdot_avx512 = {quantize_q8, dot_q8_0, dot_q4_0, tile_q8_0, tile_q4_0};
