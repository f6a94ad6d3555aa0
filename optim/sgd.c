/* SGD with momentum, dampening, Nesterov and weight decay, as
 * torch.optim.SGD (1.13):
 *   d = g + wd p
 *   buf = d on a parameter's first step, else momentum buf + (1 - dampening) d
 *   d = d + momentum buf (Nesterov) or buf
 *   p = p - lr d */
#include "optim.h"
#include "isa.h"

#include <math.h>

wg_optim *wg_sgd(wg_params *p, wg_sgd_opts opts)
{
    if (!wg_optim_setting("sgd", "lr", opts.lr, 0, true, INFINITY) ||
        !wg_optim_setting("sgd", "momentum", opts.momentum, 0, false, INFINITY) ||
        !wg_optim_setting("sgd", "dampening", opts.dampening, 0, false, INFINITY) ||
        !wg_optim_setting("sgd", "weight decay", opts.weight_decay, 0, false, INFINITY))
        return NULL;
    if (opts.nesterov && (opts.momentum == 0 || opts.dampening != 0)) {
        wg_set_last_error(WG_EINVAL, "sgd: Nesterov needs momentum > 0 and dampening 0 (momentum "
                          "%g, dampening %g)", opts.momentum, opts.dampening);
        return NULL;
    }
    wg_optim *o = wg_optim_alloc(p, WG_OPT_SGD, opts.momentum > 0 ? 1 : 0);
    if (o) {
        o->sgd = opts;
        o->lr = opts.lr;
    }
    return o;
}

/* The update of elements [lo, hi) of one parameter. Each loop also zeroes
 * the gradient it has used (zero_grad folded into the update: one pass
 * over the block instead of two). Element-wise: any split into blocks and
 * threads, and every instruction set (isa.h), gives the same bits. */
typedef struct sgd_loop {
    wg_real *v, *g, *buf;
    wg_real lr, mu, wd, damp;
    bool first, nesterov;
} sgd_loop;

WG_ISA_INLINE void sgd_block(const void *args, int64_t lo, int64_t hi)
{
    const sgd_loop *s = args;
    /* restrict: the three blocks are separate allocations, and saying so
     * lets the loops vectorise without run-time overlap checks */
    wg_real *restrict v = s->v, *restrict g = s->g, *restrict buf = s->buf;
    const wg_real lr = s->lr, mu = s->mu, wd = s->wd, damp = s->damp;
    /* one branch-free loop per case, so each vectorises */
    if (!buf) {
        for (int64_t k = lo; k < hi; k++) {
            v[k] -= lr * (g[k] + wd * v[k]);
            g[k] = 0;
        }
    } else if (s->first) {
        const bool nesterov = s->nesterov;
        for (int64_t k = lo; k < hi; k++) {
            wg_real d = g[k] + wd * v[k];
            buf[k] = wg_flush_tiny(d);
            v[k] -= lr * (nesterov ? d + mu * d : d);
            g[k] = 0;
        }
    } else if (s->nesterov) {
        for (int64_t k = lo; k < hi; k++) {
            wg_real d = g[k] + wd * v[k];
            buf[k] = wg_flush_tiny(mu * buf[k] + damp * d);
            v[k] -= lr * (d + mu * buf[k]);
            g[k] = 0;
        }
    } else {
        for (int64_t k = lo; k < hi; k++) {
            wg_real d = g[k] + wd * v[k];
            buf[k] = wg_flush_tiny(mu * buf[k] + damp * d);
            v[k] -= lr * buf[k];
            g[k] = 0;
        }
    }
}
WG_ISA_CLONES(sgd_block, (const void *args, int64_t lo, int64_t hi), (args, lo, hi))

void wg_sgd_update(wg_optim *o, int index, int64_t off, int64_t n)
{
    const sgd_loop s = {
        .v = wg_params_values(o->params) + off,
        .g = wg_params_grads(o->params) + off,
        .buf = o->state1 ? o->state1 + off : NULL,
        .lr = (wg_real)o->lr,
        .mu = (wg_real)o->sgd.momentum,
        .wd = (wg_real)o->sgd.weight_decay,
        .damp = (wg_real)(1 - o->sgd.dampening),
        .first = !o->has_state[index],
        .nesterov = o->sgd.nesterov,
    };
    wg_optim_blocks(n, sgd_block_pick(), &s);
}
