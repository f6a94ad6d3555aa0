#include "net_fixture.h"

#include <stdlib.h>

int net_fixture_init(net_fixture *f, int batch, uint64_t seed)
{
    f->params = wg_params_new();
    wg_params *P = f->params;
    if (!P || !wg_param(P, "conv1.weight", WG_SHAPE(6, 1, 5, 5)) ||
        !wg_param(P, "conv1.bias", WG_SHAPE(6)) ||
        !wg_param(P, "conv2.weight", WG_SHAPE(16, 6, 5, 5)) ||
        !wg_param(P, "conv2.bias", WG_SHAPE(16)) ||
        !wg_param(P, "fc1.weight", WG_SHAPE(300, 400)) ||
        !wg_param(P, "fc1.bias", WG_SHAPE(300)) ||
        !wg_param(P, "fc2.weight", WG_SHAPE(10, 300)) ||
        !wg_param(P, "fc2.bias", WG_SHAPE(10)))
        return -1;
    wg_rng r = wg_rng_seed(seed);
    wg_params_uniform(P, &r, -0.2, 0.2);
    f->batch = batch;
    f->images = malloc((size_t)batch * 784 * sizeof(wg_real));
    f->labels = malloc((size_t)batch * sizeof(int32_t));
    if (!f->images || !f->labels)
        return -1;
    for (int i = 0; i < batch * 784; i++)
        f->images[i] = (wg_real)wg_rng_uniform(&r);
    for (int i = 0; i < batch; i++)
        f->labels[i] = (int32_t)wg_rng_below(&r, 10);
    return 0;
}

void net_fixture_free(net_fixture *f)
{
    wg_params_free(f->params);
    free(f->images);
    free(f->labels);
}

wg_tensor *net_fixture_forward(net_fixture *f, wg_tape *t)
{
    wg_params *P = f->params;
#define PR(name) wg_params_find(P, name)
    wg_tensor *x = wg_input(t, f->images, WG_SHAPE(f->batch, 1, 28, 28));
    x = wg_conv2d(t, x, PR("conv1.weight"), PR("conv1.bias"), 1, 2);
    x = wg_maxpool2d(t, wg_tanh(t, x), 2, 2);
    x = wg_conv2d(t, x, PR("conv2.weight"), PR("conv2.bias"), 1, 0);
    x = wg_maxpool2d(t, wg_tanh(t, x), 2, 2);
    x = wg_flatten(t, x);
    x = wg_relu(t, wg_add(t, wg_matmul_nt(t, x, PR("fc1.weight")), PR("fc1.bias")));
    x = wg_add(t, wg_matmul_nt(t, x, PR("fc2.weight")), PR("fc2.bias"));
    return wg_softmax_cross_entropy(t, x, f->labels);
#undef PR
}
