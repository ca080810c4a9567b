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
