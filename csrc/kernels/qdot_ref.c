/* qdot_ref.c — the reference of the quantized products (qdot.h): plain C, one row and one block
 * at a time; and the packing every path shares. */
#include "qdot.h"

#include "../core/internal.h"

#include <math.h>

static void quantize_q8(const float *x, uint8_t *row, int64_t k) {
    int64_t nb = k / LOCUS_QK;
    float *scales = (float *)(void *)(row + (size_t)nb * LOCUS_QK);
    int32_t *sums = (int32_t *)(void *)(row + (size_t)nb * (LOCUS_QK + 4));
    for (int64_t b = 0; b < nb; b++, x += LOCUS_QK) {
        float amax = 0;
        for (int j = 0; j < LOCUS_QK; j++) amax = fmaxf(amax, fabsf(x[j]));
        float d = amax / 127.0f, id = amax != 0 ? 127.0f / amax : 0.0f;
        scales[b] = locus_half_to_float(locus_float_to_half(d));
        int32_t sum = 0;
        for (int j = 0; j < LOCUS_QK; j++) {
            int q = (int)lrintf(x[j] * id);
            row[b * LOCUS_QK + j] = (uint8_t)(int8_t)q;
            sum += q;
        }
        sums[b] = sum;
    }
}

void locus_qpack_group(uint8_t *dst, const uint8_t *src, size_t stride, int rows, int64_t nb, int q4) {
    size_t in_block = q4 ? LOCUS_Q4_BLOCK_BYTES : LOCUS_Q8_BLOCK_BYTES, chunks = q4 ? 4 : 8;
    uint32_t flip = q4 ? 0 : 0x80808080u; /* Q8_0's signed bytes as w + 128 */
    for (int64_t b = 0; b < nb; b++, dst += locus_qpack_block_bytes(q4)) {
        if (rows < LOCUS_QPACK_ROWS) memset(dst, 0, locus_qpack_block_bytes(q4));
        for (int r = 0; r < rows; r++) {
            const uint8_t *blk = src + (size_t)r * stride + (size_t)b * in_block;
            memcpy(dst + 2 * r, blk, 2); /* the f16 scale, little-endian as stored */
            for (size_t c = 0; c < chunks; c++) {
                uint32_t four;
                memcpy(&four, blk + 2 + 4 * c, 4);
                four ^= flip;
                memcpy(dst + 32 + 64 * c + 4 * r, &four, 4);
            }
        }
    }
}

/* The integer dot of activation block xb and row r's block in packed block p: sum u x - offset sum x. */
static int32_t block_dot(const uint8_t *p, int r, const int8_t *xb, int32_t xsum, int q4) {
    int32_t s = 0;
    if (q4)
        for (int c = 0; c < 4; c++)
            for (int e = 0; e < 4; e++) {
                uint8_t u = p[32 + 64 * c + 4 * r + e];
                s += (u & 0x0f) * xb[4 * c + e] + (u >> 4) * xb[16 + 4 * c + e];
            }
    else
        for (int c = 0; c < 8; c++)
            for (int e = 0; e < 4; e++) s += p[32 + 64 * c + 4 * r + e] * xb[4 * c + e];
    return s - (q4 ? 8 : 128) * xsum;
}

static void gemm(float *y, int64_t ldy, const uint8_t *x, size_t xstride, int m, const uint8_t *group, int64_t nb, int q4) {
    for (int i = 0; i < m; i++) {
        const uint8_t *row = x + (size_t)i * xstride;
        const float *dx = locus_qrow_scales(row, nb);
        const int32_t *sx = locus_qrow_sums(row, nb);
        for (int r = 0; r < LOCUS_QPACK_ROWS; r++) {
            float s = 0;
            const uint8_t *p = group;
            for (int64_t b = 0; b < nb; b++, p += locus_qpack_block_bytes(q4)) {
                float dw = locus_half_to_float((uint16_t)locus_read_le(p + 2 * r, 2));
                s += (float)block_dot(p, r, (const int8_t *)row + b * LOCUS_QK, sx[b], q4) * (dw * dx[b]);
            }
            y[i * ldy + r] = s;
        }
    }
}

static void gemm_q8_0(float *y, int64_t ldy, const uint8_t *x, size_t xstride, int m, const uint8_t *group, int64_t nb) {
    gemm(y, ldy, x, xstride, m, group, nb, 0);
}

static void gemm_q4_0(float *y, int64_t ldy, const uint8_t *x, size_t xstride, int m, const uint8_t *group, int64_t nb) {
    gemm(y, ldy, x, xstride, m, group, nb, 1);
}

const locus_qdot_kernels locus_qdot_ref = {quantize_q8, gemm_q8_0, gemm_q4_0};

const locus_qdot_kernels *locus_qdot_active(void) {
    switch (locus_active_path()) {
    case LOCUS_PATH_AVX512: return locus_cpu_has_vnni() ? &locus_qdot_avx512 : &locus_qdot_avx2;
    case LOCUS_PATH_AVX2: return &locus_qdot_avx2;
    default: return &locus_qdot_ref;
    }
}
