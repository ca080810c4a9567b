/*
 * test_mp_heap.c - the memory pool's page heap and the OS calls under it:
 * only objects handed out of spans pre-faulted, the decay leaving fresh spans alone while trim
 * gives them back, mp_stats staying exact across fresh spans, trims and
 * reuse of decommitted spans, and huge pages only when asked for.
 */
#include <criterion/criterion.h>

#include "mp.h"
#include "mp_internal.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define KiB ((size_t)1024)
#define MiB ((size_t)1024 * 1024)

/* Pages of [p, p+n) that are resident (mincore), p page aligned. */
static size_t resident_pages(void *p, size_t n)
{
    size_t ps = ap__os_page_size();
    size_t pages = (n + ps - 1) / ps;
    unsigned char *vec = calloc(pages, 1);
    cr_assert(vec);
    cr_assert_eq(mincore(p, n, vec), 0, "mincore: errno %d", errno);
    size_t in = 0;
    for (size_t i = 0; i < pages; i++)
        in += vec[i] & 1;
    free(vec);
    return in;
}

/* ---- Spans: never pre-faulted ---- */

/* Bounds of the span holding p. */
static void span_range(const void *p, char **lo, size_t *len)
{
    mp_span_t *s = mp__span_at(p);
    cr_assert(s && s->state == MP_SPAN_SMALL);
    *lo = (char *)(s->page << MP_PAGE_SHIFT);
    *len = s->npages << MP_PAGE_SHIFT;
}

/* 4 KiB blocks: sixteen to a span.  However many spans a class fills, and
 * whether a span is fresh or was unmapped by a trim, the only resident pages
 * are those of blocks handed out of their spans: the program's, and at most
 * one batch waiting in this thread's cache (pre-faulted together, since the
 * program is about to write them).  Span space nobody took stays unbacked. */
Test(mp_heap, only_handed_out_objects_are_pre_faulted)
{
    size_t n = 4 * KiB, ps = ap__os_page_size();
    enum { N = 40 };
    char *p[N];
    size_t cls = mp__class_of(n), batch = mp__class_batch[cls];
    for (int round = 0; round < 2; round++) {
        for (int i = 0; i < N; i++) {
            p[i] = mp_alloc(n);
            cr_assert(p[i]);
        }
        /* Every span once: resident pages against the blocks handed out. */
        size_t resident = 0, spans = 0;
        char *seen[N];
        for (int i = 0; i < N; i++) {
            char *lo;
            size_t len;
            span_range(p[i], &lo, &len);
            int dup = 0;
            for (size_t k = 0; k < spans; k++)
                dup |= seen[k] == lo;
            if (dup)
                continue;
            seen[spans++] = lo;
            resident += resident_pages(lo, len);
        }
        cr_assert_leq(resident, (N + batch) * (n / ps),
                      "round %d: %zu resident pages for %d blocks handed out (+ one batch of %zu)", round,
                      resident, N, batch);
        cr_assert_lt(resident, spans * (MP_PAGE_SIZE / ps) * mp__class_pages[cls],
                     "round %d: some span space was never faulted in", round);
        for (int i = 0; i < N; i++)
            mp_free(p[i]);
        mp_trim(); /* the second round takes unmapped pages */
    }
}

/* A 200 KiB block is a span of its own: a program may touch little of such a
 * block, so it is not pre-faulted (only the pages written are resident). */
Test(mp_heap, one_object_spans_are_not_pre_faulted)
{
    size_t n = 200 * KiB, ps = ap__os_page_size();
    char *p = mp_alloc(n), *lo;
    size_t span;
    cr_assert(p);
    span_range(p, &lo, &span);
    cr_assert_lt(span / mp__class_size[mp__class_of(n)], 8, "a class that is not pre-faulted");
    p[0] = 1;
    cr_assert_lt(resident_pages(lo, span), span / ps / 2, "most of the span is still unbacked");
    mp_free(p);
}

/* ---- Trim and stats ---- */

/* The decay gives back idle touched spans only: fresh pages were never
 * resident, so they keep their count in mapped. */
Test(mp_heap, decay_leaves_fresh_spans_alone)
{
    mp_trim(); /* nothing free left: the next span comes from a new mapping */
    void *p = mp_alloc(32);
    cr_assert(p);
    mp_stats_t s1, s2;
    mp_stats(&s1);
    __atomic_add_fetch(&mp__clock_skew_ms, 10000, __ATOMIC_RELAXED);
    void *q = mp_alloc(200 * KiB); /* a page-heap call: the decay runs */
    cr_assert(q);
    mp_stats(&s2);
    cr_assert_geq(s2.mapped, s1.mapped, "mapped %zu after the decay, %zu before", s2.mapped,
                  s1.mapped);
    mp_free(q);
    mp_free(p);
}

/* mp_trim gives back every free span, fresh ones included, so mapped then
 * counts what is in use and metadata only. */
Test(mp_heap, trim_gives_back_fresh_spans_too)
{
    mp_trim();
    mp_stats_t s0, s1, s2;
    mp_stats(&s0);
    void *p = mp_alloc(32);
    cr_assert(p);
    memset(p, 1, 32);
    mp_stats(&s1);
    mp_free(p);
    size_t released = mp_trim();
    mp_stats(&s2);
    cr_assert_eq(s2.in_use, 0);
    cr_assert_eq(s2.cached, 0);
    cr_assert_eq(s2.mapped, s1.mapped - released);
    if (s1.mapped - s0.mapped >= 2 * MiB) /* the block's span came from a new 2 MiB mapping */
        cr_assert_geq(released, 2 * MiB, "released %zu: the span and the fresh rest", released);
    else
        cr_assert_geq(released, (size_t)mp__class_pages[mp__class_of(32)] * MP_PAGE_SIZE);
}

static void *blocks[100000];

static void alloc_blocks(size_t n, size_t size)
{
    for (size_t i = 0; i < n; i++) {
        blocks[i] = mp_alloc(size);
        cr_assert(blocks[i]);
        memset(blocks[i], (int)(i & 0xFF), size);
    }
}

static void free_blocks(size_t n, size_t size)
{
    for (size_t i = 0; i < n; i++) {
        const unsigned char *b = blocks[i];
        cr_assert(b[0] == (i & 0xFF) && b[size - 1] == (i & 0xFF), "block %zu intact", i);
        mp_free(blocks[i]);
    }
}

/* Many 32-byte blocks carve fresh spans, counted once in mapped; after free
 * and trim (which unmaps every free span) the counters come back exactly, and
 * a second round maps no more than the first. */
Test(mp_heap, stats_stay_exact_across_fresh_spans_trim_and_reuse)
{
    const size_t n = sizeof blocks / sizeof blocks[0];
    mp_stats_t st0, peak1, trim1, peak2, trim2;
    mp_stats(&st0);

    alloc_blocks(n, 32);
    mp_stats(&peak1);
    uint64_t t1 = mp__now_ms();
    cr_assert_eq(peak1.in_use, st0.in_use + n * 32);
    cr_assert_geq(peak1.mapped, peak1.in_use + peak1.cached);
    cr_assert_geq(peak1.mapped, st0.mapped + n * 32);
    /* Counted once: the blocks, one 2 MiB mapping's unused rest, metadata. */
    cr_assert_leq(peak1.mapped, st0.mapped + n * 32 + 2 * MiB + 512 * KiB, "mapped %zu",
                  peak1.mapped);
    free_blocks(n, 32);
    size_t released = mp_trim();
    mp_stats(&trim1);
    cr_assert_eq(trim1.in_use, st0.in_use);
    cr_assert_eq(trim1.cached, 0);
    cr_assert_geq(released, n * 32, "the touched spans went back");
    /* Exact unless a decay pass gave pages back between the peak and the
     * trim (a second idle: Memcheck or a loaded machine), which the trim
     * cannot count. */
    cr_assert_leq(trim1.mapped, peak1.mapped - released, "mapped %zu, peak %zu, released %zu",
                  trim1.mapped, peak1.mapped, released);
    if (mp__now_ms() - t1 < 500)
        cr_assert_eq(trim1.mapped, peak1.mapped - released, "mapped %zu, peak %zu, released %zu",
                     trim1.mapped, peak1.mapped, released);

    alloc_blocks(n, 32);
    mp_stats(&peak2);
    uint64_t t2 = mp__now_ms();
    cr_assert_eq(peak2.in_use, peak1.in_use);
    cr_assert_leq(peak2.mapped, peak1.mapped, "the second round maps no more than the first");
    cr_assert_geq(peak2.mapped, peak2.in_use + peak2.cached);
    free_blocks(n, 32);
    size_t released2 = mp_trim();
    mp_stats(&trim2);
    cr_assert_eq(trim2.in_use, st0.in_use);
    cr_assert_leq(trim2.mapped, peak2.mapped - released2);
    if (mp__now_ms() - t2 < 500)
        cr_assert_eq(trim2.mapped, peak2.mapped - released2);
    cr_assert_eq(trim2.mapped, trim1.mapped, "mapped %zu after the second trim, %zu after the first",
                 trim2.mapped, trim1.mapped);
}

static int cmp_ptr(const void *a, const void *b)
{
    uintptr_t x = (uintptr_t) * (void *const *)a, y = (uintptr_t) * (void *const *)b;
    return x < y ? -1 : x > y;
}

/* Index of the first byte of b[0, n) differing from want(i), or n. */
static size_t first_bad(const unsigned char *b, size_t n, size_t seed, int zero)
{
    for (size_t j = 0; j < n; j++)
        if (b[j] != (zero ? 0 : (unsigned char)(seed * 13 + j)))
            return j;
    return n;
}

/* Spans decommitted by the decay and handed out again give mp_calloc zeroed
 * blocks, and what is written to them stays. */
Test(mp_heap, calloc_on_spans_reused_after_trim_is_zeroed_and_keeps_data)
{
    const size_t n = 6000, size = 1000;
    void **old = malloc(n * sizeof *old);
    cr_assert(old);
    alloc_blocks(n, size); /* ~6 MiB: several 2 MiB mappings, all touched */
    memcpy(old, blocks, n * sizeof *old);
    qsort(old, n, sizeof *old, cmp_ptr);
    mp_stats_t peak, again;
    mp_stats(&peak);
    free_blocks(n, size);
    mp_thread_flush();
    mp__central_drain(); /* every span back in the page heap, touched */
    __atomic_add_fetch(&mp__clock_skew_ms, 10000, __ATOMIC_RELAXED);
    mp_free(mp_alloc(300 * KiB)); /* a page-heap call: the decay runs */
    mp_stats_t idle;
    mp_stats(&idle);
    cr_assert_gt(peak.mapped - idle.mapped, 5 * MiB, "the idle spans were decommitted");

    size_t reused = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char *b = mp_calloc(1, size);
        cr_assert(b);
        cr_assert_eq(first_bad(b, size, i, 1), size, "block %zu zeroed", i);
        for (size_t j = 0; j < size; j++)
            b[j] = (unsigned char)(i * 13 + j);
        blocks[i] = b;
        void *key = b;
        reused += bsearch(&key, old, n, sizeof *old, cmp_ptr) != NULL;
    }
    mp_stats(&again);
    cr_assert_gt(reused, n / 2, "only %zu of %zu blocks on decommitted spans", reused, n);
    cr_assert_leq(again.mapped, peak.mapped, "no new mapping for the second round");
    for (size_t i = 0; i < n; i++) {
        cr_assert_eq(first_bad(blocks[i], size, i, 0), size, "block %zu intact", i);
        mp_free(blocks[i]);
    }
    free(old);
}

/* A large calloc of resident free pages either clears them or drops them,
 * by what is resident and whether calloc runs in a loop: every way must read
 * zero everywhere and leave the live neighbours' bytes alone.  The block is
 * dirtied whole or in one page, freed, and asked for again: at once (a loop:
 * cleared), and after a pause longer than the decay period but with the
 * freed pages fresh (by residency: cleared when written whole, dropped when
 * barely touched). */
static void calloc_reuse_case(size_t size, bool whole, bool pause)
{
    unsigned char *left = mp_alloc(2 * MiB), *p = mp_alloc(size), *right;
    cr_assert(left && p);
    right = mp_alloc(2 * MiB);
    cr_assert(right);
    memset(left, 0x4C, 2 * MiB);
    memset(right, 0x52, 2 * MiB);
    if (whole)
        memset(p, 0xEE, size);
    else
        p[size / 2] = 0xEE;
    p[0] = p[size - 1] = 0xEE;
    mp_free(p);
    if (pause) {
        __atomic_add_fetch(&mp__clock_skew_ms, 1500, __ATOMIC_RELAXED);
        /* The free pages must still be fresh: free and take them again now. */
        p = mp_alloc(size);
        cr_assert(p);
        if (whole)
            memset(p, 0xEE, size);
        else
            p[size / 2] = 0xEE;
        p[0] = p[size - 1] = 0xEE;
        mp_free(p);
    }
    unsigned char *q = mp_calloc(1, size);
    cr_assert(q);
    cr_assert_eq(q, p, "the freed pages were reused");
    for (size_t i = 0; i < size; i++)
        if (q[i] != 0)
            cr_assert_fail("byte %zu of a %zu-byte calloc reads %#x (whole %d, pause %d)", i, size, q[i], whole, pause);
    for (size_t i = 0; i < 2 * MiB; i++)
        if (left[i] != 0x4C || right[i] != 0x52)
            cr_assert_fail("neighbour byte %zu changed", i);
    mp_free(q);
    mp_free(left);
    mp_free(right);
}

Test(mp_heap, large_calloc_of_reused_pages_reads_zero_whether_cleared_or_dropped)
{
    const size_t sizes[] = {MiB - 4096, 3 * MiB + 8192 + 100, 9 * MiB};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
        for (int whole = 0; whole < 2; whole++)
            for (int pause = 0; pause < 2; pause++)
                calloc_reuse_case(sizes[i], whole, pause);
}

/* ---- Transparent huge pages ---- */

Test(mp_heap, os_hugepage_is_a_hint_that_keeps_contents)
{
    size_t n = (size_t)4 << 20;
    unsigned char *m;
    cr_assert_eq(ap__os_map(n, (void **)&m), 0);
    m[0] = 7;
    int rc = ap__os_hugepage(m, n);
    cr_assert(rc == 0 || rc == EINVAL, "0, or EINVAL where unsupported: got %d", rc);
    cr_assert_eq(m[0], 7);
    cr_assert_eq(m[n - 1], 0);
    m[n - 1] = 9;
    cr_assert_eq(m[n - 1], 9);
    errno = 0;
    cr_assert_eq(ap__os_hugepage(NULL, n), EINVAL);
    cr_assert_eq(ap__os_hugepage(m, 0), EINVAL);
    cr_assert_eq(errno, 0, "errno is left alone");
    cr_assert_eq(ap__os_unmap(m, n), 0);
}

/* Whether the mapping holding p was advised MADV_HUGEPAGE ("hg" in its
 * VmFlags); -1 when /proc/self/smaps cannot say. */
static int advised_huge(const void *p)
{
    FILE *f = fopen("/proc/self/smaps", "r");
    if (!f)
        return -1;
    char line[512];
    int in = 0, found = -1;
    uintptr_t a = (uintptr_t)p;
    while (fgets(line, sizeof line, f)) {
        unsigned long lo, hi;
        if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2 && strchr(line, '-') < strchr(line, ' ')) {
            in = a >= lo && a < hi;
        } else if (in && strncmp(line, "VmFlags:", 8) == 0) {
            found = strstr(line, " hg") != NULL;
            break;
        }
    }
    fclose(f);
    return found;
}


/* Allocate 4 KiB blocks until the heap has mapped `bytes`; returns them. */
static void **fill_heap(size_t bytes, size_t *count)
{
    size_t cap = bytes / (4 * KiB) + 64, n = 0;
    void **v = malloc(cap * sizeof *v);
    cr_assert(v);
    mp_stats_t st;
    do {
        cr_assert_lt(n, cap);
        v[n] = mp_alloc(4 * KiB);
        cr_assert(v[n]);
        ((char *)v[n])[0] = 1;
        n++;
        mp_stats(&st);
    } while (st.mapped < bytes);
    *count = n;
    return v;
}

/* Whether this kernel takes MADV_HUGEPAGE and shows it in smaps. */
static int thp_visible(void)
{
    size_t n = (size_t)2 << 20;
    void *m;
    cr_assert_eq(ap__os_map(n, &m), 0);
    int ok = ap__os_hugepage(m, n) == 0 && advised_huge(m) == 1;
    cr_assert_eq(ap__os_unmap(m, n), 0);
    return ok;
}

/* Huge pages only when asked for: a heap of any size keeps 4 KiB pages by
 * default (and with ARENAPOOL_THP=0). */
static void check_no_huge_pages(const char *env)
{
    if (env)
        setenv("ARENAPOOL_THP", env, 1);
    else
        unsetenv("ARENAPOOL_THP");
    ap__options_reread(); /* read once at start: see the change */
    size_t n;
    void **v = fill_heap((size_t)36 << 20, &n);
    int first = advised_huge(v[0]), last = advised_huge(v[n - 1]);
    if (first < 0 || last < 0)
        cr_skip_test("no VmFlags in /proc/self/smaps");
    cr_assert_eq(first + last, 0, "ARENAPOOL_THP=%s: a region asks for huge pages", env ? env : "(unset)");
    for (size_t i = 0; i < n; i++)
        mp_free(v[i]);
    free(v);
}

Test(mp_heap, huge_pages_are_off_by_default) { check_no_huge_pages(NULL); }

Test(mp_heap, thp_env_zero_turns_huge_pages_off) { check_no_huge_pages("0"); }

Test(mp_heap, thp_env_one_asks_from_the_first_region)
{
    setenv("ARENAPOOL_THP", "1", 1);
    ap__options_reread();
    if (!thp_visible())
        cr_skip_test("MADV_HUGEPAGE is not taken or not shown here");
    void *p = mp_alloc(4 * KiB);
    cr_assert(p);
    int first = advised_huge(p);
    if (first < 0)
        cr_skip_test("no VmFlags in /proc/self/smaps");
    cr_assert_eq(first, 1, "ARENAPOOL_THP=1: the first region asks for huge pages");
    mp_free(p);
}
