/* bench_matmul — GFLOP/s of y = x W^T at LLM shapes, locus next to the libraries it stands on.
 *
 *   build/benchmarks/bench_matmul [--quick] [--csv]
 * (benchmarks/matmul.lua runs it next to PyTorch and prints both with ratios.)
 *
 * For M (rows of x: 1 = one decoded token, 16 = a short prompt, 576 = an image's patches) and
 * (N, K) of LLaMA-7B's projections, it times
 *   locus f32       locus_linear with f32 weights (OpenBLAS underneath)
 *   locus bf16      locus_linear with bf16 weights and f32 activations (our kernels)
 *   OpenBLAS f32   cblas_sgemm directly
 *   oneDNN f32     dnnl matmul, f32, weights reordered once into oneDNN's preferred layout
 *   oneDNN bf16    dnnl matmul, bf16 x bf16 -> f32 (activations rounded to bf16, which locus
 *                  does not do), weights reordered once
 * Each cell is the median of repeated runs (at least 3, about 0.6 s in all) after one warm-up.
 * Prints a Markdown table, or CSV lines with --csv. */
#include "locus.h"

#include <cblas.h>
#include <oneapi/dnnl/dnnl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

typedef void (*run_fn)(void *ctx);

static double median_seconds(run_fn fn, void *ctx, double budget) {
    double times[64];
    int n = 0;
    fn(ctx); /* warm-up: page in weights, build primitives */
    double start = now();
    while (n < 64 && (n < 3 || now() - start < budget)) {
        double t0 = now();
        fn(ctx);
        times[n++] = now() - t0;
    }
    qsort(times, (size_t)n, sizeof *times, cmp_double);
    return times[n / 2];
}

/* ---- locus and OpenBLAS ------------------------------------------------------------------------ */
struct locus_case {
    locus_tensor *out, *x, *w;
};
static void run_locus(void *c) {
    struct locus_case *l = c;
    if (locus_linear(l->out, l->x, l->w, NULL)) {
        fprintf(stderr, "locus_linear: %s\n", locus_last_error());
        exit(1);
    }
}

struct blas_case {
    int m, n, k;
    const float *x, *w;
    float *y;
};
static void run_blas(void *c) {
    struct blas_case *b = c;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, b->m, b->n, b->k, 1.0f, b->x, b->k, b->w, b->k, 0.0f,
                b->y, b->n);
}

/* ---- oneDNN ------------------------------------------------------------------------------------ */
#define DNNL_OK(call)                                                                             \
    do {                                                                                          \
        dnnl_status_t s_ = (call);                                                                \
        if (s_ != dnnl_success) {                                                                 \
            fprintf(stderr, "%s failed: %d\n", #call, (int)s_);                                  \
            exit(1);                                                                              \
        }                                                                                         \
    } while (0)

struct dnnl_case {
    dnnl_engine_t engine;
    dnnl_stream_t stream;
    dnnl_primitive_t prim;
    dnnl_memory_t src, wei, dst;
};
static void run_dnnl(void *c) {
    struct dnnl_case *d = c;
    dnnl_exec_arg_t args[3] = {{DNNL_ARG_SRC, d->src}, {DNNL_ARG_WEIGHTS, d->wei}, {DNNL_ARG_DST, d->dst}};
    DNNL_OK(dnnl_primitive_execute(d->prim, d->stream, 3, args));
    DNNL_OK(dnnl_stream_wait(d->stream));
}

/* Builds a matmul of x [m, k] (dtype dt) by w^T where w is [n, k] f32 in plain row-major; the
 * weights are converted and reordered once into the layout the primitive prefers. */
static void dnnl_setup(struct dnnl_case *d, dnnl_engine_t engine, dnnl_data_type_t dt, int m, int n, int k,
                       const float *x, const float *w) {
    memset(d, 0, sizeof *d);
    d->engine = engine;
    DNNL_OK(dnnl_stream_create(&d->stream, engine, dnnl_stream_default_flags));
    dnnl_dims_t sd = {m, k}, wd = {k, n}, dd = {m, n};
    dnnl_memory_desc_t src_md, wei_any, wei_plain_f32, src_f32, dst_md;
    DNNL_OK(dnnl_memory_desc_init_by_tag(&src_md, 2, sd, dt, dnnl_ab));
    DNNL_OK(dnnl_memory_desc_init_by_tag(&src_f32, 2, sd, dnnl_f32, dnnl_ab));
    DNNL_OK(dnnl_memory_desc_init_by_tag(&wei_any, 2, wd, dt, dnnl_format_tag_any));
    DNNL_OK(dnnl_memory_desc_init_by_tag(&wei_plain_f32, 2, wd, dnnl_f32, dnnl_ba)); /* [n, k] storage */
    DNNL_OK(dnnl_memory_desc_init_by_tag(&dst_md, 2, dd, dnnl_f32, dnnl_ab));
    dnnl_matmul_desc_t md;
    DNNL_OK(dnnl_matmul_desc_init(&md, &src_md, &wei_any, NULL, &dst_md));
    dnnl_primitive_desc_t pd;
    DNNL_OK(dnnl_primitive_desc_create(&pd, &md, NULL, engine, NULL));
    DNNL_OK(dnnl_primitive_create(&d->prim, pd));
    const dnnl_memory_desc_t *wei_md = dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0);
    DNNL_OK(dnnl_memory_create(&d->src, &src_md, engine, DNNL_MEMORY_ALLOCATE));
    DNNL_OK(dnnl_memory_create(&d->wei, wei_md, engine, DNNL_MEMORY_ALLOCATE));
    DNNL_OK(dnnl_memory_create(&d->dst, &dst_md, engine, DNNL_MEMORY_ALLOCATE));
    /* fill src and weights through reorders from the f32 originals */
    dnnl_memory_t xs, ws;
    DNNL_OK(dnnl_memory_create(&xs, &src_f32, engine, (void *)x));
    DNNL_OK(dnnl_memory_create(&ws, &wei_plain_f32, engine, (void *)w));
    const dnnl_memory_t froms[2] = {xs, ws}, tos[2] = {d->src, d->wei};
    const dnnl_memory_desc_t *from_mds[2] = {&src_f32, &wei_plain_f32}, *to_mds[2] = {&src_md, wei_md};
    for (int i = 0; i < 2; i++) {
        dnnl_primitive_desc_t rpd;
        dnnl_primitive_t r;
        DNNL_OK(dnnl_reorder_primitive_desc_create(&rpd, from_mds[i], engine, to_mds[i], engine, NULL));
        DNNL_OK(dnnl_primitive_create(&r, rpd));
        dnnl_exec_arg_t args[2] = {{DNNL_ARG_FROM, froms[i]}, {DNNL_ARG_TO, tos[i]}};
        DNNL_OK(dnnl_primitive_execute(r, d->stream, 2, args));
        DNNL_OK(dnnl_stream_wait(d->stream));
        dnnl_primitive_destroy(r);
        dnnl_primitive_desc_destroy(rpd);
    }
    dnnl_memory_destroy(xs);
    dnnl_memory_destroy(ws);
    dnnl_primitive_desc_destroy(pd);
}

static void dnnl_teardown(struct dnnl_case *d) {
    dnnl_memory_destroy(d->src);
    dnnl_memory_destroy(d->wei);
    dnnl_memory_destroy(d->dst);
    dnnl_primitive_destroy(d->prim);
    dnnl_stream_destroy(d->stream);
}

int main(int argc, char **argv) {
    int quick = 0, csv = 0;
    for (int i = 1; i < argc; i++) {
        quick |= strcmp(argv[i], "--quick") == 0;
        csv |= strcmp(argv[i], "--csv") == 0;
    }
    double budget = quick ? 0.15 : 0.6;
    static const int ms[] = {1, 16, 576};
    static const int nks[][2] = {{4096, 4096}, {11008, 4096}, {4096, 11008}};
    dnnl_engine_t engine;
    DNNL_OK(dnnl_engine_create(&engine, dnnl_cpu, 0));
    if (csv) {
        printf("M,N,K,locus_f32,locus_bf16,openblas_f32,onednn_f32,onednn_bf16\n");
    } else {
        printf("threads %d, kernels %s, cpu: %s\n\n", locus_num_threads(), locus_kernel_path(), locus_cpu_features());
        printf("| M | N | K | locus f32 | locus bf16 | OpenBLAS f32 | oneDNN f32 | oneDNN bf16 | locus bf16 / best f32 lib |\n");
        printf("|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    }
    for (size_t s = 0; s < sizeof nks / sizeof *nks; s++) {
        int n = nks[s][0], k = nks[s][1];
        int64_t wshape[2] = {n, k};
        locus_tensor *w = locus_tensor_empty(LOCUS_F32, 2, wshape);
        locus_fill_randn(w, 1, 0, 0.02);
        locus_tensor *wb = locus_cast(w, LOCUS_BF16);
        for (size_t mi = 0; mi < sizeof ms / sizeof *ms; mi++) {
            int m = ms[mi];
            if (quick && m == 576 && s > 0) continue;
            int64_t xshape[2] = {m, k}, oshape[2] = {m, n};
            locus_tensor *x = locus_tensor_empty(LOCUS_F32, 2, xshape), *out = locus_tensor_empty(LOCUS_F32, 2, oshape);
            locus_fill_randn(x, 2, 0, 1);
            double flop = 2.0 * m * n * k, gf[5];
            struct locus_case lf = {out, x, w}, lb = {out, x, wb};
            gf[0] = flop / median_seconds(run_locus, &lf, budget) / 1e9;
            gf[1] = flop / median_seconds(run_locus, &lb, budget) / 1e9;
            struct blas_case bc = {m, n, k, locus_tensor_data(x), locus_tensor_data(w), locus_tensor_data(out)};
            gf[2] = flop / median_seconds(run_blas, &bc, budget) / 1e9;
            struct dnnl_case d;
            dnnl_setup(&d, engine, dnnl_f32, m, n, k, locus_tensor_data(x), locus_tensor_data(w));
            gf[3] = flop / median_seconds(run_dnnl, &d, budget) / 1e9;
            dnnl_teardown(&d);
            dnnl_setup(&d, engine, dnnl_bf16, m, n, k, locus_tensor_data(x), locus_tensor_data(w));
            gf[4] = flop / median_seconds(run_dnnl, &d, budget) / 1e9;
            dnnl_teardown(&d);
            double best_f32 = gf[2] > gf[3] ? gf[2] : gf[3];
            if (csv)
                printf("%d,%d,%d,%.2f,%.2f,%.2f,%.2f,%.2f\n", m, n, k, gf[0], gf[1], gf[2], gf[3], gf[4]);
            else
                printf("| %d | %d | %d | %.1f | %.1f | %.1f | %.1f | %.1f | %.2f |\n", m, n, k, gf[0], gf[1], gf[2],
                       gf[3], gf[4], gf[1] / best_f32);
            fflush(stdout);
            locus_tensor_free(x);
            locus_tensor_free(out);
        }
        locus_tensor_free(w);
        locus_tensor_free(wb);
    }
    dnnl_engine_destroy(engine);
    return 0;
}
