/* llama.c — the LLaMA decoder as fused C blocks (locus.h, "LLaMA-architecture decoder").
 *
 * One layer, for x [T, dim] at positions pos0.. (shapes on every buffer):
 *   h    [T, dim]    = rms_norm(x) * attn_norm
 *   q    [T, H, D]   = rope(h Wq^T)              k, v [T, KVH, D] = rope(h Wk^T), h Wv^T -> cache rows
 *   att  [T, H, D]   = causal softmax(q k^T / sqrt D) v over cache rows 0 .. pos0+T-1
 *   x   += att Wo^T
 *   h    [T, dim]    = rms_norm(x) * ffn_norm
 *   g, u [T, hidden] = h Wgate^T, h Wup^T;      x += (silu(g) * u) Wdown^T
 * then logits = rms_norm(x) * norm, times lm_head^T, for every row or the last.
 *
 * Memory is explicit: the KV cache (f32 or f16, [layers][2][KVH][max_context][D]: head-major, so
 * each head's keys and values lie in one contiguous block that attention reads straight through)
 * is allocated once; the work buffers are planned for the largest T seen and reused, so decoding
 * one token allocates nothing. Tensors passed to the ops are headers on the stack over those
 * buffers. */
#include "../core/internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

/* A weight matrix: a view kept (so its storage stays alive) and, for the types of the integer
 * kernels (Q8_0, Q4_0, Q4_K, Q5_K, Q6_K), the copy packed once for them (ops/qlinear.c), which replaces
 * the view's pages in memory. */
typedef struct {
    locus_tensor *w;
    locus_qpacked *packed;
} matrix;

typedef struct {
    locus_tensor *attn_norm, *ffn_norm;
    matrix wq, wk, wv, wo, w_gate, w_up, w_down;
} layer_weights;

struct locus_decoder {
    locus_decoder_config cfg;
    layer_weights *layers;
    locus_tensor *norm;
    matrix lm_head;
    locus_storage *cache; /* k then v: [layers][2][kv_heads][max_context][head_dim] */
    locus_storage *work;  /* x h q k v att g u: planned for `planned` rows */
    int64_t planned;
    int64_t last_t;      /* rows of the last forward */
};

static int64_t head_dim(const locus_decoder_config *c) { return c->dim / c->n_heads; }

locus_decoder *locus_decoder_new(const locus_decoder_config *c) {
    if (!c) return locus_fail_null("decoder: config is NULL");
    if (c->kv_dtype != LOCUS_F32 && c->kv_dtype != LOCUS_F16)
        return locus_fail_null("decoder: inconsistent config: the KV cache must be f32 or f16, not dtype %d", c->kv_dtype);
    if (c->n_layers < 1 || c->dim < 2 || c->n_heads < 1 || c->n_kv_heads < 1 || c->hidden < 1 || c->vocab < 1 ||
        c->dim % c->n_heads || c->n_heads % c->n_kv_heads || head_dim(c) % 2 || c->max_context < 1 ||
        !(c->norm_eps > 0) || !(c->rope_theta > 1))
        return locus_fail_null("decoder: inconsistent config (layers %d, dim %d, heads %d/%d, hidden %d, vocab %d, "
                              "context %lld, eps %g, theta %g)", c->n_layers, c->dim, c->n_heads, c->n_kv_heads, c->hidden,
                              c->vocab, (long long)c->max_context, (double)c->norm_eps, (double)c->rope_theta);
    locus_decoder *d = calloc(1, sizeof *d);
    if (!d || !(d->layers = calloc((size_t)c->n_layers, sizeof *d->layers))) {
        free(d);
        return locus_fail_null("decoder: out of memory");
    }
    d->cfg = *c;
    int64_t kv_dim = head_dim(c) * c->n_kv_heads;
    size_t es = locus_dtype_size(c->kv_dtype);
    uint64_t bytes;
    if (__builtin_mul_overflow((uint64_t)c->n_layers * 2 * (uint64_t)kv_dim * es, (uint64_t)c->max_context, &bytes) ||
        !(d->cache = locus_storage_new((size_t)bytes))) {
        locus_decoder_free(d);
        return locus_fail_null("decoder: cannot allocate a KV cache of %lld positions (%.1f GB)", (long long)c->max_context,
                              (double)c->n_layers * 2 * kv_dim * (double)es * (double)c->max_context / 1e9);
    }
    return d;
}

static void free_matrix(matrix *m) {
    locus_tensor_free(m->w);
    locus_qpacked_free(m->packed);
    *m = (matrix){0};
}

static void free_layer(layer_weights *l) {
    locus_tensor_free(l->attn_norm);
    locus_tensor_free(l->ffn_norm);
    matrix *ms[] = {&l->wq, &l->wk, &l->wv, &l->wo, &l->w_gate, &l->w_up, &l->w_down};
    for (size_t i = 0; i < sizeof ms / sizeof *ms; i++) free_matrix(ms[i]);
    *l = (layer_weights){0};
}

void locus_decoder_free(locus_decoder *d) {
    if (!d) return;
    for (int i = 0; d->layers && i < d->cfg.n_layers; i++) free_layer(&d->layers[i]);
    free(d->layers);
    locus_tensor_free(d->norm);
    free_matrix(&d->lm_head);
    locus_storage_release(d->cache);
    locus_storage_release(d->work);
    free(d);
}

/* A [rows, cols] matrix kept (and packed where its type has integer kernels), after checking its
 * shape; 0 or -1. */
static int keep_matrix(matrix *m, const locus_tensor *w, int64_t rows, int64_t cols, const char *what, int layer) {
    if (!w || w->ndim != 2 || w->sizes[0] != rows || w->sizes[1] != cols || !is_float_dtype(w->type))
        return locus_fail("decoder: layer %d %s must be a float [%lld, %lld] matrix, got %s", layer, what, (long long)rows,
                         (long long)cols, w ? locus_tensor_describe(w) : "nothing");
    bool packs = locus_qkind(w->type) >= 0 && w->strides[1] == 1;
    m->w = locus_view_alias(w);
    if (!m->w || (packs && !(m->packed = locus_qpack(w)))) {
        free_matrix(m);
        return -1;
    }
    return 0;
}

/* Norm weights are small: kept as contiguous f32 so rms_norm never converts them per call. */
static locus_tensor *keep_norm(const locus_tensor *w, int64_t n, const char *what, int layer) {
    if (!w || w->ndim != 1 || w->sizes[0] != n || !is_float_dtype(w->type))
        return locus_fail_null("decoder: layer %d %s must be a float vector of %lld, got %s", layer, what, (long long)n,
                              w ? locus_tensor_describe(w) : "nothing");
    return locus_cast(w, LOCUS_F32);
}

int locus_decoder_set_layer(locus_decoder *d, int layer, const locus_tensor *attn_norm, const locus_tensor *wq,
                           const locus_tensor *wk, const locus_tensor *wv, const locus_tensor *wo,
                           const locus_tensor *ffn_norm, const locus_tensor *w_gate, const locus_tensor *w_up,
                           const locus_tensor *w_down) {
    if (!d || layer < 0 || layer >= d->cfg.n_layers)
        return locus_fail("decoder: layer %d is outside 0..%d", layer, d ? d->cfg.n_layers - 1 : -1);
    const locus_decoder_config *c = &d->cfg;
    int64_t kv_dim = head_dim(c) * c->n_kv_heads;
    layer_weights l = {0};
    const struct {
        matrix *slot;
        const locus_tensor *src;
        int64_t rows, cols;
        const char *name;
    } parts[] = {
        {&l.wq, wq, c->dim, c->dim, "wq"},                {&l.wk, wk, kv_dim, c->dim, "wk"},
        {&l.wv, wv, kv_dim, c->dim, "wv"},                {&l.wo, wo, c->dim, c->dim, "wo"},
        {&l.w_gate, w_gate, c->hidden, c->dim, "w_gate"}, {&l.w_up, w_up, c->hidden, c->dim, "w_up"},
        {&l.w_down, w_down, c->dim, c->hidden, "w_down"},
    };
    if (!(l.attn_norm = keep_norm(attn_norm, c->dim, "attn_norm", layer)) ||
        !(l.ffn_norm = keep_norm(ffn_norm, c->dim, "ffn_norm", layer))) {
        free_layer(&l);
        return -1;
    }
    for (size_t i = 0; i < sizeof parts / sizeof *parts; i++)
        if (keep_matrix(parts[i].slot, parts[i].src, parts[i].rows, parts[i].cols, parts[i].name, layer)) {
            free_layer(&l);
            return -1;
        }
    free_layer(&d->layers[layer]);
    d->layers[layer] = l;
    return 0;
}

int locus_decoder_set_output(locus_decoder *d, const locus_tensor *norm, const locus_tensor *lm_head) {
    locus_tensor *n = keep_norm(norm, d->cfg.dim, "output norm", -1);
    matrix h = {0};
    if (!n || keep_matrix(&h, lm_head, d->cfg.vocab, d->cfg.dim, "lm_head", -1)) {
        locus_tensor_free(n);
        return -1;
    }
    locus_tensor_free(d->norm);
    free_matrix(&d->lm_head);
    d->norm = n;
    d->lm_head = h;
    return 0;
}

/* ---- the forward pass ------------------------------------------------------------------------ */

/* A header on the caller's stack: f32 [a, b] or [a, b, c] at element `offset` of a storage. */
static locus_tensor typed_view(locus_storage *s, int type, int64_t offset, int ndim, int64_t a, int64_t b, int64_t c) {
    locus_tensor t = {.storage = s, .offset = offset, .ndim = ndim, .type = type};
    int64_t sizes[3] = {a, b, c};
    int64_t st = 1;
    for (int i = ndim - 1; i >= 0; i--) {
        t.sizes[i] = sizes[i];
        t.strides[i] = st;
        st *= sizes[i];
    }
    return t;
}

static locus_tensor view_of(locus_storage *s, int64_t offset, int ndim, int64_t a, int64_t b, int64_t c) {
    return typed_view(s, LOCUS_F32, offset, ndim, a, b, c);
}

/* Positions p0 .. p0+n-1 of one layer's keys or values in the head-major cache, as the [n, KVH, D]
 * view that attention and the copies take (rows of D contiguous; heads max_context rows apart). */
static locus_tensor cache_view(const locus_decoder *d, int li, int which, int64_t p0, int64_t n) {
    const locus_decoder_config *c = &d->cfg;
    int64_t hd = head_dim(c), plane = c->max_context * hd; /* one head's rows */
    locus_tensor t = typed_view(d->cache, c->kv_dtype, ((int64_t)li * 2 + which) * c->n_kv_heads * plane + p0 * hd, 3, n,
                                c->n_kv_heads, hd);
    t.strides[0] = hd;
    t.strides[1] = plane;
    return t;
}

typedef struct {
    int64_t x, h, q, k, v, att, g, u, total; /* element offsets in the work storage */
} work_layout;

static work_layout layout(const locus_decoder_config *c, int64_t t) {
    int64_t kv = head_dim(c) * c->n_kv_heads;
    work_layout w;
    w.x = 0;
    w.h = w.x + t * c->dim;
    w.q = w.h + t * c->dim;
    w.k = w.q + t * c->dim;
    w.v = w.k + t * kv;
    w.att = w.v + t * kv;
    w.g = w.att + t * c->dim;
    w.u = w.g + t * c->hidden;
    w.total = w.u + t * c->hidden;
    return w;
}

static int plan(locus_decoder *d, int64_t t) {
    if (t <= d->planned) return 0;
    locus_storage *s = locus_storage_new((size_t)layout(&d->cfg, t).total * sizeof(float));
    if (!s) return -1;
    locus_storage_release(d->work);
    d->work = s;
    d->planned = t;
    return 0;
}

#define TRY(call)                                                                                 \
    do {                                                                                          \
        if ((call) != 0) return -1;                                                               \
    } while (0)

static int project(locus_tensor *out, const locus_tensor *x, const matrix *m) {
    return locus_linear_prepared(out, x, m->w, m->packed);
}

static int run_layer(locus_decoder *d, int li, int64_t t, int64_t pos0) {
    const locus_decoder_config *c = &d->cfg;
    const layer_weights *l = &d->layers[li];
    int64_t hd = head_dim(c), kv_dim = hd * c->n_kv_heads;
    work_layout w = layout(c, d->planned);
    locus_storage *ws = d->work;
    locus_tensor x = view_of(ws, w.x, 2, t, c->dim, 0), h = view_of(ws, w.h, 2, t, c->dim, 0);
    locus_tensor q2 = view_of(ws, w.q, 2, t, c->dim, 0), q3 = view_of(ws, w.q, 3, t, c->n_heads, hd);
    locus_tensor k2 = view_of(ws, w.k, 2, t, kv_dim, 0), v2 = view_of(ws, w.v, 2, t, kv_dim, 0);
    locus_tensor att3 = view_of(ws, w.att, 3, t, c->n_heads, hd), att2 = view_of(ws, w.att, 2, t, c->dim, 0);
    locus_tensor g = view_of(ws, w.g, 2, t, c->hidden, 0), u = view_of(ws, w.u, 2, t, c->hidden, 0);
    /* this layer's cache, keys and values [max_context, KVH, D], and the rows of positions pos0.. */
    locus_tensor kc = cache_view(d, li, 0, 0, c->max_context), vc = cache_view(d, li, 1, 0, c->max_context);
    locus_tensor k_new = cache_view(d, li, 0, pos0, t), v_new = cache_view(d, li, 1, pos0, t);
    locus_tensor k3 = view_of(ws, w.k, 3, t, c->n_kv_heads, hd), v3 = view_of(ws, w.v, 3, t, c->n_kv_heads, hd);

    TRY(locus_rms_norm(&h, &x, l->attn_norm, c->norm_eps));
    TRY(project(&q2, &h, &l->wq));
    TRY(project(&k2, &h, &l->wk));
    TRY(project(&v2, &h, &l->wv));
    TRY(locus_rope(&q3, &q3, pos0, c->rope_theta, c->rope_interleaved));
    /* keys are rotated in f32, then copied (rounded, for an f16 cache) into their heads' rows */
    TRY(locus_rope(&k3, &k3, pos0, c->rope_theta, c->rope_interleaved));
    TRY(locus_copy(&k_new, &k3));
    TRY(locus_copy(&v_new, &v3));
    TRY(locus_attention(&att3, &q3, &kc, &vc, pos0, 1));
    TRY(project(&h, &att2, &l->wo));
    float *xd = locus_tensor_data(&x), *hd_ = locus_tensor_data(&h);
    for (int64_t i = 0; i < t * c->dim; i++) xd[i] += hd_[i];

    TRY(locus_rms_norm(&h, &x, l->ffn_norm, c->norm_eps));
    TRY(project(&g, &h, &l->w_gate));
    TRY(project(&u, &h, &l->w_up));
    float *gd = locus_tensor_data(&g), *ud = locus_tensor_data(&u);
#pragma omp parallel for schedule(static) if (t * c->hidden > 65536)
    for (int64_t i = 0; i < t * c->hidden; i++) gd[i] = gd[i] / (1.0f + expf(-gd[i])) * ud[i]; /* silu(g) * u */
    TRY(project(&h, &g, &l->w_down));
    for (int64_t i = 0; i < t * c->dim; i++) xd[i] += hd_[i];
    return 0;
}

int locus_decoder_forward(locus_decoder *d, const locus_tensor *x, int64_t pos0, locus_tensor *logits) {
    const locus_decoder_config *c = &d->cfg;
    if (locus_check_tensor(x, "decoder", "x")) return -1;
    if (x->ndim != 2 || x->sizes[1] != c->dim || x->sizes[0] < 1)
        return locus_fail("decoder: x must be [T, %d] rows of embeddings, got %s", c->dim, locus_tensor_describe(x));
    int64_t t = x->sizes[0];
    if (pos0 < 0 || pos0 + t > c->max_context)
        return locus_fail("decoder: positions %lld..%lld exceed the context of %lld tokens", (long long)pos0,
                         (long long)(pos0 + t - 1), (long long)c->max_context);
    for (int i = 0; i < c->n_layers; i++)
        if (!d->layers[i].wq.w) return locus_fail("decoder: layer %d has no weights (locus_decoder_set_layer)", i);
    if (!d->lm_head.w) return locus_fail("decoder: no output weights (locus_decoder_set_output)");
    int64_t rows = logits ? logits->sizes[0] : 0;
    if (logits && (logits->ndim != 2 || (rows != t && rows != 1) || logits->sizes[1] != c->vocab))
        return locus_fail("decoder: logits must be [%lld or 1, %d], got %s", (long long)t, c->vocab, locus_tensor_describe(logits));
    if (plan(d, t)) return -1;
    d->last_t = t;
    locus_tensor xw = view_of(d->work, layout(c, d->planned).x, 2, t, c->dim, 0);
    TRY(locus_copy(&xw, x));
    for (int i = 0; i < c->n_layers; i++) TRY(run_layer(d, i, t, pos0));
    locus_tensor h = view_of(d->work, layout(c, d->planned).h, 2, t, c->dim, 0);
    TRY(locus_rms_norm(&h, &xw, d->norm, c->norm_eps));
    if (!logits) return 0;
    locus_tensor last = view_of(d->work, layout(c, d->planned).h + (t - rows) * c->dim, 2, rows, c->dim, 0);
    return project(logits, &last, &d->lm_head);
}

locus_tensor *locus_decoder_cache(locus_decoder *d) {
    if (!d) return locus_fail_null("decoder: NULL");
    int64_t shape[5] = {d->cfg.n_layers, 2, d->cfg.n_kv_heads, d->cfg.max_context, head_dim(&d->cfg)};
    return locus_tensor_from_storage(d->cache, d->cfg.kv_dtype, 0, 5, shape, NULL);
}

locus_tensor *locus_decoder_hidden(locus_decoder *d) {
    if (!d->work) return locus_fail_null("decoder: no forward pass yet");
    int64_t shape[2] = {d->last_t, d->cfg.dim};
    return locus_tensor_from_storage(d->work, LOCUS_F32, layout(&d->cfg, d->planned).h, 2, shape, NULL);
}
