/*
 * bench_obstack.c - glibc's obstack as the contender in workloads 1, 2, 3
 * and 5: obstack_free to a base object is its reset and its rewind; the
 * response of workload 2 is an obstack growing object (obstack_blank), its
 * idiomatic realloc.  Default chunk size (obstack_init), as programs use it:
 * obstack_free hands every chunk but the first back to malloc, and glibc
 * trims the top of its heap when they coalesce, so the next round faults the
 * pages in again (larger chunks only make that cheaper, not go away).
 * Chunk bytes are counted through the chunk hooks.
 */
#include "contenders.h"

#include <malloc.h>
#include <obstack.h>
#include <stdlib.h>

static size_t held_now, held_peak;

static void *chunk_alloc(size_t n)
{
    void *p = malloc(n);
    if (!p)
        bench_fail("obstack chunk");
    held_now += malloc_usable_size(p);
    if (held_now > held_peak)
        held_peak = held_now;
    return p;
}

static void chunk_free(void *p)
{
    held_now -= malloc_usable_size(p);
    free(p);
}

#define obstack_chunk_alloc chunk_alloc
#define obstack_chunk_free chunk_free

/* ---- 1: bulk free = obstack_free to the base ---- */

typedef struct {
    struct obstack ob;
    void *base;
} bulk_t;
static void bulk_open(bulk_t *s, size_t b)
{
    (void)b;
    obstack_init(&s->ob);
    s->base = obstack_alloc(&s->ob, 0);
}
static inline void *bulk_alloc(bulk_t *s, size_t n) { return obstack_alloc(&s->ob, n); }
static inline void bulk_free_all(bulk_t *s, void **p, size_t n)
{
    (void)p, (void)n;
    obstack_free(&s->ob, s->base);
    s->base = obstack_alloc(&s->ob, 0);
}
static size_t bulk_mapped(bulk_t *s) { (void)s; return held_now; }
static void bulk_close(bulk_t *s) { obstack_free(&s->ob, NULL); }
#include "w_bulk.inc"

/* ---- 2: server ---- */

typedef struct {
    struct obstack ob;
    void *base;
    struct {
        void (*fn)(void *);
        void *arg;
    } cleanup[4];
    unsigned ncleanup;
} srv_t;
static void srv_open(srv_t *s) { obstack_init(&s->ob); }
static void srv_close(srv_t *s) { obstack_free(&s->ob, NULL); }
static inline void srv_begin(srv_t *s)
{
    s->base = obstack_alloc(&s->ob, 0);
    s->ncleanup = 0;
}
static inline void *srv_alloc(srv_t *s, size_t n) { return obstack_alloc(&s->ob, n); }
static inline char *srv_strndup(srv_t *s, const char *p, size_t n) { return obstack_copy0(&s->ob, p, n); }
static inline void *srv_grow(srv_t *s, void *p, size_t old, size_t n)
{
    (void)p;
    obstack_blank(&s->ob, n - old);
    return obstack_base(&s->ob);
}
static inline void srv_grow_done(srv_t *s, void *p, size_t n)
{
    (void)p, (void)n;
    (void)obstack_finish(&s->ob);
}
static inline void srv_free(srv_t *s, void *p) { (void)s, (void)p; }
static inline void srv_defer(srv_t *s, void (*fn)(void *), void *arg)
{
    s->cleanup[s->ncleanup].fn = fn;
    s->cleanup[s->ncleanup++].arg = arg;
}
static inline void srv_cleanups(srv_t *s)
{
    while (s->ncleanup) {
        s->ncleanup--;
        s->cleanup[s->ncleanup].fn(s->cleanup[s->ncleanup].arg);
    }
}
static inline void srv_end(srv_t *s) { obstack_free(&s->ob, s->base); }
#include "w_server.inc"

/* ---- 3: frame obstack; particles from malloc (obstack has no single free) ---- */

typedef struct {
    struct obstack ob;
    void *base;
} frame_t;
static void frame_open(frame_t *f)
{
    obstack_init(&f->ob);
    f->base = obstack_alloc(&f->ob, 0);
}
static void frame_close(frame_t *f) { obstack_free(&f->ob, NULL); }
static inline void *frame_alloc(frame_t *f, size_t n) { return obstack_alloc(&f->ob, n); }
static inline void frame_end(frame_t *f, void **p, size_t n)
{
    (void)p, (void)n;
    obstack_free(&f->ob, f->base);
    f->base = obstack_alloc(&f->ob, 0);
}
static inline void *part_alloc(frame_t *f) { (void)f; return malloc(64); }
static inline void part_free(frame_t *f, void *p) { (void)f, free(p); }
static int64_t frame_mmaps(frame_t *f) { (void)f; return -1; }
static size_t frame_mapped(frame_t *f) { (void)f; return held_now; }
#include "w_frame.inc"

/* ---- 5: scopes = obstack_free to the scope's first object ---- */

typedef struct {
    struct obstack ob;
} scope_t;
typedef void *scope_h;
static void sc_open(scope_t *s) { obstack_init(&s->ob); }
static void sc_close(scope_t *s) { obstack_free(&s->ob, NULL); }
static inline scope_h sc_root(scope_t *s) { (void)s; return NULL; }
static inline scope_h sc_enter(scope_t *s, scope_h h) { (void)h; return obstack_alloc(&s->ob, 0); }
static inline void *sc_alloc(scope_t *s, scope_h h, size_t n) { (void)h; return obstack_alloc(&s->ob, n); }
static inline void sc_leave(scope_t *s, scope_h h, void **p, size_t n)
{
    (void)p, (void)n;
    obstack_free(&s->ob, h);
}
#include "w_scopes.inc"

const bench_contender_t bench_c_obstack = {
    "obstack",
    {[W_BULK_SMALL] = w_bulk, [W_BULK] = w_bulk, [W_SERVER] = w_server, [W_FRAME] = w_frame, [W_SCOPES] = w_scopes},
};
