/* The allocator hook: every heap allocation of the library passes here. */
#include "internal.h"

#include <stdlib.h>
#include <string.h>
#ifdef __linux__
#include <sys/mman.h>
/* Linux's value, for C libraries older than the kernel (glibc 2.36) */
#define WG_MADV_COLLAPSE 25
#endif

static void *libc_malloc(size_t n, void *ctx) { (void)ctx; return malloc(n); }
static void *libc_realloc(void *p, size_t n, void *ctx) { (void)ctx; return realloc(p, n); }
static void libc_free(void *p, void *ctx) { (void)ctx; free(p); }

static wg_allocator g_alloc = { libc_malloc, libc_realloc, libc_free, NULL };

void wg_set_allocator(const wg_allocator *a)
{
    if (a && a->malloc && a->realloc && a->free)
        g_alloc = *a;
    else
        g_alloc = (wg_allocator){ libc_malloc, libc_realloc, libc_free, NULL };
}

void *wg_malloc(size_t n)
{
    return g_alloc.malloc(n ? n : 1, g_alloc.ctx);
}

void *wg_calloc(size_t count, size_t size)
{
    if (size && count > SIZE_MAX / size)
        return NULL;
    void *p = wg_malloc(count * size);
    if (p)
        memset(p, 0, count * size);
    return p;
}

void *wg_realloc(void *p, size_t n)
{
    return g_alloc.realloc(p, n ? n : 1, g_alloc.ctx);
}

void wg_free(void *p)
{
    if (p)
        g_alloc.free(p, g_alloc.ctx);
}

void wg_advise_huge(void *p, size_t n)
{
#if defined(__linux__) && defined(MADV_HUGEPAGE)
    /* only whole 2 MB pages inside the block: never the allocator's own
     * bookkeeping or a neighbour's memory. MADV_COLLAPSE (Linux 6.1)
     * rebuilds the written pages as huge ones now, page by page, where the
     * first advice alone would leave them to khugepaged's slow scan. Best
     * effort: an error (no THP, an older kernel, a user allocator's odd
     * block) changes nothing but speed. */
    const uintptr_t huge = (uintptr_t)2 << 20;
    uintptr_t lo = ((uintptr_t)p + huge - 1) & ~(huge - 1), hi = ((uintptr_t)p + n) & ~(huge - 1);
    if (p && hi > lo && madvise((void *)lo, hi - lo, MADV_HUGEPAGE) == 0)
        (void)madvise((void *)lo, hi - lo, WG_MADV_COLLAPSE);
#else
    (void)p;
    (void)n;
#endif
}

char *wg_strdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = wg_malloc(n);
    if (d)
        memcpy(d, s, n);
    return d;
}
