/* a - b with broadcasting; the shared machinery is in broadcast.c. */
#include "ops.h"

static wg_status sub_backward(wg_tape *t, wg_node *n)
{
    return wg_binary_backward(t, n, WG_BIN_SUB);
}

const wg_op_desc wg_op_sub = { "sub", 2, sub_backward };

wg_tensor *wg_sub(wg_tape *t, wg_tensor *a, wg_tensor *b)
{
    return wg_binary_op(t, &wg_op_sub, "-", WG_BIN_SUB, a, b);
}
