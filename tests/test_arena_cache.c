/*
 * test_arena_cache.c - the chunk cache shared by every arena: reuse without
 * mappings, the bound, arena_trim, ENOMEM under RLIMIT_AS, many threads, fork.
 * Each Criterion test runs in a process of its own, so each starts with an
 * empty cache and the default bound.
 */
#include "helpers.h"
#include "ap_checker.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

Test(arena_cache, destroy_then_create_reuses_the_chunk_without_a_mapping)
{
    arena_t *a = arena_create(NULL);
    cr_assert_not_null(a);
    cr_assert_eq(stats_of(a).mmaps, 1);
    size_t mapped = stats_of(a).mapped;
    arena_destroy(a);
    cr_assert_eq(arena_cache_bytes(), mapped, "the chunk waits in the cache");
    for (int i = 0; i < 1000; i++) {
        arena_t *b = arena_create(NULL);
        cr_assert_not_null(b);
        arena_stats_t s = stats_of(b);
        cr_assert_eq(s.mmaps, 0, "mmaps counts real mappings: none was made");
        cr_assert_eq(s.mapped, mapped, "a cached chunk still counts as held");
        cr_assert_eq(s.chunks, 1);
        char *p = arena_alloc(b, 1300);
        cr_assert_not_null(p);
        memset(p, i, 1300);
        arena_destroy(b);
    }
    cr_assert_eq(arena_trim(), mapped, "trim unmaps the cached chunk");
    cr_assert_eq(arena_cache_bytes(), 0);
    cr_assert_eq(arena_trim(), 0, "nothing left to trim");
}

Test(arena_cache, growth_takes_cached_chunks_and_rewind_gives_them_back)
{
    arena_t *a = arena_create(&(arena_opts_t){.chunk_size = 4096, .retain_bytes = ARENA_RETAIN_NONE});
    cr_assert_not_null(a);
    arena_mark_t m = arena_mark(a);
    for (int i = 0; i < 8; i++)
        cr_assert_not_null(arena_alloc(a, 3000));
    arena_stats_t grown = stats_of(a);
    cr_assert_gt(grown.chunks, 1);
    cr_assert_eq(arena_rewind(a, m), 0);
    cr_assert_eq(stats_of(a).chunks, 1, "retain_bytes none: the chunks left the arena");
    cr_assert_eq(arena_cache_bytes(), grown.mapped - stats_of(a).mapped,
                 "and went to the cache");
    for (int i = 0; i < 8; i++)
        cr_assert_not_null(arena_alloc(a, 3000));
    cr_assert_eq(stats_of(a).mmaps, grown.mmaps, "growing again maps nothing");
    cr_assert_eq(stats_of(a).mapped, grown.mapped);
    arena_destroy(a);
}

/* A reset with the default retain_bytes replaces the round's chunks by one
 * chunk as large as all of them (arena__coalesce_spares): the replaced
 * chunks go back to the OS, not to the cache, so the arena's resident memory
 * is the new chunk alone (cached, they doubled a reset loop's peak RSS). */
Test(arena_cache, a_coalescing_reset_leaves_the_cache_as_it_was)
{
    arena_trim();
    arena_t *a = arena_create(&(arena_opts_t){.chunk_size = 4096});
    cr_assert_not_null(a);
    for (int i = 0; i < 200; i++)
        cr_assert_not_null(arena_alloc(a, 3000));
    arena_stats_t grown = stats_of(a);
    cr_assert_gt(grown.chunks, 3);
    size_t cached = arena_cache_bytes();
    arena_reset(a);
    cr_assert_eq(arena_cache_bytes(), cached, "cache %zu bytes after the reset, %zu before",
                 arena_cache_bytes(), cached);
    arena_stats_t after = stats_of(a);
    cr_assert_leq(after.chunks, 2, "the first chunk and one coalesced spare");
    for (int i = 0; i < 200; i++)
        cr_assert_not_null(arena_alloc(a, 3000));
    arena_stats_t again = stats_of(a);
    cr_assert_leq(again.mapped, after.mapped, "the next round fits the coalesced chunk");
    arena_destroy(a);
}

Test(arena_cache, cache_full_unmaps_what_does_not_fit)
{
    size_t old = arena_set_cache_limit(256 * 1024);
    cr_assert_eq(old, (size_t)8 << 20, "the default bound is 8 MiB");
    enum { N = 16 };
    arena_t *a[N];
    size_t each = 0;
    for (int i = 0; i < N; i++) {
        a[i] = arena_create(NULL);
        cr_assert_not_null(a[i]);
        each = stats_of(a[i]).mapped;
    }
    for (int i = 0; i < N; i++) {
        arena_destroy(a[i]);
        cr_assert_leq(arena_cache_bytes(), 256 * 1024, "the bound holds at every step");
    }
    cr_assert_eq(arena_cache_bytes(), (256 * 1024 / each) * each, "full: as many as fit");
    /* Lowering the bound gives back what is over it at once. */
    cr_assert_eq(arena_set_cache_limit(each), 256 * 1024);
    cr_assert_leq(arena_cache_bytes(), each);
    cr_assert_eq(arena_set_cache_limit(0), each);
    cr_assert_eq(arena_cache_bytes(), 0, "bound 0: nothing is cached");
    arena_t *b = arena_create(NULL);
    arena_destroy(b);
    cr_assert_eq(arena_cache_bytes(), 0);
}

Test(arena_cache, guard_pages_keep_to_their_kind_in_the_cache)
{
    arena_opts_t o = {.chunk_size = 8192, .flags = ARENA_F_GUARD};
    arena_t *a = arena_create(&o);
    arena_destroy(arena_create(&(arena_opts_t){.chunk_size = 8192}));
    arena_destroy(a);
    arena_t *b = arena_create(&o);
    cr_assert_eq(stats_of(b).mmaps, 0, "the guarded chunk was reused");
    cr_assert_eq(stats_of(b).mapped, 8192 + 4096, "with its guard page");
    arena_t *c = arena_create(&(arena_opts_t){.chunk_size = 8192});
    cr_assert_eq(stats_of(c).mmaps, 0, "and the unguarded one for the unguarded arena");
    cr_assert_eq(stats_of(c).mapped, 8192);
    arena_destroy(c);
    arena_destroy(b);
}

#ifndef TEST_ASAN
/* ASan turns the fault into its own report and exit code, so this runs in
 * the plain and debug builds. */
Test(arena_cache, guard_page_of_a_cached_chunk_still_faults, .signal = SIGSEGV)
{
    arena_opts_t o = {.chunk_size = 8192, .flags = ARENA_F_GUARD};
    arena_destroy(arena_create(&o));
    arena_t *b = arena_create(&o);
    cr_assert_eq(stats_of(b).mmaps, 0, "the chunk came from the cache");
    volatile char *v = arena_alloc(b, 16);
    ARENA__UNPOISON((char *)v, 8192); /* Memcheck: reach the guard, not a report */
    for (size_t i = 0; i < 1u << 20; i++)
        v[i] = 1; /* runs off the chunk's end into the guard page */
}
#endif

Test(arena_cache, cached_memory_is_not_zero_but_calloc_is)
{
    arena_t *a = arena_create(NULL);
    memset(arena_alloc(a, 4096), 0xAB, 4096);
    arena_destroy(a);
    a = arena_create(NULL);
    unsigned char *z = arena_calloc(a, 4096, 1);
    for (int i = 0; i < 4096; i++)
        cr_assert_eq(z[i], 0);
    arena_destroy(a);
}

/* Cache empty under RLIMIT_AS: creation fails cleanly, then works again. */
Test(arena_cache, cache_empty_under_rlimit_as_fails_with_enomem_cleanly)
{
    struct rlimit old;
    cr_assert_eq(getrlimit(RLIMIT_AS, &old), 0);
    arena_t *a = arena_create(&(arena_opts_t){.chunk_size = 1 << 20});
    cr_assert_not_null(a);
    arena_stats_t before = stats_of(a);
    struct rlimit lim = {0, old.rlim_max};
    cr_assert_eq(setrlimit(RLIMIT_AS, &lim), 0);
    errno = 0;
    cr_assert_null(arena_create(NULL));
    cr_assert_eq(errno, ENOMEM);
    errno = 0;
    cr_assert_null(arena_alloc(a, 2 << 20));
    cr_assert_eq(errno, ENOMEM);
    UNCHANGED(a, before, "a failed growth");
    cr_assert_eq(setrlimit(RLIMIT_AS, &old), 0);
    cr_assert_not_null(arena_alloc(a, 2 << 20));
    arena_destroy(a);
}

/* Cache full under RLIMIT_AS: the idle cached chunks are unmapped to make
 * room before the call fails. */
Test(arena_cache, enomem_empties_the_cache_before_failing)
{
    /* Fill the cache with chunks of one size, then ask for another size, which
     * the cache cannot serve, under a limit that leaves room only once the
     * cache is emptied. */
    arena_set_cache_limit(64 << 20);
    enum { N = 8 };
    arena_t *a[N];
    for (int i = 0; i < N; i++)
        cr_assert_not_null(a[i] = arena_create(&(arena_opts_t){.chunk_size = 4 << 20}));
    for (int i = 0; i < N; i++)
        arena_destroy(a[i]);
    cr_assert_eq(arena_cache_bytes(), (size_t)N * (4 << 20));
    struct rlimit old;
    cr_assert_eq(getrlimit(RLIMIT_AS, &old), 0);
    /* The address space in use (the 32 MiB cached included) plus 4 MiB: the
     * 8 MiB asked for fits only once the cache is emptied. */
    FILE *f = fopen("/proc/self/statm", "r");
    cr_assert_not_null(f);
    unsigned long pages = 0;
    cr_assert_eq(fscanf(f, "%lu", &pages), 1);
    fclose(f);
    struct rlimit lim = {pages * 4096 + (4 << 20), old.rlim_max};
    cr_assert_eq(setrlimit(RLIMIT_AS, &lim), 0);
    arena_t *b = arena_create(&(arena_opts_t){.chunk_size = 8 << 20});
    cr_assert_eq(setrlimit(RLIMIT_AS, &old), 0);
    cr_assert_not_null(b, "the cache was emptied to make room");
    cr_assert_eq(stats_of(b).mmaps, 1);
    cr_assert_eq(arena_cache_bytes(), 0);
    arena_destroy(b);
}

/* ---- Threads and fork ---- */

static void *create_destroy_loop(void *arg)
{
    atomic_int *stop = arg;
    unsigned seed = (unsigned)(uintptr_t)&seed;
    for (int i = 0; i < 2000 || (stop && !atomic_load(stop)); i++) {
        seed = seed * 1103515245u + 12345u;
        arena_opts_t o = {.chunk_size = (seed >> 8) & 1 ? 64 << 10 : 8 << 10};
        arena_t *a = arena_create(&o);
        cr_assert_not_null(a);
        for (int k = 0; k < 33; k++) {
            char *p = arena_alloc(a, 40 + (seed >> (k % 16)) % 200);
            cr_assert_not_null(p);
            p[0] = (char)k;
        }
        if ((seed >> 12) % 64 == 0)
            arena_trim();
        arena_destroy(a);
        if (stop && i > 100000)
            break;
    }
    return NULL;
}

Test(arena_cache, create_destroy_on_many_threads)
{
    enum { T = 8 };
    pthread_t t[T];
    arena_set_cache_limit(1 << 20);
    for (int i = 0; i < T; i++)
        cr_assert_eq(pthread_create(&t[i], NULL, create_destroy_loop, NULL), 0);
    for (int i = 0; i < T; i++)
        pthread_join(t[i], NULL);
    cr_assert_leq(arena_cache_bytes(), 1 << 20, "the bound held across threads");
    /* Exited threads' chunks went to the shared list, which trim empties. */
    arena_trim();
    cr_assert_eq(arena_cache_bytes(), 0);
}

Test(arena_cache, fork_while_other_threads_create)
{
    enum { T = 3 };
    pthread_t t[T];
    atomic_int stop = 0;
    for (int i = 0; i < T; i++)
        cr_assert_eq(pthread_create(&t[i], NULL, create_destroy_loop, &stop), 0);
    for (int k = 0; k < 20; k++) {
        pid_t pid = fork();
        cr_assert_neq(pid, -1);
        if (pid == 0) {
            /* The child must find the cache usable: no lock left held. */
            for (int i = 0; i < 200; i++) {
                arena_t *a = arena_create(NULL);
                if (a == NULL || arena_alloc(a, 1000) == NULL)
                    _exit(1);
                arena_destroy(a);
            }
            arena_trim();
            _exit(arena_cache_bytes() <= ((size_t)8 << 20) ? 0 : 2);
        }
        int st;
        cr_assert_eq(waitpid(pid, &st, 0), pid);
        cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child %d: status %d", k, st);
    }
    atomic_store(&stop, 1);
    for (int i = 0; i < T; i++)
        pthread_join(t[i], NULL);
}
