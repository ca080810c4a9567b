/*
 * tsan_arena.c - the chunk cache under ThreadSanitizer: arenas (with children,
 * over buffers, growing) created and destroyed on many threads, threads that
 * exit with chunks in their own cache, arena_trim and a lowered bound racing
 * with them, and a fork while they run.  A plain main: Criterion 2.4 cannot
 * start under TSan.  Exit status 0 = passed; TSan fails the run on a race
 * (TSAN_OPTIONS=halt_on_error=1, set by make test-tsan-arena).
 */
#include "arena.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define CHECK(c)                                                                               \
    do {                                                                                       \
        if (!(c)) {                                                                            \
            fprintf(stderr, "tsan_arena: %s:%d: check failed: %s\n", __FILE__, __LINE__, #c); \
            exit(1);                                                                           \
        }                                                                                      \
    } while (0)

static atomic_int stop;

static void request(unsigned seed)
{
    _Alignas(16) char buf[4][2048]; /* one per child: children may outlive the loop step */
    arena_t *conn = arena_create(&(arena_opts_t){.chunk_size = (seed & 1) ? 8192 : 65536});
    CHECK(conn != NULL);
    for (int r = 0; r < 4; r++) {
        arena_opts_t o = {.parent = conn};
        if (seed & 2)
            o.buffer = buf[r], o.buffer_size = sizeof buf[r];
        arena_t *req = arena_create(&o);
        CHECK(req != NULL);
        for (int k = 0; k < 33; k++) {
            char *p = arena_alloc(req, 40 + (size_t)((seed >> (k % 8)) % 3000));
            CHECK(p != NULL);
            p[0] = (char)k;
        }
        if ((seed + (unsigned)r) % 3)
            arena_destroy(req); /* else the connection ends it */
    }
    arena_destroy(conn);
}

static void *worker(void *arg)
{
    unsigned seed = (unsigned)(uintptr_t)arg * 2654435761u;
    for (int i = 0; i < 1000 && !atomic_load(&stop); i++) {
        seed = seed * 1103515245u + 12345u;
        request(seed >> 8);
    }
    return NULL;
}

static void *trimmer(void *arg)
{
    (void)arg;
    for (int i = 0; !atomic_load(&stop); i++) {
        if (i % 8 == 0)
            arena_set_cache_limit(i % 16 ? (size_t)8 << 20 : (size_t)256 << 10);
        arena_trim();
        usleep(200);
    }
    return NULL;
}

int main(void)
{
    enum { T = 4 };
    pthread_t t[T], tr;
    /* Round 1: short-lived threads (their caches flushed at exit). */
    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < T; i++)
            CHECK(pthread_create(&t[i], NULL, worker, (void *)(uintptr_t)(i + 10 * round)) == 0);
        for (int i = 0; i < T; i++)
            pthread_join(t[i], NULL);
    }
    /* Round 2: trim and a changing bound racing with the workers, and forks. */
    CHECK(pthread_create(&tr, NULL, trimmer, NULL) == 0);
    for (int i = 0; i < T; i++)
        CHECK(pthread_create(&t[i], NULL, worker, (void *)(uintptr_t)(i + 100)) == 0);
    for (int k = 0; k < 5; k++) {
        pid_t pid = fork();
        CHECK(pid != -1);
        if (pid == 0) {
            for (int i = 0; i < 50; i++)
                request((unsigned)i);
            arena_trim();
            _exit(0);
        }
        int st;
        CHECK(waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0);
    }
    for (int i = 0; i < T; i++)
        pthread_join(t[i], NULL);
    atomic_store(&stop, 1);
    pthread_join(tr, NULL);
    arena_set_cache_limit((size_t)8 << 20);
    arena_trim();
    CHECK(arena_cache_bytes() == 0);
    printf("tsan_arena: passed\n");
    return 0;
}
