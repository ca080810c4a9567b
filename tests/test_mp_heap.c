/*
 * test_mp_heap.c - the memory pool's page heap and the OS calls under it:
 * arena__os_populate (pre-faulting, contents kept, bad input), spans handed
 * out fresh or after a decommit being resident at once, the decay leaving
 * fresh spans alone while trim gives them back, and mp_stats staying exact
 * across fresh spans, trims and reuse of decommitted spans.
 */
#include <criterion/criterion.h>

#include "mp.h"
#include "mp_internal.h"

#include <errno.h>
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
    size_t ps = arena__os_page_size();
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

/* Does this kernel pre-fault (Linux >= 5.14)?  Asked on a scratch mapping. */
static int populate_works(void)
{
    size_t n = 4 * arena__os_page_size();
    void *m;
    cr_assert_eq(arena__os_map(n, &m), 0);
    int rc = arena__os_populate(m, n);
    cr_assert(rc == 0 || rc == EINVAL, "populate: %d", rc);
    arena__os_unmap(m, n);
    return rc == 0;
}

/* ---- arena__os_populate ---- */

Test(mp_heap, os_populate_leaves_a_fresh_mapping_zero_and_writable)
{
    size_t ps = arena__os_page_size();
    size_t n = 64 * ps;
    unsigned char *m;
    cr_assert_eq(arena__os_map(n, (void **)&m), 0);
    errno = 12345;
    int rc = arena__os_populate(m, n);
    cr_assert_eq(errno, 12345, "errno is left alone");
    cr_assert(rc == 0 || rc == EINVAL, "0, or EINVAL on a kernel without it: got %d", rc);
    if (rc == 0)
        cr_assert_eq(resident_pages(m, n), 64, "every page was faulted in by the one call");
    for (size_t i = 0; i < n; i++)
        cr_assert_eq(m[i], 0, "byte %zu reads zero", i);
    memset(m, 0xA5, n);
    for (size_t i = 0; i < n; i += 97)
        cr_assert_eq(m[i], 0xA5);
    cr_assert_eq(arena__os_unmap(m, n), 0);
}

Test(mp_heap, os_populate_never_changes_contents)
{
    size_t ps = arena__os_page_size();
    size_t n = 16 * ps;
    unsigned char *m;
    cr_assert_eq(arena__os_map(n, (void **)&m), 0);
    /* Half the pages touched, half not: both must read as before. */
    for (size_t i = 0; i < n / 2; i++)
        m[i] = (unsigned char)(i * 31 + 7);
    int rc = arena__os_populate(m, n);
    cr_assert(rc == 0 || rc == EINVAL, "populate: %d", rc);
    for (size_t i = 0; i < n / 2; i++)
        cr_assert_eq(m[i], (unsigned char)(i * 31 + 7), "byte %zu kept", i);
    for (size_t i = n / 2; i < n; i++)
        cr_assert_eq(m[i], 0, "untouched byte %zu still zero", i);
    cr_assert_eq(arena__os_unmap(m, n), 0);
}

Test(mp_heap, os_populate_refuses_null_and_zero_size)
{
    size_t ps = arena__os_page_size();
    void *m;
    cr_assert_eq(arena__os_map(ps, &m), 0);
    errno = 0;
    cr_assert_eq(arena__os_populate(NULL, ps), EINVAL);
    cr_assert_eq(arena__os_populate(m, 0), EINVAL);
    cr_assert_eq(arena__os_populate(NULL, 0), EINVAL);
    cr_assert_eq(errno, 0, "errno is left alone");
    cr_assert_eq(arena__os_unmap(m, ps), 0);
}

/* ---- Spans: pre-faulted when unbacked ---- */

/* Bounds of the span holding p. */
static void span_range(const void *p, char **lo, size_t *len)
{
    mp_span_t *s = mp__span_at(p);
    cr_assert(s && s->state == MP_SPAN_SMALL);
    *lo = (char *)(s->page << MP_PAGE_SHIFT);
    *len = s->npages << MP_PAGE_SHIFT;
}

/* 4 KiB blocks: sixteen to a span.  A class's first span is left to fault
 * page by page (a class may use only a few objects); from its second span on,
 * an unbacked span (fresh, or decommitted by a trim) is pre-faulted whole. */
Test(mp_heap, unbacked_spans_are_resident_when_handed_out)
{
    int works = populate_works();
    size_t n = 4 * KiB, ps = arena__os_page_size();
    char *p[17], *lo0, *lo1;
    size_t len0, len1;
    p[0] = mp_alloc(n);
    cr_assert(p[0]);
    span_range(p[0], &lo0, &len0);
    /* Checked at once: debug builds write into each block handed out. */
    cr_assert_lt(resident_pages(lo0, len0), len0 / ps, "the first span was not pre-faulted");
    for (int i = 1; i < 17; i++) {
        p[i] = mp_alloc(n);
        cr_assert(p[i]);
    }
    span_range(p[16], &lo1, &len1);
    cr_assert_eq(len0 / n, 16, "sixteen blocks to a span");
    cr_assert_neq(lo0, lo1, "the seventeenth block needs a second span");
    if (works)
        cr_assert_eq(resident_pages(lo1, len1), len1 / ps, "the second span was pre-faulted");
    for (int i = 0; i < 17; i++)
        memset(p[i], 3, n);
    for (int i = 0; i < 17; i++)
        mp_free(p[i]);
    cr_assert_geq(mp_trim(), len0 + len1, "both spans were decommitted");
    cr_assert_lt(resident_pages(lo1, len1), len1 / ps, "decommitted pages left RSS");

    /* Again: the second span is a decommitted one now, pre-faulted too. */
    for (int i = 0; i < 17; i++) {
        p[i] = mp_alloc(n);
        cr_assert(p[i]);
    }
    span_range(p[16], &lo1, &len1);
    if (works)
        cr_assert_eq(resident_pages(lo1, len1), len1 / ps, "a reused decommitted span is pre-faulted");
    for (int i = 0; i < 17; i++)
        mp_free(p[i]);
}

/* A 200 KiB block is a span of its own: a program may touch little of such a
 * block, so it is not pre-faulted (only the pages written are resident). */
Test(mp_heap, one_object_spans_are_not_pre_faulted)
{
    size_t n = 200 * KiB, ps = arena__os_page_size();
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
 * and trim the counters come back exactly, and a second round over the
 * decommitted spans maps nothing new. */
Test(mp_heap, stats_stay_exact_across_fresh_spans_trim_and_reuse)
{
    const size_t n = sizeof blocks / sizeof blocks[0];
    mp_stats_t st0, peak1, trim1, peak2, trim2;
    mp_stats(&st0);

    alloc_blocks(n, 32);
    mp_stats(&peak1);
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
    cr_assert_eq(trim1.mapped, peak1.mapped - released, "mapped %zu, peak %zu, released %zu",
                 trim1.mapped, peak1.mapped, released);

    alloc_blocks(n, 32);
    mp_stats(&peak2);
    cr_assert_eq(peak2.in_use, peak1.in_use);
    cr_assert_leq(peak2.mapped, peak1.mapped, "decommitted spans reused, nothing new mapped");
    cr_assert_geq(peak2.mapped, peak2.in_use + peak2.cached);
    free_blocks(n, 32);
    size_t released2 = mp_trim();
    mp_stats(&trim2);
    cr_assert_eq(trim2.in_use, st0.in_use);
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

/* Spans decommitted by trim and handed out again (pre-faulted) give mp_calloc
 * zeroed blocks, and what is written to them stays. */
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
    cr_assert_gt(mp_trim(), 5 * MiB);

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

/* ---- Transparent huge pages ---- */

Test(mp_heap, os_hugepage_is_a_hint_that_keeps_contents)
{
    size_t n = (size_t)4 << 20;
    unsigned char *m;
    cr_assert_eq(arena__os_map(n, (void **)&m), 0);
    m[0] = 7;
    int rc = arena__os_hugepage(m, n);
    cr_assert(rc == 0 || rc == EINVAL, "0, or EINVAL where unsupported: got %d", rc);
    cr_assert_eq(m[0], 7);
    cr_assert_eq(m[n - 1], 0);
    m[n - 1] = 9;
    cr_assert_eq(m[n - 1], 9);
    errno = 0;
    cr_assert_eq(arena__os_hugepage(NULL, n), EINVAL);
    cr_assert_eq(arena__os_hugepage(m, 0), EINVAL);
    cr_assert_eq(errno, 0, "errno is left alone");
    cr_assert_eq(arena__os_unmap(m, n), 0);
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
    cr_assert_eq(arena__os_map(n, &m), 0);
    int ok = arena__os_hugepage(m, n) == 0 && advised_huge(m) == 1;
    cr_assert_eq(arena__os_unmap(m, n), 0);
    return ok;
}

/* Small heaps keep 4 KiB pages; regions mapped once the heap is past 32 MiB
 * ask for huge pages. */
Test(mp_heap, regions_past_32_mib_ask_for_huge_pages)
{
    unsetenv("ARENAPOOL_THP");
    if (!thp_visible())
        cr_skip_test("MADV_HUGEPAGE is not taken or not shown here");
    size_t n;
    void **v = fill_heap((size_t)36 << 20, &n);
    /* Two more fetches: the second comes wholly from the newest span, which
     * lies in the region whose mapping took the heap past the target. */
    void *more[32];
    for (int i = 0; i < 32; i++)
        cr_assert(more[i] = mp_alloc(4 * KiB));
    int first = advised_huge(v[0]), last = advised_huge(more[31]);
    if (first < 0 || last < 0)
        cr_skip_test("no VmFlags in /proc/self/smaps");
    cr_assert_eq(first, 0, "the first region keeps 4 KiB pages");
    cr_assert_eq(last, 1, "a region mapped past 32 MiB asks for huge pages");
    for (int i = 0; i < 32; i++)
        mp_free(more[i]);
    for (size_t i = 0; i < n; i++)
        mp_free(v[i]);
    free(v);
}

Test(mp_heap, thp_env_zero_turns_huge_pages_off)
{
    setenv("ARENAPOOL_THP", "0", 1);
    size_t n;
    void **v = fill_heap((size_t)36 << 20, &n);
    int last = advised_huge(v[n - 1]);
    if (last < 0)
        cr_skip_test("no VmFlags in /proc/self/smaps");
    cr_assert_eq(last, 0, "ARENAPOOL_THP=0: no region asks for huge pages");
    for (size_t i = 0; i < n; i++)
        mp_free(v[i]);
    free(v);
}

Test(mp_heap, thp_env_one_asks_from_the_first_region)
{
    setenv("ARENAPOOL_THP", "1", 1);
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
