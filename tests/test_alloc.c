/* After the first step at a batch shape, a training step (forward,
 * backward, zeroing gradients, reset) makes no heap allocation. Counted
 * through the library's allocator hook, which sees every allocation the
 * library makes. */
#include "check.h"
#include "net_fixture.h"

#include <stdio.h>
#include <stdlib.h>

static long n_malloc, n_realloc, n_free;

static void *count_malloc(size_t n, void *ctx) { (void)ctx; n_malloc++; return malloc(n); }
static void *count_realloc(void *p, size_t n, void *ctx) { (void)ctx; n_realloc++; return realloc(p, n); }
static void count_free(void *p, void *ctx) { (void)ctx; n_free++; free(p); }

/* an allocator that fails the k-th allocation from now on (k = 0: never) */
static long fail_at, seen;
static void *failing_malloc(size_t n, void *ctx)
{
    (void)ctx;
    if (fail_at && ++seen == fail_at)
        return NULL;
    n_malloc++;
    return malloc(n);
}
static void *failing_realloc(void *p, size_t n, void *ctx)
{
    (void)ctx;
    if (fail_at && ++seen == fail_at)
        return NULL;
    n_realloc++;
    return realloc(p, n);
}

/* Filling a store past its first growth with every allocation failed in
 * turn: each failure is an error, the store stays usable and consistent. */
static void test_params_out_of_memory(void)
{
    wg_set_allocator(&(wg_allocator){ failing_malloc, failing_realloc, count_free, NULL });
    for (long k = 1; k < 200; k++) {
        wg_params *P = NULL;
        fail_at = k;
        seen = 0;
        P = wg_params_new();
        int made = 0, failed = 0;
        char name[16];
        for (int i = 0; P && i < 40; i++) {
            snprintf(name, sizeof name, "p%d", i);
            if (wg_param(P, name, WG_SHAPE(i + 1)))
                made++;
            else
                failed++;
        }
        fail_at = 0;
        if (P) {
            CHECK(wg_params_count(P) == made, "k=%ld: count %d vs %d made", k,
                  wg_params_count(P), made);
            /* still usable: one more parameter, and every view in the block */
            CHECK(wg_param(P, "after", WG_SHAPE(3)) != NULL, "k=%ld: store unusable", k);
            int64_t off = 0;
            for (int i = 0; i < wg_params_count(P); i++) {
                CHECK(wg_data(wg_params_at(P, i)) == wg_params_values(P) + off, "k=%ld view", k);
                off += wg_numel(wg_params_at(P, i));
            }
        }
        wg_params_free(P);
        if (!failed && P)
            break; /* k is past the last allocation: every case was tried */
    }
    wg_set_allocator(&(wg_allocator){ count_malloc, count_realloc, count_free, NULL });
}

static int step(net_fixture *f, wg_tape *t)
{
    wg_tensor *loss = net_fixture_forward(f, t);
    wg_status s = wg_backward(t, loss);
    wg_params_zero_grad(f->params);
    wg_tape_reset(t);
    return s;
}

int main(void)
{
    wg_set_allocator(&(wg_allocator){ count_malloc, count_realloc, count_free, NULL });
    wg_set_num_threads(2);
    net_fixture f;
    CHECK(net_fixture_init(&f, 32, 5) == 0, "fixture");
    wg_tape *t = wg_tape_new();
    CHECK(step(&f, t) == WG_OK, "first step: %s", wg_tape_error(t));
    long first = n_malloc + n_realloc;
    CHECK(first > 0, "the first step allocates (%ld): the hook sees the library", first);
    for (int i = 0; i < 5; i++) {
        long before = n_malloc + n_realloc + n_free;
        CHECK(step(&f, t) == WG_OK, "step %d", i + 2);
        long during = n_malloc + n_realloc + n_free - before;
        CHECK(during == 0, "step %d made %ld heap calls", i + 2, during);
    }
    /* in inference mode too */
    wg_tape_set_grad(t, false);
    net_fixture_forward(&f, t);
    wg_tape_reset(t);
    long before = n_malloc + n_realloc + n_free;
    net_fixture_forward(&f, t);
    wg_tape_reset(t);
    CHECK(n_malloc + n_realloc + n_free == before, "no-grad forward allocates nothing");
    size_t held, peak;
    wg_tape_memory(t, &held, &peak);
    printf("first step: %ld allocations; tape holds %zu bytes (peak use %zu)\n", first, held,
           peak);
    wg_tape_free(t);
    net_fixture_free(&f);
    test_params_out_of_memory();
    CHECK(n_malloc == n_free, "every allocation freed: %ld mallocs, %ld frees", n_malloc, n_free);
    return check_done("test_alloc");
}
