/* Numerical gradient check: central differences of a random projection of
 * the output, compared element by element with the tape's gradient. A
 * projection rather than a plain sum, because a sum hides errors whose
 * signs cancel. */
#include "internal.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static double project(const wg_tensor *y, const wg_real *r)
{
    double s = 0;
    for (int64_t i = 0; i < y->numel; i++)
        s += (double)y->data[i] * (double)r[i];
    return s;
}

/* Runs fn on a reset tape without recording and projects the result. */
static wg_status eval(wg_tape *t, wg_check_fn fn, void *ctx, wg_tensor *const *in, int n,
                      const wg_real *r, int64_t numel, double *out)
{
    wg_tape_reset(t);
    wg_tape_set_grad(t, false);
    wg_tensor *y = fn(t, in, n, ctx);
    wg_tape_set_grad(t, true);
    if (!y)
        return wg_set_last_error(WG_EINVAL, "gradcheck: the function returned NULL");
    if (t->status != WG_OK)
        return wg_set_last_error(t->status, "gradcheck: %s", t->msg);
    if (y->numel != numel)
        return wg_set_last_error(WG_ESHAPE, "gradcheck: the output changed size");
    *out = project(y, r);
    return WG_OK;
}

wg_status wg_gradcheck(wg_check_fn fn, void *ctx, wg_tensor *const *inputs, int n,
                       const wg_gradcheck_opts *opts, wg_gradcheck_report *report)
{
    wg_gradcheck_report rep_local;
    wg_gradcheck_report *rep = report ? report : &rep_local;
    memset(rep, 0, sizeof *rep);
    rep->worst_input = -1;
    if (!fn || (n > 0 && !inputs) || n < 0)
        return wg_set_last_error(WG_EINVAL, "gradcheck: NULL function or inputs");
    for (int i = 0; i < n; i++)
        if (!inputs[i] || inputs[i]->tape)
            return wg_set_last_error(WG_EINVAL,
                                     "gradcheck: input %d must be a parameter or a tensor "
                                     "from wg_tensor_new()", i);

    const bool dbl = sizeof(wg_real) == sizeof(double);
    double eps = opts && opts->eps > 0 ? opts->eps : dbl ? 1e-6 : 1e-2;
    double rtol = opts && opts->rtol > 0 ? opts->rtol : dbl ? 1e-6 : 2e-2;
    double atol = opts && opts->atol > 0 ? opts->atol : dbl ? 1e-8 : 1e-3;
    uint64_t seed = opts && opts->seed ? opts->seed : 1;
    int max_checks = opts ? opts->max_checks : 0;

    wg_tape *t = wg_tape_new();
    if (!t)
        return WG_ENOMEM;
    wg_status st = WG_OK;
    wg_real *r = NULL;
    wg_tensor *y = fn(t, inputs, n, ctx);
    if (!y || t->status != WG_OK) {
        st = y ? t->status : WG_EINVAL;
        wg_set_last_error(st, "gradcheck: %s", y ? t->msg : "the function returned NULL");
        goto done;
    }
    int64_t numel = y->numel;
    r = wg_malloc((size_t)(numel ? numel : 1) * sizeof(wg_real));
    if (!r) {
        st = wg_set_last_error(WG_ENOMEM, "gradcheck: out of memory");
        goto done;
    }
    wg_rng rng = wg_rng_seed(seed);
    for (int64_t i = 0; i < numel; i++)
        r[i] = (wg_real)(2 * wg_rng_uniform(&rng) - 1);

    for (int i = 0; i < n; i++)
        wg_zero_grad(inputs[i]);
    st = wg_backward_from(t, y, r);
    if (st != WG_OK) {
        wg_set_last_error(st, "gradcheck: %s", t->msg);
        goto done;
    }

    for (int i = 0; i < n; i++) {
        wg_tensor *x = inputs[i];
        if (!(x->flags & WG_F_REQ_GRAD) || !x->grad)
            continue;
        int64_t step = 1;
        if (max_checks > 0 && x->numel > max_checks)
            step = (x->numel + max_checks - 1) / max_checks;
        for (int64_t j = 0; j < x->numel; j += step) {
            wg_real v = x->data[j];
            double fp, fm;
            x->data[j] = (wg_real)(v + eps);
            st = eval(t, fn, ctx, inputs, n, r, numel, &fp);
            x->data[j] = (wg_real)(v - eps);
            if (st == WG_OK)
                st = eval(t, fn, ctx, inputs, n, r, numel, &fm);
            x->data[j] = v;
            if (st != WG_OK)
                goto done;
            double num = (fp - fm) / (2 * eps);
            double ana = (double)x->grad[j];
            double bound = atol + rtol * fmax(fabs(ana), fabs(num));
            double ratio = fabs(ana - num) / bound;
            if (!(ratio <= rep->worst_ratio) || rep->worst_input < 0) {
                rep->worst_ratio = isnan(ratio) ? INFINITY : ratio;
                rep->worst_input = i;
                rep->worst_index = j;
                rep->analytic = ana;
                rep->numeric = num;
            }
            rep->checked++;
        }
    }
    if (rep->worst_input >= 0)
        snprintf(rep->message, sizeof rep->message,
                 "input %d (%s) element %lld: analytic %.10g, numeric %.10g, "
                 "error %.3g of the tolerance (seed %llu)",
                 rep->worst_input, inputs[rep->worst_input]->name ? inputs[rep->worst_input]->name : "unnamed",
                 (long long)rep->worst_index, rep->analytic, rep->numeric, rep->worst_ratio,
                 (unsigned long long)seed);
    if (rep->worst_ratio > 1) {
        st = WG_EGRAD;
        wg_set_last_error(st, "gradcheck: %s", rep->message);
    }
    /* leave the analytic gradients of the unperturbed inputs in place */
done:
    wg_free(r);
    wg_tape_free(t);
    return st;
}
