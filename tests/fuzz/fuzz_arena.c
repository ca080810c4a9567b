/*
 * fuzz_arena.c - libFuzzer harness for arena.h against a shadow model.
 *
 * The input picks the arena's options (chunk size, cap, retention, guard) and
 * then a sequence of operations: alloc, aligned alloc, calloc, realloc (plain
 * and aligned), strdup, sprintf, mark, rewind to any earlier mark, reset,
 * defer and alloc_deferred, child arenas (created, destroyed alone), and the
 * arena over a caller's buffer (with max_bytes = buffer_size: never a mapping).
 * Each child carries one callback, so the model checks that it ends exactly
 * where a callback registered at its creation would.  After every step: each live block keeps its
 * pattern, no two overlap, each is aligned as asked (a moved block keeps its
 * alignment), a failure is ENOMEM and leaves every arena_stats field as it was,
 * peak is at least every used seen, each deferred callback has run exactly once
 * iff its scope ended (newest first), and stale marks are refused.
 */
#include "arena.h"
#include "fuzz_common.h"

#include <errno.h>

enum { MAX_BLOCKS = 256, MAX_MARKS = 32, MAX_DEFERS = 64 };

/* Bytes a child's record takes in its parent (48 on LP64, arena.h): a pointer,
 * then a deferred callback (three pointers), each rounded to ARENA_ALIGN. */
#define ROUND_ALIGN(x) (((x) + ARENA_ALIGN - 1) / ARENA_ALIGN * ARENA_ALIGN)
#define CHILD_RECORD ROUND_ALIGN(ROUND_ALIGN(sizeof(void *)) + 3 * sizeof(void *))

typedef struct {
    char *p;
    size_t n;
    uint32_t seed;
} block_t;

typedef struct {
    arena_mark_t m;
    uint32_t seed; /* blocks with a seed >= this were allocated after it */
    size_t ndefers;
    size_t used; /* stats.used right after the mark */
    int live;    /* 0 once stale */
} mark_t;

static block_t blocks[MAX_BLOCKS];
static size_t nblocks;
static mark_t marks[MAX_MARKS];
static size_t nmarks;
static int runs[MAX_DEFERS];
static size_t ndefers;
static size_t run_log[MAX_DEFERS];
static arena_t *children[MAX_DEFERS]; /* the child whose callback is index i, or NULL */
static int gone[MAX_DEFERS];          /* 1: ran early (its child was destroyed alone) */
static _Alignas(4096) char fbuf[256 * 1024];
static size_t nrun_log;
static uint32_t seed;
static arena_opts_t opts;

static size_t max_used; /* the largest stats.used seen: peak may not be less */

/* arg is the callback's index + 1 (arg NULL would mean "the block" to
 * arena_alloc_deferred). */
static void on_defer(void *arg)
{
    size_t i = (size_t)(uintptr_t)arg - 1;
    runs[i]++;
    run_log[nrun_log++] = i;
}

static arena_stats_t stats(arena_t *a)
{
    arena_stats_t s;
    arena_stats(a, &s);
    return s;
}

static void check_stats(arena_t *a)
{
    arena_stats_t s = stats(a);
    size_t sum = 0;
    for (size_t i = 0; i < nblocks; i++)
        sum += blocks[i].n;
    FUZZ_CHECK(s.used >= sum);
    if (s.used > max_used)
        max_used = s.used;
    FUZZ_CHECK(s.peak >= max_used);
    /* Chunks may come from the cache shared by every arena: mmaps counts only
     * real mappings, so it may be below chunks. */
    FUZZ_CHECK(s.chunks >= 1 && s.mapped > 0);
    if (opts.max_bytes)
        FUZZ_CHECK(s.mapped <= opts.max_bytes);
    if (opts.buffer && opts.max_bytes == opts.buffer_size)
        FUZZ_CHECK(s.mmaps == 0 && s.chunks == 1);
}

FUZZ_MODEL static void check_blocks(void)
{
    for (size_t i = 0; i < nblocks; i++)
        FUZZ_CHECK(intact(blocks[i].p, blocks[i].n, blocks[i].seed));
}

FUZZ_MODEL static void add(char *p, size_t n, size_t align)
{
    FUZZ_CHECK(((uintptr_t)p & (align - 1)) == 0);
    for (size_t i = 0; i < nblocks; i++)
        FUZZ_CHECK(!overlaps(p, n, blocks[i].p, blocks[i].n));
    block_t b = {p, n, seed++};
    fill(p, n, b.seed);
    if (nblocks < MAX_BLOCKS)
        blocks[nblocks++] = b;
}

/* A NULL result: ENOMEM (or EINVAL when asked), and nothing changed: every
 * stats field, the spares included (the fuzzer never makes the OS refuse). */
static void check_failure(arena_t *a, arena_stats_t before, int expect)
{
    FUZZ_CHECK(errno == expect);
    arena_stats_t s = stats(a);
    FUZZ_CHECK(s.used == before.used);
    FUZZ_CHECK(s.peak == before.peak);
    FUZZ_CHECK(s.mapped == before.mapped);
    FUZZ_CHECK(s.chunks == before.chunks);
    FUZZ_CHECK(s.mmaps == before.mmaps);
}

/* The alignment arena_realloc keeps for a block at p (arena.h). */
static size_t kept_align(const void *p)
{
    uintptr_t low = (uintptr_t)p & -(uintptr_t)p;
    if (low > ARENA_REALLOC_KEEP_ALIGN)
        low = ARENA_REALLOC_KEEP_ALIGN;
    return low < ARENA_ALIGN ? ARENA_ALIGN : (size_t)low;
}

static void result(arena_t *a, char *p, size_t n, size_t align, arena_stats_t before)
{
    if (p)
        add(p, n, align);
    else
        check_failure(a, before, ENOMEM);
}

/* A scope ended at `from` (nrun_log was zeroed just before): exactly the
 * callbacks registered at or after `from` ran, once each, newest first. */
static void check_defers_ended(size_t from)
{
    size_t k = 0;
    for (size_t i = ndefers; i-- > from;) {
        if (gone[i])
            continue; /* a child destroyed alone: ran then, not again */
        FUZZ_CHECK(k < nrun_log && run_log[k] == i);
        k++;
    }
    FUZZ_CHECK(k == nrun_log);
    for (size_t i = 0; i < ndefers; i++)
        FUZZ_CHECK(runs[i] == (i >= from || gone[i]));
}

/* Callback index ndefers is about to be registered. */
static void new_defer(arena_t *child)
{
    runs[ndefers] = 0;
    gone[ndefers] = 0;
    children[ndefers++] = child;
}

static void do_rewind(arena_t *a, size_t i)
{
    mark_t *m = &marks[i];
    arena_stats_t before = stats(a);
    nrun_log = 0;
    errno = 0;
    int rc = arena_rewind(a, m->m);
    if (!m->live) {
        /* Stale (or never recorded): refused, nothing changed, nothing ran. */
        FUZZ_CHECK(rc == -1 && (errno == EINVAL || errno == ENOMEM));
        FUZZ_CHECK(nrun_log == 0);
        arena_stats_t s = stats(a);
        FUZZ_CHECK(s.used == before.used && s.mapped == before.mapped &&
                   s.chunks == before.chunks && s.mmaps == before.mmaps);
        return;
    }
    FUZZ_CHECK(rc == 0);
    FUZZ_CHECK(stats(a).used == m->used);
    check_defers_ended(m->ndefers);
    size_t k = 0;
    for (size_t j = 0; j < nblocks; j++)
        if (blocks[j].seed < m->seed)
            blocks[k++] = blocks[j];
    nblocks = k;
    ndefers = m->ndefers;
    /* Marks taken after this one are stale, except those sharing its record. */
    for (size_t j = i + 1; j < nmarks; j++)
        if (marks[j].m.id != m->m.id)
            marks[j].live = 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    input_t in = {data, size};
    nblocks = nmarks = ndefers = nrun_log = max_used = 0;
    memset(runs, 0, sizeof runs);
    seed = 1;
    uint8_t o = in_u8(&in);
    opts = (arena_opts_t){0};
    opts.chunk_size = (size_t)4096 << (o & 3);
    if (o & 4)
        opts.max_bytes = (size_t)(16 + in_u8(&in)) * 4096;
    if (o & 8)
        opts.retain_bytes = (o & 16) ? ARENA_RETAIN_NONE : (size_t)in_u8(&in) * 4096 + 1;
    if (o & 32)
        opts.flags = ARENA_F_GUARD;
    if (o & 64) {
        opts.buffer = fbuf;
        opts.buffer_size = ARENA_BUFFER_MIN + in_u16(&in) * 3u % (sizeof fbuf - ARENA_BUFFER_MIN);
        if (o & 128)
            opts.max_bytes = opts.buffer_size;
    }
    arena_t *a = arena_create(&opts);
    FUZZ_CHECK(a != NULL);

    while (in.n) {
        uint8_t op = in_u8(&in) % 16;
        arena_stats_t before = stats(a);
        errno = 0;
        switch (op) {
        case 0:
        case 1: {
            size_t n = in_size(&in);
            result(a, arena_alloc(a, n), n, ARENA_ALIGN, before);
            break;
        }
        case 2: {
            size_t n = in_size(&in);
            size_t al = (size_t)1 << (in_u8(&in) % 18);
            result(a, arena_alloc_aligned(a, n, al), n, al > ARENA_ALIGN ? al : ARENA_ALIGN,
                   before);
            break;
        }
        case 3: {
            size_t n = in_u8(&in) % 64, m = in_size(&in);
            char *p = arena_calloc(a, n, m);
            if (p) {
                for (size_t i = 0; i < n * m; i += 97)
                    FUZZ_CHECK(p[i] == 0);
                add(p, n * m, ARENA_ALIGN);
            } else {
                check_failure(a, before, ENOMEM);
            }
            break;
        }
        case 4: { /* realloc a block, usually the newest */
            if (nblocks == 0)
                break;
            size_t i = in_u8(&in) & 1 ? nblocks - 1 : in_u8(&in) % nblocks;
            size_t n = in_size(&in);
            block_t b = blocks[i];
            size_t al = kept_align(b.p);
            char *q = arena_realloc(a, b.p, b.n, n);
            if (q == NULL) {
                check_failure(a, before, ENOMEM);
                break;
            }
            FUZZ_CHECK(intact(q, b.n < n ? b.n : n, b.seed));
            blocks[i] = blocks[--nblocks];
            add(q, n, q == b.p ? ARENA_ALIGN : al);
            break;
        }
        case 5: {
            char buf[64];
            size_t n = in_u8(&in) % sizeof buf;
            for (size_t i = 0; i < n; i++)
                buf[i] = (char)(1 + in_u8(&in) % 255);
            buf[n] = 0;
            char *s = (in_u8(&in) & 1) ? arena_strdup(a, buf) : arena_sprintf(a, "<%s>%zu", buf, n);
            if (s == NULL) {
                check_failure(a, before, ENOMEM);
                break;
            }
            FUZZ_CHECK(strstr(s, buf) != NULL);
            add(s, strlen(s) + 1, 1);
            break;
        }
        case 6:
        case 7: {
            if (nmarks == MAX_MARKS) { /* forget the stale ones */
                size_t k = 0;
                for (size_t j = 0; j < nmarks; j++)
                    if (marks[j].live)
                        marks[k++] = marks[j];
                nmarks = k;
                if (nmarks == MAX_MARKS)
                    break;
            }
            arena_mark_t m = arena_mark(a);
            int recorded = !(errno == ENOMEM && stats(a).used == before.used);
            FUZZ_CHECK(m.arena == a);
            marks[nmarks++] = (mark_t){m, seed, ndefers, stats(a).used, recorded};
            break;
        }
        case 8:
            if (nmarks)
                do_rewind(a, in_u8(&in) % nmarks);
            break;
        case 9:
            if (in_u8(&in) % 4)
                break; /* resets are rarer */
            nrun_log = 0;
            arena_reset(a);
            check_defers_ended(0);
            FUZZ_CHECK(stats(a).used == 0);
            nblocks = ndefers = 0;
            for (size_t j = 0; j < nmarks; j++)
                marks[j].live = 0;
            break;
        case 10:
            if (ndefers == MAX_DEFERS)
                break;
            if (arena_defer(a, on_defer, (void *)(uintptr_t)(ndefers + 1)) == 0) {
                new_defer(NULL);
            } else {
                check_failure(a, before, ENOMEM);
            }
            break;
        case 11:
            check_blocks();
            break;
        case 12: { /* a block and its callback in one call: both or neither */
            if (ndefers == MAX_DEFERS)
                break;
            size_t n = in_size(&in);
            size_t al = (size_t)1 << (in_u8(&in) % 17);
            char *p = arena_alloc_deferred(a, n, al, on_defer, (void *)(uintptr_t)(ndefers + 1));
            if (p) {
                new_defer(NULL);
                add(p, n, al > ARENA_ALIGN ? al : ARENA_ALIGN);
            } else {
                check_failure(a, before, ENOMEM);
            }
            break;
        }
        case 13: { /* realloc to an explicit alignment */
            if (nblocks == 0)
                break;
            size_t i = in_u8(&in) % nblocks;
            size_t n = in_size(&in);
            size_t al = (size_t)1 << (in_u8(&in) % 17);
            block_t b = blocks[i];
            char *q = arena_realloc_aligned(a, b.p, b.n, n, al);
            if (q == NULL) {
                check_failure(a, before, ENOMEM);
                break;
            }
            FUZZ_CHECK(intact(q, b.n < n ? b.n : n, b.seed));
            blocks[i] = blocks[--nblocks];
            add(q, n, al > ARENA_ALIGN ? al : ARENA_ALIGN);
            break;
        }
        case 14: { /* a child with one callback and a block of its own */
            if (ndefers == MAX_DEFERS)
                break;
            arena_t *c = arena_create(&(arena_opts_t){.parent = a, .chunk_size = 4096});
            if (c == NULL) {
                check_failure(a, before, ENOMEM);
                break;
            }
            size_t n = in_size(&in) % 100000;
            char *p = arena_alloc(c, n);
            FUZZ_CHECK(p != NULL);
            memset(p, 0xC5, n);
            FUZZ_CHECK(arena_defer(c, on_defer, (void *)(uintptr_t)(ndefers + 1)) == 0);
            new_defer(c);
            break;
        }
        case 15: { /* destroy a child alone: its callback runs now, and only now */
            size_t live[MAX_DEFERS], nlive = 0;
            for (size_t i = 0; i < ndefers; i++)
                if (children[i] && !gone[i])
                    live[nlive++] = i;
            if (nlive == 0)
                break;
            size_t i = live[in_u8(&in) % nlive];
            nrun_log = 0;
            arena_destroy(children[i]);
            FUZZ_CHECK(nrun_log == 1 && run_log[0] == i && runs[i] == 1);
            gone[i] = 1;
            size_t used = stats(a).used;
            if (used == before.used)
                break; /* something newer lies above its record: it stays, inert */
            /* Its record was the parent's newest allocation and was given back:
             * its callback was the newest pending one, and the parent's list
             * no longer holds it.  Why pop it from the model too: a mark taken
             * now shares the record of an older mark at the same position, so
             * it must end the same callbacks; index i is registered anew. */
            FUZZ_CHECK(before.used - used == CHILD_RECORD && i == ndefers - 1);
            ndefers--;
            break;
        }
        }
        check_stats(a);
    }
    check_blocks();
    nrun_log = 0;
    arena_destroy(a);
    check_defers_ended(0);
    return 0;
}
