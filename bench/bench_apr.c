/*
 * bench_apr.c - Apache Portable Runtime pools as the contender in workloads
 * 1, 2, 3 and 5: apr_pool_clear is the bulk free and ends each request (the
 * per-request pool of the Apache web server), apr_pool_cleanup_register the
 * request's cleanup, sub-pools the nested scopes.  APR has no realloc (the
 * response is copied into a block twice the size) and no single free
 * (particles come from malloc).  apr_palloc aligns to 8 bytes, not 16.
 */
#include "contenders.h"

#include <apr_general.h>
#include <apr_pools.h>
#include <apr_strings.h>
#include <stdlib.h>

static apr_pool_t *new_pool(apr_pool_t *parent)
{
    static int init;
    if (!init && apr_initialize() != APR_SUCCESS)
        bench_fail("apr_initialize");
    init = 1;
    apr_pool_t *p;
    if (apr_pool_create(&p, parent) != APR_SUCCESS)
        bench_fail("apr_pool_create");
    return p;
}

/* ---- 1: bulk free = apr_pool_clear ---- */

typedef struct {
    apr_pool_t *p;
} bulk_t;
static void bulk_open(bulk_t *s, size_t b) { (void)b, s->p = new_pool(NULL); }
static inline void *bulk_alloc(bulk_t *s, size_t n) { return apr_palloc(s->p, n); }
static inline void bulk_free_all(bulk_t *s, void **p, size_t n) { (void)p, (void)n, apr_pool_clear(s->p); }
static size_t bulk_mapped(bulk_t *s) { (void)s; return 0; }
static void bulk_close(bulk_t *s) { apr_pool_destroy(s->p); }
#include "w_bulk.inc"

/* ---- 2: server, a request pool cleared after every request ---- */

typedef struct {
    apr_pool_t *root, *req;
    int per_request; /* 2b: a sub-pool created in srv_begin, destroyed in srv_end */
} srv_t;
typedef struct {
    void (*fn)(void *);
    void *arg;
} acleanup_t;
static apr_status_t run_cleanup(void *data)
{
    acleanup_t *c = data;
    c->fn(c->arg);
    return APR_SUCCESS;
}
static void srv_open(srv_t *s)
{
    s->root = new_pool(NULL);
    s->req = new_pool(s->root);
    s->per_request = 0;
}
static void srv_open_per_request(srv_t *s)
{
    s->root = new_pool(NULL);
    s->req = NULL;
    s->per_request = 1;
}
static void srv_close(srv_t *s) { apr_pool_destroy(s->root); }
static inline void srv_begin(srv_t *s)
{
    if (s->per_request && apr_pool_create(&s->req, s->root) != APR_SUCCESS)
        bench_fail("apr_pool_create");
}
static inline void *srv_alloc(srv_t *s, size_t n) { return apr_palloc(s->req, n); }
static inline char *srv_strndup(srv_t *s, const char *p, size_t n) { return apr_pstrmemdup(s->req, p, n); }
static inline void *srv_grow(srv_t *s, void *p, size_t old, size_t n)
{
    void *d = apr_palloc(s->req, n);
    if (d && old)
        memcpy(d, p, old);
    return d;
}
static inline void srv_grow_done(srv_t *s, void *p, size_t n) { (void)s, (void)p, (void)n; }
static inline void srv_free(srv_t *s, void *p) { (void)s, (void)p; }
static inline void srv_defer(srv_t *s, void (*fn)(void *), void *arg)
{
    acleanup_t *c = apr_palloc(s->req, sizeof *c);
    if (!c)
        bench_fail("apr_palloc");
    c->fn = fn, c->arg = arg;
    apr_pool_cleanup_register(s->req, c, run_cleanup, apr_pool_cleanup_null);
}
static inline void srv_cleanups(srv_t *s) { (void)s; }
static inline void srv_end(srv_t *s)
{
    if (s->per_request)
        apr_pool_destroy(s->req);
    else
        apr_pool_clear(s->req);
}
#define SRV_PER_REQUEST
#include "w_server.inc"

/* ---- 2c: a sub-pool created and destroyed per request ---- */

typedef struct {
    apr_pool_t *root, *req;
} cr_t;
static void cr_open(cr_t *s) { s->root = new_pool(NULL); }
static void cr_close(cr_t *s) { apr_pool_destroy(s->root); }
static inline void cr_begin(cr_t *s)
{
    if (apr_pool_create(&s->req, s->root) != APR_SUCCESS)
        bench_fail("apr_pool_create");
}
static inline void *cr_alloc(cr_t *s, size_t n) { return apr_palloc(s->req, n); }
static inline void cr_end(cr_t *s) { apr_pool_destroy(s->req); }
#include "w_create.inc"

/* ---- 3: frame pool cleared every frame; particles from malloc ---- */

typedef struct {
    apr_pool_t *frame;
} frame_t;
static void frame_open(frame_t *f) { f->frame = new_pool(NULL); }
static void frame_close(frame_t *f) { apr_pool_destroy(f->frame); }
static inline void *frame_alloc(frame_t *f, size_t n) { return apr_palloc(f->frame, n); }
static inline void frame_end(frame_t *f, void **p, size_t n) { (void)p, (void)n, apr_pool_clear(f->frame); }
static inline void *part_alloc(frame_t *f) { (void)f; return malloc(64); }
static inline void part_free(frame_t *f, void *p) { (void)f, free(p); }
static int64_t frame_mmaps(frame_t *f) { (void)f; return -1; }
static size_t frame_mapped(frame_t *f) { (void)f; return 0; }
#include "w_frame.inc"

/* ---- 5: scopes = sub-pools ---- */

typedef struct {
    apr_pool_t *root;
} scope_t;
typedef apr_pool_t *scope_h;
static void sc_open(scope_t *s) { s->root = new_pool(NULL); }
static void sc_close(scope_t *s) { apr_pool_destroy(s->root); }
static inline scope_h sc_root(scope_t *s) { return s->root; }
static inline scope_h sc_enter(scope_t *s, scope_h h) { (void)s; return new_pool(h); }
static inline void *sc_alloc(scope_t *s, scope_h h, size_t n) { (void)s; return apr_palloc(h, n); }
static inline void sc_leave(scope_t *s, scope_h h, void **p, size_t n)
{
    (void)s, (void)p, (void)n;
    apr_pool_destroy(h);
}
#include "w_scopes.inc"

const bench_contender_t bench_c_apr = {
    "apr",
    {[W_BULK_SMALL] = w_bulk, [W_BULK] = w_bulk, [W_SERVER] = w_server, [W_SERVER_NEW] = w_server_new,
     [W_CREATE] = w_create, [W_FRAME] = w_frame, [W_SCOPES] = w_scopes},
};
