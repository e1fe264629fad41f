/* vec.h — the inner loops of linear layers, one table per instruction set.
 * vec_ref.c is the plain C reference; vec_avx2.c and vec_avx512.c are compiled with their own
 * -m flags and only ever called after cpu.c has checked the CPU supports them. */
#ifndef LEGO_VEC_H
#define LEGO_VEC_H

#include <stdint.h>

typedef struct lego_vec_kernels {
    float (*dot_f32)(const float *x, const float *w, int64_t k);
    float (*dot_bf16)(const float *x, const uint16_t *w, int64_t k); /* w widened on the fly */
    float (*dot_f16)(const float *x, const uint16_t *w, int64_t k);
    void (*bf16_to_f32)(float *dst, const uint16_t *src, int64_t k);
    void (*f16_to_f32)(float *dst, const uint16_t *src, int64_t k);
} lego_vec_kernels;

extern const lego_vec_kernels lego_vec_ref, lego_vec_avx2, lego_vec_avx512;

const lego_vec_kernels *lego_vec_active(void); /* by lego_active_path() */

#endif
