/*
 * test_checker.c - the library finds the memory checker at run time and,
 * with one present, routes the inline fast paths to its slow paths (which
 * poison); without one the inline paths stay open.  Runs in every build: the
 * plain and debug suites expect no checker, the ASan suite ASan, the Memcheck
 * driver (make valgrind) Valgrind.
 */
#include "helpers.h"
#include "ap_checker.h"
#include "mp.h"

#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#endif
#endif
#ifndef RUNNING_ON_VALGRIND
#define RUNNING_ON_VALGRIND 0
#endif

static int expected_kind(void)
{
#ifdef TEST_ASAN
    return AP__CHECK_ASAN;
#else
    return RUNNING_ON_VALGRIND ? AP__CHECK_VALGRIND : AP__CHECK_NONE;
#endif
}

Test(checker, detects_the_checker_watching_the_process)
{
    cr_assert_eq(ap__checker(), expected_kind());
    cr_assert_eq(ap__checker(), ap__checker_detect(), "the answer never changes");
}

Test(checker, arena_inline_path_is_shut_only_under_a_checker)
{
    arena_t *a = arena_create(NULL);
    const struct arena__head *h = (const struct arena__head *)a;
    bool routed = ap__checker() != AP__CHECK_NONE;
    char *p = arena_alloc(a, 100);
    memset(p, 1, 100);
    cr_assert_eq(h->end == h->cur, routed, "inline room hidden iff a checker watches");
    arena_mark_t m = arena_mark(a);
    char *q = arena_alloc(a, 1u << 20); /* a new chunk */
    memset(q, 2, 1u << 20);
    cr_assert_eq(h->end == h->cur, routed);
    cr_assert_eq(arena_rewind(a, m), 0);
    cr_assert_eq(h->end == h->cur, routed);
    char *s = arena_sprintf(a, "%d", 42);
    cr_assert_str_eq(s, "42");
    cr_assert_eq(h->end == h->cur, routed);
    p = arena_realloc(a, s, 3, 200);
    cr_assert_eq(h->end == h->cur, routed);
    arena_reset(a);
    cr_assert_eq(h->end == h->cur, routed);
    /* Whatever the mode, the arena hands out room up to the chunk's end. */
    arena_stats_t st = stats_of(a);
    for (int i = 0; i < 1000; i++)
        memset(arena_alloc(a, 48), 3, 48);
    cr_assert_eq(stats_of(a).chunks, st.chunks, "the first chunk was used, not skipped");
    arena_destroy(a);
}

Test(checker, pool_inline_paths_are_shut_only_under_a_checker)
{
    pool_t *p = pool_create(NULL, 32, 0);
    const struct pool__head *h = (const struct pool__head *)p;
    bool routed = ap__checker() != AP__CHECK_NONE;
    enum { N = 300 };
    void *o[N];
    for (int i = 0; i < N; i++) {
        o[i] = pool_alloc(p);
        fill_pattern(o[i], 32, (unsigned)i);
        cr_assert_eq(h->n == POOL__HOT && h->hot[POOL__HOT] == NULL, routed);
    }
    for (int i = 0; i < N; i += 2) /* out of order, past the hot array */
        pool_free(p, o[i]);
    for (int i = 1; i < N; i += 2)
        cr_assert(check_pattern(o[i], 32, (unsigned)i));
    cr_assert_eq(h->n == POOL__HOT && h->hot[POOL__HOT] == NULL, routed);
    pool_stats_t s;
    pool_stats(p, &s);
    cr_assert_eq(s.live, N / 2);
    for (int i = 0; i < N; i += 2) /* the freed slots come back (LIFO), no new slab */
        o[i] = pool_alloc(p);
    pool_stats_t t;
    pool_stats(p, &t);
    cr_assert_eq(t.live, N);
    cr_assert_eq(t.capacity, s.capacity);
    pool_reset(p);
    cr_assert_eq(h->n == POOL__HOT && h->hot[POOL__HOT] == NULL, routed);
    pool_stats(p, &s);
    cr_assert_eq(s.live, 0);
    pool_destroy(p);
}
