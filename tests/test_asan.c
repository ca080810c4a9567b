/*
 * test_asan.c - under AddressSanitizer, memory not handed out is poisoned:
 * the free tail of a chunk, everything released by rewind and reset, freed
 * pool slots and freed mp blocks.  The tests exist only in the ASan build.
 */
#include "helpers.h"
#include "ap_checker.h"
#include "mp.h"

#ifdef TEST_ASAN

static arena_t *A;
static void setup(void) { A = arena_create(NULL); }
static void teardown(void) { arena_destroy(A); }
TestSuite(asan, .init = setup, .fini = teardown);

#define POISONED(p) __asan_address_is_poisoned((const void *)(p))

Test(asan, allocation_is_unpoisoned_and_tail_poisoned)
{
    char *p = arena_alloc(A, 40);
    cr_assert_not(POISONED(p));
    cr_assert_not(POISONED(p + 39));
    cr_assert(POISONED(p + 40), "padding after the block is poisoned");
    cr_assert(POISONED(p + 64), "free tail of the chunk is poisoned");
}

Test(asan, rewind_poisons_released_memory)
{
    arena_mark_t m = arena_mark(A);
    char *p = arena_alloc(A, 100);
    char *big = arena_alloc(A, 1u << 20); /* in another chunk */
    cr_assert_not(POISONED(p));
    cr_assert_not(POISONED(big + 1000));
    cr_assert_eq(arena_rewind(A, m), 0);
    cr_assert(POISONED(p));
    cr_assert(POISONED(big + 1000));
    char *again = arena_alloc(A, 100);
    cr_assert_eq(again, p);
    cr_assert_not(POISONED(again));
}

Test(asan, reset_poisons_everything)
{
    char *p = arena_alloc(A, 100);
    char *q = arena_alloc(A, 200000);
    arena_reset(A);
    cr_assert(POISONED(p));
    cr_assert(POISONED(q));
    cr_assert_not(POISONED(arena_alloc(A, 8)));
}

Test(asan, realloc_shrink_poisons_the_tail)
{
    char *p = arena_alloc(A, 256);
    p = arena_realloc(A, p, 256, 32);
    cr_assert_not(POISONED(p + 31));
    cr_assert(POISONED(p + 32));
    p = arena_realloc(A, p, 32, 512);
    cr_assert_not(POISONED(p + 511));
}

Test(asan, pool_free_poisons_the_slot)
{
    pool_t *p = pool_create(A, 64, 0);
    char *o = pool_alloc(p);
    char *o2 = pool_alloc(p);
    cr_assert_not(POISONED(o));
    cr_assert_not(POISONED(o + 63));
    cr_assert(POISONED(o2 + 64), "slots not yet handed out are poisoned");
    pool_free(p, o);
    cr_assert(POISONED(o));
    cr_assert(POISONED(o + 63));
    cr_assert_eq(pool_alloc(p), o);
    cr_assert_not(POISONED(o));
    pool_reset(p);
    cr_assert(POISONED(o2));
}

Test(asan, mp_free_poisons_the_block_but_its_key_word)
{
    char *p = mp_alloc(64);
    cr_assert_not(POISONED(p));
    cr_assert_not(POISONED(p + 63));
    mp_free(p);
    cr_assert(POISONED(p));
    cr_assert_not(POISONED(p + 8), "word 1 holds the free key the double-free check reads");
    cr_assert(POISONED(p + 16));
    cr_assert(POISONED(p + 63));
    char *q = mp_alloc(64);
    cr_assert_eq(q, p, "the block comes back");
    cr_assert_not(POISONED(q));
    cr_assert_not(POISONED(q + 63));
    mp_free(q);
}

Test(asan, large_mp_blocks_are_poisoned_when_freed_and_clear_when_grown)
{
    char *p = mp_alloc(1u << 20);
    cr_assert_not(POISONED(p + (1u << 20) - 1));
    mp_free(p);
    cr_assert(POISONED(p));
    cr_assert(POISONED(p + (1u << 19)));
    char *q = mp_alloc(3u << 19); /* may take the freed pages */
    memset(q, 1, 3u << 19);
    q = mp_realloc(q, 8u << 20); /* in place or moved */
    memset(q, 2, 8u << 20);
    mp_free(q);
}

Test(asan, unmapping_forgets_poison_anywhere_in_a_large_range)
{
    /* ASan's shadow outlives munmap: the OS layer clears it first, also where
     * only a few bytes far into a large range are poisoned. */
    size_t n = (size_t)3 << 20;
    char *p = arena_alloc(A, n);
    ap__poison(p + n - 64, 32);
    ap__poison(p + (1u << 20) + 8, 8);
    cr_assert(POISONED(p + n - 64));
    ap__unmapping(p, n);
    cr_assert_null(__asan_region_is_poisoned(p, n));
    ap__poison(p, n);
    ap__unpoison(p, n);
    cr_assert_null(__asan_region_is_poisoned(p, n));
}

Test(asan, use_after_mp_free_is_reported, .exit_code = 1)
{
    volatile char *p = mp_alloc(100);
    mp_free((void *)p);
    p[40] = 1;
}

Test(asan, use_after_rewind_is_reported, .exit_code = 1)
{
    arena_mark_t m = arena_mark(A);
    volatile char *p = arena_alloc(A, 32);
    arena_rewind(A, m);
    p[0] = 1; /* ASan reports and exits with status 1 */
}

Test(asan, use_after_pool_free_is_reported, .exit_code = 1)
{
    pool_t *p = pool_create(A, 64, 0);
    volatile char *o = pool_alloc(p);
    pool_free(p, (void *)o);
    o[10] = 1;
}

#endif
