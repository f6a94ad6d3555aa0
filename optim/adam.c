/* Adam and AdamW as torch.optim (1.13), single-tensor path:
 *   g = g + wd p (Adam)         p = p (1 - lr wd) (AdamW)
 *   m = b1 m + (1 - b1) g       v = b2 v + (1 - b2) g^2
 *   p = p - lr / (1 - b1^t) m / (sqrt(v) / sqrt(1 - b2^t) + eps) */
#include "optim.h"
#include "isa.h"

#include <math.h>

static wg_optim *make(wg_params *p, wg_adam_opts opts, wg_optim_kind_t kind, const char *name)
{
    if (opts.beta1 == 0 && opts.beta2 == 0) {
        opts.beta1 = 0.9;
        opts.beta2 = 0.999;
    }
    if (opts.eps == 0)
        opts.eps = 1e-8;
    if (!wg_optim_setting(name, "lr", opts.lr, 0, true, INFINITY) ||
        !wg_optim_setting(name, "beta1", opts.beta1, 0, false, 1) ||
        !wg_optim_setting(name, "beta2", opts.beta2, 0, false, 1) ||
        !wg_optim_setting(name, "eps", opts.eps, 0, false, INFINITY) ||
        !wg_optim_setting(name, "weight decay", opts.weight_decay, 0, false, INFINITY))
        return NULL;
    wg_optim *o = wg_optim_alloc(p, kind, 2);
    if (o) {
        o->adam = opts;
        o->lr = opts.lr;
    }
    return o;
}

wg_optim *wg_adam(wg_params *p, wg_adam_opts opts)
{
    return make(p, opts, WG_OPT_ADAM, "adam");
}

wg_optim *wg_adamw(wg_params *p, wg_adam_opts opts)
{
    return make(p, opts, WG_OPT_ADAMW, "adamw");
}

/* The update of elements [lo, hi) of one parameter, zeroing the used
 * gradient (sgd.c); the same bits on every split and instruction set. */
typedef struct adam_loop {
    wg_real *v, *g, *m1, *m2;
    wg_real b1, b2, wd, step_size, bc2_sqrt, eps, decay;
    bool decoupled;
} adam_loop;

WG_ISA_INLINE void adam_block(const void *args, int64_t lo, int64_t hi)
{
    const adam_loop *s = args;
    wg_real *restrict v = s->v, *restrict g = s->g, *restrict m1 = s->m1, *restrict m2 = s->m2;
    const wg_real b1 = s->b1, b2 = s->b2, wd = s->wd, step_size = s->step_size;
    const wg_real bc2_sqrt = s->bc2_sqrt, eps = s->eps, decay = s->decay;
    const bool decoupled = s->decoupled;
    for (int64_t k = lo; k < hi; k++) {
        wg_real gk = g[k];
        if (decoupled)
            v[k] *= decay;
        else if (wd != 0)
            gk += wd * v[k];
        m1[k] = wg_flush_tiny(b1 * m1[k] + (1 - b1) * gk);
        m2[k] = wg_flush_tiny(b2 * m2[k] + (1 - b2) * gk * gk);
        v[k] -= step_size * (m1[k] / ((wg_real)sqrt(m2[k]) / bc2_sqrt + eps));
        g[k] = 0;
    }
}
WG_ISA_CLONES(adam_block, (const void *args, int64_t lo, int64_t hi), (args, lo, hi))

void wg_adam_update(wg_optim *o, int index, int64_t off, int64_t n)
{
    const wg_adam_opts *a = &o->adam;
    const double t = (double)o->param_steps[index];
    const adam_loop s = {
        .v = wg_params_values(o->params) + off,
        .g = wg_params_grads(o->params) + off,
        .m1 = o->state1 + off,
        .m2 = o->state2 + off,
        .b1 = (wg_real)a->beta1,
        .b2 = (wg_real)a->beta2,
        .wd = (wg_real)a->weight_decay,
        .step_size = (wg_real)(o->lr / (1 - pow(a->beta1, t))),
        .bc2_sqrt = (wg_real)sqrt(1 - pow(a->beta2, t)),
        .eps = (wg_real)a->eps,
        .decay = (wg_real)(1 - o->lr * a->weight_decay),
        .decoupled = o->kind == WG_OPT_ADAMW,
    };
    wg_optim_blocks(n, adam_block_pick(), &s);
}
