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

enum { LAYERS = 2, DIM = 64, HEADS = 4, KV_HEADS = 2, HIDDEN = 96, VOCAB = 160, CTX = 48, PROMPT = 20 };

static lego_tensor *randn(int dtype, int64_t rows, int64_t cols, uint64_t seed, double std) {
    int64_t shape[2] = {rows, cols};
    lego_tensor *f = lego_tensor_empty(LEGO_F32, cols ? 2 : 1, shape);
    lego_fill_randn(f, seed, cols ? 0 : 1, std);
    lego_tensor *t = lego_cast(f, dtype);
    lego_tensor_free(f);
    return t;
}

static lego_decoder *build(int dtype, lego_tensor **keep, int *nkeep) {
    lego_decoder_config cfg = {LAYERS, DIM, HEADS, KV_HEADS, HIDDEN, VOCAB, 1e-5f, 10000.0f, 0, CTX};
    lego_decoder *d = lego_decoder_new(&cfg);
    uint64_t seed = 100;
    for (int l = 0; l < LAYERS; l++) {
        lego_tensor *w[9] = {randn(LEGO_F32, DIM, 0, seed++, 0.1), randn(dtype, DIM, DIM, seed++, 0.125),
                             randn(dtype, DIM / 2, DIM, seed++, 0.125), randn(dtype, DIM / 2, DIM, seed++, 0.125),
                             randn(dtype, DIM, DIM, seed++, 0.125), randn(LEGO_F32, DIM, 0, seed++, 0.1),
                             randn(dtype, HIDDEN, DIM, seed++, 0.125), randn(dtype, HIDDEN, DIM, seed++, 0.125),
                             randn(dtype, DIM, HIDDEN, seed++, 0.1)};
        CHECK(lego_decoder_set_layer(d, l, w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7], w[8]) == 0);
        for (int i = 0; i < 9; i++) keep[(*nkeep)++] = w[i];
    }
    lego_tensor *norm = randn(LEGO_F32, DIM, 0, seed++, 0.1), *head = randn(dtype, VOCAB, DIM, seed++, 0.125);
    CHECK(lego_decoder_set_output(d, norm, head) == 0);
    keep[(*nkeep)++] = norm;
    keep[(*nkeep)++] = head;
    return d;
}

static void check_dtype(int dtype) {
    lego_tensor *keep[64];
    int nkeep = 0;
    lego_decoder *d = build(dtype, keep, &nkeep);
    int64_t xs[2] = {PROMPT + 12, DIM}, ls[2] = {PROMPT + 12, VOCAB}, one_x[2] = {1, DIM}, one_l[2] = {1, VOCAB};
    lego_tensor *x = lego_tensor_empty(LEGO_F32, 2, xs), *all = lego_tensor_empty(LEGO_F32, 2, ls);
    lego_fill_randn(x, 7, 0, 1);
    CHECK(lego_decoder_forward(d, x, 0, all) == 0); /* everything at once */
    lego_tensor *px = lego_view_narrow(x, 0, 0, PROMPT), *pl = lego_tensor_empty(LEGO_F32, 2, one_l);
    CHECK(lego_decoder_forward(d, px, 0, pl) == 0); /* the prompt, keeping the last row */
    lego_tensor *row = lego_tensor_empty(LEGO_F32, 2, one_x), *logits = lego_tensor_empty(LEGO_F32, 2, one_l);
    for (int step = 0; step < 12; step++) {
        lego_tensor *src = lego_view_narrow(x, 0, PROMPT + step, 1);
        CHECK(lego_copy(row, src) == 0);
        lego_tensor_free(src);
#ifndef __SANITIZE_ADDRESS__
        counting = step >= 3; /* after warm-up (thread pools, first-touch) */
#endif
        CHECK(lego_decoder_forward(d, row, PROMPT + step, logits) == 0);
#ifndef __SANITIZE_ADDRESS__
        counting = 0;
#endif
        lego_tensor *want = lego_view_narrow(all, 0, PROMPT + step, 1);
        char what[64];
        snprintf(what, sizeof what, "%s decode step %d", lego_dtype_name(dtype), step);
        if (!close_enough(lego_tensor_data(logits), lego_tensor_data(want), VOCAB, 1e-4, 1e-5, what)) check_failures++;
        lego_tensor_free(want);
    }
#ifndef __SANITIZE_ADDRESS__
    if (allocations != 0) fprintf(stderr, "  %s: %ld allocations in 9 decoded tokens\n", lego_dtype_name(dtype), allocations);
    CHECK(allocations == 0);
    allocations = 0;
#endif
    /* past the context: a clear error */
    CHECK_ERROR(lego_decoder_forward(d, row, CTX, logits), "exceed the context of 48 tokens");
    lego_tensor *ts[] = {x, all, px, pl, row, logits};
    for (size_t i = 0; i < sizeof ts / sizeof *ts; i++) lego_tensor_free(ts[i]);
    for (int i = 0; i < nkeep; i++) lego_tensor_free(keep[i]);
    lego_decoder_free(d);
}

static void test_f32(void) { check_dtype(LEGO_F32); }
static void test_bf16(void) { check_dtype(LEGO_BF16); }
static void test_q8_0(void) { check_dtype(LEGO_Q8_0); }

static void test_bad_configs(void) {
    lego_decoder_config bad = {2, 64, 5, 2, 96, 100, 1e-5f, 10000.0f, 0, 16}; /* 64 not divisible by 5 heads */
    CHECK(lego_decoder_new(&bad) == NULL && strstr(lego_last_error(), "inconsistent config"));
    lego_decoder_config ok = {1, 64, 4, 2, 96, 100, 1e-5f, 10000.0f, 0, 16};
    lego_decoder *d = lego_decoder_new(&ok);
    int64_t xs[2] = {2, 64};
    lego_tensor *x = lego_tensor_new(LEGO_F32, 2, xs), *w = lego_tensor_new(LEGO_F32, 2, xs);
    CHECK_ERROR(lego_decoder_forward(d, x, 0, NULL), "layer 0 has no weights");
    CHECK_ERROR(lego_decoder_set_layer(d, 0, NULL, w, w, w, w, NULL, w, w, w), "attn_norm must be a float vector of 64");
    CHECK_ERROR(lego_decoder_set_layer(d, 3, NULL, w, w, w, w, NULL, w, w, w), "layer 3 is outside 0..0");
    lego_tensor_free(x);
    lego_tensor_free(w);
    lego_decoder_free(d);
}

int main(void) {
    RUN(test_f32);
    RUN(test_bf16);
    RUN(test_q8_0);
    RUN(test_bad_configs);
    return check_failures != 0;
}
