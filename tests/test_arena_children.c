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

/* Where a's next allocation goes.  Why through a volatile: arena_alloc is
 * declared malloc-like, so the compiler may take its result for a pointer
 * equal to no other, and fold a comparison with one away. */
static char *cursor_of(arena_t *a)
{
    void *volatile p = arena_alloc(a, 0);
    return p;
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
    cr_assert_eq(stats_of(p).used, s0.used,
                 "nothing was allocated in the parent since: its record is given back");
    /* The request pattern of examples/http_server (mark the parent, create
     * the child, destroy it, rewind the parent) ends nothing else. */
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

/* The memory promise: a parent that creates and destroys children alone, with
 * nothing of its own allocated in between, does not grow at all. */
Test(arena_children, children_destroyed_alone_leave_a_long_lived_parent_flat)
{
    arena_t *p = arena_create(NULL);
    cr_assert_not_null(arena_alloc(p, 100));
    arena_defer(p, note, "p");
    arena_stats_t s0 = stats_of(p);
    char *at = cursor_of(p);
    for (int i = 0; i < 100000; i++) {
        arena_t *r = arena_create(&(arena_opts_t){.parent = p, .chunk_size = 4096});
        cr_assert_not_null(r);
        cr_assert_not_null(arena_alloc(r, 1300));
        arena_destroy(r);
    }
    arena_stats_t s = stats_of(p);
    cr_assert_eq(s.used, s0.used, "used %zu after the children, %zu before", s.used, s0.used);
    cr_assert_eq(s.mapped, s0.mapped);
    cr_assert_eq(s.chunks, s0.chunks);
    cr_assert_eq(s.mmaps, s0.mmaps);
    cr_assert_geq(s.peak, s0.used + 48, "peak saw each record while it was held");
    cr_assert_eq(cursor_of(p), at, "the given-back record is reused");
#ifdef TEST_ASAN
    cr_assert(__asan_address_is_poisoned(at), "a given-back record is poisoned");
#endif
    cr_assert_eq(norder, 0);
    arena_destroy(p);
    const char *want[] = {"p"};
    expect_order(want, 1);
}

/* The shape fuzz_arena found (tests/fuzz/corpus/arena/child-record-giveback-
 * rewind), in a buffer arena as there: a mark, a child destroyed alone (its
 * record given back), a second mark at the same position (sharing the first's
 * record), callbacks, a rewind to the first mark, new callbacks, and a rewind
 * to the second: the same position, so exactly the callbacks registered since
 * it run, newest first, and none older than the marks. */
Test(arena_children, a_mark_taken_after_a_given_back_record_ends_exactly_the_newer_callbacks)
{
    static _Alignas(4096) char buf[64 << 10];
    arena_t *p = arena_create(
        &(arena_opts_t){.buffer = buf, .buffer_size = sizeof buf, .max_bytes = sizeof buf});
    cr_assert_not_null(p);
    arena_defer(p, note, "old");
    arena_mark_t m1 = arena_mark(p);
    arena_t *c = child_of(p);
    arena_defer(c, note, "c");
    arena_destroy(c);
    arena_mark_t m2 = arena_mark(p);
    cr_assert_eq(m2.id, m1.id, "the record was given back: the position of m1 again");
    arena_defer(p, note, "a1");
    cr_assert_not_null(arena_alloc(p, 300));
    arena_defer(p, note, "a2");
    cr_assert_eq(arena_rewind(p, m1), 0);
    const char *want[] = {"c", "a2", "a1"};
    expect_order(want, 3);
    arena_defer(p, note, "b1");
    arena_t *c2 = child_of(p);
    arena_defer(c2, note, "c2");
    cr_assert_not_null(arena_alloc(p, 20000));
    arena_defer(p, note, "b2");
    cr_assert_eq(arena_rewind(p, m2), 0, "m2 shares m1's record: still live");
    const char *want2[] = {"c", "a2", "a1", "b2", "c2", "b1"};
    expect_order(want2, 6);
    cr_assert_eq(arena_rewind(p, m1), 0);
    expect_order(want2, 6);
    arena_destroy(p);
    const char *want3[] = {"c", "a2", "a1", "b2", "c2", "b1", "old"};
    expect_order(want3, 7);
}

/* The other direction: a mark taken after the child lies above its record, so
 * the record stays when the child is destroyed alone, and a rewind to that
 * mark runs exactly the callbacks registered after it. */
Test(arena_children, a_mark_taken_after_the_child_keeps_its_record)
{
    static _Alignas(4096) char buf[64 << 10];
    arena_t *p = arena_create(
        &(arena_opts_t){.buffer = buf, .buffer_size = sizeof buf, .max_bytes = sizeof buf});
    cr_assert_not_null(p);
    arena_defer(p, note, "old");
    arena_mark_t before = arena_mark(p);
    arena_defer(p, note, "p0");
    arena_t *c = child_of(p);
    arena_defer(c, note, "c");
    arena_mark_t after = arena_mark(p);
    arena_stats_t s = stats_of(p);
    arena_destroy(c);
    const char *want[] = {"c"};
    expect_order(want, 1);
    cr_assert_eq(stats_of(p).used, s.used, "the mark's record is above the child's: it stays");
    arena_defer(p, note, "n1");
    arena_defer(p, note, "n2");
    cr_assert_eq(arena_rewind(p, after), 0);
    const char *want2[] = {"c", "n2", "n1"};
    expect_order(want2, 3);
    cr_assert_eq(stats_of(p).used, s.used);
    arena_mark_t again = arena_mark(p);
    cr_assert_eq(again.id, after.id, "the record stays under the mark");
    arena_defer(p, note, "n3");
    cr_assert_eq(arena_rewind(p, before), 0);
    const char *want3[] = {"c", "n2", "n1", "n3", "p0"};
    expect_order(want3, 5);
    arena_destroy(p);
    const char *want4[] = {"c", "n2", "n1", "n3", "p0", "old"};
    expect_order(want4, 6);
}

/* Chunk boundaries: a record that opens a new chunk is given back there (the
 * chunk stays, empty, and the next child's record goes to the same place); a
 * record left in an older chunk stays until the parent's scope ends. */
Test(arena_children, records_at_chunk_boundaries)
{
    static _Alignas(4096) char buf[4096];
    arena_t *p = arena_create(&(arena_opts_t){.buffer = buf, .buffer_size = sizeof buf});
    cr_assert_not_null(p);
    arena_mark_t m0 = arena_mark(p);
    arena_defer(p, note, "p0");
    char *cur = cursor_of(p);
    cr_assert_not_null(arena_alloc(p, (size_t)(buf + sizeof buf - cur) - 32));
    arena_stats_t s0 = stats_of(p);
    cr_assert_eq(s0.chunks, 1);
    arena_t *c = child_of(p);
    arena_stats_t s1 = stats_of(p);
    cr_assert_eq(s1.chunks, 2, "32 bytes left: the record opened a new chunk");
    arena_destroy(c);
    cr_assert_eq(stats_of(p).used, s0.used, "given back at the start of the new chunk");
    for (int i = 0; i < 1000; i++)
        arena_destroy(child_of(p));
    arena_stats_t s2 = stats_of(p);
    cr_assert_eq(s2.used, s0.used);
    cr_assert_eq(s2.mapped, s1.mapped);
    cr_assert_eq(s2.chunks, 2);
    c = child_of(p);
    arena_defer(c, note, "c");
    arena_defer(p, note, "p1");
    cr_assert_eq(arena_rewind(p, m0), 0);
    const char *want[] = {"p1", "c", "p0"};
    expect_order(want, 3);

    /* A record that ends its chunk exactly, then the parent grows past it. */
    arena_defer(p, note, "q0");
    cur = cursor_of(p);
    cr_assert_not_null(arena_alloc(p, (size_t)(buf + sizeof buf - cur) - 48));
    c = child_of(p);
    arena_defer(c, note, "c2");
    cr_assert_eq((size_t)(cursor_of(p) - buf), sizeof buf, "the record ends the first chunk");
    cr_assert_not_null(arena_alloc(p, 16), "this goes to a newer chunk");
    arena_stats_t s3 = stats_of(p);
    arena_destroy(c);
    cr_assert_eq(stats_of(p).used, s3.used, "a record in an older chunk stays");
    arena_defer(p, note, "q1");
    cr_assert_eq(arena_rewind(p, m0), 0);
    const char *want2[] = {"p1", "c", "p0", "c2", "q1", "q0"};
    expect_order(want2, 6);
    arena_destroy(p);
    expect_order(want2, 6);
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
