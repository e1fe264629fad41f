/* rope.c — LLaMA's rotary position embedding. With f_i = 1 / theta^(2i/D) and angle a = pos * f_i
 * (float32, as HF computes them), the pair (x[i], x[i + D/2]) in HF's rotate-half form, or the
 * pair (x[2i], x[2i + 1]) in the interleaved form llama.cpp uses with GGUF weights (whose q/k rows
 * the converter permuted to match), turns by a:  (a, b) -> (a cos - b sin, b cos + a sin).
 * out may be x itself. */
#include "../core/internal.h"

#include <math.h>

/* Turns each pair by sign * angle: +1 is the embedding, -1 its inverse (and its gradient, as a
 * rotation's transpose is its inverse). */
static int rotate(locus_tensor *out, const locus_tensor *x, int64_t pos0, float theta, int interleaved, float sign,
                  const char *op) {
    if (locus_check_tensor(x, op, "x")) return -1;
    if (x->ndim < 3 || !is_float_dtype(x->type) || x->sizes[x->ndim - 1] % 2)
        return locus_fail("%s: x must be float [..., T, heads, D] with even D, got %s", op, locus_tensor_describe(x));
    if (pos0 < 0) return locus_fail("%s: negative start position %lld", op, (long long)pos0);
    if (!(theta > 1.0f)) return locus_fail("%s: theta must be > 1, got %g", op, (double)theta);
    if (locus_check_out(out, op, x->ndim, x->sizes)) return -1;
    locus_tensor *owned;
    const float *xd = locus_f32_view(x, &owned);
    if (!xd) return -1;
    int64_t d = x->sizes[x->ndim - 1], h = x->sizes[x->ndim - 2], t = x->sizes[x->ndim - 3];
    int64_t half = d / 2, outer = t ? locus_tensor_numel(x) / (t * h * d) : 0;
    int64_t step = interleaved ? 1 : half; /* distance from a pair's first element to its second */
    float *y = locus_tensor_data(out);
#pragma omp parallel for schedule(static) if (outer * t * h * d > 16384)
    for (int64_t ot = 0; ot < outer * t; ot++) {
        float pos = (float)(pos0 + ot % t);
        for (int64_t i = 0; i < half; i++) {
            float inv_freq = 1.0f / powf(theta, (float)(2 * i) / (float)d);
            float angle = pos * inv_freq, c = cosf(angle), s = sign * sinf(angle);
            int64_t first = interleaved ? 2 * i : i;
            for (int64_t hh = 0; hh < h; hh++) {
                const float *xr = xd + (ot * h + hh) * d;
                float *yr = y + (ot * h + hh) * d;
                float a = xr[first], b = xr[first + step];
                yr[first] = a * c - b * s;
                yr[first + step] = b * c + a * s;
            }
        }
    }
    locus_tensor_free(owned);
    return 0;
}

int locus_rope(locus_tensor *out, const locus_tensor *x, int64_t pos0, float theta, int interleaved) {
    return rotate(out, x, pos0, theta, interleaved, 1.0f, "rope");
}

int locus_rope_backward(locus_tensor *dx, const locus_tensor *dy, int64_t pos0, float theta, int interleaved) {
    return rotate(dx, dy, pos0, theta, interleaved, -1.0f, "rope_backward");
}
