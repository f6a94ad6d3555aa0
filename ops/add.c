/* a + b with broadcasting; the shared machinery is in broadcast.c. */
#include "ops.h"

static wg_status add_backward(wg_tape *t, wg_node *n)
{
    return wg_binary_backward(t, n, WG_BIN_ADD);
}

const wg_op_desc wg_op_add = { "add", 2, add_backward };

wg_tensor *wg_add(wg_tape *t, wg_tensor *a, wg_tensor *b)
{
    return wg_binary_op(t, &wg_op_add, "+", WG_BIN_ADD, a, b);
}
