/*
 * test_arena_scopes.c - marks, rewind, reset, deferred callbacks, retention.
 */
#include "helpers.h"

ARENA_FIXTURE_SUITE(scopes);

/* A log of callback runs, to check order and count. */
static int log_buf[64];
static int log_len;
static void log_cb(void *arg) { log_buf[log_len++] = (int)(intptr_t)arg; }
static void reset_log(void) { log_len = 0; }

Test(scopes, rewind_frees_what_came_after_the_mark)
{
    char *keep = arena_alloc(A, 40);
    fill_pattern(keep, 40, 1);
    arena_mark_t m = arena_mark(A);
    char *p = arena_alloc(A, 64);
    cr_assert_not_null(p);
    arena_stats_t mid = stats_of(A);
    cr_assert_eq(arena_rewind(A, m), 0);
    arena_stats_t after = stats_of(A);
    cr_assert_lt(after.used, mid.used);
    cr_assert_eq(mid.used - after.used, 64);
    cr_assert_eq(arena_alloc(A, 64), p, "the space is handed out again");
    cr_assert(check_pattern(keep, 40, 1));
}

Test(scopes, nested_marks_unwind_like_a_stack)
{
    arena_mark_t m1 = arena_mark(A);
    char *a = arena_alloc(A, 10);
    arena_mark_t m2 = arena_mark(A);
    char *b = arena_alloc(A, 10);
    arena_mark_t m3 = arena_mark(A);
    arena_alloc(A, 10);
    cr_assert_eq(arena_rewind(A, m3), 0);
    cr_assert_eq(arena_rewind(A, m2), 0);
    cr_assert_eq(arena_alloc(A, 10), b);
    cr_assert_eq(arena_rewind(A, m2), 0, "rewinding to the same mark twice is fine");
    cr_assert_eq(arena_rewind(A, m1), 0);
    cr_assert_eq(arena_alloc(A, 10), a);
}

Test(scopes, rewind_across_chunk_boundaries_keeps_older_data)
{
    enum { N = 3000 };
    static char *ptrs[N];
    for (unsigned i = 0; i < N / 2; i++) {
        ptrs[i] = arena_alloc(A, 100 + i % 50);
        fill_pattern(ptrs[i], 100 + i % 50, i);
    }
    size_t chunks_before = stats_of(A).chunks;
    arena_mark_t m = arena_mark(A);
    for (unsigned i = 0; i < 20000; i++)
        memset(arena_alloc(A, 200), 0x55, 200);
    cr_assert_gt(stats_of(A).chunks, chunks_before + 2);
    cr_assert_eq(arena_rewind(A, m), 0);
    for (unsigned i = 0; i < N / 2; i++)
        cr_assert(check_pattern(ptrs[i], 100 + i % 50, i), "block %u", i);
    /* The arena keeps working in the rewound chunk and beyond. */
    for (unsigned i = N / 2; i < N; i++) {
        ptrs[i] = arena_alloc(A, 1000);
        fill_pattern(ptrs[i], 1000, i);
    }
    for (unsigned i = N / 2; i < N; i++)
        cr_assert(check_pattern(ptrs[i], 1000, i));
}

Test(scopes, stale_mark_after_rewind_to_earlier_mark_is_refused)
{
    arena_mark_t outer = arena_mark(A);
    arena_alloc(A, 100);
    arena_mark_t inner = arena_mark(A);
    arena_alloc(A, 100);
    cr_assert_eq(arena_rewind(A, outer), 0);
    /* Grow past the stale mark's position again: still refused. */
    for (int i = 0; i < 50; i++)
        arena_alloc(A, 100);
    arena_mark_t again = arena_mark(A);
    arena_stats_t before = stats_of(A);
    errno = 0;
    cr_assert_eq(arena_rewind(A, inner), -1);
    cr_assert_eq(errno, EINVAL);
    arena_stats_t after = stats_of(A);
    cr_assert_eq(before.used, after.used, "a refused rewind changes nothing");
    cr_assert_eq(arena_rewind(A, again), 0, "newer marks stay valid");
    cr_assert_eq(arena_rewind(A, outer), 0, "the outer mark stays valid");
}

Test(scopes, stale_mark_after_reset_is_refused)
{
    arena_mark_t m = arena_mark(A);
    arena_alloc(A, 10);
    arena_reset(A);
    for (int i = 0; i < 10; i++)
        arena_mark(A), arena_alloc(A, 64);
    errno = 0;
    cr_assert_eq(arena_rewind(A, m), -1);
    cr_assert_eq(errno, EINVAL);
}

Test(scopes, mark_from_another_arena_is_refused)
{
    arena_t *b = arena_create(NULL);
    arena_mark_t mb = arena_mark(b);
    arena_alloc(A, 10);
    errno = 0;
    cr_assert_eq(arena_rewind(A, mb), -1);
    cr_assert_eq(errno, EINVAL);
    cr_assert_eq(arena_rewind(b, mb), 0);
    arena_destroy(b);
    arena_mark_t zero = {0};
    errno = 0;
    cr_assert_eq(arena_rewind(A, zero), -1);
    cr_assert_eq(errno, EINVAL);
}

Test(scopes, mark_work_rewind_loop_takes_no_memory_per_iteration)
{
    arena_alloc(A, 100);
    arena_mark_t outer = arena_mark(A);
    size_t used = stats_of(A).used;
    for (int i = 0; i < 100000; i++) {
        arena_mark_t m = arena_mark(A);
        memset(arena_alloc(A, 64), 1, 64);
        cr_assert_eq(arena_rewind(A, m), 0);
    }
    cr_assert_eq(stats_of(A).used, used, "no record left per iteration");
    cr_assert_eq(arena_rewind(A, outer), 0);
    /* Marks taken at one position are interchangeable and stay valid. */
    arena_mark_t m1 = arena_mark(A), m2 = arena_mark(A);
    arena_alloc(A, 10);
    cr_assert_eq(arena_rewind(A, m1), 0);
    cr_assert_eq(arena_rewind(A, m2), 0);
    arena_defer(A, log_cb, (void *)1);
    arena_mark_t m3 = arena_mark(A);
    cr_assert_neq(m3.rec, m1.rec, "a callback in between makes a new scope");
    reset_log();
    cr_assert_eq(arena_rewind(A, m1), 0);
    cr_assert_eq(log_len, 1);
    errno = 0;
    cr_assert_eq(arena_rewind(A, m3), -1);
    cr_assert_eq(errno, EINVAL);
}

Test(scopes, inner_rewind_keeps_outer_mark_valid)
{
    arena_mark_t outer = arena_mark(A);
    for (int round = 0; round < 100; round++) {
        arena_mark_t inner = arena_mark(A);
        arena_alloc(A, 500);
        cr_assert_eq(arena_rewind(A, inner), 0);
    }
    cr_assert_eq(arena_rewind(A, outer), 0);
}

Test(scopes, rewind_runs_deferred_callbacks)
{
    reset_log();
    cr_assert_eq(arena_defer(A, log_cb, (void *)1), 0);
    arena_mark_t m = arena_mark(A);
    cr_assert_eq(arena_defer(A, log_cb, (void *)2), 0);
    cr_assert_eq(arena_defer(A, log_cb, (void *)3), 0);
    cr_assert_eq(arena_rewind(A, m), 0);
    cr_assert_eq(log_len, 2);
    cr_assert_eq(log_buf[0], 3, "newest first");
    cr_assert_eq(log_buf[1], 2);
    cr_assert_eq(arena_rewind(A, m), 0);
    cr_assert_eq(log_len, 2, "each callback runs exactly once");
    arena_reset(A);
    cr_assert_eq(log_len, 3);
    cr_assert_eq(log_buf[2], 1);
}

Test(scopes, defer_order_across_nested_scopes)
{
    reset_log();
    arena_mark_t m1 = arena_mark(A);
    arena_defer(A, log_cb, (void *)10);
    arena_mark_t m2 = arena_mark(A);
    arena_defer(A, log_cb, (void *)20);
    arena_defer(A, log_cb, (void *)21);
    arena_mark_t m3 = arena_mark(A);
    arena_defer(A, log_cb, (void *)30);
    cr_assert_eq(arena_rewind(A, m3), 0);
    cr_assert_eq(log_len, 1);
    cr_assert_eq(log_buf[0], 30);
    arena_defer(A, log_cb, (void *)22);
    cr_assert_eq(arena_rewind(A, m1), 0, "skipping m2 unwinds it too");
    int want[] = {30, 22, 21, 20, 10};
    cr_assert_eq(log_len, 5);
    for (int i = 0; i < 5; i++)
        cr_assert_eq(log_buf[i], want[i], "position %d", i);
    errno = 0;
    cr_assert_eq(arena_rewind(A, m2), -1, "m2 is stale now");
    cr_assert_eq(errno, EINVAL);
}

Test(scopes, reset_and_destroy_run_all_callbacks_newest_first)
{
    reset_log();
    arena_t *b = arena_create(NULL);
    for (int i = 0; i < 5; i++)
        cr_assert_eq(arena_defer(b, log_cb, (void *)(intptr_t)i), 0);
    arena_reset(b);
    cr_assert_eq(log_len, 5);
    for (int i = 0; i < 5; i++)
        cr_assert_eq(log_buf[i], 4 - i);
    arena_defer(b, log_cb, (void *)99);
    arena_destroy(b);
    cr_assert_eq(log_len, 6);
    cr_assert_eq(log_buf[5], 99);
}

Test(scopes, defer_rejects_null_function)
{
    errno = 0;
    cr_assert_eq(arena_defer(A, NULL, NULL), -1);
    cr_assert_eq(errno, EINVAL);
}

static void frame(arena_t *a, unsigned n, unsigned seed)
{
    uint64_t rng = seed;
    for (unsigned i = 0; i < n; i++) {
        size_t size = 16 + test_rand(&rng) % 496;
        char *p = arena_alloc(a, size);
        cr_assert_not_null(p);
        p[0] = p[size - 1] = 1;
    }
}

Test(scopes, reset_loop_reaches_steady_state_without_mmaps)
{
    size_t mmaps_after_warmup = 0;
    for (int f = 0; f < 40; f++) {
        frame(A, 5000, 1); /* ~1.3 MiB a frame: many chunks on the first one */
        arena_reset(A);
        if (f == 2)
            mmaps_after_warmup = stats_of(A).mmaps;
    }
    arena_stats_t s = stats_of(A);
    cr_assert_eq(s.mmaps, mmaps_after_warmup, "no mmap after warm-up");
    cr_assert_leq(s.chunks, 2, "retained memory was coalesced (%zu chunks)", s.chunks);
}

Test(scopes, rewind_loop_reaches_steady_state_without_mmaps)
{
    arena_alloc(A, 1000);
    size_t warm = 0;
    for (int r = 0; r < 40; r++) {
        arena_mark_t m = arena_mark(A);
        frame(A, 3000, (unsigned)r);
        cr_assert_eq(arena_rewind(A, m), 0);
        if (r == 2)
            warm = stats_of(A).mmaps;
    }
    cr_assert_eq(stats_of(A).mmaps, warm);
}

Test(scopes, retain_none_releases_everything_but_the_first_chunk)
{
    arena_opts_t o = {.retain_bytes = ARENA_RETAIN_NONE};
    arena_t *b = arena_create(&o);
    size_t first = stats_of(b).mapped;
    frame(b, 5000, 3);
    cr_assert_gt(stats_of(b).chunks, 1);
    arena_reset(b);
    arena_stats_t s = stats_of(b);
    cr_assert_eq(s.chunks, 1);
    cr_assert_eq(s.mapped, first);
    arena_mark_t m = arena_mark(b);
    frame(b, 5000, 4);
    cr_assert_eq(arena_rewind(b, m), 0);
    cr_assert_eq(stats_of(b).mapped, first);
    arena_destroy(b);
}

Test(scopes, retain_bytes_bounds_memory_kept_by_rewind_and_reset)
{
    size_t retain = 256 * 1024;
    arena_opts_t o = {.retain_bytes = retain};
    arena_t *b = arena_create(&o);
    size_t first = stats_of(b).mapped;
    arena_mark_t m = arena_mark(b);
    frame(b, 20000, 5); /* ~5 MiB */
    cr_assert_eq(arena_rewind(b, m), 0);
    cr_assert_leq(stats_of(b).mapped, first + retain);
    frame(b, 20000, 6);
    arena_reset(b);
    cr_assert_leq(stats_of(b).mapped, first + retain);
    cr_assert_gt(stats_of(b).mapped, first, "something was retained");
    arena_destroy(b);
}

Test(scopes, used_and_peak_follow_rewinds)
{
    arena_alloc(A, 160);
    arena_mark_t m = arena_mark(A);
    size_t at_mark = stats_of(A).used;
    arena_alloc(A, 1u << 20);
    arena_stats_t big = stats_of(A);
    cr_assert_geq(big.used, at_mark + (1u << 20));
    cr_assert_eq(arena_rewind(A, m), 0);
    arena_stats_t s = stats_of(A);
    cr_assert_eq(s.used, at_mark);
    cr_assert_eq(s.peak, big.used);
}

Test(scopes, mark_that_could_not_be_recorded_fails_cleanly)
{
    arena_opts_t o = {.chunk_size = 4096, .max_bytes = 4096};
    arena_t *b = arena_create(&o);
    cr_assert_not_null(b);
    while (arena_alloc(b, 16))
        ;
    errno = 0;
    arena_mark_t m = arena_mark(b);
    cr_assert_eq(errno, ENOMEM);
    errno = 0;
    cr_assert_eq(arena_rewind(b, m), -1);
    cr_assert_eq(errno, ENOMEM);
    errno = 0;
    cr_assert_eq(arena_defer(b, log_cb, NULL), -1);
    cr_assert_eq(errno, ENOMEM);
    arena_reset(b);
    cr_assert_not_null(arena_alloc(b, 16));
    arena_destroy(b);
}
