/* norm.c — softmax, LayerNorm and RMSNorm over the last dim (f32 out). */
#include "../core/internal.h"

#include <math.h>

/* x as rows of its last dim: a contiguous f32 view plus the row count and width. */
typedef struct {
    const float *data;
    locus_tensor *owned;
    int64_t rows, cols;
} row_view;

static int rows_of(const locus_tensor *out, const locus_tensor *x, const char *op, row_view *rv) {
    if (locus_check_tensor(x, op, "x")) return -1;
    if (x->ndim < 1 || !is_float_dtype(x->type))
        return locus_fail("%s: x must be a float tensor with at least 1 dim, got %s", op, locus_tensor_describe(x));
    if (locus_check_out(out, op, x->ndim, x->sizes)) return -1;
    rv->cols = x->sizes[x->ndim - 1];
    rv->rows = rv->cols ? locus_tensor_numel(x) / rv->cols : 0;
    rv->data = locus_f32_view(x, &rv->owned);
    return rv->data ? 0 : -1;
}

/* Optional per-channel parameter [n] as contiguous f32: used in place when it already is (no
 * allocation per call), converted into *owned otherwise. NULL stays NULL. */
static int param_of(const locus_tensor *p, int64_t n, const char *op, const char *what, const float **dst,
                    locus_tensor **owned) {
    *dst = NULL;
    *owned = NULL;
    if (!p) return 0;
    if (p->ndim != 1 || p->sizes[0] != n || !is_float_dtype(p->type))
        return locus_fail("%s: %s must be a float vector of %lld elements, got %s", op, what, (long long)n,
                         locus_tensor_describe(p));
    *dst = locus_f32_view(p, owned);
    return *dst ? 0 : -1;
}

int locus_softmax(locus_tensor *out, const locus_tensor *x) {
    row_view rv;
    if (rows_of(out, x, "softmax", &rv)) return -1;
    float *y = locus_tensor_data(out);
    int64_t c = rv.cols;
#pragma omp parallel for schedule(static) if (rv.rows * c > 16384)
    for (int64_t r = 0; r < rv.rows; r++) {
        const float *xr = rv.data + r * c;
        float *yr = y + r * c;
        float mx = -INFINITY;
        for (int64_t i = 0; i < c; i++) mx = xr[i] > mx ? xr[i] : mx;
        if (mx == -INFINITY) mx = 0; /* a fully masked row gives NaN as in torch, not a crash */
        double sum = 0;
        for (int64_t i = 0; i < c; i++) sum += yr[i] = expf(xr[i] - mx);
        float inv = (float)(1.0 / sum);
        for (int64_t i = 0; i < c; i++) yr[i] *= inv;
    }
    locus_tensor_free(rv.owned);
    return 0;
}

int locus_layer_norm(locus_tensor *out, const locus_tensor *x, const locus_tensor *weight, const locus_tensor *bias, float eps) {
    row_view rv;
    if (rows_of(out, x, "layer_norm", &rv)) return -1;
    const float *w, *b = NULL;
    locus_tensor *w_owned, *b_owned = NULL;
    if (param_of(weight, rv.cols, "layer_norm", "weight", &w, &w_owned) ||
        param_of(bias, rv.cols, "layer_norm", "bias", &b, &b_owned)) {
        locus_tensor_free(w_owned);
        locus_tensor_free(rv.owned);
        return -1;
    }
    float *y = locus_tensor_data(out);
    int64_t c = rv.cols;
#pragma omp parallel for schedule(static) if (rv.rows * c > 16384)
    for (int64_t r = 0; r < rv.rows; r++) {
        const float *xr = rv.data + r * c;
        float *yr = y + r * c;
        double mean = 0, var = 0;
        for (int64_t i = 0; i < c; i++) mean += xr[i];
        mean /= c;
        for (int64_t i = 0; i < c; i++) var += (xr[i] - mean) * (xr[i] - mean);
        var /= c;
        float inv = (float)(1.0 / sqrt(var + eps)), m = (float)mean;
        for (int64_t i = 0; i < c; i++) {
            float v = (xr[i] - m) * inv;
            if (w) v *= w[i];
            if (b) v += b[i];
            yr[i] = v;
        }
    }
    locus_tensor_free(w_owned);
    locus_tensor_free(b_owned);
    locus_tensor_free(rv.owned);
    return 0;
}

int locus_rms_norm(locus_tensor *out, const locus_tensor *x, const locus_tensor *weight, float eps) {
    row_view rv;
    if (rows_of(out, x, "rms_norm", &rv)) return -1;
    const float *w;
    locus_tensor *w_owned;
    if (param_of(weight, rv.cols, "rms_norm", "weight", &w, &w_owned)) {
        locus_tensor_free(rv.owned);
        return -1;
    }
    float *y = locus_tensor_data(out);
    int64_t c = rv.cols;
#pragma omp parallel for schedule(static) if (rv.rows * c > 16384)
    for (int64_t r = 0; r < rv.rows; r++) {
        const float *xr = rv.data + r * c;
        float *yr = y + r * c;
        double ss = 0;
        for (int64_t i = 0; i < c; i++) ss += (double)xr[i] * xr[i];
        float inv = 1.0f / sqrtf((float)(ss / c) + eps);
        for (int64_t i = 0; i < c; i++) yr[i] = w ? w[i] * (xr[i] * inv) : xr[i] * inv;
    }
    locus_tensor_free(w_owned);
    locus_tensor_free(rv.owned);
    return 0;
}
