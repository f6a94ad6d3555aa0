/* Data sets as bytes: freeing, views, a seeded split, and the conversion of
 * a batch to pixel / 255. Views share their parent's arrays, so splitting
 * a data set costs no copy. */
#include "internal.h"
#include "isa.h"

#include <string.h>

static size_t image_bytes(const wg_dataset *d)
{
    return (size_t)d->channels * (size_t)d->rows * (size_t)d->cols;
}

void wg_dataset_free(wg_dataset *d)
{
    if (!d)
        return;
    if (d->owned) {
        wg_free(d->images);
        wg_free(d->labels);
    }
    memset(d, 0, sizeof *d);
}

wg_status wg_dataset_view(const wg_dataset *d, int64_t start, int64_t count, wg_dataset *view)
{
    if (!d || !view)
        return wg_set_last_error(WG_EINVAL, "dataset_view: NULL data set or view");
    if (start < 0 || count < 0 || start > d->count || count > d->count - start)
        return wg_set_last_error(WG_EINVAL, "dataset_view: images [%lld, %lld + %lld) are "
                                 "not within the %lld of the data set", (long long)start,
                                 (long long)start, (long long)count, (long long)d->count);
    /* built aside first: view may be d itself */
    wg_dataset v = *d;
    v.count = count;
    v.images = d->images ? d->images + (size_t)start * image_bytes(d) : NULL;
    v.labels = d->labels ? d->labels + start : NULL;
    /* the parent's class count, so a part that lacks the top class still
     * feeds a classifier of the right width */
    v.owned = false;
    *view = v;
    return WG_OK;
}

/* Exchanges images i and j through a small buffer: images can be large and
 * the split should not allocate. */
static void swap_images(uint8_t *images, size_t bytes, int64_t i, int64_t j)
{
    uint8_t tmp[256];
    uint8_t *a = images + (size_t)i * bytes, *b = images + (size_t)j * bytes;
    for (size_t off = 0; off < bytes; off += sizeof tmp) {
        size_t n = bytes - off < sizeof tmp ? bytes - off : sizeof tmp;
        memcpy(tmp, a + off, n);
        memcpy(a + off, b + off, n);
        memcpy(b + off, tmp, n);
    }
}

/* Fisher-Yates over images and labels together, so pairs stay paired. */
static void shuffle(wg_dataset *d, uint64_t seed)
{
    wg_rng rng = wg_rng_seed(seed);
    size_t bytes = image_bytes(d);
    for (int64_t i = d->count - 1; i > 0; i--) {
        int64_t j = (int64_t)wg_rng_below(&rng, (uint64_t)i + 1);
        if (j == i)
            continue;
        swap_images(d->images, bytes, i, j);
        if (d->labels) {
            int32_t t = d->labels[i];
            d->labels[i] = d->labels[j];
            d->labels[j] = t;
        }
    }
}

wg_status wg_dataset_split(wg_dataset *d, int64_t n_val, uint64_t seed, wg_dataset *train,
                           wg_dataset *val)
{
    /* a view written over d would lose the only pointer to its arrays */
    if (!d || !train || !val || train == d || val == d || train == val)
        return wg_set_last_error(WG_EINVAL, "dataset_split: NULL or overlapping arguments");
    memset(train, 0, sizeof *train);
    memset(val, 0, sizeof *val);
    if (n_val < 0 || n_val > d->count)
        return wg_set_last_error(WG_EINVAL, "dataset_split: %lld validation images out of "
                                 "%lld", (long long)n_val, (long long)d->count);
    if (d->count > 0 && !d->images)
        return wg_set_last_error(WG_EINVAL, "dataset_split: the data set has no images");
    shuffle(d, seed);
    wg_dataset_view(d, 0, d->count - n_val, train);
    wg_dataset_view(d, d->count - n_val, n_val, val);
    return WG_OK;
}

/* Bytes to pixel / 255. In single precision the product with the double
 * reciprocal, rounded once to float, is the correctly rounded quotient for
 * every byte (v / 255 is never within 2^-32 relative of a float midpoint,
 * far above the product's 2^-53 error; checked for all 256 values by
 * tests/test_data), and it vectorises, where a table is a gather. */
#ifndef WG_DOUBLE
WG_ISA_INLINE void bytes_to_unit(const uint8_t *src, wg_real *dst, int64_t n)
{
    const uint8_t *restrict s = src;
    wg_real *restrict d = dst;
    for (int64_t p = 0; p < n; p++)
        d[p] = (wg_real)((double)s[p] * (1.0 / 255.0));
}
#else
/* in double the product is not always the quotient: a table of quotients */
static wg_real unit_of[256];
static bool unit_ready;
WG_ISA_INLINE void bytes_to_unit(const uint8_t *src, wg_real *dst, int64_t n)
{
    for (int64_t p = 0; p < n; p++)
        dst[p] = unit_of[src[p]];
}
#endif
WG_ISA_CLONES(bytes_to_unit, (const uint8_t *src, wg_real *dst, int64_t n), (src, dst, n))

/* index[k] names the k-th image of the batch; a NULL index means images
 * 0 .. n-1 (a view gives any other contiguous range). An index out of
 * range yields a black image and label -1, which the loss then rejects
 * loudly: a void function has no better way to complain. Without labels
 * in the set, y gets -1 too. */
void wg_dataset_batch(const wg_dataset *d, const int64_t *index, int n, wg_real *x, int32_t *y)
{
    if (!d || !x || n <= 0)
        return;
    size_t bytes = image_bytes(d);
#ifdef WG_DOUBLE
    if (!unit_ready) { /* a benign race: every thread writes the same values */
        for (int v = 0; v < 256; v++)
            unit_of[v] = (wg_real)v / (wg_real)255;
        unit_ready = true;
    }
#endif
    void (*convert)(const uint8_t *, wg_real *, int64_t) = bytes_to_unit_pick();
    for (int k = 0; k < n; k++) {
        int64_t i = index ? index[k] : k;
        /* shuffled images are scattered over the data set and each costs
         * cache misses: ask for the one two ahead while this one converts */
        int64_t ahead = k + 2 < n ? (index ? index[k + 2] : k + 2) : -1;
        if (ahead >= 0 && ahead < d->count && d->images)
            for (size_t p = 0; p < bytes; p += 64)
                __builtin_prefetch(d->images + (size_t)ahead * bytes + p);
        wg_real *dst = x + (size_t)k * bytes;
        bool ok = i >= 0 && i < d->count && d->images;
        if (ok)
            convert(d->images + (size_t)i * bytes, dst, (int64_t)bytes);
        else
            memset(dst, 0, bytes * sizeof *dst);
        if (y)
            y[k] = ok && d->labels ? d->labels[i] : -1;
    }
}
