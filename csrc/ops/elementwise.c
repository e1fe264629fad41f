/* elementwise.c — broadcasting binary ops, affine maps and activations (f32 out). */
#include "../core/internal.h"

#include <math.h>
#include <stdio.h>

enum binary_op { OP_ADD, OP_SUB, OP_MUL, OP_DIV };
static const char *binary_names[] = {"add", "sub", "mul", "div"};

static inline float apply(enum binary_op op, float a, float b) {
    switch (op) {
    case OP_ADD: return a + b;
    case OP_SUB: return a - b;
    case OP_MUL: return a * b;
    default: return a / b;
    }
}

/* One output row: a and b advance by their own strides (0 when broadcast). The branches let the
 * compiler vectorize the common unit-stride and scalar-broadcast cases. */
static void binary_row(enum binary_op op, float *y, const float *a, int64_t as, const float *b, int64_t bs, int64_t n) {
    if (as == 1 && bs == 1) {
        for (int64_t i = 0; i < n; i++) y[i] = apply(op, a[i], b[i]);
    } else if (as == 1 && bs == 0) {
        float bv = b[0];
        for (int64_t i = 0; i < n; i++) y[i] = apply(op, a[i], bv);
    } else if (as == 0 && bs == 1) {
        float av = a[0];
        for (int64_t i = 0; i < n; i++) y[i] = apply(op, av, b[i]);
    } else {
        for (int64_t i = 0; i < n; i++) y[i] = apply(op, a[i * as], b[i * bs]);
    }
}

static int binary(enum binary_op op, locus_tensor *out, const locus_tensor *a, const locus_tensor *b) {
    const char *name = binary_names[op];
    if (locus_check_tensor(a, name, "a") || locus_check_tensor(b, name, "b")) return -1;
    int nd = a->ndim > b->ndim ? a->ndim : b->ndim;
    int64_t shape[LOCUS_MAX_DIMS];
    for (int i = 0; i < nd; i++) {
        int ia = i - (nd - a->ndim), ib = i - (nd - b->ndim);
        int64_t da = ia >= 0 ? a->sizes[ia] : 1, db = ib >= 0 ? b->sizes[ib] : 1;
        if (da != db && da != 1 && db != 1) {
            char as[256];
            snprintf(as, sizeof as, "%s", locus_tensor_describe(a));
            return locus_fail("%s: shapes %s and %s do not broadcast (dim %d: %lld vs %lld)", name, as,
                             locus_tensor_describe(b), i, (long long)da, (long long)db);
        }
        shape[i] = da == 1 ? db : da;
    }
    if (locus_check_out(out, name, nd, shape)) return -1;
    locus_tensor *af, *bf = NULL;
    locus_tensor *ae = locus_expanded_f32(a, nd, shape, &af);
    locus_tensor *be = ae ? locus_expanded_f32(b, nd, shape, &bf) : NULL;
    int rc = ae && be ? 0 : -1;
    int64_t total = locus_tensor_numel(out);
    if (rc == 0 && total > 0) {
        int64_t cols = nd ? shape[nd - 1] : 1, rows = total / cols;
        int64_t as = nd ? ae->strides[nd - 1] : 0, bs = nd ? be->strides[nd - 1] : 0;
        const float *ad = locus_tensor_data(ae), *bd = locus_tensor_data(be);
        float *y = locus_tensor_data(out);
#pragma omp parallel for schedule(static) if (total > 65536)
        for (int64_t r = 0; r < rows; r++)
            binary_row(op, y + r * cols, ad + locus_row_offset(ae, r), as, bd + locus_row_offset(be, r), bs, cols);
    }
    locus_tensor_free(ae);
    locus_tensor_free(be);
    locus_tensor_free(af);
    locus_tensor_free(bf);
    return rc;
}

int locus_add(locus_tensor *out, const locus_tensor *a, const locus_tensor *b) { return binary(OP_ADD, out, a, b); }
int locus_sub(locus_tensor *out, const locus_tensor *a, const locus_tensor *b) { return binary(OP_SUB, out, a, b); }
int locus_mul(locus_tensor *out, const locus_tensor *a, const locus_tensor *b) { return binary(OP_MUL, out, a, b); }
int locus_div(locus_tensor *out, const locus_tensor *a, const locus_tensor *b) { return binary(OP_DIV, out, a, b); }

/* ---- unary maps ----------------------------------------------------------------------------- */

enum unary_op { U_AFFINE, U_ABS, U_GELU, U_GELU_TANH, U_QUICK_GELU, U_SILU };
static const char *unary_names[] = {"affine", "abs", "gelu", "gelu_tanh", "quick_gelu", "silu"};

static int unary(enum unary_op op, locus_tensor *out, const locus_tensor *x, float scale, float shift) {
    const char *name = unary_names[op];
    if (locus_check_tensor(x, name, "x")) return -1;
    if (!is_float_dtype(x->type)) return locus_fail("%s: x must be a float tensor, got %s", name, locus_tensor_describe(x));
    if (locus_check_out(out, name, x->ndim, x->sizes)) return -1;
    locus_tensor *owned;
    const float *xd = locus_f32_view(x, &owned);
    if (!xd) return -1;
    float *y = locus_tensor_data(out);
    int64_t n = locus_tensor_numel(x);
    const float k_tanh = 0.7978845608028654f; /* sqrt(2/pi) */
    switch (op) {
    case U_AFFINE:
#pragma omp parallel for schedule(static) if (n > 65536)
        for (int64_t i = 0; i < n; i++) y[i] = xd[i] * scale + shift;
        break;
    case U_ABS:
#pragma omp parallel for schedule(static) if (n > 65536)
        for (int64_t i = 0; i < n; i++) y[i] = fabsf(xd[i]);
        break;
    case U_GELU:
#pragma omp parallel for schedule(static) if (n > 16384)
        for (int64_t i = 0; i < n; i++) y[i] = 0.5f * xd[i] * (1.0f + erff(xd[i] * (float)M_SQRT1_2));
        break;
    case U_GELU_TANH:
#pragma omp parallel for schedule(static) if (n > 16384)
        for (int64_t i = 0; i < n; i++) {
            float v = xd[i];
            y[i] = 0.5f * v * (1.0f + tanhf(k_tanh * (v + 0.044715f * v * v * v)));
        }
        break;
    case U_QUICK_GELU:
#pragma omp parallel for schedule(static) if (n > 16384)
        for (int64_t i = 0; i < n; i++) y[i] = xd[i] / (1.0f + expf(-1.702f * xd[i]));
        break;
    case U_SILU:
#pragma omp parallel for schedule(static) if (n > 16384)
        for (int64_t i = 0; i < n; i++) y[i] = xd[i] / (1.0f + expf(-xd[i]));
        break;
    }
    locus_tensor_free(owned);
    return 0;
}

int locus_affine(locus_tensor *out, const locus_tensor *x, float scale, float shift) { return unary(U_AFFINE, out, x, scale, shift); }
int locus_abs(locus_tensor *out, const locus_tensor *x) { return unary(U_ABS, out, x, 0, 0); }
int locus_gelu(locus_tensor *out, const locus_tensor *x) { return unary(U_GELU, out, x, 0, 0); }
int locus_gelu_tanh(locus_tensor *out, const locus_tensor *x) { return unary(U_GELU_TANH, out, x, 0, 0); }
int locus_quick_gelu(locus_tensor *out, const locus_tensor *x) { return unary(U_QUICK_GELU, out, x, 0, 0); }
int locus_silu(locus_tensor *out, const locus_tensor *x) { return unary(U_SILU, out, x, 0, 0); }
