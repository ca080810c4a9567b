/*
 * test_scratch.c - per-thread scratch arenas.
 */
#include "helpers.h"

#include <pthread.h>

/* A function that returns its result in `out` and needs scratch memory: the
 * aliasing case is when its caller's `out` is itself a scratch arena. */
static char *join_words(arena_t *out, const char **words, int n)
{
    arena_mark_t tmp = arena_scratch_begin(&out, 1);
    cr_assert_not_null(tmp.arena);
    cr_assert_neq(tmp.arena, out, "scratch never aliases the output arena");
    size_t *lens = arena_alloc(tmp.arena, (size_t)n * sizeof *lens);
    size_t total = 1;
    for (int i = 0; i < n; i++)
        total += (lens[i] = strlen(words[i])) + 1;
    char *r = arena_alloc(out, total), *w = r;
    for (int i = 0; i < n; i++) {
        memcpy(w, words[i], lens[i]);
        w += lens[i];
        *w++ = i + 1 < n ? ' ' : '\0';
    }
    arena_scratch_end(tmp);
    return r;
}

Test(scratch, scope_rewinds_on_end)
{
    arena_mark_t s = arena_scratch_begin(NULL, 0);
    cr_assert_not_null(s.arena);
    size_t at_begin = stats_of(s.arena).used;
    char *p = arena_alloc(s.arena, 100000);
    cr_assert_not_null(p);
    arena_scratch_end(s);
    cr_assert_eq(stats_of(s.arena).used, at_begin, "the scope's memory is released");
    arena_mark_t s2 = arena_scratch_begin(NULL, 0);
    cr_assert_eq(s2.arena, s.arena, "the first scratch arena is reused");
    arena_scratch_end(s2);
}

Test(scratch, result_in_outer_scratch_survives_inner_scratch)
{
    const char *words[] = {"alpha", "beta", "gamma"};
    arena_mark_t outer = arena_scratch_begin(NULL, 0);
    char *joined = join_words(outer.arena, words, 3);
    for (int i = 0; i < 100; i++) { /* more inner scratch traffic */
        arena_mark_t inner = arena_scratch_begin(&outer.arena, 1);
        memset(arena_alloc(inner.arena, 4096), 0xEE, 4096);
        arena_scratch_end(inner);
    }
    cr_assert_str_eq(joined, "alpha beta gamma");
    arena_scratch_end(outer);
}

/* Bad inputs (every scratch arena conflicting, NULL conflicts with a count)
 * are in test_bad_input.c. */

static void *thread_body(void *arg)
{
    arena_t **out = arg;
    arena_mark_t s = arena_scratch_begin(NULL, 0);
    *out = s.arena;
    memset(arena_alloc(s.arena, 1000), 1, 1000);
    arena_scratch_end(s);
    return NULL;
}

Test(scratch, each_thread_has_its_own)
{
    arena_t *mine = arena_scratch_begin(NULL, 0).arena;
    arena_t *theirs[4];
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        pthread_create(&t[i], NULL, thread_body, &theirs[i]);
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        cr_assert_not_null(theirs[i]);
        cr_assert_neq(theirs[i], mine);
    }
}
