/* tensor.c — tensor headers over storages: creation, views, copies and conversions. */
#include "internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

static int normalize_dim(int dim, int ndim, const char *op) {
    int d = dim < 0 ? dim + ndim : dim;
    if (d < 0 || d >= ndim) return locus_fail("%s: dim %d out of range for %d dims", op, dim, ndim);
    return d;
}

static int check_shape(int ndim, const int64_t *shape, const char *op, int64_t *numel) {
    if (ndim < 0 || ndim > LOCUS_MAX_DIMS)
        return locus_fail("%s: %d dims (at most %d)", op, ndim, LOCUS_MAX_DIMS);
    if (ndim > 0 && !shape) return locus_fail("%s: shape is NULL", op);
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0) return locus_fail("%s: negative size %lld in dim %d", op, (long long)shape[i], i);
        if (__builtin_mul_overflow(n, shape[i], &n))
            return locus_fail("%s: the shape's element count overflows", op);
    }
    *numel = n;
    return 0;
}

static void contiguous_strides(int ndim, const int64_t *shape, int64_t *stride) {
    int64_t s = 1;
    for (int i = ndim - 1; i >= 0; i--) {
        stride[i] = s;
        /* only an empty tensor (a 0 among huge sizes) can overflow here; its strides are moot */
        if (__builtin_mul_overflow(s, shape[i] > 0 ? shape[i] : 1, &s)) s = INT64_MAX;
    }
}

/* Block-quantized tensors keep whole blocks in the innermost dim: it is contiguous and a
 * multiple of the block, and every other step lands on a block boundary. */
static bool block_layout_ok(int dtype, int64_t offset, int ndim, const int64_t *shape, const int64_t *stride) {
    int64_t b = locus_dtype_block(dtype);
    if (b == 1) return true;
    if (ndim == 0 || shape[ndim - 1] % b || offset % b || (shape[ndim - 1] > 1 && stride[ndim - 1] != 1)) return false;
    for (int i = 0; i < ndim - 1; i++)
        if (shape[i] > 1 && stride[i] % b) return false;
    return true;
}

static locus_tensor *header(locus_storage *s, int dtype, int64_t offset, int ndim,
                           const int64_t *shape, const int64_t *stride) {
    if (!block_layout_ok(dtype, offset, ndim, shape, stride))
        return locus_fail_null("%s tensors keep whole blocks of %d contiguous elements in their last dim; "
                              "this view would split them", locus_dtype_name(dtype), locus_dtype_block(dtype));
    locus_tensor *t = calloc(1, sizeof *t);
    if (!t) return locus_fail_null("out of memory allocating a tensor header");
    t->storage = s;
    locus_storage_retain(s);
    t->type = dtype;
    t->offset = offset;
    t->ndim = ndim;
    for (int i = 0; i < ndim; i++) {
        t->sizes[i] = shape[i];
        t->strides[i] = stride[i];
    }
    return t;
}

static locus_tensor *tensor_alloc(int dtype, int ndim, const int64_t *shape, bool zero) {
    int64_t block = locus_dtype_block(dtype);
    if (!block) return locus_fail_null("locus_tensor_new: unknown dtype %d", dtype);
    int64_t n;
    if (check_shape(ndim, shape, "locus_tensor_new", &n)) return NULL;
    if (block > 1 && (ndim == 0 || shape[ndim - 1] % block))
        return locus_fail_null("locus_tensor_new: %s tensors need a last dim that is a multiple of %lld",
                              locus_dtype_name(dtype), (long long)block);
    size_t nbytes;
    if (__builtin_mul_overflow((size_t)(n / block), locus_dtype_block_bytes(dtype), &nbytes))
        return locus_fail_null("locus_tensor_new: %lld elements overflow the address space", (long long)n);
    locus_storage *s = zero ? locus_storage_new(nbytes) : locus_storage_uninit(nbytes);
    if (!s) return NULL;
    int64_t stride[LOCUS_MAX_DIMS];
    contiguous_strides(ndim, shape, stride);
    locus_tensor *t = header(s, dtype, 0, ndim, shape, stride);
    locus_storage_release(s);
    return t;
}

locus_tensor *locus_tensor_new(int dtype, int ndim, const int64_t *shape) {
    return tensor_alloc(dtype, ndim, shape, true);
}

locus_tensor *locus_tensor_empty(int dtype, int ndim, const int64_t *shape) {
    return tensor_alloc(dtype, ndim, shape, false);
}

locus_tensor *locus_tensor_from_storage(locus_storage *s, int dtype, int64_t offset, int ndim,
                                      const int64_t *shape, const int64_t *stride) {
    const char *op = "locus_tensor_from_storage";
    if (!s) return locus_fail_null("%s: storage is NULL", op);
    int64_t block = locus_dtype_block(dtype);
    if (!block) return locus_fail_null("%s: unknown dtype %d", op, dtype);
    int64_t n;
    if (check_shape(ndim, shape, op, &n)) return NULL;
    int64_t st[LOCUS_MAX_DIMS];
    if (stride) {
        for (int i = 0; i < ndim; i++) st[i] = stride[i];
    } else {
        contiguous_strides(ndim, shape, st);
    }
    if (offset < 0) return locus_fail_null("%s: negative offset %lld", op, (long long)offset);
    if (n > 0) { /* every element must lie inside the storage */
        int64_t lo = offset, hi = offset;
        for (int i = 0; i < ndim; i++) {
            int64_t span;
            if (__builtin_mul_overflow(shape[i] - 1, st[i], &span))
                return locus_fail_null("%s: strides overflow", op);
            if (span < 0) lo += span; else hi += span;
        }
        uint64_t elems = locus_storage_nbytes(s) / locus_dtype_block_bytes(dtype) * (uint64_t)block;
        if (lo < 0 || (uint64_t)hi >= elems)
            return locus_fail_null("%s: view [%s elements %lld..%lld] exceeds a storage of %llu elements",
                                  op, locus_dtype_name(dtype), (long long)lo, (long long)hi,
                                  (unsigned long long)elems);
    }
    return header(s, dtype, offset, ndim, shape, st);
}

void locus_tensor_free(locus_tensor *t) {
    if (!t) return;
    locus_storage_release(t->storage);
    free(t);
}

void *locus_tensor_data(const locus_tensor *t) {
    char *base = locus_storage_data(t->storage);
    return base ? base + locus_bytes_for(t->type, t->offset) : NULL;
}

int64_t locus_tensor_numel(const locus_tensor *t) {
    int64_t n = 1;
    for (int i = 0; i < t->ndim; i++) n *= t->sizes[i];
    return n;
}

int locus_tensor_is_contiguous(const locus_tensor *t) {
    int64_t s = 1;
    for (int i = t->ndim - 1; i >= 0; i--) {
        if (t->sizes[i] != 1 && t->strides[i] != s) return 0;
        s *= t->sizes[i];
    }
    return 1;
}

const char *locus_tensor_describe(const locus_tensor *t) {
    static _Thread_local char buf[256];
    if (!t) return "(null tensor)";
    size_t n = 0;
    n += (size_t)snprintf(buf + n, sizeof buf - n, "[");
    for (int i = 0; i < t->ndim && n < sizeof buf; i++)
        n += (size_t)snprintf(buf + n, sizeof buf - n, "%s%lld", i ? ", " : "", (long long)t->sizes[i]);
    if (n < sizeof buf) snprintf(buf + n, sizeof buf - n, "] %s", locus_dtype_name(t->type));
    return buf;
}

/* ---- views ---------------------------------------------------------------------------------- */

locus_tensor *locus_view_alias(const locus_tensor *t) {
    return header(t->storage, t->type, t->offset, t->ndim, t->sizes, t->strides);
}

/* Views edited in place after locus_view_alias are checked here, as header() checks the others. */
static locus_tensor *checked_view(locus_tensor *v) {
    if (v && !block_layout_ok(v->type, v->offset, v->ndim, v->sizes, v->strides)) {
        int type = v->type;
        locus_tensor_free(v);
        return locus_fail_null("%s tensors keep whole blocks of %d contiguous elements in their last dim; "
                              "this view would split them", locus_dtype_name(type), locus_dtype_block(type));
    }
    return v;
}

locus_tensor *locus_view_narrow(const locus_tensor *t, int dim, int64_t start, int64_t length) {
    int d = normalize_dim(dim, t->ndim, "narrow");
    if (d < 0) return NULL;
    if (start < 0 || length < 0 || start > t->sizes[d] || length > t->sizes[d] - start)
        return locus_fail_null("narrow: [%lld, %lld) is outside dim %d of size %lld", (long long)start,
                              (long long)(start + length), d, (long long)t->sizes[d]);
    locus_tensor *v = locus_view_alias(t);
    if (!v) return NULL;
    v->offset += start * t->strides[d];
    v->sizes[d] = length;
    return checked_view(v);
}

locus_tensor *locus_view_select(const locus_tensor *t, int dim, int64_t index) {
    int d = normalize_dim(dim, t->ndim, "select");
    if (d < 0) return NULL;
    int64_t i = index < 0 ? index + t->sizes[d] : index;
    if (i < 0 || i >= t->sizes[d])
        return locus_fail_null("select: index %lld out of range for dim %d of size %lld",
                              (long long)index, d, (long long)t->sizes[d]);
    locus_tensor *v = locus_view_alias(t);
    if (!v) return NULL;
    v->offset += i * t->strides[d];
    for (int k = d; k + 1 < t->ndim; k++) {
        v->sizes[k] = t->sizes[k + 1];
        v->strides[k] = t->strides[k + 1];
    }
    v->ndim--;
    return checked_view(v);
}

locus_tensor *locus_view_transpose(const locus_tensor *t, int dim0, int dim1) {
    int a = normalize_dim(dim0, t->ndim, "transpose"), b;
    if (a < 0 || (b = normalize_dim(dim1, t->ndim, "transpose")) < 0) return NULL;
    locus_tensor *v = locus_view_alias(t);
    if (!v) return NULL;
    v->sizes[a] = t->sizes[b];
    v->strides[a] = t->strides[b];
    v->sizes[b] = t->sizes[a];
    v->strides[b] = t->strides[a];
    return checked_view(v);
}

locus_tensor *locus_view_permute(const locus_tensor *t, const int *dims) {
    bool seen[LOCUS_MAX_DIMS] = {false};
    int p[LOCUS_MAX_DIMS];
    for (int i = 0; i < t->ndim; i++) {
        int d = normalize_dim(dims[i], t->ndim, "permute");
        if (d < 0) return NULL;
        if (seen[d]) return locus_fail_null("permute: dim %d appears twice", d);
        seen[d] = true;
        p[i] = d;
    }
    locus_tensor *v = locus_view_alias(t);
    if (!v) return NULL;
    for (int i = 0; i < t->ndim; i++) {
        v->sizes[i] = t->sizes[p[i]];
        v->strides[i] = t->strides[p[i]];
    }
    return checked_view(v);
}

/* Resolves a -1 in a requested shape against numel. */
static int infer_shape(const locus_tensor *t, int ndim, const int64_t *shape, int64_t *out, const char *op) {
    if (ndim < 0 || ndim > LOCUS_MAX_DIMS) return locus_fail("%s: %d dims (at most %d)", op, ndim, LOCUS_MAX_DIMS);
    int64_t numel = locus_tensor_numel(t), known = 1;
    int infer = -1;
    for (int i = 0; i < ndim; i++) {
        out[i] = shape[i];
        if (shape[i] == -1) {
            if (infer >= 0) return locus_fail("%s: more than one -1 in the shape", op);
            infer = i;
        } else if (shape[i] < 0) {
            return locus_fail("%s: negative size %lld", op, (long long)shape[i]);
        } else if (__builtin_mul_overflow(known, shape[i], &known)) {
            return locus_fail("%s: shape overflows", op);
        }
    }
    if (infer >= 0) {
        if (known == 0 || numel % known) goto mismatch;
        out[infer] = numel / known;
    } else if (known != numel) {
        goto mismatch;
    }
    return 0;
mismatch:
    return locus_fail("%s: cannot view %s (%lld elements) with %d dims of the requested shape", op,
                     locus_tensor_describe(t), (long long)numel, ndim);
}

/* Computes strides for viewing t with a new shape without copying, as torch's view does:
 * groups of old dims that are contiguous among themselves map onto groups of new dims. */
static bool view_strides(const locus_tensor *t, int ndim, const int64_t *shape, int64_t *stride) {
    if (locus_tensor_numel(t) == 0 || locus_tensor_is_contiguous(t)) {
        contiguous_strides(ndim, shape, stride);
        return true;
    }
    int view_d = ndim - 1;
    int64_t chunk_base_stride = t->ndim ? t->strides[t->ndim - 1] : 1;
    int64_t tensor_numel = 1, view_numel = 1;
    for (int d = t->ndim - 1; d >= 0; d--) {
        tensor_numel *= t->sizes[d];
        if (d == 0 || (t->sizes[d - 1] != 1 && t->strides[d - 1] != tensor_numel * chunk_base_stride)) {
            while (view_d >= 0 && (view_numel < tensor_numel || shape[view_d] == 1)) {
                stride[view_d] = view_numel * chunk_base_stride;
                view_numel *= shape[view_d];
                view_d--;
            }
            if (view_numel != tensor_numel) return false;
            if (d > 0) {
                chunk_base_stride = t->strides[d - 1];
                tensor_numel = 1;
                view_numel = 1;
            }
        }
    }
    return view_d == -1;
}

locus_tensor *locus_view_reshape(const locus_tensor *t, int ndim, const int64_t *shape) {
    int64_t sh[LOCUS_MAX_DIMS], st[LOCUS_MAX_DIMS];
    if (infer_shape(t, ndim, shape, sh, "reshape")) return NULL;
    if (!view_strides(t, ndim, sh, st))
        return locus_fail_null("reshape: %s is not contiguous enough to view without a copy "
                              "(call contiguous() first)", locus_tensor_describe(t));
    return header(t->storage, t->type, t->offset, ndim, sh, st);
}

locus_tensor *locus_view_expand(const locus_tensor *t, int ndim, const int64_t *shape) {
    if (ndim < t->ndim || ndim > LOCUS_MAX_DIMS)
        return locus_fail_null("expand: cannot expand %s to %d dims", locus_tensor_describe(t), ndim);
    int64_t sh[LOCUS_MAX_DIMS], st[LOCUS_MAX_DIMS];
    int lead = ndim - t->ndim;
    for (int i = 0; i < ndim; i++) {
        int64_t want = shape[i];
        if (i < lead) {
            if (want < 0) return locus_fail_null("expand: size -1 is not allowed in a new leading dim");
            sh[i] = want;
            st[i] = 0;
            continue;
        }
        int64_t have = t->sizes[i - lead];
        if (want == -1 || want == have) {
            sh[i] = have;
            st[i] = t->strides[i - lead];
        } else if (have == 1 && want >= 0) {
            sh[i] = want;
            st[i] = 0;
        } else {
            return locus_fail_null("expand: dim %d has size %lld, which cannot become %lld", i - lead,
                                  (long long)have, (long long)want);
        }
    }
    return header(t->storage, t->type, t->offset, ndim, sh, st);
}

/* ---- copies --------------------------------------------------------------------------------- */

bool locus_same_shape(const locus_tensor *a, const locus_tensor *b) {
    if (a->ndim != b->ndim) return false;
    for (int i = 0; i < a->ndim; i++)
        if (a->sizes[i] != b->sizes[i]) return false;
    return true;
}

int64_t locus_row_offset(const locus_tensor *t, int64_t r) {
    int64_t off = 0;
    for (int d = t->ndim - 2; d >= 0; d--) {
        off += (r % t->sizes[d]) * t->strides[d];
        r /= t->sizes[d];
    }
    return off;
}

typedef void (*row_converter)(char *dst, int64_t ds, const char *src, int64_t ss, int64_t n,
                              int ddt, int sdt);

static void convert_generic(char *dst, int64_t ds, const char *src, int64_t ss, int64_t n, int ddt, int sdt) {
    size_t de = locus_dtype_size(ddt), se = locus_dtype_size(sdt);
    for (int64_t i = 0; i < n; i++)
        locus_store_elem(dst + i * ds * (int64_t)de, ddt, locus_load_elem(src + i * ss * (int64_t)se, sdt));
}

static void convert_same(char *dst, int64_t ds, const char *src, int64_t ss, int64_t n, int ddt, int sdt) {
    (void)sdt;
    size_t e = locus_dtype_size(ddt);
    if (ds == 1 && ss == 1) {
        memcpy(dst, src, (size_t)n * e);
        return;
    }
    for (int64_t i = 0; i < n; i++) memcpy(dst + i * ds * (int64_t)e, src + i * ss * (int64_t)e, e);
}

static void convert_to_f32(char *dst, int64_t ds, const char *src, int64_t ss, int64_t n, int ddt, int sdt) {
    (void)ddt;
    float *d = (float *)dst;
    const uint16_t *h = (const uint16_t *)src;
    if (sdt == LOCUS_BF16)
        for (int64_t i = 0; i < n; i++) d[i * ds] = bf16_to_f32(h[i * ss]);
    else
        for (int64_t i = 0; i < n; i++) d[i * ds] = locus_half_to_float(h[i * ss]);
}

static void convert_from_f32(char *dst, int64_t ds, const char *src, int64_t ss, int64_t n, int ddt, int sdt) {
    (void)sdt;
    uint16_t *d = (uint16_t *)dst;
    const float *f = (const float *)src;
    if (ddt == LOCUS_BF16)
        for (int64_t i = 0; i < n; i++) d[i * ds] = f32_to_bf16(f[i * ss]);
    else
        for (int64_t i = 0; i < n; i++) d[i * ds] = locus_float_to_half(f[i * ss]);
}

static row_converter pick_converter(int ddt, int sdt) {
    if (ddt == sdt) return convert_same;
    if (ddt == LOCUS_F32 && (sdt == LOCUS_BF16 || sdt == LOCUS_F16)) return convert_to_f32;
    if (sdt == LOCUS_F32 && (ddt == LOCUS_BF16 || ddt == LOCUS_F16)) return convert_from_f32;
    return convert_generic;
}

/* Copies involving block types go row by row through f32: dequantize, convert, quantize; rows in
 * parallel (quantizing K-quants is slow: a 7B model's would take minutes on one core), each into
 * its own place, so the result does not depend on the threads. */
static int copy_blocks(locus_tensor *dst, const locus_tensor *src) {
    int last = src->ndim - 1;
    int64_t cols = src->sizes[last], rows = locus_tensor_numel(src) / (cols ? cols : 1);
    int failed = 0;
#pragma omp parallel if (rows > 1 && rows * cols > 65536)
    {
        float *tmp = malloc((size_t)(cols ? cols : 1) * sizeof(float));
        if (!tmp) {
#pragma omp atomic write
            failed = 1;
        }
#pragma omp for schedule(dynamic, 16)
        for (int64_t r = 0; r < rows; r++) {
            if (!tmp) continue;
            const char *sp = (const char *)locus_tensor_data(src);
            char *dp = locus_tensor_data(dst);
            int64_t so = locus_row_offset(src, r), dof = locus_row_offset(dst, r);
            if (is_block_dtype(src->type)) {
                locus_dequantize_row(src->type, sp + locus_bytes_for(src->type, so), tmp, cols);
            } else {
                size_t se = locus_dtype_size(src->type);
                for (int64_t c = 0; c < cols; c++) tmp[c] = (float)locus_load_elem(sp + (so + c * src->strides[last]) * (int64_t)se, src->type);
            }
            if (is_block_dtype(dst->type)) {
                locus_quantize_row(dst->type, tmp, dp + locus_bytes_for(dst->type, dof), cols);
            } else {
                size_t de = locus_dtype_size(dst->type);
                for (int64_t c = 0; c < cols; c++) locus_store_elem(dp + (dof + c * dst->strides[last]) * (int64_t)de, dst->type, tmp[c]);
            }
        }
        free(tmp);
    }
    return failed ? locus_fail("copy: out of memory") : 0;
}

int locus_copy(locus_tensor *dst, const locus_tensor *src) {
    if (!dst || !src) return locus_fail("copy: NULL tensor");
    if (!locus_same_shape(dst, src)) {
        char a[256];
        snprintf(a, sizeof a, "%s", locus_tensor_describe(dst));
        return locus_fail("copy: destination %s and source %s differ in shape", a, locus_tensor_describe(src));
    }
    int64_t n = locus_tensor_numel(src);
    if (n == 0) return 0;
    if (is_block_dtype(dst->type) || is_block_dtype(src->type)) return copy_blocks(dst, src);
    size_t de = locus_dtype_size(dst->type), se = locus_dtype_size(src->type);
    char *d = locus_tensor_data(dst);
    const char *s = locus_tensor_data(src);
    row_converter conv = pick_converter(dst->type, src->type);
    if (locus_tensor_is_contiguous(dst) && locus_tensor_is_contiguous(src)) {
        const int64_t chunk = 1 << 16;
#pragma omp parallel for if (n > 4 * chunk) schedule(static)
        for (int64_t c = 0; c < (n + chunk - 1) / chunk; c++) {
            int64_t len = c * chunk + chunk <= n ? chunk : n - c * chunk;
            conv(d + c * chunk * (int64_t)de, 1, s + c * chunk * (int64_t)se, 1, len, dst->type, src->type);
        }
        return 0;
    }
    int last = src->ndim - 1;
    int64_t cols = last >= 0 ? src->sizes[last] : 1;
    int64_t rows = n / cols;
    int64_t dstride = last >= 0 ? dst->strides[last] : 1, sstride = last >= 0 ? src->strides[last] : 1;
#pragma omp parallel for if (n > (1 << 18)) schedule(static)
    for (int64_t r = 0; r < rows; r++)
        conv(d + locus_row_offset(dst, r) * (int64_t)de, dstride, s + locus_row_offset(src, r) * (int64_t)se, sstride,
             cols, dst->type, src->type);
    return 0;
}

locus_tensor *locus_cast(const locus_tensor *t, int dtype) {
    locus_tensor *c = locus_tensor_empty(dtype, t->ndim, t->sizes);
    if (c && locus_copy(c, t)) {
        locus_tensor_free(c);
        return NULL;
    }
    return c;
}

locus_tensor *locus_clone(const locus_tensor *t) { return locus_cast(t, t->type); }

locus_tensor *locus_contiguous(const locus_tensor *t) {
    return locus_tensor_is_contiguous(t) ? locus_view_alias(t) : locus_clone(t);
}

locus_tensor *locus_expanded_f32(const locus_tensor *t, int ndim, const int64_t *shape, locus_tensor **base) {
    *base = t->type == LOCUS_F32 ? locus_view_alias(t) : locus_cast(t, LOCUS_F32);
    return *base ? locus_view_expand(*base, ndim, shape) : NULL;
}

const float *locus_f32_view(const locus_tensor *t, locus_tensor **owned) {
    *owned = NULL;
    if (t->type == LOCUS_F32 && locus_tensor_is_contiguous(t)) return locus_tensor_data(t);
    *owned = locus_cast(t, LOCUS_F32);
    return *owned ? locus_tensor_data(*owned) : NULL;
}

/* ---- element access and filling ------------------------------------------------------------- */

static int64_t elem_offset(const locus_tensor *t, const int64_t *index, int *err) {
    int64_t off = 0;
    for (int i = 0; i < t->ndim; i++) {
        int64_t k = index[i] < 0 ? index[i] + t->sizes[i] : index[i];
        if (k < 0 || k >= t->sizes[i]) {
            *err = locus_fail("index %lld out of range for dim %d of %s", (long long)index[i], i,
                             locus_tensor_describe(t));
            return 0;
        }
        off += k * t->strides[i];
    }
    return off;
}

double locus_get(const locus_tensor *t, const int64_t *index) {
    int err = 0;
    int64_t off = elem_offset(t, index, &err);
    if (err) return NAN;
    if (is_block_dtype(t->type)) { /* dequantize the element's block (at most 256 elements) */
        float block[256];
        int64_t b = locus_dtype_block(t->type), first = (t->offset + off) / b * b;
        locus_dequantize_row(t->type, (char *)locus_storage_data(t->storage) + locus_bytes_for(t->type, first), block, b);
        return block[t->offset + off - first];
    }
    return locus_load_elem((char *)locus_tensor_data(t) + off * (int64_t)locus_dtype_size(t->type), t->type);
}

int locus_set(locus_tensor *t, const int64_t *index, double value) {
    if (is_block_dtype(t->type))
        return locus_fail("set: %s elements cannot be written one by one (quantize a f32 tensor instead)",
                         locus_dtype_name(t->type));
    int err = 0;
    int64_t off = elem_offset(t, index, &err);
    if (err) return err;
    locus_store_elem((char *)locus_tensor_data(t) + off * (int64_t)locus_dtype_size(t->type), t->type, value);
    return 0;
}

/* Applies fn(dst_element_pointer, linear_index, ctx) to every element in row-major order. */
static void for_each_elem(locus_tensor *t, void (*fn)(void *, int64_t, void *), void *ctx) {
    int64_t n = locus_tensor_numel(t);
    if (n == 0) return;
    size_t es = locus_dtype_size(t->type);
    int last = t->ndim - 1;
    int64_t cols = last >= 0 ? t->sizes[last] : 1, cs = last >= 0 ? t->strides[last] : 1;
    char *base = locus_tensor_data(t);
    for (int64_t r = 0; r < n / cols; r++) {
        char *row = base + locus_row_offset(t, r) * (int64_t)es;
        for (int64_t c = 0; c < cols; c++) fn(row + c * cs * (int64_t)es, r * cols + c, ctx);
    }
}

static void fill_one(void *p, int64_t i, void *ctx) {
    (void)i;
    const locus_tensor *t = ((void **)ctx)[0];
    locus_store_elem(p, t->type, *(double *)((void **)ctx)[1]);
}

int locus_fill(locus_tensor *t, double value) {
    if (is_block_dtype(t->type)) return locus_fail("fill: not for %s tensors", locus_dtype_name(t->type));
    void *ctx[2] = {t, &value};
    for_each_elem(t, fill_one, ctx);
    return 0;
}

static uint64_t splitmix64(uint64_t x) {
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

/* Counter-based, so element i gets the same number whatever the layout or thread count. */
static double normal_at(uint64_t seed, int64_t i) {
    uint64_t pair = (uint64_t)i >> 1;
    uint64_t a = splitmix64(seed * 0x2545f4914f6cdd1dull + 2 * pair);
    uint64_t b = splitmix64(seed * 0x2545f4914f6cdd1dull + 2 * pair + 1);
    double u1 = ((a >> 11) + 1.0) * 0x1.0p-53, u2 = (b >> 11) * 0x1.0p-53;
    double r = sqrt(-2.0 * log(u1)), th = 2.0 * M_PI * u2;
    return (i & 1) ? r * sin(th) : r * cos(th);
}

struct randn_ctx {
    int type;
    uint64_t seed;
    double mean, std;
};

static void randn_one(void *p, int64_t i, void *vctx) {
    struct randn_ctx *c = vctx;
    locus_store_elem(p, c->type, c->mean + c->std * normal_at(c->seed, i));
}

int locus_fill_randn(locus_tensor *t, uint64_t seed, double mean, double std) {
    if (is_block_dtype(t->type)) return locus_fail("randn: not for %s tensors", locus_dtype_name(t->type));
    struct randn_ctx c = {t->type, seed, mean, std};
    for_each_elem(t, randn_one, &c);
    return 0;
}

/* ---- checks shared by the ops --------------------------------------------------------------- */

int locus_check_tensor(const locus_tensor *t, const char *op, const char *what) {
    if (!t) return locus_fail("%s: %s is NULL", op, what);
    if (!locus_dtype_block(t->type)) return locus_fail("%s: %s has unknown dtype %d", op, what, t->type);
    return 0;
}

/* The shape query (locus.h): the shape the last op called with out = NULL would have written. */
static _Thread_local struct {
    bool active, recorded;
    int32_t ndim;
    int64_t sizes[LOCUS_MAX_DIMS];
} query;

void locus_shape_query_begin(void) {
    query.active = true;
    query.recorded = false;
}

int32_t locus_shape_query_end(int64_t *sizes) {
    bool recorded = query.recorded;
    query.active = query.recorded = false;
    if (!recorded) return -1;
    memcpy(sizes, query.sizes, sizeof query.sizes);
    return query.ndim;
}

int locus_check_out(const locus_tensor *out, const char *op, int ndim, const int64_t *shape) {
    if (!out && query.active && ndim >= 0 && ndim <= LOCUS_MAX_DIMS) { /* the inputs passed their checks */
        query.recorded = true;
        query.ndim = ndim;
        memcpy(query.sizes, shape, (size_t)ndim * sizeof *shape);
        return locus_fail("%s: no out tensor (a shape query)", op);
    }
    if (locus_check_tensor(out, op, "out")) return -1;
    if (out->type != LOCUS_F32 || !locus_tensor_is_contiguous(out))
        return locus_fail("%s: out must be contiguous f32, got %s%s", op, locus_tensor_describe(out),
                         locus_tensor_is_contiguous(out) ? "" : " (strided)");
    bool ok = out->ndim == ndim;
    for (int i = 0; ok && i < ndim; i++) ok = out->sizes[i] == shape[i];
    if (!ok) {
        char want[256];
        size_t n = (size_t)snprintf(want, sizeof want, "[");
        for (int i = 0; i < ndim && n < sizeof want; i++)
            n += (size_t)snprintf(want + n, sizeof want - n, "%s%lld", i ? ", " : "", (long long)shape[i]);
        if (n < sizeof want) snprintf(want + n, sizeof want - n, "]");
        return locus_fail("%s: out has shape %s, expected %s", op, locus_tensor_describe(out), want);
    }
    return 0;
}

void locus_tensor_drop_pages(const locus_tensor *t) {
    if (!t || !locus_tensor_is_contiguous(t)) return;
    size_t bytes = (size_t)(locus_tensor_numel(t) / locus_dtype_block(t->type)) * locus_dtype_block_bytes(t->type);
    locus_storage_drop_clean_pages(t->storage, locus_tensor_data(t), bytes);
}
