/* optim.c — AdamW's update, one parameter tensor at a time (torch.optim.AdamW's single-tensor
 * arithmetic, so that a run matches PyTorch's step for step). */
#include "../core/internal.h"

#include <math.h>

int locus_adamw_step(locus_tensor *param, const locus_tensor *grad, locus_tensor *m, locus_tensor *v, int64_t step,
                     float lr, float beta1, float beta2, float eps, float weight_decay) {
    const char *op = "adamw_step";
    const locus_tensor *ts[] = {param, grad, m, v};
    const char *names[] = {"param", "grad", "m", "v"};
    for (int i = 0; i < 4; i++) {
        if (locus_check_tensor(ts[i], op, names[i])) return -1;
        if (ts[i]->type != LOCUS_F32 || !locus_tensor_is_contiguous(ts[i]) || locus_tensor_numel(ts[i]) != locus_tensor_numel(param))
            return locus_fail("%s: %s must be contiguous f32 with the parameter's %lld elements, got %s", op, names[i],
                              (long long)locus_tensor_numel(param), locus_tensor_describe(ts[i]));
    }
    if (step < 1) return locus_fail("%s: steps count from 1, got %lld", op, (long long)step);
    float *p = locus_tensor_data(param), *ma = locus_tensor_data(m), *va = locus_tensor_data(v);
    const float *g = locus_tensor_data(grad);
    float step_size = lr / (1.0f - powf(beta1, (float)step));
    float bc2_sqrt = sqrtf(1.0f - powf(beta2, (float)step));
    float decay = 1.0f - lr * weight_decay;
    int64_t n = locus_tensor_numel(param);
#pragma omp parallel for schedule(static) if (n > 65536)
    for (int64_t i = 0; i < n; i++) {
        p[i] *= decay;
        ma[i] += (g[i] - ma[i]) * (1.0f - beta1); /* torch's lerp */
        va[i] = va[i] * beta2 + (1.0f - beta2) * g[i] * g[i];
        p[i] -= step_size * ma[i] / (sqrtf(va[i]) / bc2_sqrt + eps);
    }
    return 0;
}
