/* The two-layer perceptron: fc1, an activation, fc2. A template for
 * models of your own: a state struct holding the layers, a forward
 * function in plain C, and a constructor that records the hyperparameters
 * a checkpoint needs to rebuild it. The PyTorch twin:
 *
 *   class MLP(nn.Module):
 *       def __init__(self, n_in, hidden, n_out):
 *           super().__init__()
 *           self.fc1 = nn.Linear(n_in, hidden)
 *           self.fc2 = nn.Linear(hidden, n_out)
 *       def forward(self, x):
 *           return self.fc2(torch.sigmoid(self.fc1(x.flatten(1))))
 */
#include "models.h"

typedef struct {
    wg_linear fc1, fc2;
    wg_activation act;
} mlp;

static wg_tensor *mlp_forward(wg_model *m, wg_tape *t, wg_tensor *x, void *state)
{
    (void)m;
    const mlp *s = state;
    if (wg_ndim(x) > 2)
        x = wg_flatten(t, x);
    x = wg_activate(t, s->act, wg_linear_apply(t, &s->fc1, x), "fc1");
    return wg_linear_apply(t, &s->fc2, x);
}

wg_model *wg_mlp(int in, int hidden, int out, wg_activation act, wg_init init, uint64_t seed)
{
    mlp *s = wg_calloc(1, sizeof *s);
    wg_model *m = s ? wg_model_new("mlp", mlp_forward, s, wg_free, seed) : NULL;
    if (!m) {
        wg_free(s);
        wg_set_last_error(WG_ENOMEM, "mlp: out of memory");
        return NULL;
    }
    s->act = act;
    wg_params *p = wg_model_params(m);
    if (wg_linear_init(&s->fc1, p, "fc1", in, hidden, true, init, wg_model_rng(m)) ||
        wg_linear_init(&s->fc2, p, "fc2", hidden, out, true, init, wg_model_rng(m)) ||
        wg_model_set_int(m, "in", in) || wg_model_set_int(m, "hidden", hidden) ||
        wg_model_set_int(m, "out", out) ||
        wg_model_set_str(m, "activation", wg_activation_name(act)) || wg_model_set_init(m, init)) {
        wg_model_free(m);
        return NULL;
    }
    return m;
}
