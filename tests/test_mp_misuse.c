/*
 * test_mp_misuse.c - the memory pool stops a double or invalid free in every
 * build: each misuse runs in a child process, which must die of SIGABRT after
 * one line naming the problem and the address; with ARENAPOOL_MISUSE=ignore
 * the child goes on, and no block is ever handed out twice.
 */
#include <criterion/criterion.h>

#include "helpers.h"
#include "mp.h"
#include "mp_internal.h"

#include <errno.h>
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

typedef struct misuse_run {
    misuse_fn fn;
    int ignore;
} misuse_run_t;

/* The child's side of run_child: ARENAPOOL_MISUSE set or unset, then fn. */
static void misuse_child(void *arg)
{
    const misuse_run_t *r = arg;
    if (r->ignore)
        setenv("ARENAPOOL_MISUSE", "ignore", 1);
    else
        unsetenv("ARENAPOOL_MISUSE");
    ap__options_reread(); /* read once at start: see the change */
    r->fn();
}

/* Run fn in a child (stderr to a pipe); returns its wait status, and what it
 * printed in out. */
static int run_child(misuse_fn fn, int ignore, char *out, size_t cap)
{
    misuse_run_t r = {fn, ignore};
    return run_in_child(misuse_child, &r, out, cap);
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
    expect_caught(free_stack, "free of a pointer not allocated by arenapool");
}

static char static_block[256];

static void free_static(void)
{
    volatile uintptr_t a = (uintptr_t)static_block;
    mp_free((void *)a);
}

Test(mp_misuse, free_of_a_static_address_aborts)
{
    expect_caught(free_static, "free of a pointer not allocated by arenapool");
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

/* ---- Exact checks: correct programs built to look like misuse ---- */

/* fn must run to its end (exit 0) and print nothing, aborting mode or not. */
static void expect_clean(misuse_fn fn)
{
    char out[1024];
    for (int ignore = 0; ignore < 2; ignore++) {
        int st = run_child(fn, ignore, out, sizeof out);
        cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "a correct program was stopped (status %#x): %s",
                  st, out);
        cr_assert_eq(out[0], 0, "a correct program got a report: %s", out);
    }
}

/* Read into a big buffer, shrink it to what arrived, grow it again: the
 * large block's pages were a 256 KiB block's, freed with its key. */
static void read_then_shrink(void)
{
    for (int i = 0; i < 8; i++) {
        void *t = mp_alloc(256 * 1024);
        memset(t, 0, 256 * 1024);
        mp_free(t);
    }
    char *x[8];
    for (int i = 0; i < 8; i++)
        x[i] = mp_alloc(256 * 1024);
    for (int i = 0; i < 8; i++)
        mp_free(x[i]);
    int fd[2];
    if (pipe(fd) != 0 || write(fd[1], "hello", 5) != 5)
        _exit(4);
    close(fd[1]);
    char *buf = mp_alloc(400000);
    if (read(fd[0], buf, 400000) != 5)
        _exit(5);
    char *b2 = mp_realloc(buf, 4096);
    char *b3 = b2 ? mp_realloc(b2, 8192) : NULL;
    if (!b3 || memcmp(b3, "hello", 5) != 0)
        _exit(3);
    mp_free(b3);
    close(fd[0]);
}

Test(mp_exact, read_into_a_buffer_then_shrink_and_grow_it_is_no_misuse)
{
    expect_clean(read_then_shrink);
}

/* Copies of never-written bytes, from blocks of every class and from large
 * blocks over pages that held freed blocks, into blocks then freed. */
static void copy_unwritten(void)
{
    /* A large block over the pages of freed 256 KiB blocks: its first words
     * are what those blocks held when freed. */
    for (int i = 0; i < 8; i++)
        mp_free(mp_alloc(256 * 1024));
    mp_trim();
    for (int i = 0; i < 8; i++) {
        char *t = mp_alloc(256 * 1024);
        memset(t, 0, 256 * 1024);
        mp_free(t);
    }
    mp_thread_flush();
    char *fresh = mp_alloc(400000), *dst = mp_alloc(64);
    memcpy(dst, fresh, 16);
    mp_free(dst);
    mp_free(fresh);
    for (size_t size = 16; size <= 600000; size += size / 2 + 16) {
        void *junk[16];
        for (int i = 0; i < 16; i++) { /* freed blocks leave keys behind */
            junk[i] = mp_alloc(size);
            memset(junk[i], 0x5A, 16);
        }
        for (int i = 0; i < 16; i++)
            mp_free(junk[i]);
        for (int round = 0; round < 4; round++) {
            char *fresh = mp_alloc(size), *dst = mp_alloc(size < 4096 ? size : 4096);
            if (!fresh || !dst)
                _exit(2);
            memcpy(dst, fresh, size < 4096 ? size : 4096);
            mp_free(dst);
            char *q = mp_realloc(fresh, 24); /* a realloc copies them too */
            if (!q)
                _exit(2);
            mp_free(q);
        }
    }
}

Test(mp_exact, copies_of_never_written_bytes_are_no_misuse)
{
    expect_clean(copy_unwritten);
}

/* Memory of one class reused by another after its spans went back to the
 * heap (trim, decay), and large blocks reusing small spans' pages, realloc'd
 * down into small classes. */
static void reuse_across_classes(void)
{
    static void *v[2048];
    size_t sizes[] = {48, 80, 1024, 272, 3000, 16, 8192 + 16};
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        for (int i = 0; i < 2048; i++)
            if (!(v[i] = mp_alloc(sizes[k])))
                _exit(2);
        for (int i = 0; i < 2048; i += 2)
            mp_free(v[i]);
        for (int i = 1; i < 2048; i += 2)
            mp_free(v[i]);
        mp_trim();
        char *big = mp_alloc(300000 + k * 8192);
        char *small = mp_realloc(big, 100);
        if (!small)
            _exit(2);
        mp_free(small);
    }
}

Test(mp_exact, memory_reused_by_another_class_is_no_misuse)
{
    expect_clean(reuse_across_classes);
}

/* A block whose program data is its own address xor anything: only the
 * secret makes a key, and a found key is confirmed before any report. */
static void data_like_keys(void)
{
    for (size_t size = 16; size <= 4096; size *= 2) {
        uintptr_t *v[64];
        for (int i = 0; i < 64; i++) {
            v[i] = mp_alloc(size);
            v[i][0] = (uintptr_t)v[i];
            v[i][1] = (uintptr_t)v[i] ^ ((uintptr_t)1 << 63);
        }
        for (int i = 0; i < 64; i++)
            mp_free(v[i]);
    }
}

Test(mp_exact, blocks_holding_their_address_are_no_misuse)
{
    expect_clean(data_like_keys);
}

/* ---- Exact checks: misuse caught, never a block handed out twice ---- */

/* A large block freed, small blocks taking pages from the same free space
 * until one lies inside the freed block, then the large block freed again. */
static void large_double_free_after_small_reuse(void)
{
    char *big = mp_alloc(2 * MiB);
    memset(big, 1, 2 * MiB);
    mp_free(big);
    static void *v[4096];
    int n = 0, inside = 0;
    while (n < 4096 && !inside) {
        char *q = v[n++] = mp_alloc(1000);
        inside = q >= big && q < big + 2 * MiB;
    }
    if (!inside)
        _exit(5); /* the pages were not reused: nothing to test */
    mp_free(big);
    no_block_twice(1000);
    for (int i = 0; i < n; i++)
        mp_free(v[i]);
}

Test(mp_exact, large_block_freed_twice_after_small_blocks_reused_its_pages)
{
    expect_caught(large_double_free_after_small_reuse, "double free");
}

/* A small block freed twice after its span went back to the heap and its
 * idle pages were dropped (the key went with them), the pages then taken by
 * a new span of the same class, where that object has not been handed out. */

static void small_double_free_after_decay(void)
{
    enum { N = 64 };
    char *v[N];
    for (int i = 0; i < N; i++)
        v[i] = mp_alloc(1536);
    char *p = v[N - 1];
    for (int i = 0; i < N; i++)
        mp_free(v[i]);
    mp_thread_flush();
    mp__central_drain(); /* every span back to the heap, pages still mapped */
    __atomic_add_fetch(&mp__clock_skew_ms, 10000, __ATOMIC_RELAXED);
    mp_free(mp_alloc(3 * MiB)); /* a heap call: idle pages are dropped */
    static void *w[4096];
    int n = 0;
    while (n < 4096 && mp__class_at(p) == 0)
        w[n++] = mp_alloc(1536);
    mp_free(p);
    no_block_twice(1536);
    for (int i = 0; i < n; i++)
        mp_free(w[i]);
}

Test(mp_exact, small_block_freed_twice_after_its_pages_were_dropped)
{
    char out[1024];
    int st = run_child(small_double_free_after_decay, 0, out, sizeof out);
    cr_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT, "no SIGABRT (status %#x), stderr: %s", st, out);
    cr_assert(strstr(out, "arenapool: double free (ptr=0x") ||
              strstr(out, "arenapool: free of a pointer not allocated by arenapool (ptr=0x"), "%s", out);
    st = run_child(small_double_free_after_decay, 1, out, sizeof out);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "ARENAPOOL_MISUSE=ignore: status %#x, %s", st, out);
}

/* The thread cache fetched objects in a batch and handed out only the
 * first: a free of the next one (never handed out) is a double free. */
static void free_of_fetched_object(void)
{
    char *a = mp_alloc(1200); /* the cache's first fetch: a batch of two */
    mp_free(a + mp_usable_size(a)); /* the second, still in the cache */
    no_block_twice(1200);
    mp_free(a);
}

Test(mp_exact, free_of_an_object_a_cache_fetched_but_never_handed_out)
{
    expect_caught(free_of_fetched_object, "double free");
}

/* An object never carved out of its span, on a page no object of which was
 * ever handed out (a 3 KiB class: 8 objects over 3 pages, the first fetch
 * takes 2). */
static void free_of_uncarved_object(void)
{
    char *a = mp_alloc(3000);
    size_t size = mp_usable_size(a);
    mp_span_t *s = mp__span_at(a);
    if (!s || s->npages < 3 || (uintptr_t)a != s->page << MP_PAGE_SHIFT)
        _exit(6);
    mp_free(a + 6 * size);
    no_block_twice(3000);
}

Test(mp_exact, free_of_an_object_never_carved_from_its_span)
{
    expect_caught(free_of_uncarved_object, "free of a pointer not allocated by arenapool");
}

/* Objects never carved, on the page of one that was: they hold their key. */
static void free_of_uncarved_keyed_object(void)
{
    char *a = mp_alloc(48);
    mp_free(a + 48 * 100);
    no_block_twice(48);
}

Test(mp_exact, free_of_an_uncarved_object_on_a_carved_page)
{
    expect_caught(free_of_uncarved_keyed_object, "double free");
}

/* The bytes past a span's last object, at a multiple of the class size: a
 * 48-byte class's one-page span holds 170 objects and ends with 32 bytes at
 * offset 8160.  Before and after every object has been carved. */
static void free_of_span_tail(int carve_all)
{
    char *first = mp_alloc(48);
    if (((uintptr_t)first & 8191) != 0)
        _exit(6); /* a fresh class starts a span */
    for (int i = 0; carve_all && i < 169; i++)
        if (mp_alloc(48) == NULL)
            _exit(2);
    mp_free(first + 8160);
    no_block_twice(48);
}

static void free_of_span_tail_carved(void) { free_of_span_tail(1); }
static void free_of_span_tail_fresh(void) { free_of_span_tail(0); }

Test(mp_exact, free_of_a_spans_tail_past_its_last_object)
{
    expect_caught(free_of_span_tail_carved, "free of a pointer not allocated by arenapool");
    expect_caught(free_of_span_tail_fresh, "free of a pointer not allocated by arenapool");
}

static void realloc_freed_huge(void)
{
    char *p = mp_alloc(64);
    mp_free(p);
    errno = 0;
    if (mp_realloc(p, SIZE_MAX) != NULL || errno != EINVAL)
        _exit(3);
}

Test(mp_exact, realloc_of_a_freed_pointer_is_reported_whatever_the_size)
{
    expect_caught(realloc_freed_huge, "double free");
}

static void free_above_48_bits(void)
{
    char *p = mp_alloc(64);
    volatile uintptr_t a = (uintptr_t)p | ((uintptr_t)1 << 52);
    mp_free((void *)a);
    no_block_twice(64);
    mp_free(p);
}

Test(mp_exact, free_of_a_pointer_above_48_bits_is_foreign)
{
    expect_caught(free_above_48_bits, "free of a pointer not allocated by arenapool");
}

/* Failed huge allocations leave the pool's mapped bytes as they were: no
 * span record or other metadata leaks per failure. */
Test(mp_exact, failed_growth_leaks_nothing)
{
    void *warm = mp_alloc((size_t)1 << 20);
    mp_free(warm);
    mp_stats_t before, after;
    mp_stats(&before);
    for (int i = 0; i < 20000; i++) {
        errno = 0;
        void *p = mp_alloc((size_t)1 << 50);
        cr_assert(p == NULL && errno == ENOMEM);
    }
    mp_stats(&after);
    cr_assert_leq(after.mapped, before.mapped, "mapped grew by %zu bytes over 20000 failures",
                  after.mapped - before.mapped);
}
