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
        sums[2 * b] = sums[2 * b + 1] = 0;
        for (int j = 0; j < LOCUS_QK; j++) {
            int q = (int)lrintf(x[j] * id);
            row[b * LOCUS_QK + j] = (uint8_t)(int8_t)q;
            sums[2 * b + j / 16] += q;
        }
    }
}

static bool nibbles(int kind) { return kind == LOCUS_QKIND_Q4_0 || kind == LOCUS_QKIND_Q4_K; }

size_t locus_qpack_group_bytes(int kind, int64_t nb) {
    return (size_t)nb * locus_qpack_block_bytes(kind) + (size_t)(nb / 8) * locus_qpack_header_bytes(kind);
}

/* Q4_K's 6-bit scale and min of sub-block j (0..7) from its 12 packed bytes (ggml's get_scale_min_k4) */
static void scale_min_k4(const uint8_t *q, int j, int *sc, int *mn) {
    if (j < 4) {
        *sc = q[j] & 63;
        *mn = q[j + 4] & 63;
    } else {
        *sc = (q[j + 4] & 0xf) | (q[j - 4] >> 6) << 4;
        *mn = (q[j + 4] >> 4) | (q[j] >> 6) << 4;
    }
}

/* Block b (of 32) of a K-quant row: its 32 unsigned values u and its scales as stored — Q4_K, Q5_K:
 * the 6-bit sc and mn (u in 0..15, 0..31); Q6_K: the int8 scales of values 0..15 and 16..31 (u in
 * 0..63). */
static void unpack_kquant(const uint8_t *row, int64_t b, int kind, uint8_t u[32], uint8_t sc[2]) {
    int j = (int)(b % 8); /* the block's place in its super-block */
    if (locus_qkind_has_mins(kind)) {
        bool q5 = kind == LOCUS_QKIND_Q5_K;
        const uint8_t *sb = row + (size_t)(b / 8) * (q5 ? LOCUS_Q5_K_BYTES : LOCUS_Q4_K_BYTES);
        const uint8_t *qs = sb + (q5 ? 48 : 16) + 32 * (j / 2), *qh = sb + 16;
        int s, m;
        scale_min_k4(sb + 4, j, &s, &m);
        for (int l = 0; l < 32; l++) { /* pairs of blocks share 32 bytes of nibbles; Q5_K's fifth bits are bit j of qh */
            u[l] = j % 2 ? qs[l] >> 4 : qs[l] & 15;
            if (q5) u[l] = (uint8_t)(u[l] | ((qh[l] >> j) & 1) << 4);
        }
        sc[0] = (uint8_t)s;
        sc[1] = (uint8_t)m;
        return;
    }
    /* Q6_K: per 128 values, 64 bytes of low 4 bits and 32 of high 2 bits; quarter q of them takes
     * the low (q < 2) or high nibbles of ql[32 (q & 1) ..] and bits 2q of qh */
    const uint8_t *sb = row + (size_t)(b / 8) * LOCUS_Q6_K_BYTES;
    const uint8_t *ql = sb + 64 * (j / 4), *qh = sb + 128 + 32 * (j / 4);
    int q = j % 4;
    for (int l = 0; l < 32; l++) {
        uint8_t lo = ql[l + 32 * (q & 1)];
        u[l] = (uint8_t)((q < 2 ? lo & 15 : lo >> 4) | ((qh[l] >> (2 * q)) & 3) << 4);
    }
    sc[0] = sb[192 + 2 * j];
    sc[1] = sb[192 + 2 * j + 1];
}

/* Row r of a Q8_0/Q4_0 packed block from its GGUF block: the scale as stored, and four bytes at
 * a time (Q4_0's bytes are already in the packed order; Q8_0's flip their sign bit). */
static void pack_legacy(uint8_t *dst, const uint8_t *blk, int r, int kind) {
    uint32_t flip = kind == LOCUS_QKIND_Q8_0 ? 0x80808080u : 0;
    memcpy(dst + 2 * r, blk, 2);
    for (int c = 0; c < (kind == LOCUS_QKIND_Q8_0 ? 8 : 4); c++) {
        uint32_t four;
        memcpy(&four, blk + 2 + 4 * c, 4);
        four ^= flip;
        memcpy(dst + 32 + 64 * c + 4 * r, &four, 4);
    }
}

/* the f16 d (and dmin) of each row's super-blocks, before every eight K-quant blocks */
static void pack_kquant_header(uint8_t *dst, const uint8_t *src, size_t stride, int rows, int64_t sb, int kind) {
    for (int r = 0; r < rows; r++) {
        static const size_t bytes[LOCUS_QKINDS] = {[LOCUS_QKIND_Q4_K] = LOCUS_Q4_K_BYTES, [LOCUS_QKIND_Q5_K] = LOCUS_Q5_K_BYTES,
                                                   [LOCUS_QKIND_Q6_K] = LOCUS_Q6_K_BYTES};
        const uint8_t *h = src + (size_t)r * stride + (size_t)sb * bytes[kind];
        if (locus_qkind_has_mins(kind)) {
            memcpy(dst + 2 * r, h, 2);      /* d */
            memcpy(dst + 32 + 2 * r, h + 2, 2); /* dmin */
        } else {
            memcpy(dst + 2 * r, h + 208, 2);
        }
    }
}

void locus_qpack_group(uint8_t *dst, const uint8_t *src, size_t stride, int rows, int64_t nb, int kind) {
    size_t legacy_bytes = kind == LOCUS_QKIND_Q8_0 ? LOCUS_Q8_BLOCK_BYTES : LOCUS_Q4_BLOCK_BYTES;
    memset(dst, 0, rows < LOCUS_QPACK_ROWS ? locus_qpack_group_bytes(kind, nb) : 0);
    for (int64_t b = 0; b < nb; b++, dst += locus_qpack_block_bytes(kind)) {
        if (locus_qkind_is_k(kind) && b % 8 == 0) {
            pack_kquant_header(dst, src, stride, rows, b / 8, kind);
            dst += locus_qpack_header_bytes(kind);
        }
        for (int r = 0; r < rows; r++) {
            const uint8_t *row = src + (size_t)r * stride;
            if (!locus_qkind_is_k(kind)) {
                pack_legacy(dst, row + (size_t)b * legacy_bytes, r, kind);
                continue;
            }
            uint8_t u[32], sc[2];
            unpack_kquant(row, b, kind, u, sc);
            dst[r] = sc[0];
            dst[16 + r] = sc[1];
            uint8_t *q = dst + 32 + 4 * r;
            for (int c = 0; c < (nibbles(kind) ? 4 : 8); c++)
                for (int e = 0; e < 4; e++)
                    q[64 * c + e] = nibbles(kind) ? (uint8_t)(u[4 * c + e] | u[16 + 4 * c + e] << 4) : u[4 * c + e];
        }
    }
}

/* sum u x over values 0..15 (lo) and 16..31 (hi) of row r in packed block p */
static void block_sums(const uint8_t *p, int r, const int8_t *xb, int kind, int32_t *lo, int32_t *hi) {
    const uint8_t *q = p + 32 + 4 * r;
    *lo = *hi = 0;
    for (int c = 0; c < 4; c++)
        for (int e = 0; e < 4; e++) {
            if (nibbles(kind)) {
                *lo += (q[64 * c + e] & 15) * xb[4 * c + e];
                *hi += (q[64 * c + e] >> 4) * xb[16 + 4 * c + e];
            } else {
                *lo += q[64 * c + e] * xb[4 * c + e];
                *hi += q[64 * (c + 4) + e] * xb[16 + 4 * c + e];
            }
        }
}

static float half_at(const uint8_t *p) { return locus_half_to_float((uint16_t)locus_read_le(p, 2)); }

static void gemm(float *y, int64_t ldy, const uint8_t *x, size_t xstride, int m, const uint8_t *group, int64_t nb, int kind) {
    for (int i = 0; i < m; i++) {
        const uint8_t *row = x + (size_t)i * xstride;
        const float *dx = locus_qrow_scales(row, nb);
        const int32_t *sx = locus_qrow_sums(row, nb);
        for (int r = 0; r < LOCUS_QPACK_ROWS; r++) {
            float s = 0;
            const uint8_t *p = group, *head = NULL;
            for (int64_t b = 0; b < nb; b++, p += locus_qpack_block_bytes(kind)) {
                if (locus_qkind_is_k(kind) && b % 8 == 0) {
                    head = p;
                    p += locus_qpack_header_bytes(kind);
                }
                int32_t lo, hi, sl = sx[2 * b], sh = sx[2 * b + 1];
                block_sums(p, r, (const int8_t *)row + b * LOCUS_QK, kind, &lo, &hi);
                switch (kind) {
                case LOCUS_QKIND_Q8_0:
                case LOCUS_QKIND_Q4_0: {
                    int32_t offset = kind == LOCUS_QKIND_Q8_0 ? 128 : 8;
                    s = fmaf((float)(lo + hi - offset * (sl + sh)), half_at(p + 2 * r) * dx[b], s);
                    break;
                }
                case LOCUS_QKIND_Q4_K:
                case LOCUS_QKIND_Q5_K: {
                    float sc = half_at(head + 2 * r) * (float)p[r], mn = half_at(head + 32 + 2 * r) * (float)p[16 + r];
                    s = fmaf(sc * (float)(lo + hi) - mn * (float)(sl + sh), dx[b], s);
                    break;
                }
                default: {
                    float d = half_at(head + 2 * r), s0 = d * (float)(int8_t)p[r], s1 = d * (float)(int8_t)p[16 + r];
                    s = fmaf(s0 * (float)(lo - 32 * sl) + s1 * (float)(hi - 32 * sh), dx[b], s);
                    break;
                }
                }
            }
            y[i * ldy + r] = s;
        }
    }
}

LOCUS_QDOT_TABLE(locus_qdot_ref, quantize_q8, gemm)

const locus_qdot_kernels *locus_qdot_active(void) {
    switch (locus_active_path()) {
    case LOCUS_PATH_AVX512: return locus_cpu_has_vnni() ? &locus_qdot_avx512 : &locus_qdot_avx2;
    case LOCUS_PATH_AVX2: return &locus_qdot_avx2;
    default: return &locus_qdot_ref;
    }
}
