/* Softmax regression: one linear layer, the simplest classifier. Its
 * weights, one row per class, can be drawn as images. PyTorch twin:
 * self.fc = nn.Linear(n_in, classes); forward: self.fc(x.flatten(1)). */
#include "models.h"

static wg_tensor *softmax_forward(wg_model *m, wg_tape *t, wg_tensor *x, void *state)
{
    (void)m;
    if (wg_ndim(x) > 2)
        x = wg_flatten(t, x);
    return wg_linear_apply(t, state, x);
}

wg_model *wg_softmax_regression(int in, int classes, wg_init init, uint64_t seed)
{
    wg_linear *fc = wg_calloc(1, sizeof *fc);
    wg_model *m = fc ? wg_model_new("softmax", softmax_forward, fc, wg_free, seed) : NULL;
    if (!m) {
        wg_free(fc);
        wg_set_last_error(WG_ENOMEM, "softmax: out of memory");
        return NULL;
    }
    if (wg_linear_init(fc, wg_model_params(m), "fc", in, classes, true, init, wg_model_rng(m)) ||
        wg_model_set_int(m, "in", in) || wg_model_set_int(m, "classes", classes) ||
        wg_model_set_init(m, init)) {
        wg_model_free(m);
        return NULL;
    }
    return m;
}
