/*
 * test_pool_promises.c - each promise of pool.h and the README's pool section,
 * tried in the state most likely to break it: slot sizes at the overflow edge,
 * capped arenas at every fill level, over-aligned slots, slots carved but never
 * handed out.  docs/testing.md lists the promises and the tests that hold each.
 * Runs in every build mode (the misuse that aborts is in test_debug.c and
 * test_hardened.c).
 */
#include "helpers.h"

/* ---- Sizes at the overflow edge: NULL + ENOMEM, never a bogus slab ---- */

Test(pool_promises, slot_sizes_whose_slab_would_overflow_get_enomem)
{
    size_t sizes[] = {(size_t)1 << 61, ((size_t)1 << 61) + 8, SIZE_MAX / 4, SIZE_MAX / 8,
                      SIZE_MAX / 16 + 1, (size_t)1 << 60, (size_t)1 << 44};
    size_t aligns[] = {0, 64};
    arena_t *a = arena_create(NULL);
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
        for (size_t j = 0; j < 2; j++) {
            for (int own = 0; own < 2; own++) {
                errno = 0;
                pool_t *p = pool_create(own ? NULL : a, sizes[i], aligns[j]);
                if (p == NULL) {
                    cr_assert(errno == ENOMEM || errno == EINVAL, "size %zu: errno %d",
                              sizes[i], errno);
                    continue;
                }
                arena_stats_t b = stats_of(a);
                for (int k = 0; k < 3; k++) {
                    errno = 0;
                    void *o = k == 2 ? pool_calloc(p) : pool_alloc(p);
                    cr_assert_null(o, "size %zu: an object of a slab that cannot exist",
                                   sizes[i]);
                    cr_assert_eq(errno, ENOMEM, "size %zu", sizes[i]);
                }
                pool_stats_t s;
                pool_stats(p, &s);
                cr_assert_eq(s.live, 0);
                cr_assert_eq(s.capacity, 0);
                if (!own)
                    UNCHANGED(a, b, "a pool_alloc that failed");
                pool_destroy(p);
            }
        }
    }
    arena_destroy(a);
}

/* ---- "Failed calls leave the arena exactly as it was" ---- */

/* At every fill level of a capped arena, a pool_alloc that fails changes no
 * arena statistic and no pool statistic: in particular the state where a slab
 * fits and the record of its cleanup callback does not. */
Test(pool_promises, failing_pool_alloc_changes_nothing_at_any_fill_level)
{
    size_t sizes[] = {8, 24, 64, 200, 1000};
    size_t caps[] = {8192, 12288, 16384, 20480};
    int failures = 0;
    for (size_t ci = 0; ci < sizeof caps / sizeof *caps; ci++) {
        for (size_t si = 0; si < sizeof sizes / sizeof *sizes; si++) {
            for (size_t fill = 0; fill < 4096; fill += 48) {
                arena_opts_t o = {.chunk_size = 4096, .max_bytes = caps[ci]};
                arena_t *a = arena_create(&o);
                cr_assert_not_null(a);
                if (fill && arena_alloc(a, fill) == NULL) {
                    arena_destroy(a);
                    continue;
                }
                arena_stats_t b = stats_of(a);
                pool_t *p = pool_create(a, sizes[si], 0);
                if (p == NULL) {
                    cr_assert_eq(errno, ENOMEM);
                    UNCHANGED(a, b, "a pool_create that failed");
                    failures++;
                    arena_destroy(a);
                    continue;
                }
                for (int n = 0; n < 100000; n++) {
                    pool_stats_t pb, pa;
                    pool_stats(p, &pb);
                    b = stats_of(a);
                    errno = 0;
                    void *obj = pool_alloc(p);
                    if (obj) {
                        memset(obj, 0x5A, sizes[si]);
                        continue;
                    }
                    cr_assert_eq(errno, ENOMEM);
                    UNCHANGED(a, b, "a pool_alloc that failed");
                    pool_stats(p, &pa);
                    cr_assert(pa.live == pb.live && pa.capacity == pb.capacity);
                    failures++;
                    break;
                }
                arena_destroy(a);
            }
        }
    }
    cr_assert_gt(failures, 100, "the sweep reached few failures");
}

Test(pool_promises, failing_pool_create_changes_nothing_at_any_fill_level)
{
    int failures = 0;
    for (size_t fill = 0; fill < 4096; fill += 16) {
        arena_opts_t o = {.chunk_size = 4096, .max_bytes = 4096};
        arena_t *a = arena_create(&o);
        if (fill && arena_alloc(a, fill) == NULL) {
            arena_destroy(a);
            break;
        }
        arena_stats_t b = stats_of(a);
        errno = 0;
        pool_t *p = pool_create(a, 32, 0);
        if (p == NULL) {
            cr_assert_eq(errno, ENOMEM);
            UNCHANGED(a, b, "a pool_create that failed");
            failures++;
        }
        arena_destroy(a);
    }
    cr_assert_gt(failures, 0);
}

/* ---- "pool_reset: allocating the same number again takes no new memory" ---- */

Test(pool_promises, reset_then_the_same_count_takes_no_arena_memory_in_a_capped_arena)
{
    arena_opts_t o = {.chunk_size = 16384, .max_bytes = 262144};
    arena_t *a = arena_create(&o);
    pool_t *p = pool_create(a, 48, 0);
    size_t n = 0;
    while (pool_alloc(p))
        n++;
    cr_assert_gt(n, 1000);
    pool_reset(p);
    arena_stats_t b = stats_of(a);
    for (size_t i = 0; i < n; i++)
        cr_assert_not_null(pool_alloc(p), "object %zu of %zu after a reset", i, n);
    UNCHANGED(a, b, "refilling after pool_reset");
    cr_assert_null(pool_alloc(p));
    arena_destroy(a);
}

/* ---- Alignment: one rule, the natural alignment for align 0 ---- */

Test(pool_promises, align_zero_gives_the_natural_alignment_of_the_size)
{
    arena_t *a = arena_create(NULL);
    struct { size_t size, align; } cases[] = {
        {1, 8}, {8, 8}, {12, 8}, {16, 16}, {24, 8}, {40, 8}, {48, 16}, {64, 16}, {100, 8},
        {4096, 16},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        pool_t *p = pool_create(a, cases[i].size, 0);
        cr_assert_eq(pool_obj_align(p), cases[i].align, "size %zu: align %zu", cases[i].size,
                     pool_obj_align(p));
        pool_stats_t s;
        pool_stats(p, &s);
        cr_assert_eq(pool_obj_size(p), s.obj_size);
        for (int k = 0; k < 200; k++)
            cr_assert(IS_ALIGNED(pool_alloc(p), cases[i].align));
    }
    errno = 0;
    cr_assert_eq(pool_obj_align(NULL), 0);
    cr_assert_eq(errno, EINVAL);
    cr_assert_eq(pool_obj_size(NULL), 0);
    arena_destroy(a);
}

/* ---- An over-aligned pool pays no alignment for its slab headers ---- */

Test(pool_promises, slab_header_of_an_over_aligned_pool_costs_no_alignment)
{
    size_t aligns[] = {(size_t)1 << 16, (size_t)1 << 20};
    for (size_t i = 0; i < 2; i++) {
        size_t al = aligns[i];
        arena_t *a = arena_create(NULL);
        pool_t *p = pool_create(a, 64, al); /* slots of `al` bytes, 8 per slab */
        arena_stats_t b = stats_of(a);
        char *o = pool_alloc(p);
        cr_assert(o && IS_ALIGNED(o, al));
        memset(o, 1, 64);
        arena_stats_t s = stats_of(a);
        size_t span = 8 * al;
        /* The slab needs its slots plus at most the arena's alignment padding
         * (less than al) and a few bytes; a header rounded up to al was another al. */
        cr_assert_leq(s.used - b.used, span + al + 64, "align %zu: used %zu for a slab of %zu",
                      al, s.used - b.used, span);
        cr_assert_leq(s.mapped - b.mapped, span + al + 2 * 4096,
                      "align %zu: mapped %zu for a slab of %zu", al, s.mapped - b.mapped, span);
        for (int k = 1; k < 8; k++)
            cr_assert(IS_ALIGNED(pool_alloc(p), al));
        arena_destroy(a);
    }
}

/* ---- Slots carved but never handed out ---- */

Test(pool_promises, carved_slots_are_handed_out_once_each_across_reset_and_rewind)
{
    arena_t *a = arena_create(NULL);
    pool_t *p = pool_create(a, 32, 0);
    void *first = pool_alloc(p); /* carves a batch: most of it never handed out yet */
    arena_mark_t m = arena_mark(a);
    enum { N = 3000 };
    static char *seen[N];
    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < N; i++) {
            seen[i] = pool_alloc(p);
            cr_assert_not_null(seen[i]);
            cr_assert_neq(seen[i], first);
            cr_assert(pool_owns(p, seen[i]));
            memset(seen[i], i & 0xFF, 32);
        }
        for (int i = 0; i < N; i++) /* every object distinct: contents intact */
            for (int k = 0; k < 32; k++)
                cr_assert_eq((unsigned char)seen[i][k], (unsigned char)(i & 0xFF));
        if (round == 0) {
            cr_assert_eq(arena_rewind(a, m), 0); /* drops the newer slabs */
        } else {
            pool_reset(p);
            first = pool_alloc(p);
        }
    }
    arena_destroy(a);
}
