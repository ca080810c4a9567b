/*
 * bench_pool.c - pool_* on workload 4 (fixed-size churn), over an arena of
 * its own so that bytes mapped can be reported.
 */
#include "contenders.h"
#include "pool.h"

#include <stdlib.h>

typedef struct {
    arena_t *a;
    pool_t *p;
} churn_t;

static void churn_open(churn_t *c, size_t n)
{
    c->a = arena_create(NULL);
    c->p = c->a ? pool_create(c->a, n, 0) : NULL;
    if (!c->p)
        bench_fail("pool_create");
}

static inline void *churn_alloc(churn_t *c) { return pool_alloc(c->p); }
static inline void churn_free(churn_t *c, void *p) { pool_free(c->p, p); }

static size_t churn_mapped(churn_t *c)
{
    arena_stats_t st;
    arena_stats(c->a, &st);
    return st.mapped;
}

static void churn_close(churn_t *c)
{
    pool_destroy(c->p);
    arena_destroy(c->a);
}
#include "w_churn.inc"

const bench_contender_t bench_c_pool = {"pool", {[W_CHURN] = w_churn}};
