/*
 * test_mp_calloc.c - the memory pool's large calloc in the states most
 * likely to hand out stale bytes: freed dirty pages cleared in a loop or
 * after a pause, pages partly resident (cleared or dropped by residency),
 * pages dropped by the decay, the tails a realloc shrink gives back and the
 * pages a realloc move leaves, and a block larger than any free span grown
 * next to dirty resident pages (or with them moved into the new region).
 * Every byte of every block must read zero, and live neighbours keep theirs.
 */
#include <criterion/criterion.h>

#include "mp.h"
#include "mp_internal.h"

#include <stdint.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#define KiB ((size_t)1024)
#define MiB ((size_t)1024 * 1024)

#if defined(__SANITIZE_ADDRESS__)
#define CALLOC_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define CALLOC_ASAN 1
#endif
#endif
#ifndef CALLOC_ASAN
#define CALLOC_ASAN 0
#endif
#ifdef ARENAPOOL_VALGRIND
#define CALLOC_VALGRIND 1
#else
#define CALLOC_VALGRIND 0
#endif

/* Index of the first byte of [p, p+n) that is not zero, or n. */
static size_t first_nonzero(const unsigned char *p, size_t n)
{
    size_t i = 0;
    for (; i < n && ((uintptr_t)(p + i) & 7) != 0; i++)
        if (p[i])
            return i;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, p + i, 8);
        if (w)
            break;
    }
    for (; i < n; i++)
        if (p[i])
            return i;
    return n;
}

static unsigned char *zeroed_calloc(size_t size, const char *what)
{
    unsigned char *q = mp_calloc(1, size);
    cr_assert(q, "%s: calloc of %zu bytes", what, size);
    size_t bad = first_nonzero(q, size);
    cr_assert_eq(bad, size, "%s: byte %zu of a %zu-byte calloc reads %#x", what, bad, size, bad < size ? q[bad] : 0);
    return q;
}

/* Past the decay period and the calloc loop window: the next large calloc
 * of reused pages goes by residency, and idle pages decay at the next
 * page-heap call. */
static void pause_past_decay(void)
{
    __atomic_add_fetch(&mp__clock_skew_ms, 1500, __ATOMIC_RELAXED);
}

static void neighbours_intact(const unsigned char *left, const unsigned char *right, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (left[i] != 0x4C || right[i] != 0x52)
            cr_assert_fail("neighbour byte %zu changed", i);
}

/* A right neighbour made now (after the callocs, so it may sit on pages they
 * left), both neighbours checked, then freed. */
static void new_right_neighbour_then_check(unsigned char *left)
{
    unsigned char *right = mp_alloc(2 * MiB);
    cr_assert(right);
    memset(right, 0x52, 2 * MiB);
    neighbours_intact(left, right, 2 * MiB);
    mp_free(left);
    mp_free(right);
}

/* Blocks written whole and freed, asked for again by calloc at once (a
 * loop: cleared) and after a pause (by residency), at sizes that end
 * inside an OS page. */
static void reads_zero_over_freed_dirty_pages(void)
{
    const size_t sizes[] = {MiB + 1, 5 * MiB + 4097, 17 * MiB + 12345};
    unsigned char *left = mp_alloc(2 * MiB);
    cr_assert(left);
    memset(left, 0x4C, 2 * MiB);
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        for (int pause = 0; pause < 2; pause++) {
            unsigned char *p = mp_alloc(sizes[i]);
            cr_assert(p);
            memset(p, 0xA5, sizes[i]);
            mp_free(p);
            if (pause)
                pause_past_decay();
            unsigned char *q = zeroed_calloc(sizes[i], "dirty");
            memset(q, 0x5A, sizes[i]);
            mp_free(q);
            q = zeroed_calloc(sizes[i], "dirty again");
            mp_free(q);
        }
    }
    new_right_neighbour_then_check(left);
}

/* Pages partly resident: written in the first 3/8 (mostly not resident:
 * dropped), the first 5/8 (mostly resident: cleared) or every other OS page
 * (half), freed, and asked for again after a pause and in a loop. */
static void reads_zero_over_partly_resident_pages(void)
{
    const size_t size = 16 * MiB + 8192 + 100;
    size_t ps = ap__os_page_size();
    unsigned char *left = mp_alloc(2 * MiB), *right = mp_alloc(2 * MiB);
    cr_assert(left && right);
    memset(left, 0x4C, 2 * MiB);
    memset(right, 0x52, 2 * MiB);
    for (int pattern = 0; pattern < 3; pattern++) {
        for (int loop = 0; loop < 2; loop++) {
            unsigned char *p = mp_alloc(size);
            cr_assert(p);
            if (pattern == 0)
                memset(p, 0xA5, size / 8 * 3);
            else if (pattern == 1)
                memset(p, 0xA5, size / 8 * 5);
            else
                for (size_t k = 0; k < size; k += 2 * ps)
                    memset(p + k, 0xA5, size - k < ps ? size - k : ps);
            p[size - 1] = 0xA5;
            mp_free(p);
            if (!loop)
                pause_past_decay();
            else
                mp_free(zeroed_calloc(MiB + 4096, "loop warm-up"));
            mp_free(zeroed_calloc(size, "partly resident"));
        }
    }
    neighbours_intact(left, right, 2 * MiB);
    mp_free(left);
    mp_free(right);
}

/* Dirty pages idle past the decay period are decommitted (their partial OS
 * pages at the ends cleared); a calloc over them, alone or together with
 * dirty pages freed since, reads zero. */
static void reads_zero_over_pages_dropped_by_the_decay(void)
{
    const size_t size = 9 * MiB + 3 * 8192 + 7;
    unsigned char *p = mp_alloc(size), *q = mp_alloc(size);
    cr_assert(p && q);
    memset(p, 0xA5, size);
    memset(q, 0xA6, size);
    mp_free(p);
    __atomic_add_fetch(&mp__clock_skew_ms, 10000, __ATOMIC_RELAXED);
    mp_free(mp_alloc(300 * KiB)); /* a page-heap call: the decay runs */
    mp_free(zeroed_calloc(size, "decayed"));
    mp_free(q); /* dirty and resident, next to the decommitted pages */
    mp_free(zeroed_calloc(2 * size, "decayed and dirty"));
    mp_free(zeroed_calloc(size, "decayed and dirty, again"));
}

/* A realloc shrink gives the dirty tail back; a realloc grow moves the
 * block (mremap) or takes a free neighbour.  Callocs over what they leave
 * read zero, and the block keeps its bytes. */
static void reads_zero_after_a_realloc_shrink_or_move(void)
{
    unsigned char *p = mp_alloc(12 * MiB);
    cr_assert(p);
    memset(p, 0xA5, 12 * MiB);
    p = mp_realloc(p, 4 * MiB + 100);
    cr_assert(p);
    unsigned char *a = zeroed_calloc(6 * MiB, "after a shrink");
    memset(a, 0xA7, 6 * MiB);
    unsigned char *blocker = mp_alloc(MiB + 8192); /* after a: a grow of p cannot stay */
    cr_assert(blocker);
    p = mp_realloc(p, 40 * MiB);
    cr_assert(p);
    for (size_t k = 0; k < 4 * MiB + 100; k += 4093)
        cr_assert_eq(p[k], 0xA5, "byte %zu moved", k);
    memset(p, 0xA8, 40 * MiB);
    mp_free(a);
    mp_free(zeroed_calloc(5 * MiB + 1, "after a move"));
    mp_free(p);
    mp_free(zeroed_calloc(40 * MiB, "the moved block's pages"));
    mp_free(zeroed_calloc(30 * MiB + 12345, "part of them"));
    mp_free(blocker);
}

/* A block larger than any free span: the heap grows next to the longest
 * resident free span, or moves its pages into the new region.  Those pages
 * are dirty; the block reads zero, in a loop and after a pause, and again
 * when still larger. */
static void reads_zero_when_grown_next_to_dirty_resident_pages(void)
{
    const size_t sizes[] = {9 * MiB + 5, 21 * MiB + 4097, 23 * MiB, 26 * MiB + 1, 40 * MiB + 8192 + 3};
    unsigned char *left = mp_alloc(2 * MiB);
    cr_assert(left);
    memset(left, 0x4C, 2 * MiB);
    for (int pause = 0; pause < 2; pause++) {
        for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
            if (pause)
                pause_past_decay();
            unsigned char *q = zeroed_calloc(sizes[i] + (size_t)pause * 20 * MiB, "grown");
            memset(q, 0xA5, sizes[i] + (size_t)pause * 20 * MiB);
            mp_free(q);
        }
        mp_trim();
    }
    new_right_neighbour_then_check(left);
}

/* Each case three times: as this machine decides how to tell the pages
 * backed by nothing (mincore alone without swap), from pagemap (as with
 * swap), and from mincore as with swap and no pagemap (pages not resident
 * dropped, not skipped). */
static void in_every_states_mode(void (*fn)(void))
{
    for (int mode = 0; mode < 3; mode++) {
        __atomic_store_n(&ap__os_states_mode, mode, __ATOMIC_RELAXED);
        fn();
    }
    __atomic_store_n(&ap__os_states_mode, 0, __ATOMIC_RELAXED);
}

Test(mp_calloc, reads_zero_over_freed_dirty_pages) { in_every_states_mode(reads_zero_over_freed_dirty_pages); }
Test(mp_calloc, reads_zero_over_partly_resident_pages) { in_every_states_mode(reads_zero_over_partly_resident_pages); }
Test(mp_calloc, reads_zero_over_pages_dropped_by_the_decay) { in_every_states_mode(reads_zero_over_pages_dropped_by_the_decay); }
Test(mp_calloc, reads_zero_after_a_realloc_shrink_or_move) { in_every_states_mode(reads_zero_after_a_realloc_shrink_or_move); }
Test(mp_calloc, reads_zero_when_grown_next_to_dirty_resident_pages) { in_every_states_mode(reads_zero_when_grown_next_to_dirty_resident_pages); }

/* The OS call under the clear: a fresh page is backed by nothing, a written
 * one resident, a dropped one backed by nothing again; answered from
 * mincore as with swap, a page not resident may hold data. */
Test(mp_calloc, os_page_states_tell_empty_pages_from_resident_ones)
{
    size_t ps = ap__os_page_size();
    unsigned char *m, vec[8];
    cr_assert_eq(ap__os_map(8 * ps, (void **)&m), 0);
    m[2 * ps] = 1;
    m[5 * ps + 7] = 1;
    cr_assert_eq(ap__os_decommit(m + 5 * ps, ps), 0);
    const unsigned char zero = AP_PAGE_ZERO, res = AP_PAGE_RESIDENT, held = AP_PAGE_HELD;
    for (int mode = 0; mode < 3; mode++) {
        __atomic_store_n(&ap__os_states_mode, mode, __ATOMIC_RELAXED);
        cr_assert_eq(ap__os_page_states(m, 8 * ps, vec), 0);
        unsigned char away = mode == 2 ? held : zero;
        for (size_t i = 0; i < 8; i++)
            cr_assert_eq(vec[i], i == 2 ? res : away, "mode %d: page %zu reads state %d", mode, i, vec[i]);
    }
    __atomic_store_n(&ap__os_states_mode, 0, __ATOMIC_RELAXED);
    cr_assert_eq(ap__os_unmap(m, 8 * ps), 0);
}

static long minor_faults(void)
{
    struct rusage ru;
    cr_assert_eq(getrusage(RUSAGE_SELF, &ru), 0);
    return ru.ru_minflt;
}

/* A program cycling large callocs reaches a new largest block: only its
 * new pages fault in; the resident pages it used so far become part of it
 * (bench row 7.3 faulted twice glibc's pages when they were given back). */
Test(mp_calloc, a_new_largest_block_faults_in_only_its_new_pages)
{
    if (CALLOC_ASAN || CALLOC_VALGRIND)
        cr_skip_test("fault counts include the tool's own memory");
    const size_t first = 9 * MiB, next = 21 * MiB;
    long page = sysconf(_SC_PAGESIZE);
    unsigned char *p = mp_alloc(first);
    cr_assert(p);
    memset(p, 0xA5, first);
    mp_free(p);
    mp_free(zeroed_calloc(first - MiB, "warm")); /* a calloc loop: reused pages are cleared */
    long before = minor_faults();
    unsigned char *q = zeroed_calloc(next, "larger");
    long faults = minor_faults() - before;
    long fresh = (long)((next - first) / (size_t)page);
    cr_assert_lt(faults, fresh + fresh / 4, "%ld faults for a block with %ld new pages", faults, fresh);
    mp_free(q);
}
