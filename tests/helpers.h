/*
 * helpers.h - shared fixtures and checks for the Criterion suites.
 */
#ifndef ARENAPOOL_TEST_HELPERS_H
#define ARENAPOOL_TEST_HELPERS_H

#include <criterion/criterion.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

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

/* ---- A test body in a child process ---- */

/* What fd gives until end of file, in out (NUL-terminated, at most cap - 1
 * bytes: reading stops there). */
static inline void read_to_end(int fd, char *out, size_t cap)
{
    size_t n = 0;
    ssize_t r;
    while (n + 1 < cap && (r = read(fd, out + n, cap - 1 - n)) > 0)
        n += (size_t)r;
    out[n] = 0;
}

/* Run fn(arg) in a forked child, which exits 0 when fn returns (fn may _exit
 * or die first); returns the child's wait status for the caller to check.
 * fn sets up whatever the child needs (its environment is its own).  With out,
 * the child's stderr goes to a pipe and what it wrote lands in out,
 * NUL-terminated (at most cap - 1 bytes: keep a child's output below that, or
 * it blocks on the full pipe); with out NULL the child keeps the suite's
 * stderr. */
static inline int run_in_child(void (*fn)(void *arg), void *arg, char *out, size_t cap)
{
    int fd[2] = {-1, -1};
    if (out)
        cr_assert_eq(pipe(fd), 0);
    fflush(NULL);
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        if (out) {
            dup2(fd[1], 2);
            close(fd[0]);
        }
        fn(arg);
        _exit(0);
    }
    if (out) {
        close(fd[1]);
        read_to_end(fd[0], out, cap);
        close(fd[0]);
    }
    int st;
    cr_assert_eq(waitpid(pid, &st, 0), pid);
    return st;
}

/* Tiny deterministic PRNG so tests are reproducible. */
static inline uint32_t test_rand(uint64_t *state)
{
    *state = *state * 6364136223846793005ull + 1442695040888963407ull;
    return (uint32_t)(*state >> 33);
}

#endif
