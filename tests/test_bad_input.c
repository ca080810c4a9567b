/*
 * test_bad_input.c - the bad-input table: every public function of arena.h
 * and pool.h with its bad inputs, asserting the documented answer.  The same
 * table (input -> answer) is in docs/testing.md; keep the two in step.
 * Inputs with no defined answer in release builds (arena_alloc(NULL, ...),
 * foreign pointers to pool_free, ...) are listed there, not tested here (the
 * debug and hardened suites test that they abort).  Runs in every build mode.
 */
#include "helpers.h"

#include <limits.h>
#include <wchar.h>

ARENA_FIXTURE_SUITE(bad_input);

/* expr must give NULL and set errno to e. */
#define FAILS_WITH(expr, e)                                                                    \
    do {                                                                                       \
        errno = 0;                                                                             \
        const void *r_ = (expr);                                                               \
        cr_assert_null(r_, "%s: expected NULL", #expr);                                        \
        cr_assert_eq(errno, (e), "%s: errno %d, expected %d", #expr, errno, (e));              \
    } while (0)

/* expr must give -1 and set errno to e. */
#define REFUSED_WITH(expr, e)                                                                  \
    do {                                                                                       \
        errno = 0;                                                                             \
        int r_ = (expr);                                                                       \
        cr_assert_eq(r_, -1, "%s: expected -1", #expr);                                        \
        cr_assert_eq(errno, (e), "%s: errno %d, expected %d", #expr, errno, (e));              \
    } while (0)

/* An arena whose only chunk is full: the next byte needs a mapping that
 * max_bytes forbids. */
static arena_t *full_arena(void)
{
    arena_opts_t o = {.chunk_size = 16384, .max_bytes = 16384};
    arena_t *a = arena_create(&o);
    cr_assert_not_null(a);
    while (arena_alloc(a, 16))
        ;
    cr_assert_eq(errno, ENOMEM);
    return a;
}

static int calls;
static void count_call(void *arg) { (void)arg, calls++; }

/* ---- arena_create / arena_destroy ---- */

Test(bad_input, arena_create_rejects_unknown_flags)
{
    unsigned bad[] = {2u, 4u, 0x80000000u, ~0u, ARENA_F_GUARD | 2u};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        arena_opts_t o = {.flags = bad[i]};
        FAILS_WITH(arena_create(&o), EINVAL);
    }
}

Test(bad_input, arena_create_rejects_huge_chunk_size)
{
    size_t bad[] = {SIZE_MAX, SIZE_MAX / 2 + 1, (size_t)1 << 40, ((size_t)4 << 30) + 1};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        arena_opts_t o = {.chunk_size = bad[i]};
        FAILS_WITH(arena_create(&o), ENOMEM);
    }
}

Test(bad_input, arena_create_rejects_max_bytes_below_one_page)
{
    size_t bad[] = {1, 100, 4095};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        arena_opts_t o = {.max_bytes = bad[i]};
        FAILS_WITH(arena_create(&o), ENOMEM);
    }
    /* With a guard page, one page of cap leaves no room for the chunk. */
    arena_opts_t g = {.max_bytes = 4096, .flags = ARENA_F_GUARD};
    FAILS_WITH(arena_create(&g), ENOMEM);
}

Test(bad_input, arena_create_takes_tiny_and_zero_sizes_as_hints)
{
    arena_opts_t o[] = {{.chunk_size = 1}, {.chunk_size = 0}, {.retain_bytes = 0},
                        {.chunk_size = 1, .max_bytes = 4096}, {.retain_bytes = 1}};
    for (size_t i = 0; i < sizeof o / sizeof *o; i++) {
        arena_t *a = arena_create(&o[i]);
        cr_assert_not_null(a, "opts %zu", i);
        cr_assert_not_null(arena_alloc(a, 16));
        arena_destroy(a);
    }
    arena_t *d = arena_create(NULL);
    cr_assert_not_null(d, "NULL opts = defaults");
    arena_destroy(d);
}

Test(bad_input, arena_destroy_null_is_noop) { arena_destroy(NULL); }

/* ---- arena_alloc ---- */

Test(bad_input, arena_alloc_zero_gives_valid_pointer)
{
    void *p = arena_alloc(A, 0);
    cr_assert_not_null(p);
    cr_assert(IS_ALIGNED(p, ARENA_ALIGN));
    char *q = arena_alloc(A, 1);
    cr_assert_not_null(q);
    *q = 1;
}

Test(bad_input, arena_alloc_huge_sizes_fail_with_enomem_and_change_nothing)
{
    size_t bad[] = {SIZE_MAX,      SIZE_MAX - 1, SIZE_MAX - ARENA_ALIGN, SIZE_MAX / 2 + 1,
                    SIZE_MAX / 2,  (size_t)1 << 47, (size_t)1 << 62};
    char *p = arena_alloc(A, 100);
    fill_pattern(p, 100, 1);
    arena_stats_t before = stats_of(A);
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        FAILS_WITH(arena_alloc(A, bad[i]), ENOMEM);
        UNCHANGED(A, before, "huge arena_alloc");
    }
    cr_assert(check_pattern(p, 100, 1));
    cr_assert_eq((char *)arena_alloc(A, 16), p + 112, "the cursor did not move");
}

Test(bad_input, arena_alloc_beyond_max_bytes_fails_with_enomem)
{
    arena_opts_t o = {.chunk_size = 65536, .max_bytes = 256 * 1024};
    arena_t *a = arena_create(&o);
    arena_stats_t before = stats_of(a);
    FAILS_WITH(arena_alloc(a, 256 * 1024), ENOMEM);
    FAILS_WITH(arena_alloc(a, 256 * 1024 + 1), ENOMEM);
    UNCHANGED(a, before, "capped arena_alloc");
    cr_assert_not_null(arena_alloc(a, 128 * 1024), "still works below the cap");
    arena_destroy(a);
}

/* ---- arena_alloc_aligned ---- */

Test(bad_input, arena_alloc_aligned_rejects_zero_and_non_power_of_two)
{
    size_t bad[] = {0, 3, 5, 6, 12, 24, 48, 100, 4095, 4097, 12288, SIZE_MAX};
    arena_stats_t before = stats_of(A);
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        FAILS_WITH(arena_alloc_aligned(A, 16, bad[i]), EINVAL);
        FAILS_WITH(arena_alloc_aligned(A, 0, bad[i]), EINVAL);
    }
    UNCHANGED(A, before, "bad alignment");
}

Test(bad_input, arena_alloc_aligned_honours_small_and_beyond_page_alignments)
{
    size_t good[] = {1, 2, 4, 8, 16, 32, 4096, 8192, 65536, (size_t)1 << 21};
    for (size_t i = 0; i < sizeof good / sizeof *good; i++) {
        char *p = arena_alloc_aligned(A, 24, good[i]);
        cr_assert_not_null(p, "align %zu", good[i]);
        cr_assert(IS_ALIGNED(p, good[i] > ARENA_ALIGN ? good[i] : ARENA_ALIGN), "align %zu",
                  good[i]);
        memset(p, 0xAB, 24);
    }
}

Test(bad_input, arena_alloc_aligned_huge_alignment_or_size_fails_with_enomem)
{
    arena_stats_t before = stats_of(A);
    FAILS_WITH(arena_alloc_aligned(A, 16, (size_t)1 << 63), ENOMEM);
    FAILS_WITH(arena_alloc_aligned(A, 16, (size_t)1 << 62), ENOMEM);
    FAILS_WITH(arena_alloc_aligned(A, SIZE_MAX, 64), ENOMEM);
    FAILS_WITH(arena_alloc_aligned(A, SIZE_MAX - 4096, 4096), ENOMEM);
    UNCHANGED(A, before, "huge aligned alloc");
}

/* ---- arena_calloc / arena_calloc_aligned / ARENA_NEW_ARRAY ---- */

Test(bad_input, arena_calloc_overflow_fails_with_enomem)
{
    size_t bad[][2] = {{SIZE_MAX, 2},         {2, SIZE_MAX},         {SIZE_MAX, SIZE_MAX},
                       {(size_t)1 << 32, (size_t)1 << 32},            {SIZE_MAX / 16 + 1, 16},
                       {16, SIZE_MAX / 16 + 1}, {SIZE_MAX / 2 + 1, 2}};
    arena_stats_t before = stats_of(A);
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        FAILS_WITH(arena_calloc(A, bad[i][0], bad[i][1]), ENOMEM);
        FAILS_WITH(arena_calloc_aligned(A, bad[i][0], bad[i][1], 64), ENOMEM);
    }
    UNCHANGED(A, before, "overflowing calloc");
}

Test(bad_input, arena_calloc_with_a_zero_factor_gives_valid_pointer)
{
    cr_assert_not_null(arena_calloc(A, 0, SIZE_MAX));
    cr_assert_not_null(arena_calloc(A, SIZE_MAX, 0));
    cr_assert_not_null(arena_calloc(A, 0, 0));
}

Test(bad_input, arena_calloc_aligned_rejects_bad_alignment)
{
    size_t bad[] = {0, 3, 24, 100};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        FAILS_WITH(arena_calloc_aligned(A, 4, 16, bad[i]), EINVAL);
    unsigned char *p = arena_calloc_aligned(A, 4, 16, 8192);
    cr_assert(IS_ALIGNED(p, 8192));
    for (int i = 0; i < 64; i++)
        cr_assert_eq(p[i], 0);
}

Test(bad_input, arena_new_array_overflow_fails_with_enomem)
{
    typedef struct {
        double d[4];
    } big_t;
    FAILS_WITH(ARENA_NEW_ARRAY(A, big_t, SIZE_MAX), ENOMEM);
    FAILS_WITH(ARENA_NEW_ARRAY(A, big_t, SIZE_MAX / sizeof(big_t) + 1), ENOMEM);
}

/* ---- arena_realloc ---- */

Test(bad_input, arena_realloc_null_pointer_acts_as_alloc)
{
    char *p = arena_realloc(A, NULL, 0, 40);
    cr_assert_not_null(p);
    cr_assert(IS_ALIGNED(p, ARENA_ALIGN));
    memset(p, 1, 40);
    FAILS_WITH(arena_realloc(A, NULL, 0, SIZE_MAX), ENOMEM);
    FAILS_WITH(arena_realloc(A, NULL, 123, SIZE_MAX / 2 + 1), ENOMEM);
}

Test(bad_input, arena_realloc_huge_size_fails_and_leaves_block_untouched)
{
    char *older = arena_alloc(A, 64);
    fill_pattern(older, 64, 3);
    char *newest = arena_alloc(A, 64);
    fill_pattern(newest, 64, 4);
    arena_stats_t before = stats_of(A);
    size_t bad[] = {SIZE_MAX, SIZE_MAX - 8, SIZE_MAX / 2 + 1, (size_t)1 << 47};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        FAILS_WITH(arena_realloc(A, newest, 64, bad[i]), ENOMEM);
        FAILS_WITH(arena_realloc(A, older, 64, bad[i]), ENOMEM);
        UNCHANGED(A, before, "huge realloc");
    }
    cr_assert(check_pattern(older, 64, 3));
    cr_assert(check_pattern(newest, 64, 4));
}

Test(bad_input, arena_realloc_beyond_max_bytes_leaves_block_untouched)
{
    arena_opts_t o = {.chunk_size = 65536, .max_bytes = 65536};
    arena_t *a = arena_create(&o);
    char *p = arena_alloc(a, 1000);
    fill_pattern(p, 1000, 5);
    arena_stats_t before = stats_of(a);
    FAILS_WITH(arena_realloc(a, p, 1000, 70000), ENOMEM);
    UNCHANGED(a, before, "capped realloc");
    cr_assert(check_pattern(p, 1000, 5));
    char *q = arena_realloc(a, p, 1000, 2000);
    cr_assert_eq(q, p, "still grows in place afterwards");
    cr_assert(check_pattern(q, 1000, 5));
    arena_destroy(a);
}

Test(bad_input, arena_realloc_aligned_rejects_bad_alignment_and_huge_sizes)
{
    char *p = arena_alloc(A, 64);
    fill_pattern(p, 64, 6);
    arena_stats_t before = stats_of(A);
    size_t bad_align[] = {0, 3, 48, 100, 4097, SIZE_MAX};
    for (size_t i = 0; i < sizeof bad_align / sizeof *bad_align; i++) {
        FAILS_WITH(arena_realloc_aligned(A, p, 64, 128, bad_align[i]), EINVAL);
        FAILS_WITH(arena_realloc_aligned(A, NULL, 0, 128, bad_align[i]), EINVAL);
    }
    FAILS_WITH(arena_realloc_aligned(NULL, p, 64, 128, 16), EINVAL);
    size_t bad_size[] = {SIZE_MAX, SIZE_MAX / 2 + 1, (size_t)1 << 47};
    for (size_t i = 0; i < sizeof bad_size / sizeof *bad_size; i++)
        FAILS_WITH(arena_realloc_aligned(A, p, 64, bad_size[i], 4096), ENOMEM);
    FAILS_WITH(arena_realloc_aligned(A, p, 64, 16, (size_t)1 << 62), ENOMEM);
    UNCHANGED(A, before, "bad arena_realloc_aligned");
    cr_assert(check_pattern(p, 64, 6));
}

Test(bad_input, arena_alloc_deferred_rejects_bad_arguments_and_registers_nothing)
{
    arena_stats_t before = stats_of(A);
    calls = 0;
    FAILS_WITH(arena_alloc_deferred(A, 16, 16, NULL, NULL), EINVAL);
    size_t bad_align[] = {0, 3, 24, SIZE_MAX};
    for (size_t i = 0; i < sizeof bad_align / sizeof *bad_align; i++)
        FAILS_WITH(arena_alloc_deferred(A, 16, bad_align[i], count_call, NULL), EINVAL);
    FAILS_WITH(arena_alloc_deferred(NULL, 16, 16, count_call, NULL), EINVAL);
    size_t bad_size[] = {SIZE_MAX, SIZE_MAX - 16, SIZE_MAX / 2 + 1, (size_t)1 << 47};
    for (size_t i = 0; i < sizeof bad_size / sizeof *bad_size; i++)
        FAILS_WITH(arena_alloc_deferred(A, bad_size[i], 16, count_call, NULL), ENOMEM);
    UNCHANGED(A, before, "bad arena_alloc_deferred");
    arena_reset(A);
    cr_assert_eq(calls, 0, "no callback of a failed call was registered");
}

Test(bad_input, arena_realloc_to_zero_returns_the_space_of_the_newest)
{
    char *p = arena_alloc(A, 256);
    cr_assert_eq(arena_realloc(A, p, 256, 0), p);
    cr_assert_eq(arena_alloc(A, 16), p, "the space was given back");
}

/* A wrong (smaller) old size makes even the newest block look "not newest":
 * the answer is a fresh block holding the first old_size bytes, and the
 * original block is left as it was (it is not freed). */
Test(bad_input, arena_realloc_with_too_small_old_size_copies_and_keeps_the_block)
{
    char *older = arena_alloc(A, 100);
    fill_pattern(older, 100, 6);
    char *newest = arena_alloc(A, 100);
    fill_pattern(newest, 100, 7);

    char *q = arena_realloc(A, older, 40, 300); /* not newest, wrong old size */
    cr_assert_not_null(q);
    cr_assert(q != older && q != newest);
    cr_assert(check_pattern(q, 40, 6), "old_size bytes copied");
    cr_assert(check_pattern(older, 100, 6), "the original block is untouched");
    cr_assert(check_pattern(newest, 100, 7), "its neighbour is untouched");

    char *n2 = arena_alloc(A, 100);
    fill_pattern(n2, 100, 8);
    char *r = arena_realloc(A, n2, 50, 400); /* newest, wrong old size */
    cr_assert(r != n2, "not treated as the newest block");
    cr_assert(check_pattern(r, 50, 8));
    cr_assert(check_pattern(n2, 100, 8));
    cr_assert(check_pattern(q, 40, 6));
}

Test(bad_input, arena_realloc_shrink_of_non_newest_stays_in_place)
{
    char *older = arena_alloc(A, 200);
    fill_pattern(older, 200, 9);
    char *newest = arena_alloc(A, 16);
    cr_assert_eq(arena_realloc(A, older, 200, 50), older);
    cr_assert(check_pattern(older, 50, 9));
    cr_assert_eq((char *)arena_alloc(A, 16), newest + 16, "no space given back");
}

/* ---- arena_strdup / arena_strndup / arena_sprintf ---- */

Test(bad_input, arena_strdup_of_null_fails_with_einval)
{
    FAILS_WITH(arena_strdup(A, NULL), EINVAL);
    FAILS_WITH(arena_strndup(A, NULL, 0), EINVAL);
    FAILS_WITH(arena_strndup(A, NULL, SIZE_MAX), EINVAL);
}

Test(bad_input, arena_strndup_bounds_are_honoured)
{
    cr_assert_str_eq(arena_strdup(A, ""), "");
    cr_assert_str_eq(arena_strndup(A, "abc", 0), "");
    cr_assert_str_eq(arena_strndup(A, "abc", SIZE_MAX), "abc");
    char raw[4] = {'w', 'x', 'y', 'z'}; /* not NUL-terminated */
    cr_assert_str_eq(arena_strndup(A, raw, 4), "wxyz");
    cr_assert_str_eq(arena_strndup(A, raw, 2), "wx");
}

Test(bad_input, arena_sprintf_null_format_fails_with_einval)
{
    const char *volatile fmt = NULL;
    FAILS_WITH(arena_sprintf(A, fmt, 1), EINVAL);
}

Test(bad_input, arena_sprintf_format_error_fails_and_changes_nothing)
{
    /* A lone surrogate cannot be converted to a multibyte string. */
    static const wchar_t bad[] = {0xD800, 0};
    arena_stats_t before = stats_of(A);
    errno = 0;
    cr_assert_null(arena_sprintf(A, "%ls", bad));
    cr_assert_neq(errno, 0);
    UNCHANGED(A, before, "format error");
}

Test(bad_input, arena_sprintf_output_beyond_max_bytes_fails_with_enomem)
{
    arena_opts_t o = {.chunk_size = 65536, .max_bytes = 65536};
    arena_t *a = arena_create(&o);
    arena_stats_t before = stats_of(a);
    FAILS_WITH(arena_sprintf(a, "%*s", 200000, "x"), ENOMEM);
    UNCHANGED(a, before, "capped sprintf");
    cr_assert_str_eq(arena_sprintf(a, "%d", 42), "42");
    arena_destroy(a);
}

/* ---- arena_defer ---- */

Test(bad_input, arena_defer_null_function_fails_with_einval)
{
    arena_stats_t before = stats_of(A);
    REFUSED_WITH(arena_defer(A, NULL, NULL), EINVAL);
    REFUSED_WITH(arena_defer(A, NULL, A), EINVAL);
    UNCHANGED(A, before, "arena_defer(NULL)");
}

/* ---- A full arena: every call that needs arena memory fails cleanly ---- */

Test(bad_input, full_arena_fails_every_call_with_enomem)
{
    arena_t *a = full_arena();
    arena_stats_t before = stats_of(a);
    calls = 0;
    FAILS_WITH(arena_alloc(a, 1), ENOMEM);
    FAILS_WITH(arena_alloc_aligned(a, 1, 4096), ENOMEM);
    FAILS_WITH(arena_calloc(a, 1, 1), ENOMEM);
    FAILS_WITH(arena_realloc(a, NULL, 0, 1), ENOMEM);
    FAILS_WITH(arena_strdup(a, "x"), ENOMEM);
    FAILS_WITH(arena_sprintf(a, "%d", 1), ENOMEM);
    FAILS_WITH(pool_create(a, 16, 0), ENOMEM);
    FAILS_WITH(arena_realloc_aligned(a, NULL, 0, 1, 64), ENOMEM);
    FAILS_WITH(arena_alloc_deferred(a, 1, 16, count_call, NULL), ENOMEM);
    REFUSED_WITH(arena_defer(a, count_call, NULL), ENOMEM);
    /* A mark that could not be recorded is empty: rewinding to it is ENOMEM. */
    arena_mark_t m = arena_mark(a);
    REFUSED_WITH(arena_rewind(a, m), ENOMEM);
    UNCHANGED(a, before, "calls on a full arena");
    arena_reset(a);
    cr_assert_not_null(arena_alloc(a, 64), "works again after a reset");
    arena_destroy(a);
    cr_assert_eq(calls, 0, "the refused callback was never registered");
}

/* ---- arena_mark / arena_rewind ---- */

Test(bad_input, arena_rewind_refuses_foreign_marks)
{
    arena_t *b = arena_create(NULL);
    arena_mark_t mb = arena_mark(b);
    arena_mark_t ma = arena_mark(A);
    arena_alloc(A, 64);
    arena_stats_t before = stats_of(A);
    REFUSED_WITH(arena_rewind(A, mb), EINVAL);
    arena_mark_t zero = {0};
    REFUSED_WITH(arena_rewind(A, zero), EINVAL);
    REFUSED_WITH(arena_rewind(b, zero), EINVAL);
    /* A mark of A with its arena field pointing elsewhere. */
    arena_mark_t swapped = ma;
    swapped.arena = b;
    REFUSED_WITH(arena_rewind(A, swapped), EINVAL);
    REFUSED_WITH(arena_rewind(b, ma), EINVAL);
    cr_assert_eq(arena_rewind(b, mb), 0, "the right arena takes it");
    UNCHANGED(A, before, "foreign marks");
    arena_destroy(b);
    cr_assert_eq(arena_rewind(A, ma), 0);
}

Test(bad_input, arena_rewind_refuses_forged_marks)
{
    arena_mark_t m = arena_mark(A);
    arena_alloc(A, 64);
    arena_stats_t before = stats_of(A);
    arena_mark_t f = m;
    f.id = m.id + 1;
    REFUSED_WITH(arena_rewind(A, f), EINVAL);
    f.id = m.id - 1;
    REFUSED_WITH(arena_rewind(A, f), EINVAL);
    f.id = UINT64_MAX;
    REFUSED_WITH(arena_rewind(A, f), EINVAL);
    f = m;
    char local;
    f.rec = &local;
    REFUSED_WITH(arena_rewind(A, f), EINVAL);
    UNCHANGED(A, before, "forged marks");
    cr_assert_eq(arena_rewind(A, m), 0);
}

Test(bad_input, arena_rewind_refuses_stale_marks_and_changes_nothing)
{
    arena_mark_t outer = arena_mark(A);
    arena_alloc(A, 32); /* else the two marks share one record */
    arena_mark_t inner = arena_mark(A);
    cr_assert_eq(arena_rewind(A, outer), 0);
    cr_assert_eq(arena_rewind(A, outer), 0, "rewinding to one mark twice is fine");
    calls = 0;
    char *p = arena_alloc(A, 64);
    fill_pattern(p, 64, 10);
    cr_assert_eq(arena_defer(A, count_call, NULL), 0);
    arena_stats_t before = stats_of(A);
    REFUSED_WITH(arena_rewind(A, inner), EINVAL);
    UNCHANGED(A, before, "stale rewind");
    cr_assert_eq(calls, 0, "no callback ran");
    cr_assert(check_pattern(p, 64, 10));
}

Test(bad_input, arena_rewind_refuses_stale_mark_whose_record_address_was_reused)
{
    arena_mark_t outer = arena_mark(A);
    arena_alloc(A, 32);
    arena_mark_t inner = arena_mark(A);
    cr_assert_eq(arena_rewind(A, outer), 0);
    arena_alloc(A, 32);
    arena_mark_t again = arena_mark(A); /* a new record at inner's old address */
    cr_assert_eq(again.rec, inner.rec);
    REFUSED_WITH(arena_rewind(A, inner), EINVAL);
    cr_assert_eq(arena_rewind(A, again), 0);
}

Test(bad_input, arena_rewind_refuses_marks_made_stale_by_reset)
{
    arena_mark_t m = arena_mark(A);
    arena_alloc(A, 100000); /* a second chunk */
    arena_mark_t m2 = arena_mark(A);
    arena_reset(A);
    REFUSED_WITH(arena_rewind(A, m), EINVAL);
    REFUSED_WITH(arena_rewind(A, m2), EINVAL);
}

/* The stale mark's record lived in a chunk that has been unmapped: refusing it
 * must not read that memory (the test would fault). */
Test(bad_input, arena_rewind_refuses_mark_in_an_unmapped_chunk)
{
    arena_opts_t o = {.chunk_size = 8192, .retain_bytes = ARENA_RETAIN_NONE};
    arena_t *a = arena_create(&o);
    arena_mark_t base = arena_mark(a);
    arena_alloc(a, 200000);
    arena_mark_t inside = arena_mark(a);
    cr_assert_eq(arena_rewind(a, base), 0);
    cr_assert_eq(stats_of(a).chunks, 1, "the big chunk was unmapped");
    REFUSED_WITH(arena_rewind(a, inside), EINVAL);
    arena_destroy(a);
}

/* ---- arena_stats / arena_reset ---- */

Test(bad_input, arena_stats_null_out_is_noop) { arena_stats(A, NULL); }

/* ---- Scratch arenas ---- */

Test(bad_input, arena_scratch_begin_refuses_when_every_scratch_arena_conflicts)
{
    arena_mark_t s1 = arena_scratch_begin(NULL, 0);
    cr_assert_not_null(s1.arena);
    arena_mark_t s2 = arena_scratch_begin(&s1.arena, 1);
    cr_assert_not_null(s2.arena);
    cr_assert(s2.arena != s1.arena);
    arena_t *both[] = {s1.arena, s2.arena};
    errno = 0;
    arena_mark_t s3 = arena_scratch_begin(both, 2);
    cr_assert_null(s3.arena);
    cr_assert_eq(errno, EINVAL);
    arena_scratch_end(s2);
    arena_scratch_end(s1);
}

Test(bad_input, arena_scratch_begin_refuses_null_conflicts_with_nonzero_count)
{
    errno = 0;
    arena_mark_t s = arena_scratch_begin(NULL, 3);
    cr_assert_null(s.arena);
    cr_assert_eq(errno, EINVAL);
}

/* ---- pool_create / pool_destroy ---- */

Test(bad_input, pool_create_rejects_bad_sizes_and_alignments)
{
    size_t bad_size[] = {0, SIZE_MAX, SIZE_MAX - 7, SIZE_MAX / 2, SIZE_MAX / 4 + 1};
    for (size_t i = 0; i < sizeof bad_size / sizeof *bad_size; i++) {
        FAILS_WITH(pool_create(A, bad_size[i], 0), EINVAL);
        FAILS_WITH(pool_create(NULL, bad_size[i], 0), EINVAL);
    }
    size_t bad_align[] = {3, 5, 24, 48, 100, 4097, SIZE_MAX, (size_t)1 << 63};
    for (size_t i = 0; i < sizeof bad_align / sizeof *bad_align; i++) {
        FAILS_WITH(pool_create(A, 32, bad_align[i]), EINVAL);
        FAILS_WITH(pool_create(NULL, 32, bad_align[i]), EINVAL);
    }
}

Test(bad_input, pool_create_tiny_sizes_and_big_alignments_work)
{
    pool_t *p1 = pool_create(A, 1, 1);
    void *a = pool_alloc(p1), *b = pool_alloc(p1);
    cr_assert(a && b && a != b);
    pool_stats_t s;
    pool_stats(p1, &s);
    cr_assert_geq(s.obj_size, sizeof(void *), "a slot holds at least a pointer");
    pool_t *p2 = pool_create(A, 40, 8192);
    for (int i = 0; i < 20; i++) {
        char *o = pool_alloc(p2);
        cr_assert(IS_ALIGNED(o, 8192));
        memset(o, i, 40);
    }
}

Test(bad_input, pool_alloc_fails_with_enomem_when_no_slab_can_be_had)
{
    pool_t *p = pool_create(A, (size_t)1 << 44, 0); /* a slab would be 128 TiB */
    cr_assert_not_null(p, "creating is fine: slabs come on first use");
    FAILS_WITH(pool_alloc(p), ENOMEM);
    FAILS_WITH(pool_calloc(p), ENOMEM);
}

Test(bad_input, pool_alloc_in_full_arena_fails_and_keeps_objects)
{
    arena_opts_t o = {.chunk_size = 65536, .max_bytes = 65536};
    arena_t *a = arena_create(&o);
    pool_t *p = pool_create(a, 128, 0);
    void *objs[1024];
    size_t n = 0;
    for (; n < 1024 && (objs[n] = pool_alloc(p)) != NULL; n++)
        fill_pattern(objs[n], 128, (unsigned)n);
    cr_assert_lt(n, 1024);
    cr_assert_eq(errno, ENOMEM);
    FAILS_WITH(pool_alloc(p), ENOMEM);
    FAILS_WITH(pool_calloc(p), ENOMEM);
    for (size_t i = 0; i < n; i++)
        cr_assert(check_pattern(objs[i], 128, (unsigned)i));
    pool_free(p, objs[3]);
    cr_assert_eq(pool_alloc(p), objs[3], "works again once a slot is free");
    arena_destroy(a);
}

Test(bad_input, pool_destroy_null_is_noop) { pool_destroy(NULL); }

/* ---- pool_free / pool_owns / pool_stats ---- */

Test(bad_input, pool_free_null_is_noop)
{
    pool_t *p = pool_create(A, 32, 0);
    void *o = pool_alloc(p);
    pool_stats_t s0;
    pool_stats(p, &s0);
    for (int i = 0; i < 200; i++) /* enough to cross spills and refills */
        pool_free(p, NULL);
    pool_stats_t s1;
    pool_stats(p, &s1);
    cr_assert_eq(s1.live, s0.live);
    void *q = pool_alloc(p);
    cr_assert(q && q != o);
}

Test(bad_input, pool_owns_answers_false_for_anything_not_a_slot)
{
    pool_t *p = pool_create(A, 64, 0);
    pool_t *q = pool_create(A, 64, 0);
    char *o = pool_alloc(p);
    void *other = pool_alloc(q);
    char local[64];
    void *heap = malloc(64);
    cr_assert_not(pool_owns(NULL, o));
    cr_assert_not(pool_owns(p, NULL));
    cr_assert_not(pool_owns(NULL, NULL));
    cr_assert_not(pool_owns(p, local), "stack");
    cr_assert_not(pool_owns(p, heap), "malloc");
    cr_assert_not(pool_owns(p, other), "another pool");
    cr_assert_not(pool_owns(p, arena_alloc(A, 64)), "arena memory");
    cr_assert_not(pool_owns(p, o + 1), "interior");
    cr_assert_not(pool_owns(p, o + 63), "interior");
    cr_assert_not(pool_owns(p, (void *)(uintptr_t)-1), "top of address space");
    cr_assert(pool_owns(p, o));
    pool_free(p, o);
    cr_assert(pool_owns(p, o), "a free slot is still the pool's");
    free(heap);
}

Test(bad_input, pool_obj_size_and_align_of_null_pool_are_zero_with_einval)
{
    errno = 0;
    cr_assert_eq(pool_obj_size(NULL), 0);
    cr_assert_eq(errno, EINVAL);
    errno = 0;
    cr_assert_eq(pool_obj_align(NULL), 0);
    cr_assert_eq(errno, EINVAL);
}

Test(bad_input, pool_stats_null_out_is_noop)
{
    pool_t *p = pool_create(A, 32, 0);
    pool_stats(p, NULL);
}
