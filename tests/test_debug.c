/*
 * test_debug.c - misuse that can only be a bug is reported and aborts in
 * debug builds (ARENAPOOL_DEBUG >= 1).  Compiled into every test binary, but
 * the tests exist only where the checks are on.
 */
#include "helpers.h"

#include <signal.h>

#if ARENAPOOL_DEBUG

Test(debug, pool_double_free_aborts, .signal = SIGABRT)
{
    pool_t *p = pool_create(NULL, 64, 0);
    void *o = pool_alloc(p);
    pool_free(p, o);
    pool_free(p, o);
}

Test(debug, pool_double_free_of_small_slot_aborts, .signal = SIGABRT)
{
    pool_t *p = pool_create(NULL, 8, 0);
    void *o = pool_alloc(p);
    pool_alloc(p);
    pool_free(p, o);
    pool_free(p, o);
}

Test(debug, pool_free_of_another_pools_object_aborts, .signal = SIGABRT)
{
    pool_t *p = pool_create(NULL, 64, 0);
    pool_t *q = pool_create(NULL, 64, 0);
    pool_free(p, pool_alloc(q));
}

Test(debug, pool_free_of_arena_memory_aborts, .signal = SIGABRT)
{
    arena_t *a = arena_create(NULL);
    pool_t *p = pool_create(a, 64, 0);
    pool_alloc(p);
    pool_free(p, arena_alloc(a, 64));
}

Test(debug, pool_free_of_stack_address_aborts, .signal = SIGABRT)
{
    pool_t *p = pool_create(NULL, 16, 0);
    char local[16];
    pool_free(p, local);
}

Test(debug, pool_free_of_interior_pointer_aborts, .signal = SIGABRT)
{
    pool_t *p = pool_create(NULL, 64, 0);
    char *o = pool_alloc(p);
    pool_free(p, o + 8);
}

Test(debug, pool_free_of_never_handed_out_slot_aborts, .signal = SIGABRT)
{
    pool_t *p = pool_create(NULL, 64, 0);
    char *o = pool_alloc(p);
    pool_free(p, o + 64 * 200); /* inside the slab, never carved */
}

Test(debug, alloc_on_null_arena_aborts, .signal = SIGABRT)
{
    arena_alloc(NULL, 16);
}

Test(debug, pool_use_after_destroy_aborts, .signal = SIGABRT)
{
    arena_t *a = arena_create(NULL);
    pool_t *p = pool_create(a, 64, 0);
    pool_destroy(p);
    pool_alloc(p);
}

/* A slot carved with the first one but never handed out is free: freeing it
 * is a double free in effect, and the slot would be handed out twice. */
Test(debug, pool_free_of_carved_but_never_handed_out_slot_aborts, .signal = SIGABRT)
{
    pool_t *p = pool_create(NULL, 32, 0);
    char *o = pool_alloc(p);
    pool_free(p, o + 32);
}

Test(debug, pool_free_of_never_handed_out_pointer_sized_slot_aborts, .signal = SIGABRT)
{
    pool_t *p = pool_create(NULL, 8, 0);
    char *o = pool_alloc(p);
    pool_free(p, o + 8);
}

Test(debug, pool_free_of_never_handed_out_slot_after_reset_aborts, .signal = SIGABRT)
{
    pool_t *p = pool_create(NULL, 64, 0);
    for (int i = 0; i < 200; i++)
        pool_alloc(p);
    pool_reset(p);
    char *o = pool_alloc(p);
    pool_free(p, o + 64 * 5);
}

/* ---- A pool or arena that has ended: reported, not a crash ---- */

/* A pool in the arena's second chunk, in an arena that retains no spares: a
 * reset or rewind unmaps that chunk, so the pool's memory is gone, not merely
 * stale. */
static arena_t *no_spares(void)
{
    arena_opts_t o = {.retain_bytes = ARENA_RETAIN_NONE};
    return arena_create(&o);
}

static pool_t *pool_in_a_later_chunk(arena_t *a)
{
    while (stats_of(a).chunks == 1)
        arena_alloc(a, 4096);
    pool_t *p = pool_create(a, 64, 0);
    for (int i = 0; i < 100; i++)
        pool_alloc(p);
    return p;
}

Test(debug, pool_alloc_after_its_arena_was_reset_aborts, .signal = SIGABRT)
{
    arena_t *a = no_spares();
    pool_t *p = pool_in_a_later_chunk(a);
    arena_reset(a);
    pool_alloc(p);
}

Test(debug, pool_free_after_its_arena_was_reset_aborts, .signal = SIGABRT)
{
    arena_t *a = no_spares();
    pool_t *p = pool_in_a_later_chunk(a);
    void *o = pool_alloc(p);
    arena_reset(a);
    pool_free(p, o);
}

Test(debug, pool_alloc_after_rewind_past_its_creation_aborts, .signal = SIGABRT)
{
    arena_t *a = no_spares();
    arena_mark_t m = arena_mark(a);
    pool_t *p = pool_in_a_later_chunk(a);
    arena_rewind(a, m);
    pool_alloc(p);
}

Test(debug, pool_destroy_after_arena_destroy_aborts, .signal = SIGABRT)
{
    arena_t *a = arena_create(NULL);
    pool_t *p = pool_create(a, 64, 0);
    pool_alloc(p);
    arena_destroy(a);
    pool_destroy(p);
}

Test(debug, double_pool_destroy_of_private_pool_aborts, .signal = SIGABRT)
{
    pool_t *p = pool_create(NULL, 64, 0);
    pool_alloc(p);
    pool_destroy(p);
    pool_destroy(p);
}

Test(debug, double_pool_destroy_of_arena_pool_aborts, .signal = SIGABRT)
{
    arena_t *a = arena_create(NULL);
    pool_t *p = pool_create(a, 64, 0);
    pool_destroy(p);
    pool_destroy(p);
}

Test(debug, pool_stats_after_destroy_aborts, .signal = SIGABRT)
{
    pool_t *p = pool_create(NULL, 64, 0);
    pool_destroy(p);
    pool_stats_t s;
    pool_stats(p, &s);
}

Test(debug, alloc_on_destroyed_arena_aborts, .signal = SIGABRT)
{
    arena_t *a = arena_create(NULL);
    arena_destroy(a);
    arena_alloc(a, 16);
}

Test(debug, reset_of_destroyed_arena_aborts, .signal = SIGABRT)
{
    arena_t *a = arena_create(NULL);
    arena_destroy(a);
    arena_reset(a);
}

Test(debug, double_arena_destroy_aborts, .signal = SIGABRT)
{
    arena_t *a = arena_create(NULL);
    arena_destroy(a);
    arena_destroy(a);
}

Test(debug, mark_and_stats_of_destroyed_arena_abort, .signal = SIGABRT)
{
    arena_t *a = arena_create(NULL);
    arena_destroy(a);
    arena_stats_t s;
    arena_stats(a, &s);
    arena_mark(a);
}

/* ---- Callbacks must not change the arena that runs them ---- */

static arena_t *victim;
static void destroy_victim(void *arg) { (void)arg, arena_destroy(victim); }
static void alloc_from_victim(void *arg) { (void)arg, arena_alloc(victim, 64); }
static void reset_victim(void *arg) { (void)arg, arena_reset(victim); }

Test(debug, arena_destroy_from_own_callback_aborts, .signal = SIGABRT)
{
    victim = arena_create(NULL);
    arena_defer(victim, destroy_victim, NULL);
    arena_destroy(victim);
}

Test(debug, arena_reset_from_own_callback_aborts, .signal = SIGABRT)
{
    victim = arena_create(NULL);
    arena_mark_t m = arena_mark(victim);
    arena_defer(victim, reset_victim, NULL);
    arena_rewind(victim, m);
}

Test(debug, allocation_from_own_callback_aborts, .signal = SIGABRT)
{
    victim = arena_create(NULL);
    arena_defer(victim, alloc_from_victim, NULL);
    arena_reset(victim);
}

Test(debug, valid_use_does_not_abort)
{
    pool_t *p = pool_create(NULL, 64, 0);
    void *objs[1000];
    for (int i = 0; i < 1000; i++)
        objs[i] = pool_alloc(p);
    for (int i = 999; i >= 0; i -= 2)
        pool_free(p, objs[i]);
    for (int i = 0; i < 500; i++)
        cr_assert_not_null(pool_alloc(p));
    pool_destroy(p);
}

#endif
