/* good.c - a correct program, built by run.sh against the installed library
 * with a checker's flags (ASan+UBSan, or plain / -DARENAPOOL_VALGRIND for
 * Memcheck): frames, scopes, pools (in order and out of order), strings,
 * reset, mp blocks, arenas per request through the chunk cache, children
 * and an arena over a caller's buffer.  It must run with no report at all; every byte it
 * reads it wrote first, and it checks what it reads. */
#include <arenapool/arena.h>
#include <arenapool/mp.h>
#include <arenapool/pool.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int failed;
#define CHECK(c) \
    ((c) ? (void)0 : (void)(failed = 1, fprintf(stderr, "good: %s:%d: %s\n", __FILE__, __LINE__, #c)))

static void closer(void *arg) { *(int *)arg += 1; }

/* A frame arena: allocations of many sizes, strings, a reset per frame. */
static void frames(void)
{
    arena_opts_t o = {.chunk_size = 8192, .retain_bytes = 1 << 20};
    arena_t *a = arena_create(&o);
    CHECK(a != NULL);
    for (int f = 0; f < 30; f++) {
        char *keep[64];
        for (int i = 0; i < 64; i++) {
            size_t n = (size_t)(1 + (i * 37 + f * 11) % 700);
            keep[i] = arena_alloc(a, n);
            memset(keep[i], i, n);
        }
        char *s = arena_sprintf(a, "frame %d of %s", f, "30");
        char *d = arena_strdup(a, s);
        char *nd = arena_strndup(a, "abcdefgh", 3);
        CHECK(strcmp(d, s) == 0 && strcmp(nd, "abc") == 0);
        int *v = ARENA_NEW_ARRAY(a, int, 100);
        for (int i = 0; i < 100; i++)
            CHECK(v[i] == 0);
        char *big = arena_alloc(a, 100000); /* a chunk of its own */
        memset(big, 7, 100000);
        char *r = arena_realloc(a, keep[63], 1 + (63 * 37 + f * 11) % 700, 2000);
        memset(r, 1, 2000);
        void *al = arena_alloc_aligned(a, 300, 4096);
        memset(al, 2, 300);
        for (int i = 0; i < 63; i++)
            CHECK(keep[i][0] == (char)i);
        CHECK(big[99999] == 7);
        arena_reset(a);
    }
    arena_destroy(a);
}

/* Nested scopes with cleanups; memory older than a mark stays usable. */
static void scopes(void)
{
    arena_t *a = arena_create(NULL);
    int ran = 0;
    char *outer = arena_alloc(a, 48);
    memset(outer, 'o', 48);
    for (int i = 0; i < 200; i++) {
        arena_mark_t m1 = arena_mark(a);
        char *x = arena_alloc(a, 100);
        memset(x, 'x', 100);
        arena_defer(a, closer, &ran);
        arena_mark_t m2 = arena_mark(a);
        char *y = arena_alloc(a, (size_t)(1 + i * 300));
        memset(y, 'y', (size_t)(1 + i * 300));
        CHECK(arena_rewind(a, m2) == 0);
        CHECK(x[99] == 'x');
        char *z = arena_alloc(a, 64); /* reuses y's space */
        memset(z, 'z', 64);
        CHECK(arena_rewind(a, m1) == 0);
    }
    CHECK(ran == 200 && outer[47] == 'o');
    arena_mark_t t = arena_scratch_begin(&a, 1);
    char *s = arena_alloc(t.arena, 1000);
    memset(s, 's', 1000);
    arena_scratch_end(t);
    arena_destroy(a);
}

/* Pools: a loop (alloc 100, write, free 100 in order), frees out of
 * order, spills past the hot array, calloc, reset, rewind past slabs. */
static void pools(void)
{
    arena_t *a = arena_create(NULL);
    pool_t *p = pool_create(a, 24, 0);
    for (int f = 0; f < 100; f++) {
        void *ps[100];
        for (int i = 0; i < 100; i++) {
            ps[i] = pool_alloc(p);
            memset(ps[i], 0, 24);
        }
        for (int i = 0; i < 100; i++)
            pool_free(p, ps[i]);
    }
    enum { N = 1000 };
    static unsigned char *objs[N];
    pool_t *q = pool_create(a, 48, 0);
    for (int round = 0; round < 5; round++) {
        for (int i = 0; i < N; i++) {
            objs[i] = pool_alloc(q);
            memset(objs[i], i & 0xFF, 48);
        }
        /* out of order: a fixed shuffle */
        for (int i = 0; i < N; i++) {
            int j = (i * 389 + round * 17) % N;
            unsigned char *o = objs[j];
            if (o) {
                CHECK(o[0] == (unsigned char)(j & 0xFF) && o[47] == (unsigned char)(j & 0xFF));
                pool_free(q, o);
                objs[j] = NULL;
            }
        }
        for (int i = 0; i < N; i++)
            if (objs[i])
                pool_free(q, objs[i]);
    }
    unsigned char *c = pool_calloc(q);
    for (int i = 0; i < 48; i++)
        CHECK(c[i] == 0);
    pool_free(q, c);
    pool_reset(q);
    unsigned char *r = pool_alloc(q);
    memset(r, 3, 48);
    pool_free(q, NULL);

    arena_mark_t m = arena_mark(a);
    for (int i = 0; i < 500; i++) {
        unsigned char *o = pool_alloc(q);
        memset(o, 9, 48);
        if (i % 3 == 0)
            pool_free(q, o);
    }
    CHECK(arena_rewind(a, m) == 0); /* slabs carved after m leave the pool */
    unsigned char *after = pool_alloc(q);
    memset(after, 4, 48);
    pool_stats_t st;
    pool_stats(q, &st);
    CHECK(st.live >= 2);
    pool_destroy(q);
    pool_destroy(p);
    pool_t *own = pool_create(NULL, 100, 0);
    void *x = pool_alloc(own);
    memset(x, 1, 100);
    pool_free(own, x);
    pool_destroy(own);
    arena_destroy(a);
}

/* The memory pool: small, medium and large blocks, calloc, realloc, aligned. */
static void mp_blocks(void)
{
    static const size_t sizes[] = {1, 16, 24, 100, 1000, 8192, 9000, 70000, 300000, 3000000};
    enum { NS = sizeof sizes / sizeof sizes[0] };
    unsigned char *b[NS][20];
    for (int r = 0; r < 4; r++) {
        for (int k = 0; k < NS; k++)
            for (int i = 0; i < 20; i++) {
                b[k][i] = mp_alloc(sizes[k]);
                memset(b[k][i], k + i, sizes[k]);
            }
        for (int k = NS - 1; k >= 0; k--)
            for (int i = (k + r) % 2; i < 20; i += 2) {
                CHECK(b[k][i][sizes[k] - 1] == (unsigned char)(k + i));
                mp_free(b[k][i]);
            }
        for (int k = 0; k < NS; k++)
            for (int i = 1 - (k + r) % 2; i < 20; i += 2)
                mp_free_sized(b[k][i], sizes[k]);
    }
    unsigned char *z = mp_calloc(1000, 3000);
    for (size_t i = 0; i < 3000000; i += 4093)
        CHECK(z[i] == 0);
    mp_free(z);
    unsigned char *s = mp_calloc(10, 10);
    CHECK(s[99] == 0);
    char *g = NULL;
    for (size_t n = 8; n < (size_t)4 << 20; n = n * 3 / 2) {
        g = mp_realloc(g, n);
        memset(g, 'g', n);
    }
    g = mp_realloc(g, 50); /* shrink back to small */
    CHECK(g[49] == 'g');
    mp_free(g);
    void *al = mp_aligned_alloc(4096, 5000);
    memset(al, 1, 5000);
    void *al2 = mp_aligned_alloc(64, 100);
    memset(al2, 1, 100);
    memset(s, 1, mp_usable_size(s));
    mp_free(al2);
    mp_free(al);
    mp_free(s);
    mp_free(NULL);
    mp_trim();
}

/* Arenas per request through the chunk cache, a child per request under a
 * connection arena, and a frame arena over the program's own buffer. */
static void requests(void)
{
    arena_t *conn = arena_create(NULL);
    CHECK(conn != NULL);
    for (int r = 0; r < 200; r++) {
        arena_t *req = arena_create(NULL); /* from the cache after the first */
        arena_opts_t co = {.parent = conn};
        arena_t *child = arena_create(&co);
        CHECK(req && child);
        for (int i = 0; i < 32; i++) {
            size_t n = (size_t)(16 + (i * 13 + r) % 48);
            char *p = arena_alloc(req, n), *q = arena_alloc(child, n);
            memset(p, i, n);
            memset(q, i + 1, n);
            CHECK(p[n - 1] == (char)i && q[0] == (char)(i + 1));
        }
        char *big = arena_alloc(req, 1300);
        memset(big, 7, 1300);
        CHECK(big[1299] == 7);
        if (r % 2)
            arena_destroy(child); /* alone; else its parent ends it */
        arena_destroy(req);
    }
    arena_destroy(conn);
    static _Alignas(16) char buf[64 * 1024];
    arena_opts_t bo = {.buffer = buf, .buffer_size = sizeof buf, .max_bytes = sizeof buf};
    arena_t *frame = arena_create(&bo);
    CHECK(frame != NULL);
    for (int f = 0; f < 50; f++) {
        for (int i = 0; i < 40; i++) {
            char *p = arena_alloc(frame, 1000);
            if (p == NULL)
                break;
            memset(p, f, 1000);
            CHECK(p[999] == (char)f);
        }
        arena_reset(frame);
    }
    arena_destroy(frame);
    arena_trim();
}

int main(void)
{
    frames();
    scopes();
    pools();
    mp_blocks();
    requests();
    if (failed)
        return 1;
    puts("good: ok");
    return 0;
}
