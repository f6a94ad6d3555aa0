/* The gradient-check cases of every op: shapes, hyperparameters and how to
 * draw inputs away from kinks. Shared by the double-precision check (tight
 * bounds) and the single-precision one (loose bounds). */
#ifndef WG_OP_CASES_H
#define WG_OP_CASES_H

#include <wengert.h>

enum init_kind {
    INIT_UNIFORM,  /* uniform in [-1, 1] */
    INIT_AWAY0,    /* |x| in [0.1, 1], random sign: away from relu's kink */
    INIT_DISTINCT, /* a shuffled grid 0.1 apart: no ties for max pooling */
};

typedef struct op_case {
    const char *name;    /* what the case covers, printed on failure */
    const char *op;      /* the op-table name it exercises */
    int n_in;
    wg_shape shape[4];
    enum init_kind init;
    wg_check_fn fn;
    int hp[8];           /* hyperparameters the fn reads */
    int max_checks;      /* elements checked per input (0: all) */
    double eps;          /* step override (0: the run's); large sums need larger steps */
} op_case;

extern const op_case op_cases[];
extern const int n_op_cases;

/* Runs every case through wg_gradcheck; prints each failure with the op,
 * the input, the element, both values and the seed. Also checks that
 * every op of the op table has a case. Returns the number of failures. */
int run_op_cases(const wg_gradcheck_opts *opts, uint64_t seed);

#endif
