/* Internal: the optimizer object shared by SGD and Adam. */
#ifndef WG_OPTIM_H
#define WG_OPTIM_H

#include "internal.h"

#include <float.h>

typedef enum { WG_OPT_SGD, WG_OPT_ADAM, WG_OPT_ADAMW } wg_optim_kind_t;

struct wg_optim {
    wg_optim_kind_t kind;
    wg_params *params;
    int64_t numel;       /* of the store when created: it must not grow */
    double lr;
    wg_sgd_opts sgd;
    wg_adam_opts adam;
    wg_real *state1;     /* SGD: momentum_buffer; Adam: exp_avg */
    wg_real *state2;     /* Adam: exp_avg_sq */
    int64_t *param_steps; /* per parameter: its own step count, as torch's state['step'] */
    bool *has_state;     /* per parameter: SGD's buffer starts as the first gradient */
    int64_t steps;
};

/* A zeroed optimizer with `buffers` state blocks of the store's size. */
/* Checks one setting of optimizer `who`: finite, above lo (or at it when
 * lo_open is false) and, when hi is finite, below hi. On failure sets an
 * error naming the setting and its value ("sgd: momentum -1 must be >= 0"),
 * so the user learns which one is wrong, and returns false. */
WG_INTERNAL bool wg_optim_setting(const char *who, const char *what, double v, double lo,
                                  bool lo_open, double hi);
WG_INTERNAL wg_optim *wg_optim_alloc(wg_params *p, wg_optim_kind_t kind, int buffers);
/* A running average that decays towards zero (a momentum buffer whose
 * gradient stopped, Adam's moments of a dead unit) reaches the subnormal
 * range after a few hundred steps, and on x86 every arithmetic operation on
 * a subnormal takes a microcode assist of about a hundred cycles: measured,
 * the autoencoder's momentum update ran 10x slower once its dead units'
 * buffers had decayed, 18% of the whole step. The state is flushed to zero
 * below the smallest normal number instead; the parameters move by less
 * than a subnormal times the learning rate less, far below their own
 * resolution unless they are themselves near zero. A NaN is kept. The
 * select compiles to a compare and a mask, so the loops still vectorise. */
#ifdef WG_DOUBLE
#define WG_REAL_MIN DBL_MIN
#else
#define WG_REAL_MIN FLT_MIN
#endif
static inline wg_real wg_flush_tiny(wg_real x)
{
    return x < WG_REAL_MIN && x > -WG_REAL_MIN ? 0 : x;
}

/* Runs block(args, lo, hi) over [0, n) in blocks of WG_OPTIM_BLOCK
 * elements, in parallel for a large parameter: a multiple of every vector
 * width, and small enough that two threads share a 100k-element
 * parameter. For element-wise updates, whose bits no split changes. */
#define WG_OPTIM_BLOCK 16384
WG_INTERNAL void wg_optim_blocks(int64_t n, void (*block)(const void *, int64_t, int64_t),
                                 const void *args);

/* The update of one parameter: values, gradients and state at `off`. */
WG_INTERNAL void wg_sgd_update(wg_optim *o, int index, int64_t off, int64_t n);
WG_INTERNAL void wg_adam_update(wg_optim *o, int index, int64_t off, int64_t n);

#endif
