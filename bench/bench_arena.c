/*
 * bench_arena.c - arena_* as the contender in workloads 1, 2, 3 and 5, with
 * the library's default options (what a user gets from arena_create(NULL)).
 * Workload 2 scopes each request with arena_mark/arena_rewind (validated
 * marks) and registers its cleanup with arena_defer; workload 3 resets a
 * frame arena every frame and keeps particles in a pool_t.
 */
#include "contenders.h"
#include "pool.h"

#include <stdlib.h>

static arena_t *new_arena(void)
{
    arena_t *a = arena_create(NULL);
    if (!a)
        bench_fail("arena_create");
    return a;
}

static size_t mapped_of(const arena_t *a)
{
    arena_stats_t st;
    arena_stats(a, &st);
    return st.mapped;
}

/* ---- 1: bulk free = arena_reset ---- */

typedef struct {
    arena_t *a;
} bulk_t;
static void bulk_open(bulk_t *s, size_t b) { (void)b, s->a = new_arena(); }
static inline void *bulk_alloc(bulk_t *s, size_t n) { return arena_alloc(s->a, n); }
static inline void bulk_free_all(bulk_t *s, void **p, size_t n) { (void)p, (void)n, arena_reset(s->a); }
static size_t bulk_mapped(bulk_t *s) { return mapped_of(s->a); }
static void bulk_close(bulk_t *s) { arena_destroy(s->a); }
#include "w_bulk.inc"

/* ---- 2: server, a mark per request ---- */

typedef struct {
    arena_t *a;
    arena_mark_t m;
    int per_request; /* 2b: arena_create in srv_begin, arena_destroy in srv_end */
} srv_t;
static void srv_open(srv_t *s) { s->a = new_arena(), s->per_request = 0; }
static void srv_open_per_request(srv_t *s) { s->a = NULL, s->per_request = 1; }
static void srv_close(srv_t *s) { arena_destroy(s->a); }
static inline void srv_begin(srv_t *s)
{
    if (s->per_request) {
        if (!(s->a = arena_create(NULL)))
            bench_fail("arena_create");
        return;
    }
    s->m = arena_mark(s->a);
}
static inline void *srv_alloc(srv_t *s, size_t n) { return arena_alloc(s->a, n); }
static inline char *srv_strndup(srv_t *s, const char *p, size_t n) { return arena_strndup(s->a, p, n); }
static inline void *srv_grow(srv_t *s, void *p, size_t old, size_t n) { return arena_realloc(s->a, p, old, n); }
static inline void srv_grow_done(srv_t *s, void *p, size_t n) { (void)s, (void)p, (void)n; }
static inline void srv_free(srv_t *s, void *p) { (void)s, (void)p; }
static inline void srv_defer(srv_t *s, void (*fn)(void *), void *arg)
{
    if (arena_defer(s->a, fn, arg) != 0)
        bench_fail("arena_defer");
}
static inline void srv_cleanups(srv_t *s) { (void)s; }
static inline void srv_end(srv_t *s)
{
    if (s->per_request) {
        arena_destroy(s->a);
        s->a = NULL;
        return;
    }
    if (arena_rewind(s->a, s->m) != 0)
        bench_fail("arena_rewind");
}
#define SRV_PER_REQUEST
#include "w_server.inc"

/* ---- 2c: an arena created and destroyed per request ---- */

typedef struct {
    arena_t *a;
} cr_t;
static void cr_open(cr_t *s) { s->a = NULL; }
static void cr_close(cr_t *s) { (void)s; }
static inline void cr_begin(cr_t *s)
{
    if (!(s->a = arena_create(NULL)))
        bench_fail("arena_create");
}
static inline void *cr_alloc(cr_t *s, size_t n) { return arena_alloc(s->a, n); }
static inline void cr_end(cr_t *s) { arena_destroy(s->a); }
#include "w_create.inc"

/* ---- 3: frame loop, arena_reset per frame + particle pool ---- */

typedef struct {
    arena_t *frame, *parts_arena;
    pool_t *parts;
} frame_t;
static void frame_open(frame_t *f)
{
    f->frame = new_arena();
    f->parts_arena = new_arena();
    f->parts = pool_create(f->parts_arena, 64, 0);
    if (!f->parts)
        bench_fail("pool_create");
}
static void frame_close(frame_t *f)
{
    pool_destroy(f->parts);
    arena_destroy(f->parts_arena);
    arena_destroy(f->frame);
}
static inline void *frame_alloc(frame_t *f, size_t n) { return arena_alloc(f->frame, n); }
static inline void frame_end(frame_t *f, void **p, size_t n) { (void)p, (void)n, arena_reset(f->frame); }
static inline void *part_alloc(frame_t *f) { return pool_alloc(f->parts); }
static inline void part_free(frame_t *f, void *p) { pool_free(f->parts, p); }
static int64_t frame_mmaps(frame_t *f)
{
    arena_stats_t a, b;
    arena_stats(f->frame, &a);
    arena_stats(f->parts_arena, &b);
    return (int64_t)(a.mmaps + b.mmaps);
}
static size_t frame_mapped(frame_t *f) { return mapped_of(f->frame); }
#include "w_frame.inc"

/* ---- 5: scopes = mark / rewind ---- */

typedef struct {
    arena_t *a;
} scope_t;
typedef arena_mark_t scope_h;
static void sc_open(scope_t *s) { s->a = new_arena(); }
static void sc_close(scope_t *s) { arena_destroy(s->a); }
static inline scope_h sc_root(scope_t *s) { return (scope_h){s->a, NULL, 0}; }
static inline scope_h sc_enter(scope_t *s, scope_h h) { (void)h; return arena_mark(s->a); }
static inline void *sc_alloc(scope_t *s, scope_h h, size_t n) { (void)h; return arena_alloc(s->a, n); }
static inline void sc_leave(scope_t *s, scope_h h, void **p, size_t n)
{
    (void)p, (void)n;
    if (arena_rewind(s->a, h) != 0)
        bench_fail("arena_rewind");
}
#include "w_scopes.inc"

const bench_contender_t bench_c_arena = {
    "arena",
    {[W_BULK_SMALL] = w_bulk, [W_BULK] = w_bulk, [W_SERVER] = w_server, [W_SERVER_NEW] = w_server_new,
     [W_CREATE] = w_create, [W_FRAME] = w_frame, [W_SCOPES] = w_scopes},
};
