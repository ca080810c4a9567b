/*
 * fuzz_pool.c - libFuzzer harness for pool.h against a shadow model.
 *
 * Up to three pools (sizes and alignments from the input) share one arena
 * with plain arena blocks; operations: alloc, calloc, free (any live object,
 * any order), pool_reset, arena mark, arena rewind (under live pools, so newer
 * slabs and newer pools go) and owns/stats queries.  After every step: live
 * objects keep their patterns, nothing overlaps, alignment holds (as asked, and
 * as pool_obj_align says), live counts agree with pool_stats, objects from
 * before a mark survive its rewind, and a failed pool_create / pool_alloc /
 * pool_calloc leaves every arena_stats field as it was.
 */
#include "arena.h"
#include "fuzz_common.h"
#include "pool.h"

#include <errno.h>

enum { MAX_OBJS = 512, MAX_POOLS = 3, MAX_MARKS = 16 };

typedef struct {
    char *p;
    size_t n;
    uint32_t seed;
    int pool;   /* -1: an arena block */
    size_t gen; /* allocation number, to tell old from new at a rewind */
} obj_t;

typedef struct {
    pool_t *p;
    size_t size, align, live;
    size_t born; /* allocation number when created */
} mpool_t;

static obj_t objs[MAX_OBJS];
static arena_stats_t before;

static arena_stats_t stats(const arena_t *a)
{
    arena_stats_t s;
    arena_stats(a, &s);
    return s;
}

static void check_unchanged(const arena_t *a)
{
    arena_stats_t s = stats(a);
    FUZZ_CHECK(s.used == before.used && s.peak == before.peak && s.mapped == before.mapped &&
               s.chunks == before.chunks && s.mmaps == before.mmaps);
}
static size_t nobjs;
static mpool_t pools[MAX_POOLS];
static size_t gen;
static uint32_t seed;

FUZZ_MODEL static void check_all(void)
{
    for (size_t i = 0; i < nobjs; i++)
        FUZZ_CHECK(intact(objs[i].p, objs[i].n, objs[i].seed));
    for (int k = 0; k < MAX_POOLS; k++) {
        if (!pools[k].p)
            continue;
        pool_stats_t s;
        pool_stats(pools[k].p, &s);
        FUZZ_CHECK(s.live == pools[k].live);
        FUZZ_CHECK(s.capacity >= s.live && s.obj_size >= pools[k].size);
    }
}

FUZZ_MODEL static void add(char *p, size_t n, size_t align, int pool)
{
    FUZZ_CHECK(((uintptr_t)p & (align - 1)) == 0);
    for (size_t i = 0; i < nobjs; i++)
        FUZZ_CHECK(!overlaps(p, n, objs[i].p, objs[i].n));
    obj_t o = {p, n, seed++, pool, gen++};
    fill(p, n, o.seed);
    objs[nobjs++] = o;
    if (pool >= 0)
        pools[pool].live++;
}

static void drop(size_t i)
{
    if (objs[i].pool >= 0)
        pools[objs[i].pool].live--;
    objs[i] = objs[--nobjs];
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    input_t in = {data, size};
    nobjs = 0;
    gen = 1;
    seed = 1;
    memset(pools, 0, sizeof pools);
    arena_opts_t o = {.chunk_size = 4096, .max_bytes = (in_u8(&in) & 1) ? 512 * 1024 : 0};
    arena_t *a = arena_create(&o);
    FUZZ_CHECK(a != NULL);
    arena_mark_t marks[MAX_MARKS];
    size_t mark_gen[MAX_MARKS];
    size_t nmarks = 0;

    while (in.n) {
        uint8_t op = in_u8(&in) % 10;
        int k = in_u8(&in) % MAX_POOLS;
        mpool_t *mp = &pools[k];
        errno = 0;
        before = stats(a);
        switch (op) {
        case 0: /* (re)create pool k; the old one is simply abandoned */
            if (mp->p == NULL || in_u8(&in) < 16) {
                size_t sz = 1 + in_u8(&in) % 200;
                size_t al = (size_t)1 << (in_u8(&in) % 8); /* 1 .. 128 */
                pool_t *p = pool_create(a, sz, al);
                if (p == NULL) {
                    FUZZ_CHECK(errno == ENOMEM);
                    check_unchanged(a);
                    break;
                }
                FUZZ_CHECK(pool_obj_align(p) >= (al < sizeof(void *) ? sizeof(void *) : al));
                FUZZ_CHECK(pool_obj_size(p) >= sz && pool_obj_size(p) % pool_obj_align(p) == 0);
                for (size_t i = nobjs; i-- > 0;)
                    if (objs[i].pool == k)
                        drop(i);
                *mp = (mpool_t){p, sz, al < sizeof(void *) ? sizeof(void *) : al, 0, gen++};
            }
            break;
        case 1:
        case 2:
        case 3: {
            if (!mp->p || nobjs == MAX_OBJS)
                break;
            char *p = op == 3 ? pool_calloc(mp->p) : pool_alloc(mp->p);
            if (p == NULL) {
                FUZZ_CHECK(errno == ENOMEM && o.max_bytes);
                check_unchanged(a);
                break;
            }
            if (op == 3)
                for (size_t i = 0; i < mp->size; i++)
                    FUZZ_CHECK(p[i] == 0);
            FUZZ_CHECK(pool_owns(mp->p, p));
            add(p, mp->size, mp->align, k);
            break;
        }
        case 4:
        case 5: { /* free any live object of some pool */
            if (nobjs == 0)
                break;
            size_t i = in_u16(&in) % nobjs;
            if (objs[i].pool < 0)
                break;
            FUZZ_CHECK(intact(objs[i].p, objs[i].n, objs[i].seed));
            pool_free(pools[objs[i].pool].p, objs[i].p);
            drop(i);
            break;
        }
        case 6: { /* an arena block between the slabs */
            if (nobjs == MAX_OBJS)
                break;
            size_t n = in_u16(&in) % 3000;
            char *p = arena_alloc(a, n);
            if (p) {
                add(p, n, ARENA_ALIGN, -1);
            } else {
                FUZZ_CHECK(errno == ENOMEM && o.max_bytes);
                check_unchanged(a);
            }
            break;
        }
        case 7:
            if (in_u8(&in) < 32 && mp->p) {
                pool_reset(mp->p);
                for (size_t i = nobjs; i-- > 0;)
                    if (objs[i].pool == k)
                        drop(i);
                FUZZ_CHECK(mp->live == 0);
            }
            break;
        case 8: {
            if (nmarks == MAX_MARKS)
                break;
            arena_mark_t m = arena_mark(a);
            if (errno == 0) {
                marks[nmarks] = m;
                mark_gen[nmarks++] = gen++;
            }
            break;
        }
        case 9: { /* rewind under the live pools */
            if (nmarks == 0)
                break;
            size_t j = in_u8(&in) % nmarks;
            FUZZ_CHECK(arena_rewind(a, marks[j]) == 0);
            size_t g = mark_gen[j];
            nmarks = j + 1;
            for (int q = 0; q < MAX_POOLS; q++)
                if (pools[q].p && pools[q].born >= g) {
                    pools[q].p = NULL; /* created after the mark: gone */
                    pools[q].live = 0;
                }
            for (size_t i = nobjs; i-- > 0;) {
                obj_t *ob = &objs[i];
                if (ob->pool >= 0 && pools[ob->pool].p == NULL) {
                    objs[i] = objs[--nobjs];
                    continue;
                }
                if (ob->gen < g)
                    continue; /* older than the mark: must survive (checked) */
                /* Newer: an arena block goes; a pool object goes with its
                 * slab if the slab was newer, which pool_owns tells. */
                if (ob->pool < 0 || !pool_owns(pools[ob->pool].p, ob->p))
                    drop(i);
            }
            break;
        }
        }
        check_all();
    }
    for (size_t i = 0; i < nobjs; i++)
        if (objs[i].pool >= 0)
            pool_free(pools[objs[i].pool].p, objs[i].p);
    arena_destroy(a);
    return 0;
}
