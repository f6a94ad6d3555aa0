/* Seeing inside: named activations on a tape, the layer table of a model,
 * and the memory training holds. Everything here only reads the tape's
 * record (nodes linked newest first, each with its output and inputs);
 * docs/inspect.md describes the rules. */
#include "internal.h"
#include "../optim/optim.h"

#include <stdio.h>
#include <string.h>

#include "inspect.h"

/* --- the record in order ------------------------------------------------- */

int wg_tape_nodes(const wg_tape *t, wg_node ***out)
{
    *out = NULL;
    int n = t->n_nodes;
    if (n == 0)
        return 0;
    wg_node **v = wg_malloc((size_t)n * sizeof *v);
    if (!v)
        return -1;
    int i = n;
    for (wg_node *nd = t->last; nd && i > 0; nd = nd->prev)
        v[--i] = nd;
    if (i != 0) { /* cannot happen: n_nodes counts the list */
        wg_free(v);
        return -1;
    }
    *out = v;
    return n;
}

const char *wg_node_kind(const wg_node *n)
{
    /* the name the op was called by ("matmul_nt", "flatten", a custom op's
     * own name), which is finer than the descriptor's */
    return n->out->op ? n->out->op : n->op->name;
}

int64_t wg_node_macs(const wg_node *n)
{
    const char *op = n->op->name;
    const wg_tensor *y = n->out;
    if (strcmp(op, "conv2d") == 0 && n->n_in >= 2 && n->in[1]->shape.ndim == 4) {
        const wg_shape *w = &n->in[1]->shape; /* [O x C x KH x KW] */
        return y->numel * w->dim[1] * w->dim[2] * w->dim[3];
    }
    if (strcmp(op, "matmul") == 0 && n->n_in >= 2 && n->in[0]->shape.ndim == 2) {
        bool ta = n->out->op && strcmp(n->out->op, "matmul_tn") == 0;
        return y->numel * n->in[0]->shape.dim[ta ? 0 : 1];
    }
    return 0;
}

/* --- named activations ------------------------------------------------------- */

wg_tensor *wg_tape_find(const wg_tape *t, const char *name)
{
    if (!t || !name)
        return NULL;
    for (wg_node *n = t->last; n; n = n->prev)
        if (n->out->name && strcmp(n->out->name, name) == 0)
            return n->out;
    /* leaves: named inputs, parameters, outputs of unrecorded ops */
    for (wg_node *n = t->last; n; n = n->prev)
        for (int i = 0; i < n->n_in; i++) {
            wg_tensor *x = n->in[i];
            if (x && !x->node && x->name && strcmp(x->name, name) == 0)
                return x;
        }
    return NULL;
}

/* --- the layer table ------------------------------------------------------- */

/* Ops that make a row even when their output has no name. */
static bool own_row(const wg_node *n)
{
    static const char *const kinds[] = { "conv2d", "maxpool2d", "sigmoid", "tanh", "relu",
                                         "leaky_relu", "dropout", "custom" };
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
        if (strcmp(n->op->name, kinds[i]) == 0)
            return true;
    return false;
}

typedef struct {
    wg_layer_info *rows;
    int n, cap;
} row_list;

static wg_layer_info *add_row(row_list *r)
{
    if (r->n == r->cap) {
        int cap = r->cap ? 2 * r->cap : 32;
        wg_layer_info *v = wg_realloc(r->rows, (size_t)cap * sizeof *v);
        if (!v)
            return NULL;
        r->rows = v;
        r->cap = cap;
    }
    wg_layer_info *row = &r->rows[r->n++];
    memset(row, 0, sizeof *row);
    return row;
}

static void set_str(char *dst, size_t cap, const char *s)
{
    snprintf(dst, cap, "%s", s ? s : "");
}

/* The row a parameter belongs to by name: the longest row name L with
 * name = L "." rest; the first row of that name. -1 if none. */
static int row_by_prefix(const row_list *r, const char *name)
{
    int best = -1;
    size_t best_len = 0;
    for (int i = 1; i < r->n; i++) { /* row 0 is the input */
        const char *l = r->rows[i].name;
        size_t n = strlen(l);
        if (n == 0 || n <= best_len || strncmp(name, l, n) != 0 || name[n] != '.')
            continue;
        best = i;
        best_len = n;
    }
    if (best >= 0) /* the first row with that name */
        for (int i = 1; i < best; i++)
            if (strcmp(r->rows[i].name, r->rows[best].name) == 0)
                return i;
    return best;
}

/* Builds the rows from a recorded tape. `first_use` gets, per parameter of
 * `p`, the row whose ops first use it (-1: unused). */
static wg_status tape_rows(const wg_tape *t, const wg_tensor *input, const wg_params *p,
                           row_list *r, int *first_use)
{
    wg_node **nodes;
    int n = wg_tape_nodes(t, &nodes);
    if (n < 0)
        return wg_set_last_error(WG_ENOMEM, "model_layers: out of memory");
    wg_layer_info *row = add_row(r);
    if (!row) {
        wg_free(nodes);
        return wg_set_last_error(WG_ENOMEM, "model_layers: out of memory");
    }
    set_str(row->name, sizeof row->name, "input");
    set_str(row->kind, sizeof row->kind, "input");
    row->shape = input->shape;

    int np = wg_params_count(p);
    for (int k = 0; k < np; k++)
        first_use[k] = -1;
    int64_t pending_macs = 0;
    int start = 0; /* first node of the current segment */
    for (int i = 0; i < n; i++) {
        const wg_node *nd = nodes[i];
        pending_macs += wg_node_macs(nd);
        bool last = i == n - 1;
        if (!nd->out->name && !own_row(nd) && !last)
            continue;
        if (!(row = add_row(r))) {
            wg_free(nodes);
            return wg_set_last_error(WG_ENOMEM, "model_layers: out of memory");
        }
        int idx = r->n - 1;
        set_str(row->name, sizeof row->name, nd->out->name);
        row->shape = nd->out->shape;
        row->macs = pending_macs;
        pending_macs = 0;
        const char *kind = wg_node_kind(nd);
        for (int j = start; j <= i; j++) {
            const char *op = nodes[j]->op->name;
            if (strcmp(op, "conv2d") == 0) {
                kind = "conv2d";
                break;
            }
            if (strcmp(op, "matmul") == 0) {
                kind = "linear";
                break;
            }
        }
        set_str(row->kind, sizeof row->kind, kind);
        for (int j = start; j <= i; j++)
            for (int q = 0; q < nodes[j]->n_in; q++) {
                const wg_tensor *x = nodes[j]->in[q];
                if (!x || !(x->flags & WG_F_PARAM))
                    continue;
                for (int k = 0; k < np; k++)
                    if (wg_params_at(p, k) == x && first_use[k] < 0)
                        first_use[k] = idx;
            }
        start = i + 1;
    }
    wg_free(nodes);
    return WG_OK;
}

/* Runs the forward pass and builds the rows, parameters attributed. */
static wg_status model_rows(wg_model *m, wg_shape input, row_list *r)
{
    memset(r, 0, sizeof *r);
    if (!m)
        return wg_set_last_error(WG_EINVAL, "model_layers: NULL model");
    wg_params *p = wg_model_params(m);
    int np = wg_params_count(p);
    int *first_use = wg_malloc((size_t)(np + 1) * sizeof *first_use);
    wg_tape *t = wg_tape_new();
    /* a standalone input that needs a gradient: every op that depends on
     * it is recorded, whatever is frozen */
    wg_tensor *x = t ? wg_tensor_new(input, true) : NULL;
    if (!first_use || !t || !x) {
        wg_status s = !first_use || !t ? WG_ENOMEM : WG_EINVAL;
        char why[256];
        snprintf(why, sizeof why, "%s", x || !t ? "out of memory" : wg_last_error());
        wg_free(first_use);
        wg_tape_free(t);
        return wg_set_last_error(s, "model_layers: %s", why);
    }
    wg_set_name(x, "input");
    wg_rng saved = *wg_model_rng(m);
    wg_tensor *y = wg_model_forward(m, t, x);
    *wg_model_rng(m) = saved;
    wg_status s = wg_tape_status(t);
    if (s == WG_OK && (!y || wg_tape_size(t) == 0))
        s = WG_ESTATE;
    if (s != WG_OK) {
        wg_set_last_error(s, "model_layers: %s", wg_tape_status(t) != WG_OK ? wg_tape_error(t)
                          : "the forward pass recorded no op");
    } else {
        s = tape_rows(t, x, p, r, first_use);
    }
    if (s == WG_OK) {
        for (int k = 0; k < np; k++) {
            const wg_tensor *q = wg_params_at(p, k);
            int row = row_by_prefix(r, wg_name(q));
            if (row < 0)
                row = first_use[k];
            if (row >= 0)
                r->rows[row].params += wg_numel(q);
        }
    } else {
        wg_free(r->rows);
        memset(r, 0, sizeof *r);
    }
    wg_free(first_use);
    wg_tensor_free(x);
    wg_tape_free(t);
    return s;
}

wg_status wg_model_layers(wg_model *m, wg_shape input, wg_layer_info *layers, int cap,
                          int *count)
{
    if (count)
        *count = 0;
    if (cap < 0 || (cap > 0 && !layers))
        return wg_set_last_error(WG_EINVAL, "model_layers: NULL or negative row buffer");
    row_list r;
    wg_status s = model_rows(m, input, &r);
    if (s != WG_OK)
        return s;
    for (int i = 0; i < r.n && i < cap; i++)
        layers[i] = r.rows[i];
    if (count)
        *count = r.n;
    if (r.n > cap)
        s = wg_set_last_error(WG_ERANGE, "model_layers: %d rows for room for %d", r.n, cap);
    wg_free(r.rows);
    return s;
}

/* --- the table as text --------------------------------------------------------- */

typedef struct {
    char *s;
    size_t len, cap;
    bool oom;
} text;

static void put(text *b, const char *fmt, ...) WG_PRINTF(2, 3);
static void put(text *b, const char *fmt, ...)
{
    if (b->oom)
        return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(b->s ? b->s + b->len : NULL, b->s ? b->cap - b->len : 0, fmt, ap);
        va_end(ap);
        if (n < 0) {
            b->oom = true;
            return;
        }
        if (b->s && b->len + (size_t)n < b->cap) {
            b->len += (size_t)n;
            return;
        }
        size_t cap = b->cap ? b->cap : 1024;
        while (cap <= b->len + (size_t)n)
            cap *= 2;
        char *s = wg_realloc(b->s, cap);
        if (!s) {
            b->oom = true;
            return;
        }
        b->s = s;
        b->cap = cap;
    }
}

/* 61706 -> "61,706" */
static const char *group(int64_t v, char *buf, size_t cap)
{
    char digits[32];
    snprintf(digits, sizeof digits, "%lld", (long long)(v < 0 ? -v : v));
    size_t n = strlen(digits), o = 0;
    if (v < 0 && o + 1 < cap)
        buf[o++] = '-';
    for (size_t i = 0; i < n && o + 1 < cap; i++) {
        if (i > 0 && (n - i) % 3 == 0 && o + 1 < cap)
            buf[o++] = ',';
        if (o + 1 < cap)
            buf[o++] = digits[i];
    }
    buf[o] = 0;
    return buf;
}

static int max_int(int a, int b) { return a > b ? a : b; }

wg_status wg_model_summary(wg_model *m, wg_shape input, char *buf, size_t cap, size_t *len)
{
    if (len)
        *len = 0;
    if (cap > 0 && !buf)
        return wg_set_last_error(WG_EINVAL, "model_summary: NULL buffer");
    if (buf && cap > 0)
        buf[0] = 0;
    row_list r;
    wg_status s = model_rows(m, input, &r);
    if (s != WG_OK)
        return s;

    /* column widths */
    char shp[96], a[32], b[32];
    int wn = 5, wk = 4, ws = 12, wp = 6, wm = 4; /* "layer" "kind" "output shape" ... */
    int64_t total_macs = 0, used = 0;
    for (int i = 0; i < r.n; i++) {
        const wg_layer_info *l = &r.rows[i];
        wn = max_int(wn, (int)strlen(l->name[0] ? l->name : "-"));
        wk = max_int(wk, (int)strlen(l->kind));
        ws = max_int(ws, (int)strlen(wg_shape_str(l->shape, shp, sizeof shp)));
        wp = max_int(wp, (int)strlen(group(l->params, a, sizeof a)));
        wm = max_int(wm, (int)strlen(group(l->macs, b, sizeof b)));
        total_macs += l->macs;
        used += l->params;
    }
    const wg_params *p = wg_model_params(m);
    int64_t total = wg_params_numel(p), frozen = 0;
    for (int k = 0; k < wg_params_count(p); k++)
        if (!wg_requires_grad(wg_params_at(p, k)))
            frozen += wg_numel(wg_params_at(p, k));
    wp = max_int(wp, (int)strlen(group(total, a, sizeof a)));
    wm = max_int(wm, (int)strlen(group(total_macs, b, sizeof b)));

    text t = { 0 };
    const char *kind = wg_model_kind(m);
    put(&t, "%s, input %s\n", kind ? kind : "model", wg_shape_str(input, shp, sizeof shp));
    put(&t, "%-*s  %-*s  %-*s  %*s  %*s\n", wn, "layer", wk, "kind", ws, "output shape", wp,
        "params", wm, "MACs");
    int rule = wn + wk + ws + wp + wm + 8;
    char line[512];
    memset(line, '-', sizeof line - 1);
    line[rule < (int)sizeof line ? rule : (int)sizeof line - 1] = 0;
    put(&t, "%s\n", line);
    for (int i = 0; i < r.n; i++) {
        const wg_layer_info *l = &r.rows[i];
        put(&t, "%-*s  %-*s  %-*s  %*s  %*s\n", wn, l->name[0] ? l->name : "-", wk, l->kind, ws,
            wg_shape_str(l->shape, shp, sizeof shp), wp, group(l->params, a, sizeof a), wm,
            group(l->macs, b, sizeof b));
    }
    put(&t, "%s\n", line);
    put(&t, "%-*s  %-*s  %-*s  %*s  %*s\n", wn, "total", wk, "", ws, "",
        wp, group(used, a, sizeof a), wm, group(total_macs, b, sizeof b));
    put(&t, "parameters: %s", group(total, a, sizeof a));
    put(&t, " (%s trainable, %s frozen), %s bytes of %s", group(total - frozen, a, sizeof a),
        group(frozen, b, sizeof b), group(total * (int64_t)sizeof(wg_real), shp, sizeof shp),
        sizeof(wg_real) == sizeof(float) ? "float" : "double");
    if (used != total)
        put(&t, "; %s not used by the forward pass", group(total - used, a, sizeof a));
    put(&t, "\nmultiply-accumulates per forward pass: %s\n", group(total_macs, a, sizeof a));
    wg_free(r.rows);
    if (t.oom) {
        wg_free(t.s);
        return wg_set_last_error(WG_ENOMEM, "model_summary: out of memory");
    }
    if (len)
        *len = t.len;
    if (buf && cap > 0) {
        size_t n = t.len < cap - 1 ? t.len : cap - 1;
        memcpy(buf, t.s, n);
        buf[n] = 0;
    }
    s = t.len < cap ? WG_OK
                    : wg_set_last_error(WG_ERANGE, "model_summary: %zu bytes do not fit in %zu",
                                        t.len + 1, cap);
    wg_free(t.s);
    return s;
}

/* --- memory -------------------------------------------------------------------- */

size_t wg_optim_memory(const wg_optim *o)
{
    if (!o)
        return 0;
    size_t n = (size_t)(o->numel ? o->numel : 1);
    size_t count = (size_t)wg_params_count(o->params) + 1;
    size_t bytes = sizeof *o + count * (sizeof *o->has_state + sizeof *o->param_steps);
    if (o->state1)
        bytes += n * sizeof(wg_real);
    if (o->state2)
        bytes += n * sizeof(wg_real);
    return bytes;
}

wg_memory_info wg_memory_usage(const wg_params *p, const wg_optim *o, const wg_tape *t)
{
    wg_memory_info m = { 0 };
    m.params = m.grads = (size_t)wg_params_numel(p) * sizeof(wg_real);
    m.optim = wg_optim_memory(o);
    if (t)
        wg_tape_memory(t, &m.tape_held, &m.tape_peak);
    return m;
}
