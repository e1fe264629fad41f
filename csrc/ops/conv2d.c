/* conv2d.c — 2-D convolution (the patch embeddings of the vision encoders): oneDNN on the
 * optimized paths, direct loops on the reference path. */
#include "../core/internal.h"

#include <oneapi/dnnl/dnnl.h>
#include <pthread.h>
#include <stdio.h>

static dnnl_engine_t engine;
static dnnl_status_t engine_status = dnnl_runtime_error;
static pthread_once_t engine_once = PTHREAD_ONCE_INIT;

static void make_engine(void) { engine_status = dnnl_engine_create(&engine, dnnl_cpu, 0); }

static void conv_ref(float *y, const float *x, const float *w, const float *b, int64_t bn, int64_t c, int64_t h,
                     int64_t wd, int64_t o, int64_t kh, int64_t kw, int64_t oh, int64_t ow, int sh, int sw, int ph, int pw) {
#pragma omp parallel for collapse(2) schedule(static)
    for (int64_t n = 0; n < bn; n++)
        for (int64_t oc = 0; oc < o; oc++)
            for (int64_t yy = 0; yy < oh; yy++)
                for (int64_t xx = 0; xx < ow; xx++) {
                    float s = b ? b[oc] : 0.0f;
                    for (int64_t ic = 0; ic < c; ic++)
                        for (int64_t i = 0; i < kh; i++) {
                            int64_t iy = yy * sh - ph + i;
                            if (iy < 0 || iy >= h) continue;
                            for (int64_t j = 0; j < kw; j++) {
                                int64_t ix = xx * sw - pw + j;
                                if (ix < 0 || ix >= wd) continue;
                                s += x[((n * c + ic) * h + iy) * wd + ix] * w[((oc * c + ic) * kh + i) * kw + j];
                            }
                        }
                    y[((n * o + oc) * oh + yy) * ow + xx] = s;
                }
}

#define DNNL_TRY(call)                                                                            \
    do {                                                                                          \
        dnnl_status_t st_ = (call);                                                               \
        if (st_ != dnnl_success) {                                                                \
            rc = locus_fail("conv2d: oneDNN %s failed (status %d)", #call, (int)st_);             \
            goto done;                                                                            \
        }                                                                                         \
    } while (0)

static int conv_onednn(float *y, const float *x, const float *w, const float *b, const dnnl_dims_t xd,
                       const dnnl_dims_t wdims, const dnnl_dims_t yd, int sh, int sw, int ph, int pw) {
    pthread_once(&engine_once, make_engine);
    if (engine_status != dnnl_success) return locus_fail("conv2d: cannot create the oneDNN CPU engine");
    int rc = 0;
    dnnl_memory_desc_t xmd, wmd, bmd, ymd;
    dnnl_convolution_desc_t cd;
    dnnl_primitive_desc_t pd = NULL;
    dnnl_primitive_t prim = NULL;
    dnnl_stream_t stream = NULL;
    dnnl_memory_t xm = NULL, wm = NULL, bm = NULL, ym = NULL;
    dnnl_dims_t bdims = {wdims[0]}, strides = {sh, sw}, pad = {ph, pw};
    DNNL_TRY(dnnl_memory_desc_init_by_tag(&xmd, 4, xd, dnnl_f32, dnnl_nchw));
    DNNL_TRY(dnnl_memory_desc_init_by_tag(&wmd, 4, wdims, dnnl_f32, dnnl_oihw));
    DNNL_TRY(dnnl_memory_desc_init_by_tag(&bmd, 1, bdims, dnnl_f32, dnnl_a));
    DNNL_TRY(dnnl_memory_desc_init_by_tag(&ymd, 4, yd, dnnl_f32, dnnl_nchw));
    DNNL_TRY(dnnl_convolution_forward_desc_init(&cd, dnnl_forward_inference, dnnl_convolution_direct, &xmd, &wmd,
                                                b ? &bmd : NULL, &ymd, strides, pad, pad));
    DNNL_TRY(dnnl_primitive_desc_create(&pd, &cd, NULL, engine, NULL));
    DNNL_TRY(dnnl_primitive_create(&prim, pd));
    DNNL_TRY(dnnl_stream_create(&stream, engine, dnnl_stream_default_flags));
    DNNL_TRY(dnnl_memory_create(&xm, &xmd, engine, (void *)x));
    DNNL_TRY(dnnl_memory_create(&wm, &wmd, engine, (void *)w));
    DNNL_TRY(dnnl_memory_create(&ym, &ymd, engine, y));
    if (b) DNNL_TRY(dnnl_memory_create(&bm, &bmd, engine, (void *)b));
    dnnl_exec_arg_t args[4] = {{DNNL_ARG_SRC, xm}, {DNNL_ARG_WEIGHTS, wm}, {DNNL_ARG_DST, ym}, {DNNL_ARG_BIAS, bm}};
    DNNL_TRY(dnnl_primitive_execute(prim, stream, b ? 4 : 3, args));
    DNNL_TRY(dnnl_stream_wait(stream));
done:
    if (bm) dnnl_memory_destroy(bm);
    if (ym) dnnl_memory_destroy(ym);
    if (wm) dnnl_memory_destroy(wm);
    if (xm) dnnl_memory_destroy(xm);
    if (stream) dnnl_stream_destroy(stream);
    if (prim) dnnl_primitive_destroy(prim);
    if (pd) dnnl_primitive_desc_destroy(pd);
    return rc;
}

int locus_conv2d(locus_tensor *out, const locus_tensor *x, const locus_tensor *w, const locus_tensor *bias, int sh,
                int sw, int ph, int pw) {
    const char *op = "conv2d";
    if (locus_check_tensor(x, op, "x") || locus_check_tensor(w, op, "weight")) return -1;
    char xs[256];
    snprintf(xs, sizeof xs, "%s", locus_tensor_describe(x));
    if (x->ndim != 4 || w->ndim != 4 || x->sizes[1] != w->sizes[1] || !is_float_dtype(x->type) || !is_float_dtype(w->type))
        return locus_fail("conv2d: x %s and weight %s must be float [B, C, H, W] and [O, C, kh, kw]", xs,
                         locus_tensor_describe(w));
    if (sh < 1 || sw < 1 || ph < 0 || pw < 0) return locus_fail("conv2d: bad stride %dx%d or padding %dx%d", sh, sw, ph, pw);
    int64_t bn = x->sizes[0], c = x->sizes[1], h = x->sizes[2], wd = x->sizes[3];
    int64_t o = w->sizes[0], kh = w->sizes[2], kw = w->sizes[3];
    if (h + 2 * ph < kh || wd + 2 * pw < kw)
        return locus_fail("conv2d: kernel %lldx%lld is larger than the padded input %s", (long long)kh, (long long)kw, xs);
    int64_t oh = (h + 2 * ph - kh) / sh + 1, ow = (wd + 2 * pw - kw) / sw + 1;
    int64_t oshape[4] = {bn, o, oh, ow};
    if (locus_check_out(out, op, 4, oshape)) return -1;
    if (bias && (bias->ndim != 1 || bias->sizes[0] != o || !is_float_dtype(bias->type)))
        return locus_fail("conv2d: bias must be a float vector of %lld, got %s", (long long)o, locus_tensor_describe(bias));
    if (locus_tensor_numel(out) == 0) return 0;
    locus_tensor *xo, *wo, *bo = NULL;
    const float *xp = locus_f32_view(x, &xo), *wp = locus_f32_view(w, &wo), *bp = bias ? locus_f32_view(bias, &bo) : NULL;
    int rc = -1;
    if (xp && wp && (bp || !bias)) {
        if (locus_active_path() == LOCUS_PATH_REF) {
            conv_ref(locus_tensor_data(out), xp, wp, bp, bn, c, h, wd, o, kh, kw, oh, ow, sh, sw, ph, pw);
            rc = 0;
        } else {
            dnnl_dims_t xd = {bn, c, h, wd}, wdims = {o, c, kh, kw}, yd = {bn, o, oh, ow};
            rc = conv_onednn(locus_tensor_data(out), xp, wp, bp, xd, wdims, yd, sh, sw, ph, pw);
        }
    }
    locus_tensor_free(xo);
    locus_tensor_free(wo);
    locus_tensor_free(bo);
    return rc;
}
