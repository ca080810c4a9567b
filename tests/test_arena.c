/*
 * test_arena.c - arena creation, allocation, alignment, growth, caps, realloc,
 * strings and statistics.
 */
#include "helpers.h"

#include <signal.h>
#include <stdalign.h>

ARENA_FIXTURE_SUITE(arena);

Test(arena, create_with_options_and_defaults)
{
    arena_opts_t o = {.chunk_size = 3000, .max_bytes = 0, .retain_bytes = 0, .flags = 0};
    arena_t *b = arena_create(&o);
    cr_assert_not_null(b);
    arena_stats_t s = stats_of(b);
    cr_assert_eq(s.chunks, 1);
    cr_assert_eq(s.mmaps, 1);
    cr_assert_geq(s.mapped, 3000);
    cr_assert_eq(s.used, 0);
    arena_destroy(b);

    s = stats_of(A);
    cr_assert_geq(s.mapped, 64 * 1024, "default first chunk is 64 KiB");
    cr_assert_lt(s.mapped, 72 * 1024);
}

Test(arena, create_rejects_unknown_flags)
{
    arena_opts_t o = {.flags = 0x80};
    errno = 0;
    cr_assert_null(arena_create(&o));
    cr_assert_eq(errno, EINVAL);
}

Test(arena, destroy_null_is_noop) { arena_destroy(NULL); }

Test(arena, alloc_aligned_to_arena_align_for_many_sizes)
{
    cr_assert_eq(ARENA_ALIGN, alignof(max_align_t));
    for (size_t size = 0; size < 3000; size += (size < 64 ? 1 : 37)) {
        void *p = arena_alloc(A, size);
        cr_assert_not_null(p);
        cr_assert(IS_ALIGNED(p, ARENA_ALIGN), "size %zu gave %p", size, p);
        memset(p, 0xAB, size);
    }
}

Test(arena, alloc_zero_returns_valid_pointer)
{
    void *p = arena_alloc(A, 0);
    cr_assert_not_null(p);
    void *q = arena_alloc(A, 1);
    cr_assert_not_null(q);
    *(char *)q = 1;
}

Test(arena, allocations_do_not_overlap)
{
    char *prev = NULL;
    size_t prev_size = 0;
    for (unsigned i = 0; i < 1000; i++) {
        size_t size = 1 + (i * 13) % 200;
        char *p = arena_alloc(A, size);
        cr_assert_not_null(p);
        if (prev && prev < p)
            cr_assert_geq((size_t)(p - prev), prev_size);
        prev = p, prev_size = size;
    }
}

Test(arena, alloc_aligned_accepts_powers_of_two_up_to_beyond_page)
{
    for (size_t align = 1; align <= 1024 * 1024; align <<= 1) {
        for (size_t size = 1; size < 5000; size = size * 3 + 1) {
            char *p = arena_alloc_aligned(A, size, align);
            cr_assert_not_null(p, "align %zu size %zu", align, size);
            cr_assert(IS_ALIGNED(p, align), "align %zu gave %p", align, (void *)p);
            cr_assert(IS_ALIGNED(p, ARENA_ALIGN));
            memset(p, 1, size);
        }
    }
    /* The next plain allocation is still ARENA_ALIGN aligned. */
    cr_assert(IS_ALIGNED(arena_alloc(A, 1), ARENA_ALIGN));
}

Test(arena, alloc_aligned_rejects_bad_alignment)
{
    size_t bad[] = {0, 3, 24, 48, 100, 4097, SIZE_MAX};
    arena_stats_t before = stats_of(A);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        errno = 0;
        cr_assert_null(arena_alloc_aligned(A, 16, bad[i]), "align %zu", bad[i]);
        cr_assert_eq(errno, EINVAL);
    }
    arena_stats_t after = stats_of(A);
    cr_assert_eq(before.used, after.used);
}

Test(arena, huge_sizes_fail_with_enomem_and_leave_arena_unchanged)
{
    char *keep = arena_alloc(A, 100);
    fill_pattern(keep, 100, 7);
    arena_stats_t before = stats_of(A);
    size_t huge[] = {SIZE_MAX, SIZE_MAX - 1, SIZE_MAX - 15, SIZE_MAX / 2, (size_t)1 << 62};
    for (size_t i = 0; i < sizeof huge / sizeof huge[0]; i++) {
        errno = 0;
        cr_assert_null(arena_alloc(A, huge[i]), "size %zx", huge[i]);
        cr_assert_eq(errno, ENOMEM);
        errno = 0;
        cr_assert_null(arena_alloc_aligned(A, huge[i], 4096));
        cr_assert_eq(errno, ENOMEM);
    }
    arena_stats_t after = stats_of(A);
    cr_assert_eq(before.used, after.used);
    cr_assert_eq(before.mapped, after.mapped);
    cr_assert_eq(before.chunks, after.chunks);
    cr_assert(check_pattern(keep, 100, 7));
    cr_assert_not_null(arena_alloc(A, 100), "still usable");
}

Test(arena, growth_across_many_chunks_keeps_data_intact)
{
    enum { N = 20000 };
    static char *ptrs[N];
    static size_t sizes[N];
    uint64_t rng = 42;
    for (unsigned i = 0; i < N; i++) {
        sizes[i] = 1 + test_rand(&rng) % 700;
        ptrs[i] = arena_alloc(A, sizes[i]);
        cr_assert_not_null(ptrs[i]);
        fill_pattern(ptrs[i], sizes[i], i);
    }
    arena_stats_t s = stats_of(A);
    cr_assert_gt(s.chunks, 4, "grew over several chunks (%zu)", s.chunks);
    cr_assert_lt(s.chunks, 12, "geometric growth (%zu chunks)", s.chunks);
    cr_assert_eq(s.mmaps, s.chunks);
    for (unsigned i = 0; i < N; i++)
        cr_assert(check_pattern(ptrs[i], sizes[i], i), "block %u corrupted", i);
}

Test(arena, large_request_gets_its_own_chunk)
{
    arena_stats_t s0 = stats_of(A);
    size_t big = 8u << 20;
    char *p = arena_alloc(A, big);
    cr_assert_not_null(p);
    memset(p, 3, big);
    arena_stats_t s1 = stats_of(A);
    cr_assert_eq(s1.chunks, s0.chunks + 1);
    cr_assert_lt(s1.mapped - s0.mapped, big + 64 * 1024, "sized to the request");
    /* The growth sequence is untouched: the next ordinary chunk is small. */
    for (int i = 0; i < 64; i++)
        cr_assert_not_null(arena_alloc(A, 4096));
    arena_stats_t s2 = stats_of(A);
    cr_assert_lt(s2.mapped - s1.mapped, 1u << 20);
}

Test(arena, calloc_zeroes_reused_memory_and_checks_overflow)
{
    arena_mark_t m = arena_mark(A);
    memset(arena_alloc(A, 4000), 0xEE, 4000);
    cr_assert_eq(arena_rewind(A, m), 0);
    unsigned char *z = arena_calloc(A, 100, 40);
    cr_assert_not_null(z);
    for (int i = 0; i < 4000; i++)
        cr_assert_eq(z[i], 0);
    errno = 0;
    cr_assert_null(arena_calloc(A, SIZE_MAX / 2, 3));
    cr_assert_eq(errno, ENOMEM);
    errno = 0;
    cr_assert_null(arena_calloc(A, (size_t)1 << 33, (size_t)1 << 33));
    cr_assert_eq(errno, ENOMEM);
    cr_assert_not_null(arena_calloc(A, 0, 10));
    cr_assert_not_null(arena_calloc(A, 10, 0));
}

Test(arena, calloc_aligned_aligns_and_zeroes)
{
    double *d = arena_calloc_aligned(A, 10, sizeof(double), 256);
    cr_assert_not_null(d);
    cr_assert(IS_ALIGNED(d, 256));
    for (int i = 0; i < 10; i++)
        cr_assert_eq(d[i], 0.0);
    errno = 0;
    cr_assert_null(arena_calloc_aligned(A, 1, 8, 12));
    cr_assert_eq(errno, EINVAL);
}

struct point { int x, y; };
struct wide { alignas(64) char line[64]; };

Test(arena, new_macros_zero_align_and_check_overflow)
{
    struct point *pt = ARENA_NEW(A, struct point);
    cr_assert_not_null(pt);
    cr_assert_eq(pt->x, 0);
    cr_assert_eq(pt->y, 0);
    struct wide *w = ARENA_NEW(A, struct wide);
    cr_assert_not_null(w);
    cr_assert(IS_ALIGNED(w, 64));
    struct point *arr = ARENA_NEW_ARRAY(A, struct point, 1000);
    cr_assert_not_null(arr);
    for (int i = 0; i < 1000; i++)
        cr_assert(arr[i].x == 0 && arr[i].y == 0);
    errno = 0;
    cr_assert_null(ARENA_NEW_ARRAY(A, struct point, SIZE_MAX / 4));
    cr_assert_eq(errno, ENOMEM);
}

Test(arena, realloc_grows_in_place_when_newest)
{
    char *p = arena_alloc(A, 100);
    fill_pattern(p, 100, 1);
    char *q = arena_realloc(A, p, 100, 1000);
    cr_assert_eq(q, p, "newest block grows in place");
    cr_assert(check_pattern(q, 100, 1));
    memset(q + 100, 2, 900);
    char *next = arena_alloc(A, 16);
    cr_assert_geq(next, q + 1000, "cursor moved past the grown block");
}

Test(arena, realloc_moves_and_copies_when_not_newest)
{
    char *p = arena_alloc(A, 100);
    fill_pattern(p, 100, 5);
    char *other = arena_alloc(A, 10);
    cr_assert_not_null(other);
    char *q = arena_realloc(A, p, 100, 300);
    cr_assert_not_null(q);
    cr_assert_neq(q, p);
    cr_assert(check_pattern(q, 100, 5));
    cr_assert(check_pattern(p, 100, 5), "the old block is left as it was");
}

Test(arena, realloc_moves_when_chunk_has_no_room)
{
    char *p = arena_alloc(A, 1000);
    fill_pattern(p, 1000, 9);
    char *q = arena_realloc(A, p, 1000, 1u << 20);
    cr_assert_not_null(q);
    cr_assert_neq(q, p);
    cr_assert(check_pattern(q, 1000, 9));
}

Test(arena, realloc_shrink_stays_in_place_and_returns_space_when_newest)
{
    char *p = arena_alloc(A, 1000);
    arena_stats_t before = stats_of(A);
    cr_assert_eq(arena_realloc(A, p, 1000, 10), p);
    arena_stats_t after = stats_of(A);
    cr_assert_eq(after.used, before.used - 1008 + 16);
    char *next = arena_alloc(A, 8);
    cr_assert_eq(next, p + 16, "space given back is reused");

    char *old = arena_alloc(A, 500);
    arena_alloc(A, 8);
    cr_assert_eq(arena_realloc(A, old, 500, 100), old, "shrink of an older block stays put");
}

Test(arena, realloc_null_acts_as_alloc)
{
    char *p = arena_realloc(A, NULL, 0, 64);
    cr_assert_not_null(p);
    cr_assert(IS_ALIGNED(p, ARENA_ALIGN));
    memset(p, 1, 64);
}

Test(arena, realloc_failure_leaves_block_untouched)
{
    char *p = arena_alloc(A, 64);
    fill_pattern(p, 64, 3);
    errno = 0;
    cr_assert_null(arena_realloc(A, p, 64, SIZE_MAX - 8));
    cr_assert_eq(errno, ENOMEM);
    cr_assert(check_pattern(p, 64, 3));
    cr_assert_eq(arena_realloc(A, p, 64, 128), p, "still the newest, still growable");
}

Test(arena, strdup_and_strndup_copy)
{
    const char *s = "hello, arena";
    char *d = arena_strdup(A, s);
    cr_assert_str_eq(d, s);
    cr_assert_neq(d, s);
    char *n = arena_strndup(A, s, 5);
    cr_assert_str_eq(n, "hello");
    char *all = arena_strndup(A, s, 1000);
    cr_assert_str_eq(all, s);
    cr_assert_str_eq(arena_strdup(A, ""), "");
    errno = 0;
    cr_assert_null(arena_strdup(A, NULL));
    cr_assert_eq(errno, EINVAL);
    errno = 0;
    cr_assert_null(arena_strndup(A, NULL, 3));
    cr_assert_eq(errno, EINVAL);
}

Test(arena, sprintf_formats_in_place_and_for_large_output)
{
    char *s = arena_sprintf(A, "%s-%d-%05.1f", "x", 42, 3.14159);
    cr_assert_str_eq(s, "x-42-003.1");
    char *t = arena_sprintf(A, "%d", 7);
    cr_assert_str_eq(t, "7");
    cr_assert_str_eq(s, "x-42-003.1", "earlier string intact");
    /* Larger than the first chunk: measured, then formatted in a new chunk. */
    char *big = arena_sprintf(A, "%200000d|", 1);
    cr_assert_not_null(big);
    cr_assert_eq(strlen(big), 200001);
    cr_assert_eq(big[199999], '1');
    cr_assert_eq(big[200000], '|');
    cr_assert_str_eq(arena_sprintf(A, "%s", ""), "");
}

static char *vs_helper(arena_t *a, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *r = arena_vsprintf(a, fmt, ap);
    va_end(ap);
    return r;
}

Test(arena, vsprintf_formats)
{
    cr_assert_str_eq(vs_helper(A, "%u+%u=%u", 1u, 2u, 3u), "1+2=3");
    errno = 0;
    cr_assert_null(vs_helper(A, NULL));
    cr_assert_eq(errno, EINVAL);
}

Test(arena, stats_track_used_peak_mapped_chunks_mmaps)
{
    arena_stats_t s = stats_of(A);
    cr_assert_eq(s.used, 0);
    cr_assert_eq(s.peak, 0);
    arena_alloc(A, 100);
    arena_alloc(A, 20);
    s = stats_of(A);
    cr_assert_eq(s.used, 112 + 32, "padding included");
    cr_assert_eq(s.peak, s.used);
    arena_reset(A);
    s = stats_of(A);
    cr_assert_eq(s.used, 0);
    cr_assert_eq(s.peak, 144);
    cr_assert_eq(s.chunks, 1);
    cr_assert_eq(s.mmaps, 1);
    arena_stats(A, NULL); /* tolerated */
}

Test(arena, max_bytes_caps_every_mapped_byte)
{
    size_t cap = 1u << 20;
    arena_opts_t o = {.chunk_size = 64 * 1024, .max_bytes = cap};
    arena_t *b = arena_create(&o);
    cr_assert_not_null(b);
    char *first = arena_alloc(b, 1000);
    fill_pattern(first, 1000, 11);
    size_t total = 0;
    for (;;) {
        errno = 0;
        char *p = arena_alloc(b, 3000);
        if (!p) {
            cr_assert_eq(errno, ENOMEM);
            break;
        }
        total += 3000;
        cr_assert_lt(total, cap, "the cap must stop growth");
    }
    arena_stats_t s = stats_of(b);
    cr_assert_leq(s.mapped, cap);
    cr_assert_gt(total, cap / 2, "most of the budget is usable (%zu)", total);
    cr_assert(check_pattern(first, 1000, 11), "nothing allocated before is lost");
    /* Still usable: small allocations fit in what is left, and reset frees. */
    arena_stats_t before = stats_of(b);
    errno = 0;
    cr_assert_null(arena_alloc(b, cap));
    cr_assert_eq(errno, ENOMEM);
    arena_stats_t after = stats_of(b);
    cr_assert_eq(before.used, after.used);
    arena_reset(b);
    cr_assert_not_null(arena_alloc(b, 3000));
    arena_destroy(b);
}

Test(arena, max_bytes_smaller_than_chunk_size_shrinks_first_chunk)
{
    arena_opts_t o = {.chunk_size = 1u << 20, .max_bytes = 16 * 1024};
    arena_t *b = arena_create(&o);
    cr_assert_not_null(b);
    cr_assert_leq(stats_of(b).mapped, 16 * 1024);
    arena_destroy(b);
    arena_opts_t tiny = {.max_bytes = 100};
    errno = 0;
    cr_assert_null(arena_create(&tiny));
    cr_assert_eq(errno, ENOMEM);
}

#ifndef TEST_ASAN
/* ASan turns the fault into its own report and exit code, so this runs in
 * the plain and debug builds. */
Test(arena, guard_page_faults_on_overflow_past_chunk, .signal = SIGSEGV)
{
    arena_opts_t o = {.chunk_size = 8192, .flags = ARENA_F_GUARD};
    arena_t *b = arena_create(&o);
    cr_assert_not_null(b);
    arena_stats_t s = stats_of(b);
    cr_assert_eq(s.mapped, 8192 + 4096);
    char *p = arena_alloc(b, 16);
    volatile char *v = p;
    for (size_t i = 0; i < 1u << 20; i++)
        v[i] = 1; /* runs off the chunk's end into the guard page */
}
#endif

Test(arena, guard_flag_arena_grows_and_works)
{
    arena_opts_t o = {.chunk_size = 8192, .flags = ARENA_F_GUARD};
    arena_t *b = arena_create(&o);
    for (int i = 0; i < 100; i++) {
        char *p = arena_alloc(b, 1000);
        cr_assert_not_null(p);
        memset(p, i, 1000);
    }
    arena_reset(b);
    arena_destroy(b);
}
