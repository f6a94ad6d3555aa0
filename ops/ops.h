/* Internal declarations shared by the ops: their descriptors, the table,
 * and the helpers several ops use. */
#ifndef WG_OPS_H
#define WG_OPS_H

#include "internal.h"

/* Every op's descriptor; op_table.c lists them all. */
extern const wg_op_desc wg_op_matmul, wg_op_add, wg_op_sub, wg_op_mul, wg_op_sum, wg_op_mean,
    wg_op_sigmoid, wg_op_tanh, wg_op_relu, wg_op_conv2d, wg_op_maxpool2d,
    wg_op_softmax_cross_entropy, wg_op_mse, wg_op_reshape, wg_op_custom, wg_op_leaky_relu,
    wg_op_dropout;

/* --- broadcasting (broadcast.c), shared by add, sub and mul ---------------- */
/* The output shape with the strides of a and b over it (0 where an operand
 * is broadcast), adjacent dimensions merged where both are contiguous. */
typedef struct wg_bcast {
    int nd;
    int64_t dim[WG_MAX_DIMS];
    int64_t sa[WG_MAX_DIMS], sb[WG_MAX_DIMS];
    int64_t numel;
    bool a_full, b_full; /* the operand has the output's shape */
} wg_bcast;

/* Plans a op b; fails the tape with "op: [..] sym [..]: ..." on a mismatch. */
WG_INTERNAL bool wg_bcast_plan(wg_tape *t, const char *op, const char *sym, const wg_tensor *a,
                               const wg_tensor *b, wg_shape *out, wg_bcast *p);
typedef enum { WG_BIN_ADD, WG_BIN_SUB, WG_BIN_MUL } wg_bin_kind;
/* y = a (kind) b over the plan. */
WG_INTERNAL void wg_bcast_forward(const wg_bcast *p, wg_bin_kind kind, const wg_real *a,
                                  const wg_real *b, wg_real *y);
/* g_x += coef * dy * other, x being operand `which` (0: a, 1: b), other the
 * other operand's values or NULL for 1; sums over x's broadcast dimensions
 * in a fixed order. With `acc` false (only for an operand of the output's
 * shape), g_x is uninitialised and is set instead (wg_in_grad_dst). */
WG_INTERNAL void wg_bcast_accum(const wg_bcast *p, int which, const wg_real *dy,
                                const wg_real *other, wg_real coef, wg_real *g, bool acc);
/* The binary op shared by add, sub and mul. */
WG_INTERNAL wg_tensor *wg_binary_op(wg_tape *t, const wg_op_desc *d, const char *sym,
                                    wg_bin_kind kind, wg_tensor *a, wg_tensor *b);
WG_INTERNAL wg_status wg_binary_backward(wg_tape *t, wg_node *n, wg_bin_kind kind);

/* --- element-wise unary ops (unary.c) -------------------------------------- */
WG_INTERNAL wg_tensor *wg_unary_op(wg_tape *t, const wg_op_desc *d, wg_tensor *x,
                                   void (*f)(int64_t n, const wg_real *x, wg_real *y));
/* The backward of an element-wise op: g[i] = expr over [0, len), or
 * g[i] += expr when `acc` (see wg_in_grad_dst). The body is written once;
 * each form is its own loop so both vectorise, split over threads by
 * element (the same bits at any thread count). */
#define WG_GRAD_LOOP(acc, len, g, i, expr)                                              \
    do {                                                                                \
        const int64_t len_ = (len);                                                     \
        const int th_ = wg_threads_for(len_);                                           \
        if (acc) {                                                                      \
            _Pragma("omp parallel for num_threads(th_) schedule(static) if (th_ > 1)") \
            for (int64_t i = 0; i < len_; i++)                                          \
                (g)[i] += (expr);                                                       \
        } else {                                                                        \
            _Pragma("omp parallel for num_threads(th_) schedule(static) if (th_ > 1)") \
            for (int64_t i = 0; i < len_; i++)                                          \
                (g)[i] = (expr);                                                        \
        }                                                                               \
    } while (0)

/* --- views (reshape.c) ------------------------------------------------------- */
/* A tensor on the tape sharing `data`, with its own gradient buffer. */
WG_INTERNAL wg_tensor *wg_op_view(wg_tape *t, const char *op, wg_shape shape, wg_real *data);

/* Whether a dimension fits the int BLAS and loops use. */
#define WG_FITS_INT(x) ((x) >= 0 && (x) <= 0x7fffffff)

#endif
