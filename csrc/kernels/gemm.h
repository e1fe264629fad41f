/* gemm.h — GEMM entries for the ops (row-major).
 * locus_sgemm: C = A' B' in f32 (A' = A or A^T, B' likewise); locus_sgemm_acc: C += A' B' (a
 * gradient accumulated in place, without a product-sized temporary); oneDNN's JIT sgemm by default
 * (several times OpenBLAS's speed on AVX-512 machines, see doc/benchmarks.md), OpenBLAS when
 * LOCUS_BLAS=openblas or if oneDNN reports an error.
 * locus_gemm_bf16: C [m, n] (f32) = A [m, k] B [n, k]^T with A and B in bf16, products summed in
 * f32 — oneDNN's matmul, on the CPU's bf16 instructions where it has them (AVX512_BF16, AMX);
 * -1 if oneDNN cannot, and the caller computes another way. */
#ifndef LOCUS_GEMM_H
#define LOCUS_GEMM_H

#include <stdbool.h>
#include <stdint.h>

void locus_sgemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, const float *a, int64_t lda,
                const float *b, int64_t ldb, float *c, int64_t ldc);
void locus_sgemm_acc(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, const float *a, int64_t lda,
                     const float *b, int64_t ldb, float *c, int64_t ldc);
int locus_gemm_bf16(int64_t m, int64_t n, int64_t k, const uint16_t *a, int64_t lda, const uint16_t *b, int64_t ldb, float *c,
                    int64_t ldc);

#endif
