/* attention.c — multi-head / grouped-query attention, causal over a KV cache or full (locus.h).
 * Two paths with the same arithmetic (scores, max-subtracted softmax in f32, weighted values):
 *  - a few query rows (decoding): one row and head at a time, dot products by the vector kernels,
 *    scores on each thread's stack, so a decoded token allocates nothing;
 *  - many rows (prefill, encoders): per head, the scores as one GEMM (q k^T), masked when causal,
 *    softmax by rows, and the output as a second GEMM (p v): matrix products instead of dots.
 * K and V may be f16 (a half-size KV cache): the dots widen keys in registers and values a row at a
 * time; the GEMM path widens the visible rows once per call. */
#include "../core/internal.h"
#include "../kernels/gemm.h"
#include "../kernels/vec.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

enum { STACK_SCORES = 16384, /* longer contexts take a heap buffer per row */
       GEMM_ROWS = 16 };      /* from this many query rows on, the GEMM path */

/* the first s rows of an f16 [S, kvh, d] cache (rows `stride` apart) as f32 [s, kvh * d] */
static float *widened(const locus_vec_kernels *vk, const locus_tensor *c, int64_t s, int64_t width) {
    float *f = locus_aligned_alloc((size_t)(s * width) * sizeof(float));
    if (!f) return NULL;
    const uint16_t *src = locus_tensor_data(c);
#pragma omp parallel for schedule(static) if (s * width > 65536)
    for (int64_t r = 0; r < s; r++) vk->f16_to_f32(f + r * width, src + r * c->strides[0], width);
    return f;
}

static int attention_gemm(locus_tensor *out, const locus_tensor *q, const locus_tensor *k, const locus_tensor *v, int64_t pos0,
                          int causal, int64_t t, int64_t h, int64_t d, int64_t kvh) {
    int64_t s = causal ? pos0 + t : k->sizes[0]; /* keys any row can see */
    float *scores = locus_aligned_alloc((size_t)(t * s) * sizeof(float));
    if (!scores) return locus_fail("attention: out of memory for %lld x %lld scores", (long long)t, (long long)s);
    float *kw = NULL, *vw = NULL;
    if (k->type == LOCUS_F16) {
        const locus_vec_kernels *vk = locus_vec_active();
        kw = widened(vk, k, s, kvh * d);
        vw = kw ? widened(vk, v, s, kvh * d) : NULL;
        if (!vw) {
            locus_aligned_free(kw);
            locus_aligned_free(scores);
            return locus_fail("attention: out of memory widening %lld cached rows", (long long)s);
        }
    }
    const float *qd = locus_tensor_data(q), *kd = kw ? kw : locus_tensor_data(k), *vd = vw ? vw : locus_tensor_data(v);
    float *y = locus_tensor_data(out);
    float scale = 1.0f / sqrtf((float)d);
    int64_t group = h / kvh, ks = kw ? kvh * d : k->strides[0], vs = vw ? kvh * d : v->strides[0];
    for (int64_t head = 0; head < h; head++) {
        int64_t kv = head / group;
        locus_sgemm(false, true, t, s, d, qd + head * d, h * d, kd + kv * d, ks, scores, s);
#pragma omp parallel for schedule(static)
        for (int64_t r = 0; r < t; r++) {
            float *row = scores + r * s;
            int64_t n = causal ? pos0 + r + 1 : s; /* visible keys; the rest weigh 0 */
            float mx = -INFINITY;
            for (int64_t j = 0; j < n; j++) {
                row[j] *= scale;
                mx = row[j] > mx ? row[j] : mx;
            }
            double sum = 0;
            for (int64_t j = 0; j < n; j++) sum += row[j] = expf(row[j] - mx);
            float inv = (float)(1.0 / sum);
            for (int64_t j = 0; j < n; j++) row[j] *= inv;
            for (int64_t j = n; j < s; j++) row[j] = 0;
        }
        locus_sgemm(false, false, t, d, s, scores, s, vd + kv * d, vs, y + head * d, h * d);
    }
    locus_aligned_free(vw);
    locus_aligned_free(kw);
    locus_aligned_free(scores);
    return 0;
}

static int check_cache(const locus_tensor *c, const char *what, int64_t d) {
    if ((c->type != LOCUS_F32 && c->type != LOCUS_F16) || c->ndim != 3 || c->sizes[2] != d || c->strides[2] != 1 ||
        c->strides[1] != d)
        return locus_fail("attention: %s must be f32 or f16 [S, kv_heads, %lld] with contiguous rows, got %s", what, (long long)d,
                         locus_tensor_describe(c));
    return 0;
}

int locus_attention(locus_tensor *out, const locus_tensor *q, const locus_tensor *k, const locus_tensor *v, int64_t pos0,
                   int causal) {
    const char *op = "attention";
    if (locus_check_tensor(q, op, "q") || locus_check_tensor(k, op, "k") || locus_check_tensor(v, op, "v")) return -1;
    if (q->type != LOCUS_F32 || q->ndim != 3 || !locus_tensor_is_contiguous(q))
        return locus_fail("attention: q must be contiguous f32 [T, heads, D], got %s", locus_tensor_describe(q));
    int64_t t = q->sizes[0], h = q->sizes[1], d = q->sizes[2];
    if (check_cache(k, "k", d) || check_cache(v, "v", d)) return -1;
    int64_t kvh = k->sizes[1];
    if (k->type != v->type) return locus_fail("attention: k is %s and v %s", locus_dtype_name(k->type), locus_dtype_name(v->type));
    if (v->sizes[1] != kvh || kvh < 1 || h % kvh)
        return locus_fail("attention: %lld query heads cannot share %lld kv heads", (long long)h, (long long)kvh);
    if (!causal) pos0 = 0;
    if (v->sizes[0] != k->sizes[0] && !causal)
        return locus_fail("attention: k has %lld rows and v %lld", (long long)k->sizes[0], (long long)v->sizes[0]);
    if (causal && (pos0 < 0 || pos0 + t > k->sizes[0] || pos0 + t > v->sizes[0]))
        return locus_fail("attention: positions up to %lld need a cache of at least %lld rows, got %lld", (long long)(pos0 + t - 1),
                         (long long)(pos0 + t), (long long)(k->sizes[0] < v->sizes[0] ? k->sizes[0] : v->sizes[0]));
    if (locus_check_out(out, op, 3, q->sizes)) return -1;
    if (k->type == LOCUS_F16 && d > 512) return locus_fail("attention: f16 keys and values need a head size up to 512, got %lld", (long long)d);
    if (t >= GEMM_ROWS && locus_active_path() != LOCUS_PATH_REF)
        return attention_gemm(out, q, k, v, pos0, causal, t, h, d, kvh);
    const locus_vec_kernels *vk = locus_vec_active();
    const float *qd = locus_tensor_data(q), *kd = locus_tensor_data(k), *vd = locus_tensor_data(v);
    const uint16_t *kh = locus_tensor_data(k), *vh = locus_tensor_data(v); /* the same, when f16 */
    bool half = k->type == LOCUS_F16;
    float *y = locus_tensor_data(out);
    float scale = 1.0f / sqrtf((float)d);
    int64_t group = h / kvh, ks = k->strides[0], vs = v->strides[0];
    int failed = 0;
#pragma omp parallel for schedule(dynamic, 4) if (t * h > 1 && (pos0 + t) * d * h > 32768)
    for (int64_t th = 0; th < t * h; th++) {
        int64_t row = th / h, head = th % h, kv = head / group;
        int64_t n = causal ? pos0 + row + 1 : k->sizes[0]; /* visible keys */
        float stack_scores[STACK_SCORES];
        float *sc = n <= STACK_SCORES ? stack_scores : malloc((size_t)n * sizeof(float));
        if (!sc) {
            failed = 1;
            continue;
        }
        const float *qr = qd + th * d;
        float mx = -INFINITY;
        for (int64_t j = 0; j < n; j++) {
            sc[j] = (half ? vk->dot_f16(qr, kh + j * ks + kv * d, d) : vk->dot_f32(qr, kd + j * ks + kv * d, d)) * scale;
            mx = sc[j] > mx ? sc[j] : mx;
        }
        double sum = 0;
        for (int64_t j = 0; j < n; j++) sum += sc[j] = expf(sc[j] - mx);
        float inv = (float)(1.0 / sum);
        float *yr = y + th * d;
        for (int64_t e = 0; e < d; e++) yr[e] = 0;
        float vrow[512]; /* a widened f16 value row (head dims up to 512) */
        for (int64_t j = 0; j < n; j++) {
            const float *vr = vd + j * vs + kv * d;
            if (half) {
                vk->f16_to_f32(vrow, vh + j * vs + kv * d, d);
                vr = vrow;
            }
            float p = sc[j] * inv;
            for (int64_t e = 0; e < d; e++) yr[e] += p * vr[e];
        }
        if (sc != stack_scores) free(sc);
    }
    return failed ? locus_fail("attention: out of memory for a score row") : 0;
}
