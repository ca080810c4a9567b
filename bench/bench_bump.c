/*
 * bench_bump.c - the ideal bump pointer: cursor and end in a struct over one
 * preallocated buffer, one aligned add and one compare per allocation,
 * nothing else (no growth, no marks, no stats), used through a pointer as an
 * arena is.  The physical limit that
 * arena_alloc's fast path should approach; workload 1 only.
 */
#include "contenders.h"

#include <stdlib.h>

typedef struct bump {
    char *cur, *end;
} bump_t;

/* The bump struct is reached through a pointer that escapes, as an arena_t
 * is: otherwise the compiler proves that the stores into the objects cannot
 * touch the cursor and keeps it in a register, which no real arena (a heap
 * object used through a pointer) gets. */
typedef struct {
    bump_t *b;
    char *base;
    size_t cap;
} bulk_t;

static void bulk_open(bulk_t *s, size_t round_bytes)
{
    s->cap = round_bytes + 4096;
    s->base = aligned_alloc(4096, (s->cap + 4095) & ~(size_t)4095);
    s->b = malloc(sizeof *s->b);
    if (!s->base || !s->b)
        bench_fail("bump buffer");
    s->b->cur = s->base;
    s->b->end = s->base + s->cap;
    bench_escape(s->b);
}

/* One aligned add, one compare. */
static inline void *bulk_alloc(bulk_t *s, size_t n)
{
    bump_t *b = s->b;
    char *p = b->cur;
    size_t r = (n + 15) & ~(size_t)15;
    if (r > (size_t)(b->end - p))
        return NULL;
    b->cur = p + r;
    return p;
}

static inline void bulk_free_all(bulk_t *s, void **p, size_t n)
{
    (void)p, (void)n;
    s->b->cur = s->base;
}

static size_t bulk_mapped(bulk_t *s) { return s->cap; }
static void bulk_close(bulk_t *s)
{
    free(s->b);
    free(s->base);
}
#include "w_bulk.inc"

const bench_contender_t bench_c_bump = {"bump", {[W_BULK_SMALL] = w_bulk, [W_BULK] = w_bulk}};
