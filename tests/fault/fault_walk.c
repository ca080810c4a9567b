/*
 * fault_walk.c - fault injection: make the k-th OS mapping fail, for
 * k = 0, 1, 2, ... until a realistic workload (arena growth, large and
 * over-aligned blocks, marks and deferred callbacks, pool slabs, rewinds,
 * resets, guard pages, private-arena pools, a capped arena holding retained
 * spares) runs without reaching the armed call.  At every step that fails the
 * call must return NULL / -1 with errno ENOMEM and leave every arena_stats
 * field as it was (the one documented exception: spares given back to make
 * room under max_bytes before a refused mapping stay given back, so there
 * mapped and chunks may only fall); every block handed out before keeps
 * its pattern; the same call succeeds when retried; deferred callbacks run
 * exactly once; and once everything is destroyed and the chunk cache trimmed
 * no mapped byte is left (mmap/munmap are counted through the linker's
 * --wrap).  Each run starts with an empty chunk cache, so the walk is the
 * same every time; the walk is made with the cache off and on (see main).  A tree of child arenas (one over
 * a caller's buffer) is walked too.
 *
 * Plain C (no Criterion): built by mk/harden.mk against build/fault/, a
 * library compiled with -DARENAPOOL_FAULT_INJECT and ASan/UBSan (+ LSan).
 */
#include "arena.h"
#include "mp.h"
#include "pool.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

long ap__os_fail_nth_map(long k); /* ap_os.h: the test seam */

/* ---- mmap accounting (link with -Wl,--wrap=mmap,--wrap=munmap) ---- */

void *__real_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off);
int __real_munmap(void *addr, size_t len);
static long long live_mapped, peak_mapped;

void *__wrap_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
    void *p = __real_mmap(addr, len, prot, flags, fd, off);
    if (p != MAP_FAILED)
        live_mapped += (long long)len;
    if (live_mapped > peak_mapped)
        peak_mapped = live_mapped;
    return p;
}

int __wrap_munmap(void *addr, size_t len)
{
    int rc = __real_munmap(addr, len);
    if (rc == 0)
        live_mapped -= (long long)len;
    return rc;
}

/* ---- Checks ---- */

static long cur_k;
static long visible_failures;

static _Noreturn void die(int line, const char *what)
{
    fprintf(stderr, "fault_walk: k=%ld line %d: %s (errno %d)\n", cur_k, line, what, errno);
    abort();
}
#define REQUIRE(c)                                                                             \
    do {                                                                                       \
        if (!(c))                                                                              \
            die(__LINE__, #c);                                                                 \
    } while (0)

static void fill(void *p, size_t n, unsigned seed)
{
    unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        b[i] = (unsigned char)(seed * 131u + i * 7u + (i >> 9));
}

static int intact(const void *p, size_t n, unsigned seed)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        if (b[i] != (unsigned char)(seed * 131u + i * 7u + (i >> 9)))
            return 0;
    return 1;
}

/* ---- The model: every live block with its pattern ---- */

enum { MAX_BLOCKS = 8192, MAX_DEFERS = 64 };

typedef struct {
    char *p;
    size_t n;
    unsigned seed;
} block_t;

static block_t blocks[MAX_BLOCKS];
static size_t nblocks;
static unsigned next_seed;
static int defer_runs[MAX_DEFERS];
static size_t ndefers;

static void verify_all(void)
{
    for (size_t i = 0; i < nblocks; i++)
        if (!intact(blocks[i].p, blocks[i].n, blocks[i].seed))
            die(__LINE__, "a block allocated before lost its pattern");
}

static void add_block(void *p, size_t n, size_t align)
{
    REQUIRE(p != NULL);
    REQUIRE(((uintptr_t)p & (align - 1)) == 0);
    REQUIRE(nblocks < MAX_BLOCKS);
    block_t b = {p, n, next_seed++};
    fill(b.p, b.n, b.seed);
    blocks[nblocks++] = b;
}

static void forget_blocks_from(size_t n) { nblocks = n; }

static void ran(void *arg) { defer_runs[(size_t)(uintptr_t)arg]++; }

/* Set while a capped arena with spares is walked: arena.h's one exception. */
static int spares_may_go;

static int same(arena_stats_t x, arena_stats_t y)
{
    if (spares_may_go)
        return x.used == y.used && x.peak == y.peak && x.mmaps == y.mmaps &&
               y.mapped <= x.mapped && y.chunks <= x.chunks;
    return x.used == y.used && x.peak == y.peak && x.mapped == y.mapped &&
           x.chunks == y.chunks && x.mmaps == y.mmaps;
}

static int x_same_exactly(arena_stats_t x, arena_stats_t y)
{
    return x.used == y.used && x.peak == y.peak && x.mapped == y.mapped &&
           x.chunks == y.chunks && x.mmaps == y.mmaps;
}

static arena_stats_t stats(const arena_t *a)
{
    arena_stats_t s;
    arena_stats(a, &s);
    return s;
}

/* A failed call: ENOMEM, arena unchanged (when there is one), data intact. */
static void failed(const arena_t *a, arena_stats_t before, int line)
{
    if (errno != ENOMEM)
        die(line, "a failed call did not set errno = ENOMEM");
    if (a && !same(before, stats(a)))
        die(line, "a failed call changed the arena");
    verify_all();
    visible_failures++;
}

/* Run EXPR (an allocation in arena A, or NULL for none); on failure check
 * the failure and retry once, which must succeed. */
#define ALLOC(A, OUT, EXPR)                                                                    \
    do {                                                                                       \
        arena_stats_t b_ = (A) ? stats(A) : (arena_stats_t){0};                                \
        errno = 0;                                                                             \
        (OUT) = (EXPR);                                                                        \
        if ((OUT) == NULL) {                                                                   \
            failed((A), b_, __LINE__);                                                         \
            (OUT) = (EXPR);                                                                    \
            if ((OUT) == NULL)                                                                 \
                die(__LINE__, "retry after an injected failure failed: " #EXPR);               \
        }                                                                                      \
    } while (0)

static void defer(arena_t *a)
{
    REQUIRE(ndefers < MAX_DEFERS);
    arena_stats_t b = stats(a);
    errno = 0;
    if (arena_defer(a, ran, (void *)(uintptr_t)ndefers) != 0) {
        failed(a, b, __LINE__);
        REQUIRE(arena_defer(a, ran, (void *)(uintptr_t)ndefers) == 0);
    }
    ndefers++;
}

typedef struct {
    arena_mark_t m;
    size_t nblocks, ndefers;
} scope_t;

static scope_t mark(arena_t *a)
{
    arena_stats_t b = stats(a);
    errno = 0;
    arena_mark_t m = arena_mark(a);
    if (stats(a).used == b.used && errno == ENOMEM) {
        /* The record could not be allocated: an empty mark, refused later. */
        failed(a, b, __LINE__);
        errno = 0;
        REQUIRE(arena_rewind(a, m) == -1 && errno == ENOMEM);
        errno = 0;
        m = arena_mark(a);
        REQUIRE(errno == 0);
    }
    return (scope_t){m, nblocks, ndefers};
}

static void rewind_to(arena_t *a, scope_t s)
{
    int before[MAX_DEFERS];
    memcpy(before, defer_runs, sizeof before);
    REQUIRE(arena_rewind(a, s.m) == 0);
    /* Callbacks of the scope ran exactly once; older ones were left alone. */
    for (size_t i = 0; i < ndefers; i++)
        REQUIRE(i >= s.ndefers ? defer_runs[i] == 1 : defer_runs[i] == before[i]);
    forget_blocks_from(s.nblocks);
    verify_all();
}

/* ---- The workload ---- */

static void arena_phase(arena_t *a)
{
    void *p;
    /* Growth over several chunks, in one scope. */
    scope_t outer = mark(a);
    defer(a);
    for (size_t i = 0; i < 300; i++) {
        size_t n = 1 + (i * 997) % 3000;
        ALLOC(a, p, arena_alloc(a, n));
        add_block(p, n, ARENA_ALIGN);
    }
    /* Large blocks get chunks of their own; over-aligned ones too. */
    ALLOC(a, p, arena_alloc(a, (size_t)1 << 20));
    add_block(p, (size_t)1 << 20, ARENA_ALIGN);
    ALLOC(a, p, arena_alloc_aligned(a, 5000, 65536));
    add_block(p, 5000, 65536);
    ALLOC(a, p, arena_calloc(a, 3000, 1000));
    for (size_t i = 0; i < 3000 * 1000; i += 4096)
        REQUIRE(((char *)p)[i] == 0);
    add_block(p, 3000 * 1000, ARENA_ALIGN);

    scope_t inner = mark(a);
    defer(a);
    char *s;
    ALLOC(a, s, arena_strdup(a, "fault injection"));
    REQUIRE(strcmp(s, "fault injection") == 0);
    ALLOC(a, s, arena_sprintf(a, "%0*d", 150000, 7));
    REQUIRE(strlen(s) == 150000 && s[149999] == '7');
    add_block(s, 150001, 1);
    /* Grow the newest block until it must move to a new chunk. */
    size_t n = 100;
    ALLOC(a, p, arena_alloc(a, n));
    add_block(p, n, ARENA_ALIGN);
    for (size_t want = 1000; want <= 400000; want *= 4) {
        block_t *b = &blocks[nblocks - 1];
        void *q;
        ALLOC(a, q, arena_realloc(a, b->p, b->n, want));
        REQUIRE(intact(q, b->n, b->seed));
        nblocks--;
        add_block(q, want, ARENA_ALIGN);
    }
    defer(a);
    rewind_to(a, inner);
    rewind_to(a, inner); /* twice is fine */
    ALLOC(a, p, arena_alloc(a, 200000));
    add_block(p, 200000, ARENA_ALIGN);
    rewind_to(a, outer);
    /* Reset coalesces the retained chunks into one (a mapping of its own). */
    arena_reset(a);
    for (size_t i = 0; i < ndefers; i++)
        REQUIRE(defer_runs[i] == 1);
    nblocks = 0;
    ALLOC(a, p, arena_alloc(a, 3u << 20));
    add_block(p, 3u << 20, ARENA_ALIGN);
}

static void pool_phase(arena_t *a)
{
    enum { N = 3000 };
    static void *objs[N];
    pool_t *p;
    scope_t s = mark(a);
    ALLOC(a, p, pool_create(a, 48, 0));
    for (size_t round = 0; round < 2; round++) {
        for (size_t i = 0; i < N; i++) {
            pool_stats_t b, c;
            pool_stats(p, &b);
            errno = 0;
            if ((objs[i] = pool_alloc(p)) == NULL) {
                REQUIRE(errno == ENOMEM);
                pool_stats(p, &c);
                REQUIRE(c.live == b.live && c.capacity == b.capacity);
                for (size_t j = 0; j < i; j++)
                    REQUIRE(intact(objs[j], 48, (unsigned)j));
                visible_failures++;
                REQUIRE((objs[i] = pool_alloc(p)) != NULL);
            }
            fill(objs[i], 48, (unsigned)i);
        }
        for (size_t i = 0; i < N; i += 2)
            pool_free(p, objs[i]);
        for (size_t i = 1; i < N; i += 2)
            REQUIRE(intact(objs[i], 48, (unsigned)i));
        for (size_t i = 1; i < N; i += 2)
            pool_free(p, objs[i]);
        if (round == 0)
            pool_reset(p);
    }
    /* The pool ends with the scope that created it. */
    rewind_to(a, s);

    /* A pool with a private arena: creating it maps. */
    ALLOC(NULL, p, pool_create(NULL, 200, 64));
    for (size_t i = 0; i < 500; i++) {
        errno = 0;
        if ((objs[i] = pool_alloc(p)) == NULL) {
            REQUIRE(errno == ENOMEM);
            visible_failures++;
            REQUIRE((objs[i] = pool_alloc(p)) != NULL);
        }
        REQUIRE(((uintptr_t)objs[i] & 63) == 0);
        fill(objs[i], 200, (unsigned)i);
    }
    for (size_t i = 0; i < 500; i++)
        REQUIRE(intact(objs[i], 200, (unsigned)i));
    pool_destroy(p);
}

static void guard_phase(void)
{
    arena_opts_t o = {.chunk_size = 8192, .retain_bytes = ARENA_RETAIN_NONE, .flags = ARENA_F_GUARD};
    arena_t *a;
    ALLOC(NULL, a, arena_create(&o));
    size_t base = nblocks;
    void *p;
    scope_t s = mark(a);
    for (size_t i = 0; i < 40; i++) {
        ALLOC(a, p, arena_alloc(a, 3000));
        add_block(p, 3000, ARENA_ALIGN);
    }
    rewind_to(a, s);
    ALLOC(a, p, arena_alloc(a, 100000));
    add_block(p, 100000, ARENA_ALIGN);
    verify_all();
    arena_destroy(a);
    forget_blocks_from(base);
}

/* A capped arena that holds retained spare chunks: requests that fit only
 * once the spares are given back, requests that cannot fit at all (which must
 * fail without touching the spares), a pool whose slabs come and go. */
static void capped_phase(void)
{
    arena_opts_t o = {.chunk_size = 16384, .max_bytes = 256 * 1024};
    arena_t *a;
    ALLOC(NULL, a, arena_create(&o));
    size_t base = nblocks;
    void *p;
    spares_may_go = 1;
    for (int round = 0; round < 3; round++) {
        scope_t s = mark(a);
        for (size_t i = 0; i < 24; i++) {
            ALLOC(a, p, arena_alloc(a, 1500 + i * 250));
            add_block(p, 1500 + i * 250, ARENA_ALIGN);
        }
        rewind_to(a, s); /* the chunks become spares */
        arena_stats_t b = stats(a);
        errno = 0;
        REQUIRE(arena_alloc(a, 300 * 1024) == NULL && errno == ENOMEM);
        REQUIRE(x_same_exactly(b, stats(a)));
        ALLOC(a, p, arena_alloc(a, 150 * 1024)); /* fits once spares go */
        add_block(p, 150 * 1024, ARENA_ALIGN);
        pool_t *pl;
        scope_t ps = mark(a);
        ALLOC(a, pl, pool_create(a, 40, 0));
        for (size_t i = 0; i < 400; i++) {
            arena_stats_t ab = stats(a);
            errno = 0;
            if ((p = pool_alloc(pl)) == NULL) {
                failed(a, ab, __LINE__);
                REQUIRE((p = pool_alloc(pl)) != NULL);
            }
            fill(p, 40, 7);
        }
        rewind_to(a, ps);
        rewind_to(a, s);
    }
    spares_may_go = 0;
    verify_all();
    arena_destroy(a);
    forget_blocks_from(base);
}

/* Child arenas three deep, the middle one over a caller's buffer, with
 * callbacks and growth at every level; a child destroyed alone; the root's
 * destroy ends the rest. */
static void tree_phase(void)
{
    static _Alignas(16) char buf[8192];
    size_t base = nblocks, d0 = ndefers;
    void *p;
    arena_t *root, *kid, *grandkid, *alone;
    ALLOC(NULL, root, arena_create(&(arena_opts_t){.chunk_size = 8192}));
    defer(root);
    ALLOC(root, kid, arena_create(&(arena_opts_t){.parent = root, .buffer = buf, .buffer_size = sizeof buf}));
    defer(kid);
    for (size_t i = 0; i < 30; i++) {
        ALLOC(kid, p, arena_alloc(kid, 1000 + i * 40));
        add_block(p, 1000 + i * 40, ARENA_ALIGN);
    }
    ALLOC(kid, grandkid, arena_create(&(arena_opts_t){.parent = kid, .chunk_size = 4096}));
    defer(grandkid);
    for (size_t i = 0; i < 30; i++) {
        ALLOC(grandkid, p, arena_alloc(grandkid, 2000));
        add_block(p, 2000, ARENA_ALIGN);
        ALLOC(root, p, arena_alloc(root, 700));
        add_block(p, 700, ARENA_ALIGN);
    }
    ALLOC(root, alone, arena_create(&(arena_opts_t){.parent = root}));
    defer(alone);
    arena_destroy(alone);
    REQUIRE(defer_runs[ndefers - 1] == 1);
    verify_all();
    arena_destroy(root);
    for (size_t i = d0; i < ndefers; i++)
        REQUIRE(defer_runs[i] == 1);
    forget_blocks_from(base);
}

/* The memory pool: small blocks (spans from the page heap), large blocks
 * (mappings of their own), an over-aligned block, calloc and a realloc that
 * moves from a size class to a large mapping.  It keeps memory between runs
 * (page heap, caches), so its leak check is its own in_use counter. */
static void mp_phase(void)
{
    mp_stats_t s0, s1;
    mp_stats(&s0);
    void *p;
    for (size_t i = 0; i < 200; i++) {
        size_t n = 16 + (i * 331) % 6000;
        ALLOC(NULL, p, mp_alloc(n));
        add_block(p, n, 16);
    }
    size_t large[] = {(size_t)1 << 20, (size_t)5 << 20, 300000};
    for (size_t i = 0; i < 3; i++) {
        ALLOC(NULL, p, mp_alloc(large[i]));
        add_block(p, large[i], 16);
    }
    ALLOC(NULL, p, mp_aligned_alloc(65536, 100000));
    add_block(p, 100000, 65536);
    ALLOC(NULL, p, mp_calloc(1000, 1000));
    for (size_t i = 0; i < 1000 * 1000; i += 4096)
        REQUIRE(((char *)p)[i] == 0);
    add_block(p, 1000 * 1000, 16);
    size_t want[] = {5000, 70000, 2u << 20};
    for (size_t i = 0; i < 3; i++) {
        block_t *b = &blocks[nblocks - 1];
        ALLOC(NULL, p, mp_realloc(b->p, want[i]));
        REQUIRE(intact(p, b->n < want[i] ? b->n : want[i], b->seed));
        nblocks--;
        add_block(p, want[i], 16);
    }
    verify_all();
    for (size_t i = 0; i < nblocks; i++)
        mp_free(blocks[i].p);
    nblocks = 0;
    mp_thread_flush();
    mp_stats(&s1);
    REQUIRE(s1.in_use == s0.in_use);
    mp_trim();
}

/* One run of the workload with the k-th mapping armed (k < 0: none).
 * Returns the number of mappings the run made. */
static long run(long k)
{
    cur_k = k;
    nblocks = 0;
    ndefers = 0;
    memset(defer_runs, 0, sizeof defer_runs);
    arena_trim();
    ap__os_fail_nth_map(k);
    mp_phase();
    long long mapped_before = live_mapped;

    arena_t *a;
    ALLOC(NULL, a, arena_create(NULL));
    arena_phase(a);
    size_t keep = nblocks; /* the 3 MiB block after the reset */
    pool_phase(a);
    REQUIRE(nblocks == keep);
    guard_phase();
    capped_phase();
    tree_phase();
    verify_all();
    size_t before = ndefers;
    arena_destroy(a);
    for (size_t i = 0; i < before; i++)
        REQUIRE(defer_runs[i] == 1);

    long made = ap__os_fail_nth_map(-1);
    arena_trim(); /* cached chunks are idle, not leaked */
    if (live_mapped != mapped_before)
        die(__LINE__, "mapped bytes leaked");
    return made;
}

/* Why two walks: with the chunk cache off every injected failure reaches the
 * caller, so each failure promise is checked; with it on (the default bound),
 * a failure while chunks are cached takes the path that empties the cache and
 * maps again. */
int main(void)
{
    static const struct {
        const char *name;
        size_t limit;
    } modes[] = {{"chunk cache off", 0}, {"chunk cache on", (size_t)8 << 20}};
    for (size_t m = 0; m < sizeof modes / sizeof modes[0]; m++) {
        arena_set_cache_limit(modes[m].limit);
        visible_failures = 0;
        long total = run(-1);
        long k = 0;
        for (;; k++) {
            long made = run(k);
            if (made <= k)
                break; /* the armed call was never reached: every point walked */
        }
        printf("fault_walk (%s): %ld fault points walked (%ld mappings per clean run), "
               "%ld visible failures checked, peak %lld KiB mapped, 0 leaks\n",
               modes[m].name, k, total, visible_failures, peak_mapped / 1024);
    }
    return 0;
}
