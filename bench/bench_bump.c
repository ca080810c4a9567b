/*
 * bench_bump.c - the ideal bump pointer: cursor and end in a struct over one
 * preallocated buffer, one aligned add and one compare per allocation,
 * nothing else (no growth, no marks, no stats).  The physical limit that
 * arena_alloc's fast path should approach; workload 1 only.
 */
#include "contenders.h"

#include <stdlib.h>

typedef struct {
    char *cur, *end, *base;
    size_t cap;
} bulk_t;

static void bulk_open(bulk_t *s, size_t round_bytes)
{
    s->cap = round_bytes + 4096;
    s->base = aligned_alloc(4096, (s->cap + 4095) & ~(size_t)4095);
    if (!s->base)
        bench_fail("bump buffer");
    s->cur = s->base;
    s->end = s->base + s->cap;
}

static inline void *bulk_alloc(bulk_t *s, size_t n)
{
    char *p = s->cur;
    size_t r = (n + 15) & ~(size_t)15;
    if (r > (size_t)(s->end - p))
        return NULL;
    s->cur = p + r;
    return p;
}

static inline void bulk_free_all(bulk_t *s, void **p, size_t n)
{
    (void)p, (void)n;
    s->cur = s->base;
}

static size_t bulk_mapped(bulk_t *s) { return s->cap; }
static void bulk_close(bulk_t *s) { free(s->base); }
#include "w_bulk.inc"

const bench_contender_t bench_c_bump = {"bump", {[W_BULK_SMALL] = w_bulk, [W_BULK] = w_bulk}};
