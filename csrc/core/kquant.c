/* kquant.c — GGUF's K-quants Q4_K, Q5_K and Q6_K: super-blocks of 256 elements, converted as
 * ggml's reference code does (dequantize_row_q{4,5,6}_K, quantize_row_q{4,5,6}_K_ref with
 * make_qkx2_quants and make_qx_quants), so that a file locus quantizes holds the bytes llama.cpp's
 * own quantizer writes, and locus reads the numbers llama.cpp reads.
 *
 * Written by hand because the layout is GGUF's alone: no library outside ggml reads or writes these
 * blocks, and ggml is not a dependency. Bit-exactness depends on doing every float operation in
 * ggml's order with single rounding, so this file is compiled with -ffp-contract=off (no fused
 * multiply-adds: ggml's reference code is built without them) and every expression below keeps
 * the grouping of the reference.
 *
 * Block layouts (bytes):
 *   Q4_K (144): d f16, dmin f16, 12 bytes of eight 6-bit scales and mins, 128 bytes of nibbles
 *   Q5_K (176): d f16, dmin f16, the same 12 scale bytes, 32 bytes of fifth bits, 128 of nibbles
 *   Q6_K (210): 128 bytes of low nibbles, 64 bytes of high 2-bit pairs, 16 int8 scales, d f16
 * Q4_K/Q5_K elements are d * scale_j * q - dmin * min_j in eight sub-blocks of 32; Q6_K elements
 * are d * scale_j * (q - 32) in sixteen sub-blocks of 16. */
#include "internal.h"

#include <math.h>

enum { QK_K = 256, Q4K_BYTES = 144, Q5K_BYTES = 176, Q6K_BYTES = 210 };

static float half_at(const uint8_t *p) { return locus_half_to_float((uint16_t)locus_read_le(p, 2)); }

static void put_half(uint8_t *p, float f) {
    uint16_t h = locus_float_to_half(f);
    p[0] = (uint8_t)h;
    p[1] = (uint8_t)(h >> 8);
}

/* ggml's rounding: add 1.5 * 2^23 so the float's last mantissa bits hold the integer (ties to even).
 * Defined for every input (a NaN or a huge value gives some integer, as in ggml), where a cast of an
 * out-of-range float to int would be undefined behaviour. */
static int nearest_int(float f) {
    float v = f + 12582912.f;
    int32_t i;
    memcpy(&i, &v, 4);
    return (i & 0x007fffff) - 0x00400000;
}

static int clamp_int(int v, int lo, int hi) { return v < lo ? lo : v > hi ? hi : v; }

/* The 6-bit scale and min of sub-block j (0..7) from Q4_K/Q5_K's 12 packed bytes: sub-blocks 0-3
 * keep theirs in the low 6 bits of bytes j and j + 4; 4-7 split theirs into a nibble of byte j + 4
 * and the top two bits of bytes j - 4 (scale) and j (min). */
static void scale_min(const uint8_t *s, int j, uint8_t *sc, uint8_t *m) {
    if (j < 4) {
        *sc = s[j] & 63;
        *m = s[j + 4] & 63;
    } else {
        *sc = (uint8_t)((s[j + 4] & 0x0f) | ((s[j - 4] >> 6) << 4));
        *m = (uint8_t)((s[j + 4] >> 4) | ((s[j] >> 6) << 4));
    }
}

/* ---- dequantization --------------------------------------------------------------------------- */

/* Q4_K and Q5_K share everything but the fifth bit (qh == NULL for Q4_K). Each 32 bytes of nibbles
 * hold two sub-blocks: low nibbles the first, high nibbles the second. */
static void dequant_q45_k(const uint8_t *b, const uint8_t *qh, const uint8_t *qs, float *y) {
    float d = half_at(b), dmin = half_at(b + 2);
    for (int c = 0; c < 4; c++, qs += 32) {
        uint8_t sc, m;
        scale_min(b + 4, 2 * c, &sc, &m);
        float d1 = d * sc, m1 = dmin * m;
        scale_min(b + 4, 2 * c + 1, &sc, &m);
        float d2 = d * sc, m2 = dmin * m;
        uint8_t u1 = (uint8_t)(1u << (2 * c)), u2 = (uint8_t)(2u << (2 * c));
        for (int l = 0; l < 32; l++) {
            int hi1 = qh && (qh[l] & u1) ? 16 : 0, hi2 = qh && (qh[l] & u2) ? 16 : 0;
            y[64 * c + l] = d1 * ((qs[l] & 0x0f) + hi1) - m1;
            y[64 * c + 32 + l] = d2 * ((qs[l] >> 4) + hi2) - m2;
        }
    }
}

/* Q6_K: each half of 128 elements takes 64 bytes of nibbles and 32 bytes of 2-bit pairs. Elements
 * l, l + 32, l + 64, l + 96 of a half (l < 32) have the low nibbles of ql[l], ql[l + 32], then their
 * high nibbles, below bits 0-1, 2-3, 4-5, 6-7 of qh[l]; each sub-block of 16 has an int8 scale. */
static void dequant_q6_k(const uint8_t *b, float *y) {
    float d = half_at(b + 208);
    const uint8_t *ql = b, *qh = b + 128;
    const int8_t *sc = (const int8_t *)(b + 192);
    for (int half = 0; half < 2; half++, y += 128, ql += 64, qh += 32, sc += 8) {
        for (int l = 0; l < 32; l++) {
            int is = l / 16;
            int q1 = ((ql[l] & 0x0f) | ((qh[l] & 3) << 4)) - 32;
            int q2 = ((ql[l + 32] & 0x0f) | (((qh[l] >> 2) & 3) << 4)) - 32;
            int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
            int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
            y[l] = d * sc[is] * q1; /* (d * scale) * q, the reference's grouping */
            y[l + 32] = d * sc[is + 2] * q2;
            y[l + 64] = d * sc[is + 4] * q3;
            y[l + 96] = d * sc[is + 6] * q4;
        }
    }
}

void locus_dequantize_kquant(int dt, const void *src, float *dst, int64_t n) {
    const uint8_t *b = src;
    for (int64_t i = 0; i < n / QK_K; i++, dst += QK_K) {
        if (dt == LOCUS_Q4_K) dequant_q45_k(b + i * Q4K_BYTES, NULL, b + i * Q4K_BYTES + 16, dst);
        else if (dt == LOCUS_Q5_K) dequant_q45_k(b + i * Q5K_BYTES, b + i * Q5K_BYTES + 16, b + i * Q5K_BYTES + 48, dst);
        else dequant_q6_k(b + i * Q6K_BYTES, dst);
    }
}

/* ---- quantization ------------------------------------------------------------------------------ */

/* ggml's make_qkx2_quants: levels 0..nmax with a scale and a min (x ~ scale * L - the_min) for n
 * values, minimizing the weighted squared error over nstep + 1 trial scales around nmax / range.
 * The running min moves with each better fit, and later trials start from it, as in the reference. */
static float fit_scale_min(int n, int nmax, const float *x, const float *w, uint8_t *L, float *the_min, float rmin,
                           float rdelta, int nstep) {
    uint8_t Laux[32];
    float min = x[0], max = x[0], sum_w = w[0], sum_x = sum_w * x[0];
    for (int i = 1; i < n; i++) {
        if (x[i] < min) min = x[i];
        if (x[i] > max) max = x[i];
        sum_w += w[i];
        sum_x += w[i] * x[i];
    }
    if (min > 0) min = 0;
    if (max == min) {
        memset(L, 0, (size_t)n);
        *the_min = -min;
        return 0.f;
    }
    float iscale = nmax / (max - min), scale = 1 / iscale, best_error = 0;
    for (int i = 0; i < n; i++) {
        L[i] = (uint8_t)clamp_int(nearest_int(iscale * (x[i] - min)), 0, nmax);
        float diff = scale * L[i] + min - x[i];
        best_error += w[i] * (diff * diff);
    }
    for (int is = 0; is <= nstep; is++) {
        iscale = (rmin + rdelta * is + nmax) / (max - min);
        float sum_l = 0, sum_l2 = 0, sum_xl = 0;
        for (int i = 0; i < n; i++) {
            int l = clamp_int(nearest_int(iscale * (x[i] - min)), 0, nmax);
            Laux[i] = (uint8_t)l;
            sum_l += w[i] * l;
            sum_l2 += w[i] * l * l;
            sum_xl += w[i] * l * x[i];
        }
        float D = sum_w * sum_l2 - sum_l * sum_l;
        if (D > 0) {
            float this_scale = (sum_w * sum_xl - sum_x * sum_l) / D;
            float this_min = (sum_l2 * sum_x - sum_l * sum_xl) / D;
            if (this_min > 0) {
                this_min = 0;
                this_scale = sum_xl / sum_l2;
            }
            float cur_error = 0;
            for (int i = 0; i < n; i++) {
                float diff = this_scale * Laux[i] + this_min - x[i];
                cur_error += w[i] * (diff * diff);
            }
            if (cur_error < best_error) {
                memcpy(L, Laux, (size_t)n);
                best_error = cur_error;
                scale = this_scale;
                min = this_min;
            }
        }
    }
    *the_min = -min;
    return scale;
}

/* ggml's make_qx_quants with rmse_type 1 and no importance weights: symmetric levels -nmax..nmax-1
 * (stored + nmax) for n values, the scale refined over 18 trial scales by weighted least squares
 * (weights x^2). */
static float fit_scale_symmetric(int n, int nmax, const float *x, int8_t *L) {
    float max = 0, amax = 0;
    for (int i = 0; i < n; i++) {
        float ax = fabsf(x[i]);
        if (ax > amax) {
            amax = ax;
            max = x[i];
        }
    }
    if (amax < 1e-15f) { /* ggml's GROUP_MAX_EPS: all zero */
        memset(L, 0, (size_t)n);
        return 0.f;
    }
    float iscale = -nmax / max, sumlx = 0, suml2 = 0;
    for (int i = 0; i < n; i++) {
        int l = clamp_int(nearest_int(iscale * x[i]), -nmax, nmax - 1);
        L[i] = (int8_t)(l + nmax);
        float w = x[i] * x[i];
        sumlx += w * x[i] * l;
        suml2 += w * l * l;
    }
    float scale = suml2 ? sumlx / suml2 : 0.0f, best = scale * sumlx;
    for (int is = -9; is <= 9; is++) {
        if (is == 0) continue;
        iscale = -(nmax + 0.1f * is) / max;
        sumlx = suml2 = 0;
        for (int i = 0; i < n; i++) {
            int l = clamp_int(nearest_int(iscale * x[i]), -nmax, nmax - 1);
            float w = x[i] * x[i];
            sumlx += w * x[i] * l;
            suml2 += w * l * l;
        }
        if (suml2 > 0 && sumlx * sumlx > best * suml2) {
            for (int i = 0; i < n; i++) L[i] = (int8_t)(nmax + clamp_int(nearest_int(iscale * x[i]), -nmax, nmax - 1));
            scale = sumlx / suml2;
            best = scale * sumlx;
        }
    }
    return scale;
}

/* One Q4_K (nmax 15) or Q5_K (nmax 31) super-block: per sub-block a scale and min fitted with
 * fit_scale_min, both quantized to 6 bits against the largest (d = max / 63 in f16), then every
 * element requantized with the stored scales. L gets the levels 0..nmax; b gets d, dmin, scales. */
static void quant_q45_k_levels(const float *x, uint8_t *b, uint8_t *L, int nmax) {
    float scales[8], mins[8], w[32], max_scale = 0, max_min = 0;
    float rmin = nmax == 15 ? -1.f : -0.5f;
    int nstep = nmax == 15 ? 20 : 15;
    for (int j = 0; j < 8; j++) {
        const float *xj = x + 32 * j;
        float sum_x2 = 0;
        for (int l = 0; l < 32; l++) sum_x2 += xj[l] * xj[l];
        float av_x = sqrtf(sum_x2 / 32);
        for (int l = 0; l < 32; l++) w[l] = av_x + fabsf(xj[l]);
        scales[j] = fit_scale_min(32, nmax, xj, w, L + 32 * j, &mins[j], rmin, 0.1f, nstep);
        if (scales[j] > max_scale) max_scale = scales[j];
        if (mins[j] > max_min) max_min = mins[j];
    }
    float inv_scale = max_scale > 0 ? 63.f / max_scale : 0.f, inv_min = max_min > 0 ? 63.f / max_min : 0.f;
    uint8_t *s = b + 4;
    for (int j = 0; j < 8; j++) {
        uint8_t ls = (uint8_t)nearest_int(inv_scale * scales[j]), lm = (uint8_t)nearest_int(inv_min * mins[j]);
        ls = ls < 63 ? ls : 63;
        lm = lm < 63 ? lm : 63;
        if (j < 4) {
            s[j] = ls;
            s[j + 4] = lm;
        } else {
            s[j + 4] = (uint8_t)((ls & 0x0f) | ((lm & 0x0f) << 4));
            s[j - 4] |= (uint8_t)((ls >> 4) << 6);
            s[j] |= (uint8_t)((lm >> 4) << 6);
        }
    }
    put_half(b, max_scale / 63.f);
    put_half(b + 2, max_min / 63.f);
    float d = half_at(b), dmin = half_at(b + 2);
    for (int j = 0; j < 8; j++) {
        uint8_t sc, m;
        scale_min(s, j, &sc, &m);
        float dj = d * sc;
        if (!dj) continue; /* the fitted levels stay, as in the reference */
        float dm = dmin * m;
        for (int i = 0; i < 32; i++) L[32 * j + i] = (uint8_t)clamp_int(nearest_int((x[32 * j + i] + dm) / dj), 0, nmax);
    }
}

static void quant_q4_k(const float *x, uint8_t *b) {
    uint8_t L[QK_K];
    memset(b, 0, Q4K_BYTES);
    quant_q45_k_levels(x, b, L, 15);
    uint8_t *q = b + 16;
    for (int c = 0; c < 4; c++, q += 32)
        for (int l = 0; l < 32; l++) q[l] = (uint8_t)(L[64 * c + l] | (L[64 * c + 32 + l] << 4));
}

static void quant_q5_k(const float *x, uint8_t *b) {
    uint8_t L[QK_K];
    memset(b, 0, Q5K_BYTES);
    quant_q45_k_levels(x, b, L, 31);
    uint8_t *qh = b + 16, *ql = b + 48;
    for (int c = 0; c < 4; c++, ql += 32) {
        uint8_t m1 = (uint8_t)(1u << (2 * c)), m2 = (uint8_t)(2u << (2 * c));
        for (int j = 0; j < 32; j++) {
            int l1 = L[64 * c + j], l2 = L[64 * c + 32 + j];
            if (l1 > 15) {
                l1 -= 16;
                qh[j] |= m1;
            }
            if (l2 > 15) {
                l2 -= 16;
                qh[j] |= m2;
            }
            ql[j] = (uint8_t)(l1 | (l2 << 4));
        }
    }
}

/* Q6_K: sixteen symmetric 6-bit sub-blocks of 16 (fit_scale_symmetric), their scales quantized to
 * int8 against the one of largest magnitude (which maps to -128), then every element requantized. */
static void quant_q6_k(const float *x, uint8_t *b) {
    int8_t L[QK_K];
    float scales[16], max_scale = 0, max_abs = 0;
    memset(b, 0, Q6K_BYTES);
    for (int j = 0; j < 16; j++) {
        scales[j] = fit_scale_symmetric(16, 32, x + 16 * j, L + 16 * j);
        if (fabsf(scales[j]) > max_abs) {
            max_abs = fabsf(scales[j]);
            max_scale = scales[j];
        }
    }
    if (max_abs < 1e-15f) return; /* an all-zero block: every byte 0, d = 0 */
    float iscale = -128.f / max_scale;
    put_half(b + 208, 1 / iscale);
    int8_t *sc = (int8_t *)(b + 192);
    for (int j = 0; j < 16; j++) {
        int v = nearest_int(iscale * scales[j]);
        sc[j] = (int8_t)(v < 127 ? v : 127);
    }
    float d = half_at(b + 208);
    for (int j = 0; j < 16; j++) {
        float dj = d * sc[j];
        if (!dj) continue;
        for (int i = 0; i < 16; i++) L[16 * j + i] = (int8_t)(clamp_int(nearest_int(x[16 * j + i] / dj), -32, 31) + 32);
    }
    uint8_t *ql = b, *qh = b + 128;
    for (int half = 0; half < 2; half++, ql += 64, qh += 32) {
        const int8_t *Lh = L + 128 * half;
        for (int l = 0; l < 32; l++) {
            ql[l] = (uint8_t)((Lh[l] & 0x0f) | ((Lh[l + 64] & 0x0f) << 4));
            ql[l + 32] = (uint8_t)((Lh[l + 32] & 0x0f) | ((Lh[l + 96] & 0x0f) << 4));
            qh[l] = (uint8_t)((Lh[l] >> 4) | ((Lh[l + 32] >> 4) << 2) | ((Lh[l + 64] >> 4) << 4) | ((Lh[l + 96] >> 4) << 6));
        }
    }
}

void locus_quantize_kquant(int dt, const float *src, void *dst, int64_t n) {
    uint8_t *b = dst;
    for (int64_t i = 0; i < n / QK_K; i++, src += QK_K) {
        if (dt == LOCUS_Q4_K) quant_q4_k(src, b + i * Q4K_BYTES);
        else if (dt == LOCUS_Q5_K) quant_q5_k(src, b + i * Q5K_BYTES);
        else quant_q6_k(src, b + i * Q6K_BYTES);
    }
}
