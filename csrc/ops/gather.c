/* gather.c — embedding lookup and concatenation. */
#include "../core/internal.h"
#include "../kernels/vec.h"

#include <stdio.h>

/* Row `id` of weight, widened to f32 into dst (no allocation: this runs once per decoded token). */
static void embedding_row(float *dst, const locus_tensor *weight, int64_t id, int64_t dim) {
    if (is_block_dtype(weight->type)) {
        const char *base = locus_storage_data(weight->storage);
        locus_dequantize_row(weight->type, base + locus_bytes_for(weight->type, weight->offset + id * weight->strides[0]), dst, dim);
        return;
    }
    size_t es = locus_dtype_size(weight->type);
    const char *row = (const char *)locus_tensor_data(weight) + id * weight->strides[0] * (int64_t)es;
    int64_t cs = weight->strides[1];
    if (cs == 1 && weight->type == LOCUS_F32)
        memcpy(dst, row, (size_t)dim * sizeof(float));
    else if (cs == 1 && weight->type == LOCUS_BF16)
        locus_vec_active()->bf16_to_f32(dst, (const uint16_t *)row, dim);
    else if (cs == 1 && weight->type == LOCUS_F16)
        locus_vec_active()->f16_to_f32(dst, (const uint16_t *)row, dim);
    else
        for (int64_t j = 0; j < dim; j++) dst[j] = (float)locus_load_elem(row + j * cs * (int64_t)es, weight->type);
}

int locus_embedding(locus_tensor *out, const locus_tensor *weight, const locus_tensor *ids) {
    const char *op = "embedding";
    if (locus_check_tensor(weight, op, "weight") || locus_check_tensor(ids, op, "ids")) return -1;
    if (weight->ndim != 2 || !is_float_dtype(weight->type))
        return locus_fail("embedding: weight must be a float matrix [vocab, dim], got %s", locus_tensor_describe(weight));
    if (ids->type != LOCUS_I32 && ids->type != LOCUS_I64)
        return locus_fail("embedding: ids must be i32 or i64, got %s", locus_tensor_describe(ids));
    int64_t n = locus_tensor_numel(ids), vocab = weight->sizes[0], dim = weight->sizes[1];
    int64_t oshape[2] = {n, dim};
    if (locus_check_out(out, op, 2, oshape)) return -1;
    locus_tensor *idc = locus_contiguous(ids);
    if (!idc) return -1;
    int rc = 0;
    float *y = locus_tensor_data(out);
    for (int64_t i = 0; i < n; i++) {
        int64_t id = ids->type == LOCUS_I32 ? ((const int32_t *)locus_tensor_data(idc))[i]
                                            : ((const int64_t *)locus_tensor_data(idc))[i];
        if (id < 0 || id >= vocab) {
            rc = locus_fail("embedding: id %lld at position %lld is outside the vocabulary [0, %lld)",
                           (long long)id, (long long)i, (long long)vocab);
            break;
        }
        embedding_row(y + i * dim, weight, id, dim);
    }
    locus_tensor_free(idc);
    return rc;
}

int locus_concat(locus_tensor *out, const locus_tensor *const *xs, int n, int dim) {
    const char *op = "concat";
    if (locus_check_tensor(out, op, "out")) return -1;
    if (n < 1 || !xs) return locus_fail("concat: no inputs");
    int d = dim < 0 ? dim + out->ndim : dim;
    if (d < 0 || d >= out->ndim) return locus_fail("concat: dim %d out of range for out %s", dim, locus_tensor_describe(out));
    int64_t total = 0;
    for (int i = 0; i < n; i++) {
        const locus_tensor *x = xs[i];
        if (locus_check_tensor(x, op, "an input")) return -1;
        bool ok = x->ndim == out->ndim;
        for (int k = 0; ok && k < x->ndim; k++) ok = k == d || x->sizes[k] == out->sizes[k];
        if (!ok) {
            char os[256];
            snprintf(os, sizeof os, "%s", locus_tensor_describe(out));
            return locus_fail("concat: input %d %s does not fit out %s along dim %d", i, locus_tensor_describe(x), os, d);
        }
        total += x->sizes[d];
    }
    if (total != out->sizes[d])
        return locus_fail("concat: inputs add up to %lld along dim %d, out has %lld", (long long)total, d,
                         (long long)out->sizes[d]);
    int64_t start = 0;
    for (int i = 0; i < n; i++) {
        locus_tensor *slot = locus_view_narrow(out, d, start, xs[i]->sizes[d]);
        int rc = slot ? locus_copy(slot, xs[i]) : -1;
        locus_tensor_free(slot);
        if (rc) return -1;
        start += xs[i]->sizes[d];
    }
    return 0;
}
