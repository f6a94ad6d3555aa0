/* Softmax over each row fused with the cross-entropy against integer
 * labels, averaged over the batch. Fused because the pair's gradient is
 * simply (p - onehot) / N, and because subtracting each row's maximum
 * before exponentiating keeps it finite for any finite logits. */
#include "ops.h"

#include <math.h>
#include <string.h>

#ifdef WG_DOUBLE
#define LOG log
#else
#define LOG logf
#endif

typedef struct {
    int32_t *labels;
} sce_saved;

static wg_status sce_backward(wg_tape *t, wg_node *n)
{
    wg_real *gx = wg_in_grad(t, n, 0);
    if (!gx)
        return t->status;
    const sce_saved *s = n->saved;
    const wg_tensor *p = n->out->aux;
    const int64_t rows = p->shape.dim[0], cols = p->shape.dim[1];
    const wg_real g = n->out->grad[0] / (wg_real)rows;
#pragma omp parallel for num_threads(wg_threads_for(rows * cols)) schedule(static)
    for (int64_t i = 0; i < rows; i++) {
        const wg_real *pi = p->data + i * cols;
        wg_real *gi = gx + i * cols;
        for (int64_t c = 0; c < cols; c++)
            gi[c] += g * pi[c];
        gi[s->labels[i]] -= g;
    }
    return WG_OK;
}

const wg_op_desc wg_op_softmax_cross_entropy = { "softmax_cross_entropy", 1, sce_backward };

wg_tensor *wg_softmax_cross_entropy(wg_tape *t, wg_tensor *x, const int32_t *labels)
{
    static const char *op = "softmax_cross_entropy";
    if (!wg_op_begin(t, op, &x, 1))
        return wg_poison(t);
    wg_shape_buf a;
    if (x->shape.ndim != 2 || x->shape.dim[0] < 1 || x->shape.dim[1] < 1)
        return wg_fail(t, WG_ESHAPE, op, "logits %s: expected [N x C] with N, C >= 1",
                       wg_shp(x, &a));
    if (!labels)
        return wg_fail(t, WG_EINVAL, op, "labels are NULL");
    const int64_t rows = x->shape.dim[0], cols = x->shape.dim[1];
    for (int64_t i = 0; i < rows; i++)
        if (labels[i] < 0 || labels[i] >= cols)
            return wg_fail(t, WG_ERANGE, op, "label %d at row %lld is out of range [0, %lld)",
                           (int)labels[i], (long long)i, (long long)cols);
    wg_tensor *y = wg_op_output(t, op, WG_SCALAR);
    wg_tensor *p = y ? wg_op_output(t, op, x->shape) : NULL;
    double *row_loss = p ? wg_tape_alloc(t, op, (size_t)rows * sizeof(double)) : NULL;
    if (!row_loss)
        return wg_poison(t);
    y->aux = p;
#pragma omp parallel for num_threads(wg_threads_for(rows * cols * 8)) schedule(static)
    for (int64_t i = 0; i < rows; i++) {
        const wg_real *xi = x->data + i * cols;
        wg_real *pi = p->data + i * cols;
        wg_real mx = xi[0];
        for (int64_t c = 1; c < cols; c++)
            if (xi[c] > mx || xi[c] != xi[c])
                mx = xi[c];
        wg_real z = 0;
        for (int64_t c = 0; c < cols; c++) {
            pi[c] = xi[c] - mx;
            z += pi[c] = (wg_real)exp((double)pi[c]);
        }
        for (int64_t c = 0; c < cols; c++)
            pi[c] /= z;
        /* -log p[label] = log z - (x[label] - max), without log(0) */
        row_loss[i] = (double)LOG(z) - (double)(xi[labels[i]] - mx);
    }
    double total = 0;
    for (int64_t i = 0; i < rows; i++)
        total += row_loss[i];
    y->data[0] = (wg_real)(total / (double)rows);
    if (wg_op_recording(t, &x, 1)) {
        sce_saved *s = wg_tape_alloc(t, op, sizeof *s);
        int32_t *lab = s ? wg_tape_alloc(t, op, (size_t)rows * sizeof *lab) : NULL;
        if (!lab)
            return wg_poison(t);
        memcpy(lab, labels, (size_t)rows * sizeof *lab);
        s->labels = lab;
        wg_node *n = wg_op_record(t, &wg_op_softmax_cross_entropy, y, &x, 1);
        if (!n)
            return wg_poison(t);
        n->saved = s;
    }
    return y;
}

wg_tensor *wg_softmax_cross_entropy_probs(const wg_tensor *loss)
{
    return loss ? loss->aux : NULL;
}
