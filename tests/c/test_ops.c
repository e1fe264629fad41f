/* Every optimized op path against the plain C reference path, on random shapes including odd
 * sizes and strided views; 1 and 2 threads; and the ops' error messages. */
#include "check.h"

#include "core/internal.h"
#include "kernels/vec.h"

#include <float.h>

#include <stdlib.h>

static locus_tensor *randn(int dtype, int ndim, const int64_t *shape, uint64_t seed, double std) {
    locus_tensor *t = locus_tensor_empty(dtype, ndim, shape);
    locus_fill_randn(t, seed, 0, std);
    return t;
}

static const char *paths[] = {"ref", "avx2", "avx512"};

/* Runs op under the reference path and each optimized path the CPU has; compares outputs. */
typedef int (*op_fn)(locus_tensor *out, void *ctx);

/* k: the terms of the longest dot product in op, for the error model (check.h) */
static void compare_paths(op_fn op, void *ctx, locus_tensor *out, double k, const char *what) {
    CHECK(locus_set_kernel_path("ref") == 0);
    CHECK(op(out, ctx) == 0);
    locus_tensor *ref = locus_clone(out);
    for (int p = 1; p < 3; p++) {
        if (locus_set_kernel_path(paths[p]) != 0) continue; /* not on this CPU */
        locus_fill(out, NAN);
        CHECK(op(out, ctx) == 0);
        char label[160];
        snprintf(label, sizeof label, "%s [%s vs ref]", what, paths[p]);
        if (!f32_close(locus_tensor_data(out), locus_tensor_data(ref), (long)locus_tensor_numel(out), k, 1, label))
            check_failures++;
    }
    locus_set_kernel_path("auto");
    locus_tensor_free(ref);
}

struct linear_ctx {
    locus_tensor *x, *w, *b;
};
static int run_linear(locus_tensor *out, void *c) {
    struct linear_ctx *l = c;
    return locus_linear(out, l->x, l->w, l->b);
}

static void test_linear_paths(void) {
    static const int64_t ms[] = {1, 2, 7, 16, 17, 33};
    static const int64_t ks[] = {1, 5, 16, 63, 64, 65, 257, 1000};
    static const int64_t ns[] = {1, 3, 31, 130};
    static const int dts[] = {LOCUS_F32, LOCUS_BF16, LOCUS_F16};
    uint64_t seed = 1;
    for (size_t a = 0; a < 6; a++)
        for (size_t b = 0; b < 8; b++)
            for (size_t c = 0; c < 4; c++)
                for (size_t d = 0; d < 3; d++) {
                    int64_t m = ms[a], k = ks[b], n = ns[c];
                    int64_t xs[2] = {m, k}, ws[2] = {n, k}, bs[1] = {n}, os[2] = {m, n};
                    struct linear_ctx l = {randn(LOCUS_F32, 2, xs, seed++, 1.0),
                                           randn(dts[d], 2, ws, seed++, 1.0 / sqrt((double)k)),
                                           (seed % 2) ? randn(LOCUS_F32, 1, bs, seed, 0.1) : NULL};
                    seed++;
                    locus_tensor *out = locus_tensor_empty(LOCUS_F32, 2, os);
                    char what[96];
                    snprintf(what, sizeof what, "linear %s m=%lld k=%lld n=%lld", locus_dtype_name(dts[d]),
                             (long long)m, (long long)k, (long long)n);
                    compare_paths(run_linear, &l, out, (double)k, what);
                    locus_tensor_free(out);
                    locus_tensor_free(l.x);
                    locus_tensor_free(l.w);
                    locus_tensor_free(l.b);
                }
}

/* LOCUS_FAST_BF16 with bf16 weights: on a CPU with AVX512_BF16 the products take x rounded to bf16
 * (bf16 x bf16 products are exact in f32, so only the sums round): within the error model of the
 * f32 product of the rounded x and w, and not the product of x itself; elsewhere it is fast
 * precision's product. */
static void test_linear_bf16_activations(void) {
    static const int64_t shapes[][3] = {{1, 40, 256}, {3, 41, 67}, {16, 9, 1000}, {17, 33, 64}, {600, 130, 257}};
    int bf16 = strstr(locus_cpu_features(), "avx512bf16") != NULL;
    for (size_t c = 0; c < sizeof shapes / sizeof *shapes; c++) {
        int64_t m = shapes[c][0], n = shapes[c][1], k = shapes[c][2];
        int64_t xs[2] = {m, k}, ws[2] = {n, k}, os[2] = {m, n};
        locus_tensor *x = randn(LOCUS_F32, 2, xs, 40 + c, 1.0), *w = randn(LOCUS_BF16, 2, ws, 50 + c, 1.0 / sqrt((double)k));
        locus_tensor *xb = locus_cast(x, LOCUS_BF16), *xr = locus_cast(xb, LOCUS_F32);
        locus_tensor *want = locus_tensor_empty(LOCUS_F32, 2, os), *plain = locus_tensor_empty(LOCUS_F32, 2, os);
        locus_tensor *got = locus_tensor_empty(LOCUS_F32, 2, os);
        CHECK(locus_set_precision(LOCUS_FAST) == 0);
        CHECK(locus_linear(want, xr, w, NULL) == 0 && locus_linear(plain, x, w, NULL) == 0);
        CHECK(locus_set_precision(LOCUS_FAST_BF16) == 0);
        CHECK(locus_linear(got, x, w, NULL) == 0);
        size_t bytes = (size_t)(m * n) * sizeof(float);
        if (bf16) {
            CHECK(f32_close(locus_tensor_data(got), locus_tensor_data(want), (long)(m * n), (double)k, 1, "bf16 activations"));
            CHECK(memcmp(locus_tensor_data(got), locus_tensor_data(plain), bytes) != 0);
        } else {
            CHECK(memcmp(locus_tensor_data(got), locus_tensor_data(plain), bytes) == 0);
        }
        locus_tensor *ts[] = {x, w, xb, xr, want, plain, got};
        for (size_t i = 0; i < sizeof ts / sizeof *ts; i++) locus_tensor_free(ts[i]);
    }
    CHECK(locus_set_precision(LOCUS_FAST) == 0);
}

static void test_linear_strided_weight(void) {
    /* a weight that is a column slice of a wider matrix: rows strided, elements contiguous */
    int64_t wide[2] = {24, 100}, xs[2] = {5, 64}, os[2] = {5, 24};
    locus_tensor *big = randn(LOCUS_BF16, 2, wide, 9, 0.1), *x = randn(LOCUS_F32, 2, xs, 10, 1.0);
    locus_tensor *w = locus_view_narrow(big, 1, 10, 64), *wc = locus_contiguous(w);
    locus_tensor *a = locus_tensor_empty(LOCUS_F32, 2, os), *b = locus_tensor_empty(LOCUS_F32, 2, os);
    CHECK(locus_linear(a, x, w, NULL) == 0 && locus_linear(b, x, wc, NULL) == 0);
    CHECK(f32_close(locus_tensor_data(a), locus_tensor_data(b), 5 * 24, 64, 1, "strided weight"));
    locus_tensor *ts[] = {big, x, w, wc, a, b};
    for (int i = 0; i < 6; i++) locus_tensor_free(ts[i]);
}

struct matmul_ctx {
    locus_tensor *a, *b;
};
static int run_matmul(locus_tensor *out, void *c) {
    struct matmul_ctx *m = c;
    return locus_matmul(out, m->a, m->b);
}

static void test_matmul_paths(void) {
    /* [3, 1, 7, 9] @ [4, 9, 5] -> [3, 4, 7, 5], b given as a transposed view */
    int64_t as[4] = {3, 1, 7, 9}, bts[3] = {4, 5, 9}, os[4] = {3, 4, 7, 5};
    locus_tensor *a = randn(LOCUS_F32, 4, as, 21, 1.0), *bt = randn(LOCUS_F32, 3, bts, 22, 1.0);
    struct matmul_ctx m = {a, locus_view_transpose(bt, 1, 2)};
    locus_tensor *out = locus_tensor_empty(LOCUS_F32, 4, os);
    compare_paths(run_matmul, &m, out, 9, "batched matmul");
    locus_tensor_free(m.b);
    /* odd sizes, both operands transposed views */
    int64_t a2[2] = {65, 17}, b2[2] = {33, 65}, o2[2] = {17, 33};
    locus_tensor *x = randn(LOCUS_F32, 2, a2, 23, 1.0), *y = randn(LOCUS_F32, 2, b2, 24, 1.0);
    struct matmul_ctx m2 = {locus_view_transpose(x, 0, 1), locus_view_transpose(y, 0, 1)};
    locus_tensor *out2 = locus_tensor_empty(LOCUS_F32, 2, o2);
    compare_paths(run_matmul, &m2, out2, 65, "transposed matmul");
    locus_tensor *ts[] = {a, bt, out, x, y, m2.a, m2.b, out2};
    for (int i = 0; i < 8; i++) locus_tensor_free(ts[i]);
}

struct conv_ctx {
    locus_tensor *x, *w, *b;
    int s, p;
};
static int run_conv(locus_tensor *out, void *c) {
    struct conv_ctx *v = c;
    return locus_conv2d(out, v->x, v->w, v->b, v->s, v->s, v->p, v->p);
}

static void test_conv_paths(void) {
    static const struct {
        int64_t b, c, h, w, o, k;
        int s, p;
    } cases[] = {{1, 3, 28, 28, 16, 14, 14, 0}, {2, 3, 17, 13, 5, 3, 1, 1}, {1, 4, 9, 9, 6, 5, 2, 2}};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        int64_t xs[4] = {cases[i].b, cases[i].c, cases[i].h, cases[i].w};
        int64_t ws[4] = {cases[i].o, cases[i].c, cases[i].k, cases[i].k}, bs[1] = {cases[i].o};
        struct conv_ctx v = {randn(LOCUS_F32, 4, xs, 30 + i, 1.0), randn(LOCUS_F32, 4, ws, 40 + i, 0.1),
                             randn(LOCUS_F32, 1, bs, 50 + i, 0.1), cases[i].s, cases[i].p};
        int64_t oh = (cases[i].h + 2 * cases[i].p - cases[i].k) / cases[i].s + 1;
        int64_t ow = (cases[i].w + 2 * cases[i].p - cases[i].k) / cases[i].s + 1;
        int64_t os[4] = {cases[i].b, cases[i].o, oh, ow};
        locus_tensor *out = locus_tensor_empty(LOCUS_F32, 4, os);
        compare_paths(run_conv, &v, out, (double)(cases[i].c * cases[i].k * cases[i].k), "conv2d");
        locus_tensor *ts[] = {v.x, v.w, v.b, out};
        for (int j = 0; j < 4; j++) locus_tensor_free(ts[j]);
    }
}

struct attention_ctx {
    locus_tensor *q, *k, *v;
    int64_t pos0;
    int causal;
};
static int run_attention(locus_tensor *out, void *c) {
    struct attention_ctx *a = c;
    return locus_attention(out, a->q, a->k, a->v, a->pos0, a->causal);
}

/* the GEMM path (many rows) against the reference's row-by-row dots, causal over a cache with GQA
 * and full */
static void test_attention_paths(void) {
    int64_t qs[3] = {40, 8, 16}, ks[3] = {64, 2, 16};
    locus_tensor *q = randn(LOCUS_F32, 3, qs, 70, 1.0), *k = randn(LOCUS_F32, 3, ks, 71, 1.0), *v = randn(LOCUS_F32, 3, ks, 72, 1.0);
    locus_tensor *out = locus_tensor_empty(LOCUS_F32, 3, qs);
    struct attention_ctx causal = {q, k, v, 17, 1}, full = {q, k, v, 0, 0};
    compare_paths(run_attention, &causal, out, 64, "causal attention");
    compare_paths(run_attention, &full, out, 64, "full attention");
    locus_tensor *ts[] = {q, k, v, out};
    for (int i = 0; i < 4; i++) locus_tensor_free(ts[i]);
}

/* Plain attention in double, reading k and v as f32 [S, KVH, D] (an f16 cache widened exactly by
 * locus_cast): the reference for both paths. Causal rows see keys 0 .. pos0 + row. */
static void attention_ref(float *out, const locus_tensor *q, const locus_tensor *k16, const locus_tensor *v16, int64_t pos0,
                          int causal) {
    locus_tensor *k = locus_cast(k16, LOCUS_F32), *v = locus_cast(v16, LOCUS_F32);
    const float *qd = locus_tensor_data(q), *kd = locus_tensor_data(k), *vd = locus_tensor_data(v);
    int64_t t = q->sizes[0], h = q->sizes[1], d = q->sizes[2], kvh = k->sizes[1], s = k->sizes[0];
    double *p = malloc((size_t)s * sizeof(double));
    for (int64_t r = 0; r < t; r++)
        for (int64_t head = 0; head < h; head++) {
            int64_t kv = head / (h / kvh), n = causal ? pos0 + r + 1 : s;
            const float *qr = qd + (r * h + head) * d;
            double mx = -INFINITY, sum = 0;
            for (int64_t j = 0; j < n; j++) {
                double dot = 0;
                for (int64_t e = 0; e < d; e++) dot += (double)qr[e] * kd[(j * kvh + kv) * d + e];
                p[j] = dot / sqrt((double)d);
                mx = fmax(mx, p[j]);
            }
            for (int64_t j = 0; j < n; j++) sum += p[j] = exp(p[j] - mx);
            for (int64_t e = 0; e < d; e++) {
                double y = 0;
                for (int64_t j = 0; j < n; j++) y += p[j] * vd[(j * kvh + kv) * d + e];
                out[(r * h + head) * d + e] = (float)(y / sum);
            }
        }
    free(p);
    locus_tensor_free(k);
    locus_tensor_free(v);
}

/* [S, KVH, D] keys or values: token-major (contiguous) or head-major (stored [KVH, S + 9, D], as the
 * decoder's cache is with room to spare, narrowed to S and viewed as [S, KVH, D]) */
static locus_tensor *kv_tensor(int dtype, int64_t s, int64_t kvh, int64_t d, int head_major, uint64_t seed) {
    int64_t tok[3] = {s, kvh, d}, head[3] = {kvh, s + 9, d};
    locus_tensor *f = randn(LOCUS_F32, 3, head_major ? head : tok, seed, 1.0), *c = locus_cast(f, dtype);
    locus_tensor_free(f);
    if (!head_major) return c;
    locus_tensor *n = locus_view_narrow(c, 1, 0, s), *t = locus_view_transpose(n, 0, 1);
    locus_tensor_free(n);
    locus_tensor_free(c); /* views keep the storage */
    return t;
}

/* Both paths (the row-by-row reference kernels, and the fused blocks from 16 rows on) against
 * plain attention in double, on every kernel path: causal and full, GQA, pos0 > 0, T and S not
 * multiples of the 64-row blocks (and T spanning several), a 16-row boundary, f16 caches,
 * head-major and token-major K/V. Error model (check.h): the longest dot product is the sum
 * over the visible keys (S >= D here; D for q k^T), and two products are stacked (scores, then
 * the weighted values). An f16 cache is the same function of the widened values. */
static void test_attention_fused(void) {
    static const struct {
        int64_t t, h, kvh, d, s, pos0;
        int causal, dtype, head_major;
    } cases[] = {
        {100, 8, 2, 32, 150, 37, 1, LOCUS_F32, 1}, {100, 4, 4, 32, 137, 0, 0, LOCUS_F32, 0},
        {70, 4, 2, 64, 90, 20, 1, LOCUS_F16, 1},   {70, 4, 1, 64, 131, 0, 0, LOCUS_F16, 1},
        {16, 4, 2, 16, 16, 0, 1, LOCUS_F32, 0},    {129, 2, 1, 128, 200, 71, 1, LOCUS_F16, 0},
        {3, 4, 2, 32, 70, 60, 1, LOCUS_F32, 1},    {1, 4, 2, 32, 200, 150, 1, LOCUS_F16, 1},
    };
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        int64_t qs[3] = {cases[c].t, cases[c].h, cases[c].d};
        locus_tensor *q = randn(LOCUS_F32, 3, qs, 80 + c, 2.0); /* peaked softmax: the max moves between blocks */
        locus_tensor *k = kv_tensor(cases[c].dtype, cases[c].s, cases[c].kvh, cases[c].d, cases[c].head_major, 90 + c);
        locus_tensor *v = kv_tensor(cases[c].dtype, cases[c].s, cases[c].kvh, cases[c].d, !cases[c].head_major, 100 + c);
        locus_tensor *out = locus_tensor_empty(LOCUS_F32, 3, qs), *want = locus_tensor_empty(LOCUS_F32, 3, qs);
        attention_ref(locus_tensor_data(want), q, k, v, cases[c].pos0, cases[c].causal);
        int64_t keys = cases[c].causal ? cases[c].pos0 + cases[c].t : cases[c].s;
        for (int p = 0; p < 3; p++) {
            if (locus_set_kernel_path(paths[p]) != 0) continue;
            locus_fill(out, NAN);
            CHECK(locus_attention(out, q, k, v, cases[c].pos0, cases[c].causal) == 0);
            char what[160];
            snprintf(what, sizeof what, "attention case %zu (t %lld, %s, %s, %s) [%s]", c, (long long)cases[c].t,
                     cases[c].causal ? "causal" : "full", locus_dtype_name(cases[c].dtype),
                     cases[c].head_major ? "head-major k" : "token-major k", paths[p]);
            if (!f32_close(locus_tensor_data(out), locus_tensor_data(want), (long)locus_tensor_numel(out),
                           (double)(keys > cases[c].d ? keys : cases[c].d), 2, what))
                check_failures++;
        }
        locus_set_kernel_path("auto");
        locus_tensor *ts[] = {q, k, v, out, want};
        for (int i = 0; i < 5; i++) locus_tensor_free(ts[i]);
    }
    /* rows of D must be contiguous; the other strides are free */
    int64_t qs[3] = {2, 2, 8}, ks[3] = {4, 8, 2};
    locus_tensor *q = randn(LOCUS_F32, 3, qs, 1, 1.0), *kt = randn(LOCUS_F32, 3, ks, 2, 1.0);
    locus_tensor *k = locus_view_transpose(kt, 1, 2), *out = locus_tensor_empty(LOCUS_F32, 3, qs);
    CHECK_ERROR(locus_attention(out, q, k, k, 0, 1), "k must be f32 or f16 [S, kv_heads, 8] with contiguous rows of 8");
    locus_tensor *ts[] = {q, kt, k, out};
    for (int i = 0; i < 4; i++) locus_tensor_free(ts[i]);
}

/* Attention's vector kernels (kernels/vec.h) on every path against exact values in double: max
 * exactly; exp_sum's terms within vec.h's 2 ulp of exp (and under FLT_MIN where exp is: the
 * vector paths flush below -87.3) and its sum within the bound for adding n positive terms,
 * n u of the sum, on top; axpy within an ulp of y + a x (one FMA, or a product and a sum).
 * Lengths cover the vector widths' tails; arguments reach -300. */
static void test_softmax_kernels(void) {
    static const int64_t ns[] = {0, 1, 7, 8, 9, 15, 16, 17, 100, 1000};
    const locus_vec_kernels *tables[3] = {&locus_vec_ref, &locus_vec_avx2, &locus_vec_avx512};
    double ulp = ldexp(1.0, -23);
    for (int p = 0; p < 3; p++) {
        if (locus_set_kernel_path(paths[p]) != 0) continue;
        const locus_vec_kernels *vk = tables[p];
        for (size_t c = 0; c < sizeof ns / sizeof *ns; c++) {
            int64_t n = ns[c], shape[1] = {n > 0 ? n : 1};
            locus_tensor *xt = randn(LOCUS_F32, 1, shape, 200 + c, 30.0), *yt = randn(LOCUS_F32, 1, shape, 300 + c, 1.0);
            float *x = locus_tensor_data(xt), *y = locus_tensor_data(yt);
            /* all below zero, so a lane that is not masked off (a 0) would show */
            float e[1000], in[1000], mx = -INFINITY;
            for (int64_t i = 0; i < n; i++) {
                in[i] = e[i] = -fabsf(x[i]) - 1;
                mx = e[i] > mx ? e[i] : mx;
            }
            if (vk->max_f32(e, n) != mx) {
                fprintf(stderr, "  %s max_f32 n=%lld: %g, expected %g\n", paths[p], (long long)n, vk->max_f32(e, n), mx);
                check_failures++;
            }
            /* shift 0 and scale 1/2 keep the arguments exact, so only exp's own error is left */
            double want = 0, u = ldexp(1.0, -24);
            float got = vk->exp_sum(e, n, 0.0f, 0.5f);
            for (int64_t i = 0; i < n; i++) {
                double ex = exp(0.5 * in[i]);
                want += ex;
                if (!(fabs(e[i] - ex) <= 2 * ulp * ex + FLT_MIN)) {
                    fprintf(stderr, "  %s exp_sum n=%lld: term %lld is %.9g, exp is %.9g\n", paths[p], (long long)n, (long long)i,
                            e[i], ex);
                    check_failures++;
                    break;
                }
            }
            if (!(fabs(got - want) <= ((double)n * u + 2 * ulp) * want + FLT_MIN * (double)n)) {
                fprintf(stderr, "  %s exp_sum n=%lld: sum %.9g, expected %.9g\n", paths[p], (long long)n, got, want);
                check_failures++;
            }
            float acc[1000];
            uint16_t half[1000];
            for (int64_t i = 0; i < n; i++) {
                acc[i] = y[i];
                half[i] = locus_float_to_half(x[i] / 30);
            }
            vk->axpy_f32(acc, 0.3f, x, n);
            for (int64_t i = 0; i < n; i++) {
                double ex = (double)y[i] + 0.3f * (double)x[i];
                if (!(fabs(acc[i] - ex) <= ulp * (fabs(y[i]) + fabs(0.3f * x[i])))) {
                    fprintf(stderr, "  %s axpy_f32 n=%lld: %lld is %.9g, expected %.9g\n", paths[p], (long long)n, (long long)i, acc[i], ex);
                    check_failures++;
                    break;
                }
                acc[i] = y[i];
            }
            vk->axpy_f16(acc, -1.5f, half, n);
            for (int64_t i = 0; i < n; i++) {
                double h = locus_half_to_float(half[i]), ex = (double)y[i] - 1.5 * h;
                if (!(fabs(acc[i] - ex) <= ulp * (fabs(y[i]) + fabs(1.5 * h)))) {
                    fprintf(stderr, "  %s axpy_f16 n=%lld: %lld is %.9g, expected %.9g\n", paths[p], (long long)n, (long long)i, acc[i], ex);
                    check_failures++;
                    break;
                }
            }
            locus_tensor_free(xt);
            locus_tensor_free(yt);
        }
    }
    locus_set_kernel_path("auto");
}

static void test_threads_agree(void) {
    int64_t xs[2] = {24, 515}, ws[2] = {300, 515}, os[2] = {24, 300};
    locus_tensor *x = randn(LOCUS_F32, 2, xs, 60, 1.0), *w = randn(LOCUS_BF16, 2, ws, 61, 0.05);
    locus_tensor *a = locus_tensor_empty(LOCUS_F32, 2, os), *b = locus_tensor_empty(LOCUS_F32, 2, os);
    int n = locus_num_threads();
    locus_set_num_threads(1);
    CHECK(locus_linear(a, x, w, NULL) == 0);
    locus_set_num_threads(2);
    CHECK(locus_linear(b, x, w, NULL) == 0);
    locus_set_num_threads(n);
    CHECK(f32_close(locus_tensor_data(a), locus_tensor_data(b), 24 * 300, 515, 1, "1 vs 2 threads"));
    locus_tensor *ts[] = {x, w, a, b};
    for (int i = 0; i < 4; i++) locus_tensor_free(ts[i]);
}

static void test_op_errors(void) {
    int64_t s23[2] = {2, 3}, s32[2] = {3, 2}, s22[2] = {2, 2}, s4[1] = {4}, s2[1] = {2};
    locus_tensor *a = locus_tensor_new(LOCUS_F32, 2, s23), *b = locus_tensor_new(LOCUS_F32, 2, s32);
    locus_tensor *o22 = locus_tensor_new(LOCUS_F32, 2, s22), *o23 = locus_tensor_new(LOCUS_F32, 2, s23);
    locus_tensor *v4 = locus_tensor_new(LOCUS_F32, 1, s4), *i2 = locus_tensor_new(LOCUS_I64, 1, s2);
    CHECK_ERROR(locus_matmul(o22, a, a), "matmul: cannot multiply [2, 3] f32 by [2, 3] f32");
    CHECK_ERROR(locus_matmul(o23, a, b), "matmul: out has shape [2, 3] f32, expected [2, 2]");
    CHECK_ERROR(locus_linear(o23, a, a, NULL), "linear: out has shape [2, 3] f32, expected [2, 2]");
    CHECK_ERROR(locus_linear(o22, a, b, NULL), "does not match weight [3, 2] f32 (last dim must be 2)");
    CHECK_ERROR(locus_add(o23, a, v4), "add: shapes [2, 3] f32 and [4] f32 do not broadcast");
    CHECK_ERROR(locus_layer_norm(o23, a, v4, NULL, 1e-5f), "layer_norm: weight must be a float vector of 3 elements");
    CHECK_ERROR(locus_softmax(i2, v4), "softmax: out must be contiguous f32, got [2] i64");
    CHECK_ERROR(locus_embedding(o23, a, v4), "embedding: ids must be i32 or i64");
    CHECK_ERROR(locus_rope(o23, a, 0, 10000.0f, 0), "rope: x must be float [..., T, heads, D]");
    CHECK_ERROR(locus_topk(o22, i2, a, 5), "topk: k = 5 is not in 1..3");
    CHECK_ERROR(locus_sum(o22, a, 2), "sum: dim 2 out of range");
    CHECK_ERROR(locus_linear(o22, NULL, a, NULL), "linear: x is NULL");
    locus_tensor *ts[] = {a, b, o22, o23, v4, i2};
    for (int i = 0; i < 6; i++) locus_tensor_free(ts[i]);
}

int main(void) {
    printf("kernel path: %s (cpu: %s)\n", locus_kernel_path(), locus_cpu_features());
    RUN(test_linear_paths);
    RUN(test_linear_bf16_activations);
    RUN(test_linear_strided_weight);
    RUN(test_matmul_paths);
    RUN(test_conv_paths);
    RUN(test_attention_paths);
    RUN(test_attention_fused);
    RUN(test_softmax_kernels);
    RUN(test_threads_agree);
    RUN(test_op_errors);
    return check_failures != 0;
}
