/* The four-layer autoencoder: in -> h1 -> h2 -> h3 -> in with relu, relu,
 * relu and a sigmoid output (pixels are in [0, 1]); trained with the mean
 * squared error against its input. The h2 layer's output ("fc2.relu") is
 * the code. PyTorch twin: fc1..fc4 = nn.Linear(...), forward
 * sigmoid(fc4(relu(fc3(relu(fc2(relu(fc1(x.flatten(1))))))))). */
#include "models.h"

typedef struct {
    wg_linear fc1, fc2, fc3, fc4;
} autoencoder;

static wg_tensor *ae_forward(wg_model *m, wg_tape *t, wg_tensor *x, void *state)
{
    (void)m;
    const autoencoder *s = state;
    if (wg_ndim(x) > 2)
        x = wg_flatten(t, x);
    x = wg_activate(t, WG_ACT_RELU, wg_linear_apply(t, &s->fc1, x), "fc1");
    x = wg_activate(t, WG_ACT_RELU, wg_linear_apply(t, &s->fc2, x), "fc2");
    x = wg_activate(t, WG_ACT_RELU, wg_linear_apply(t, &s->fc3, x), "fc3");
    return wg_activate(t, WG_ACT_SIGMOID, wg_linear_apply(t, &s->fc4, x), "fc4");
}

wg_model *wg_autoencoder(int in, int h1, int h2, int h3, wg_init init, uint64_t seed)
{
    autoencoder *s = wg_calloc(1, sizeof *s);
    wg_model *m = s ? wg_model_new("autoencoder", ae_forward, s, wg_free, seed) : NULL;
    if (!m) {
        wg_free(s);
        wg_set_last_error(WG_ENOMEM, "autoencoder: out of memory");
        return NULL;
    }
    wg_params *p = wg_model_params(m);
    wg_rng *r = wg_model_rng(m);
    if (wg_linear_init(&s->fc1, p, "fc1", in, h1, true, init, r) ||
        wg_linear_init(&s->fc2, p, "fc2", h1, h2, true, init, r) ||
        wg_linear_init(&s->fc3, p, "fc3", h2, h3, true, init, r) ||
        wg_linear_init(&s->fc4, p, "fc4", h3, in, true, init, r) ||
        wg_model_set_int(m, "in", in) || wg_model_set_int(m, "h1", h1) ||
        wg_model_set_int(m, "h2", h2) || wg_model_set_int(m, "h3", h3) ||
        wg_model_set_init(m, init)) {
        wg_model_free(m);
        return NULL;
    }
    return m;
}
