/* qdot_ref.c — the reference of the quantized dot products (qdot.h): plain C, one block at a time. */
#include "qdot.h"

#include "../core/internal.h"

#include <math.h>

static float scale_of(const uint8_t *block) { return locus_half_to_float((uint16_t)locus_read_le(block, 2)); }

static void quantize_q8(const float *x, uint8_t *row, int64_t k) {
    int64_t nb = k / LOCUS_QK;
    float *scales = (float *)(void *)(row + (size_t)nb * LOCUS_QK);
    for (int64_t b = 0; b < nb; b++, x += LOCUS_QK) {
        float amax = 0;
        for (int j = 0; j < LOCUS_QK; j++) amax = fmaxf(amax, fabsf(x[j]));
        float d = amax / 127.0f, id = amax != 0 ? 127.0f / amax : 0.0f;
        scales[b] = locus_half_to_float(locus_float_to_half(d));
        for (int j = 0; j < LOCUS_QK; j++) row[b * LOCUS_QK + j] = (uint8_t)(int8_t)lrintf(x[j] * id);
    }
}

static float dot_q8_0(const uint8_t *row, const uint8_t *w, int64_t nb) {
    const int8_t *x = (const int8_t *)row;
    const float *dx = locus_qrow_scales(row, nb);
    float s = 0;
    for (int64_t b = 0; b < nb; b++, x += LOCUS_QK, w += LOCUS_Q8_BLOCK_BYTES) {
        int32_t sum = 0;
        for (int j = 0; j < LOCUS_QK; j++) sum += x[j] * (int8_t)w[2 + j];
        s += (float)sum * (scale_of(w) * dx[b]);
    }
    return s;
}

static float dot_q4_0(const uint8_t *row, const uint8_t *w, int64_t nb) {
    const int8_t *x = (const int8_t *)row;
    const float *dx = locus_qrow_scales(row, nb);
    float s = 0;
    for (int64_t b = 0; b < nb; b++, x += LOCUS_QK, w += LOCUS_Q4_BLOCK_BYTES) {
        int32_t sum = 0;
        for (int j = 0; j < LOCUS_QK / 2; j++) { /* low nibbles are elements 0..15, high ones 16..31 */
            sum += ((w[2 + j] & 0x0f) - 8) * x[j];
            sum += ((w[2 + j] >> 4) - 8) * x[j + LOCUS_QK / 2];
        }
        s += (float)sum * (scale_of(w) * dx[b]);
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
