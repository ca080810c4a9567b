/*
 * http_server_malloc.c - examples/http_server.c on malloc/free, the other
 * side of make bench-server (tests/server/bench.sh), and tested by make
 * test-server like the arena build.  The server is the example's own code,
 * included below; only its memory calls are defined here: every block of a
 * request is malloc'ed and kept on a list, its cleanups in a small array, and
 * req_end runs the cleanups and frees the blocks one by one, which is what
 * the arena build does with one rewind.  Connections are calloc'ed.
 */
#include <stddef.h>

#define HTTP_SERVER_EXTERNAL_MEM
#define MEM_NAME "malloc"

/* Cleanups per request: the server registers at most two (a directory and
 * its index.html, or a directory and its listing stream). */
enum { MAX_DEFERS = 4 };

typedef struct blk {
    struct blk *next;
    max_align_t align[]; /* the caller's bytes, aligned for any type */
} blk_t;

typedef struct conn_mem {
    blk_t *blocks; /* this request's, newest first */
    struct {
        void (*fn)(void *);
        void *arg;
    } defers[MAX_DEFERS];
    int ndefers;
} conn_mem_t;

typedef struct server_mem {
    char unused; /* malloc keeps its state to itself */
} server_mem_t;

#include "http_server.c"

static int mem_init(server_t *s)
{
    (void)s;
    return 0;
}

static void mem_fini(server_t *s) { (void)s; }

static conn_t *conn_new(server_t *s)
{
    (void)s;
    conn_t *c = calloc(1, sizeof *c);
    if (c && (c->in = malloc(IN_CAP)) == NULL) {
        free(c);
        return NULL;
    }
    return c;
}

static void conn_free(server_t *s, conn_t *c)
{
    (void)s;
    free(c->in);
    free(c);
}

static int req_begin(conn_t *c)
{
    (void)c;
    return 0;
}

static void *req_alloc(conn_t *c, size_t n)
{
    blk_t *b = malloc(sizeof(blk_t) + n);
    if (b == NULL)
        return NULL;
    b->next = c->mem.blocks;
    c->mem.blocks = b;
    return b->align;
}

static char *req_sprintf(conn_t *c, const char *fmt, ...)
{
    va_list ap, ap2;
    va_start(ap, fmt);
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    char *s = n < 0 ? NULL : req_alloc(c, (size_t)n + 1);
    if (s)
        vsnprintf(s, (size_t)n + 1, fmt, ap2);
    va_end(ap2);
    return s;
}

static int req_defer(conn_t *c, void (*fn)(void *), void *arg)
{
    if (c->mem.ndefers == MAX_DEFERS) {
        errno = ENOMEM;
        return -1;
    }
    c->mem.defers[c->mem.ndefers].fn = fn;
    c->mem.defers[c->mem.ndefers++].arg = arg;
    return 0;
}

static void req_end(conn_t *c)
{
    while (c->mem.ndefers > 0) {
        c->mem.ndefers--;
        c->mem.defers[c->mem.ndefers].fn(c->mem.defers[c->mem.ndefers].arg);
    }
    while (c->mem.blocks) {
        blk_t *b = c->mem.blocks;
        c->mem.blocks = b->next;
        free(b);
    }
}

/* Nothing to add: glibc's heap statistics are not the point of the page. */
static const char *mem_stats(server_t *s, conn_t *c)
{
    (void)s, (void)c;
    return "";
}
