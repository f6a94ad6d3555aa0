/* a * b (element-wise) with broadcasting; the shared machinery is in broadcast.c. */
#include "ops.h"

static wg_status mul_backward(wg_tape *t, wg_node *n)
{
    return wg_binary_backward(t, n, WG_BIN_MUL);
}

const wg_op_desc wg_op_mul = { "mul", 2, mul_backward };

wg_tensor *wg_mul(wg_tape *t, wg_tensor *a, wg_tensor *b)
{
    return wg_binary_op(t, &wg_op_mul, "*", WG_BIN_MUL, a, b);
}
