/* The parameter store: named tensors whose values and gradients each live
 * in one contiguous block, so optimizers are flat loops and checkpoints
 * are simple. */
#include "internal.h"

#include <string.h>

struct wg_params {
    wg_tensor **items;
    int count, cap;
    wg_real *values, *grads;
    int64_t numel;
};

wg_params *wg_params_new(void)
{
    wg_params *p = wg_calloc(1, sizeof *p);
    if (!p)
        wg_set_last_error(WG_ENOMEM, "params_new: out of memory");
    return p;
}

void wg_params_free(wg_params *p)
{
    if (!p)
        return;
    for (int i = 0; i < p->count; i++) {
        wg_free(p->items[i]->name);
        wg_free(p->items[i]);
    }
    wg_free(p->items);
    wg_free(p->values);
    wg_free(p->grads);
    wg_free(p);
}

wg_tensor *wg_params_find(const wg_params *p, const char *name)
{
    if (!p || !name)
        return NULL;
    for (int i = 0; i < p->count; i++)
        if (strcmp(p->items[i]->name, name) == 0)
            return p->items[i];
    return NULL;
}

wg_tensor *wg_param(wg_params *p, const char *name, wg_shape shape)
{
    char b[96];
    if (!p || !name || !*name) {
        wg_set_last_error(WG_EINVAL, "param: %s", !p ? "NULL store" : "empty or NULL name");
        return NULL;
    }
    int64_t n = wg_shape_numel(&shape);
    if (n < 0) {
        wg_set_last_error(WG_EINVAL, "param %s: invalid shape %s", name,
                          wg_shape_str(shape, b, sizeof b));
        return NULL;
    }
    if (wg_params_find(p, name)) {
        wg_set_last_error(WG_EINVAL, "param %s: a parameter of that name exists", name);
        return NULL;
    }
    if (n > INT64_MAX - p->numel) {
        wg_set_last_error(WG_EINVAL, "param %s: store too large", name);
        return NULL;
    }
    /* build everything new first, so a failure leaves the store as it was */
    int64_t total = p->numel + n;
    wg_tensor *t = wg_calloc(1, sizeof *t);
    char *nm = wg_strdup(name);
    wg_real *values = wg_calloc((size_t)total, sizeof(wg_real));
    wg_real *grads = wg_calloc((size_t)total + WG_GRAD_TAIL, sizeof(wg_real));
    wg_tensor **items = p->items;
    int cap = p->cap;
    if (p->count == p->cap) {
        cap = p->cap ? 2 * p->cap : 16;
        items = wg_malloc((size_t)cap * sizeof *items);
        if (items && p->count)
            memcpy(items, p->items, (size_t)p->count * sizeof *items);
    }
    if (!t || !nm || !values || !grads || !items) {
        wg_free(t);
        wg_free(nm);
        wg_free(values);
        wg_free(grads);
        if (items != p->items)
            wg_free(items);
        wg_set_last_error(WG_ENOMEM, "param %s: out of memory", name);
        return NULL;
    }
    if (items != p->items) {
        wg_free(p->items);
        p->items = items;
        p->cap = cap;
    }
    if (p->numel) {
        memcpy(values, p->values, (size_t)p->numel * sizeof(wg_real));
        memcpy(grads, p->grads, (size_t)p->numel * sizeof(wg_real));
    }
    wg_free(p->values);
    wg_free(p->grads);
    p->values = values;
    p->grads = grads;
    t->shape = shape;
    t->numel = n;
    t->name = nm;
    t->flags = WG_F_PARAM | WG_F_REQ_GRAD;
    p->items[p->count++] = t;
    p->numel = total;
    int64_t off = 0;
    for (int i = 0; i < p->count; i++) {
        p->items[i]->data = values + off;
        p->items[i]->grad = grads + off;
        off += p->items[i]->numel;
    }
    return t;
}

int wg_params_count(const wg_params *p)
{
    return p ? p->count : 0;
}

wg_tensor *wg_params_at(const wg_params *p, int i)
{
    return p && i >= 0 && i < p->count ? p->items[i] : NULL;
}

int64_t wg_params_numel(const wg_params *p)
{
    return p ? p->numel : 0;
}

wg_real *wg_params_values(const wg_params *p)
{
    return p ? p->values : NULL;
}

wg_real *wg_params_grads(const wg_params *p)
{
    return p ? p->grads : NULL;
}

void wg_params_zero_grad(wg_params *p)
{
    if (p && p->numel)
        memset(p->grads, 0, (size_t)p->numel * sizeof(wg_real));
}

void wg_params_uniform(wg_params *p, wg_rng *rng, double lo, double hi)
{
    if (!p || !rng)
        return;
    for (int64_t i = 0; i < p->numel; i++)
        p->values[i] = (wg_real)(lo + (hi - lo) * wg_rng_uniform(rng));
}

int wg_params_freeze(wg_params *p, const char *prefix, bool frozen)
{
    if (!p || !prefix)
        return 0;
    size_t n = strlen(prefix);
    int matched = 0;
    for (int i = 0; i < p->count; i++) {
        wg_tensor *t = p->items[i];
        if (strncmp(t->name, prefix, n) != 0)
            continue;
        matched++;
        if (frozen)
            t->flags = (t->flags | WG_F_FROZEN) & ~(unsigned)WG_F_REQ_GRAD;
        else
            t->flags = (t->flags | WG_F_REQ_GRAD) & ~(unsigned)WG_F_FROZEN;
    }
    return matched;
}
