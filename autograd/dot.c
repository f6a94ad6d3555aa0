/* The tape as a picture: a Graphviz DOT graph of the recorded ops, with
 * the parameters and inputs they read, the layers as boxes and, after a
 * backward pass, the gradient norms. */
#include "internal.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "inspect.h"

/* Fill colours by op. */
static const char *op_colour(const char *op)
{
    static const struct { const char *op, *colour; } table[] = {
        { "conv2d", "#9ecae1" },     { "matmul", "#c6b8e0" },
        { "add", "#e5dff2" },        { "sub", "#e5dff2" },
        { "mul", "#e5dff2" },        { "sigmoid", "#b7e1a1" },
        { "tanh", "#b7e1a1" },       { "relu", "#b7e1a1" },
        { "leaky_relu", "#b7e1a1" }, { "maxpool2d", "#fdc58f" },
        { "reshape", "#e0e0e0" },    { "softmax_cross_entropy", "#f4a3a3" },
        { "mse", "#f4a3a3" },        { "dropout", "#fff3b0" },
        { "sum", "#f0f0f0" },        { "mean", "#f0f0f0" },
    };
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
        if (strcmp(op, table[i].op) == 0)
            return table[i].colour;
    return "#ffffff";
}

/* Text for an HTML-like label, at most n bytes: &, <, > and " escaped. */
static void put_escaped_n(FILE *f, const char *s, size_t n)
{
    for (; s && *s && n > 0; s++, n--) {
        switch (*s) {
        case '&': fputs("&amp;", f); break;
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '"': fputs("&quot;", f); break;
        default: fputc(*s, f);
        }
    }
}

static void put_escaped(FILE *f, const char *s)
{
    put_escaped_n(f, s, (size_t)-1);
}

static double l2(const wg_real *g, int64_t n)
{
    double s = 0;
    for (int64_t i = 0; i < n; i++)
        s += (double)g[i] * (double)g[i];
    return sqrt(s);
}

static void put_grad(FILE *f, const wg_tensor *x, bool grad_norms)
{
    if (!grad_norms || !x->grad || !(x->flags & WG_F_REQ_GRAD))
        return;
    fprintf(f, "<br/><font point-size=\"9\" color=\"#b2182b\">grad norm %.3g</font>",
            l2(x->grad, x->numel));
}

static void put_shape(FILE *f, const wg_tensor *x)
{
    char b[96];
    fprintf(f, "<br/><font point-size=\"9\" color=\"#444444\">%s</font>",
            x->shape.ndim == 0 ? "scalar" : wg_shape_str(x->shape, b, sizeof b));
}

/* The layer of a parameter: its name up to the last '.', or NULL. */
static size_t layer_len(const wg_tensor *x)
{
    if (!(x->flags & WG_F_PARAM) || !x->name)
        return 0;
    const char *dot = strrchr(x->name, '.');
    return dot ? (size_t)(dot - x->name) : 0;
}

typedef struct {
    const wg_tensor **leaves;
    int n_leaves;
    const char **clusters; /* a parameter whose name gives the cluster's */
    size_t *cluster_len;
    int n_clusters;
} graph;

static int leaf_id(graph *g, const wg_tensor *x)
{
    for (int i = 0; i < g->n_leaves; i++)
        if (g->leaves[i] == x)
            return i;
    g->leaves[g->n_leaves] = x;
    return g->n_leaves++;
}

/* The cluster of a parameter (added if new), or -1. */
static int cluster_of(graph *g, const wg_tensor *x)
{
    size_t n = layer_len(x);
    if (!n)
        return -1;
    for (int i = 0; i < g->n_clusters; i++)
        if (g->cluster_len[i] == n && strncmp(g->clusters[i], x->name, n) == 0)
            return i;
    g->clusters[g->n_clusters] = x->name;
    g->cluster_len[g->n_clusters] = n;
    return g->n_clusters++;
}

static int node_cluster(graph *g, const wg_node *nd)
{
    for (int i = 0; i < nd->n_in; i++)
        if (nd->in[i] && (nd->in[i]->flags & WG_F_PARAM)) {
            int c = cluster_of(g, nd->in[i]);
            if (c >= 0)
                return c;
        }
    return -1;
}

static void put_node(FILE *f, const wg_node *nd, bool consumed, bool grad_norms)
{
    const wg_tensor *y = nd->out;
    /* one group: dot keeps the edges between ops straight, the data path a
     * vertical line with the parameters beside it */
    fprintf(f, "    n%d [shape=box, style=\"rounded,filled\", fillcolor=\"%s\", group=ops%s, "
            "label=<", nd->index, op_colour(nd->op->name), consumed ? "" : ", peripheries=2");
    if (y->name) {
        fputs("<b>", f);
        put_escaped(f, y->name);
        fputs("</b><br/>", f);
    }
    fprintf(f, "<font point-size=\"9\" color=\"#444444\">#%d</font> ", nd->index);
    put_escaped(f, wg_node_kind(nd));
    put_shape(f, y);
    put_grad(f, y, grad_norms);
    fputs(">];\n", f);
}

static void put_leaf(FILE *f, int id, const wg_tensor *x, bool grad_norms)
{
    if (x->flags & WG_F_PARAM) {
        bool frozen = x->flags & WG_F_FROZEN;
        fprintf(f, "    l%d [shape=ellipse, style=\"filled%s\", fillcolor=\"%s\", label=<", id,
                frozen ? ",dashed" : "", frozen ? "#dddddd" : "#fee391");
        put_escaped(f, x->name);
        if (frozen)
            fputs(" <i>(frozen)</i>", f);
    } else if (!x->op || strcmp(x->op, "input") == 0 || (x->flags & WG_F_OWNED)) {
        fprintf(f, "    l%d [shape=parallelogram, style=filled, fillcolor=\"#ccebc5\", label=<<b>",
                id);
        put_escaped(f, x->name ? x->name : "input");
        fputs("</b>", f);
    } else { /* the result of an op that was not recorded (no input needed a gradient) */
        fprintf(f, "    l%d [shape=box, style=\"rounded,dashed\", label=<", id);
        if (x->name) {
            fputs("<b>", f);
            put_escaped(f, x->name);
            fputs("</b><br/>", f);
        }
        put_escaped(f, x->op);
        fputs(" <i>(not recorded)</i>", f);
    }
    put_shape(f, x);
    put_grad(f, x, grad_norms);
    fputs(">];\n", f);
}

/* `ranked[leaf]`: the op a parameter is drawn beside (its first user), or -1. */
static void put_graph(FILE *f, graph *g, wg_node **nodes, int n, const bool *consumed,
                      const int *node_cl, const int *leaf_cl, int *ranked, const char *title,
                      bool grad_norms)
{
    for (int i = 0; i < g->n_leaves; i++)
        ranked[i] = -1;
    fputs("digraph wengert {\n", f);
    fputs("    graph [rankdir=TB, fontname=\"Helvetica\", nodesep=0.3, ranksep=0.35", f);
    if (title) {
        fputs(", labelloc=t, fontsize=18, label=<<b>", f);
        put_escaped(f, title);
        fputs("</b>>", f);
    }
    fputs("];\n", f);
    fputs("    node [fontname=\"Helvetica\", fontsize=11, margin=\"0.12,0.04\"];\n", f);
    fputs("    edge [color=\"#555555\", arrowsize=0.7];\n", f);
    for (int c = -1; c < g->n_clusters; c++) {
        if (c >= 0) {
            fprintf(f, "  subgraph cluster_%d {\n    style=\"rounded,dashed\"; color=\"#777777\"; "
                    "fontsize=13; label=<<b>", c);
            put_escaped_n(f, g->clusters[c], g->cluster_len[c]);
            fputs("</b>>;\n", f);
        }
        for (int i = 0; i < n; i++)
            if (node_cl[i] == c)
                put_node(f, nodes[i], consumed[i], grad_norms);
        for (int i = 0; i < g->n_leaves; i++)
            if (leaf_cl[i] == c)
                put_leaf(f, i, g->leaves[i], grad_norms);
        /* parameters level with the op that first reads them, to its right,
         * so the data path stays one vertical line */
        for (int i = 0; i < n; i++) {
            if (node_cl[i] != c)
                continue;
            bool open = false;
            for (int q = 0; q < nodes[i]->n_in; q++) {
                const wg_tensor *x = nodes[i]->in[q];
                if (!x || x->node || !(x->flags & WG_F_PARAM))
                    continue;
                int id = leaf_id(g, x);
                if (ranked[id] >= 0 || leaf_cl[id] != c)
                    continue;
                ranked[id] = i;
                if (!open)
                    fprintf(f, "    { rank=same; n%d;", nodes[i]->index);
                open = true;
                fprintf(f, " l%d;", id);
            }
            if (open)
                fputs(" }\n", f);
        }
        if (c >= 0)
            fputs("  }\n", f);
    }
    for (int i = 0; i < n; i++) {
        int beside = 0; /* the parameters level with this op: 1st right, 2nd left, ... */
        for (int q = 0; q < nodes[i]->n_in; q++) {
            const wg_tensor *x = nodes[i]->in[q];
            if (!x)
                continue;
            int id = x->node ? -1 : leaf_id(g, x);
            if (x->node)
                fprintf(f, "    n%d -> n%d [weight=4];\n", x->node->index, nodes[i]->index);
            else if (ranked[id] == i && beside++ % 2 == 0) /* laid out n l, drawn l -> n */
                fprintf(f, "    n%d -> l%d [dir=back];\n", nodes[i]->index, id);
            else
                fprintf(f, "    l%d -> n%d;\n", id, nodes[i]->index);
        }
    }
    fputs("}\n", f);
}

wg_status wg_tape_to_dot(const wg_tape *t, const char *path, const char *title, bool grad_norms)
{
    if (!t || !path)
        return wg_set_last_error(WG_EINVAL, "tape_to_dot: NULL %s", !t ? "tape" : "path");
    wg_node **nodes;
    int n = wg_tape_nodes(t, &nodes);
    if (n < 0)
        return wg_set_last_error(WG_ENOMEM, "tape_to_dot: out of memory");
    if (n == 0)
        return wg_set_last_error(WG_ESTATE, "tape_to_dot: no op is recorded on the tape "
                                 "(inference mode, or no input needs a gradient)");
    size_t slots = (size_t)n * WG_MAX_INPUTS + 1;
    graph g = { 0 };
    g.leaves = wg_malloc(slots * sizeof *g.leaves);
    g.clusters = wg_malloc(slots * sizeof *g.clusters);
    g.cluster_len = wg_malloc(slots * sizeof *g.cluster_len);
    bool *consumed = wg_calloc((size_t)n, sizeof *consumed);
    int *node_cl = wg_malloc((size_t)n * sizeof *node_cl);
    int *leaf_cl = wg_malloc(slots * sizeof *leaf_cl);
    int *ranked = wg_malloc(slots * sizeof *ranked);
    wg_status s = WG_OK;
    if (!g.leaves || !g.clusters || !g.cluster_len || !consumed || !node_cl || !leaf_cl || !ranked) {
        s = wg_set_last_error(WG_ENOMEM, "tape_to_dot: out of memory");
        goto done;
    }
    /* leaves and clusters in tape order, so the text is the same each time */
    for (int i = 0; i < n; i++) {
        const wg_node *nd = nodes[i];
        for (int q = 0; q < nd->n_in; q++) {
            const wg_tensor *x = nd->in[q];
            if (!x)
                continue;
            if (x->node) {
                consumed[x->node->index] = true;
                continue;
            }
            int id = leaf_id(&g, x);
            if (id == g.n_leaves - 1)
                leaf_cl[id] = cluster_of(&g, x);
        }
        node_cl[i] = node_cluster(&g, nd);
    }
    FILE *f = fopen(path, "w");
    if (!f) {
        s = wg_set_last_error(WG_EIO, "tape_to_dot: cannot write %s: %s", path, strerror(errno));
        goto done;
    }
    put_graph(f, &g, nodes, n, consumed, node_cl, leaf_cl, ranked, title, grad_norms);
    int bad = ferror(f);
    if (fclose(f) != 0 || bad)
        s = wg_set_last_error(WG_EIO, "tape_to_dot: cannot write %s: %s", path,
                              strerror(errno ? errno : EIO));
done:
    wg_free(nodes);
    wg_free(g.leaves);
    wg_free(g.clusters);
    wg_free(g.cluster_len);
    wg_free(consumed);
    wg_free(node_cl);
    wg_free(leaf_cl);
    wg_free(ranked);
    return s;
}
