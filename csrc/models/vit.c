/* vit.c — one pre-norm transformer encoder layer, fused (locus.h, locus_vit_layer): the block of CLIP's
 * vision tower, and with other options of EVA's and ImageBind's. For x [T, C]:
 *   n = LN1(x); q, k, v = n Wq^T + bq, n Wk^T + bk, n Wv^T + bv      (a NULL bias is zero)
 *   x += (softmax over all T of q k^T / sqrt(D), per head) v Wo^T + bo
 *   n = LN2(x); x += act(n W1^T + b1) W2^T + b2
 * Rows may hold several sequences of seq_len rows (frames batched through one encoder: the matrix
 * products see all rows, attention stays within each sequence). One work buffer per call
 * ([T, 5C + hidden] floats); the ops run on headers over it. */
#include "../core/internal.h"

#include <stdlib.h>

static locus_tensor rows(locus_storage *s, int64_t offset, int64_t t, int64_t c) {
    locus_tensor v = {.storage = s, .offset = offset, .ndim = 2, .type = LOCUS_F32};
    v.sizes[0] = t;
    v.sizes[1] = c;
    v.strides[0] = c;
    v.strides[1] = 1;
    return v;
}

static locus_tensor heads_view(locus_storage *s, int64_t offset, int64_t t, int64_t h, int64_t d) {
    locus_tensor v = {.storage = s, .offset = offset, .ndim = 3, .type = LOCUS_F32};
    v.sizes[0] = t, v.sizes[1] = h, v.sizes[2] = d;
    v.strides[0] = h * d, v.strides[1] = d, v.strides[2] = 1;
    return v;
}

#define TRY(call)                                                                                 \
    do {                                                                                          \
        if ((call) != 0) goto done;                                                               \
    } while (0)

int locus_vit_layer(locus_tensor *x, const locus_vit_layer_weights *w, int heads, float eps, int act, int64_t seq_len) {
    if (locus_check_tensor(x, "vit layer", "x") || !w) return -1;
    if (x->type != LOCUS_F32 || x->ndim != 2 || !locus_tensor_is_contiguous(x))
        return locus_fail("vit layer: x must be contiguous f32 [T, C], got %s", locus_tensor_describe(x));
    int64_t t = x->sizes[0], c = x->sizes[1];
    if (heads < 1 || c % heads) return locus_fail("vit layer: width %lld is not divisible by %d heads", (long long)c, heads);
    if (!w->fc1_w || w->fc1_w->ndim != 2) return locus_fail("vit layer: fc1 weight is missing");
    if (act < LOCUS_ACT_GELU || act > LOCUS_ACT_GELU_TANH) return locus_fail("vit layer: unknown activation %d", act);
    int64_t hidden = w->fc1_w->sizes[0], d = c / heads;
    if (seq_len <= 0) seq_len = t;
    if (t % seq_len) return locus_fail("vit layer: %lld rows are not whole sequences of %lld", (long long)t, (long long)seq_len);
    locus_storage *s = locus_storage_uninit((size_t)(t * (5 * c + hidden)) * sizeof(float));
    if (!s) return -1;
    int rc = -1;
    locus_tensor n = rows(s, 0, t, c), q = rows(s, t * c, t, c), k = rows(s, 2 * t * c, t, c), v = rows(s, 3 * t * c, t, c);
    locus_tensor att = rows(s, 4 * t * c, t, c), h = rows(s, 5 * t * c, t, hidden);
    locus_tensor q3 = heads_view(s, t * c, t, heads, d), k3 = heads_view(s, 2 * t * c, t, heads, d);
    locus_tensor v3 = heads_view(s, 3 * t * c, t, heads, d), att3 = heads_view(s, 4 * t * c, t, heads, d);
    TRY(locus_layer_norm(&n, x, w->ln1_w, w->ln1_b, eps));
    TRY(locus_linear(&q, &n, w->q_w, w->q_b));
    TRY(locus_linear(&k, &n, w->k_w, w->k_b));
    TRY(locus_linear(&v, &n, w->v_w, w->v_b));
    for (int64_t s0 = 0; s0 < t; s0 += seq_len) { /* each sequence (an image, a frame) attends to itself */
        locus_tensor qs = q3, ks = k3, vs = v3, as = att3;
        qs.sizes[0] = ks.sizes[0] = vs.sizes[0] = as.sizes[0] = seq_len;
        qs.offset += s0 * c, ks.offset += s0 * c, vs.offset += s0 * c, as.offset += s0 * c;
        TRY(locus_attention(&as, &qs, &ks, &vs, 0, 0));
    }
    TRY(locus_linear(&n, &att, w->o_w, w->o_b));
    TRY(locus_add(x, x, &n));
    TRY(locus_layer_norm(&n, x, w->ln2_w, w->ln2_b, eps));
    TRY(locus_linear(&h, &n, w->fc1_w, w->fc1_b));
    TRY(act == LOCUS_ACT_QUICK_GELU ? locus_quick_gelu(&h, &h) : act == LOCUS_ACT_GELU_TANH ? locus_gelu_tanh(&h, &h) : locus_gelu(&h, &h));
    TRY(locus_linear(&n, &h, w->fc2_w, w->fc2_b));
    TRY(locus_add(x, x, &n));
    rc = 0;
done:
    locus_storage_release(s);
    return rc;
}
