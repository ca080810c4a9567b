/*
 * test_arena_promises.c - each promise of arena.h and the README, tried in the
 * state most likely to break it: a capped arena holding retained spare chunks,
 * sizes at the overflow edges, over-aligned blocks that move, marks of dead
 * arenas, callbacks that turn on their own arena.  docs/testing.md lists the
 * promises and the tests that hold each.  Runs in every build mode.
 */
#include "helpers.h"

#include <signal.h>

/* A capped arena (64 KiB) whose first chunk (16 KiB) is in use and which holds
 * a retained 32 KiB spare: the worst state for "failed calls change nothing". */
static arena_t *capped_with_spare(void)
{
    arena_opts_t o = {.chunk_size = 16384, .max_bytes = 65536};
    arena_t *a = arena_create(&o);
    cr_assert_not_null(a);
    arena_mark_t m = arena_mark(a);
    cr_assert_not_null(arena_alloc(a, 20000)); /* a second chunk */
    cr_assert_eq(arena_rewind(a, m), 0);       /* ... kept as a spare */
    arena_stats_t s = stats_of(a);
    cr_assert_eq(s.chunks, 2);
    cr_assert_eq(s.mapped, 16384 + 32768);
    return a;
}

/* ---- "Failed calls ... leave the arena exactly as it was" ---- */

Test(arena_promises, failed_alloc_under_cap_keeps_the_retained_spares)
{
    arena_t *a = capped_with_spare();
    arena_stats_t before = stats_of(a);
    errno = 0;
    cr_assert_null(arena_alloc(a, 60000), "cannot fit even without the spare");
    cr_assert_eq(errno, ENOMEM);
    UNCHANGED(a, before, "arena_alloc(60000)");
    /* A request that fits once the spare is given back still succeeds. */
    cr_assert_not_null(arena_alloc(a, 40000));
    cr_assert_leq(stats_of(a).mapped, 65536);
    arena_destroy(a);
}

static int calls;
static void count_call(void *arg) { (void)arg, calls++; }

Test(arena_promises, every_failing_call_on_a_capped_arena_with_spares_changes_nothing)
{
    /* The first chunk full, a 32 KiB spare retained, the cap 64 KiB. */
    arena_opts_t o = {.chunk_size = 16384, .max_bytes = 65536};
    arena_t *a = arena_create(&o);
    char *keep = arena_alloc(a, 100);
    fill_pattern(keep, 100, 5);
    arena_mark_t m = arena_mark(a);
    size_t n = 0;
    for (; stats_of(a).chunks == 1; n++)
        cr_assert_not_null(arena_alloc(a, 512));
    cr_assert_eq(arena_rewind(a, m), 0);
    for (size_t i = 0; i + 1 < n; i++)
        cr_assert_not_null(arena_alloc(a, 512));
    cr_assert_eq(stats_of(a).chunks, 2);
    cr_assert_eq(stats_of(a).mapped, 16384 + 32768);
    calls = 0;
    for (int round = 0; round < 2; round++) {
        arena_stats_t b = stats_of(a);
        errno = 0;
        cr_assert_null(arena_alloc(a, 70000));
        cr_assert_eq(errno, ENOMEM);
        UNCHANGED(a, b, "arena_alloc");
        cr_assert_null(arena_alloc_aligned(a, 50000, 65536));
        UNCHANGED(a, b, "arena_alloc_aligned");
        cr_assert_null(arena_calloc(a, 1000, 70));
        UNCHANGED(a, b, "arena_calloc");
        cr_assert_null(arena_calloc_aligned(a, SIZE_MAX / 2, 4, 64));
        UNCHANGED(a, b, "arena_calloc_aligned overflow");
        cr_assert_null(arena_realloc(a, keep, 100, 70000));
        UNCHANGED(a, b, "arena_realloc");
        cr_assert_null(arena_realloc_aligned(a, keep, 100, 70000, 4096));
        UNCHANGED(a, b, "arena_realloc_aligned");
        cr_assert_null(arena_realloc_aligned(a, keep, 100, 50, 3));
        UNCHANGED(a, b, "arena_realloc_aligned bad align");
        cr_assert_null(arena_sprintf(a, "%070000d", 1));
        UNCHANGED(a, b, "arena_sprintf");
        cr_assert_null(arena_alloc_deferred(a, 70000, 16, count_call, NULL));
        UNCHANGED(a, b, "arena_alloc_deferred");
        cr_assert_null(arena_alloc(a, SIZE_MAX - 8));
        UNCHANGED(a, b, "arena_alloc(SIZE_MAX - 8)");
        cr_assert(check_pattern(keep, 100, 5));
        arena_alloc(a, 30000); /* takes the spare: round 2 runs without one */
    }
    arena_destroy(a);
    cr_assert_eq(calls, 0, "no callback of a failed call ever runs");
}

Test(arena_promises, full_arena_failing_defer_and_mark_change_nothing)
{
    arena_opts_t o = {.chunk_size = 16384, .max_bytes = 16384};
    arena_t *a = arena_create(&o);
    while (arena_alloc(a, 16))
        ;
    arena_stats_t b = stats_of(a);
    calls = 0;
    cr_assert_eq(arena_defer(a, count_call, NULL), -1);
    cr_assert_eq(errno, ENOMEM);
    UNCHANGED(a, b, "arena_defer");
    errno = 0;
    arena_mark_t m = arena_mark(a);
    cr_assert_eq(errno, ENOMEM);
    UNCHANGED(a, b, "arena_mark");
    cr_assert_eq(arena_rewind(a, m), -1);
    UNCHANGED(a, b, "arena_rewind of an empty mark");
    arena_destroy(a);
    cr_assert_eq(calls, 0);
}

/* ---- "peak: largest used ever seen" ---- */

Test(arena_promises, peak_survives_an_in_place_shrink)
{
    arena_t *a = arena_create(NULL);
    size_t base = stats_of(a).used;
    void *p = arena_alloc(a, 40000);
    cr_assert_eq(arena_realloc(a, p, 40000, 16), p);
    arena_stats_t s = stats_of(a);
    cr_assert_eq(s.used, base + 16);
    cr_assert_geq(s.peak, base + 40000, "peak %zu after a shrink from 40000", s.peak);
    /* ... and a rewind, a reset, a realloc to 0 after that. */
    arena_mark_t m = arena_mark(a);
    void *q = arena_alloc(a, 50000);
    q = arena_realloc(a, q, 50000, 0);
    cr_assert_eq(arena_rewind(a, m), 0);
    arena_reset(a);
    cr_assert_geq(stats_of(a).peak, base + 16 + 50000);
    arena_destroy(a);
}

/* ---- Alignment of a block that arena_realloc moves ---- */

Test(arena_promises, realloc_that_moves_keeps_the_alignment_of_the_block)
{
    arena_t *a = arena_create(NULL);
    size_t aligns[] = {32, 64, 256, 4096};
    for (size_t i = 0; i < sizeof aligns / sizeof *aligns; i++) {
        char *p = arena_alloc_aligned(a, 100, aligns[i]);
        fill_pattern(p, 100, (unsigned)i);
        arena_alloc(a, 8); /* p is no longer the newest: a grow moves it */
        char *q = arena_realloc(a, p, 100, 300000);
        cr_assert_not_null(q);
        cr_assert_neq(q, p);
        cr_assert(IS_ALIGNED(q, aligns[i]), "align %zu: moved to %p", aligns[i], (void *)q);
        cr_assert(check_pattern(q, 100, (unsigned)i));
    }
    arena_destroy(a);
}

Test(arena_promises, realloc_aligned_keeps_any_alignment_and_moves_misaligned_blocks)
{
    arena_t *a = arena_create(NULL);
    char *p = arena_alloc_aligned(a, 64, 65536);
    fill_pattern(p, 64, 1);
    arena_alloc(a, 8);
    char *q = arena_realloc_aligned(a, p, 64, 5000, 65536);
    cr_assert(q && q != p && IS_ALIGNED(q, 65536));
    cr_assert(check_pattern(q, 64, 1));
    /* In place when already aligned; moved (even to shrink) when not. */
    cr_assert_eq(arena_realloc_aligned(a, q, 5000, 100, 4096), q);
    char *r = arena_alloc(a, 64);
    while (IS_ALIGNED(r, 128)) /* one that is not 128-aligned */
        r = arena_alloc(a, 64);
    fill_pattern(r, 32, 2);
    char *s = arena_realloc_aligned(a, r, 64, 32, 128);
    cr_assert(s && s != r && IS_ALIGNED(s, 128));
    cr_assert(check_pattern(s, 32, 2));
    /* NULL acts as arena_alloc_aligned; a bad alignment is EINVAL. */
    cr_assert(IS_ALIGNED(arena_realloc_aligned(a, NULL, 0, 10, 8192), 8192));
    errno = 0;
    cr_assert_null(arena_realloc_aligned(a, s, 32, 64, 48));
    cr_assert_eq(errno, EINVAL);
    cr_assert(check_pattern(s, 32, 2));
    arena_destroy(a);
}

/* ---- Marks are refused by every arena but their own ---- */

Test(arena_promises, mark_of_a_destroyed_arena_is_refused_by_a_new_one_at_its_address)
{
    int reused = 0;
    for (int attempt = 0; attempt < 20; attempt++) {
        arena_t *a = arena_create(NULL);
        arena_alloc(a, 100);
        arena_mark_t old = arena_mark(a);
        arena_destroy(a);
        arena_t *b = arena_create(NULL);
        if (b != a) { /* the OS did not reuse the address: try again */
            arena_destroy(b);
            continue;
        }
        reused++;
        arena_alloc(b, 100);
        arena_mark_t fresh = arena_mark(b); /* the same record address as `old` */
        cr_assert_eq(fresh.rec, old.rec);
        arena_stats_t before = stats_of(b);
        errno = 0;
        cr_assert_eq(arena_rewind(b, old), -1, "a dead arena's mark was accepted");
        cr_assert_eq(errno, EINVAL);
        UNCHANGED(b, before, "arena_rewind of a dead arena's mark");
        cr_assert_eq(arena_rewind(b, fresh), 0);
        arena_destroy(b);
    }
    cr_assert_gt(reused, 0, "never got the same address back; the test proved nothing");
}

Test(arena_promises, marks_are_unique_across_arenas)
{
    arena_t *a = arena_create(NULL), *b = arena_create(NULL);
    arena_mark_t ma = arena_mark(a), mb = arena_mark(b);
    cr_assert_neq(ma.id, mb.id);
    mb.arena = a, mb.rec = ma.rec; /* a forged mark: b's id on a's record */
    cr_assert_eq(arena_rewind(a, mb), -1);
    cr_assert_eq(arena_rewind(a, ma), 0);
    arena_destroy(a);
    arena_destroy(b);
}

/* ---- What a deferred callback may do ---- */

#if !ARENAPOOL_DEBUG
static arena_t *victim;
static int refusals;

static void turn_on_own_arena(void *arg)
{
    (void)arg;
    arena_stats_t b = stats_of(victim); /* allowed */
    errno = 0;
    arena_destroy(victim);
    refusals += errno == EINVAL;
    errno = 0;
    arena_reset(victim);
    refusals += errno == EINVAL;
    arena_mark_t m = arena_mark(victim);
    refusals += m.rec == NULL && errno == EINVAL;
    errno = 0;
    refusals += arena_rewind(victim, m) == -1 && errno == EINVAL;
    errno = 0;
    refusals += arena_defer(victim, count_call, NULL) == -1 && errno == EINVAL;
    errno = 0;
    refusals += arena_alloc_deferred(victim, 8, 8, count_call, NULL) == NULL && errno == EINVAL;
    UNCHANGED(victim, b, "a refused call from a callback");
}

/* Release builds: refused (errno EINVAL), nothing happens; debug builds abort
 * (test_debug.c). */
Test(arena_promises, destroy_reset_rewind_mark_defer_from_own_callback_are_refused)
{
    victim = arena_create(NULL);
    refusals = calls = 0;
    char *p = arena_alloc(victim, 64);
    fill_pattern(p, 64, 9);
    arena_mark_t m = arena_mark(victim);
    arena_defer(victim, turn_on_own_arena, NULL);
    cr_assert_eq(arena_rewind(victim, m), 0); /* the callback runs here */
    cr_assert_eq(refusals, 6);
    cr_assert(check_pattern(p, 64, 9), "the arena still works");
    arena_defer(victim, turn_on_own_arena, NULL);
    arena_reset(victim);
    cr_assert_eq(refusals, 12);
    arena_defer(victim, turn_on_own_arena, NULL);
    arena_destroy(victim); /* the callback's arena_destroy is refused; this one runs */
    cr_assert_eq(refusals, 18);
    cr_assert_eq(calls, 0);
}
#endif

/* ---- arena_alloc_deferred: both or neither ---- */

static char *seen_block;
static void remember_block(void *p) { seen_block = p; }

Test(arena_promises, alloc_deferred_runs_with_the_block_and_in_order)
{
    arena_t *a = arena_create(NULL);
    calls = 0;
    arena_mark_t m = arena_mark(a);
    arena_defer(a, count_call, NULL);
    char *p = arena_alloc_deferred(a, 100, 4096, remember_block, NULL);
    cr_assert(p && IS_ALIGNED(p, 4096));
    memset(p, 1, 100);
    seen_block = NULL;
    cr_assert_eq(arena_rewind(a, m), 0);
    cr_assert_eq(seen_block, p, "arg NULL: fn gets the block");
    cr_assert_eq(calls, 1);
    errno = 0;
    cr_assert_null(arena_alloc_deferred(a, 8, 3, count_call, NULL));
    cr_assert_eq(errno, EINVAL);
    cr_assert_null(arena_alloc_deferred(a, 8, 8, NULL, NULL));
    cr_assert_eq(errno, EINVAL);
    arena_destroy(a);
}

/* ---- Overflow edges ---- */

Test(arena_promises, sizes_at_the_overflow_edges_fail_cleanly_in_a_capped_arena)
{
    arena_t *a = capped_with_spare();
    size_t sizes[] = {SIZE_MAX, SIZE_MAX - 15, SIZE_MAX - 4096, SIZE_MAX / 2 + 1, SIZE_MAX / 2,
                      SIZE_MAX / 2 - 4096, (size_t)1 << 62, 65537};
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
        arena_stats_t b = stats_of(a);
        cr_assert_null(arena_alloc(a, sizes[i]));
        cr_assert_null(arena_alloc_aligned(a, sizes[i], 1 << 20));
        cr_assert_null(arena_alloc_deferred(a, sizes[i], 16, count_call, NULL));
        cr_assert_null(arena_realloc(a, NULL, 0, sizes[i]));
        cr_assert_eq(errno, ENOMEM);
        UNCHANGED(a, b, "an overflow-edge size");
    }
    arena_destroy(a);
}
