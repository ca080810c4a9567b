/*
 * test_arena_children.c - child arenas (arena_opts_t.parent): a child ends with
 * its parent's destroy, reset, or rewind to a mark older than the child, in
 * LIFO order with the parent's callbacks; a child destroyed alone is forgotten.
 */
#include "helpers.h"

/* A log of callback runs, kept in an arena that is no part of the tree, so
 * callbacks allocate (in another arena, as they may). */
static arena_t *log_arena;
static const char *order[64];
static int norder;

static void note(void *what)
{
    char *copy = arena_strdup(log_arena, what);
    cr_assert_not_null(copy);
    cr_assert_lt(norder, 64);
    order[norder++] = copy;
}

static void setup(void)
{
    log_arena = arena_create(NULL);
    norder = 0;
}

static void teardown(void) { arena_destroy(log_arena); }

static arena_t *child_of(arena_t *parent)
{
    arena_t *c = arena_create(&(arena_opts_t){.parent = parent});
    cr_assert_not_null(c);
    return c;
}

static void expect_order(const char *const *want, int n)
{
    cr_assert_eq(norder, n, "%d callbacks ran, %d expected", norder, n);
    for (int i = 0; i < n; i++)
        cr_assert_str_eq(order[i], want[i], "callback %d", i);
}

TestSuite(arena_children, .init = setup, .fini = teardown);

Test(arena_children, three_deep_end_with_the_root_newest_first)
{
    arena_t *root = arena_create(NULL);
    arena_defer(root, note, "root-old");
    arena_t *mid = child_of(root);
    arena_defer(mid, note, "mid-old");
    arena_t *leaf = child_of(mid);
    arena_defer(leaf, note, "leaf-1");
    arena_defer(leaf, note, "leaf-2");
    cr_assert_not_null(arena_alloc(leaf, 100000), "a child grows like any arena");
    arena_defer(mid, note, "mid-new");
    arena_defer(root, note, "root-new");
    arena_destroy(root);
    const char *want[] = {"root-new", "mid-new", "leaf-2", "leaf-1", "mid-old", "root-old"};
    expect_order(want, 6);
}

Test(arena_children, reset_of_the_parent_ends_its_children)
{
    arena_t *p = arena_create(NULL);
    arena_t *c = child_of(p);
    arena_defer(c, note, "c");
    arena_reset(p);
    const char *want[] = {"c"};
    expect_order(want, 1);
    /* The parent goes on, and takes new children. */
    arena_t *c2 = child_of(p);
    arena_defer(c2, note, "c2");
    arena_destroy(p);
    const char *want2[] = {"c", "c2"};
    expect_order(want2, 2);
}

Test(arena_children, rewind_across_several_children_ends_only_the_newer_ones)
{
    arena_t *p = arena_create(NULL);
    arena_t *c1 = child_of(p);
    arena_defer(c1, note, "c1");
    arena_mark_t m1 = arena_mark(p);
    arena_t *c2 = child_of(p);
    arena_defer(c2, note, "c2");
    arena_defer(p, note, "p-between");
    arena_mark_t m2 = arena_mark(p);
    arena_t *c3 = child_of(p);
    arena_defer(c3, note, "c3");
    arena_t *c4 = child_of(p);
    arena_defer(c4, note, "c4");
    cr_assert_eq(arena_rewind(p, m2), 0);
    const char *want[] = {"c4", "c3"};
    expect_order(want, 2);
    cr_assert_not_null(arena_alloc(c2, 10), "c2 is older than m2: alive");
    cr_assert_eq(arena_rewind(p, m1), 0);
    const char *want2[] = {"c4", "c3", "p-between", "c2"};
    expect_order(want2, 4);
    cr_assert_not_null(arena_alloc(c1, 10), "c1 is older than m1: alive");
    arena_destroy(p);
    const char *want3[] = {"c4", "c3", "p-between", "c2", "c1"};
    expect_order(want3, 5);
}

Test(arena_children, a_mark_taken_right_after_a_child_keeps_it)
{
    arena_t *p = arena_create(NULL);
    arena_mark_t before = arena_mark(p);
    arena_t *c = child_of(p);
    arena_defer(c, note, "c");
    arena_mark_t after = arena_mark(p);
    cr_assert_neq(after.id, before.id, "the child's creation is a new position");
    cr_assert_eq(arena_rewind(p, after), 0);
    cr_assert_eq(norder, 0, "the child is older than the mark");
    cr_assert_eq(arena_rewind(p, before), 0);
    const char *want[] = {"c"};
    expect_order(want, 1);
    arena_destroy(p);
}

Test(arena_children, child_destroyed_before_its_parent_is_forgotten)
{
    arena_t *p = arena_create(NULL);
    arena_stats_t s0 = stats_of(p);
    arena_t *c = child_of(p);
    arena_defer(c, note, "c");
    arena_destroy(c);
    const char *want[] = {"c"};
    expect_order(want, 1);
    /* Its record stays in the parent, inert: a rewind of the parent to a
     * mark taken before the child ends nothing else (the request pattern:
     * mark the parent, create the child, destroy it, rewind the parent). */
    for (int i = 0; i < 10000; i++) {
        arena_mark_t m = arena_mark(p);
        arena_t *r = child_of(p);
        cr_assert_not_null(arena_alloc(r, 1300));
        arena_destroy(r);
        cr_assert_eq(arena_rewind(p, m), 0);
    }
    cr_assert_leq(stats_of(p).used, s0.used + 256, "the parent does not grow per request");
    /* With the parent's own allocation in between, the record stays, inert. */
    arena_t *c2 = child_of(p);
    arena_defer(c2, note, "c2");
    cr_assert_not_null(arena_alloc(p, 64));
    arena_destroy(c2);
    arena_destroy(p);
    const char *want2[] = {"c", "c2"};
    expect_order(want2, 2);
}

Test(arena_children, child_destroyed_by_a_parent_callback_is_not_ended_twice)
{
    arena_t *p = arena_create(NULL);
    arena_t *c = child_of(p);
    arena_defer(c, note, "c");
    arena_defer(p, (void (*)(void *))arena_destroy, c);
    arena_destroy(p);
    const char *want[] = {"c"};
    expect_order(want, 1);
}

static void make_grandchild(void *arg)
{
    /* A callback may use other arenas: this one creates and ends a tree. */
    arena_t *t = arena_create(NULL);
    arena_t *g = child_of(t);
    arena_defer(g, note, arg);
    arena_destroy(t);
}

Test(arena_children, callbacks_that_allocate_three_deep)
{
    arena_t *root = arena_create(NULL);
    arena_t *mid = child_of(root);
    arena_t *leaf = child_of(mid);
    arena_defer(leaf, make_grandchild, "from-leaf");
    arena_defer(mid, make_grandchild, "from-mid");
    arena_defer(leaf, note, "leaf");
    for (int i = 0; i < 100; i++) {
        cr_assert_not_null(arena_alloc(root, 1000));
        cr_assert_not_null(arena_alloc(mid, 2000));
        cr_assert_not_null(arena_alloc(leaf, 3000));
    }
    arena_destroy(root);
    const char *want[] = {"from-mid", "leaf", "from-leaf"}; /* mid's callback is newer than leaf */
    expect_order(want, 3);
}

Test(arena_children, children_with_pools_and_buffers)
{
    arena_t *p = arena_create(NULL);
    static _Alignas(16) char buf[4096];
    arena_t *c = arena_create(&(arena_opts_t){.parent = p, .buffer = buf, .buffer_size = sizeof buf});
    cr_assert_not_null(c);
    pool_t *pool = pool_create(c, 24, 0);
    cr_assert_not_null(pool_alloc(pool));
    arena_defer(c, note, "c");
    arena_destroy(p);
    const char *want[] = {"c"};
    expect_order(want, 1);
}

#if !ARENAPOOL_DEBUG
/* Debug builds abort on it instead. */
static int child_in_callback_errno;

static void create_child_of(void *parent)
{
    errno = 0;
    arena_t *c = arena_create(&(arena_opts_t){.parent = parent});
    child_in_callback_errno = c == NULL ? errno : -1;
}

Test(arena_children, creating_a_child_inside_a_parent_callback_is_refused)
{
    arena_t *p = arena_create(NULL);
    arena_defer(p, create_child_of, p);
    arena_destroy(p);
    cr_assert_eq(child_in_callback_errno, EINVAL);
}
#endif

Test(arena_children, failed_child_creation_leaves_the_parent_unchanged)
{
    arena_t *p = arena_create(&(arena_opts_t){.chunk_size = 4096, .max_bytes = 4096});
    cr_assert_not_null(p);
    while (arena_alloc(p, 16) != NULL)
        ;
    arena_stats_t before = stats_of(p);
    errno = 0;
    cr_assert_null(arena_create(&(arena_opts_t){.parent = p}));
    cr_assert_eq(errno, ENOMEM, "no room for the child's record");
    UNCHANGED(p, before, "a failed child creation");
    cr_assert_eq(arena_cache_bytes(), 64 << 10, "the child's chunk went to the cache");
    arena_destroy(p);
}

#if ARENAPOOL_DEBUG
/* Debug builds report use of a child its parent ended. */
#include <signal.h>

Test(arena_children, alloc_in_a_child_its_parent_destroyed_aborts, .signal = SIGABRT)
{
    arena_t *p = arena_create(NULL);
    arena_t *c = child_of(p);
    arena_destroy(p);
    arena_alloc(c, 16);
}

Test(arena_children, mark_in_a_child_its_parent_reset_aborts, .signal = SIGABRT)
{
    arena_t *p = arena_create(NULL);
    arena_t *c = child_of(p);
    arena_reset(p);
    arena_mark(c);
}

Test(arena_children, destroy_of_a_child_its_parent_rewound_past_aborts, .signal = SIGABRT)
{
    arena_t *p = arena_create(NULL);
    arena_mark_t m = arena_mark(p);
    arena_t *c = child_of(p);
    cr_assert_eq(arena_rewind(p, m), 0);
    arena_destroy(c);
}

static void child_in_own_callback(void *parent)
{
    arena_create(&(arena_opts_t){.parent = parent});
}

Test(arena_children, creating_a_child_inside_a_parent_callback_aborts, .signal = SIGABRT)
{
    arena_t *p = arena_create(NULL);
    arena_defer(p, child_in_own_callback, p);
    arena_destroy(p);
}
#endif
