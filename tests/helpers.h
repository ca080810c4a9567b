/*
 * helpers.h - shared fixtures and checks for the Criterion suites.
 */
#ifndef ARENAPOOL_TEST_HELPERS_H
#define ARENAPOOL_TEST_HELPERS_H

#include <criterion/criterion.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "pool.h"

/* This test program is built with AddressSanitizer (its own flags: the
 * library finds the checker at run time whatever its own were). */
#if defined(__SANITIZE_ADDRESS__)
#define TEST_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TEST_ASAN 1
#endif
#endif
#ifdef TEST_ASAN
#include <sanitizer/asan_interface.h>
#endif

#define IS_ALIGNED(p, a) ((((uintptr_t)(p)) & ((uintptr_t)(a) - 1)) == 0)

/* Fill n bytes at p with a pattern derived from a seed; check it later. */
static inline void fill_pattern(void *p, size_t n, unsigned seed)
{
    unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        b[i] = (unsigned char)(seed * 31u + i * 7u + (i >> 8));
}

static inline int check_pattern(const void *p, size_t n, unsigned seed)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        if (b[i] != (unsigned char)(seed * 31u + i * 7u + (i >> 8)))
            return 0;
    return 1;
}

static inline arena_stats_t stats_of(const arena_t *a)
{
    arena_stats_t s;
    arena_stats(a, &s);
    return s;
}

/* Every arena_stats field equal: what a failed call must leave. */
static inline int same_stats(arena_stats_t x, arena_stats_t y)
{
    return x.used == y.used && x.peak == y.peak && x.mapped == y.mapped &&
           x.chunks == y.chunks && x.mmaps == y.mmaps;
}

/* Assert that arena a's stats still equal `before` after the call `what`. */
#define UNCHANGED(a, before, what)                                                             \
    do {                                                                                       \
        arena_stats_t s_ = stats_of(a);                                                        \
        cr_assert(same_stats(s_, (before)),                                                    \
                  "%s changed the arena: used %zu->%zu peak %zu->%zu mapped %zu->%zu "        \
                  "chunks %zu->%zu mmaps %zu->%zu",                                            \
                  (what), (before).used, s_.used, (before).peak, s_.peak, (before).mapped,    \
                  s_.mapped, (before).chunks, s_.chunks, (before).mmaps, s_.mmaps);           \
    } while (0)

/* A suite whose fixture owns a fresh default arena, A. */
#define ARENA_FIXTURE_SUITE(name)                                                          \
    static arena_t *A;                                                                     \
    static void fixture_setup(void)                                                        \
    {                                                                                      \
        A = arena_create(NULL);                                                            \
        cr_assert_not_null(A);                                                             \
    }                                                                                      \
    static void fixture_teardown(void) { arena_destroy(A); }                               \
    TestSuite(name, .init = fixture_setup, .fini = fixture_teardown)

/* Tiny deterministic PRNG so tests are reproducible. */
static inline uint32_t test_rand(uint64_t *state)
{
    *state = *state * 6364136223846793005ull + 1442695040888963407ull;
    return (uint32_t)(*state >> 33);
}

#endif
