/*
 * pagesize.c - the memory pool on a kernel whose page is larger than its own
 * 8 KiB page (16 or 64 KiB, common on aarch64), simulated on this machine:
 * run with ARENAPOOL_SIM_PAGE_SIZE=16384 or 65536, the OS layer reports that
 * page size and aborts on any unmap, madvise, mprotect or mremap not aligned
 * to it (a real kernel would round the range outward into a neighbour's
 * bytes).  A plain main, not Criterion: the variable must be in place before
 * the library's first call.  make test-pagesize runs it, the threaded stress
 * and the mp fuzzer under both sizes (mk/mp.mk).
 */

#include "mp.h"
#include "mp_internal.h"

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define MiB ((size_t)1024 * 1024)

static void misaligned_madvise(size_t page)
{
    void *p;
    if (ap__os_map(4 * page, &p) != 0 || ((uintptr_t)p & (page - 1)) != 0)
        _exit(3);
    if (ap__os_decommit(p, 2 * page) != 0) /* aligned: allowed */
        _exit(4);
    int devnull = open("/dev/null", O_WRONLY);
    if (devnull >= 0)
        dup2(devnull, 2); /* the expected report stays out of the test log */
    (void)ap__os_decommit((char *)p + 8192, 8192); /* must abort */
    _exit(0);
}


/* Blocks of odd page counts side by side, every other one freed, idle
 * pages given back (decay and trim), blocks grown and shrunk in place and by
 * moving: every live byte survives, and no release was misaligned. */
static void neighbours_survive(size_t page)
{
    (void)page;
    enum { N = 48 };
    unsigned char *b[N];
    size_t n[N];
    for (int i = 0; i < N; i++) {
        n[i] = (size_t)(260 + 8 * (i % 7)) * 1024 + 8192 * (size_t)(i % 3);
        b[i] = mp_alloc(n[i]);
        if (!b[i])
            _exit(2);
        memset(b[i], i + 1, n[i]);
    }
    for (int i = 0; i < N; i += 2)
        mp_free(b[i]);
    __atomic_add_fetch(&mp__clock_skew_ms, 10000, __ATOMIC_RELAXED);
    void *small[512];
    for (int i = 0; i < 512; i++) /* small spans between the large blocks */
        small[i] = mp_alloc(48 + 16 * (size_t)(i % 40));
    for (int i = 0; i < 512; i++)
        mp_free(small[i]);
    for (int i = 1; i < N; i += 4) { /* grow (in place or moved) and shrink */
        unsigned char *q = mp_realloc(b[i], n[i] * 3);
        if (!q)
            _exit(2);
        memset(q + n[i], i + 1, n[i] * 2);
        b[i] = q;
        n[i] *= 3;
        q = mp_realloc(b[i], n[i] / 2);
        if (!q)
            _exit(2);
        b[i] = q;
        n[i] /= 2;
    }
    unsigned char *z = mp_calloc(1, 3 * MiB + 8192); /* a large calloc over freed pages */
    for (size_t k = 0; z && k < 3 * MiB + 8192; k += 511)
        if (z[k] != 0)
            _exit(5);
    mp_free(z);
    mp_trim();
    for (int i = 1; i < N; i += 2)
        for (size_t k = 0; k < n[i]; k++)
            if (b[i][k] != (unsigned char)(i + 1))
                _exit(6);
    for (int i = 1; i < N; i += 2)
        mp_free(b[i]);
    mp_trim();
}

/* Every byte of [p, p+n) zero? */
static int all_zero(const unsigned char *p, size_t n)
{
    for (size_t k = 0; k < n; k++)
        if (p[k] != 0)
            return 0;
    return 1;
}

/* Large callocs over dirty freed pages whose ends share OS pages with live
 * neighbours: in a loop, after the decay dropped them, when grown next to
 * (or moved from) dirty resident pages, with the page states told each way
 * (mincore, pagemap, mincore as with swap).  Every byte reads zero; the
 * neighbours keep theirs; no release or move was misaligned. */
static void calloc_over_dirty_pages(size_t page)
{
    (void)page;
    const size_t sizes[] = {MiB + 8192 + 5, 9 * MiB + 3 * 8192 + 1, 21 * MiB + 8192, 26 * MiB + 7};
    for (int mode = 0; mode < 3; mode++) {
        __atomic_store_n(&ap__os_states_mode, mode, __ATOMIC_RELAXED);
        unsigned char *left = mp_alloc(264 * 1024 + 8192), *right;
        if (!left)
            _exit(2);
        memset(left, 0x4C, 264 * 1024 + 8192);
        for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
            unsigned char *p = mp_alloc(sizes[i]);
            if (!p)
                _exit(2);
            memset(p, 0xA5, sizes[i]);
            mp_free(p);
            unsigned char *z = mp_calloc(1, sizes[i]);
            if (!z || !all_zero(z, sizes[i]))
                _exit(7);
            memset(z, 0xA6, sizes[i]);
            mp_free(z);
            if (i % 2) {
                __atomic_add_fetch(&mp__clock_skew_ms, 10000, __ATOMIC_RELAXED);
                mp_free(mp_alloc(300 * 1024)); /* the decay drops the idle pages */
            }
            z = mp_calloc(1, sizes[i] + 8192);
            if (!z || !all_zero(z, sizes[i] + 8192))
                _exit(8);
            mp_free(z);
        }
        right = mp_alloc(264 * 1024 + 8192);
        if (!right)
            _exit(2);
        memset(right, 0x52, 264 * 1024 + 8192);
        for (size_t k = 0; k < 264 * 1024 + 8192; k++)
            if (left[k] != 0x4C || right[k] != 0x52)
                _exit(9);
        mp_free(left);
        mp_free(right);
        mp_trim();
    }
}

static int fail(const char *what, int st)
{
    fprintf(stderr, "pagesize: %s (status %#x)\n", what, st);
    return 1;
}

/* Run fn(page) in a child; its wait status. */
static int in_child(void (*fn)(size_t), size_t page)
{
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        fn(page);
        _exit(0);
    }
    int st = -1;
    if (pid < 0 || waitpid(pid, &st, 0) != pid)
        return -1;
    return st;
}

int main(void)
{
    const char *e = getenv("ARENAPOOL_SIM_PAGE_SIZE");
    size_t page = e ? (size_t)strtoul(e, NULL, 10) : 0;
    if (page == 0 || ap__os_page_size() != page)
        return fail("run with ARENAPOOL_SIM_PAGE_SIZE=16384 or 65536", 0);
    int st = in_child(misaligned_madvise, page);
    if (!(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT))
        return fail("a misaligned madvise was not stopped", st);
    st = in_child(neighbours_survive, page);
    if (!(WIFEXITED(st) && WEXITSTATUS(st) == 0))
        return fail("live neighbours lost bytes, or a release was misaligned", st);
    st = in_child(calloc_over_dirty_pages, page);
    if (!(WIFEXITED(st) && WEXITSTATUS(st) == 0))
        return fail("a large calloc read non-zero bytes, or a release or move was misaligned", st);
    printf("pagesize %zu: all passed\n", page);
    return 0;
}
