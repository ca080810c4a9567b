/*
 * test_mp_os.c - the memory pool around the OS, through
 * the public API only so the tests survive a rewrite of the page heap:
 * aligned blocks of every alignment from 16 KiB to 1 MiB kept live between
 * large blocks (usable size and realloc keep every byte), address space given
 * back after frees (VmSize, and RLIMIT_AS in a child against glibc), no
 * residency the program did not cause (mincore, /proc/self/statm), huge pages
 * only when asked, large realloc without copying (minor faults), a freed big
 * block never handed out whole for a small request, RSS back near its start
 * after free + mp_trim.  Criterion runs each test in a process of its own, so
 * each starts from an empty pool.
 */
#include <criterion/criterion.h>

#include "helpers.h"
#include "mp.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#define KiB ((size_t)1024)
#define MiB ((size_t)1024 * 1024)

/* Address-space and residency figures mean nothing under ASan (shadow
 * memory, a reserved terabyte) or Memcheck (its own heap in our process). */
#if defined(__SANITIZE_ADDRESS__)
#define MPOS_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define MPOS_ASAN 1
#endif
#endif
#ifndef MPOS_ASAN
#define MPOS_ASAN 0
#endif
#ifdef ARENAPOOL_VALGRIND
#define MPOS_VALGRIND 1
#else
#define MPOS_VALGRIND 0
#endif

/* ---- /proc helpers ---- */

/* A "Key:   N kB" field of /proc/self/status, in bytes. */
static size_t status_bytes(const char *key)
{
    FILE *f = fopen("/proc/self/status", "r");
    cr_assert(f, "open /proc/self/status");
    char line[256];
    size_t kb = 0, kl = strlen(key);
    while (fgets(line, sizeof line, f))
        if (strncmp(line, key, kl) == 0 && line[kl] == ':') {
            kb = strtoull(line + kl + 1, NULL, 10);
            break;
        }
    fclose(f);
    return kb * KiB;
}

static size_t vm_size(void) { return status_bytes("VmSize"); }

/* Resident bytes now (/proc/self/statm, second field). */
static size_t rss_now(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    cr_assert(f, "open /proc/self/statm");
    unsigned long size = 0, res = 0;
    cr_assert_eq(fscanf(f, "%lu %lu", &size, &res), 2);
    fclose(f);
    return (size_t)res * (size_t)sysconf(_SC_PAGESIZE);
}

static size_t os_page(void) { return (size_t)sysconf(_SC_PAGESIZE); }

/* Resident pages of the pages that [p, p+n) overlaps (mincore). */
static size_t resident_pages(const void *p, size_t n)
{
    size_t ps = os_page();
    uintptr_t lo = (uintptr_t)p & ~(ps - 1), hi = ((uintptr_t)p + n + ps - 1) & ~(ps - 1);
    size_t pages = (hi - lo) / ps;
    unsigned char vec[256];
    size_t in = 0;
    for (size_t done = 0; done < pages;) {
        size_t k = pages - done < sizeof vec ? pages - done : sizeof vec;
        cr_assert_eq(mincore((void *)(lo + done * ps), k * ps, vec), 0, "mincore: errno %d", errno);
        for (size_t i = 0; i < k; i++)
            in += vec[i] & 1;
        done += k;
    }
    return in;
}

/* Pages that [p, p+n) overlaps. */
static size_t pages_of(const void *p, size_t n)
{
    size_t ps = os_page();
    uintptr_t lo = (uintptr_t)p & ~(ps - 1), hi = ((uintptr_t)p + n + ps - 1) & ~(ps - 1);
    return (hi - lo) / ps;
}

static long minor_faults(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_minflt;
}

static mp_stats_t stats_now(void)
{
    mp_stats_t s;
    mp_stats(&s);
    return s;
}

/* ---- Aligned blocks next to large blocks keep their size and bytes ---- */

typedef struct blk {
    char *p;
    size_t n;
    unsigned seed;
} blk_t;

static void check_all(const blk_t *b, size_t n, const char *when)
{
    for (size_t i = 0; i < n; i++) {
        cr_assert(mp_usable_size(b[i].p) >= b[i].n, "%s: block %zu (%zu bytes) usable %zu", when, i, b[i].n,
                  mp_usable_size(b[i].p));
        cr_assert(check_pattern(b[i].p, b[i].n, b[i].seed), "%s: block %zu (%zu bytes) lost its contents", when, i,
                  b[i].n);
    }
}

/* Every alignment from 16 KiB to 1 MiB, sizes 0 .. 4 KiB, each followed by a
 * large block of 300 000 + k * 4096 bytes (sizes that are not multiples of
 * 8 KiB), all kept live: no block may take another's lookup entry. */
Test(mp_os, aligned_blocks_between_large_blocks_keep_usable_size_and_data, .timeout = 120)
{
    enum { PER_ALIGN = 12, NALIGN = 7, MAXB = 2 * PER_ALIGN * NALIGN };
    static blk_t b[MAXB];
    size_t nb = 0;
    mp_stats_t s0 = stats_now();
    unsigned seed = 1;
    for (int i = 0; i < PER_ALIGN; i++) {
        for (int a = 0; a < NALIGN; a++) {
            size_t align = (16 * KiB) << a;
            size_t n = i == 0 ? 0 : i == PER_ALIGN - 1 ? 4 * KiB : (size_t)(i * 373 + a * 41) % (4 * KiB);
            char *p = mp_aligned_alloc(align, n);
            cr_assert(p, "mp_aligned_alloc(%zu, %zu)", align, n);
            cr_assert(IS_ALIGNED(p, align), "%p aligned to %zu", (void *)p, align);
            fill_pattern(p, n, seed);
            b[nb++] = (blk_t){p, n, seed++};
            size_t big = 300000 + (size_t)(i * NALIGN + a) * 4096 + (a & 1 ? 12345 : 0);
            char *q = mp_alloc(big);
            cr_assert(q, "mp_alloc(%zu)", big);
            fill_pattern(q, big, seed);
            b[nb++] = (blk_t){q, big, seed++};
            /* The neighbours made just before must still be whole. */
            for (size_t k = nb >= 3 ? nb - 3 : 0; k < nb; k++)
                cr_assert(mp_usable_size(b[k].p) >= b[k].n, "block %zu of %zu bytes: usable %zu", k, b[k].n,
                          mp_usable_size(b[k].p));
        }
    }
    check_all(b, nb, "after allocation");

    /* Grow every block (aligned ones too: realloc takes them), then shrink it. */
    for (size_t i = 0; i < nb; i++) {
        size_t grown = b[i].n * 2 + 1000;
        char *q = mp_realloc(b[i].p, grown);
        cr_assert(q, "realloc to %zu", grown);
        cr_assert(check_pattern(q, b[i].n, b[i].seed), "realloc %zu -> %zu kept the old bytes", b[i].n, grown);
        cr_assert(mp_usable_size(q) >= grown);
        fill_pattern(q, grown, b[i].seed + 1000);
        b[i] = (blk_t){q, grown, b[i].seed + 1000};
    }
    check_all(b, nb, "after growing");
    for (size_t i = 0; i < nb; i++) {
        size_t shrunk = b[i].n / 3 + 1;
        char *q = mp_realloc(b[i].p, shrunk);
        cr_assert(q);
        cr_assert(check_pattern(q, shrunk, b[i].seed), "realloc %zu -> %zu kept the bytes", b[i].n, shrunk);
        b[i].p = q, b[i].n = shrunk;
    }
    check_all(b, nb, "after shrinking");
    for (size_t i = 0; i < nb; i++)
        mp_free(b[i].p);
    mp_stats_t s1 = stats_now();
    cr_assert_eq(s1.large, s0.large, "every large block was freed: large %zu, at start %zu", s1.large, s0.large);
    cr_assert_eq(s1.in_use, s0.in_use, "nothing leaked: in_use %zu, at start %zu", s1.in_use, s0.in_use);
}

/* The page-map collision between a large block and an aligned neighbour,
 * blocks kept live: each large block is checked after its aligned neighbour
 * arrives, then all are grown. */
Test(mp_os, large_block_survives_a_16k_aligned_neighbour)
{
    enum { N = 64 };
    char *big[N];
    void *small[N];
    mp_stats_t s0 = stats_now();
    for (int i = 0; i < N; i++) {
        size_t n = 300000 + (size_t)i * 4096;
        big[i] = mp_alloc(n);
        cr_assert(big[i]);
        memset(big[i], 'B', 300000);
        small[i] = mp_aligned_alloc(16384, 16);
        cr_assert(small[i] && IS_ALIGNED(small[i], 16384));
        memset(small[i], 'a', 16);
        for (int k = 0; k <= i; k++)
            cr_assert(mp_usable_size(big[k]) >= 300000 + (size_t)k * 4096, "iteration %d: block %d usable %zu", i,
                      k, mp_usable_size(big[k]));
    }
    for (int i = 0; i < N; i++) {
        char *c = mp_realloc(big[i], 400000 + (size_t)i * 4096);
        cr_assert(c);
        for (size_t k = 0; k < 300000; k++)
            if (c[k] != 'B')
                cr_assert_fail("block %d: byte %zu of the grown block is %d, not 'B'", i, k, c[k]);
        big[i] = c;
    }
    for (int i = 0; i < N; i++) {
        cr_assert(mp_usable_size(small[i]) >= 16);
        cr_assert(memcmp(small[i], "aaaaaaaaaaaaaaaa", 16) == 0, "aligned block %d intact", i);
        cr_assert_eq(big[i][299999], 'B');
        mp_free(big[i]);
        mp_free(small[i]);
    }
    mp_stats_t s1 = stats_now();
    cr_assert_eq(s1.large, s0.large, "no large block leaked: %zu bytes still counted", s1.large - s0.large);
    cr_assert_eq(s1.in_use, s0.in_use);
}

/* ---- Address space given back after frees ---- */

/* Longer than the page heap's decay period (a second), then one call that
 * reaches the page heap: a program idle that long gets its free pages back
 * at its next call. */
static void idle_then_call(void)
{
    usleep(1300 * 1000);
    void *p = mp_alloc(2 * MiB);
    cr_assert(p);
    mp_free(p);
}

/* Small blocks filling `bytes`, freed without a trim: VmSize must fall back
 * to near where it started (a small bounded reserve may stay). */
Test(mp_os, vmsize_falls_after_small_blocks_are_freed, .timeout = 120)
{
    if (MPOS_VALGRIND)
        cr_skip_test("VmSize includes Memcheck's own heap");
    const size_t bytes = 256 * MiB, each = 3000, n = bytes / each;
    void **v = mmap(NULL, n * sizeof *v, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    cr_assert(v != MAP_FAILED);
    size_t v0 = vm_size();
    for (size_t i = 0; i < n; i++) {
        v[i] = mp_alloc(each);
        cr_assert(v[i]);
        memcpy(v[i], &i, sizeof i);
    }
    size_t v1 = vm_size();
    cr_assert(v1 >= v0 + bytes, "the fill is in VmSize (%zu -> %zu)", v0, v1);
    for (size_t i = 0; i < n; i++) {
        size_t k;
        memcpy(&k, v[i], sizeof k);
        cr_assert_eq(k, i, "block %zu intact", i);
        mp_free(v[i]);
    }
    size_t v2 = vm_size();
    /* Right after the frees the heap may keep free pages for reuse, up to
     * 3/4 of the recent peak in use; once idle for its decay period (a
     * second), the next call gives them back.  Why 64 MiB then: a bounded
     * reserve may stay (free address space, the caches' own spans); what
     * matters is that the 256 MiB do not. */
    cr_assert(v2 <= v0 + bytes / 4 * 3 + 64 * MiB, "right after freeing %zu MiB of small blocks VmSize is %zu MiB above its start",
              bytes / MiB, (v2 - v0) / MiB);
    idle_then_call();
    size_t v3 = vm_size();
    cr_assert(v3 <= v0 + 64 * MiB, "after freeing %zu MiB of small blocks and an idle second VmSize is %zu MiB above its start",
              bytes / MiB, (v3 - v0) / MiB);
    munmap(v, n * sizeof *v);
}

Test(mp_os, vmsize_falls_after_large_blocks_are_freed, .timeout = 60)
{
    if (MPOS_VALGRIND)
        cr_skip_test("VmSize includes Memcheck's own heap");
    enum { N = 64 };
    void *v[N];
    size_t v0 = vm_size();
    for (int i = 0; i < N; i++) {
        size_t n = 4 * MiB + (size_t)i * 12345;
        v[i] = mp_alloc(n);
        cr_assert(v[i]);
        memset(v[i], i, 64);
    }
    for (int i = 0; i < N; i++) {
        cr_assert_eq(((unsigned char *)v[i])[63], (unsigned char)i);
        mp_free(v[i]);
    }
    size_t v2 = vm_size();
    cr_assert(v2 <= v0 + 192 * MiB + 64 * MiB, "right after freeing 256 MiB of large blocks VmSize is %zu MiB above its start",
              (v2 - v0) / MiB);
    idle_then_call();
    size_t v3 = vm_size();
    cr_assert(v3 <= v0 + 64 * MiB, "after freeing 256 MiB of large blocks and an idle second VmSize is %zu MiB above its start",
              (v3 - v0) / MiB);
}

/* The child's side of the RLIMIT_AS test.  Writes what it managed into fd:
 * small blocks allocated, 1 MiB blocks allocated (of `ones`), mmap ok. */
typedef struct as_result {
    size_t small, small_want, ones, ones_want, v0, vm_after_free;
    int mmap_ok, data_ok;
} as_result_t;

static void as_child(int fd, int use_mp, size_t fill, size_t headroom, size_t map_bytes)
{
    as_result_t r = {0};
    const size_t each = 3000;
    r.small_want = fill / each;
    r.ones_want = fill / MiB;
    r.data_ok = 1;
    /* The pointer table comes from mmap, before the limit: it is not under test. */
    void **v = mmap(NULL, r.small_want * sizeof *v, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (v == MAP_FAILED)
        _exit(2);
    r.v0 = vm_size();
    struct rlimit lim = {r.v0 + headroom, r.v0 + headroom};
    if (setrlimit(RLIMIT_AS, &lim) != 0)
        _exit(3);
    for (size_t i = 0; i < r.small_want; i++) {
        v[i] = use_mp ? mp_alloc(each) : malloc(each);
        if (!v[i])
            break;
        memcpy(v[i], &i, sizeof i);
        r.small++;
    }
    for (size_t i = 0; i < r.small; i++) {
        size_t k;
        memcpy(&k, v[i], sizeof k);
        r.data_ok &= k == i;
        if (use_mp)
            mp_free(v[i]);
        else
            free(v[i]);
    }
    r.vm_after_free = vm_size();
    for (size_t i = 0; i < r.ones_want; i++) {
        v[i] = use_mp ? mp_alloc(MiB) : malloc(MiB);
        if (!v[i])
            break;
        memcpy(v[i], &i, sizeof i);
        memcpy((char *)v[i] + MiB - sizeof i, &i, sizeof i);
        r.ones++;
    }
    void *m = mmap(NULL, map_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    r.mmap_ok = m != MAP_FAILED;
    for (size_t i = 0; i < r.ones; i++) {
        size_t k, t;
        memcpy(&k, v[i], sizeof k);
        memcpy(&t, (char *)v[i] + MiB - sizeof t, sizeof t);
        r.data_ok &= k == i && t == i;
    }
    if (write(fd, &r, sizeof r) != (ssize_t)sizeof r)
        _exit(4);
    _exit(0);
}

static as_result_t as_run(int use_mp, size_t fill, size_t headroom, size_t map_bytes)
{
    int fds[2];
    cr_assert_eq(pipe(fds), 0);
    pid_t pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0) {
        close(fds[0]);
        alarm(60);
        as_child(fds[1], use_mp, fill, headroom, map_bytes);
    }
    close(fds[1]);
    as_result_t r;
    ssize_t k = read(fds[0], &r, sizeof r);
    close(fds[0]);
    int st;
    cr_assert_eq(waitpid(pid, &st, 0), pid);
    cr_assert(k == (ssize_t)sizeof r && WIFEXITED(st) && WEXITSTATUS(st) == 0,
              "%s child: read %zd, wait status %d", use_mp ? "mp" : "glibc", k, st);
    return r;
}

/* Address space given back, scaled to run in seconds: under RLIMIT_AS =
 * VmSize + 600 MiB, 400 MiB of 3000-byte blocks are allocated and freed (no
 * trim); then the same bytes must fit as 1 MiB blocks, and a plain 128 MiB
 * mmap beside them.  glibc's malloc does the same in a child of its own. */
Test(mp_os, address_space_limit_fits_the_same_bytes_after_frees, .timeout = 180)
{
    if (MPOS_ASAN || MPOS_VALGRIND)
        cr_skip_test("the sanitizer's own mappings fill any address-space limit");
    const size_t fill = 400 * MiB, headroom = 600 * MiB, map = 128 * MiB;
    as_result_t g = as_run(0, fill, headroom, map);
    cr_assert(g.small == g.small_want && g.ones == g.ones_want && g.mmap_ok && g.data_ok,
              "glibc itself must pass (small %zu/%zu, 1 MiB %zu/%zu, mmap %d)", g.small, g.small_want, g.ones,
              g.ones_want, g.mmap_ok);
    as_result_t m = as_run(1, fill, headroom, map);
    cr_assert(m.data_ok, "mp: every block kept its contents");
    cr_assert_eq(m.small, m.small_want, "mp: %zu of %zu small blocks under the limit", m.small, m.small_want);
    cr_assert_eq(m.ones, m.ones_want,
                 "mp: only %zu of %zu 1 MiB blocks fit after freeing the small ones (VmSize after the free: "
                 "%zu MiB above the start; glibc %zu MiB)",
                 m.ones, m.ones_want, (m.vm_after_free - m.v0) / MiB, (g.vm_after_free - g.v0) / MiB);
    cr_assert(m.mmap_ok, "mp: a plain %zu MiB mmap must fit beside the 1 MiB blocks, as under glibc", map / MiB);
}

/* The child of the full-cache test: 8 freed 16 MiB holes between 8 live
 * blocks (kept resident for reuse), then RLIMIT_AS = VmSize + 16 MiB and a
 * 48 MiB block, which fits no hole and no headroom: the heap must give its
 * free pages back and retry.  Exit status: 0 ok, 10 + step on failure. */
static void full_cache_child(void *unused)
{
    (void)unused;
    alarm(50); /* a hung child dies instead of hanging the suite */
    enum { N = 8 };
    char *hole[N], *keep[N];
    for (int i = 0; i < N; i++) {
        hole[i] = mp_alloc(16 * MiB);
        keep[i] = mp_alloc(16 * MiB);
        if (!hole[i] || !keep[i])
            _exit(10);
        memset(hole[i], 1, 16 * MiB);
        memset(keep[i], 2 + i, 16 * MiB);
    }
    for (int i = 0; i < N; i++)
        mp_free(hole[i]);
    mp_stats_t st;
    mp_stats(&st);
    if (st.cached < 64 * MiB)
        _exit(11); /* the holes were not kept: the test would prove nothing */
    struct rlimit lim = {vm_size() + 16 * MiB, vm_size() + 16 * MiB};
    if (setrlimit(RLIMIT_AS, &lim) != 0)
        _exit(12);
    char *big = mp_alloc(48 * MiB);
    if (!big)
        _exit(13);
    memset(big, 0x77, 48 * MiB);
    for (int i = 0; i < N; i++)
        if (keep[i][0] != 2 + i || keep[i][16 * MiB - 1] != 2 + i)
            _exit(14);
    mp_free(big);
    _exit(0);
}

Test(mp_os, address_space_limit_with_a_full_cache_releases_and_retries, .timeout = 60)
{
    if (MPOS_ASAN || MPOS_VALGRIND)
        cr_skip_test("the sanitizer's own mappings fill any address-space limit");
    int st = run_in_child(full_cache_child, NULL, NULL, 0);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child: wait status %d (exit %d)", st,
              WIFEXITED(st) ? WEXITSTATUS(st) : -1);
}

/* ---- Nothing resident that the program did not touch ---- */

/* 2 000 blocks of 100 000 bytes, only the first 4 KiB of each written: the
 * pool may make resident only the pages written (plus a little metadata). */
Test(mp_os, partly_touched_blocks_stay_mostly_unresident, .timeout = 60)
{
    enum { N = 2000 };
    const size_t each = 100000, touch = 4 * KiB;
    static char *v[N];
    size_t r0 = rss_now(), touched_pages = 0, resident = 0;
    for (int i = 0; i < N; i++) {
        v[i] = mp_alloc(each);
        cr_assert(v[i]);
        fill_pattern(v[i], touch, (unsigned)i);
        touched_pages += pages_of(v[i], touch);
    }
    size_t r1 = rss_now();
    for (int i = 0; i < N; i++)
        resident += resident_pages(v[i], each);
    size_t ps = os_page(), touched = touched_pages * ps;
    cr_assert(resident <= touched_pages + touched_pages / 5 + 64,
              "%zu of the blocks' pages are resident, %zu were written (%.1fx)", resident, touched_pages,
              (double)resident / (double)touched_pages);
    if (!MPOS_ASAN && !MPOS_VALGRIND)
        cr_assert(r1 - r0 <= touched + touched / 5 + 4 * MiB,
                  "RSS grew %zu KiB for %zu KiB written (%.1fx); the pool must not fault in what nobody touched",
                  (r1 - r0) / KiB, touched / KiB, (double)(r1 - r0) / (double)touched);
    for (int i = 0; i < N; i++) {
        cr_assert(check_pattern(v[i], touch, (unsigned)i));
        mp_free(v[i]);
    }
}

/* Large blocks (past the size classes) written at one end only. */
Test(mp_os, large_blocks_are_not_pre_faulted, .timeout = 60)
{
    enum { N = 40 };
    void *v[N];
    size_t r0 = rss_now(), touched = 0;
    for (int i = 0; i < N; i++) {
        size_t n = 3 * MiB + (size_t)i * 40000;
        v[i] = mp_alloc(n);
        cr_assert(v[i]);
        fill_pattern(v[i], 8 * KiB, (unsigned)i);
        touched += pages_of(v[i], 8 * KiB) * os_page();
        cr_assert(resident_pages(v[i], n) <= pages_of(v[i], 8 * KiB) + 1,
                  "block %d of %zu bytes: %zu pages resident, 8 KiB written", i, n, resident_pages(v[i], n));
    }
    size_t r1 = rss_now();
    if (!MPOS_ASAN && !MPOS_VALGRIND)
        cr_assert(r1 - r0 <= touched * 2 + 4 * MiB, "RSS grew %zu KiB for %zu KiB written", (r1 - r0) / KiB,
                  touched / KiB);
    for (int i = 0; i < N; i++) {
        cr_assert(check_pattern(v[i], 8 * KiB, (unsigned)i));
        mp_free(v[i]);
    }
}

/* ---- Transparent huge pages only when asked ---- */

/* Mappings of this process whose VmFlags carry "hg" (MADV_HUGEPAGE);
 * -1 when smaps shows no VmFlags. */
static int huge_advised_mappings(void)
{
    FILE *f = fopen("/proc/self/smaps", "r");
    if (!f)
        return -1;
    char line[512];
    int flags_seen = 0, hg = 0;
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "VmFlags:", 8) != 0)
            continue;
        flags_seen = 1;
        for (char *t = strtok(line + 8, " \n"); t; t = strtok(NULL, " \n"))
            hg += strcmp(t, "hg") == 0;
    }
    fclose(f);
    return flags_seen ? hg : -1;
}

Test(mp_os, no_huge_page_advice_without_arenapool_thp, .timeout = 60)
{
    unsetenv("ARENAPOOL_THP");
    enum { N = 40000 };
    static void *v[N];
    void *big[8];
    for (int i = 0; i < N; i++) { /* ~ 80 MiB of small blocks, past any heap-size trigger */
        v[i] = mp_alloc(2000 + (size_t)(i % 7) * 16);
        cr_assert(v[i]);
        ((char *)v[i])[0] = (char)i;
    }
    for (int i = 0; i < 8; i++) {
        big[i] = mp_alloc(8 * MiB);
        cr_assert(big[i]);
        ((char *)big[i])[0] = 1;
    }
    int hg = huge_advised_mappings();
    if (hg < 0)
        cr_skip_test("no VmFlags in /proc/self/smaps");
    cr_assert_eq(hg, 0, "%d mappings ask for huge pages, but ARENAPOOL_THP is not set", hg);
    for (int i = 0; i < N; i++) {
        cr_assert_eq(((char *)v[i])[0], (char)i);
        mp_free(v[i]);
    }
    for (int i = 0; i < 8; i++)
        mp_free(big[i]);
}

/* ---- Large realloc grows in place or by mremap, never by copying ---- */

static unsigned char grow_byte(size_t i) { return (unsigned char)((i >> 12) * 131u + (i & 0xFFF) * 7u); }

/* 1 MiB -> 256 MiB in 1 MiB steps.  Contents are checked; copying is caught
 * without a clock: a copy faults in the whole new block each step (~32 GiB
 * of page faults in all), growing in place or by mremap only the new MiB. */
Test(mp_os, realloc_growth_keeps_data_without_copying, .timeout = 300)
{
    const size_t step = MiB, top = MPOS_VALGRIND ? 32 * MiB : 256 * MiB;
    unsigned char *p = mp_alloc(step);
    cr_assert(p);
    for (size_t i = 0; i < step; i++)
        p[i] = grow_byte(i);
    long f0 = minor_faults();
    for (size_t n = 2 * step; n <= top; n += step) {
        unsigned char *q = mp_realloc(p, n);
        cr_assert(q, "realloc to %zu MiB", n / MiB);
        /* spot checks each step: first, last of the old part */
        cr_assert_eq(q[0], grow_byte(0));
        cr_assert_eq(q[n - step - 1], grow_byte(n - step - 1), "step to %zu MiB lost the old end", n / MiB);
        cr_assert(mp_usable_size(q) >= n);
        for (size_t i = n - step; i < n; i++)
            q[i] = grow_byte(i);
        p = q;
    }
    long faults = minor_faults() - f0;
    for (size_t i = 0; i < top; i++)
        if (p[i] != grow_byte(i))
            cr_assert_fail("byte %zu of the grown block changed", i);
    long written_pages = (long)((top - step) / os_page());
    cr_assert(faults <= 2 * written_pages + 4096,
              "%ld minor faults while growing to %zu MiB; writing the new bytes needs %ld: realloc copied",
              faults, top / MiB, written_pages);
    mp_free(p);
}

/* Shrinking a large block and growing it back keeps the bytes it kept. */
Test(mp_os, large_realloc_shrink_then_grow_keeps_data)
{
    size_t n = 24 * MiB;
    unsigned char *p = mp_alloc(n);
    cr_assert(p);
    for (size_t i = 0; i < n; i += 4096)
        p[i] = grow_byte(i);
    p = mp_realloc(p, 5 * MiB + 77);
    cr_assert(p);
    for (size_t i = 0; i < 5 * MiB; i += 4096)
        cr_assert_eq(p[i], grow_byte(i));
    p = mp_realloc(p, 40 * MiB);
    cr_assert(p);
    for (size_t i = 0; i < 5 * MiB; i += 4096)
        cr_assert_eq(p[i], grow_byte(i), "byte %zu after shrink and regrow", i);
    mp_free(p);
}

/* ---- A freed big block is not handed out whole for a small one ---- */

Test(mp_os, freed_32mib_block_is_not_reused_whole_for_1mib)
{
    size_t r0 = rss_now();
    char *big = mp_alloc(32 * MiB);
    cr_assert(big);
    memset(big, 0x5A, 32 * MiB);
    mp_free(big);
    char *p = mp_alloc(MiB);
    cr_assert(p);
    size_t u = mp_usable_size(p);
    cr_assert(u >= MiB && u <= 2 * MiB + 64 * KiB, "mp_alloc(1 MiB) after a freed 32 MiB block: usable %zu", u);
    fill_pattern(p, MiB, 6);
    char *q = mp_alloc(3 * MiB); /* and a second request from the same space */
    cr_assert(q);
    cr_assert(mp_usable_size(q) <= 6 * MiB + 64 * KiB, "mp_alloc(3 MiB): usable %zu", mp_usable_size(q));
    fill_pattern(q, 3 * MiB, 7);
    cr_assert(check_pattern(p, MiB, 6) && check_pattern(q, 3 * MiB, 7));
    mp_free(p);
    mp_free(q);
    mp_trim();
    size_t r1 = rss_now();
    if (!MPOS_ASAN && !MPOS_VALGRIND)
        cr_assert(r1 <= r0 + 8 * MiB, "RSS after free + mp_trim is %zu KiB above the start", (r1 - r0) / KiB);
}

/* ---- RSS back near its start after free + mp_trim (trim_info.c: malloc_trim) ---- */

Test(mp_os, rss_returns_near_start_after_free_and_trim, .timeout = 120)
{
    if (MPOS_VALGRIND)
        cr_skip_test("RSS includes Memcheck's own heap");
    enum { NSMALL = 40000, NBIG = 16 };
    static void *s[NSMALL];
    void *b[NBIG];
    size_t r0 = rss_now();
    for (int i = 0; i < NSMALL; i++) { /* ~ 100 MiB of 16-5000 B blocks */
        size_t n = 16 + (size_t)(i * 2654435761u % 5000);
        s[i] = mp_alloc(n);
        cr_assert(s[i]);
        memset(s[i], i, n);
    }
    for (int i = 0; i < NBIG; i++) {
        size_t n = 4 * MiB + (size_t)i * 65536;
        b[i] = mp_alloc(n);
        cr_assert(b[i]);
        memset(b[i], i, n);
    }
    size_t r1 = rss_now();
    cr_assert(r1 >= r0 + 100 * MiB, "the blocks were resident (%zu -> %zu KiB)", r0 / KiB, r1 / KiB);
    for (int i = 0; i < NSMALL; i++) {
        cr_assert_eq(((unsigned char *)s[i])[15], (unsigned char)i);
        mp_free(s[i]);
    }
    for (int i = 0; i < NBIG; i++)
        mp_free(b[i]);
    size_t released = mp_trim();
    size_t r2 = rss_now();
    cr_assert(released > 0, "mp_trim released something");
    if (!MPOS_ASAN)
        cr_assert(r2 <= r0 + 8 * MiB, "RSS after free + mp_trim: %zu KiB above the start (peak %zu KiB above)",
                  (r2 - r0) / KiB, (r1 - r0) / KiB);
    mp_stats_t st = stats_now();
    cr_assert(st.mapped <= 16 * MiB, "mp still holds %zu KiB after the trim", st.mapped / KiB);
}
