/* What every optimizer shares: creation, the walk over trainable
 * parameters, the non-finite guard, zeroing, the learning rate. */
#include "optim.h"

#include <math.h>
#include <string.h>

void wg_optim_blocks(int64_t n, void (*block)(const void *, int64_t, int64_t), const void *args)
{
    const int64_t blocks = (n + WG_OPTIM_BLOCK - 1) / WG_OPTIM_BLOCK;
    const int threads = wg_threads_for(n);
    (void)threads; /* without OpenMP */
#pragma omp parallel for num_threads(threads) schedule(static) if (threads > 1)
    for (int64_t b = 0; b < blocks; b++)
        block(args, b * WG_OPTIM_BLOCK, b == blocks - 1 ? n : (b + 1) * WG_OPTIM_BLOCK);
}

bool wg_optim_setting(const char *who, const char *what, double v, double lo, bool lo_open,
                      double hi)
{
    const bool upper = isfinite(hi);
    if (isfinite(v) && (lo_open ? v > lo : v >= lo) && (!upper || v < hi))
        return true;
    if (upper)
        wg_set_last_error(WG_EINVAL, "%s: %s %g must be in [%g, %g)", who, what, v, lo, hi);
    else
        wg_set_last_error(WG_EINVAL, "%s: %s %g must be %s %g", who, what, v,
                          lo_open ? ">" : ">=", lo);
    return false;
}

wg_optim *wg_optim_alloc(wg_params *p, wg_optim_kind_t kind, int buffers)
{
    if (!p) {
        wg_set_last_error(WG_EINVAL, "optim: NULL parameter store");
        return NULL;
    }
    wg_optim *o = wg_calloc(1, sizeof *o);
    if (!o)
        goto oom;
    o->kind = kind;
    o->params = p;
    o->numel = wg_params_numel(p);
    size_t n = (size_t)(o->numel ? o->numel : 1);
    o->has_state = wg_calloc((size_t)(wg_params_count(p) + 1), sizeof *o->has_state);
    o->param_steps = wg_calloc((size_t)(wg_params_count(p) + 1), sizeof *o->param_steps);
    if (!o->has_state || !o->param_steps)
        goto oom;
    if (buffers >= 1 && !(o->state1 = wg_calloc(n, sizeof(wg_real))))
        goto oom;
    if (buffers >= 2 && !(o->state2 = wg_calloc(n, sizeof(wg_real))))
        goto oom;
    return o;
oom:
    wg_optim_free(o);
    wg_set_last_error(WG_ENOMEM, "optim: out of memory");
    return NULL;
}

void wg_optim_free(wg_optim *o)
{
    if (!o)
        return;
    wg_free(o->state1);
    wg_free(o->state2);
    wg_free(o->has_state);
    wg_free(o->param_steps);
    wg_free(o);
}

wg_status wg_optim_step(wg_optim *o)
{
    if (!o)
        return wg_set_last_error(WG_EINVAL, "optim_step: NULL optimizer");
    wg_params *p = o->params;
    if (wg_params_numel(p) != o->numel)
        return wg_set_last_error(WG_ESTATE, "optim_step: the store has %lld values, the "
                                 "optimizer was made for %lld", (long long)wg_params_numel(p),
                                 (long long)o->numel);
    /* refuse a non-finite gradient before touching anything: one fast pass
     * over the whole block, and only on a hit a second to name the element */
    if (!wg_all_finite(wg_params_grads(p), wg_params_numel(p))) {
        for (int i = 0; i < wg_params_count(p); i++) {
            wg_tensor *t = wg_params_at(p, i);
            int64_t k = wg_requires_grad(t) ? wg_first_nonfinite(t->grad, t->numel) : -1;
            if (k >= 0)
                return wg_set_last_error(WG_ENONFINITE, "optim_step: gradient of %s[%lld] "
                                         "is %g; parameters unchanged", t->name, (long long)k,
                                         (double)t->grad[k]);
        }
    }
    int64_t off = 0;
    o->steps++;
    for (int i = 0; i < wg_params_count(p); i++) {
        wg_tensor *t = wg_params_at(p, i);
        int64_t n = wg_numel(t);
        if (wg_requires_grad(t)) { /* frozen parameters are skipped */
            o->param_steps[i]++;
            if (o->kind == WG_OPT_SGD) /* the updates zero what they use */
                wg_sgd_update(o, i, off, n);
            else
                wg_adam_update(o, i, off, n);
            o->has_state[i] = true;
        } else {
            memset(wg_params_grads(p) + off, 0, (size_t)n * sizeof(wg_real));
        }
        off += n;
    }
    return WG_OK;
}

double wg_optim_lr(const wg_optim *o)
{
    return o ? o->lr : 0;
}

void wg_optim_set_lr(wg_optim *o, double lr)
{
    if (o && lr >= 0)
        o->lr = lr;
}

int64_t wg_optim_steps(const wg_optim *o)
{
    return o ? o->steps : 0;
}

const char *wg_optim_kind(const wg_optim *o)
{
    if (!o)
        return NULL;
    switch (o->kind) {
    case WG_OPT_SGD: return "sgd";
    case WG_OPT_ADAM: return "adam";
    case WG_OPT_ADAMW: return "adamw";
    }
    return NULL;
}

double wg_clip_grad_norm(wg_params *p, double max_norm)
{
    if (!p)
        return NAN;
    double sq = 0;
    wg_real *g = wg_params_grads(p);
    int64_t off = 0;
    for (int i = 0; i < wg_params_count(p); i++) {
        wg_tensor *t = wg_params_at(p, i);
        if (wg_requires_grad(t))
            for (int64_t k = 0; k < wg_numel(t); k++)
                sq += (double)g[off + k] * (double)g[off + k];
        off += wg_numel(t);
    }
    double norm = sqrt(sq);
    if (!isfinite(norm))
        return NAN;
    /* torch adds 1e-6 to the norm in the coefficient */
    double coef = max_norm / (norm + 1e-6);
    if (coef < 1) {
        off = 0;
        for (int i = 0; i < wg_params_count(p); i++) {
            wg_tensor *t = wg_params_at(p, i);
            if (wg_requires_grad(t))
                for (int64_t k = 0; k < wg_numel(t); k++)
                    g[off + k] = (wg_real)((double)g[off + k] * coef);
            off += wg_numel(t);
        }
    }
    return norm;
}
