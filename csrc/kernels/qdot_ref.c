/* qdot_ref.c — the reference of the quantized dot products (qdot.h): plain C, one block at a time. */
#include "qdot.h"

#include "../core/internal.h"

#include <math.h>

static float scale_of(const uint8_t *block) { return locus_half_to_float((uint16_t)locus_read_le(block, 2)); }

static void quantize_q8(const float *x, uint8_t *dst, int64_t k) {
    for (int64_t b = 0; b < k / LOCUS_QK; b++, x += LOCUS_QK, dst += LOCUS_Q8_BLOCK_BYTES) {
        float amax = 0;
        for (int j = 0; j < LOCUS_QK; j++) amax = fmaxf(amax, fabsf(x[j]));
        float d = amax / 127.0f, id = amax != 0 ? 127.0f / amax : 0.0f;
        uint16_t h = locus_float_to_half(d);
        dst[0] = (uint8_t)h;
        dst[1] = (uint8_t)(h >> 8);
        for (int j = 0; j < LOCUS_QK; j++) dst[2 + j] = (uint8_t)(int8_t)lrintf(x[j] * id);
    }
}

static float dot_q8_0(const uint8_t *xq, const uint8_t *w, int64_t nb) {
    float s = 0;
    for (int64_t b = 0; b < nb; b++, xq += LOCUS_Q8_BLOCK_BYTES, w += LOCUS_Q8_BLOCK_BYTES) {
        int32_t sum = 0;
        for (int j = 0; j < LOCUS_QK; j++) sum += (int8_t)xq[2 + j] * (int8_t)w[2 + j];
        s += (float)sum * (scale_of(w) * scale_of(xq));
    }
    return s;
}

static float dot_q4_0(const uint8_t *xq, const uint8_t *w, int64_t nb) {
    float s = 0;
    for (int64_t b = 0; b < nb; b++, xq += LOCUS_Q8_BLOCK_BYTES, w += LOCUS_Q4_BLOCK_BYTES) {
        int32_t sum = 0;
        for (int j = 0; j < LOCUS_QK / 2; j++) { /* low nibbles are elements 0..15, high ones 16..31 */
            sum += ((w[2 + j] & 0x0f) - 8) * (int8_t)xq[2 + j];
            sum += ((w[2 + j] >> 4) - 8) * (int8_t)xq[2 + j + LOCUS_QK / 2];
        }
        s += (float)sum * (scale_of(w) * scale_of(xq));
    }
    return s;
}

const locus_qdot_kernels locus_qdot_ref = {quantize_q8, dot_q8_0, dot_q4_0, NULL, NULL};

const locus_qdot_kernels *locus_qdot_active(void) {
    switch (locus_active_path()) {
    case LOCUS_PATH_AVX512: return locus_cpu_has_vnni() ? &locus_qdot_avx512 : &locus_qdot_avx2;
    case LOCUS_PATH_AVX2: return &locus_qdot_avx2;
    default: return &locus_qdot_ref;
    }
}
