/*
 * test_pool.c - fixed-size pools: creation, alignment, reuse order, reset,
 * ownership, statistics and survival across arena rewinds.
 */
#include "helpers.h"

ARENA_FIXTURE_SUITE(pool);

static pool_stats_t pstats(const pool_t *p)
{
    pool_stats_t s;
    pool_stats(p, &s);
    return s;
}

Test(pool, create_rejects_bad_arguments)
{
    size_t bad_align[] = {3, 24, 100};
    errno = 0;
    cr_assert_null(pool_create(A, 0, 0));
    cr_assert_eq(errno, EINVAL);
    for (size_t i = 0; i < 3; i++) {
        errno = 0;
        cr_assert_null(pool_create(A, 32, bad_align[i]));
        cr_assert_eq(errno, EINVAL);
    }
    errno = 0;
    cr_assert_null(pool_create(A, SIZE_MAX, 0));
    cr_assert_eq(errno, EINVAL);
    errno = 0;
    cr_assert_null(pool_create(A, SIZE_MAX - 100, 64));
    cr_assert_eq(errno, EINVAL);
    errno = 0;
    cr_assert_null(pool_create(NULL, 0, 8));
    cr_assert_eq(errno, EINVAL);
}

Test(pool, slot_size_is_rounded_to_alignment_only)
{
    struct { size_t size, align, slot; } cases[] = {
        {1, 0, sizeof(void *)},  {8, 0, 8},    {12, 0, 16},  {24, 0, 24}, {64, 0, 64},
        {65, 0, 72},             {100, 0, 104}, {10, 32, 32}, {64, 64, 64}, {65, 64, 128},
        {40, 16, 48},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        pool_t *p = pool_create(A, cases[i].size, cases[i].align);
        cr_assert_not_null(p);
        cr_assert_eq(pstats(p).obj_size, cases[i].slot, "size %zu align %zu: %zu", cases[i].size,
                     cases[i].align, pstats(p).obj_size);
        pool_destroy(p);
    }
}

Test(pool, objects_are_aligned_as_asked)
{
    size_t aligns[] = {0, 8, 16, 32, 64, 128, 4096};
    for (size_t i = 0; i < sizeof aligns / sizeof aligns[0]; i++) {
        size_t want = aligns[i] ? aligns[i] : 8;
        pool_t *p = pool_create(A, 40, aligns[i]);
        for (int k = 0; k < 300; k++) {
            void *o = pool_alloc(p);
            cr_assert_not_null(o);
            cr_assert(IS_ALIGNED(o, want), "align %zu gave %p", want, o);
            cr_assert(IS_ALIGNED(o, sizeof(void *)));
        }
        pool_destroy(p);
    }
}

Test(pool, reuse_is_lifo)
{
    pool_t *p = pool_create(A, 64, 0);
    void *a = pool_alloc(p), *b = pool_alloc(p), *c = pool_alloc(p);
    pool_free(p, a);
    pool_free(p, c);
    cr_assert_eq(pool_alloc(p), c, "the slot freed last comes back first");
    cr_assert_eq(pool_alloc(p), a);
    pool_free(p, b);
    cr_assert_eq(pool_alloc(p), b);
}

Test(pool, fresh_slots_come_in_address_order)
{
    pool_t *p = pool_create(A, 48, 0);
    char *prev = pool_alloc(p);
    for (int i = 0; i < 60; i++) {
        char *o = pool_alloc(p);
        cr_assert_eq(o, prev + 48, "slot %d", i);
        prev = o;
    }
}

Test(pool, calloc_zeroes_reused_slots)
{
    pool_t *p = pool_create(A, 100, 0);
    unsigned char *o = pool_alloc(p);
    memset(o, 0xFF, 100);
    pool_free(p, o);
    unsigned char *z = pool_calloc(p);
    cr_assert_eq(z, o);
    for (int i = 0; i < 100; i++)
        cr_assert_eq(z[i], 0);
}

Test(pool, free_null_is_noop)
{
    pool_t *p = pool_create(A, 16, 0);
    void *o = pool_alloc(p);
    for (int i = 0; i < 3 * POOL__HOT; i++)
        pool_free(p, NULL);
    pool_free(p, o);
    for (int i = 0; i < 3 * POOL__HOT; i++)
        pool_free(p, NULL);
    cr_assert_eq(pool_alloc(p), o);
    cr_assert_eq(pstats(p).live, 1);
    for (int i = 0; i < 1000; i++)
        cr_assert_not_null(pool_alloc(p));
}

Test(pool, random_order_frees_are_all_reused)
{
    enum { N = 20000 };
    static char *objs[N];
    static unsigned perm[N];
    pool_t *p = pool_create(A, 64, 0);
    uint64_t rng = 99;
    for (unsigned i = 0; i < N; i++)
        objs[i] = pool_alloc(p), perm[i] = i;
    for (unsigned i = N - 1; i > 0; i--) {
        unsigned j = test_rand(&rng) % (i + 1), t = perm[i];
        perm[i] = perm[j], perm[j] = t;
    }
    size_t cap = pstats(p).capacity;
    for (unsigned i = 0; i < N; i++)
        pool_free(p, objs[perm[i]]);
    cr_assert_eq(pstats(p).live, 0);
    /* Every slot comes back exactly once, and no new slab is needed. */
    for (unsigned i = 0; i < N; i++) {
        char *o = pool_alloc(p);
        cr_assert(pool_owns(p, o));
        memset(o, 0x5A, 64);
        objs[i] = o;
    }
    cr_assert_eq(pstats(p).capacity, cap);
    cr_assert_eq(pstats(p).live, N);
    for (unsigned i = 0; i < N; i++) /* distinct: each slot tagged once */
        *(unsigned *)objs[i] = i;
    for (unsigned i = 0; i < N; i++)
        cr_assert_eq(*(unsigned *)objs[i], i);
}

Test(pool, destroy_null_is_noop) { pool_destroy(NULL); }

Test(pool, many_objects_are_distinct_and_keep_their_data)
{
    enum { N = 50000 };
    static void *objs[N];
    pool_t *p = pool_create(A, 40, 0);
    for (unsigned i = 0; i < N; i++) {
        objs[i] = pool_alloc(p);
        cr_assert_not_null(objs[i]);
        fill_pattern(objs[i], 40, i);
    }
    /* Free every other one in a scrambled order, reallocate, check all. */
    uint64_t rng = 7;
    for (unsigned i = 0; i < N; i += 2) {
        unsigned j = (test_rand(&rng) % (N / 2)) * 2;
        if (objs[j]) {
            pool_free(p, objs[j]);
            objs[j] = NULL;
        }
    }
    for (unsigned i = 0; i < N; i += 2)
        if (!objs[i]) {
            objs[i] = pool_alloc(p);
            fill_pattern(objs[i], 40, i);
        }
    for (unsigned i = 0; i < N; i++)
        cr_assert(check_pattern(objs[i], 40, i), "object %u", i);
    pool_stats_t s = pstats(p);
    cr_assert_eq(s.live, N);
    cr_assert_geq(s.capacity, N);
    cr_assert_lt(s.capacity, 2 * N + 200, "geometric slabs (%zu)", s.capacity);
}

Test(pool, stats_count_live_objects)
{
    pool_t *p = pool_create(A, 32, 0);
    pool_stats_t s = pstats(p);
    cr_assert_eq(s.live, 0);
    cr_assert_eq(s.obj_size, 32);
    void *o[10];
    for (int i = 0; i < 10; i++)
        o[i] = pool_alloc(p);
    cr_assert_eq(pstats(p).live, 10);
    for (int i = 0; i < 4; i++)
        pool_free(p, o[i]);
    cr_assert_eq(pstats(p).live, 6);
    cr_assert_geq(pstats(p).capacity, 10);
}

Test(pool, reset_frees_all_and_reuses_slabs_without_new_memory)
{
    pool_t *p = pool_create(A, 64, 0);
    for (int i = 0; i < 10000; i++)
        cr_assert_not_null(pool_alloc(p));
    arena_stats_t before = stats_of(A);
    size_t cap = pstats(p).capacity;
    pool_reset(p);
    cr_assert_eq(pstats(p).live, 0);
    for (int i = 0; i < 10000; i++)
        cr_assert_not_null(pool_alloc(p));
    arena_stats_t after = stats_of(A);
    cr_assert_eq(after.used, before.used, "no new arena memory");
    cr_assert_eq(after.mmaps, before.mmaps);
    cr_assert_eq(pstats(p).capacity, cap);
    cr_assert_eq(pstats(p).live, 10000);
}

Test(pool, owns_recognises_only_its_slots)
{
    pool_t *p = pool_create(A, 32, 0);
    pool_t *q = pool_create(A, 32, 0);
    char *o = pool_alloc(p);
    char *other = pool_alloc(q);
    int local;
    cr_assert(pool_owns(p, o));
    cr_assert_not(pool_owns(p, other));
    cr_assert_not(pool_owns(p, &local));
    cr_assert_not(pool_owns(p, arena_alloc(A, 32)));
    cr_assert_not(pool_owns(p, o + 8), "interior pointer");
    cr_assert_not(pool_owns(p, NULL));
    cr_assert_not(pool_owns(NULL, o));
    pool_free(p, o);
    cr_assert(pool_owns(p, o), "a free slot is still the pool's");
}

Test(pool, private_arena_pool_is_released_by_destroy)
{
    pool_t *p = pool_create(NULL, 128, 0);
    cr_assert_not_null(p);
    for (int i = 0; i < 5000; i++)
        memset(pool_alloc(p), i, 128);
    pool_destroy(p);
}

Test(pool, survives_arena_rewind_past_its_newer_slabs)
{
    pool_t *p = pool_create(A, 64, 0);
    void *early[100];
    for (int i = 0; i < 100; i++) {
        early[i] = pool_alloc(p);
        fill_pattern(early[i], 64, (unsigned)i);
    }
    size_t cap_before = pstats(p).capacity;
    arena_mark_t m = arena_mark(A);
    for (int i = 0; i < 20000; i++) /* new slabs, carved after the mark */
        cr_assert_not_null(pool_alloc(p));
    for (int i = 0; i < 50; i++)
        pool_free(p, early[i]); /* free list now mixes old and new slots */
    cr_assert_gt(pstats(p).capacity, cap_before);
    cr_assert_eq(arena_rewind(A, m), 0);
    cr_assert_eq(pstats(p).capacity, cap_before, "slabs after the mark were dropped");
    /* Live: the 50 early objects plus those carved from the kept slabs after the mark. */
    cr_assert_geq(pstats(p).live, 50);
    cr_assert_leq(pstats(p).live, cap_before, "objects of dropped slabs are gone");
    /* Scribble over the released memory, as the next arena user would. */
    for (int i = 0; i < 2000; i++)
        memset(arena_alloc(A, 512), 0xFF, 512);
    for (int i = 0; i < 20000; i++) {
        void *o = pool_alloc(p);
        cr_assert_not_null(o);
        cr_assert(pool_owns(p, o));
        memset(o, 0x11, 64);
    }
    for (int i = 50; i < 100; i++)
        cr_assert(check_pattern(early[i], 64, (unsigned)i), "live object %d intact", i);
}

Test(pool, rewind_past_pool_creation_ends_it_cleanly)
{
    arena_mark_t m = arena_mark(A);
    pool_t *p = pool_create(A, 32, 0);
    for (int i = 0; i < 1000; i++)
        pool_alloc(p);
    cr_assert_eq(arena_rewind(A, m), 0);
    pool_t *q = pool_create(A, 32, 0);
    for (int i = 0; i < 1000; i++)
        cr_assert_not_null(pool_alloc(q));
}

Test(pool, pool_in_capped_arena_fails_with_enomem_and_keeps_objects)
{
    arena_opts_t o = {.chunk_size = 64 * 1024, .max_bytes = 256 * 1024};
    arena_t *b = arena_create(&o);
    pool_t *p = pool_create(b, 256, 0);
    void *objs[2000];
    int n = 0;
    for (; n < 2000; n++) {
        errno = 0;
        objs[n] = pool_alloc(p);
        if (!objs[n])
            break;
        fill_pattern(objs[n], 256, (unsigned)n);
    }
    cr_assert_lt(n, 2000);
    cr_assert_eq(errno, ENOMEM);
    for (int i = 0; i < n; i++)
        cr_assert(check_pattern(objs[i], 256, (unsigned)i));
    pool_free(p, objs[0]);
    cr_assert_eq(pool_alloc(p), objs[0], "works again once there is room");
    arena_destroy(b);
}
