/* gemm.h — one f32 GEMM entry for the ops: C = A' B' (row-major; A' = A or A^T, B' likewise).
 * oneDNN's JIT sgemm by default (several times OpenBLAS's speed on AVX-512 machines, see
 * doc/benchmarks.md); OpenBLAS when LOCUS_BLAS=openblas, or if oneDNN reports an error. */
#ifndef LOCUS_GEMM_H
#define LOCUS_GEMM_H

#include <stdbool.h>
#include <stdint.h>

void locus_sgemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, const float *a, int64_t lda,
                const float *b, int64_t ldb, float *c, int64_t ldc);

#endif
