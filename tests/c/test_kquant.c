/* GGUF's K-quants (Q4_K, Q5_K, Q6_K): dequantization and quantization bit for bit against the numpy
 * port of ggml's reference code (tests/fixtures/make_kquants.py), the round trip's error within the
 * bound each format's step size gives, and K-quant tensors through views, element access and
 * locus_linear in both precisions. */
#include "check.h"

#include <stdlib.h>

static char fixtures[512];

static const struct {
    int dt;
    const char *name;
    size_t bytes;
} types[] = {{LOCUS_Q4_K, "q4_k", 144}, {LOCUS_Q5_K, "q5_k", 176}, {LOCUS_Q6_K, "q6_k", 210}};

static locus_tensor *fixture(const char *type, const char *what) {
    char path[640];
    snprintf(path, sizeof path, "%s/kquants/%s_%s.npy", fixtures, type, what);
    locus_tensor *t = locus_npy_load(path, 0);
    if (!t) fprintf(stderr, "  %s: %s\n", path, locus_last_error());
    return t;
}

/* Random super-blocks (random bytes, f16 scales of typical magnitudes) dequantize to the port's
 * floats, bit for bit, whether one row or rows of several super-blocks. */
static void test_dequantize(void) {
    for (size_t i = 0; i < 3; i++) {
        locus_tensor *blocks = fixture(types[i].name, "blocks"), *want = fixture(types[i].name, "dequant");
        CHECK(blocks && want);
        if (!blocks || !want) continue;
        int64_t n = locus_tensor_numel(want), rows[2][2] = {{1, n}, {n / 1024, 1024}};
        for (int r = 0; r < 2; r++) {
            locus_tensor *q = locus_tensor_new(types[i].dt, 2, rows[r]);
            CHECK(q && locus_tensor_numel(blocks) == n / 256 * (int64_t)types[i].bytes);
            memcpy(locus_tensor_data(q), locus_tensor_data(blocks), (size_t)locus_tensor_numel(blocks));
            locus_tensor *got = locus_cast(q, LOCUS_F32);
            CHECK(got && memcmp(locus_tensor_data(got), locus_tensor_data(want), (size_t)n * 4) == 0);
            int64_t at[2] = {0, 300 % rows[r][1]}; /* one element, through its super-block */
            CHECK(locus_get(q, at) == ((float *)locus_tensor_data(want))[300]);
            locus_tensor_free(got);
            locus_tensor_free(q);
        }
        locus_tensor_free(blocks);
        locus_tensor_free(want);
    }
}

/* Rows quantize to the port's bytes (ggml's quantize_row_*_K_ref): weights-like, outliers,
 * one-signed, constant, zero and tiny super-blocks. */
static void test_quantize(void) {
    for (size_t i = 0; i < 3; i++) {
        locus_tensor *x = fixture(types[i].name, "x"), *want = fixture(types[i].name, "quant");
        CHECK(x && want);
        if (!x || !want) continue;
        locus_tensor *q = locus_cast(x, types[i].dt);
        CHECK(q && locus_tensor_numel(want) == x->sizes[0] * (int64_t)types[i].bytes);
        if (q && memcmp(locus_tensor_data(q), locus_tensor_data(want), (size_t)locus_tensor_numel(want)) != 0) {
            const uint8_t *a = locus_tensor_data(q), *b = locus_tensor_data(want);
            int64_t k = 0;
            while (a[k] == b[k]) k++;
            fprintf(stderr, "  %s: byte %lld (super-block %lld) is %d, expected %d\n", types[i].name, (long long)k,
                    (long long)(k / (int64_t)types[i].bytes), a[k], b[k]);
            check_failures++;
        }
        locus_tensor_free(q);
        locus_tensor_free(x);
        locus_tensor_free(want);
    }
}

static uint64_t state = 0x9e3779b97f4a7c15ull;
static double uniform(void) { /* xorshift64: the same numbers on every machine */
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    return (double)(state >> 11) * 0x1.0p-53;
}

/* The round trip's error per super-block, against the step each format's levels give over it:
 *  - Q4_K/Q5_K: 8 sub-blocks of 32, each d_j * q - m_j with q in 0..15 (0..31), fitted to the
 *    sub-block's range, which lies inside R = max(x, 0) - min(x, 0) of the super-block (the min is
 *    never above 0). Rounding to the nearest level costs half a step, R / 30 (R / 62); the 6-bit
 *    scales and mins (steps max/63) and the least-squares fit move the levels by less than another
 *    half step, so |x - x'| <= R / 15 (R / 31).
 *  - Q6_K: 16 sub-blocks of 16, d_j * q with q in -32..31 and d_j ~ -max_j / 32, int8 scales against
 *    the largest (step max/128): half a step plus the scale's rounding, |x - x'| <= M / 32 with
 *    M = max |x| of the super-block.
 * Measured on these rows the worst cases are 0.5 to 0.7 of each bound (printed below); a wrong
 * nibble, bit or scale moves an element by a whole sub-block range. */
static void test_round_trip(void) {
    enum { ROWS = 64, K = 1024 };
    int64_t shape[2] = {ROWS, K};
    locus_tensor *x = locus_tensor_empty(LOCUS_F32, 2, shape);
    float *xd = locus_tensor_data(x);
    for (int64_t i = 0; i < ROWS * K; i++) {
        double g = (uniform() + uniform() + uniform() - 1.5) * 2; /* roughly normal, std 1 */
        double scale = 0.01 * (1 + (double)(i / 256 % 7));       /* super-blocks of other magnitudes */
        xd[i] = (float)(g * scale + (i / K % 5 == 0 ? 0.03 : 0)) * (i % 211 == 0 ? 20.0f : 1.0f);
    }
    for (size_t t = 0; t < 3; t++) {
        locus_tensor *q = locus_cast(x, types[t].dt), *y = q ? locus_cast(q, LOCUS_F32) : NULL;
        CHECK(q && y);
        if (!y) continue;
        const float *yd = locus_tensor_data(y);
        double worst = 0;
        for (int64_t b = 0; b < ROWS * K / 256; b++) {
            double lo = 0, hi = 0, m = 0, err = 0;
            for (int j = 0; j < 256; j++) {
                double v = xd[b * 256 + j];
                lo = v < lo ? v : lo;
                hi = v > hi ? v : hi;
                m = fabs(v) > m ? fabs(v) : m;
                err = fmax(err, fabs(v - yd[b * 256 + j]));
            }
            double bound = types[t].dt == LOCUS_Q4_K ? (hi - lo) / 15 : types[t].dt == LOCUS_Q5_K ? (hi - lo) / 31 : m / 32;
            if (err > bound) {
                fprintf(stderr, "  %s super-block %lld: error %.6g above the bound %.6g\n", types[t].name, (long long)b, err, bound);
                check_failures++;
            }
            worst = fmax(worst, err / bound);
        }
        printf("# %s: worst round-trip error %.2f of the bound\n", types[t].name, worst);
        locus_tensor_free(q);
        locus_tensor_free(y);
    }
    locus_tensor_free(x);
}

/* Requantizing dequantized values moves them no further than the first quantization moved the
 * originals (ggml's Q4_K/Q5_K fit may choose other scales and mins, so their bytes need not
 * repeat); Q6_K gives the same floats again: its largest sub-block scale is always stored as -128,
 * so the refit of values already on its grid lands on the same scales and levels. */
static void test_requantize(void) {
    int64_t shape[2] = {8, 512};
    locus_tensor *x = locus_tensor_empty(LOCUS_F32, 2, shape);
    locus_fill_randn(x, 11, 0, 0.02);
    for (size_t t = 0; t < 3; t++) {
        locus_tensor *q = locus_cast(x, types[t].dt), *y = locus_cast(q, LOCUS_F32);
        locus_tensor *q2 = locus_cast(y, types[t].dt), *y2 = locus_cast(q2, LOCUS_F32);
        const float *a = locus_tensor_data(x), *b = locus_tensor_data(y), *c = locus_tensor_data(y2);
        double e1 = 0, e2 = 0;
        for (int64_t i = 0; i < 8 * 512; i++) {
            e1 = fmax(e1, fabs(a[i] - b[i]));
            e2 = fmax(e2, fabs(b[i] - c[i]));
        }
        CHECK(e2 <= e1);
        if (types[t].dt == LOCUS_Q6_K) CHECK(memcmp(b, c, 8 * 512 * 4) == 0);
        printf("# %s: requantized moves by %.3g (first quantization %.3g)\n", types[t].name, e2, e1);
        locus_tensor *ts[] = {q, y, q2, y2};
        for (int i = 0; i < 4; i++) locus_tensor_free(ts[i]);
    }
    locus_tensor_free(x);
}

/* A K-quant tensor keeps whole super-blocks: its last dim is a multiple of 256 and views may only
 * cut it at super-block boundaries. */
static void test_views(void) {
    int64_t bad[2] = {2, 300}, good[2] = {3, 512};
    locus_clear_error();
    CHECK(locus_tensor_new(LOCUS_Q5_K, 2, bad) == NULL && strstr(locus_last_error(), "multiple of 256"));
    locus_tensor *f = locus_tensor_empty(LOCUS_F32, 2, good);
    locus_fill_randn(f, 3, 0, 1);
    locus_tensor *q = locus_cast(f, LOCUS_Q4_K), *whole = locus_cast(q, LOCUS_F32);
    locus_tensor *half = locus_view_narrow(q, 1, 256, 256), *row = locus_view_select(q, 0, 2);
    CHECK(half && row);
    locus_tensor *hf = locus_cast(half, LOCUS_F32), *rf = locus_cast(row, LOCUS_F32);
    const float *w = locus_tensor_data(whole);
    for (int r = 0; r < 3; r++) CHECK(memcmp((float *)locus_tensor_data(hf) + r * 256, w + r * 512 + 256, 256 * 4) == 0);
    CHECK(memcmp(locus_tensor_data(rf), w + 2 * 512, 512 * 4) == 0);
    locus_clear_error();
    CHECK(locus_view_narrow(q, 1, 32, 256) == NULL && strstr(locus_last_error(), "q4_k tensors keep whole blocks of 256"));
    locus_tensor *ts[] = {f, q, whole, half, row, hf, rf};
    for (int i = 0; i < 7; i++) locus_tensor_free(ts[i]);
}

/* locus_linear takes K-quant weights through its dequantizing paths in exact precision (fast
 * precision's integer products are test_qdot's): the product equals the f32 product with the
 * dequantized weights up to the order of the sums, for one row (dots over 512-element pieces), a
 * few rows and a prompt's worth (widened GEMM). */
static void test_linear(void) {
    static const int64_t shapes[][3] = {{1, 24, 768}, {5, 40, 256}, {40, 9, 1280}}; /* rows, out, in */
    for (size_t c = 0; c < 3; c++) {
        int64_t m = shapes[c][0], n = shapes[c][1], k = shapes[c][2];
        int64_t xs[2] = {m, k}, ws[2] = {n, k}, os[2] = {m, n};
        locus_tensor *x = locus_tensor_empty(LOCUS_F32, 2, xs), *wf = locus_tensor_empty(LOCUS_F32, 2, ws);
        locus_fill_randn(x, 7 + c, 0, 1);
        locus_fill_randn(wf, 8 + c, 0, 0.05);
        CHECK(locus_set_precision(LOCUS_EXACT) == 0);
        for (size_t t = 0; t < 3; t++) {
            locus_tensor *wq = locus_cast(wf, types[t].dt), *wd = locus_cast(wq, LOCUS_F32);
            locus_tensor *a = locus_tensor_empty(LOCUS_F32, 2, os), *b = locus_tensor_empty(LOCUS_F32, 2, os);
            CHECK(locus_linear(a, x, wq, NULL) == 0 && locus_linear(b, x, wd, NULL) == 0);
            char what[64];
            snprintf(what, sizeof what, "%s exact [%lld rows]", types[t].name, (long long)m);
            CHECK(f32_close(locus_tensor_data(a), locus_tensor_data(b), m * n, (double)k, 1, what));
            locus_tensor *ts[] = {wq, wd, a, b};
            for (int i = 0; i < 4; i++) locus_tensor_free(ts[i]);
        }
        locus_tensor_free(x);
        locus_tensor_free(wf);
    }
    CHECK(locus_set_precision(LOCUS_FAST) == 0);
}

int main(void) {
    const char *env = getenv("LOCUS_FIXTURES");
    snprintf(fixtures, sizeof fixtures, "%s", env ? env : "tests/fixtures");
    RUN(test_dequantize);
    RUN(test_quantize);
    RUN(test_round_trip);
    RUN(test_requantize);
    RUN(test_views);
    RUN(test_linear);
    return check_failures != 0;
}
