/* The registry of built-in model kinds: rebuilds one from the
 * hyperparameters its architecture string records. */
#include "models.h"

#include <string.h>

int64_t wg_hyper_int(const wg_hyper_view *h, const char *key, int64_t fallback)
{
    for (int i = 0; i < h->n; i++)
        if (!h->is_str[i] && strcmp(h->keys[i], key) == 0)
            return h->ivals[i];
    return fallback;
}

const char *wg_hyper_str(const wg_hyper_view *h, const char *key)
{
    for (int i = 0; i < h->n; i++)
        if (h->is_str[i] && strcmp(h->keys[i], key) == 0)
            return h->svals[i];
    return NULL;
}

wg_status wg_model_set_init(wg_model *m, wg_init init)
{
    return wg_model_set_str(m, "init", init == WG_INIT_XAVIER ? "xavier" : "default");
}

wg_init wg_hyper_init(const wg_hyper_view *h)
{
    const char *s = wg_hyper_str(h, "init");
    return s && strcmp(s, "xavier") == 0 ? WG_INIT_XAVIER : WG_INIT_DEFAULT;
}

/* The built-in kinds and the size hyperparameters each is built from. */
typedef enum { K_MLP, K_LENET5, K_AUTOENCODER, K_SOFTMAX } kind_id;
static const struct {
    const char *kind;
    const char *keys[4];
} kinds[] = {
    [K_MLP] = { "mlp", { "in", "hidden", "out" } },
    [K_LENET5] = { "lenet5", { "classes" } },
    [K_AUTOENCODER] = { "autoencoder", { "in", "h1", "h2", "h3" } },
    [K_SOFTMAX] = { "softmax", { "in", "classes" } },
};
#define N_KINDS ((int)(sizeof kinds / sizeof kinds[0]))

/* Finds `kind` and reads its sizes, each present and in [1, 1<<24], into
 * v; -1 with wg_last_error() set. Building and sizing share it, so a size
 * the builder would refuse is never sized. */
static int read_sizes(const char *kind, const wg_hyper_view *h, int v[4])
{
    for (int k = 0; k < N_KINDS; k++) {
        if (strcmp(kind, kinds[k].kind) != 0)
            continue;
        for (int i = 0; i < 4 && kinds[k].keys[i]; i++) {
            int64_t x = wg_hyper_int(h, kinds[k].keys[i], -1);
            if (x < 1 || x > (1 << 24)) {
                wg_set_last_error(WG_EFORMAT,
                                  "model_from_json: %s architecture: \"%s\" missing or out of "
                                  "range (1 to 16777216)",
                                  kind, kinds[k].keys[i]);
                return -1;
            }
            v[i] = (int)x;
        }
        return k;
    }
    wg_set_last_error(WG_EFORMAT,
                      "model_from_json: unknown model kind \"%s\" (mlp, lenet5, autoencoder, "
                      "softmax)",
                      kind);
    return -1;
}

wg_model *wg_builtin_model(const char *kind, const wg_hyper_view *h, uint64_t seed)
{
    wg_init init = wg_hyper_init(h);
    int v[4];
    switch (read_sizes(kind, h, v)) {
    case K_MLP: {
        wg_activation act = WG_ACT_SIGMOID;
        const char *an = wg_hyper_str(h, "activation");
        if (an && wg_activation_parse(an, &act) != WG_OK)
            return NULL;
        return wg_mlp(v[0], v[1], v[2], act, init, seed);
    }
    case K_LENET5:
        return wg_lenet5(v[0], init, seed);
    case K_AUTOENCODER:
        return wg_autoencoder(v[0], v[1], v[2], v[3], init, seed);
    case K_SOFTMAX:
        return wg_softmax_regression(v[0], v[1], init, seed);
    default:
        return NULL;
    }
}

/* a fully connected layer with a bias */
static int64_t linear(int64_t in, int64_t out)
{
    return in * out + out;
}

wg_status wg_builtin_numel(const char *kind, const wg_hyper_view *h, int64_t *numel)
{
    int v[4];
    /* sizes are at most 1<<24, so no product below exceeds 2^50 */
    switch (read_sizes(kind, h, v)) {
    case K_MLP:
        *numel = linear(v[0], v[1]) + linear(v[1], v[2]);
        return WG_OK;
    case K_LENET5: /* conv1 6x1x5x5, conv2 16x6x5x5, fc 400-120-84-classes */
        *numel = (6 * 25 + 6) + (16 * 6 * 25 + 16) + linear(400, 120) + linear(120, 84) +
                 linear(84, v[0]);
        return WG_OK;
    case K_AUTOENCODER:
        *numel = linear(v[0], v[1]) + linear(v[1], v[2]) + linear(v[2], v[3]) + linear(v[3], v[0]);
        return WG_OK;
    case K_SOFTMAX:
        *numel = linear(v[0], v[1]);
        return WG_OK;
    default:
        return WG_EFORMAT; /* read_sizes said why */
    }
}
