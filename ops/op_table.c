/* The list of every op. Adding an op adds its descriptor here. */
#include "ops.h"

#include <string.h>

static const wg_op_desc *const table[] = {
    &wg_op_matmul,  &wg_op_add,     &wg_op_sub,     &wg_op_mul,
    &wg_op_sum,     &wg_op_mean,    &wg_op_sigmoid, &wg_op_tanh,
    &wg_op_relu,    &wg_op_conv2d,  &wg_op_maxpool2d, &wg_op_softmax_cross_entropy,
    &wg_op_mse,     &wg_op_reshape, &wg_op_custom,  &wg_op_leaky_relu,
    &wg_op_dropout,
};

/* keep the count honest: a new descriptor must be listed above */
_Static_assert(sizeof table / sizeof table[0] == 17, "op_table: update the op count");

int wg_op_count(void)
{
    return (int)(sizeof table / sizeof table[0]);
}

const char *wg_op_name(int i)
{
    return i >= 0 && i < wg_op_count() ? table[i]->name : NULL;
}
