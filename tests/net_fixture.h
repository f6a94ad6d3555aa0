/* A small LeNet-like network built from the public API, shared by the
 * tests that need a realistic training step (allocations, threads). */
#ifndef WG_NET_FIXTURE_H
#define WG_NET_FIXTURE_H

#include <wengert.h>

typedef struct net_fixture {
    wg_params *params;
    int batch;
    wg_real *images;   /* batch x 1 x 28 x 28 */
    int32_t *labels;   /* batch */
} net_fixture;

/* Parameters drawn from `seed`, a batch of random images and labels. */
int net_fixture_init(net_fixture *f, int batch, uint64_t seed);
void net_fixture_free(net_fixture *f);
/* conv(5x5, pad 2) tanh pool conv tanh pool flatten linear relu linear
 * softmax-cross-entropy; returns the loss tensor. */
wg_tensor *net_fixture_forward(net_fixture *f, wg_tape *t);

#endif
