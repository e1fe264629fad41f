/* vec.h — the inner loops of linear layers, one table per instruction set.
 * vec_ref.c is the plain C reference; vec_avx2.c and vec_avx512.c are compiled with their own
 * -m flags and only ever called after cpu.c has checked the CPU supports them. */
#ifndef LOCUS_VEC_H
#define LOCUS_VEC_H

#include <stdint.h>

typedef struct locus_vec_kernels {
    float (*dot_f32)(const float *x, const float *w, int64_t k);
    float (*dot_bf16)(const float *x, const uint16_t *w, int64_t k); /* w widened on the fly */
    float (*dot_f16)(const float *x, const uint16_t *w, int64_t k);
    void (*bf16_to_f32)(float *dst, const uint16_t *src, int64_t k);
    void (*f16_to_f32)(float *dst, const uint16_t *src, int64_t k);
    /* A register-blocked tile of small-M products: for i < mr and j < nr,
     * y[i * ldy + j] = x[i * ldx + 0..k) . w[j * ldw + 0..k), w of dtype wtype (LOCUS_F32, LOCUS_BF16
     * or LOCUS_F16). Each loaded weight vector feeds mr FMAs, which makes 2..16-row products
     * compute-bound instead of load-bound. NULL in the reference table. */
    void (*tile)(float *y, int64_t ldy, const float *x, int64_t ldx, const void *w, int64_t ldw, int wtype,
                 int64_t k);
    int mr, nr;
    /* Attention's softmax and weighted sum: the largest of x[0..n) (-inf for n = 0);
     * x[i] = exp((x[i] - shift) * scale) for i < n, returning their sum (scale > 0, x[i] <= shift,
     * so every term is in [0, 1]; the vector paths use a polynomial within 2 ulp of expf);
     * y[0..n) += a * x[0..n), x f32 or f16. */
    float (*max_f32)(const float *x, int64_t n);
    float (*exp_sum)(float *x, int64_t n, float shift, float scale);
    void (*axpy_f32)(float *y, float a, const float *x, int64_t n);
    void (*axpy_f16)(float *y, float a, const uint16_t *x, int64_t n);
} locus_vec_kernels;

extern const locus_vec_kernels locus_vec_ref, locus_vec_avx2, locus_vec_avx512;

const locus_vec_kernels *locus_vec_active(void); /* by locus_active_path() */

/* x . w for bf16 x and w (vec_bf16.c): only on CPUs with AVX512_BF16 (locus_cpu_has_bf16). */
float locus_dot_bf16_bf16(const uint16_t *x, const uint16_t *w, int64_t k);

#endif
