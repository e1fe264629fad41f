/* grad.c — the backward passes of the ops a transformer trains through (reverse mode).
 *
 * Each function takes the forward's inputs and dy, the gradient of the loss with respect to the
 * op's output, and writes the gradients of the loss with respect to the inputs. Gradients of
 * inputs (dx, dq, ...) are overwritten; gradients of parameters (dw, db, the embedding table) are
 * added to, so that micro-batches accumulate. A NULL gradient is not computed. Everything is f32;
 * inputs of other float types are widened. Written out by hand, as llm.c does, because each is a
 * few lines of calculus over rows that an autograd library would only hide; the matrix products
 * of linear layers are matmuls and stay in Lua (locus.grad). */
#include "../core/internal.h"
#include "../kernels/gemm.h"
#include "../kernels/vec.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* t as contiguous f32 rows of its last dim */
typedef struct {
    const float *data;
    locus_tensor *owned;
    int64_t rows, cols;
} rows_f32;

static int rows_of(const locus_tensor *t, const char *op, const char *what, rows_f32 *r) {
    if (locus_check_tensor(t, op, what)) return -1;
    if (t->ndim < 1 || !is_float_dtype(t->type))
        return locus_fail("%s: %s must be a float tensor, got %s", op, what, locus_tensor_describe(t));
    r->cols = t->sizes[t->ndim - 1];
    r->rows = r->cols ? locus_tensor_numel(t) / r->cols : 0;
    r->data = locus_f32_view(t, &r->owned);
    return r->data ? 0 : -1;
}

static bool same_shape(const locus_tensor *a, const locus_tensor *b) {
    if (a->ndim != b->ndim) return false;
    for (int i = 0; i < a->ndim; i++)
        if (a->sizes[i] != b->sizes[i]) return false;
    return true;
}

/* A gradient to write: NULL, or contiguous f32 of the given shape. */
static int check_grad(const locus_tensor *g, const locus_tensor *like, const char *op, const char *what) {
    if (!g) return 0;
    if (g->type != LOCUS_F32 || !locus_tensor_is_contiguous(g) || !same_shape(g, like))
        return locus_fail("%s: %s must be contiguous f32 shaped like %s, got %s", op, what, locus_tensor_describe(like),
                          locus_tensor_describe(g));
    return 0;
}

static int check_param_grad(const locus_tensor *g, int64_t n, const char *op, const char *what) {
    if (!g) return 0;
    if (g->type != LOCUS_F32 || !locus_tensor_is_contiguous(g) || g->ndim != 1 || g->sizes[0] != n)
        return locus_fail("%s: %s must be a contiguous f32 vector of %lld, got %s", op, what, (long long)n,
                          locus_tensor_describe(g));
    return 0;
}

/* the forward's x and dy as rows of the same shape, and the parameter w [cols] (or NULL) */
static int norm_inputs(const locus_tensor *dy, const locus_tensor *x, const locus_tensor *w, const char *op, rows_f32 *rx,
                       rows_f32 *rdy, const float **wd, locus_tensor **w_owned) {
    *wd = NULL;
    *w_owned = NULL;
    rx->owned = rdy->owned = NULL;
    if (rows_of(x, op, "x", rx)) return -1;
    if (rows_of(dy, op, "dy", rdy) || !same_shape(x, dy)) {
        if (rdy->data && !same_shape(x, dy))
            locus_fail("%s: dy %s is not shaped like x %s", op, locus_tensor_describe(dy), locus_tensor_describe(x));
        return -1;
    }
    if (w) {
        if (w->ndim != 1 || w->sizes[0] != rx->cols || !is_float_dtype(w->type))
            return locus_fail("%s: weight must be a float vector of %lld, got %s", op, (long long)rx->cols,
                              locus_tensor_describe(w));
        *wd = locus_f32_view(w, w_owned);
        if (!*wd) return -1;
    }
    return 0;
}

/* y = x r w with r = 1 / sqrt(mean(x^2) + eps). With g = dy w and xh = x r:
 * dw += sum over rows of dy xh;  dx = r (g - xh mean(g xh)). */
int locus_rms_norm_backward(locus_tensor *dx, locus_tensor *dw, const locus_tensor *dy, const locus_tensor *x,
                            const locus_tensor *w, float eps) {
    const char *op = "rms_norm_backward";
    rows_f32 rx, rdy;
    const float *wd;
    locus_tensor *w_owned;
    int rc = norm_inputs(dy, x, w, op, &rx, &rdy, &wd, &w_owned);
    if (!rc && !w) rc = locus_fail("%s: the weight is needed", op);
    if (!rc) rc = check_grad(dx, x, op, "dx") || check_param_grad(dw, rx.cols, op, "dw") ? -1 : 0;
    if (!rc) {
        int64_t n = rx.cols;
        float *dxd = dx ? locus_tensor_data(dx) : NULL, *dwd = dw ? locus_tensor_data(dw) : NULL;
        for (int64_t i = 0; i < rx.rows; i++) {
            const float *xr = rx.data + i * n, *g = rdy.data + i * n;
            double ss = 0, dot = 0;
            for (int64_t j = 0; j < n; j++) ss += (double)xr[j] * xr[j];
            float r = 1.0f / sqrtf((float)(ss / n) + eps);
            for (int64_t j = 0; j < n; j++) dot += (double)g[j] * wd[j] * xr[j] * r;
            float mean = (float)(dot / n);
            for (int64_t j = 0; j < n; j++) {
                float xh = xr[j] * r;
                if (dwd) dwd[j] += g[j] * xh;
                if (dxd) dxd[i * n + j] = r * (g[j] * wd[j] - xh * mean);
            }
        }
    }
    locus_tensor_free(rx.owned);
    locus_tensor_free(rdy.owned);
    locus_tensor_free(w_owned);
    return rc;
}

/* y = xh w + b with xh = (x - mean) r, r = 1 / sqrt(var + eps) (biased var). With g = dy w:
 * dw += sum dy xh, db += sum dy, dx = r (g - mean(g) - xh mean(g xh)). w NULL: g = dy. */
int locus_layer_norm_backward(locus_tensor *dx, locus_tensor *dw, locus_tensor *db, const locus_tensor *dy,
                              const locus_tensor *x, const locus_tensor *w, float eps) {
    const char *op = "layer_norm_backward";
    rows_f32 rx, rdy;
    const float *wd;
    locus_tensor *w_owned;
    int rc = norm_inputs(dy, x, w, op, &rx, &rdy, &wd, &w_owned);
    if (!rc)
        rc = check_grad(dx, x, op, "dx") || check_param_grad(dw, rx.cols, op, "dw") || check_param_grad(db, rx.cols, op, "db")
                 ? -1 : 0;
    if (!rc) {
        int64_t n = rx.cols;
        float *dxd = dx ? locus_tensor_data(dx) : NULL, *dwd = dw ? locus_tensor_data(dw) : NULL;
        float *dbd = db ? locus_tensor_data(db) : NULL;
        for (int64_t i = 0; i < rx.rows; i++) {
            const float *xr = rx.data + i * n, *dyr = rdy.data + i * n;
            double s = 0, ss = 0;
            for (int64_t j = 0; j < n; j++) s += xr[j];
            float mu = (float)(s / n);
            for (int64_t j = 0; j < n; j++) ss += (double)(xr[j] - mu) * (xr[j] - mu);
            float r = 1.0f / sqrtf((float)(ss / n) + eps);
            double gsum = 0, gxh = 0;
            for (int64_t j = 0; j < n; j++) {
                float g = dyr[j] * (wd ? wd[j] : 1.0f), xh = (xr[j] - mu) * r;
                gsum += g;
                gxh += (double)g * xh;
                if (dwd) dwd[j] += dyr[j] * xh;
                if (dbd) dbd[j] += dyr[j];
            }
            float gm = (float)(gsum / n), gxm = (float)(gxh / n);
            if (dxd)
                for (int64_t j = 0; j < n; j++) {
                    float g = dyr[j] * (wd ? wd[j] : 1.0f), xh = (xr[j] - mu) * r;
                    dxd[i * n + j] = r * (g - gm - xh * gxm);
                }
        }
    }
    locus_tensor_free(rx.owned);
    locus_tensor_free(rdy.owned);
    locus_tensor_free(w_owned);
    return rc;
}

static float sigmoid(float v) { return 1.0f / (1.0f + expf(-v)); }

/* d act(x) / dx of each activation, as its forward computes it */
static float derivative(int kind, float v) {
    switch (kind) {
    case LOCUS_ACT_SILU: {
        float s = sigmoid(v);
        return s * (1.0f + v * (1.0f - s));
    }
    case LOCUS_ACT_QUICK_GELU: {
        float s = sigmoid(1.702f * v);
        return s + 1.702f * v * s * (1.0f - s);
    }
    case LOCUS_ACT_GELU:
        return 0.5f * (1.0f + erff(v * 0.70710678118654752f)) + v * expf(-0.5f * v * v) * 0.39894228040143268f;
    default: { /* LOCUS_ACT_GELU_TANH */
        const float k = 0.79788456080286536f; /* sqrt(2 / pi) */
        float t = tanhf(k * (v + 0.044715f * v * v * v));
        return 0.5f * (1.0f + t) + 0.5f * v * (1.0f - t * t) * k * (1.0f + 3.0f * 0.044715f * v * v);
    }
    }
}

int locus_activation_backward(locus_tensor *dx, const locus_tensor *dy, const locus_tensor *x, int kind) {
    const char *op = "activation_backward";
    if (kind < LOCUS_ACT_GELU || kind > LOCUS_ACT_SILU) return locus_fail("%s: unknown activation %d", op, kind);
    rows_f32 rx = {0}, rdy = {0};
    int rc = rows_of(x, op, "x", &rx) || rows_of(dy, op, "dy", &rdy) ? -1 : 0;
    if (!rc && !same_shape(x, dy))
        rc = locus_fail("%s: dy %s is not shaped like x %s", op, locus_tensor_describe(dy), locus_tensor_describe(x));
    if (!rc && !dx) rc = locus_fail("%s: dx is needed", op);
    if (!rc) rc = check_grad(dx, x, op, "dx");
    if (!rc) {
        int64_t n = locus_tensor_numel(x);
        float *d = locus_tensor_data(dx);
#pragma omp parallel for schedule(static) if (n > 65536)
        for (int64_t i = 0; i < n; i++) d[i] = rdy.data[i] * derivative(kind, rx.data[i]);
    }
    locus_tensor_free(rx.owned);
    locus_tensor_free(rdy.owned);
    return rc;
}

/* out = P v with P = softmax(q k^T / sqrt(D)) over the keys a query sees. Per query head, as
 * matrices [T, S]: P recomputed from q and k; dV += P^T dout; dP = dout v^T;
 * dS = P (dP - rowsum(P dP)) / sqrt(D); dq = dS k; dk += dS^T q. The products are GEMMs (the
 * masked part of a causal P is zero, so the full products stay exact); query heads that share a
 * kv head (GQA) add into its dk and dv one after another. */
int locus_attention_backward(locus_tensor *dq, locus_tensor *dk, locus_tensor *dv, const locus_tensor *dout,
                             const locus_tensor *q, const locus_tensor *k, const locus_tensor *v, int causal) {
    const char *op = "attention_backward";
    const locus_tensor *ts[] = {dout, q, k, v};
    const char *names[] = {"dout", "q", "k", "v"};
    for (int i = 0; i < 4; i++) {
        if (locus_check_tensor(ts[i], op, names[i])) return -1;
        if (ts[i]->type != LOCUS_F32 || ts[i]->ndim != 3 || !locus_tensor_is_contiguous(ts[i]))
            return locus_fail("%s: %s must be contiguous f32 [tokens, heads, D], got %s", op, names[i],
                              locus_tensor_describe(ts[i]));
    }
    int64_t t = q->sizes[0], h = q->sizes[1], d = q->sizes[2], s = k->sizes[0], kvh = k->sizes[1];
    if (!same_shape(dout, q) || !same_shape(k, v) || k->sizes[2] != d || kvh < 1 || h % kvh || (causal && s < t))
        return locus_fail("%s: shapes q %s, k %s, v %s, dout %s do not fit (heads a multiple of kv heads%s)", op,
                          locus_tensor_describe(q), locus_tensor_describe(k), locus_tensor_describe(v),
                          locus_tensor_describe(dout), causal ? ", keys >= queries" : "");
    if (check_grad(dq, q, op, "dq") || check_grad(dk, k, op, "dk") || check_grad(dv, v, op, "dv")) return -1;
    const float *qd = locus_tensor_data(q), *kd = locus_tensor_data(k), *vd = locus_tensor_data(v);
    const float *dod = locus_tensor_data(dout);
    float *dqd = dq ? locus_tensor_data(dq) : NULL, *dkd = dk ? locus_tensor_data(dk) : NULL;
    float *dvd = dv ? locus_tensor_data(dv) : NULL;
    if (dkd) memset(dkd, 0, (size_t)locus_tensor_numel(k) * sizeof(float));
    if (dvd) memset(dvd, 0, (size_t)locus_tensor_numel(v) * sizeof(float));
    if (t == 0 || s == 0 || d == 0) {
        if (dqd) memset(dqd, 0, (size_t)locus_tensor_numel(q) * sizeof(float));
        return 0;
    }
    int64_t group = h / kvh, pos0 = causal ? s - t : 0, qs = h * d, ks = kvh * d;
    float scale = 1.0f / sqrtf((float)d);
    /* P and dP [T, S], and one head's dk or dv [S, D] before it is added in */
    float *p = malloc(((size_t)2 * t * s + (size_t)s * d) * sizeof(float));
    if (!p) return locus_fail("%s: out of memory for %lld x %lld scores", op, (long long)t, (long long)s);
    float *dp = p + t * s, *part = dp + t * s;
    for (int64_t hh = 0; hh < h; hh++) {
        int64_t g = hh / group;
        const float *qh = qd + hh * d, *doh = dod + hh * d, *kg = kd + g * d, *vg = vd + g * d;
        locus_sgemm(false, true, t, s, d, qh, qs, kg, ks, p, s);    /* scores q k^T */
        locus_sgemm(false, true, t, s, d, doh, qs, vg, ks, dp, s);  /* dP = dout v^T */
#pragma omp parallel for schedule(static) if (t * s > 65536)
        for (int64_t i = 0; i < t; i++) {
            float *pi = p + i * s, *dpi = dp + i * s;
            int64_t seen = causal ? pos0 + i + 1 : s;
            float mx = -INFINITY;
            for (int64_t j = 0; j < seen; j++) mx = pi[j] * scale > mx ? pi[j] * scale : mx;
            double sum = 0;
            for (int64_t j = 0; j < seen; j++) sum += pi[j] = expf(pi[j] * scale - mx);
            double pdp = 0;
            for (int64_t j = 0; j < seen; j++) {
                pi[j] = (float)(pi[j] / sum);
                pdp += (double)pi[j] * dpi[j];
            }
            for (int64_t j = 0; j < seen; j++) dpi[j] = pi[j] * (dpi[j] - (float)pdp) * scale; /* dS */
            for (int64_t j = seen; j < s; j++) pi[j] = dpi[j] = 0;
        }
        if (dqd) locus_sgemm(false, false, t, d, s, dp, s, kg, ks, dqd + hh * d, qs); /* dq = dS k */
        if (dkd) {                                                                  /* dk += dS^T q */
            locus_sgemm(true, false, s, d, t, dp, s, qh, qs, part, d);
            for (int64_t j = 0; j < s; j++)
                for (int64_t c = 0; c < d; c++) dkd[j * ks + g * d + c] += part[j * d + c];
        }
        if (dvd) {                                                                  /* dv += P^T dout */
            locus_sgemm(true, false, s, d, t, p, s, doh, qs, part, d);
            for (int64_t j = 0; j < s; j++)
                for (int64_t c = 0; c < d; c++) dvd[j * ks + g * d + c] += part[j * d + c];
        }
    }
    free(p);
    return 0;
}

/* out[i] = weight[ids[i]]: dweight[ids[i]] += dy[i] */
int locus_embedding_backward(locus_tensor *dweight, const locus_tensor *dy, const locus_tensor *ids) {
    const char *op = "embedding_backward";
    if (locus_check_tensor(dweight, op, "dweight") || locus_check_tensor(ids, op, "ids")) return -1;
    if (dweight->type != LOCUS_F32 || dweight->ndim != 2 || !locus_tensor_is_contiguous(dweight))
        return locus_fail("%s: dweight must be contiguous f32 [vocab, D], got %s", op, locus_tensor_describe(dweight));
    if ((ids->type != LOCUS_I64 && ids->type != LOCUS_I32) || !locus_tensor_is_contiguous(ids))
        return locus_fail("%s: ids must be contiguous i32 or i64, got %s", op, locus_tensor_describe(ids));
    rows_f32 rdy;
    if (rows_of(dy, op, "dy", &rdy)) return -1;
    int64_t n = locus_tensor_numel(ids), vocab = dweight->sizes[0], width = dweight->sizes[1];
    int rc = 0;
    if (rdy.cols != width || rdy.rows != n)
        rc = locus_fail("%s: dy %s is not [%lld, %lld]", op, locus_tensor_describe(dy), (long long)n, (long long)width);
    float *dw = locus_tensor_data(dweight);
    for (int64_t i = 0; !rc && i < n; i++) {
        int64_t id = ids->type == LOCUS_I64 ? ((const int64_t *)locus_tensor_data(ids))[i]
                                            : ((const int32_t *)locus_tensor_data(ids))[i];
        if (id < 0 || id >= vocab) {
            rc = locus_fail("%s: id %lld is outside the vocabulary of %lld", op, (long long)id, (long long)vocab);
            break;
        }
        for (int64_t c = 0; c < width; c++) dw[id * width + c] += rdy.data[i * width + c];
    }
    locus_tensor_free(rdy.owned);
    return rc;
}

/* The mean over rows whose target is not ignore_index of -log softmax(logits)[target], as
 * torch's cross_entropy; dlogits = (softmax - onehot(target)) / that count (0 on ignored rows).
 * With every row ignored the loss is NaN (as torch's) and dlogits 0. */
int locus_cross_entropy(float *loss, locus_tensor *dlogits, const locus_tensor *logits, const locus_tensor *targets,
                        int64_t ignore_index) {
    const char *op = "cross_entropy";
    if (locus_check_tensor(targets, op, "targets")) return -1;
    rows_f32 rl;
    if (rows_of(logits, op, "logits", &rl)) return -1;
    int rc = 0;
    if (targets->type != LOCUS_I64 || !locus_tensor_is_contiguous(targets) || locus_tensor_numel(targets) != rl.rows)
        rc = locus_fail("%s: targets must be contiguous i64 with one per row of logits %s, got %s", op,
                        locus_tensor_describe(logits), locus_tensor_describe(targets));
    if (!rc) rc = check_grad(dlogits, logits, op, "dlogits");
    const int64_t *tg = rc ? NULL : locus_tensor_data(targets);
    int64_t v = rl.cols, count = 0;
    for (int64_t i = 0; !rc && i < rl.rows; i++) {
        if (tg[i] == ignore_index) continue;
        if (tg[i] < 0 || tg[i] >= v)
            rc = locus_fail("%s: target %lld of row %lld is outside [0, %lld)", op, (long long)tg[i], (long long)i, (long long)v);
        count++;
    }
    if (!rc) {
        double total = 0;
        float *dl = dlogits ? locus_tensor_data(dlogits) : NULL;
        /* per row: the max, exp(x - max) (into the gradient row, which becomes softmax / count), and
         * the row's loss log(sum) + max - x[target]; rows in parallel, their losses summed in order */
        double *row_loss = malloc((size_t)(rl.rows ? rl.rows : 1) * sizeof(double));
        const locus_vec_kernels *vk = locus_vec_active();
        if (!row_loss) rc = locus_fail("%s: out of memory", op);
#pragma omp parallel for schedule(static) if (!rc && rl.rows * v > 65536)
        for (int64_t i = 0; i < (rc ? 0 : rl.rows); i++) {
            const float *row = rl.data + i * v;
            float *dr = dl ? dl + i * v : NULL;
            row_loss[i] = 0;
            if (tg[i] == ignore_index) {
                if (dr) memset(dr, 0, (size_t)v * sizeof(float));
                continue;
            }
            float mx = vk->max_f32(row, v);
            double sum = 0;
            if (dr) { /* the exponentials on the CPU's vector path, into the gradient row */
                memcpy(dr, row, (size_t)v * sizeof(float));
                sum = vk->exp_sum(dr, v, mx, 1.0f);
                float scale = (float)(1.0 / (sum * (double)count));
                for (int64_t j = 0; j < v; j++) dr[j] *= scale;
                dr[tg[i]] -= 1.0f / (float)count;
            } else {
                for (int64_t j = 0; j < v; j++) sum += expf(row[j] - mx);
            }
            row_loss[i] = log(sum) + mx - row[tg[i]];
        }
        for (int64_t i = 0; !rc && i < rl.rows; i++) total += row_loss[i];
        free(row_loss);
        if (!rc) *loss = count ? (float)(total / (double)count) : NAN;
    }
    locus_tensor_free(rl.owned);
    return rc;
}
