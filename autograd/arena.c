/* The tape's memory: bump allocation in chunks, consolidated on reset so
 * that a repeated step of the same size allocates nothing. */
#include "internal.h"

#define WG_ALIGN 64
#define WG_MIN_CHUNK ((size_t)1 << 16)

struct wg_chunk {
    wg_chunk *next;
    unsigned char *mem;     /* WG_ALIGN-aligned start of the usable bytes */
    size_t size, used;
};

static size_t align_up(size_t n)
{
    return (n + WG_ALIGN - 1) & ~(size_t)(WG_ALIGN - 1);
}

static wg_chunk *chunk_new(size_t size)
{
    if (size > SIZE_MAX - sizeof(wg_chunk) - WG_ALIGN)
        return NULL;
    wg_chunk *c = wg_malloc(sizeof(wg_chunk) + WG_ALIGN + size);
    if (!c)
        return NULL;
    uintptr_t p = (uintptr_t)(c + 1);
    c->mem = (unsigned char *)((p + WG_ALIGN - 1) & ~(uintptr_t)(WG_ALIGN - 1));
    c->next = NULL;
    c->size = size;
    c->used = 0;
    return c;
}

static void chunk_free(wg_chunk *c)
{
    wg_free(c);
}

void *wg_arena_alloc(wg_arena *a, size_t bytes)
{
    size_t n = align_up(bytes ? bytes : 1);
    if (n < bytes)
        return NULL;
    wg_chunk *c = a->head;
    if (!c || c->size - c->used < n) {
        size_t size = a->held > WG_MIN_CHUNK ? a->held : WG_MIN_CHUNK;
        if (size < n)
            size = n;
        c = chunk_new(size);
        if (!c)
            return NULL;
        c->next = a->head;
        a->head = c;
        a->held += size;
    }
    void *p = c->mem + c->used;
    c->used += n;
    a->used += n;
    if (a->used > a->peak)
        a->peak = a->used;
    return p;
}

void wg_arena_reset(wg_arena *a)
{
    if (a->head && a->head->next) {
        /* several chunks: replace them by one as large as the most any
         * cycle has used. The old ones go first, so the two never coexist
         * (a failure leaves the arena empty; it grows again on demand). */
        size_t want = a->peak;
        wg_arena_free(a);
        wg_chunk *one = chunk_new(want);
        if (one) {
            a->head = one;
            a->held = want;
        }
    }
    for (wg_chunk *c = a->head; c; c = c->next)
        c->used = 0;
    a->used = 0;
}

void wg_arena_free(wg_arena *a)
{
    wg_chunk *c = a->head;
    while (c) {
        wg_chunk *next = c->next;
        chunk_free(c);
        c = next;
    }
    a->head = NULL;
    a->held = 0;
    a->used = 0;
}
