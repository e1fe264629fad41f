/* attention.c — multi-head / grouped-query attention, causal over a KV cache or full (locus.h).
 * K and V are [S, KVH, D] views whose rows of D are contiguous and whose S and KVH strides are
 * free: the decoder's head-major cache ([KVH][S][D], each head's keys one contiguous block) and
 * token-major tensors ([S][KVH][D], encoders) alike; f32, or f16 for a half-size cache.
 * Two paths compute softmax(q k^T / sqrt D) v in f32:
 *  - a few query rows (decoding), and every row on the reference kernel path: one row and head at
 *    a time: dot products, softmax and the weighted sum of values by the vector kernels (f16 rows
 *    widened in registers), scores on each thread's stack, so a decoded token allocates nothing;
 *  - many rows (prefill, encoders): fused. Per head and block of BQ query rows, one pass over the
 *    keys in blocks of BK with an online softmax (Milakov & Gimelshein 2018, as in FlashAttention):
 *    a block's scores are one small GEMM, each row keeps its running max and sum, and when the max
 *    grows the accumulated p v is rescaled by exp(old max - new max) before the block's own p v (a
 *    second small GEMM) is added. Nothing of size T x S exists, f16 keys and values are widened a
 *    block at a time, and with causal masking key blocks wholly above the diagonal are skipped.
 *    Parallel over (head, query block); the GEMMs are oneDNN's sgemm (gemm.h), run on one thread
 *    inside the parallel loop, 2 x 64 x 64 x D flops a call (benchmarks/attention.lua measures the
 *    path). */
#include "../core/internal.h"
#include "../kernels/gemm.h"
#include "../kernels/vec.h"

#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>

enum { STACK_SCORES = 16384, /* longer contexts take a heap buffer per row */
       FUSED_ROWS = 16,      /* from this many query rows on, the fused path */
       BQ = 64, BK = 64 };   /* query rows and keys per block of the fused path */

typedef struct {
    const float *q;  /* [T, H, D] contiguous */
    float *y;        /* [T, H, D] contiguous */
    const locus_tensor *k, *v;
    int64_t t, h, d, group, pos0, s; /* s: keys a non-causal row sees */
    int causal;
    float scale;
} attention_args;

/* One thread's scratch for the fused path (floats): scores [BQ][BK], acc and pv [BQ][D], widened
 * key and value blocks [BK][D], and per row the running max, sum and rescaling factor. */
static int64_t scratch_floats(int64_t d) { return BQ * BK + 2 * BQ * d + 2 * BK * d + 3 * BQ; }

/* Rows j0 .. j0+n-1 of kv head `kv` in `c` as f32 rows `*ld` apart: the tensor itself when it is
 * f32 with rows that do not overlap (a GEMM operand), else widened or copied into buf [n][d]. */
static const float *kv_block(const locus_tensor *c, int64_t kv, int64_t j0, int64_t n, int64_t d, float *buf,
                             int64_t *ld, const locus_vec_kernels *vk) {
    int64_t rs = c->strides[0], off = kv * c->strides[1] + j0 * rs;
    if (c->type == LOCUS_F32 && rs >= d) {
        *ld = rs;
        return (const float *)locus_tensor_data(c) + off;
    }
    for (int64_t j = 0; j < n; j++) {
        if (c->type == LOCUS_F16)
            vk->f16_to_f32(buf + j * d, (const uint16_t *)locus_tensor_data(c) + off + j * rs, d);
        else
            for (int64_t e = 0; e < d; e++) buf[j * d + e] = ((const float *)locus_tensor_data(c))[off + j * rs + e];
    }
    *ld = d;
    return buf;
}

/* The fused pass for query rows r0 .. r0+nq-1 of one head. */
static void fused_block(const attention_args *a, int64_t head, int64_t r0, int64_t nq, float *scratch,
                        const locus_vec_kernels *vk) {
    int64_t d = a->d, kv = head / a->group;
    float *sc = scratch, *acc = sc + BQ * BK, *pv = acc + BQ * d, *kb = pv + BQ * d, *vb = kb + BK * d;
    float *mx = vb + BK * d, *sum = mx + BQ, *corr = sum + BQ;
    for (int64_t i = 0; i < nq; i++) {
        mx[i] = -INFINITY;
        sum[i] = 0;
    }
    for (int64_t i = 0; i < nq * d; i++) acc[i] = 0;
    const float *qb = a->q + (r0 * a->h + head) * d;
    int64_t end = a->causal ? a->pos0 + r0 + nq : a->s; /* keys the block's last row sees */
    for (int64_t j0 = 0; j0 < end; j0 += BK) {
        int64_t nk = end - j0 < BK ? end - j0 : BK, ldk, ldv;
        const float *kp = kv_block(a->k, kv, j0, nk, d, kb, &ldk, vk);
        locus_sgemm(false, true, nq, nk, d, qb, a->h * d, kp, ldk, sc, BK);
        for (int64_t i = 0; i < nq; i++) {
            float *row = sc + i * BK;
            /* keys of this block row i sees: all, or up to its own position */
            int64_t n = a->causal ? a->pos0 + r0 + i + 1 - j0 : nk;
            n = n < nk ? n : nk;
            if (n <= 0) { /* the whole block lies above this row's diagonal */
                for (int64_t j = 0; j < nk; j++) row[j] = 0;
                corr[i] = 1;
                continue;
            }
            /* maxima are of unscaled scores: scale > 0 keeps their order */
            float m = vk->max_f32(row, n);
            m = m > mx[i] ? m : mx[i];
            corr[i] = expf((mx[i] - m) * a->scale); /* 0 on the first block (mx = -inf), where acc is 0 */
            mx[i] = m;
            float s = vk->exp_sum(row, n, m, a->scale);
            for (int64_t j = n; j < nk; j++) row[j] = 0;
            sum[i] = sum[i] * corr[i] + s;
        }
        const float *vp = kv_block(a->v, kv, j0, nk, d, vb, &ldv, vk);
        locus_sgemm(false, false, nq, d, nk, sc, BK, vp, ldv, pv, d);
        for (int64_t i = 0; i < nq; i++)
            for (int64_t e = 0; e < d; e++) acc[i * d + e] = acc[i * d + e] * corr[i] + pv[i * d + e];
    }
    for (int64_t i = 0; i < nq; i++) {
        float inv = 1.0f / sum[i], *yr = a->y + ((r0 + i) * a->h + head) * d;
        for (int64_t e = 0; e < d; e++) yr[e] = acc[i * d + e] * inv;
    }
}

static int attention_fused(const attention_args *a) {
    int threads = omp_get_max_threads();
    int64_t per = scratch_floats(a->d);
    float *scratch = locus_aligned_alloc((size_t)(per * threads) * sizeof(float));
    if (!scratch) return locus_fail("attention: out of memory for %d threads' blocks", threads);
    const locus_vec_kernels *vk = locus_vec_active();
    int64_t blocks = (a->t + BQ - 1) / BQ;
    /* the last query blocks see the most keys under causal masking: hand them out first */
#pragma omp parallel for schedule(dynamic, 1)
    for (int64_t item = 0; item < blocks * a->h; item++) {
        int64_t b = blocks - 1 - item / a->h, r0 = b * BQ, nq = a->t - r0 < BQ ? a->t - r0 : BQ;
        fused_block(a, item % a->h, r0, nq, scratch + per * omp_get_thread_num(), vk);
    }
    locus_aligned_free(scratch);
    return 0;
}

/* One query row and head at a time (see the top of the file). */
static int attention_rows(const attention_args *a) {
    const locus_vec_kernels *vk = locus_vec_active();
    const locus_tensor *k = a->k, *v = a->v;
    const float *kd = locus_tensor_data(k), *vd = locus_tensor_data(v);
    const uint16_t *kh = locus_tensor_data(k), *vh = locus_tensor_data(v); /* the same, when f16 */
    bool half = k->type == LOCUS_F16;
    int64_t t = a->t, h = a->h, d = a->d;
    int64_t ks = k->strides[0], khs = k->strides[1], vs = v->strides[0], vhs = v->strides[1];
    int failed = 0;
#pragma omp parallel for schedule(dynamic, 4) if (t * h > 1 && (a->pos0 + t) * d * h > 32768)
    for (int64_t th = 0; th < t * h; th++) {
        int64_t row = th / h, head = th % h, kv = head / a->group;
        int64_t n = a->causal ? a->pos0 + row + 1 : a->s; /* visible keys */
        float stack_scores[STACK_SCORES];
        float *sc = n <= STACK_SCORES ? stack_scores : malloc((size_t)n * sizeof(float));
        if (!sc) {
            failed = 1;
            continue;
        }
        const float *qr = a->q + th * d;
        for (int64_t j = 0; j < n; j++) {
            int64_t o = j * ks + kv * khs;
            sc[j] = half ? vk->dot_f16(qr, kh + o, d) : vk->dot_f32(qr, kd + o, d);
        }
        float inv = 1.0f / vk->exp_sum(sc, n, vk->max_f32(sc, n), a->scale);
        float *yr = a->y + th * d;
        for (int64_t e = 0; e < d; e++) yr[e] = 0;
        for (int64_t j = 0; j < n; j++) {
            int64_t o = j * vs + kv * vhs;
            if (half)
                vk->axpy_f16(yr, sc[j] * inv, vh + o, d);
            else
                vk->axpy_f32(yr, sc[j] * inv, vd + o, d);
        }
        if (sc != stack_scores) free(sc);
    }
    return failed ? locus_fail("attention: out of memory for a score row") : 0;
}

static int check_kv(const locus_tensor *c, const char *what, int64_t d) {
    if ((c->type != LOCUS_F32 && c->type != LOCUS_F16) || c->ndim != 3 || c->sizes[2] != d || c->strides[2] != 1 ||
        c->strides[0] < 0 || c->strides[1] < 0)
        return locus_fail("attention: %s must be f32 or f16 [S, kv_heads, %lld] with contiguous rows of %lld (any "
                         "strides over S and kv_heads), got %s", what, (long long)d, (long long)d, locus_tensor_describe(c));
    return 0;
}

int locus_attention(locus_tensor *out, const locus_tensor *q, const locus_tensor *k, const locus_tensor *v, int64_t pos0,
                   int causal) {
    const char *op = "attention";
    if (locus_check_tensor(q, op, "q") || locus_check_tensor(k, op, "k") || locus_check_tensor(v, op, "v")) return -1;
    if (q->type != LOCUS_F32 || q->ndim != 3 || !locus_tensor_is_contiguous(q))
        return locus_fail("attention: q must be contiguous f32 [T, heads, D], got %s", locus_tensor_describe(q));
    int64_t t = q->sizes[0], h = q->sizes[1], d = q->sizes[2];
    if (check_kv(k, "k", d) || check_kv(v, "v", d)) return -1;
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
    if (t == 0) return 0;
    attention_args a = {locus_tensor_data(q), locus_tensor_data(out), k, v, t, h, d, h / kvh, pos0, k->sizes[0], causal != 0,
                        1.0f / sqrtf((float)d)};
    if (t >= FUSED_ROWS && locus_active_path() != LOCUS_PATH_REF) return attention_fused(&a);
    return attention_rows(&a);
}
