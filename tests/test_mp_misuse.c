/*
 * test_mp_misuse.c - the memory pool stops a double or invalid free in every
 * build: each misuse runs in a child process, which must die of SIGABRT after
 * one line naming the problem and the address; with ARENAPOOL_MISUSE=ignore
 * the child goes on, and no block is ever handed out twice.
 */
#include <criterion/criterion.h>

#include "mp.h"
#include "ap_options.h" /* ap__options_reread */

#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define MiB ((size_t)1024 * 1024)

typedef void (*misuse_fn)(void);

/* Run fn in a child (stderr to a pipe); returns its wait status, and what it
 * printed in out. */
static int run_child(misuse_fn fn, int ignore, char *out, size_t cap)
{
    int fd[2];
    cr_assert_eq(pipe(fd), 0);
    fflush(NULL);
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        dup2(fd[1], 2);
        close(fd[0]);
        if (ignore)
            setenv("ARENAPOOL_MISUSE", "ignore", 1);
        else
            unsetenv("ARENAPOOL_MISUSE");
        ap__options_reread(); /* read once at start: see the change */
        fn();
        _exit(0);
    }
    close(fd[1]);
    size_t n = 0;
    ssize_t r;
    while (n + 1 < cap && (r = read(fd[0], out + n, cap - 1 - n)) > 0)
        n += (size_t)r;
    out[n] = 0;
    close(fd[0]);
    int st;
    cr_assert_eq(waitpid(pid, &st, 0), pid);
    return st;
}

/* The default aborts with `what` and the address; ignore mode runs to the end. */
static void expect_caught(misuse_fn fn, const char *what)
{
    char out[1024];
    int st = run_child(fn, 0, out, sizeof out);
    cr_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT, "no SIGABRT (status %#x), stderr: %s", st, out);
    char want[256];
    snprintf(want, sizeof want, "arenapool: %s (ptr=0x", what);
    cr_assert(strstr(out, want), "stderr %s lacks \"%s\"", out, want);
    st = run_child(fn, 1, out, sizeof out);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "ARENAPOOL_MISUSE=ignore: status %#x, stderr: %s", st,
              out);
    cr_assert_eq(out[0], 0, "ignore mode prints nothing: %s", out);
}

/* Allocate many blocks of `size` and fail (exit 3) if any two are the same:
 * after an ignored misuse no block may have two owners. */
static void no_block_twice(size_t size)
{
    enum { N = 4096 };
    static void *v[N];
    for (int i = 0; i < N; i++) {
        v[i] = mp_alloc(size);
        if (!v[i])
            _exit(2);
        memset(v[i], i & 0xFF, size < 64 ? size : 64);
    }
    for (int i = 0; i < N; i++) {
        const unsigned char *b = v[i];
        for (size_t j = 0; j < (size < 64 ? size : 64); j++)
            if (b[j] != (i & 0xFF))
                _exit(3); /* two owners wrote one block */
    }
    for (int i = 0; i < N; i++)
        mp_free(v[i]);
}

static void double_free_same_thread(void)
{
    void *p = mp_alloc(64);
    mp_free(p);
    mp_free(p);
    void *a = mp_alloc(64), *b = mp_alloc(64);
    if (a == b)
        _exit(3);
    no_block_twice(64);
}

Test(mp_misuse, double_free_in_the_same_thread_aborts)
{
    expect_caught(double_free_same_thread, "double free");
}

/* The thread cache turns over many times: the block waits in a central list
 * or back in its span when the second free comes. */
static void double_free_after_turnover(void)
{
    void *p = mp_alloc(64);
    mp_free(p);
    static void *v[4096];
    for (int i = 0; i < 4096; i++)
        v[i] = mp_alloc(96);
    for (int i = 0; i < 4096; i++)
        mp_free(v[i]);
    mp_thread_flush();
    mp_free(p);
    no_block_twice(64);
}

Test(mp_misuse, double_free_after_4096_other_frees_aborts)
{
    expect_caught(double_free_after_turnover, "double free");
}

static void *free_in_thread(void *p)
{
    mp_free(p);
    return NULL;
}

static void double_free_cross_thread(void)
{
    void *p = mp_alloc(200);
    mp_free(p);
    pthread_t t;
    if (pthread_create(&t, NULL, free_in_thread, p) != 0)
        _exit(4);
    pthread_join(t, NULL);
    no_block_twice(200);
}

Test(mp_misuse, double_free_from_another_thread_aborts)
{
    expect_caught(double_free_cross_thread, "double free");
}

static void double_free_large(void)
{
    void *p = mp_alloc(3 * MiB);
    mp_free(p);
    mp_free(p);
    no_block_twice(300000);
}

Test(mp_misuse, double_free_of_a_large_block_aborts)
{
    expect_caught(double_free_large, "double free");
}

static void free_stack(void)
{
    char buf[64];
    volatile uintptr_t a = (uintptr_t)buf; /* hide the stack address from -Wfree-nonheap-object */
    mp_free((void *)a);
}

Test(mp_misuse, free_of_a_stack_address_aborts)
{
    expect_caught(free_stack, "free of a pointer not allocated by mp");
}

static char static_block[256];

static void free_static(void)
{
    volatile uintptr_t a = (uintptr_t)static_block;
    mp_free((void *)a);
}

Test(mp_misuse, free_of_a_static_address_aborts)
{
    expect_caught(free_static, "free of a pointer not allocated by mp");
}

static void free_interior_small(void)
{
    char *p = mp_alloc(100);
    volatile uintptr_t a = (uintptr_t)(p + 16);
    mp_free((void *)a);
    char *q = mp_alloc(100), *r = mp_alloc(100);
    if (q == (char *)a || r == (char *)a)
        _exit(3); /* the interior pointer was handed out */
    no_block_twice(100);
}

Test(mp_misuse, free_inside_a_small_block_aborts)
{
    expect_caught(free_interior_small, "free of a pointer inside a block");
}

static void free_interior_large(void)
{
    char *p = mp_alloc(MiB);
    volatile uintptr_t a = (uintptr_t)(p + 16), b = (uintptr_t)(p + 8192 * 3);
    mp_free((void *)a);
    mp_free((void *)b);
    memset(p, 1, MiB); /* still ours */
    mp_free(p);
}

Test(mp_misuse, free_inside_a_large_block_aborts)
{
    expect_caught(free_interior_large, "free of a pointer inside a block");
}

static void realloc_freed(void)
{
    char *p = mp_alloc(64);
    mp_free(p);
    char *q = mp_realloc(p, 64); /* same class: would stay in place */
    if (q != NULL)
        _exit(3);
    no_block_twice(64);
}

Test(mp_misuse, realloc_of_a_freed_pointer_aborts)
{
    expect_caught(realloc_freed, "double free");
}

static void usable_size_freed(void)
{
    char *p = mp_alloc(64);
    mp_free(p);
    if (mp_usable_size(p) != 0)
        _exit(3);
}

Test(mp_misuse, usable_size_of_a_freed_pointer_aborts)
{
    expect_caught(usable_size_freed, "double free");
}

/* No false alarm: blocks handed out again after a free, written or not,
 * blocks whose program data are all ones or zeros, every class. */
Test(mp_misuse, valid_frees_never_report)
{
    for (size_t size = 16; size <= 300000; size += size / 3 + 16) {
        void *v[64];
        for (int round = 0; round < 3; round++) {
            for (int i = 0; i < 64; i++) {
                v[i] = mp_alloc(size);
                cr_assert(v[i]);
                if (round == 1)
                    memset(v[i], 0xFF, size);
                else if (round == 2)
                    memset(v[i], 0, size);
            }
            for (int i = 0; i < 64; i++)
                mp_free(v[i]);
        }
    }
}
