/* gemm.c — GEMM through oneDNN or OpenBLAS (see gemm.h). */
#include "gemm.h"

#include <cblas.h>
#include <oneapi/dnnl/dnnl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

static int use_openblas = -1;

static void sgemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, const float *a, int64_t lda, const float *b,
                  int64_t ldb, float beta, float *c, int64_t ldc) {
    if (use_openblas < 0) {
        const char *env = getenv("LOCUS_BLAS");
        use_openblas = env && strcmp(env, "openblas") == 0;
    }
    if (!use_openblas &&
        dnnl_sgemm(trans_a ? 'T' : 'N', trans_b ? 'T' : 'N', m, n, k, 1.0f, a, lda, b, ldb, beta, c, ldc) == dnnl_success)
        return;
    cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans, (int)m,
                (int)n, (int)k, 1.0f, a, (int)lda, b, (int)ldb, beta, c, (int)ldc);
}

void locus_sgemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, const float *a, int64_t lda,
                const float *b, int64_t ldb, float *c, int64_t ldc) {
    sgemm(trans_a, trans_b, m, n, k, a, lda, b, ldb, 0.0f, c, ldc);
}

void locus_sgemm_acc(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, const float *a, int64_t lda,
                     const float *b, int64_t ldb, float *c, int64_t ldc) {
    sgemm(trans_a, trans_b, m, n, k, a, lda, b, ldb, 1.0f, c, ldc);
}

/* ---- bf16: oneDNN's matmul primitive ------------------------------------------------------------
 * oneDNN 2.x has no bf16 GEMM call, only the primitive, whose creation (~1 ms) would cost more than
 * a small product: primitives are kept by shape, the last CACHED of them (a decoder uses about
 * five shapes per prompt length). */
enum { CACHED = 16 };

typedef struct {
    int64_t m, n, k, lda, ldb, ldc;
    dnnl_primitive_t prim;
    dnnl_memory_desc_t a, b, c;
} bf16_primitive;

static struct {
    pthread_mutex_t lock;
    dnnl_engine_t engine;
    dnnl_stream_t stream;
    int ready; /* 1: engine and stream made, -1: oneDNN cannot */
    bf16_primitive cache[CACHED];
    int next; /* the entry replaced next */
} dn = {.lock = PTHREAD_MUTEX_INITIALIZER};

static bf16_primitive *primitive_for(int64_t m, int64_t n, int64_t k, int64_t lda, int64_t ldb, int64_t ldc) {
    for (int i = 0; i < CACHED; i++) {
        bf16_primitive *e = &dn.cache[i];
        if (e->prim && e->m == m && e->n == n && e->k == k && e->lda == lda && e->ldb == ldb && e->ldc == ldc) return e;
    }
    bf16_primitive e = {m, n, k, lda, ldb, ldc, NULL, {0}, {0}, {0}};
    dnnl_dims_t ad = {m, k}, as = {lda, 1}, bd = {k, n}, bs = {1, ldb}, cd = {m, n}, cs = {ldc, 1};
    dnnl_matmul_desc_t md;
    dnnl_primitive_desc_t pd = NULL;
    if (dnnl_memory_desc_init_by_strides(&e.a, 2, ad, dnnl_bf16, as) || dnnl_memory_desc_init_by_strides(&e.b, 2, bd, dnnl_bf16, bs) ||
        dnnl_memory_desc_init_by_strides(&e.c, 2, cd, dnnl_f32, cs) || dnnl_matmul_desc_init(&md, &e.a, &e.b, NULL, &e.c) ||
        dnnl_primitive_desc_create(&pd, &md, NULL, dn.engine, NULL) || dnnl_primitive_create(&e.prim, pd)) {
        if (pd) dnnl_primitive_desc_destroy(pd);
        return NULL;
    }
    dnnl_primitive_desc_destroy(pd);
    bf16_primitive *slot = &dn.cache[dn.next];
    dn.next = (dn.next + 1) % CACHED;
    if (slot->prim) dnnl_primitive_destroy(slot->prim);
    *slot = e;
    return slot;
}

int locus_gemm_bf16(int64_t m, int64_t n, int64_t k, const uint16_t *a, int64_t lda, const uint16_t *b, int64_t ldb, float *c,
                    int64_t ldc) {
    int rc = -1;
    pthread_mutex_lock(&dn.lock);
    if (dn.ready == 0)
        dn.ready = dnnl_engine_create(&dn.engine, dnnl_cpu, 0) == dnnl_success &&
                           dnnl_stream_create(&dn.stream, dn.engine, dnnl_stream_default_flags) == dnnl_success
                       ? 1
                       : -1;
    bf16_primitive *e = dn.ready > 0 ? primitive_for(m, n, k, lda, ldb, ldc) : NULL;
    dnnl_memory_t am = NULL, bm = NULL, cm = NULL;
    if (e && !dnnl_memory_create(&am, &e->a, dn.engine, (void *)a) && !dnnl_memory_create(&bm, &e->b, dn.engine, (void *)b) &&
        !dnnl_memory_create(&cm, &e->c, dn.engine, c)) {
        dnnl_exec_arg_t args[3] = {{DNNL_ARG_SRC, am}, {DNNL_ARG_WEIGHTS, bm}, {DNNL_ARG_DST, cm}};
        rc = dnnl_primitive_execute(e->prim, dn.stream, 3, args) == dnnl_success && dnnl_stream_wait(dn.stream) == dnnl_success ? 0 : -1;
    }
    if (cm) dnnl_memory_destroy(cm);
    if (bm) dnnl_memory_destroy(bm);
    if (am) dnnl_memory_destroy(am);
    pthread_mutex_unlock(&dn.lock);
    return rc;
}
