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

/* A size hyperparameter: present and in [1, 1<<24]. */
static bool size_of(const wg_hyper_view *h, const char *kind, const char *key, int *out)
{
    int64_t v = wg_hyper_int(h, key, -1);
    if (v < 1 || v > (1 << 24)) {
        wg_set_last_error(WG_EFORMAT, "%s architecture: \"%s\" missing or out of range", kind,
                          key);
        return false;
    }
    *out = (int)v;
    return true;
}

wg_model *wg_builtin_model(const char *kind, const wg_hyper_view *h, uint64_t seed)
{
    wg_init init = wg_hyper_init(h);
    int a, b, c, d;
    if (strcmp(kind, "mlp") == 0) {
        wg_activation act = WG_ACT_SIGMOID;
        const char *an = wg_hyper_str(h, "activation");
        if (an && wg_activation_parse(an, &act) != WG_OK)
            return NULL;
        if (!size_of(h, kind, "in", &a) || !size_of(h, kind, "hidden", &b) ||
            !size_of(h, kind, "out", &c))
            return NULL;
        return wg_mlp(a, b, c, act, init, seed);
    }
    if (strcmp(kind, "lenet5") == 0)
        return size_of(h, kind, "classes", &a) ? wg_lenet5(a, init, seed) : NULL;
    if (strcmp(kind, "autoencoder") == 0) {
        if (!size_of(h, kind, "in", &a) || !size_of(h, kind, "h1", &b) ||
            !size_of(h, kind, "h2", &c) || !size_of(h, kind, "h3", &d))
            return NULL;
        return wg_autoencoder(a, b, c, d, init, seed);
    }
    if (strcmp(kind, "softmax") == 0) {
        if (!size_of(h, kind, "in", &a) || !size_of(h, kind, "classes", &b))
            return NULL;
        return wg_softmax_regression(a, b, init, seed);
    }
    wg_set_last_error(WG_EFORMAT, "unknown model kind \"%s\" (mlp, lenet5, autoencoder, softmax)",
                      kind);
    return NULL;
}
