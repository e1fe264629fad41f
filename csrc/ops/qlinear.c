/* qlinear.c — products with Q8_0, Q4_0 and K-quant weights in LOCUS_FAST precision: the rows
 * of x quantized once to Q8_0 blocks, then multiplied with packed groups of 16 weight rows in
 * integers (kernels/qdot.h).
 *
 * Weights come either packed once ahead of time (locus_qpack: the decoder packs its matrices when
 * it is built) or as GGUF rows, which each thread packs a group at a time into its own scratch, so
 * both give the same bits. Many activation rows (prompts) are taken in blocks that stay in L2
 * while every weight group passes over them in tiles of LOCUS_QTILE_M rows. */
#include "../core/internal.h"
#include "../kernels/qdot.h"

#include <stdlib.h>
#include <sys/mman.h>

enum { L2_BUDGET = 384 << 10 }; /* bytes of quantized activation rows a block keeps in L2 */

struct locus_qpacked {
    uint8_t *data; /* ceil(n / 16) groups of k / 32 packed blocks, for an [n, k] matrix */
};

/* The weights of one product: packed, or GGUF rows `row_bytes` apart. */
typedef struct {
    const uint8_t *packed, *raw;
    size_t row_bytes;
    int64_t n, nb;
    int kind; /* LOCUS_QKIND_* */
} qweights;

static size_t group_bytes(const qweights *w) { return locus_qpack_group_bytes(w->kind, w->nb); }

int locus_qkind(int dtype) {
    switch (dtype) {
    case LOCUS_Q8_0: return LOCUS_QKIND_Q8_0;
    case LOCUS_Q4_0: return LOCUS_QKIND_Q4_0;
    case LOCUS_Q4_K: return LOCUS_QKIND_Q4_K;
    case LOCUS_Q5_K: return LOCUS_QKIND_Q5_K;
    case LOCUS_Q6_K: return LOCUS_QKIND_Q6_K;
    default: return -1;
    }
}

/* Packed matrices are large and read whole for every token: on 2 MB pages (where the kernel gives
 * them) packing takes 512 times fewer page faults and decoding fewer TLB misses. free() frees it. */
static void *alloc_huge(size_t n) {
    const size_t huge = 2 << 20;
    n = (n + huge - 1) / huge * huge;
    void *p = aligned_alloc(huge, n);
    if (p) madvise(p, n, MADV_HUGEPAGE);
    return p;
}

/* Packs group g of the GGUF rows into dst. */
static void pack_group(const qweights *w, int64_t g, uint8_t *dst) {
    int64_t rows = w->n - g * LOCUS_QPACK_ROWS;
    locus_qpack_group(dst, w->raw + (size_t)g * LOCUS_QPACK_ROWS * w->row_bytes, w->row_bytes,
                      rows < LOCUS_QPACK_ROWS ? (int)rows : LOCUS_QPACK_ROWS, w->nb, w->kind);
}

/* Group g's packed blocks: where they lie, or packed now into this thread's buffer. */
static const uint8_t *group_at(const qweights *w, int64_t g) {
    if (w->packed) return w->packed + (size_t)g * group_bytes(w);
    uint8_t *dst = locus_thread_buffer(LOCUS_BUFFER_GROUP, group_bytes(w));
    if (dst) pack_group(w, g, dst);
    return dst;
}

/* y[m, n] = the products of the quantized rows xq [m_rows] and the weights. */
static int products(float *y, const uint8_t *xq, size_t xrow, int64_t m_rows, const qweights *w) {
    locus_qgemm_fn gemm = locus_qdot_active()->gemm[w->kind];
    const int TM = LOCUS_QTILE_M, G = LOCUS_QPACK_ROWS;
    int64_t groups = (w->n + G - 1) / G, mb = (int64_t)(L2_BUDGET / xrow) / TM * TM;
    if (mb < TM) mb = TM;
    int failed = 0;
    for (int64_t m0 = 0; m0 < m_rows; m0 += mb) {
        int64_t m1 = m0 + mb < m_rows ? m0 + mb : m_rows;
        /* guided: a thread that shares its core with another program takes fewer groups */
#pragma omp parallel for schedule(guided) if (groups * w->nb > 64)
        for (int64_t g = 0; g < groups; g++) {
            const uint8_t *grp = group_at(w, g);
            if (!grp) {
#pragma omp atomic write
                failed = 1;
                continue;
            }
            int64_t cols = w->n - g * G < G ? w->n - g * G : G;
            for (int64_t m = m0; m < m1; m += TM) {
                int rows = m1 - m < TM ? (int)(m1 - m) : TM;
                if (cols == G) {
                    gemm(y + m * w->n + g * G, w->n, xq + (size_t)m * xrow, xrow, rows, grp, w->nb);
                } else { /* the last, partial group through a tile of its own */
                    float tile[LOCUS_QTILE_M * LOCUS_QPACK_ROWS];
                    gemm(tile, G, xq + (size_t)m * xrow, xrow, rows, grp, w->nb);
                    for (int i = 0; i < rows; i++) memcpy(y + (m + i) * w->n + g * G, tile + i * G, (size_t)cols * sizeof(float));
                }
            }
        }
    }
    return failed ? locus_fail("linear: out of memory for a packed group of %lld blocks", (long long)w->nb) : 0;
}

int locus_linear_q(float *y, const float *x, int64_t m_rows, int64_t k, const locus_tensor *w, const locus_qpacked *packed) {
    qweights qw = {.n = w->sizes[0], .nb = k / LOCUS_QK, .kind = locus_qkind(w->type)};
    if (packed)
        qw.packed = packed->data;
    else {
        qw.raw = locus_tensor_data(w);
        qw.row_bytes = (size_t)locus_bytes_for(w->type, w->strides[0]);
    }
    size_t xrow = locus_qrow_bytes(qw.nb);
    uint8_t *xq = locus_thread_buffer(LOCUS_BUFFER_ACTIVATIONS, xrow * (size_t)m_rows);
    if (!xq) return locus_fail("linear: out of memory for %lld quantized activation rows", (long long)m_rows);
    const locus_qdot_kernels *q = locus_qdot_active();
#pragma omp parallel for schedule(static) if (m_rows > 16)
    for (int64_t m = 0; m < m_rows; m++) q->quantize_q8(x + m * k, xq + (size_t)m * xrow, k);
    return products(y, xq, xrow, m_rows, &qw);
}

locus_qpacked *locus_qpack(const locus_tensor *w) {
    if (!w || w->ndim != 2 || locus_qkind(w->type) < 0 || w->strides[1] != 1)
        return locus_fail_null("qpack: need a Q8_0, Q4_0, Q4_K, Q5_K or Q6_K matrix with contiguous rows, got %s",
                               w ? locus_tensor_describe(w) : "nothing");
    locus_qpacked *p = calloc(1, sizeof *p);
    qweights qw = {.raw = locus_tensor_data(w), .row_bytes = (size_t)locus_bytes_for(w->type, w->strides[0]),
                   .n = w->sizes[0], .nb = w->sizes[1] / LOCUS_QK, .kind = locus_qkind(w->type)};
    int64_t groups = (qw.n + LOCUS_QPACK_ROWS - 1) / LOCUS_QPACK_ROWS;
    if (!p || !(p->data = alloc_huge((size_t)groups * group_bytes(&qw) + 1))) {
        free(p);
        return locus_fail_null("qpack: out of memory for a packed copy of %s", locus_tensor_describe(w));
    }
#pragma omp parallel for schedule(static)
    for (int64_t g = 0; g < groups; g++) pack_group(&qw, g, p->data + (size_t)g * group_bytes(&qw));
    /* the packed copy replaces the mapped rows: their pages go back to the page cache */
    locus_storage_drop_clean_pages(w->storage, qw.raw, (size_t)qw.n * qw.row_bytes);
    return p;
}

void locus_qpacked_free(locus_qpacked *p) {
    if (!p) return;
    free(p->data);
    free(p);
}
