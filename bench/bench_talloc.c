/*
 * bench_talloc.c - talloc (Samba's hierarchical allocator) as the contender
 * in workloads 1, 2, 3 and 5: a context freed at once (talloc_free) is its
 * bulk free, a child context per scope or request, a destructor as the
 * request's cleanup, talloc_realloc_size for the response, and particles as
 * children of a long-lived context freed one by one.
 */
#include "contenders.h"

#include <stdlib.h>
#include <talloc.h>

/* ---- 1: bulk free = talloc_free of the context ---- */

typedef struct {
    TALLOC_CTX *ctx;
} bulk_t;
static void bulk_open(bulk_t *s, size_t b)
{
    (void)b;
    if (!(s->ctx = talloc_new(NULL)))
        bench_fail("talloc_new");
}
static inline void *bulk_alloc(bulk_t *s, size_t n) { return talloc_size(s->ctx, n); }
static inline void bulk_free_all(bulk_t *s, void **p, size_t n)
{
    (void)p, (void)n;
    talloc_free(s->ctx);
    if (!(s->ctx = talloc_new(NULL)))
        bench_fail("talloc_new");
}
static size_t bulk_mapped(bulk_t *s) { (void)s; return 0; }
static void bulk_close(bulk_t *s) { talloc_free(s->ctx); }
#include "w_bulk.inc"

/* ---- 2: server, a child context per request ---- */

typedef struct {
    TALLOC_CTX *root, *req;
} srv_t;
typedef struct {
    void (*fn)(void *);
    void *arg;
} tcleanup_t;
static int run_cleanup(tcleanup_t *c)
{
    c->fn(c->arg);
    return 0;
}
static void srv_open(srv_t *s) { s->root = talloc_new(NULL); }
/* 2b: the same; talloc already takes a child context per request. */
static void srv_open_per_request(srv_t *s) { srv_open(s); }
static void srv_close(srv_t *s) { talloc_free(s->root); }
static inline void srv_begin(srv_t *s)
{
    if (!(s->req = talloc_new(s->root)))
        bench_fail("talloc_new");
}
static inline void *srv_alloc(srv_t *s, size_t n) { return talloc_size(s->req, n); }
static inline char *srv_strndup(srv_t *s, const char *p, size_t n) { return talloc_strndup(s->req, p, n); }
static inline void *srv_grow(srv_t *s, void *p, size_t old, size_t n)
{
    (void)old;
    return talloc_realloc_size(s->req, p, n);
}
static inline void srv_grow_done(srv_t *s, void *p, size_t n) { (void)s, (void)p, (void)n; }
static inline void srv_free(srv_t *s, void *p) { (void)s, (void)p; }
static inline void srv_defer(srv_t *s, void (*fn)(void *), void *arg)
{
    tcleanup_t *c = talloc(s->req, tcleanup_t);
    if (!c)
        bench_fail("talloc");
    c->fn = fn, c->arg = arg;
    talloc_set_destructor(c, run_cleanup);
}
static inline void srv_cleanups(srv_t *s) { (void)s; }
static inline void srv_end(srv_t *s) { talloc_free(s->req); }
#define SRV_PER_REQUEST
#include "w_server.inc"

/* ---- 2c: a child context created and freed per request ---- */

typedef struct {
    TALLOC_CTX *root, *req;
} cr_t;
static void cr_open(cr_t *s) { s->root = talloc_new(NULL); }
static void cr_close(cr_t *s) { talloc_free(s->root); }
static inline void cr_begin(cr_t *s)
{
    if (!(s->req = talloc_new(s->root)))
        bench_fail("talloc_new");
}
static inline void *cr_alloc(cr_t *s, size_t n) { return talloc_size(s->req, n); }
static inline void cr_end(cr_t *s) { talloc_free(s->req); }
#include "w_create.inc"

/* ---- 3: frame context emptied every frame; particles as talloc objects ---- */

typedef struct {
    TALLOC_CTX *frame, *parts;
} frame_t;
static void frame_open(frame_t *f)
{
    f->frame = talloc_new(NULL);
    f->parts = talloc_new(NULL);
    if (!f->frame || !f->parts)
        bench_fail("talloc_new");
}
static void frame_close(frame_t *f)
{
    talloc_free(f->frame);
    talloc_free(f->parts);
}
static inline void *frame_alloc(frame_t *f, size_t n) { return talloc_size(f->frame, n); }
static inline void frame_end(frame_t *f, void **p, size_t n)
{
    (void)p, (void)n;
    talloc_free_children(f->frame);
}
static inline void *part_alloc(frame_t *f) { return talloc_size(f->parts, 64); }
static inline void part_free(frame_t *f, void *p) { (void)f, talloc_free(p); }
static int64_t frame_mmaps(frame_t *f) { (void)f; return -1; }
static size_t frame_mapped(frame_t *f) { (void)f; return 0; }
#include "w_frame.inc"

/* ---- 5: scopes = child contexts ---- */

typedef struct {
    TALLOC_CTX *root;
} scope_t;
typedef TALLOC_CTX *scope_h;
static void sc_open(scope_t *s) { s->root = talloc_new(NULL); }
static void sc_close(scope_t *s) { talloc_free(s->root); }
static inline scope_h sc_root(scope_t *s) { return s->root; }
static inline scope_h sc_enter(scope_t *s, scope_h h)
{
    (void)s;
    TALLOC_CTX *c = talloc_new(h);
    if (!c)
        bench_fail("talloc_new");
    return c;
}
static inline void *sc_alloc(scope_t *s, scope_h h, size_t n) { (void)s; return talloc_size(h, n); }
static inline void sc_leave(scope_t *s, scope_h h, void **p, size_t n)
{
    (void)s, (void)p, (void)n;
    talloc_free(h);
}
#include "w_scopes.inc"

const bench_contender_t bench_c_talloc = {
    "talloc",
    {[W_BULK_SMALL] = w_bulk, [W_BULK] = w_bulk, [W_SERVER] = w_server, [W_SERVER_NEW] = w_server_new,
     [W_CREATE] = w_create, [W_FRAME] = w_frame, [W_SCOPES] = w_scopes},
};
