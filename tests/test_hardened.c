/*
 * test_hardened.c - ARENAPOOL_HARDENED: a corrupted or forged pool free list
 * and a double free are reported and abort, also through the inline fast
 * paths (which call the checked functions in this mode).  Compiled into every
 * test binary; the tests exist only in the hardened build (make hardened).
 */
#include "helpers.h"

#include <signal.h>

#if ARENAPOOL_HARDENED

enum { N = 200 };

/* Fill a pool's free list far enough that older free slots are spilled into
 * nodes (free slots holding encoded addresses of other free slots). */
static pool_t *pool_with_spilled_free_list(size_t size, void **objs)
{
    pool_t *p = pool_create(NULL, size, 0);
    cr_assert_not_null(p);
    for (int i = 0; i < N; i++)
        cr_assert_not_null(objs[i] = pool_alloc(p));
    for (int i = 0; i < N; i++)
        pool_free(p, objs[i]);
    return p;
}

Test(hardened, forged_free_list_word_aborts, .signal = SIGABRT)
{
    void *objs[N];
    pool_t *p = pool_with_spilled_free_list(64, objs);
    char local[64];
    /* A use after free writes a forged "next free slot" (a stack address)
     * into the first words of every freed object.  Hardened mode must not
     * hand that address out. */
    for (int i = 0; i < N; i++) {
        void **w = objs[i];
        w[0] = local;
        w[1] = local;
    }
    for (int i = 0; i < 2 * N; i++) {
        void *o = pool_alloc(p);
        cr_assert(o != (void *)local, "forged address handed out");
    }
    cr_assert_fail("corrupted free list not detected");
}

Test(hardened, overwritten_free_list_word_aborts, .signal = SIGABRT)
{
    void *objs[N];
    pool_t *p = pool_with_spilled_free_list(32, objs);
    /* A linear overflow from a live neighbour: plain bytes over the words. */
    for (int i = 0; i < N; i++)
        memset(objs[i], 0x41, 2 * sizeof(void *));
    for (int i = 0; i < 2 * N; i++)
        pool_alloc(p);
    cr_assert_fail("corrupted free list not detected");
}

Test(hardened, double_free_aborts, .signal = SIGABRT)
{
    pool_t *p = pool_create(NULL, 64, 0);
    void *o = pool_alloc(p);
    pool_free(p, o);
    pool_free(p, o);
}

Test(hardened, double_free_after_spill_aborts, .signal = SIGABRT)
{
    void *objs[N];
    pool_t *p = pool_with_spilled_free_list(48, objs);
    pool_free(p, objs[0]); /* freed long ago: sits in a node now */
}

Test(hardened, double_free_of_pointer_sized_slot_aborts, .signal = SIGABRT)
{
    pool_t *p = pool_create(NULL, 8, 0);
    void *o = pool_alloc(p);
    pool_alloc(p);
    pool_free(p, o);
    pool_free(p, o);
}

/* Slot 1 of the first batch was carved with slot 0 but never handed out. */
Test(hardened, free_of_carved_but_never_handed_out_slot_aborts, .signal = SIGABRT)
{
    pool_t *p = pool_create(NULL, 32, 0);
    char *o = pool_alloc(p);
    pool_free(p, o + 32);
}

Test(hardened, free_of_never_handed_out_pointer_sized_slot_aborts, .signal = SIGABRT)
{
    pool_t *p = pool_create(NULL, 8, 0);
    char *o = pool_alloc(p);
    pool_free(p, o + 8);
}

Test(hardened, free_of_never_handed_out_slot_after_spill_aborts, .signal = SIGABRT)
{
    void *objs[N];
    pool_t *p = pool_with_spilled_free_list(48, objs);
    char *o = pool_alloc(p);
    (void)o;
    /* objs[N-1] + 48 was carved in the last batch and never handed out. */
    pool_free(p, (char *)objs[N - 1] + 48);
}

Test(hardened, free_of_stack_address_aborts, .signal = SIGABRT)
{
    pool_t *p = pool_create(NULL, 32, 0);
    char local[32];
    pool_alloc(p);
    pool_free(p, local);
}

Test(hardened, free_of_another_pools_object_aborts, .signal = SIGABRT)
{
    pool_t *p = pool_create(NULL, 32, 0);
    pool_t *q = pool_create(NULL, 32, 0);
    pool_alloc(p);
    pool_free(p, pool_alloc(q));
}

/* The checks must not fire on correct use: random churn through spills,
 * refills, a reset and an arena rewind that drops newer slabs. */
Test(hardened, valid_churn_does_not_abort)
{
    arena_t *a = arena_create(NULL);
    pool_t *p = pool_create(a, 40, 0);
    void *live[512] = {0};
    uint64_t rng = 7;
    for (int round = 0; round < 3; round++) {
        arena_mark_t m = arena_mark(a);
        for (int i = 0; i < 20000; i++) {
            uint32_t k = test_rand(&rng) % 512;
            if (live[k]) {
                cr_assert(check_pattern(live[k], 40, k));
                pool_free(p, live[k]);
                live[k] = NULL;
            } else {
                cr_assert_not_null(live[k] = pool_alloc(p));
                fill_pattern(live[k], 40, k);
            }
        }
        if (round == 1) {
            pool_reset(p);
            memset(live, 0, sizeof live);
        }
        if (round == 2) {
            /* Slabs made after m go; objects in them are gone too. */
            cr_assert_eq(arena_rewind(a, m), 0);
            for (int k = 0; k < 512; k++)
                if (live[k] && !pool_owns(p, live[k]))
                    live[k] = NULL;
            for (int k = 0; k < 512; k++)
                if (live[k])
                    pool_free(p, live[k]);
            for (int i = 0; i < 1000; i++)
                cr_assert_not_null(pool_alloc(p));
        }
    }
    arena_destroy(a);
}

#endif /* ARENAPOOL_HARDENED */
