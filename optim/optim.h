/* Internal: the optimizer object shared by SGD and Adam. */
#ifndef WG_OPTIM_H
#define WG_OPTIM_H

#include "internal.h"

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
/* The update of one parameter: values, gradients and state at `off`. */
WG_INTERNAL void wg_sgd_update(wg_optim *o, int index, int64_t off, int64_t n);
WG_INTERNAL void wg_adam_update(wg_optim *o, int index, int64_t off, int64_t n);

#endif
