/* Batches over a data set in a fresh order each epoch. Epoch e's order is
 * a function of (seed, e) alone, never of the batcher's history, so a run
 * restarted from a checkpoint's (epoch, position) sees exactly the
 * batches the uninterrupted run would have seen. */
#include "internal.h"

struct wg_batcher {
    const wg_dataset *d;
    int64_t count;      /* d->count at creation: the order's length */
    int batch;
    bool shuffle;
    uint64_t seed;
    int64_t epoch, served;
    int64_t *order;     /* allocated once; rewritten in place per epoch */
};

/* The order of epoch b->epoch. Starting from the identity each time is
 * what makes it independent of earlier epochs. */
static void make_order(wg_batcher *b)
{
    for (int64_t i = 0; i < b->count; i++)
        b->order[i] = i;
    if (!b->shuffle)
        return;
    /* the golden-ratio multiple spreads consecutive epochs far apart in
     * seed space; + 1 keeps epoch 0 from reusing the bare seed */
    wg_rng rng = wg_rng_seed(b->seed ^ (0x9e3779b97f4a7c15ull * ((uint64_t)b->epoch + 1)));
    for (int64_t i = b->count - 1; i > 0; i--) {
        int64_t j = (int64_t)wg_rng_below(&rng, (uint64_t)i + 1);
        int64_t t = b->order[i];
        b->order[i] = b->order[j];
        b->order[j] = t;
    }
}

wg_batcher *wg_batcher_new(const wg_dataset *d, int batch, bool shuffle, uint64_t seed)
{
    if (!d || !d->images || d->count < 1) {
        wg_set_last_error(WG_EINVAL, "batcher_new: %s", !d ? "NULL data set"
                                                           : "the data set is empty");
        return NULL;
    }
    if (batch < 1) {
        wg_set_last_error(WG_EINVAL, "batcher_new: batch size %d; it must be at least 1",
                          batch);
        return NULL;
    }
    wg_batcher *b = wg_calloc(1, sizeof *b);
    int64_t *order = (uint64_t)d->count <= SIZE_MAX / sizeof *order
                         ? wg_malloc((size_t)d->count * sizeof *order)
                         : NULL;
    if (!b || !order) {
        wg_free(b);
        wg_free(order);
        wg_set_last_error(WG_ENOMEM, "batcher_new: out of memory for %lld images",
                          (long long)d->count);
        return NULL;
    }
    *b = (wg_batcher){ .d = d, .count = d->count, .batch = batch, .shuffle = shuffle,
                       .seed = seed, .order = order };
    make_order(b);
    return b;
}

void wg_batcher_free(wg_batcher *b)
{
    if (!b)
        return;
    wg_free(b->order);
    wg_free(b);
}

int wg_batcher_next(wg_batcher *b, wg_real *x, int32_t *y)
{
    /* 0 is the only answer the signature allows; the message says why */
    if (!b || !x) {
        wg_set_last_error(WG_EINVAL, "batcher_next: NULL %s", !b ? "batcher" : "x");
        return 0;
    }
    if (b->served >= b->count) {
        b->epoch++;
        b->served = 0;
        make_order(b);
        return 0;
    }
    int64_t left = b->count - b->served;
    int n = left < b->batch ? (int)left : b->batch;
    wg_dataset_batch(b->d, b->order + b->served, n, x, y);
    b->served += n;
    return n;
}

void wg_batcher_position(const wg_batcher *b, int64_t *epoch, int64_t *served)
{
    if (epoch)
        *epoch = b ? b->epoch : 0;
    if (served)
        *served = b ? b->served : 0;
}

wg_status wg_batcher_seek(wg_batcher *b, int64_t epoch, int64_t served)
{
    if (!b)
        return wg_set_last_error(WG_EINVAL, "batcher_seek: NULL batcher");
    if (epoch < 0 || served < 0 || served > b->count)
        return wg_set_last_error(WG_EINVAL, "batcher_seek: position (epoch %lld, %lld served) "
                                 "outside epochs >= 0 of %lld images", (long long)epoch,
                                 (long long)served, (long long)b->count);
    bool same = epoch == b->epoch;
    b->epoch = epoch;
    b->served = served;
    if (!same)
        make_order(b);
    return WG_OK;
}

int64_t wg_batcher_batches(const wg_batcher *b)
{
    return b ? (b->count + b->batch - 1) / b->batch : 0;
}
