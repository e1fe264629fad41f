/* qdot.h — integer products of activations and GGUF's quantized weights (Q8_0, Q4_0), one table
 * per instruction set.
 *
 * As llama.cpp does on x86, each activation row is quantized once per matrix to blocks of 32 int8
 * with a scale (Q8_0's numbers); each weight block is multiplied with its activation block in
 * integers, and the block's integer sum is scaled by the two scales in f32.
 *
 * Unlike GGUF's row-by-row layout, the kernels read weights *packed*: sixteen rows interleaved, so
 * that one 64-byte load holds four consecutive weights of each of the sixteen rows and one
 * `vpdpbusd` multiplies them by four broadcast activations — sixteen dot products advance at once,
 * and the sixteen scales of a block are one load. A packed block of 16 rows is the same size as
 * its 16 GGUF blocks. Decode (one activation row) and prompts (tiles of up to LOCUS_QTILE_M rows)
 * run the same kernels.
 *
 * Why by hand: the block layouts are GGUF's, which no BLAS or oneDNN primitive reads; decode is
 * bound by the bytes of the weights, and these loops read each weight byte once.
 *
 * Every path computes, for each (activation row, weight row), exactly what the plain C reference
 * (qdot_ref.c) computes, in the same order — for Q8_0, s += (float)isum_b * (dw_b * dx_b) over the
 * blocks b — with the integer sums exact, and no fused multiply-add (these files are built with
 * -ffp-contract=off). So results are equal bit for bit on every CPU, which the tests check. */
#ifndef LOCUS_QDOT_H
#define LOCUS_QDOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum {
    LOCUS_QK = 32,                /* elements per block */
    LOCUS_Q8_BLOCK_BYTES = 34,    /* GGUF Q8_0: f16 d, 32 int8 */
    LOCUS_Q4_BLOCK_BYTES = 18,    /* GGUF Q4_0: f16 d, 16 bytes of nibbles (x = d (q - 8)) */
    LOCUS_QK_K = 256,             /* elements per K-quant super-block */
    LOCUS_Q4_K_BYTES = 144,       /* GGUF Q4_K: f16 d, f16 dmin, 12 bytes of 6-bit scales and mins, 128 of nibbles */
    LOCUS_Q5_K_BYTES = 176,       /* GGUF Q5_K: f16 d, f16 dmin, 12 bytes of scales and mins, 32 of high bits, 128 of nibbles */
    LOCUS_Q6_K_BYTES = 210,       /* GGUF Q6_K: 128 bytes of low 4 bits, 64 of high 2 bits, 16 int8 scales, f16 d */
    LOCUS_QPACK_ROWS = 16,        /* weight rows interleaved in a packed group */
    LOCUS_QTILE_M = 4             /* activation rows one kernel call takes at most */
};

/* The weight types the kernels multiply, as packed (below). */
enum { LOCUS_QKIND_Q8_0, LOCUS_QKIND_Q4_0, LOCUS_QKIND_Q4_K, LOCUS_QKIND_Q5_K, LOCUS_QKIND_Q6_K, LOCUS_QKINDS };

/* ---- quantized activation rows ----------------------------------------------------------------
 * A row of nb blocks (k = 32 nb elements): the k int8 values, then nb float scales (each rounded
 * to f16 first, as ggml keeps them), then 2 nb int32 sums, of each half block's 16 values (the
 * kernels take weights as unsigned bytes with an offset, and subtract offset * sum). Rows start
 * 64-byte aligned, locus_qrow_bytes apart. */
static inline size_t locus_qrow_bytes(int64_t nb) { return ((size_t)nb * (LOCUS_QK + 12) + 63) / 64 * 64; }
static inline const float *locus_qrow_scales(const uint8_t *row, int64_t nb) {
    return (const float *)(const void *)(row + (size_t)nb * LOCUS_QK);
}
static inline const int32_t *locus_qrow_sums(const uint8_t *row, int64_t nb) {
    return (const int32_t *)(const void *)(row + (size_t)nb * (LOCUS_QK + 4));
}

/* ---- packed weights ---------------------------------------------------------------------------
 * A group is 16 weight rows (a matrix's last group is padded with zero rows), stored block of 32
 * after block. A packed block is 32 bytes of scales, then the quants in 64-byte chunks, chunk c
 * holding four bytes per row (row r's at 4 r); weight j of a row is u_j - offset:
 *   Q8_0: 16 f16 d, 8 chunks; chunk c = weights 4c .. 4c+3 as unsigned bytes w + 128 (offset 128).
 *   Q4_0: 16 f16 d, 4 chunks; chunk c = GGUF's bytes 4c .. 4c+3 of each row: low nibbles are
 *         weights 4c .. 4c+3, high nibbles weights 16+4c .. 16+4c+3 (offset 8).
 *   Q4_K: 16 6-bit scales sc, 16 6-bit mins mn (a byte each), 4 chunks of nibbles as Q4_0's; a
 *         weight is d sc u - dmin mn.
 *   Q5_K: as Q4_K, but 8 chunks as Q8_0's of the 5-bit values u.
 *   Q6_K: 16 int8 scales of weights 0..15, 16 of weights 16..31, 8 chunks as Q8_0's of the 6-bit
 *         values u; a weight is d sc (u - 32).
 * The K-quants' blocks come eight at a time, after a header of their super-block's f16 d (and
 * dmin) for the 16 rows. Q8_0, Q4_0 and Q4_K groups are about the size of their GGUF rows (Q4_K:
 * 296 bytes per 16 x 32 weights against 288); Q6_K's are 1.3 times theirs and Q5_K's 1.6 times (a
 * byte per value). */
size_t locus_qpack_group_bytes(int kind, int64_t nb);
static inline bool locus_qkind_is_k(int kind) { return kind >= LOCUS_QKIND_Q4_K; }
static inline bool locus_qkind_has_mins(int kind) { return kind == LOCUS_QKIND_Q4_K || kind == LOCUS_QKIND_Q5_K; }
static inline size_t locus_qpack_block_bytes(int kind) { /* without the super-block header */
    return 32 + (kind == LOCUS_QKIND_Q4_0 || kind == LOCUS_QKIND_Q4_K ? 256 : 512);
}
static inline size_t locus_qpack_header_bytes(int kind) { /* per super-block of 8 blocks */
    return locus_qkind_has_mins(kind) ? 64 : kind == LOCUS_QKIND_Q6_K ? 32 : 0;
}

/* Packs rows [0, rows) (rows <= 16; the rest of the group zero) of GGUF rows of nb blocks of 32
 * (a whole number of super-blocks for the K-quants), `stride` bytes apart, into one group at dst
 * (locus_qpack_group_bytes(kind, nb) bytes). */
void locus_qpack_group(uint8_t *dst, const uint8_t *src, size_t stride, int rows, int64_t nb, int kind);

/* y[i * ldy + j] for activation rows i < m (1 <= m <= LOCUS_QTILE_M, xstride bytes apart) and the
 * group's rows j < 16: the dot products, as the reference computes them. */
typedef void (*locus_qgemm_fn)(float *y, int64_t ldy, const uint8_t *x, size_t xstride, int m, const uint8_t *group, int64_t nb);

typedef struct locus_qdot_kernels {
    /* x[k] (k a multiple of 32) as a quantized activation row: per block d = amax / 127 (kept
     * as f16), q = x * (127 / amax) rounded to nearest even (as ggml's AVX2 and AVX-512
     * quantizers round), and the sums of q over each half block */
    void (*quantize_q8)(const float *x, uint8_t *row, int64_t k);
    locus_qgemm_fn gemm[LOCUS_QKINDS]; /* by kind */
} locus_qdot_kernels;

extern const locus_qdot_kernels locus_qdot_ref, locus_qdot_avx2, locus_qdot_avx512;

/* Defines a path's TABLE from its QUANTIZE and one GEMM(y, ldy, x, xstride, m, group, nb, kind),
 * inlined into a function per kind so that `kind` is a constant there. */
#define LOCUS_QDOT_GEMM_FOR(GEMM, KIND)                                                                               \
    static void GEMM##_##KIND(float *y, int64_t ldy, const uint8_t *x, size_t xstride, int m, const uint8_t *g, int64_t nb) { \
        GEMM(y, ldy, x, xstride, m, g, nb, KIND);                                                                     \
    }
#define LOCUS_QDOT_TABLE(TABLE, QUANTIZE, GEMM)                                                                        \
    LOCUS_QDOT_GEMM_FOR(GEMM, LOCUS_QKIND_Q8_0)                                                                        \
    LOCUS_QDOT_GEMM_FOR(GEMM, LOCUS_QKIND_Q4_0)                                                                        \
    LOCUS_QDOT_GEMM_FOR(GEMM, LOCUS_QKIND_Q4_K)                                                                        \
    LOCUS_QDOT_GEMM_FOR(GEMM, LOCUS_QKIND_Q5_K)                                                                        \
    LOCUS_QDOT_GEMM_FOR(GEMM, LOCUS_QKIND_Q6_K)                                                                        \
    const locus_qdot_kernels TABLE = {QUANTIZE,                                                                        \
                                      {GEMM##_LOCUS_QKIND_Q8_0, GEMM##_LOCUS_QKIND_Q4_0, GEMM##_LOCUS_QKIND_Q4_K,      \
                                       GEMM##_LOCUS_QKIND_Q5_K, GEMM##_LOCUS_QKIND_Q6_K}};

/* The table for locus_active_path(); the AVX-512 one needs AVX512-VNNI, without it AVX2's is used. */
const locus_qdot_kernels *locus_qdot_active(void);

#endif
