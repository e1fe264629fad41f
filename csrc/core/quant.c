/* quant.c — GGUF's Q8_0 and Q4_0 blocks, converted as ggml's reference code does
 * (quantize_row_q8_0_ref, quantize_row_q4_0_ref and their dequantizers), so that what locus
 * quantizes llama.cpp reads back to the same numbers. A block is 32 elements. The K-quants'
 * super-blocks of 256 are in kquant.c; the two functions at the end dispatch all five types. */
#include "internal.h"

#include <math.h>

enum { QK = 32 };

static void dequant_q8_0(const uint8_t *src, float *dst, int64_t n) {
    for (int64_t b = 0; b < n / QK; b++, src += 34) {
        float d = locus_half_to_float((uint16_t)locus_read_le(src, 2));
        for (int j = 0; j < QK; j++) dst[b * QK + j] = d * (float)(int8_t)src[2 + j];
    }
}

static void dequant_q4_0(const uint8_t *src, float *dst, int64_t n) {
    for (int64_t b = 0; b < n / QK; b++, src += 18) {
        float d = locus_half_to_float((uint16_t)locus_read_le(src, 2));
        for (int j = 0; j < QK / 2; j++) { /* low nibbles are elements 0..15, high ones 16..31 */
            dst[b * QK + j] = d * (float)((src[2 + j] & 0x0f) - 8);
            dst[b * QK + j + QK / 2] = d * (float)((src[2 + j] >> 4) - 8);
        }
    }
}

static void quant_q8_0(const float *src, uint8_t *dst, int64_t n) {
    for (int64_t b = 0; b < n / QK; b++, dst += 34) {
        const float *x = src + b * QK;
        float amax = 0;
        for (int j = 0; j < QK; j++) amax = fmaxf(amax, fabsf(x[j]));
        float d = amax / 127.0f, id = d != 0 ? 1.0f / d : 0.0f;
        uint16_t h = locus_float_to_half(d);
        dst[0] = (uint8_t)h;
        dst[1] = (uint8_t)(h >> 8);
        for (int j = 0; j < QK; j++) dst[2 + j] = (uint8_t)(int8_t)roundf(x[j] * id);
    }
}

static void quant_q4_0(const float *src, uint8_t *dst, int64_t n) {
    for (int64_t b = 0; b < n / QK; b++, dst += 18) {
        const float *x = src + b * QK;
        float amax = 0, max = 0; /* max keeps the sign of the largest magnitude */
        for (int j = 0; j < QK; j++)
            if (amax < fabsf(x[j])) {
                amax = fabsf(x[j]);
                max = x[j];
            }
        float d = max / -8.0f, id = d != 0 ? 1.0f / d : 0.0f;
        uint16_t h = locus_float_to_half(d);
        dst[0] = (uint8_t)h;
        dst[1] = (uint8_t)(h >> 8);
        for (int j = 0; j < QK / 2; j++) {
            int lo = (int)(int8_t)(x[j] * id + 8.5f), hi = (int)(int8_t)(x[j + QK / 2] * id + 8.5f);
            lo = lo < 15 ? lo : 15;
            hi = hi < 15 ? hi : 15;
            dst[2 + j] = (uint8_t)(lo | hi << 4);
        }
    }
}

void locus_dequantize_row(int dt, const void *src, float *dst, int64_t n) {
    if (dt == LOCUS_Q8_0) dequant_q8_0(src, dst, n);
    else if (dt == LOCUS_Q4_0) dequant_q4_0(src, dst, n);
    else locus_dequantize_kquant(dt, src, dst, n);
}

void locus_quantize_row(int dt, const float *src, void *dst, int64_t n) {
    if (dt == LOCUS_Q8_0) quant_q8_0(src, dst, n);
    else if (dt == LOCUS_Q4_0) quant_q4_0(src, dst, n);
    else locus_quantize_kquant(dt, src, dst, n);
}
