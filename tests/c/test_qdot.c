/* The integer kernels for quantized weights (kernels/qdot.h), every path this CPU has against the
 * plain C reference, bit for bit: quantized activations, and the products of packed weight groups.
 * The reference itself against the sum of the exact block products computed in double: equal
 * where every partial sum is representable (dyadic scales, small integers), within
 * (nb + 16) u sum_b |isum_b dx_b dw_b| on random blocks. */
#include "check.h"

#include "core/internal.h"
#include "kernels/qdot.h"

#include <stdlib.h>

static const locus_qdot_kernels *paths[3];
static const char *names[3] = {"ref", "avx2", "avx512"};

static int available(void) {
    int n = 0;
    paths[n++] = &locus_qdot_ref;
    if (locus_set_kernel_path("avx2") == 0) paths[n++] = &locus_qdot_avx2;
    if (locus_set_kernel_path("avx512") == 0 && locus_cpu_has_vnni()) paths[n++] = &locus_qdot_avx512;
    locus_set_kernel_path("auto");
    return n;
}

static uint64_t state = 88172645463325252ull;
static uint32_t next(void) { /* xorshift64: the same numbers on every machine */
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    return (uint32_t)(state >> 32);
}
static float uniform(void) { return (float)next() / 4294967296.0f * 2 - 1; }

static void put_scale(uint8_t *block, float d) {
    uint16_t h = locus_float_to_half(d);
    block[0] = (uint8_t)h;
    block[1] = (uint8_t)(h >> 8);
}

static int n_paths;

static void test_quantize_activations(void) {
    int n = n_paths;
    static const int64_t lengths[] = {32, 64, 96, 160, 4096, 11008};
    for (size_t t = 0; t < sizeof lengths / sizeof *lengths; t++) {
        int64_t k = lengths[t], nb = k / 32;
        size_t bytes = locus_qrow_bytes(nb);
        float *x = malloc((size_t)k * sizeof *x);
        uint8_t *want = calloc(1, bytes), *got = malloc(bytes);
        for (int64_t i = 0; i < k; i++) x[i] = uniform() * (1 + (float)(i % 7)) * (i % 97 == 0 ? 50.0f : 1.0f);
        for (int j = 0; j < 4; j++) x[j] = 0; /* a block that starts with zeros, and an all-zero one */
        if (nb > 2) for (int j = 32; j < 64; j++) x[j] = 0;
        locus_qdot_ref.quantize_q8(x, want, k);
        size_t used = (size_t)nb * 44; /* the values, scales and sums; the padding is not written */
        for (int64_t h = 0; h < 2 * nb; h++) {
            int32_t sum = 0;
            for (int j = 0; j < 16; j++) sum += (int8_t)want[h * 16 + j];
            if (sum != locus_qrow_sums(want, nb)[h]) {
                fprintf(stderr, "  quantize_q8 k=%lld: half block %lld's sum is %d, not %d\n", (long long)k, (long long)h,
                        locus_qrow_sums(want, nb)[h], sum);
                check_failures++;
            }
        }
        for (int p = 1; p < n; p++) {
            memset(got, 0xa5, bytes);
            paths[p]->quantize_q8(x, got, k);
            if (memcmp(got, want, used) != 0) {
                fprintf(stderr, "  quantize_q8 k=%lld: %s differs from ref\n", (long long)k, names[p]);
                check_failures++;
            }
        }
        free(x), free(want), free(got);
    }
}

/* An activation row of nb blocks (qdot.h's layout: values, scales, sums) with values in
 * [-range, range] and the scale dx (0: random). */
static void fill_row(uint8_t *row, int64_t nb, float dx, int range) {
    float *scales = (float *)(void *)(row + nb * 32);
    int32_t *sums = (int32_t *)(void *)(row + nb * 36);
    for (int64_t b = 0; b < nb; b++) {
        float d = dx > 0 ? dx : (0.5f + (uniform() + 1) * 0.25f) * 0.01f;
        scales[b] = locus_half_to_float(locus_float_to_half(d));
        sums[2 * b] = sums[2 * b + 1] = 0;
        for (int j = 0; j < 32; j++) {
            int q = (int)(next() % (2 * range + 1)) - range;
            row[b * 32 + j] = (uint8_t)(int8_t)q;
            sums[2 * b + j / 16] += q;
        }
    }
}

static const char *kind_names[LOCUS_QKINDS] = {"q8_0", "q4_0", "q4_k", "q5_k", "q6_k"};
static const int kind_dtypes[LOCUS_QKINDS] = {LOCUS_Q8_0, LOCUS_Q4_0, LOCUS_Q4_K, LOCUS_Q5_K, LOCUS_Q6_K};
/* bytes of a GGUF block of 32 (Q8_0, Q4_0) or super-block of 256 (K-quants) */
static const size_t kind_block_bytes[LOCUS_QKINDS] = {LOCUS_Q8_BLOCK_BYTES, LOCUS_Q4_BLOCK_BYTES, LOCUS_Q4_K_BYTES,
                                                      LOCUS_Q5_K_BYTES, LOCUS_Q6_K_BYTES};

static int is_kquant(int kind) { return locus_qkind_is_k(kind); }

static size_t row_bytes(int kind, int64_t nb) { return (size_t)(is_kquant(kind) ? nb / 8 : nb) * kind_block_bytes[kind]; }

/* A GGUF row of nb blocks of 32. Q8_0/Q4_0: scale dw (0: random) and Q8_0 values in
 * [-range, range] (Q4_0: any nibbles). K-quants: random bytes under f16 scales of a trained
 * model's size. */
static void fill_weights(uint8_t *w, int64_t nb, int kind, float dw, int range) {
    if (is_kquant(kind)) {
        size_t sb = kind_block_bytes[kind];
        for (int64_t b = 0; b < nb / 8; b++, w += sb) {
            for (size_t j = 0; j < sb; j++) w[j] = (uint8_t)next();
            if (locus_qkind_has_mins(kind)) {
                put_scale(w, (0.5f + (uniform() + 1) * 0.25f) * 0.002f);     /* d */
                put_scale(w + 2, (0.5f + (uniform() + 1) * 0.25f) * 0.004f); /* dmin */
            } else {
                put_scale(w + 208, (0.5f + (uniform() + 1) * 0.25f) * 0.0005f);
            }
        }
        return;
    }
    int q4 = kind == LOCUS_QKIND_Q4_0;
    for (int64_t b = 0; b < nb; b++, w += q4 ? 18 : 34) {
        put_scale(w, dw > 0 ? dw : (0.5f + (uniform() + 1) * 0.25f) * 0.02f);
        if (q4)
            for (int j = 0; j < 16; j++) w[2 + j] = (uint8_t)(next() & 0xff);
        else
            for (int j = 0; j < 32; j++) w[2 + j] = (uint8_t)(int8_t)((int)(next() % (2 * range + 1)) - range);
    }
}

/* Weight j of row r in block b of a packed K-quant group: its value u and the two floats of its
 * row, computed as ggml's dequantizer does (Q4_K, Q5_K: s = d sc and m = dmin mn, the weight
 * s u - m; Q6_K: s = d sc of j's half, the weight s (u - 32)). */
static int packed_k(const uint8_t *group, int kind, int r, int64_t b, int j, float *s, float *m) {
    size_t sb = locus_qpack_header_bytes(kind) + 8 * locus_qpack_block_bytes(kind);
    const uint8_t *head = group + (size_t)(b / 8) * sb, *p = head + locus_qpack_header_bytes(kind) + (size_t)(b % 8) * locus_qpack_block_bytes(kind);
    const uint8_t *q = p + 32 + 4 * r;
    float d = locus_half_to_float((uint16_t)(head[2 * r] | head[2 * r + 1] << 8));
    if (locus_qkind_has_mins(kind)) {
        *s = d * (float)p[r];
        *m = locus_half_to_float((uint16_t)(head[32 + 2 * r] | head[33 + 2 * r] << 8)) * (float)p[16 + r];
        if (kind == LOCUS_QKIND_Q5_K) return q[64 * (j / 4) + j % 4];
        return j < 16 ? q[64 * (j / 4) + j % 4] & 15 : q[64 * ((j - 16) / 4) + j % 4] >> 4;
    }
    *s = d * (float)(int8_t)p[j < 16 ? r : 16 + r];
    *m = 0;
    return q[64 * (j / 4) + j % 4];
}

/* The product of an activation row and weight row r, in double: its value (every block product
 * exact) and the sum over blocks of the magnitudes of the terms the kernels round, the scale of
 * the rounding bound. Q8_0/Q4_0 from the GGUF bytes w; K-quants from the packed group. */
static double exact_dot(const uint8_t *row, const uint8_t *w, const uint8_t *group, int r, int64_t nb, int kind,
                        double *magnitude) {
    const float *scales = locus_qrow_scales(row, nb);
    const int8_t *x = (const int8_t *)row;
    double v = 0, mag = 0;
    for (int64_t b = 0; b < nb; b++) {
        double term, size;
        if (is_kquant(kind)) {
            long ux[2] = {0, 0}, xs[2] = {0, 0};
            float s[2], m;
            for (int j = 0; j < 32; j++) {
                ux[j / 16] += (long)packed_k(group, kind, r, b, j, &s[j / 16], &m) * x[b * 32 + j];
                xs[j / 16] += x[b * 32 + j];
            }
            if (locus_qkind_has_mins(kind)) {
                term = (double)s[0] * (double)(ux[0] + ux[1]) - (double)m * (double)(xs[0] + xs[1]);
                size = fabs((double)s[0] * (double)(ux[0] + ux[1])) + fabs((double)m * (double)(xs[0] + xs[1]));
            } else {
                double lo = (double)s[0] * (double)(ux[0] - 32 * xs[0]), hi = (double)s[1] * (double)(ux[1] - 32 * xs[1]);
                term = lo + hi;
                size = fabs(lo) + fabs(hi);
            }
        } else {
            int q4 = kind == LOCUS_QKIND_Q4_0;
            const uint8_t *blk = w + b * (q4 ? 18 : 34);
            long sum = 0;
            for (int j = 0; j < 32; j++) {
                int wv = q4 ? ((j < 16 ? blk[2 + j] & 15 : blk[2 + j - 16] >> 4) - 8) : (int8_t)blk[2 + j];
                sum += (long)wv * x[b * 32 + j];
            }
            term = (double)sum * locus_half_to_float((uint16_t)(blk[0] | blk[1] << 8));
            size = fabs(term);
        }
        v += term * scales[b];
        mag += size * scales[b];
    }
    *magnitude = mag;
    return v;
}

/* Packing K-quants reads ggml's layout: every packed weight, s u - m (Q4_K, Q5_K) or s (u - 32)
 * (Q6_K) in f32 as ggml's dequantizer computes it from the packed scales, equals
 * locus_dequantize_row's. */
static void test_kquant_packing(void) {
    for (int kind = LOCUS_QKIND_Q4_K; kind < LOCUS_QKINDS; kind++) {
        int64_t nb = 16, rows = 5;
        size_t wrow = row_bytes(kind, nb);
        uint8_t *wq = malloc(rows * wrow), *packed = malloc(locus_qpack_group_bytes(kind, nb));
        float *deq = malloc((size_t)nb * 32 * sizeof(float));
        for (int r = 0; r < rows; r++) fill_weights(wq + r * wrow, nb, kind, 0, 0);
        locus_qpack_group(packed, wq, wrow, (int)rows, nb, kind);
        int wrong = 0;
        for (int r = 0; r < rows; r++) {
            locus_dequantize_row(kind_dtypes[kind], wq + r * wrow, deq, nb * 32);
            for (int64_t b = 0; b < nb; b++)
                for (int j = 0; j < 32; j++) {
                    float s, m;
                    int u = packed_k(packed, kind, r, b, j, &s, &m);
                    float want = locus_qkind_has_mins(kind) ? s * (float)u - m : s * (float)(u - 32);
                    wrong += memcmp(&want, &deq[b * 32 + j], 4) != 0;
                }
        }
        if (wrong) {
            fprintf(stderr, "  %s: %d packed weights differ from the dequantized ones\n", kind_names[kind], wrong);
            check_failures++;
        }
        free(wq), free(packed), free(deq);
    }
}

/* Packed groups (16 rows, or fewer padded with zeros) times 1..4 activation rows: every path gives
 * the reference's bits, and the reference is within the bound of the exact products. */
static void test_gemm(void) {
    static const int64_t counts[] = {1, 2, 3, 5, 8, 33, 128, 344};
    for (int kind = 0; kind < LOCUS_QKINDS; kind++)
        for (size_t t = 0; t < sizeof counts / sizeof *counts; t++)
            for (int exact = 1; exact >= 0; exact--) {
                int64_t nb = counts[t];
                if (is_kquant(kind) && (exact || nb % 8)) continue; /* whole super-blocks, random scales */
                if (exact && nb > 64) continue; /* up to 64 blocks the exact sums stay below 2^24 units */
                size_t xstride = locus_qrow_bytes(nb) + 64, wrow = row_bytes(kind, nb) + 6; /* rows need not touch */
                int rows = t % 2 ? 16 : 7;
                uint8_t *xq = calloc(4, xstride), *wq = calloc(16, wrow), *packed = malloc(locus_qpack_group_bytes(kind, nb));
                /* exact: dyadic scales and |q| <= 60, so every partial sum is a float without rounding */
                for (int i = 0; i < 4; i++) fill_row(xq + i * xstride, nb, exact ? 1.0f / 128 : 0, exact ? 60 : 127);
                for (int r = 0; r < rows; r++) fill_weights(wq + r * wrow, nb, kind, exact ? 1.0f / 64 : 0, exact ? 60 : 127);
                locus_qpack_group(packed, wq, wrow, rows, nb, kind);
                for (int m = 1; m <= 4; m++) {
                    float want[4 * 16], got[4 * 16];
                    locus_qdot_ref.gemm[kind](want, 16, xq, xstride, m, packed, nb);
                    for (int i = 0; i < m; i++)
                        for (int r = 0; r < 16; r++) {
                            double mag = 0, v = r < rows ? exact_dot(xq + i * xstride, wq + r * wrow, packed, r, nb, kind, &mag) : 0;
                            double bound = exact ? 0 : (double)(nb + 16) * ldexp(1.0, -24) * mag;
                            if (!(fabs(want[i * 16 + r] - v) <= bound)) {
                                fprintf(stderr, "  ref gemm_%s nb=%lld %s [%d, %d]: %.9g, exact %.9g (bound %.3g)\n", kind_names[kind],
                                        (long long)nb, exact ? "exact" : "random", i, r, want[i * 16 + r], v, bound);
                                check_failures++;
                            }
                        }
                    for (int p = 1; p < n_paths; p++) {
                        memset(got, 0xa5, sizeof got);
                        paths[p]->gemm[kind](got, 16, xq, xstride, m, packed, nb);
                        if (memcmp(got, want, (size_t)m * 16 * sizeof(float)) != 0) {
                            fprintf(stderr, "  gemm_%s nb=%lld m=%d: %s differs from ref\n", kind_names[kind], (long long)nb, m, names[p]);
                            check_failures++;
                        }
                    }
                }
                free(xq), free(wq), free(packed);
            }
}

/* locus_linear with Q8_0, Q4_0 and K-quant weights: in fast precision the reference path, the
 * vector path and a packed copy (locus_qpack, as the decoder keeps) give the same bits; exact
 * precision gives the f32 product of the dequantized weights. */
static void test_linear_precisions(void) {
    static const int64_t shapes[][3] = {{3, 40, 256}, {37, 41, 320}, {600, 9, 64}, {5, 33, 512}}; /* rows, out, in */
    CHECK(locus_precision() == LOCUS_FAST);
    for (size_t c = 0; c < sizeof shapes / sizeof *shapes; c++) {
        int64_t m = shapes[c][0], n = shapes[c][1], k = shapes[c][2];
        int64_t xs[2] = {m, k}, ws[2] = {n, k}, os[2] = {m, n};
        locus_tensor *x = locus_tensor_empty(LOCUS_F32, 2, xs), *wf = locus_tensor_empty(LOCUS_F32, 2, ws);
        locus_fill_randn(x, 5 + c, 0, 1);
        locus_fill_randn(wf, 6 + c, 0, 0.05);
        for (int kind = 0; kind < LOCUS_QKINDS; kind++) {
            if (is_kquant(kind) && k % 256) continue;
            locus_tensor *wq = locus_cast(wf, kind_dtypes[kind]), *wd = locus_cast(wq, LOCUS_F32);
            locus_tensor *a = locus_tensor_empty(LOCUS_F32, 2, os), *b = locus_tensor_empty(LOCUS_F32, 2, os);
            CHECK(locus_set_precision(LOCUS_EXACT) == 0);
            CHECK(locus_linear(a, x, wq, NULL) == 0 && locus_linear(b, x, wd, NULL) == 0);
            CHECK(f32_close(locus_tensor_data(a), locus_tensor_data(b), m * n, (double)k, 1, "exact: quantized vs dequantized"));
            CHECK(locus_set_precision(LOCUS_FAST) == 0);
            CHECK(locus_set_kernel_path("ref") == 0);
            CHECK(locus_linear(a, x, wq, NULL) == 0);
            CHECK(locus_set_kernel_path("auto") == 0);
            CHECK(locus_linear(b, x, wq, NULL) == 0);
            CHECK(memcmp(locus_tensor_data(b), locus_tensor_data(a), (size_t)(m * n) * sizeof(float)) == 0);
            locus_qpacked *packed = locus_qpack(wq);
            CHECK(packed && locus_linear_prepared(b, x, wq, packed) == 0);
            CHECK(memcmp(locus_tensor_data(b), locus_tensor_data(a), (size_t)(m * n) * sizeof(float)) == 0);
            locus_qpacked_free(packed);
            locus_tensor *ts[] = {wq, wd, a, b};
            for (int i = 0; i < 4; i++) locus_tensor_free(ts[i]);
        }
        locus_tensor_free(x);
        locus_tensor_free(wf);
    }
    CHECK_ERROR(locus_set_precision(7), "none of LOCUS_EXACT, LOCUS_FAST, LOCUS_FAST_BF16");
}

int main(void) {
    n_paths = available();
    printf("# paths: %s\n", n_paths == 3 ? "ref avx2 avx512-vnni" : n_paths == 2 ? "ref avx2" : "ref");
    RUN(test_quantize_activations);
    RUN(test_kquant_packing);
    RUN(test_gemm);
    RUN(test_linear_precisions);
    return check_failures != 0;
}
