/* gather.c — embedding lookup and concatenation. */
#include "../core/internal.h"
#include "../kernels/vec.h"

#include <stdio.h>

/* Row `id` of weight, widened to f32 into dst (no allocation: this runs once per decoded token). */
static void embedding_row(float *dst, const lego_tensor *weight, int64_t id, int64_t dim) {
    if (is_block_dtype(weight->type)) {
        const char *base = lego_storage_data(weight->storage);
        lego_dequantize_row(weight->type, base + lego_bytes_for(weight->type, weight->offset + id * weight->strides[0]), dst, dim);
        return;
    }
    size_t es = lego_dtype_size(weight->type);
    const char *row = (const char *)lego_tensor_data(weight) + id * weight->strides[0] * (int64_t)es;
    int64_t cs = weight->strides[1];
    if (cs == 1 && weight->type == LEGO_F32)
        memcpy(dst, row, (size_t)dim * sizeof(float));
    else if (cs == 1 && weight->type == LEGO_BF16)
        lego_vec_active()->bf16_to_f32(dst, (const uint16_t *)row, dim);
    else if (cs == 1 && weight->type == LEGO_F16)
        lego_vec_active()->f16_to_f32(dst, (const uint16_t *)row, dim);
    else
        for (int64_t j = 0; j < dim; j++) dst[j] = (float)lego_load_elem(row + j * cs * (int64_t)es, weight->type);
}

int lego_embedding(lego_tensor *out, const lego_tensor *weight, const lego_tensor *ids) {
    const char *op = "embedding";
    if (lego_check_tensor(weight, op, "weight") || lego_check_tensor(ids, op, "ids")) return -1;
    if (weight->ndim != 2 || !is_float_dtype(weight->type))
        return lego_fail("embedding: weight must be a float matrix [vocab, dim], got %s", lego_tensor_describe(weight));
    if (ids->type != LEGO_I32 && ids->type != LEGO_I64)
        return lego_fail("embedding: ids must be i32 or i64, got %s", lego_tensor_describe(ids));
    int64_t n = lego_tensor_numel(ids), vocab = weight->sizes[0], dim = weight->sizes[1];
    int64_t oshape[2] = {n, dim};
    if (lego_check_out(out, op, 2, oshape)) return -1;
    lego_tensor *idc = lego_contiguous(ids);
    if (!idc) return -1;
    int rc = 0;
    float *y = lego_tensor_data(out);
    for (int64_t i = 0; i < n; i++) {
        int64_t id = ids->type == LEGO_I32 ? ((const int32_t *)lego_tensor_data(idc))[i]
                                            : ((const int64_t *)lego_tensor_data(idc))[i];
        if (id < 0 || id >= vocab) {
            rc = lego_fail("embedding: id %lld at position %lld is outside the vocabulary [0, %lld)",
                           (long long)id, (long long)i, (long long)vocab);
            break;
        }
        embedding_row(y + i * dim, weight, id, dim);
    }
    lego_tensor_free(idc);
    return rc;
}

int lego_concat(lego_tensor *out, const lego_tensor *const *xs, int n, int dim) {
    const char *op = "concat";
    if (lego_check_tensor(out, op, "out")) return -1;
    if (n < 1 || !xs) return lego_fail("concat: no inputs");
    int d = dim < 0 ? dim + out->ndim : dim;
    if (d < 0 || d >= out->ndim) return lego_fail("concat: dim %d out of range for out %s", dim, lego_tensor_describe(out));
    int64_t total = 0;
    for (int i = 0; i < n; i++) {
        const lego_tensor *x = xs[i];
        if (lego_check_tensor(x, op, "an input")) return -1;
        bool ok = x->ndim == out->ndim;
        for (int k = 0; ok && k < x->ndim; k++) ok = k == d || x->sizes[k] == out->sizes[k];
        if (!ok) {
            char os[256];
            snprintf(os, sizeof os, "%s", lego_tensor_describe(out));
            return lego_fail("concat: input %d %s does not fit out %s along dim %d", i, lego_tensor_describe(x), os, d);
        }
        total += x->sizes[d];
    }
    if (total != out->sizes[d])
        return lego_fail("concat: inputs add up to %lld along dim %d, out has %lld", (long long)total, d,
                         (long long)out->sizes[d]);
    int64_t start = 0;
    for (int i = 0; i < n; i++) {
        lego_tensor *slot = lego_view_narrow(out, d, start, xs[i]->sizes[d]);
        int rc = slot ? lego_copy(slot, xs[i]) : -1;
        lego_tensor_free(slot);
        if (rc) return -1;
        start += xs[i]->sizes[d];
    }
    return 0;
}
