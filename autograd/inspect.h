/* Internal: reading a tape's record, shared by inspect.c and dot.c. */
#ifndef WG_INSPECT_H
#define WG_INSPECT_H

#include "internal.h"

/* The recorded nodes, oldest first, in a wg_malloc'd array (*out, NULL
 * for none); returns their number, or -1 without memory. */
WG_INTERNAL int wg_tape_nodes(const wg_tape *t, wg_node ***out);
/* The name the op was called by: "matmul_nt", "flatten", a custom op's. */
WG_INTERNAL const char *wg_node_kind(const wg_node *n);
/* Multiply-accumulates of the node's forward (conv2d and matmul; else 0). */
WG_INTERNAL int64_t wg_node_macs(const wg_node *n);

#endif
