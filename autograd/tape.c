/* The tape: its arena, its error state, and the helpers every op uses to
 * validate inputs, make outputs and record nodes. */
#include "internal.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static void init_poison(wg_tape *t)
{
    t->poison_data[0] = (wg_real)NAN;
    t->poison = (wg_tensor){ .data = t->poison_data, .shape = { 1, { 0 } }, .numel = 0,
                             .flags = WG_F_POISON, .tape = t };
}

wg_tape *wg_tape_new(void)
{
    wg_lib_init();
    wg_tape *t = wg_calloc(1, sizeof *t);
    if (!t) {
        wg_set_last_error(WG_ENOMEM, "tape_new: out of memory");
        return NULL;
    }
    t->grad_enabled = true;
    init_poison(t);
    return t;
}

void wg_tape_free(wg_tape *t)
{
    if (!t)
        return;
    wg_arena_free(&t->arena);
    wg_free(t);
}

void wg_tape_reset(wg_tape *t)
{
    if (!t)
        return;
    wg_arena_reset(&t->arena);
    t->last = NULL;
    t->n_nodes = 0;
    t->status = WG_OK;
    t->msg[0] = 0;
    init_poison(t);
}

wg_status wg_tape_status(const wg_tape *t)
{
    return t ? t->status : WG_EINVAL;
}

const char *wg_tape_error(const wg_tape *t)
{
    return t ? t->msg : "NULL tape";
}

bool wg_tape_set_grad(wg_tape *t, bool enabled)
{
    if (!t)
        return false;
    bool old = t->grad_enabled;
    t->grad_enabled = enabled;
    return old;
}

wg_status wg_tape_set_batch_slice(wg_tape *t, int64_t first, int64_t total)
{
    if (!t || first < 0 || total < 0 || first > total)
        return wg_set_last_error(WG_EINVAL, "tape_set_batch_slice: %s", !t ? "NULL tape"
                                 : "first row and batch size must satisfy 0 <= first <= total");
    t->slice_first = total ? first : 0;
    t->slice_total = total;
    return WG_OK;
}

int wg_tape_size(const wg_tape *t)
{
    return t ? t->n_nodes : 0;
}

void wg_tape_memory(const wg_tape *t, size_t *held, size_t *peak)
{
    if (held)
        *held = t ? t->arena.held : 0;
    if (peak)
        *peak = t ? t->arena.peak : 0;
}

wg_tensor *wg_poison(wg_tape *t)
{
    return t ? &t->poison : NULL;
}

wg_tensor *wg_fail(wg_tape *t, wg_status s, const char *op, const char *fmt, ...)
{
    if (!t) {
        wg_set_last_error(WG_EINVAL, "%s: NULL tape", op);
        return NULL;
    }
    if (t->status == WG_OK) {
        t->status = s;
        int n = snprintf(t->msg, sizeof t->msg, "%s: ", op);
        va_list ap;
        va_start(ap, fmt);
        if (n >= 0 && (size_t)n < sizeof t->msg)
            vsnprintf(t->msg + n, sizeof t->msg - (size_t)n, fmt, ap);
        va_end(ap);
        wg_log(WG_LOG_ERROR, "%s", t->msg);
    }
    return &t->poison;
}

bool wg_op_begin(wg_tape *t, const char *op, wg_tensor *const *in, int n)
{
    if (!t) {
        wg_set_last_error(WG_EINVAL, "%s: NULL tape", op);
        return false;
    }
    if (t->status != WG_OK)
        return false;
    for (int i = 0; i < n; i++) {
        if (!in[i]) {
            wg_fail(t, WG_EINVAL, op, "input %d is NULL", i);
            return false;
        }
        if (in[i]->flags & WG_F_POISON) {
            /* a poisoned tensor from another, failed tape */
            wg_fail(t, WG_EINVAL, op, "input %d is the result of a failed tape", i);
            return false;
        }
        if (in[i]->tape && in[i]->tape != t) {
            wg_fail(t, WG_EINVAL, op, "input %d belongs to another tape", i);
            return false;
        }
    }
    return true;
}

void *wg_tape_alloc(wg_tape *t, const char *op, size_t bytes)
{
    void *p = wg_arena_alloc(&t->arena, bytes);
    if (!p)
        wg_fail(t, WG_ENOMEM, op, "out of memory (%zu bytes)", bytes);
    return p;
}

void *wg_tape_calloc(wg_tape *t, const char *op, size_t bytes)
{
    void *p = wg_tape_alloc(t, op, bytes);
    if (p)
        memset(p, 0, bytes);
    return p;
}

wg_tensor *wg_op_output(wg_tape *t, const char *op, wg_shape shape)
{
    int64_t n = wg_shape_numel(&shape);
    if (n < 0) {
        char b[96];
        wg_fail(t, WG_ESHAPE, op, "invalid output shape %s", wg_shape_str(shape, b, sizeof b));
        return NULL;
    }
    wg_tensor *y = wg_tape_alloc(t, op, sizeof *y);
    wg_real *data = y ? wg_tape_alloc(t, op, (size_t)n * sizeof(wg_real)) : NULL;
    if (!data)
        return NULL;
    *y = (wg_tensor){ .data = data, .shape = shape, .numel = n, .tape = t, .op = op };
    return y;
}

bool wg_op_recording(const wg_tape *t, wg_tensor *const *in, int n)
{
    if (!t->grad_enabled)
        return false;
    for (int i = 0; i < n; i++)
        if (in[i] && (in[i]->flags & WG_F_REQ_GRAD))
            return true;
    return false;
}

/* x * 0 is 0 for a finite x and NaN otherwise; summed in independent
 * lanes (no reassociation needed), blocks of the array in parallel, their
 * verdicts and-ed. Four accumulators of the baseline's 16-byte vectors,
 * named so they stay in registers: as an array (or one wider vector) GCC
 * kept them on the stack and every add waited on a store (the guard took
 * 6-9% of an MLP step). */
typedef wg_real wg_v16b __attribute__((vector_size(16)));
static bool finite_block(const wg_real *v, int64_t n)
{
    enum { L = 16 / sizeof(wg_real) };
    wg_v16b a0 = { 0 }, a1 = { 0 }, a2 = { 0 }, a3 = { 0 }, x0, x1, x2, x3;
    int64_t i = 0;
    for (; i + 4 * L <= n; i += 4 * L) {
        memcpy(&x0, v + i, sizeof x0);
        memcpy(&x1, v + i + L, sizeof x1);
        memcpy(&x2, v + i + 2 * L, sizeof x2);
        memcpy(&x3, v + i + 3 * L, sizeof x3);
        a0 += x0 * 0;
        a1 += x1 * 0;
        a2 += x2 * 0;
        a3 += x3 * 0;
    }
    wg_v16b a = (a0 + a1) + (a2 + a3);
    wg_real s = 0;
    for (; i < n; i++)
        s += v[i] * 0;
    for (int l = 0; l < L; l++)
        s += a[l];
    return s == 0;
}

bool wg_all_finite(const wg_real *v, int64_t n)
{
    const int64_t block = 1 << 16, blocks = (n + block - 1) / block;
    const int threads = wg_threads_for(n);
    bool ok = true;
#pragma omp parallel for num_threads(threads) schedule(static) reduction(&& : ok) if (threads > 1)
    for (int64_t b = 0; b < blocks; b++)
        ok = finite_block(v + b * block, n - b * block < block ? n - b * block : block) && ok;
    return ok;
}

int64_t wg_first_nonfinite(const wg_real *v, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        if (!isfinite((double)v[i]))
            return i;
    return -1;
}

wg_node *wg_op_record(wg_tape *t, const wg_op_desc *d, wg_tensor *out, wg_tensor *const *in,
                      int n)
{
    if (!wg_op_recording(t, in, n))
        return NULL;
    if (wg_anomaly()) {
        /* inputs are finite, or the op that made them would have failed */
        int64_t k = wg_first_nonfinite(out->data, out->numel);
        if (k >= 0) {
            wg_fail(t, WG_ENONFINITE, d->name, "anomaly: the forward pass produced %g at "
                    "element %lld of the output of node %d", (double)out->data[k], (long long)k,
                    t->n_nodes);
            return NULL;
        }
    }
    wg_node *node = wg_tape_alloc(t, d->name, sizeof *node);
    if (!node)
        return NULL;
    memset(node, 0, sizeof *node);
    node->op = d;
    node->prev = t->last;
    node->out = out;
    node->n_in = n;
    for (int i = 0; i < n; i++)
        node->in[i] = in[i];
    node->index = t->n_nodes++;
    t->last = node;
    out->node = node;
    out->flags |= WG_F_REQ_GRAD;
    return node;
}

wg_real *wg_in_grad_dst(wg_tape *t, wg_node *n, int i, bool *acc)
{
    wg_tensor *x = n->in[i];
    *acc = true;
    if (!x || !(x->flags & WG_F_REQ_GRAD))
        return NULL;
    if (!x->grad) {
        /* only activations get here: parameters and standalone tensors
         * carry their gradient buffer from birth */
        x->grad = wg_tape_alloc(t, n->op->name, (size_t)x->numel * sizeof(wg_real));
        *acc = false;
    }
    return x->grad;
}

wg_real *wg_in_grad(wg_tape *t, wg_node *n, int i)
{
    bool acc;
    wg_real *g = wg_in_grad_dst(t, n, i, &acc);
    if (g && !acc)
        memset(g, 0, (size_t)n->in[i]->numel * sizeof(wg_real));
    return g;
}

wg_tensor *wg_input(wg_tape *t, const wg_real *data, wg_shape shape)
{
    if (!wg_op_begin(t, "input", NULL, 0))
        return wg_poison(t);
    if (!data)
        return wg_fail(t, WG_EINVAL, "input", "data is NULL");
    wg_tensor *y = wg_op_output(t, "input", shape);
    if (!y)
        return wg_poison(t);
    memcpy(y->data, data, (size_t)y->numel * sizeof(wg_real));
    return y;
}

wg_tensor *wg_set_name(wg_tensor *x, const char *name)
{
    if (!x || (x->flags & WG_F_POISON) || !name)
        return x;
    if (x->tape) {
        size_t n = strlen(name) + 1;
        char *s = wg_arena_alloc(&x->tape->arena, n);
        if (!s) {
            wg_fail(x->tape, WG_ENOMEM, "set_name", "out of memory");
            return x;
        }
        memcpy(s, name, n);
        x->name = s;
    } else if (x->flags & WG_F_OWNED) {
        char *s = wg_strdup(name);
        if (s) {
            wg_free(x->name);
            x->name = s;
        }
    }
    /* parameters keep the name they were created with */
    return x;
}
