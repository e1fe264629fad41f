/* reduce.c — sum, mean, max and argmax over one dim; top-k over the last dim. */
#include "../core/internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

enum reduce_op { R_SUM, R_MEAN, R_MAX, R_ARGMAX };
static const char *reduce_names[] = {"sum", "mean", "max", "argmax"};

/* out must hold x's shape with `dim` removed or kept as size 1. */
static int check_reduced(const locus_tensor *out, const locus_tensor *x, int d, const char *op, int out_dtype) {
    if (locus_check_tensor(out, op, "out")) return -1;
    bool removed = out->ndim == x->ndim - 1, kept = out->ndim == x->ndim;
    for (int i = 0, j = 0; (removed || kept) && i < x->ndim; i++) {
        if (i == d) {
            if (kept && out->sizes[j++] != 1) kept = false;
            continue;
        }
        if (out->sizes[j++] != x->sizes[i]) removed = kept = false;
    }
    if (!(removed || kept) || out->type != out_dtype || !locus_tensor_is_contiguous(out)) {
        char os[256];
        snprintf(os, sizeof os, "%s", locus_tensor_describe(out));
        return locus_fail("%s: out %s must be contiguous %s with the shape of x %s without dim %d", op, os,
                         locus_dtype_name(out_dtype), locus_tensor_describe(x), d);
    }
    return 0;
}

static int reduce(enum reduce_op op, locus_tensor *out, const locus_tensor *x, int dim) {
    const char *name = reduce_names[op];
    if (locus_check_tensor(x, name, "x")) return -1;
    int d = dim < 0 ? dim + x->ndim : dim;
    if (d < 0 || d >= x->ndim) return locus_fail("%s: dim %d out of range for %s", name, dim, locus_tensor_describe(x));
    if (check_reduced(out, x, d, name, op == R_ARGMAX ? LOCUS_I64 : LOCUS_F32)) return -1;
    int64_t n = x->sizes[d];
    if (n == 0 && (op == R_MAX || op == R_ARGMAX)) return locus_fail("%s: dim %d of %s is empty", name, d, locus_tensor_describe(x));
    locus_tensor *owned;
    const float *xd = locus_f32_view(x, &owned);
    if (!xd) return -1;
    int64_t outer = 1, inner = 1;
    for (int i = 0; i < d; i++) outer *= x->sizes[i];
    for (int i = d + 1; i < x->ndim; i++) inner *= x->sizes[i];
    float *yf = locus_tensor_data(out);
    int64_t *yi = locus_tensor_data(out);
#pragma omp parallel for schedule(static) if (outer * inner * n > 65536)
    for (int64_t oi = 0; oi < outer * inner; oi++) {
        const float *p = xd + (oi / inner) * n * inner + oi % inner;
        if (op == R_SUM || op == R_MEAN) {
            double s = 0;
            for (int64_t k = 0; k < n; k++) s += p[k * inner];
            yf[oi] = (float)(op == R_MEAN ? s / (double)n : s);
        } else { /* NaN wins, as in torch; ties keep the first index */
            int64_t best = 0;
            for (int64_t k = 1; k < n && !isnan(p[best * inner]); k++)
                if (p[k * inner] > p[best * inner] || isnan(p[k * inner])) best = k;
            if (op == R_MAX) yf[oi] = p[best * inner]; else yi[oi] = best;
        }
    }
    locus_tensor_free(owned);
    return 0;
}

int locus_sum(locus_tensor *out, const locus_tensor *x, int dim) { return reduce(R_SUM, out, x, dim); }
int locus_mean(locus_tensor *out, const locus_tensor *x, int dim) { return reduce(R_MEAN, out, x, dim); }
int locus_max(locus_tensor *out, const locus_tensor *x, int dim) { return reduce(R_MAX, out, x, dim); }
int locus_argmax(locus_tensor *out, const locus_tensor *x, int dim) { return reduce(R_ARGMAX, out, x, dim); }

/* ---- top-k: a size-k min-heap per row, then the heap sorted in descending order ------------- */

typedef struct {
    float v;
    int64_t i;
} scored;

/* a ranks below b: smaller value, or equal value and larger index */
static inline bool below(scored a, scored b) { return a.v < b.v || (a.v == b.v && a.i > b.i); }

static void sift_down(scored *h, int64_t n, int64_t i) {
    for (;;) {
        int64_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < n && below(h[l], h[m])) m = l;
        if (r < n && below(h[r], h[m])) m = r;
        if (m == i) return;
        scored t = h[i];
        h[i] = h[m];
        h[m] = t;
        i = m;
    }
}

int locus_topk(locus_tensor *values, locus_tensor *indices, const locus_tensor *x, int k) {
    const char *op = "topk";
    if (locus_check_tensor(x, op, "x") || locus_check_tensor(indices, op, "indices")) return -1;
    if (x->ndim < 1) return locus_fail("topk: x must have at least 1 dim");
    int64_t n = x->sizes[x->ndim - 1];
    if (k < 1 || k > n) return locus_fail("topk: k = %d is not in 1..%lld", k, (long long)n);
    int64_t oshape[LOCUS_MAX_DIMS];
    for (int i = 0; i < x->ndim; i++) oshape[i] = x->sizes[i];
    oshape[x->ndim - 1] = k;
    if (locus_check_out(values, op, x->ndim, oshape)) return -1;
    bool ok = indices->type == LOCUS_I64 && locus_tensor_is_contiguous(indices) && locus_same_shape(indices, values);
    if (!ok) return locus_fail("topk: indices must be contiguous i64 shaped like values, got %s", locus_tensor_describe(indices));
    scored *heap = malloc((size_t)k * sizeof *heap);
    if (!heap) return locus_fail("topk: out of memory");
    locus_tensor *owned;
    const float *xd = locus_f32_view(x, &owned);
    if (!xd) {
        free(heap);
        return -1;
    }
    float *vals = locus_tensor_data(values);
    int64_t *idx = locus_tensor_data(indices);
    for (int64_t r = 0; r < locus_tensor_numel(x) / n; r++) {
        const float *p = xd + r * n;
        for (int64_t i = 0; i < k; i++) heap[i] = (scored){p[i], i};
        for (int64_t i = k / 2 - 1; i >= 0; i--) sift_down(heap, k, i);
        for (int64_t i = k; i < n; i++) {
            scored c = {p[i], i};
            if (below(heap[0], c)) {
                heap[0] = c;
                sift_down(heap, k, 0);
            }
        }
        for (int64_t m = k; m > 0; m--) { /* pop the smallest to the back: descending order */
            scored t = heap[0];
            heap[0] = heap[m - 1];
            heap[m - 1] = t;
            sift_down(heap, m - 1, 0);
        }
        for (int64_t i = 0; i < k; i++) {
            vals[r * k + i] = heap[i].v;
            idx[r * k + i] = heap[i].i;
        }
    }
    free(heap);
    locus_tensor_free(owned);
    return 0;
}
