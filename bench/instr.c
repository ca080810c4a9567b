/*
 * instr.c - a tiny driver for `make bench-instr`: runs one fast path N times
 * through a noinline wrapper so callgrind (--toggle-collect=op_*) counts
 * exactly the instructions of the operation and the wrapper's ret.
 * bench/instr.sh runs it at two N and divides the difference, so setup and
 * one-time slow paths cancel.  Instruction counts repeat where wall time does not.
 *
 *   instr SUBJECT N     SUBJECT: arena arena_const bump pool pool_bulk glibc
 *                       glibc_bulk mp mp_bulk
 */
#include "arena.h"
#include "mp.h"
#include "pool.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* noipa (gcc): no constant propagation into the wrapper, no clones. */
#if defined(__GNUC__) && !defined(__clang__)
#define OP __attribute__((noinline, noipa))
#else
#define OP __attribute__((noinline))
#endif

typedef struct {
    char *cur, *end;
} bump_t;

OP void *op_arena_alloc(arena_t *a, size_t n) { return arena_alloc(a, n); }
OP void *op_arena_alloc32(arena_t *a) { return arena_alloc(a, 32); }
OP void *op_bump_alloc(bump_t *b, size_t n)
{
    char *p = b->cur;
    size_t r = (n + 15) & ~(size_t)15;
    if (r > (size_t)(b->end - p))
        return NULL;
    b->cur = p + r;
    return p;
}
OP void *op_pool_alloc(pool_t *p) { return pool_alloc(p); }
OP void op_pool_free(pool_t *p, void *o) { pool_free(p, o); }
OP void *op_malloc(size_t n) { return malloc(n); }
OP void op_free(void *p) { free(p); }
OP void *op_mp_alloc(size_t n) { return mp_alloc(n); }
OP void op_mp_free(void *p) { mp_free(p); }

static void *volatile sink;

static void need(void *p)
{
    if (!p) {
        fprintf(stderr, "instr: allocation failed\n");
        exit(1);
    }
    sink = p;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: instr arena|arena_const|bump|pool[_bulk]|glibc[_bulk]|mp[_bulk] N\n");
        return 2;
    }
    const char *s = argv[1];
    size_t n = (size_t)strtoul(argv[2], NULL, 10);
    volatile size_t size = 24; /* not a multiple of 16: the rounding is exercised */
    /* Free-list subjects alloc `batch` objects, then free them, n / batch
     * times: 16 stays on the fast paths (the steady state of a program that
     * reuses what it freed); the *_bulk subjects alloc all n, then free all n,
     * so the refills and flushes of the slow paths are included, amortised. */
    size_t batch = strstr(s, "_bulk") ? n : 16;
    n -= n % batch;
    void **objs = calloc(n ? n : 1, sizeof *objs);
    if (!objs)
        return 1;
    if (!strcmp(s, "arena") || !strcmp(s, "arena_const")) {
        /* One chunk large enough for every N: no slow path after creation. */
        arena_t *a = arena_create(&(arena_opts_t){.chunk_size = 8u << 20});
        need(a);
        for (size_t i = 0; i < n; i++)
            need(s[5] ? op_arena_alloc32(a) : op_arena_alloc(a, size));
        arena_destroy(a);
    } else if (!strcmp(s, "bump")) {
        static char buf[8u << 20];
        bump_t b = {buf, buf + sizeof buf};
        for (size_t i = 0; i < n; i++)
            need(op_bump_alloc(&b, size));
    } else if (!strncmp(s, "pool", 4)) {
        pool_t *p = pool_create(NULL, 64, 0);
        need(p);
        /* Warm up outside the wrappers, so the measured pops find free slots. */
        for (size_t i = 0; i < n; i++)
            need(objs[i] = pool_alloc(p));
        for (size_t i = 0; i < n; i++)
            pool_free(p, objs[i]);
        for (size_t i = 0; i < n; i += batch) {
            for (size_t k = i; k < i + batch; k++)
                need(objs[k] = op_pool_alloc(p));
            for (size_t k = i; k < i + batch; k++)
                op_pool_free(p, objs[k]);
        }
        pool_destroy(p);
    } else if (!strncmp(s, "glibc", 5)) {
        for (size_t i = 0; i < n; i++)
            need(objs[i] = malloc(64));
        for (size_t i = 0; i < n; i++)
            free(objs[i]);
        for (size_t i = 0; i < n; i += batch) {
            for (size_t k = i; k < i + batch; k++)
                need(objs[k] = op_malloc(64));
            for (size_t k = i; k < i + batch; k++)
                op_free(objs[k]);
        }
    } else if (!strncmp(s, "mp", 2)) {
        for (size_t i = 0; i < n; i++)
            need(objs[i] = mp_alloc(64));
        for (size_t i = 0; i < n; i++)
            mp_free(objs[i]);
        for (size_t i = 0; i < n; i += batch) {
            for (size_t k = i; k < i + batch; k++)
                need(objs[k] = op_mp_alloc(64));
            for (size_t k = i; k < i + batch; k++)
                op_mp_free(objs[k]);
        }
    } else {
        fprintf(stderr, "instr: unknown subject %s\n", s);
        return 2;
    }
    free(objs);
    return 0;
}
