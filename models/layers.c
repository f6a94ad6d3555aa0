/* Linear and convolution layers with PyTorch's parameter names, layouts
 * and default initialisation, and the activations models are built from. */
#include "internal.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static void fill_uniform(wg_tensor *t, wg_rng *rng, double bound)
{
    wg_real *d = wg_data(t);
    for (int64_t i = 0; i < wg_numel(t); i++)
        d[i] = (wg_real)(bound * (2 * wg_rng_uniform(rng) - 1));
}

/* Weight then bias, as PyTorch's reset_parameters draws them. */
static void init_layer(wg_tensor *w, wg_tensor *b, int64_t fan_in, int64_t fan_out, wg_init init,
                       wg_rng *rng)
{
    if (init == WG_INIT_XAVIER) {
        fill_uniform(w, rng, sqrt(6.0 / (double)(fan_in + fan_out)));
        if (b)
            memset(wg_data(b), 0, (size_t)wg_numel(b) * sizeof(wg_real));
        return;
    }
    /* kaiming_uniform(a = sqrt(5)): gain sqrt(2 / (1 + 5)), bound
     * gain * sqrt(3 / fan_in) = 1 / sqrt(fan_in); the bias the same */
    double bound = fan_in > 0 ? 1.0 / sqrt((double)fan_in) : 0;
    fill_uniform(w, rng, bound);
    if (b)
        fill_uniform(b, rng, bound);
}

static wg_status add_params(wg_params *p, const char *layer, wg_shape wshape, wg_shape bshape,
                            bool bias, wg_tensor **w, wg_tensor **b)
{
    char name[96];
    snprintf(name, sizeof name, "%s.weight", layer);
    *w = wg_param(p, name, wshape);
    if (!*w)
        return WG_EINVAL;
    *b = NULL;
    if (bias) {
        snprintf(name, sizeof name, "%s.bias", layer);
        *b = wg_param(p, name, bshape);
        if (!*b)
            return WG_EINVAL;
    }
    return WG_OK;
}

static wg_status check_common(const char *what, wg_params *p, const char *name, wg_rng *rng,
                              size_t name_cap)
{
    if (!p || !name || !rng)
        return wg_set_last_error(WG_EINVAL, "%s: NULL store, name or generator", what);
    if (!*name || strlen(name) >= name_cap)
        return wg_set_last_error(WG_EINVAL, "%s: layer name must have 1 to %zu characters", what,
                                 name_cap - 1);
    return WG_OK;
}

wg_status wg_linear_init(wg_linear *l, wg_params *p, const char *name, int in, int out, bool bias,
                         wg_init init, wg_rng *rng)
{
    if (!l)
        return wg_set_last_error(WG_EINVAL, "linear: NULL layer");
    memset(l, 0, sizeof *l);
    wg_status s = check_common("linear", p, name, rng, sizeof l->name);
    if (s != WG_OK)
        return s;
    if (in < 1 || out < 1)
        return wg_set_last_error(WG_EINVAL, "linear %s: sizes %d -> %d must be >= 1", name, in,
                                 out);
    s = add_params(p, name, WG_SHAPE(out, in), WG_SHAPE(out), bias, &l->weight, &l->bias);
    if (s != WG_OK)
        return s;
    snprintf(l->name, sizeof l->name, "%s", name);
    init_layer(l->weight, l->bias, in, out, init, rng);
    return WG_OK;
}

wg_tensor *wg_linear_apply(wg_tape *t, const wg_linear *l, wg_tensor *x)
{
    if (!l)
        return wg_fail(t, WG_EINVAL, "linear", "NULL layer");
    wg_tensor *y = wg_matmul_nt(t, x, l->weight);
    if (l->bias)
        y = wg_add(t, y, l->bias);
    return wg_set_name(y, l->name);
}

wg_status wg_conv2d_layer_init(wg_conv2d_layer *l, wg_params *p, const char *name, int in, int out,
                               int kernel, int stride, int padding, bool bias, wg_init init,
                               wg_rng *rng)
{
    if (!l)
        return wg_set_last_error(WG_EINVAL, "conv2d layer: NULL layer");
    memset(l, 0, sizeof *l);
    wg_status s = check_common("conv2d layer", p, name, rng, sizeof l->name);
    if (s != WG_OK)
        return s;
    if (in < 1 || out < 1 || kernel < 1 || stride < 1 || padding < 0)
        return wg_set_last_error(WG_EINVAL, "conv2d layer %s: channels %d -> %d, kernel %d, "
                                 "stride %d, padding %d out of range", name, in, out, kernel,
                                 stride, padding);
    s = add_params(p, name, WG_SHAPE(out, in, kernel, kernel), WG_SHAPE(out), bias, &l->weight,
                   &l->bias);
    if (s != WG_OK)
        return s;
    snprintf(l->name, sizeof l->name, "%s", name);
    l->stride = stride;
    l->padding = padding;
    int64_t rf = (int64_t)kernel * kernel;
    init_layer(l->weight, l->bias, in * rf, out * rf, init, rng);
    return WG_OK;
}

wg_tensor *wg_conv2d_layer_apply(wg_tape *t, const wg_conv2d_layer *l, wg_tensor *x)
{
    if (!l)
        return wg_fail(t, WG_EINVAL, "conv2d", "NULL layer");
    return wg_set_name(wg_conv2d(t, x, l->weight, l->bias, l->stride, l->padding), l->name);
}

const char *wg_activation_name(wg_activation a)
{
    switch (a) {
    case WG_ACT_SIGMOID: return "sigmoid";
    case WG_ACT_TANH: return "tanh";
    case WG_ACT_RELU: return "relu";
    case WG_ACT_NONE: return "none";
    }
    return "unknown";
}

wg_status wg_activation_parse(const char *name, wg_activation *a)
{
    static const wg_activation all[] = { WG_ACT_SIGMOID, WG_ACT_TANH, WG_ACT_RELU, WG_ACT_NONE };
    for (size_t i = 0; name && a && i < sizeof all / sizeof all[0]; i++)
        if (strcmp(name, wg_activation_name(all[i])) == 0) {
            *a = all[i];
            return WG_OK;
        }
    return wg_set_last_error(WG_EINVAL, "activation_parse: unknown activation '%s' (sigmoid, tanh, "
                             "relu, none)",
                             name ? name : "(null)");
}

wg_tensor *wg_activate(wg_tape *t, wg_activation a, wg_tensor *x, const char *layer)
{
    wg_tensor *y;
    switch (a) {
    case WG_ACT_SIGMOID: y = wg_sigmoid(t, x); break;
    case WG_ACT_TANH: y = wg_tanh(t, x); break;
    case WG_ACT_RELU: y = wg_relu(t, x); break;
    case WG_ACT_NONE: return x;
    default: return wg_fail(t, WG_EINVAL, "activate", "unknown activation %d", (int)a);
    }
    if (layer) {
        char name[96];
        snprintf(name, sizeof name, "%s.%s", layer, wg_activation_name(a));
        wg_set_name(y, name);
    }
    return y;
}
