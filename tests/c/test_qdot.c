/* The integer kernels for quantized weights (kernels/qdot.h), every path this CPU has against the
 * plain C reference: quantized activations byte for byte; dot products exactly where every
 * partial sum is representable (dyadic scales, small integers: any order of addition gives the
 * same float), and within qdot.h's f32 bound on random blocks. */
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
        size_t used = (size_t)nb * 36; /* the values and the scales; the padding is not written */
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

/* an activation row (qdot.h's layout) and weight blocks (Q8_0: 34 bytes, Q4_0: 18) with the given
 * scales (0: random) and values in [-range, range] */
static void fill_blocks(uint8_t *row, uint8_t *wq, int64_t nb, int q4, float dx, float dw, int range) {
    float *scales = (float *)(void *)(row + nb * 32);
    for (int64_t b = 0; b < nb; b++) {
        uint8_t *w = wq + b * (q4 ? 18 : 34);
        float d = dx > 0 ? dx : (0.5f + (uniform() + 1) * 0.25f) * 0.01f;
        scales[b] = locus_half_to_float(locus_float_to_half(d));
        put_scale(w, dw > 0 ? dw : (0.5f + (uniform() + 1) * 0.25f) * 0.02f);
        for (int j = 0; j < 32; j++) row[b * 32 + j] = (uint8_t)(int8_t)((int)(next() % (2 * range + 1)) - range);
        if (q4)
            for (int j = 0; j < 16; j++) w[2 + j] = (uint8_t)(next() & 0xff);
        else
            for (int j = 0; j < 32; j++) w[2 + j] = (uint8_t)(int8_t)((int)(next() % (2 * range + 1)) - range);
    }
}

/* sum over blocks of |sum_j x_j w_j| * dx * dw: the scale of qdot.h's rounding bound */
static double magnitude(const uint8_t *row, const uint8_t *wq, int64_t nb, int q4) {
    const float *scales = (const float *)(const void *)(row + nb * 32);
    double m = 0;
    for (int64_t b = 0; b < nb; b++) {
        const uint8_t *w = wq + b * (q4 ? 18 : 34);
        long s = 0;
        for (int j = 0; j < 32; j++) {
            int wv = q4 ? ((j < 16 ? w[2 + j] & 15 : w[2 + j - 16] >> 4) - 8) : (int8_t)w[2 + j];
            s += (long)wv * (int8_t)row[b * 32 + j];
        }
        m += fabs((double)s) * scales[b] * locus_half_to_float((uint16_t)(w[0] | w[1] << 8));
    }
    return m;
}

static void test_dots(void) {
    int n = n_paths;
    static const int64_t counts[] = {1, 2, 3, 4, 5, 7, 8, 9, 33, 128, 344};
    for (int q4 = 0; q4 < 2; q4++)
        for (size_t t = 0; t < sizeof counts / sizeof *counts; t++) {
            int64_t nb = counts[t];
            uint8_t *xq = malloc(locus_qrow_bytes(nb)), *wq = malloc((size_t)nb * 34);
            for (int exact = nb <= 64; exact >= 0; exact--) { /* up to 64 blocks the exact sums stay below 2^24 units */
                /* exact: dyadic scales and |q| <= 60, so every partial sum is a float without rounding */
                fill_blocks(xq, wq, nb, q4, exact ? 1.0f / 128 : 0, exact ? 1.0f / 64 : 0, exact ? 60 : 127);
                float (*ref)(const uint8_t *, const uint8_t *, int64_t) = q4 ? locus_qdot_ref.dot_q4_0 : locus_qdot_ref.dot_q8_0;
                float want = ref(xq, wq, nb);
                double bound = exact ? 0 : (double)(nb + 16) * ldexp(1.0, -24) * magnitude(xq, wq, nb, q4);
                for (int p = 1; p < n; p++) {
                    float got = (q4 ? paths[p]->dot_q4_0 : paths[p]->dot_q8_0)(xq, wq, nb);
                    if (!(fabs((double)got - want) <= bound)) {
                        fprintf(stderr, "  dot_%s nb=%lld %s: %s gives %.9g, ref %.9g (bound %.3g)\n", q4 ? "q4_0" : "q8_0",
                                (long long)nb, exact ? "exact" : "random", names[p], got, want, bound);
                        check_failures++;
                    }
                }
            }
            free(xq), free(wq);
        }
}

/* The prompt tiles (4 activation rows x 2 weight rows) against the reference's single dots. */
static void test_tiles(void) {
    static const int64_t counts[] = {1, 2, 3, 8, 33, 65};
    for (int p = 0; p < n_paths; p++) {
        if (!paths[p]->tile_q8_0) continue;
        for (int q4 = 0; q4 < 2; q4++)
            for (size_t t = 0; t < sizeof counts / sizeof *counts; t++) {
                int64_t nb = counts[t];
                size_t xstride = locus_qrow_bytes(nb) + 64, wstride = (size_t)nb * (q4 ? 18 : 34) + 2; /* rows need not touch */
                uint8_t *xq = calloc(4, xstride), *wq = calloc(2, wstride), *other = malloc(locus_qrow_bytes(nb));
                for (int i = 0; i < 4; i++) fill_blocks(xq + i * xstride, wq, nb, q4, 0, 0, 127);
                for (int j = 0; j < 2; j++) fill_blocks(other, wq + j * wstride, nb, q4, 0, 0, 127);
                free(other);
                float y[4 * 3];
                (q4 ? paths[p]->tile_q4_0 : paths[p]->tile_q8_0)(y, 3, xq, xstride, wq, wstride, nb);
                for (int i = 0; i < 4; i++)
                    for (int j = 0; j < 2; j++) {
                        const uint8_t *x = xq + i * xstride, *w = wq + j * wstride;
                        float want = (q4 ? locus_qdot_ref.dot_q4_0 : locus_qdot_ref.dot_q8_0)(x, w, nb);
                        double bound = (double)(nb + 16) * ldexp(1.0, -24) * magnitude(x, w, nb, q4);
                        if (!(fabs((double)y[i * 3 + j] - want) <= bound)) {
                            fprintf(stderr, "  tile_%s nb=%lld [%d, %d] %s: %.9g, ref %.9g\n", q4 ? "q4_0" : "q8_0", (long long)nb, i,
                                    j, names[p], y[i * 3 + j], want);
                            check_failures++;
                        }
                    }
                free(xq), free(wq);
            }
    }
}

/* locus_linear with Q8_0 weights in fast precision: the reference path and the vector path agree
 * within the bound, and exact precision gives the f32 product of the dequantized weights. */
static void test_linear_precisions(void) {
    static const int64_t shapes[][3] = {{3, 40, 256}, {37, 41, 320}, {600, 9, 64}}; /* rows, out, in */
    CHECK(locus_precision() == LOCUS_FAST);
    for (size_t c = 0; c < sizeof shapes / sizeof *shapes; c++) {
        int64_t m = shapes[c][0], n = shapes[c][1], k = shapes[c][2];
        int64_t xs[2] = {m, k}, ws[2] = {n, k}, os[2] = {m, n};
        locus_tensor *x = locus_tensor_empty(LOCUS_F32, 2, xs), *wf = locus_tensor_empty(LOCUS_F32, 2, ws);
        locus_fill_randn(x, 5 + c, 0, 1);
        locus_fill_randn(wf, 6 + c, 0, 0.05);
        for (int dt = 0; dt < 2; dt++) {
            locus_tensor *wq = locus_cast(wf, dt ? LOCUS_Q4_0 : LOCUS_Q8_0), *wd = locus_cast(wq, LOCUS_F32);
            locus_tensor *a = locus_tensor_empty(LOCUS_F32, 2, os), *b = locus_tensor_empty(LOCUS_F32, 2, os);
            CHECK(locus_set_precision(LOCUS_EXACT) == 0);
            CHECK(locus_linear(a, x, wq, NULL) == 0 && locus_linear(b, x, wd, NULL) == 0);
            CHECK(f32_close(locus_tensor_data(a), locus_tensor_data(b), m * n, (double)k, 1, "exact: quantized vs dequantized"));
            CHECK(locus_set_precision(LOCUS_FAST) == 0);
            CHECK(locus_set_kernel_path("ref") == 0);
            CHECK(locus_linear(a, x, wq, NULL) == 0);
            CHECK(locus_set_kernel_path("auto") == 0);
            CHECK(locus_linear(b, x, wq, NULL) == 0); /* single dots, or tiles for many rows */
            CHECK(f32_close(locus_tensor_data(b), locus_tensor_data(a), m * n, (double)k * 8, 1, "fast: vector path vs ref path"));
            locus_tensor *ts[] = {wq, wd, a, b};
            for (int i = 0; i < 4; i++) locus_tensor_free(ts[i]);
        }
        locus_tensor_free(x);
        locus_tensor_free(wf);
    }
    CHECK_ERROR(locus_set_precision(7), "neither LOCUS_EXACT nor LOCUS_FAST");
}

int main(void) {
    n_paths = available();
    printf("# paths: %s\n", n_paths == 3 ? "ref avx2 avx512-vnni" : n_paths == 2 ? "ref avx2" : "ref");
    RUN(test_quantize_activations);
    RUN(test_dots);
    RUN(test_tiles);
    RUN(test_linear_precisions);
    return check_failures != 0;
}
