/* vec_bf16.c — dot products of bf16 activations and bf16 weights with AVX512_BF16 (built with
 * -mavx512f -mavx512bf16; called only after cpu.c has found the instructions): vdpbf16ps multiplies
 * 32 pairs of bf16 and adds each two products into an f32 lane, reading each weight byte once with
 * no widening — what decoding a bf16 model in LOCUS_FAST_BF16 precision is bound by. */
#include "vec.h"

#include <immintrin.h>

float locus_dot_bf16_bf16(const uint16_t *x, const uint16_t *w, int64_t k) {
    __m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps(), a2 = _mm512_setzero_ps(), a3 = _mm512_setzero_ps();
    int64_t i = 0;
    for (; i + 128 <= k; i += 128) { /* four accumulators cover the instruction's latency */
        a0 = _mm512_dpbf16_ps(a0, (__m512bh)_mm512_loadu_si512(x + i), (__m512bh)_mm512_loadu_si512(w + i));
        a1 = _mm512_dpbf16_ps(a1, (__m512bh)_mm512_loadu_si512(x + i + 32), (__m512bh)_mm512_loadu_si512(w + i + 32));
        a2 = _mm512_dpbf16_ps(a2, (__m512bh)_mm512_loadu_si512(x + i + 64), (__m512bh)_mm512_loadu_si512(w + i + 64));
        a3 = _mm512_dpbf16_ps(a3, (__m512bh)_mm512_loadu_si512(x + i + 96), (__m512bh)_mm512_loadu_si512(w + i + 96));
    }
    for (; i < k; i += 32) { /* the rest, 32 at a time, the last piece masked (zeros add nothing) */
        __mmask32 m = k - i >= 32 ? 0xffffffffu : (__mmask32)((1u << (k - i)) - 1);
        a0 = _mm512_dpbf16_ps(a0, (__m512bh)_mm512_maskz_loadu_epi16(m, x + i), (__m512bh)_mm512_maskz_loadu_epi16(m, w + i));
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3)));
}
