/* The fused decoder in C: decoding token by token equals one forward over the whole sequence,
 * for f32, bf16 and q8_0 weights, and a decoded token allocates no memory at all (malloc and
 * friends are counted by interposing them; skipped under AddressSanitizer, which owns malloc). */
#include "check.h"

#include <stdlib.h>

#ifndef __SANITIZE_ADDRESS__
void *__libc_malloc(size_t);
void *__libc_calloc(size_t, size_t);
void *__libc_realloc(void *, size_t);
void *__libc_memalign(size_t, size_t);
void __libc_free(void *);
static int counting = 0;
static long allocations = 0;
void *malloc(size_t n) {
    allocations += counting;
    return __libc_malloc(n);
}
void *calloc(size_t n, size_t m) {
    allocations += counting;
    return __libc_calloc(n, m);
}
void *realloc(void *p, size_t n) {
    allocations += counting;
    return __libc_realloc(p, n);
}
void *aligned_alloc(size_t a, size_t n) {
    allocations += counting;
    return __libc_memalign(a, n);
}
int posix_memalign(void **p, size_t a, size_t n) {
    allocations += counting;
    *p = __libc_memalign(a, n);
    return *p ? 0 : 12;
}
void free(void *p) { __libc_free(p); }
#endif

enum { LAYERS = 2, DIM = 64, HEADS = 4, KV_HEADS = 2, HIDDEN = 96, VOCAB = 160, CTX = 48, PROMPT = 20,
       LONG = 150 }; /* LONG: a context that spans several of attention's 64-row blocks */

static locus_tensor *randn(int dtype, int64_t rows, int64_t cols, uint64_t seed, double std) {
    int64_t shape[2] = {rows, cols};
    locus_tensor *f = locus_tensor_empty(LOCUS_F32, cols ? 2 : 1, shape);
    locus_fill_randn(f, seed, cols ? 0 : 1, std);
    locus_tensor *t = locus_cast(f, dtype);
    locus_tensor_free(f);
    return t;
}

static locus_decoder *build_ctx(int dtype, int kv_dtype, int64_t ctx, locus_tensor **keep, int *nkeep) {
    locus_decoder_config cfg = {LAYERS, DIM, HEADS, KV_HEADS, HIDDEN, VOCAB, 1e-5f, 10000.0f, 0, ctx, kv_dtype};
    locus_decoder *d = locus_decoder_new(&cfg);
    uint64_t seed = 100;
    for (int l = 0; l < LAYERS; l++) {
        locus_tensor *w[9] = {randn(LOCUS_F32, DIM, 0, seed++, 0.1), randn(dtype, DIM, DIM, seed++, 0.125),
                             randn(dtype, DIM / 2, DIM, seed++, 0.125), randn(dtype, DIM / 2, DIM, seed++, 0.125),
                             randn(dtype, DIM, DIM, seed++, 0.125), randn(LOCUS_F32, DIM, 0, seed++, 0.1),
                             randn(dtype, HIDDEN, DIM, seed++, 0.125), randn(dtype, HIDDEN, DIM, seed++, 0.125),
                             randn(dtype, DIM, HIDDEN, seed++, 0.1)};
        CHECK(locus_decoder_set_layer(d, l, w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7], w[8]) == 0);
        for (int i = 0; i < 9; i++) keep[(*nkeep)++] = w[i];
    }
    locus_tensor *norm = randn(LOCUS_F32, DIM, 0, seed++, 0.1), *head = randn(dtype, VOCAB, DIM, seed++, 0.125);
    CHECK(locus_decoder_set_output(d, norm, head) == 0);
    keep[(*nkeep)++] = norm;
    keep[(*nkeep)++] = head;
    return d;
}

static locus_decoder *build(int dtype, int kv_dtype, locus_tensor **keep, int *nkeep) {
    return build_ctx(dtype, kv_dtype, CTX, keep, nkeep);
}

static void check_dtype(int dtype, int kv_dtype) {
    locus_tensor *keep[64];
    int nkeep = 0;
    locus_decoder *d = build(dtype, kv_dtype, keep, &nkeep);
    int64_t xs[2] = {PROMPT + 12, DIM}, ls[2] = {PROMPT + 12, VOCAB}, one_x[2] = {1, DIM}, one_l[2] = {1, VOCAB};
    locus_tensor *x = locus_tensor_empty(LOCUS_F32, 2, xs), *all = locus_tensor_empty(LOCUS_F32, 2, ls);
    locus_fill_randn(x, 7, 0, 1);
    CHECK(locus_decoder_forward(d, x, 0, all) == 0); /* everything at once */
    locus_tensor *px = locus_view_narrow(x, 0, 0, PROMPT), *pl = locus_tensor_empty(LOCUS_F32, 2, one_l);
    CHECK(locus_decoder_forward(d, px, 0, pl) == 0); /* the prompt, keeping the last row */
    locus_tensor *row = locus_tensor_empty(LOCUS_F32, 2, one_x), *logits = locus_tensor_empty(LOCUS_F32, 2, one_l);
    for (int step = 0; step < 12; step++) {
        locus_tensor *src = locus_view_narrow(x, 0, PROMPT + step, 1);
        CHECK(locus_copy(row, src) == 0);
        locus_tensor_free(src);
#ifndef __SANITIZE_ADDRESS__
        counting = step >= 3; /* after warm-up (thread pools, first-touch) */
#endif
        CHECK(locus_decoder_forward(d, row, PROMPT + step, logits) == 0);
#ifndef __SANITIZE_ADDRESS__
        counting = 0;
#endif
        locus_tensor *want = locus_view_narrow(all, 0, PROMPT + step, 1);
        char what[64];
        snprintf(what, sizeof what, "%s decode step %d", locus_dtype_name(dtype), step);
        if (!f32_close(locus_tensor_data(logits), locus_tensor_data(want), VOCAB, HIDDEN, LAYERS + 1, what)) check_failures++;
        locus_tensor_free(want);
    }
#ifndef __SANITIZE_ADDRESS__
    if (allocations != 0) fprintf(stderr, "  %s: %ld allocations in 9 decoded tokens\n", locus_dtype_name(dtype), allocations);
    CHECK(allocations == 0);
    allocations = 0;
#endif
    /* past the context: a clear error */
    CHECK_ERROR(locus_decoder_forward(d, row, CTX, logits), "exceed the context of 48 tokens");
    locus_tensor *ts[] = {x, all, px, pl, row, logits};
    for (size_t i = 0; i < sizeof ts / sizeof *ts; i++) locus_tensor_free(ts[i]);
    for (int i = 0; i < nkeep; i++) locus_tensor_free(keep[i]);
    locus_decoder_free(d);
}

static void test_f32(void) { check_dtype(LOCUS_F32, LOCUS_F32); }
static void test_bf16(void) { check_dtype(LOCUS_BF16, LOCUS_F32); }
static void test_q8_0(void) { check_dtype(LOCUS_Q8_0, LOCUS_F32); }
static void test_f16_cache(void) { check_dtype(LOCUS_F32, LOCUS_F16); }
/* bf16 precision: the prompt through oneDNN's bf16 matmul, decoded tokens through vdpbf16ps dots
 * (on CPUs with AVX512_BF16), both on the same bf16-rounded activations */
static void test_bf16_precision(void) {
    CHECK(locus_set_precision(LOCUS_FAST_BF16) == 0);
    check_dtype(LOCUS_BF16, LOCUS_F32);
    CHECK(locus_set_precision(LOCUS_FAST) == 0);
}

/* An f16 KV cache against the f32 one on the same weights: keys and values are rounded to 11
 * significant bits (relative error 2^-11), which moves the attention scores and the weighted
 * values by about that; stacked over the layers, the logits stay within 4 * 2^-11 * layers of
 * their scale. */
static void test_f16_cache_error(void) {
    locus_tensor *keep[128];
    int nkeep = 0;
    locus_decoder *a = build(LOCUS_F32, LOCUS_F32, keep, &nkeep), *b = build(LOCUS_F32, LOCUS_F16, keep, &nkeep);
    int64_t xs[2] = {PROMPT, DIM}, ls[2] = {PROMPT, VOCAB};
    locus_tensor *x = locus_tensor_empty(LOCUS_F32, 2, xs), *la = locus_tensor_empty(LOCUS_F32, 2, ls), *lb = locus_tensor_empty(LOCUS_F32, 2, ls);
    locus_fill_randn(x, 9, 0, 1);
    CHECK(locus_decoder_forward(a, x, 0, la) == 0 && locus_decoder_forward(b, x, 0, lb) == 0);
    const float *pa = locus_tensor_data(la), *pb = locus_tensor_data(lb);
    double scale = 0, worst = 0;
    for (int64_t i = 0; i < PROMPT * VOCAB; i++) {
        scale = fmax(scale, fabs(pa[i]));
        worst = fmax(worst, fabs((double)pa[i] - pb[i]));
    }
    double bound = 4 * ldexp(1.0, -11) * LAYERS * scale;
    if (!(worst <= bound) || worst == 0) {
        fprintf(stderr, "  f16 cache: logits off by %.3g (bound %.3g, scale %.3g)\n", worst, bound, scale);
        check_failures++;
    }
    locus_tensor *kv = locus_decoder_cache(b);
    CHECK(kv && kv->type == LOCUS_F16 && kv->ndim == 5 && kv->sizes[2] == KV_HEADS && kv->sizes[3] == CTX &&
          kv->sizes[4] == DIM / HEADS); /* [layers, 2, kv_heads, max_context, head_dim] */
    locus_tensor_free(kv);
    locus_tensor *ts[] = {x, la, lb};
    for (int i = 0; i < 3; i++) locus_tensor_free(ts[i]);
    for (int i = 0; i < nkeep; i++) locus_tensor_free(keep[i]);
    locus_decoder_free(a);
    locus_decoder_free(b);
}

/* rows [first, first + n) of a forward's logits against rows of the one-call logits `all` */
static void check_rows(locus_decoder *d, const locus_tensor *x, int64_t first, int64_t n, const locus_tensor *all,
                       double bound_scale, const char *what) {
    int64_t ls[2] = {n, VOCAB};
    locus_tensor *xs = locus_view_narrow(x, 0, first, n), *got = locus_tensor_empty(LOCUS_F32, 2, ls);
    locus_tensor *xc = locus_contiguous(xs), *want = locus_view_narrow(all, 0, first, n), *wc = locus_contiguous(want);
    CHECK(locus_decoder_forward(d, xc, first, got) == 0);
    const float *g = locus_tensor_data(got), *w = locus_tensor_data(wc);
    if (bound_scale > 0) { /* an f16 cache: the rounding bound of test_f16_cache_error */
        double scale = 0, worst = 0;
        for (int64_t i = 0; i < n * VOCAB; i++) {
            scale = fmax(scale, fabs(w[i]));
            worst = fmax(worst, fabs((double)g[i] - w[i]));
        }
        if (!(worst <= bound_scale * scale)) {
            fprintf(stderr, "  %s: logits off by %.3g (bound %.3g)\n", what, worst, bound_scale * scale);
            check_failures++;
        }
    } else if (!f32_close(g, w, (long)(n * VOCAB), LONG, LAYERS + 1, what)) {
        check_failures++;
    }
    locus_tensor *ts[] = {xs, got, xc, want, wc};
    for (int i = 0; i < 5; i++) locus_tensor_free(ts[i]);
}

/* A prompt of LONG rows in one forward (the fused attention path, three query blocks), in two
 * forwards that reuse the cache (37 rows, then 103 at pos0 = 37: both fused, the second over
 * cached keys), then the last 10 token by token (the row path over the head-major cache): the
 * logits agree within the f32 error model, whose longest dot product is attention's over LONG
 * positions, LAYERS + 1 stages stacked. With an f16 cache the keys a GEMM of another row count
 * computed may round to the neighbouring half, so there the bound is the f16 cache's own. */
static void check_pieces(int kv_dtype) {
    locus_tensor *keep[64];
    int nkeep = 0;
    locus_decoder *d = build_ctx(LOCUS_F32, kv_dtype, LONG, keep, &nkeep);
    int64_t xs[2] = {LONG, DIM}, ls[2] = {LONG, VOCAB};
    locus_tensor *x = locus_tensor_empty(LOCUS_F32, 2, xs), *all = locus_tensor_empty(LOCUS_F32, 2, ls);
    locus_fill_randn(x, 11, 0, 1);
    CHECK(locus_decoder_forward(d, x, 0, all) == 0);
    double f16 = kv_dtype == LOCUS_F16 ? 4 * ldexp(1.0, -11) * LAYERS : 0;
    const char *name = locus_dtype_name(kv_dtype);
    char what[64];
    snprintf(what, sizeof what, "%s cache: first piece", name);
    check_rows(d, x, 0, 37, all, f16, what);
    snprintf(what, sizeof what, "%s cache: second piece", name);
    check_rows(d, x, 37, 103, all, f16, what);
    for (int64_t p = 140; p < LONG; p++) {
        snprintf(what, sizeof what, "%s cache: token %lld", name, (long long)p);
        check_rows(d, x, p, 1, all, f16, what);
    }
    locus_tensor_free(x);
    locus_tensor_free(all);
    for (int i = 0; i < nkeep; i++) locus_tensor_free(keep[i]);
    locus_decoder_free(d);
}

static void test_prefill_pieces(void) {
    check_pieces(LOCUS_F32);
    check_pieces(LOCUS_F16);
}

static void test_bad_configs(void) {
    locus_decoder_config bad = {2, 64, 5, 2, 96, 100, 1e-5f, 10000.0f, 0, 16, LOCUS_F32}; /* 64 not divisible by 5 heads */
    CHECK(locus_decoder_new(&bad) == NULL && strstr(locus_last_error(), "inconsistent config"));
    locus_decoder_config bad_kv = {1, 64, 4, 2, 96, 100, 1e-5f, 10000.0f, 0, 16, LOCUS_BF16}; /* f32 or f16 only */
    CHECK(locus_decoder_new(&bad_kv) == NULL && strstr(locus_last_error(), "inconsistent config"));
    locus_decoder_config ok = {1, 64, 4, 2, 96, 100, 1e-5f, 10000.0f, 0, 16, LOCUS_F32};
    locus_decoder *d = locus_decoder_new(&ok);
    int64_t xs[2] = {2, 64};
    locus_tensor *x = locus_tensor_new(LOCUS_F32, 2, xs), *w = locus_tensor_new(LOCUS_F32, 2, xs);
    CHECK_ERROR(locus_decoder_forward(d, x, 0, NULL), "layer 0 has no weights");
    CHECK_ERROR(locus_decoder_set_layer(d, 0, NULL, w, w, w, w, NULL, w, w, w), "attn_norm must be a float vector of 64");
    CHECK_ERROR(locus_decoder_set_layer(d, 3, NULL, w, w, w, w, NULL, w, w, w), "layer 3 is outside 0..0");
    locus_tensor_free(x);
    locus_tensor_free(w);
    locus_decoder_free(d);
}

int main(void) {
    RUN(test_f32);
    RUN(test_bf16);
    RUN(test_q8_0);
    RUN(test_f16_cache);
    RUN(test_bf16_precision);
    RUN(test_f16_cache_error);
    RUN(test_prefill_pieces);
    RUN(test_bad_configs);
    return check_failures != 0;
}
