/* linear.c — matrix products: locus_matmul (f32 @ f32) and locus_linear (f32 activations times
 * weights kept in their stored dtype).
 *
 * Paths for locus_linear, chosen by the number of rows M and the weight dtype:
 *  - M <= SMALL_M (decode, short prompts): our vector kernels, widening bf16/f16 weights on the
 *    fly so they are read once and nothing is allocated: dot products for M = 1 (bound by memory
 *    bandwidth, which they reach), register-blocked tiles for larger M.
 *  - larger M, f32 weights: one sgemm (kernels/gemm.c).
 *  - larger M, bf16/f16 weights (prefill, encoders): blocks of weight rows are widened into a
 *    scratch buffer and multiplied with sgemm, so f32 activations keep full precision and no
 *    f32 copy of the whole matrix ever exists.
 *  - Q8_0, Q4_0 and K-quant weights, LOCUS_FAST precision (the default) or LOCUS_FAST_BF16: the
 *    rows of x quantized once to Q8_0 blocks and multiplied with packed weight groups in integers
 *    (qlinear.c), as llama.cpp does.
 *  - bf16 weights, LOCUS_FAST_BF16 precision, a CPU with AVX512_BF16: the rows of x rounded to bf16 once
 *    and multiplied in bf16 (vdpbf16ps dots for few rows, oneDNN's bf16 matmul for many).
 * *  - block-quantized weights in LOCUS_EXACT: f32 activations; weights dequantized like bf16 ones are
 *    widened (small M: 512-element pieces on the stack).
 *  - "ref" kernel path: plain loops over locus_vec_ref, the reference the tests compare against. */
#include "../core/internal.h"
#include "../kernels/gemm.h"
#include "../kernels/vec.h"

#include <stdio.h>
#include <stdlib.h>

enum { SMALL_M = 16, WIDEN_ROWS = 512 };

/* Rows of weight rows is strided by ldw (elements); each row is contiguous. */
typedef struct {
    const void *data;
    int type;
    int64_t n, k, ldw;
} weight_matrix;

static float dot_row(const locus_vec_kernels *v, const float *x, const weight_matrix *w, int64_t n) {
    if (is_block_dtype(w->type)) { /* dequantized a stack-sized piece at a time: no allocation */
        float buf[512] __attribute__((aligned(64)));
        const char *row = (const char *)w->data + locus_bytes_for(w->type, n * w->ldw);
        float s = 0;
        for (int64_t k0 = 0; k0 < w->k; k0 += 512) {
            int64_t len = w->k - k0 < 512 ? w->k - k0 : 512;
            locus_dequantize_row(w->type, row + locus_bytes_for(w->type, k0), buf, len);
            s += v->dot_f32(x + k0, buf, len);
        }
        return s;
    }
    const char *row = (const char *)w->data + n * w->ldw * (int64_t)locus_dtype_size(w->type);
    switch (w->type) {
    case LOCUS_BF16: return v->dot_bf16(x, (const uint16_t *)row, w->k);
    case LOCUS_F16: return v->dot_f16(x, (const uint16_t *)row, w->k);
    default: return v->dot_f32(x, (const float *)row, w->k);
    }
}

/* Row n of the weights (elements k0 .. k0+len) as f32. */
static void widen(const locus_vec_kernels *v, float *dst, const weight_matrix *w, int64_t n, int64_t k0, int64_t len) {
    if (is_block_dtype(w->type)) {
        locus_dequantize_row(w->type, (const char *)w->data + locus_bytes_for(w->type, n * w->ldw + k0), dst, len);
        return;
    }
    const uint16_t *src = (const uint16_t *)w->data + n * w->ldw + k0;
    if (w->type == LOCUS_BF16)
        v->bf16_to_f32(dst, src, len);
    else
        v->f16_to_f32(dst, src, len);
}

/* y[m, n] = x[m, :] . w[n, :] for every (m, n), one dot product at a time. */
static void linear_dots(const locus_vec_kernels *v, float *y, const float *x, int64_t m_rows, const weight_matrix *w) {
#pragma omp parallel for schedule(static) if (w->n * w->k > 65536)
    for (int64_t n = 0; n < w->n; n++)
        for (int64_t m = 0; m < m_rows; m++) y[m * w->n + n] = dot_row(v, x + m * w->k, w, n);
}

/* Small M (2..SMALL_M rows): register-blocked tiles of mr x nr products; the rows and columns
 * that do not fill a tile take single dot products. */
static void linear_small_m(const locus_vec_kernels *v, float *y, const float *x, int64_t m_rows, const weight_matrix *w) {
    if (m_rows == 1 || !v->tile || is_block_dtype(w->type)) {
        linear_dots(v, y, x, m_rows, w);
        return;
    }
    int64_t mr = v->mr, nr = v->nr, full_n = w->n / nr * nr, full_m = m_rows / mr * mr;
    size_t es = locus_dtype_size(w->type);
#pragma omp parallel for schedule(static) if (w->n * w->k > 65536)
    for (int64_t n0 = 0; n0 < w->n; n0 += nr) {
        if (n0 < full_n) {
            const char *wrow = (const char *)w->data + n0 * w->ldw * (int64_t)es;
            for (int64_t m0 = 0; m0 < full_m; m0 += mr)
                v->tile(y + m0 * w->n + n0, w->n, x + m0 * w->k, w->k, wrow, w->ldw, w->type, w->k);
            for (int64_t m = full_m; m < m_rows; m++)
                for (int64_t j = n0; j < n0 + nr; j++) y[m * w->n + j] = dot_row(v, x + m * w->k, w, j);
        } else {
            for (int64_t j = n0; j < w->n; j++)
                for (int64_t m = 0; m < m_rows; m++) y[m * w->n + j] = dot_row(v, x + m * w->k, w, j);
        }
    }
}

static int linear_widened_gemm(const locus_vec_kernels *v, float *y, const float *x, int64_t m_rows, const weight_matrix *w) {
    int64_t rows = w->n < WIDEN_ROWS ? w->n : WIDEN_ROWS;
    float *buf = locus_aligned_alloc((size_t)(rows * w->k) * sizeof(float));
    if (!buf) return locus_fail("linear: out of memory for a %lld x %lld scratch block", (long long)rows, (long long)w->k);
    for (int64_t n0 = 0; n0 < w->n; n0 += rows) {
        int64_t nb = w->n - n0 < rows ? w->n - n0 : rows;
#pragma omp parallel for schedule(static)
        for (int64_t i = 0; i < nb; i++) widen(v, buf + i * w->k, w, n0 + i, 0, w->k);
        locus_sgemm(false, true, m_rows, nb, w->k, x, w->k, buf, w->k, y + n0, w->n);
    }
    locus_aligned_free(buf);
    return 0;
}

/* LOCUS_FAST_BF16 precision, bf16 weights, a CPU with bf16 instructions: the rows of x are rounded to
 * bf16 once and multiplied in bf16 with sums in f32, as llama.cpp runs bf16 weights and PyTorch a
 * bf16 model. */
static bool bf16_activations(const weight_matrix *w) {
    return w->type == LOCUS_BF16 && locus_precision() == LOCUS_FAST_BF16 && locus_active_path() == LOCUS_PATH_AVX512 &&
           locus_cpu_has_bf16();
}

/* With bf16 activations: vdpbf16ps dot products for a few rows (decoding), oneDNN's bf16 matmul
 * for many. 1 when oneDNN cannot (the caller computes in f32), else 0 or -1. */
static int linear_bf16(float *y, const float *x, int64_t m_rows, const weight_matrix *w) {
    uint16_t *xb = (uint16_t *)(void *)locus_thread_buffer(LOCUS_BUFFER_ACTIVATIONS, (size_t)(m_rows * w->k) * sizeof(uint16_t));
    if (!xb) return locus_fail("linear: out of memory for %lld x %lld bf16 activations", (long long)m_rows, (long long)w->k);
#pragma omp parallel for schedule(static) if (m_rows * w->k > 65536)
    for (int64_t i = 0; i < m_rows * w->k; i++) xb[i] = f32_to_bf16(x[i]);
    if (m_rows > SMALL_M) return locus_gemm_bf16(m_rows, w->n, w->k, xb, w->k, w->data, w->ldw, y, w->n) == 0 ? 0 : 1;
    const uint16_t *wd = w->data;
#pragma omp parallel for schedule(guided) if (w->n * w->k > 65536)
    for (int64_t n = 0; n < w->n; n++)
        for (int64_t m = 0; m < m_rows; m++) y[m * w->n + n] = locus_dot_bf16_bf16(xb + m * w->k, wd + n * w->ldw, w->k);
    return 0;
}

static int add_bias(float *y, int64_t m_rows, int64_t n, const locus_tensor *bias) {
    locus_tensor *owned;
    if (bias->ndim != 1 || bias->sizes[0] != n || !is_float_dtype(bias->type))
        return locus_fail("linear: bias must be a float vector of %lld, got %s", (long long)n, locus_tensor_describe(bias));
    const float *b = locus_f32_view(bias, &owned);
    if (!b) return -1;
#pragma omp parallel for schedule(static) if (m_rows * n > 65536)
    for (int64_t m = 0; m < m_rows; m++)
        for (int64_t j = 0; j < n; j++) y[m * n + j] += b[j];
    locus_tensor_free(owned);
    return 0;
}

static int linear(locus_tensor *out, const locus_tensor *x, const locus_tensor *w, const locus_tensor *bias, const locus_qpacked *packed) {
    const char *op = "linear";
    if (locus_check_tensor(x, op, "x") || locus_check_tensor(w, op, "weight")) return -1;
    if (w->ndim != 2 || !is_float_dtype(w->type))
        return locus_fail("linear: weight must be a 2-D float matrix [out, in] (f32, bf16, f16, q8_0, q4_0, q4_k, q5_k, q6_k), got %s", locus_tensor_describe(w));
    if (x->ndim < 1 || x->sizes[x->ndim - 1] != w->sizes[1] || !is_float_dtype(x->type)) {
        char xs[256];
        snprintf(xs, sizeof xs, "%s", locus_tensor_describe(x));
        return locus_fail("linear: x %s does not match weight %s (last dim must be %lld)", xs,
                         locus_tensor_describe(w), (long long)w->sizes[1]);
    }
    int64_t oshape[LOCUS_MAX_DIMS];
    for (int i = 0; i < x->ndim; i++) oshape[i] = x->sizes[i];
    oshape[x->ndim - 1] = w->sizes[0];
    if (locus_check_out(out, op, x->ndim, oshape)) return -1;

    int64_t k = w->sizes[1], n = w->sizes[0], m_rows = k ? locus_tensor_numel(x) / k : 0;
    if (n == 0 || m_rows == 0) return 0;
    locus_tensor *wc = NULL, *xc = NULL;
    if (w->strides[1] != 1 && !(wc = locus_contiguous(w))) return -1;
    const locus_tensor *wt = wc ? wc : w;
    weight_matrix wm = {locus_tensor_data(wt), wt->type, n, k, wt->strides[0]};
    const float *xd = locus_f32_view(x, &xc);
    float *y = locus_tensor_data(out);
    int rc = 0;
    if (!xd) {
        rc = -1;
    } else if (k == 0) {
        memset(y, 0, (size_t)(m_rows * n) * sizeof(float));
    } else if (locus_qkind(wm.type) >= 0 && locus_precision() != LOCUS_EXACT) {
        rc = locus_linear_q(y, xd, m_rows, k, wt, wc ? NULL : packed);
    } else if (locus_active_path() == LOCUS_PATH_REF) {
        linear_dots(&locus_vec_ref, y, xd, m_rows, &wm);
    } else if (bf16_activations(&wm) && (rc = linear_bf16(y, xd, m_rows, &wm)) <= 0) {
        /* computed (or failed) with bf16 activations; 1: oneDNN could not, widened below */
    } else if (m_rows <= SMALL_M) {
        linear_small_m(locus_vec_active(), y, xd, m_rows, &wm);
    } else if (wm.type == LOCUS_F32) {
        locus_sgemm(false, true, m_rows, n, k, xd, k, wm.data, wm.ldw, y, n);
    } else {
        rc = linear_widened_gemm(locus_vec_active(), y, xd, m_rows, &wm);
    }
    if (rc == 0 && bias) rc = add_bias(y, m_rows, n, bias);
    locus_tensor_free(xc);
    locus_tensor_free(wc);
    return rc;
}

int locus_linear(locus_tensor *out, const locus_tensor *x, const locus_tensor *w, const locus_tensor *bias) {
    return linear(out, x, w, bias, NULL);
}

int locus_linear_prepared(locus_tensor *out, const locus_tensor *x, const locus_tensor *w, const locus_qpacked *packed) {
    return linear(out, x, w, NULL, packed);
}

/* ---- matmul --------------------------------------------------------------------------------- */

/* Whether a 2-D f32 slice suits GEMM: one of its dims has unit stride (row-major as it is, or
 * transposed), with the leading dimension that implies. */
static bool gemm_layout(int64_t rows, int64_t cols, int64_t rs, int64_t cs, bool *trans, int64_t *ld) {
    if (cs == 1 && (rs >= cols || rows == 1)) {
        *trans = false;
        *ld = rows == 1 ? (cols > 0 ? cols : 1) : rs;
        return true;
    }
    if (rs == 1 && (cs >= rows || cols == 1)) {
        *trans = true;
        *ld = cols == 1 ? (rows > 0 ? rows : 1) : cs;
        return true;
    }
    return false;
}

static void matmul_ref(float *y, const float *a, int64_t ars, int64_t acs, const float *b, int64_t brs,
                       int64_t bcs, int64_t m, int64_t n, int64_t k, bool acc) {
#pragma omp parallel for schedule(static) if (m * n * k > 65536)
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < n; j++) {
            float s = 0;
            for (int64_t p = 0; p < k; p++) s += a[i * ars + p * acs] * b[p * brs + j * bcs];
            y[i * n + j] = acc ? y[i * n + j] + s : s;
        }
}

/* out = a b, or out += a b (acc) */
static int matmul(locus_tensor *out, const locus_tensor *a, const locus_tensor *b, bool acc) {
    const char *op = acc ? "matmul_acc" : "matmul";
    if (locus_check_tensor(a, op, "a") || locus_check_tensor(b, op, "b")) return -1;
    char as[256];
    snprintf(as, sizeof as, "%s", locus_tensor_describe(a));
    if (a->ndim < 2 || b->ndim < 2 || a->sizes[a->ndim - 1] != b->sizes[b->ndim - 2] ||
        !is_float_dtype(a->type) || !is_float_dtype(b->type))
        return locus_fail("matmul: cannot multiply %s by %s (need float [..., M, K] @ [..., K, N])", as,
                         locus_tensor_describe(b));
    int64_t m = a->sizes[a->ndim - 2], k = a->sizes[a->ndim - 1], n = b->sizes[b->ndim - 1];
    int nd = a->ndim > b->ndim ? a->ndim : b->ndim;
    int64_t oshape[LOCUS_MAX_DIMS];
    for (int i = 0; i < nd - 2; i++) { /* broadcast batch dims, aligned from the right */
        int ia = i - (nd - a->ndim), ib = i - (nd - b->ndim);
        int64_t da = ia >= 0 ? a->sizes[ia] : 1, db = ib >= 0 ? b->sizes[ib] : 1;
        if (da != db && da != 1 && db != 1)
            return locus_fail("matmul: batch dims of %s and %s do not broadcast", as, locus_tensor_describe(b));
        oshape[i] = da == 1 ? db : da;
    }
    oshape[nd - 2] = m;
    oshape[nd - 1] = n;
    if (locus_check_out(out, op, nd, oshape)) return -1;

    /* expanded views of a and b over the batch dims, converted to f32 where needed */
    int64_t ash[LOCUS_MAX_DIMS], bsh[LOCUS_MAX_DIMS];
    memcpy(ash, oshape, sizeof ash);
    memcpy(bsh, oshape, sizeof bsh);
    ash[nd - 1] = k;
    bsh[nd - 2] = k;
    locus_tensor *af, *bf = NULL;
    locus_tensor *ae = locus_expanded_f32(a, nd, ash, &af);
    locus_tensor *be = ae ? locus_expanded_f32(b, nd, bsh, &bf) : NULL;
    int rc = ae && be ? 0 : -1;
    int64_t batches = 1;
    for (int i = 0; i < nd - 2; i++) batches *= oshape[i];
    float *y = locus_tensor_data(out);
    bool ref = locus_active_path() == LOCUS_PATH_REF;
    for (int64_t bi = 0; rc == 0 && bi < batches && m * n > 0; bi++) {
        int64_t aoff = 0, boff = 0, r = bi;
        for (int d = nd - 3; d >= 0; d--) {
            int64_t i = r % oshape[d];
            r /= oshape[d];
            aoff += i * ae->strides[d];
            boff += i * be->strides[d];
        }
        const float *ap = (const float *)locus_tensor_data(ae) + aoff, *bp = (const float *)locus_tensor_data(be) + boff;
        int64_t ars = ae->strides[nd - 2], acs = ae->strides[nd - 1], brs = be->strides[nd - 2], bcs = be->strides[nd - 1];
        float *yp = y + bi * m * n;
        bool ta, tb;
        int64_t lda, ldb;
        if (k == 0) {
            if (!acc) memset(yp, 0, (size_t)(m * n) * sizeof(float));
        } else if (!ref && gemm_layout(m, k, ars, acs, &ta, &lda) && gemm_layout(k, n, brs, bcs, &tb, &ldb)) {
            (acc ? locus_sgemm_acc : locus_sgemm)(ta, tb, m, n, k, ap, lda, bp, ldb, yp, n);
        } else {
            matmul_ref(yp, ap, ars, acs, bp, brs, bcs, m, n, k, acc);
        }
    }
    locus_tensor_free(ae);
    locus_tensor_free(be);
    locus_tensor_free(af);
    locus_tensor_free(bf);
    return rc;
}

int locus_matmul(locus_tensor *out, const locus_tensor *a, const locus_tensor *b) { return matmul(out, a, b, false); }

int locus_matmul_acc(locus_tensor *out, const locus_tensor *a, const locus_tensor *b) {
    if (!out) return locus_fail("matmul_acc: no out tensor (it is added into)");
    return matmul(out, a, b, true);
}
