/* qdot.h — integer dot products of activations and GGUF's quantized weights, one table per
 * instruction set, as llama.cpp computes them on x86: the activation row is quantized once per
 * matrix to blocks of 32 int8 with an f16 scale (Q8_0's numbers), every weight block is multiplied with
 * its activation block in integers, and the block's sum is scaled by the two scales in f32.
 *
 * Why by hand: the block layouts are GGUF's, which no BLAS or oneDNN primitive reads; decode is
 * bound by the bytes of the weights, and these loops read each weight byte once.
 *
 * qdot_ref.c is the plain C reference. The integer part of every path is exact (equal to the
 * reference bit for bit); the sums of the scaled blocks are added in the order the vector width
 * gives, so results differ from the reference by f32 rounding: |a - ref| <= (nb + 16) * u *
 * sum_b |sum_b * d_w * d_x| (u = 2^-24), which the tests check. */
#ifndef LOCUS_QDOT_H
#define LOCUS_QDOT_H

#include <stddef.h>
#include <stdint.h>

enum { LOCUS_QK = 32, LOCUS_Q8_BLOCK_BYTES = 34, LOCUS_Q4_BLOCK_BYTES = 18 };

/* A quantized activation row of nb blocks (k = 32 nb elements), locus's own layout: the k int8
 * values first, then the nb scales as floats (each rounded to f16 first, as ggml keeps them), so
 * that two blocks are one 64-byte load and four scales one 16-byte load. Rows start 64-byte
 * aligned, LOCUS_QROW_BYTES apart. */
static inline size_t locus_qrow_bytes(int64_t nb) { return ((size_t)nb * (LOCUS_QK + 4) + 63) / 64 * 64; }
static inline const float *locus_qrow_scales(const uint8_t *row, int64_t nb) {
    return (const float *)(const void *)(row + (size_t)nb * LOCUS_QK);
}

typedef struct locus_qdot_kernels {
    /* x[k] (k a multiple of 32) as a quantized activation row: per block d = amax / 127 (kept
     * as f16), q = x * (127 / amax) rounded to nearest even (as ggml's AVX2 and AVX-512
     * quantizers round) */
    void (*quantize_q8)(const float *x, uint8_t *row, int64_t k);
    /* sum over nb blocks of dx * dw * sum_j x_j * w_j, for Q8_0 and Q4_0 weight blocks */
    float (*dot_q8_0)(const uint8_t *row, const uint8_t *w, int64_t nb);
    float (*dot_q4_0)(const uint8_t *row, const uint8_t *w, int64_t nb);
    /* A tile for prompts: y[i * ldy + j] = the dot of activation row i (xstride bytes apart) and
     * weight row j (wstride bytes apart) for i < LOCUS_QTILE_M, j < LOCUS_QTILE_N, so each loaded
     * weight block feeds four rows. NULL where a path has none (then single dots are used). */
    void (*tile_q8_0)(float *y, int64_t ldy, const uint8_t *rows, size_t xstride, const uint8_t *w, size_t wstride, int64_t nb);
    void (*tile_q4_0)(float *y, int64_t ldy, const uint8_t *rows, size_t xstride, const uint8_t *w, size_t wstride, int64_t nb);
} locus_qdot_kernels;

enum { LOCUS_QTILE_M = 4, LOCUS_QTILE_N = 2 };

extern const locus_qdot_kernels locus_qdot_ref, locus_qdot_avx2, locus_qdot_avx512;

/* The table for locus_active_path(); the AVX-512 one needs AVX512-VNNI, without it AVX2's is used. */
const locus_qdot_kernels *locus_qdot_active(void);

#endif
