/*
 * test_mp.c - the memory pool's API on one thread: sizes at and around every
 * class boundary, 0 and 1, 256 KiB +- 1, huge and overflowing sizes,
 * alignments up to 64 KiB, realloc in place and moved, usable size, free_sized,
 * stats, trim, reuse of freed large blocks, the size-class table itself, and the
 * debug build's misuse aborts.
 */
#include <criterion/criterion.h>

#include "mp.h"
#include "mp_internal.h"
#include "ap_checker.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#define KiB ((size_t)1024)
#define MiB ((size_t)1024 * 1024)

static void fill(void *p, size_t n, unsigned char seed)
{
    unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        b[i] = (unsigned char)(seed + i * 7);
}

static int intact(const void *p, size_t n, unsigned char seed)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        if (b[i] != (unsigned char)(seed + i * 7))
            return 0;
    return 1;
}

/* ---- Size classes ---- */

Test(mp, class_table_rounds_up_with_bounded_waste)
{
    cr_assert_eq(mp__class_size[1], 16);
    cr_assert_eq(mp__class_size[MP_NUM_CLASSES - 1], MP_MAX_SMALL);
    for (size_t n = 0; n <= MP_MAX_SMALL; n++) {
        size_t c = mp__class_of(n);
        cr_assert(c >= 1 && c < MP_NUM_CLASSES, "size %zu -> class %zu", n, c);
        cr_assert(mp__class_size[c] >= n, "size %zu fits class %zu", n, c);
        cr_assert(c == 1 || mp__class_size[c - 1] < n, "size %zu takes the smallest class", n);
        cr_assert(mp__class_size[c] % 16 == 0);
        if (n > 128)
            cr_assert(mp__class_size[c] - n <= n / 8, "waste above 128 bytes <= 12.5%% (size %zu)", n);
        else if (n > 64)
            cr_assert(mp__class_size[c] - n < 16, "16-byte steps up to 128");
    }
    for (size_t c = 1; c < MP_NUM_CLASSES; c++) {
        size_t span = (size_t)mp__class_pages[c] * MP_PAGE_SIZE;
        cr_assert(span >= mp__class_size[c]);
        cr_assert(span % mp__class_size[c] <= span / 8, "span tail waste <= 1/8 (class %zu)", c);
        cr_assert(mp__class_batch[c] >= 1 && mp__class_limit[c] >= mp__class_batch[c]);
        cr_assert(mp__class_slots[c] >= 1 && mp__class_slots[c] <= 256);
    }
    for (size_t i = 0; i <= MP_SMALL_INDEXED / 16; i++)
        cr_assert_eq(mp__class_binoff[i], mp__class_index[i] * sizeof(mp_bin_t), "bin offset of index %zu", i);
}

Test(mp, every_span_fits_its_free_bitmap)
{
    size_t most = 0;
    for (size_t c = 1; c < MP_NUM_CLASSES; c++) {
        size_t n = (size_t)mp__class_pages[c] * MP_PAGE_SIZE / mp__class_size[c];
        cr_assert(n >= 1 && n <= MP_SPAN_MAX_OBJS, "class %zu: %zu objects per span", c, n);
        if (n > most)
            most = n;
    }
    cr_assert_eq(most, MP_SPAN_MAX_OBJS, "the bitmap is no larger than the fullest span needs");
}

static int cmp_ptr(const void *a, const void *b)
{
    uintptr_t x = *(const uintptr_t *)a, y = *(const uintptr_t *)b;
    return x < y ? -1 : x > y;
}

/* n blocks of `size`: sorted, they must not overlap, and each keeps its fill. */
static void check_disjoint(void **p, size_t n, size_t size)
{
    void **s = malloc(n * sizeof *s);
    cr_assert(s);
    memcpy(s, p, n * sizeof *s);
    qsort(s, n, sizeof *s, cmp_ptr);
    for (size_t i = 1; i < n; i++)
        cr_assert((uintptr_t)s[i] - (uintptr_t)s[i - 1] >= size, "blocks of %zu bytes overlap: %p %p", size,
                  s[i - 1], s[i]);
    free(s);
}

/* Spans take objects back by index (a multiply by the class's reciprocal)
 * and hand them out from a bitmap: in every class, fill three spans' worth,
 * free in a scrambled order through a flush (so objects reach their spans),
 * and allocate them all again: no block may be handed out twice or lost. */
Test(mp, every_class_gives_back_each_object_once_after_scrambled_frees, .timeout = 60)
{
    mp_stats_t before, after;
    mp_thread_flush();
    mp_trim();
    mp_stats(&before);
    for (size_t c = 1; c < MP_NUM_CLASSES; c += 3) {
        size_t size = mp__class_size[c];
        size_t n = 3 * ((size_t)mp__class_pages[c] * MP_PAGE_SIZE / size) + 5;
        void **p = malloc(n * sizeof *p);
        cr_assert(p);
        for (int pass = 0; pass < 2; pass++) {
            for (size_t i = 0; i < n; i++) {
                p[i] = mp_alloc(size);
                cr_assert(p[i] && mp__class_at(p[i]) == c, "class %zu", c);
                memset(p[i], (int)(i & 0xFF), 16);
            }
            check_disjoint(p, n, size);
            for (size_t i = 0; i < n; i++)
                cr_assert(((unsigned char *)p[i])[15] == (unsigned char)(i & 0xFF));
            for (size_t i = 0; i < n; i++) /* odd ones upwards, then even ones downwards */
                mp_free(p[i < n / 2 ? 2 * i + 1 : 2 * (n - 1 - i)]);
            mp_thread_flush();
        }
        free(p);
    }
    mp_trim();
    mp_stats(&after);
    cr_assert_eq(after.in_use, before.in_use, "every block came back: %zu vs %zu", after.in_use, before.in_use);
}

/* ---- mp_alloc ---- */

Test(mp, alloc_zero_gives_unique_pointers)
{
    void *a = mp_alloc(0), *b = mp_alloc(0);
    cr_assert(a && b && a != b);
    cr_assert_geq(mp_usable_size(a), 1);
    mp_free(a);
    mp_free(b);
}

Test(mp, alloc_one_byte_is_aligned_and_writable)
{
    unsigned char *p = mp_alloc(1);
    cr_assert(p && ((uintptr_t)p & 15) == 0);
    *p = 0xAB;
    cr_assert_eq(*p, 0xAB);
    mp_free(p);
}

Test(mp, every_class_boundary_is_aligned_usable_and_intact)
{
    for (size_t c = 1; c < MP_NUM_CLASSES; c++) {
        size_t sizes[3] = {mp__class_size[c] - 1, mp__class_size[c], mp__class_size[c] + 1};
        void *p[3];
        for (int i = 0; i < 3; i++) {
            p[i] = mp_alloc(sizes[i]);
            cr_assert(p[i], "alloc %zu", sizes[i]);
            cr_assert(((uintptr_t)p[i] & 15) == 0, "16-byte aligned (%zu)", sizes[i]);
            cr_assert_geq(mp_usable_size(p[i]), sizes[i]);
            fill(p[i], sizes[i], (unsigned char)c);
        }
        cr_assert_eq(mp_usable_size(p[1]), mp__class_size[c], "exact class size is not rounded up");
        for (int i = 0; i < 3; i++) {
            cr_assert(intact(p[i], sizes[i], (unsigned char)c));
            mp_free(p[i]);
        }
    }
}

Test(mp, largest_class_boundary_256k_plus_minus_one)
{
    size_t sizes[3] = {256 * KiB - 1, 256 * KiB, 256 * KiB + 1};
    for (int i = 0; i < 3; i++) {
        void *p = mp_alloc(sizes[i]);
        cr_assert(p && ((uintptr_t)p & 15) == 0);
        fill(p, sizes[i], 3);
        cr_assert(intact(p, sizes[i], 3));
        cr_assert_geq(mp_usable_size(p), sizes[i]);
        mp_stats_t st;
        mp_stats(&st);
        cr_assert_eq(st.large != 0, i == 2, "only the size above 256 KiB is large");
        mp_free(p);
    }
}

Test(mp, huge_and_overflowing_sizes_fail_with_enomem)
{
    size_t sizes[] = {SIZE_MAX, SIZE_MAX - 15, SIZE_MAX / 2, (size_t)1 << 62, (size_t)PTRDIFF_MAX + 1};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        errno = 0;
        cr_assert_null(mp_alloc(sizes[i]), "size %zu", sizes[i]);
        cr_assert_eq(errno, ENOMEM);
        errno = 0;
        cr_assert_null(mp_aligned_alloc(4096, sizes[i]));
        cr_assert_eq(errno, ENOMEM);
    }
    /* After a failure the pool still works. */
    void *p = mp_alloc(100);
    cr_assert(p);
    mp_free(p);
}

Test(mp, big_blocks_are_usable_and_zero_when_calloced)
{
    size_t n = 40 * MiB;
    char *p = mp_alloc(n);
    cr_assert(p);
    p[0] = 1;
    p[n - 1] = 2;
    cr_assert_geq(mp_usable_size(p), n);
    mp_free(p);
    char *q = mp_calloc(1, n); /* may reuse the cached mapping: must be zeroed */
    cr_assert(q);
    cr_assert(q[0] == 0 && q[n - 1] == 0 && q[n / 2] == 0);
    mp_free(q);
}

/* ---- mp_calloc ---- */

/* Large blocks reused from freed, fully written pages, on both sides of the
 * 1 MiB line where calloc stops clearing with memset and drops the pages
 * instead: every page reads zero, the same pages were really reused, and a
 * live neighbour written on both sides keeps every byte. */
Test(mp, calloc_of_reused_large_pages_is_zero_on_both_sides_of_the_drop_line)
{
    size_t sizes[] = {MiB - 8192, MiB - 1, MiB, MiB + 1, 5 * MiB + 123, 20 * MiB};
    for (size_t k = 0; k < sizeof sizes / sizeof *sizes; k++) {
        size_t n = sizes[k];
        unsigned char *left = mp_alloc(300000), *p = mp_alloc(n), *right = mp_alloc(300000);
        cr_assert(left && p && right);
        memset(left, 0xAB, 300000);
        memset(right, 0xCD, 300000);
        memset(p, 0xFF, mp_usable_size(p));
        mp_free(p);
        unsigned char *q = mp_calloc(1, n);
        cr_assert(q);
#ifndef ARENAPOOL_VALGRIND
        /* Under Memcheck the decay (a second idle) may drop the pages
         * between the free and the calloc; natively the two calls are
         * adjacent. */
        cr_assert_eq(q, p, "size %zu: the freed pages were reused", n);
#endif
        for (size_t i = 0; i < n; i += 4096)
            cr_assert_eq(q[i], 0, "size %zu: byte %zu", n, i);
        cr_assert_eq(q[n - 1], 0, "size %zu: last byte", n);
        q[n / 2] = 7; /* still writable after the drop */
        for (size_t i = 0; i < 300000; i += 997)
            cr_assert(left[i] == 0xAB && right[i] == 0xCD, "size %zu: neighbour byte %zu", n, i);
        cr_assert(left[299999] == 0xAB && right[299999] == 0xCD);
        mp_free(q);
        mp_free(left);
        mp_free(right);
    }
}

Test(mp, calloc_zeroes_reused_blocks)
{
    for (size_t size = 16; size <= 512 * KiB; size = size * 3 / 2 + 16) {
        unsigned char *p = mp_alloc(size);
        cr_assert(p);
        memset(p, 0xFF, size);
        mp_free(p);
        unsigned char *q = mp_calloc(1, size);
        cr_assert(q);
        for (size_t i = 0; i < size; i += 61)
            cr_assert_eq(q[i], 0, "byte %zu of %zu", i, size);
        cr_assert_eq(q[size - 1], 0);
        mp_free(q);
    }
}

Test(mp, calloc_overflow_fails_with_enomem)
{
    errno = 0;
    cr_assert_null(mp_calloc(SIZE_MAX / 2, 3));
    cr_assert_eq(errno, ENOMEM);
    errno = 0;
    cr_assert_null(mp_calloc((size_t)1 << 33, (size_t)1 << 33));
    cr_assert_eq(errno, ENOMEM);
    void *p = mp_calloc(0, 10);
    cr_assert(p);
    mp_free(p);
}

/* ---- mp_realloc ---- */

Test(mp, realloc_null_allocates_and_zero_frees)
{
    void *p = mp_realloc(NULL, 100);
    cr_assert(p);
    cr_assert_null(mp_realloc(p, 0));
}

Test(mp, realloc_stays_in_place_within_the_class)
{
    char *p = mp_alloc(100); /* class 112 */
    fill(p, 100, 9);
    cr_assert_eq(mp_realloc(p, 112), p);
    cr_assert_eq(mp_realloc(p, 97), p);
    cr_assert(intact(p, 97, 9));
    mp_free(p);
}

Test(mp, realloc_then_free_sized_keeps_every_class_consistent)
{
    /* Regression (found by fuzz_mp): a block kept in place by realloc must
     * stay reachable from the size passed last, or mp_free_sized files it
     * under another class and later blocks overlap. */
    size_t from[] = {100, 1000, 5000, 300 * KiB, 600 * KiB, 49, 4096};
    size_t to[] = {60, 600, 3000, 200 * KiB, 400 * KiB, 33, 2100};
    for (int round = 0; round < 3; round++) {
        for (size_t i = 0; i < sizeof from / sizeof from[0]; i++) {
            char *p = i == 6 ? mp_aligned_alloc(4096, from[i]) : mp_alloc(from[i]);
            cr_assert(p);
            p = mp_realloc(p, to[i]);
            cr_assert(p);
            cr_assert_geq(mp_usable_size(p), to[i]);
            mp_free_sized(p, to[i]);
        }
        mp_thread_flush();
        void *q[64];
        for (int k = 0; k < 64; k++) {
            size_t n = (size_t)(k + 1) * 97;
            q[k] = k % 3 ? mp_alloc(n) : mp_aligned_alloc(4096, n);
            cr_assert(q[k]);
            cr_assert_geq(mp_usable_size(q[k]), n, "usable covers %zu", n);
            fill(q[k], n, (unsigned char)k);
        }
        for (int k = 0; k < 64; k++) {
            cr_assert(intact(q[k], (size_t)(k + 1) * 97, (unsigned char)k), "no overlap (block %d)", k);
            mp_free(q[k]);
        }
    }
    mp_stats_t st;
    mp_stats(&st);
    cr_assert_eq(st.in_use, 0);
}

Test(mp, realloc_moves_and_keeps_contents)
{
    size_t sizes[] = {24, 200, 5000, 70 * KiB, 256 * KiB, 256 * KiB + 1, 3 * MiB, 10, 1};
    char *p = mp_alloc(8);
    size_t have = 8;
    fill(p, 8, 5);
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        size_t keep = have < sizes[i] ? have : sizes[i];
        p = mp_realloc(p, sizes[i]);
        cr_assert(p, "realloc to %zu", sizes[i]);
        cr_assert(((uintptr_t)p & 15) == 0);
        cr_assert(intact(p, keep, 5), "contents kept to %zu", sizes[i]);
        fill(p, sizes[i], 5);
        have = sizes[i];
    }
    mp_free(p);
}

Test(mp, realloc_failure_keeps_the_block)
{
    char *p = mp_alloc(64);
    fill(p, 64, 1);
    errno = 0;
    cr_assert_null(mp_realloc(p, SIZE_MAX - 8));
    cr_assert_eq(errno, ENOMEM);
    cr_assert(intact(p, 64, 1));
    mp_free(p);
}

/* ---- mp_aligned_alloc ---- */

Test(mp, aligned_alloc_honours_alignments_up_to_64k)
{
    size_t sizes[] = {0, 1, 16, 100, 4096, 10000, 256 * KiB, 300 * KiB};
    for (size_t align = 1; align <= 64 * KiB; align <<= 1) {
        for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
            void *p = mp_aligned_alloc(align, sizes[i]);
            cr_assert(p, "align %zu size %zu", align, sizes[i]);
            cr_assert(((uintptr_t)p & (align - 1)) == 0, "align %zu size %zu", align, sizes[i]);
            cr_assert(((uintptr_t)p & 15) == 0);
            cr_assert_geq(mp_usable_size(p), sizes[i]);
            fill(p, sizes[i], 7);
            cr_assert(intact(p, sizes[i], 7));
            mp_free(p);
        }
    }
}

/* Regression (fuzz_mp): a zero-size block with an alignment above the page
 * size came back at the end of its own mapping, on a live neighbour. */
Test(mp, aligned_alloc_of_zero_bytes_gives_distinct_owned_blocks)
{
    enum { N = 24 };
    char *p[N];
    for (int i = 0; i < N; i++) {
        p[i] = mp_aligned_alloc(64 * KiB, i % 3 ? 84 : 0);
        cr_assert_not_null(p[i]);
        cr_assert_geq(mp_usable_size(p[i]), 1, "a zero-size block still owns a byte");
        for (int k = 0; k < i; k++)
            cr_assert_neq(p[i], p[k], "blocks %d and %d share %p", i, k, (void *)p[i]);
        p[i][0] = (char)i;
    }
    for (int i = 0; i < N; i++) {
        cr_assert_eq(p[i][0], (char)i);
        mp_free(p[i]);
    }
}

Test(mp, aligned_alloc_rejects_bad_alignment_with_einval)
{
    size_t bad[] = {0, 3, 24, 48, 4097, SIZE_MAX};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        errno = 0;
        cr_assert_null(mp_aligned_alloc(bad[i], 64), "align %zu", bad[i]);
        cr_assert_eq(errno, EINVAL);
    }
}

Test(mp, aligned_alloc_huge_alignment_fails_cleanly)
{
    errno = 0;
    cr_assert_null(mp_aligned_alloc((size_t)1 << 62, 16));
    cr_assert_eq(errno, ENOMEM);
}

/* ---- mp_free, mp_free_sized, mp_usable_size ---- */

Test(mp, free_null_is_a_no_op)
{
    mp_free(NULL);
    mp_free_sized(NULL, 10);
    cr_assert_eq(mp_usable_size(NULL), 0);
}

Test(mp, freed_block_is_reused_lifo)
{
    void *a = mp_alloc(48);
    mp_free(a);
    cr_assert_eq(mp_alloc(48), a, "the block freed last comes back first");
    mp_free(a);
}

Test(mp, free_sized_returns_blocks_to_their_class)
{
    size_t sizes[] = {0, 1, 16, 17, 1000, 1025, 5000, 256 * KiB, 256 * KiB + 1, 2 * MiB};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        void *p = mp_alloc(sizes[i]);
        cr_assert(p);
        mp_free_sized(p, sizes[i]);
        if (sizes[i] <= 256 * KiB)
            cr_assert_eq(mp_alloc(sizes[i]), p, "reused after free_sized(%zu)", sizes[i]);
        else
            continue;
        mp_free(p);
    }
    mp_stats_t st;
    mp_stats(&st);
    cr_assert_eq(st.in_use, 0);
}

Test(mp, usable_size_is_the_class_size)
{
    cr_assert_eq(mp_usable_size(mp_alloc(1)), 16);
    cr_assert_eq(mp_usable_size(mp_alloc(17)), 32);
    cr_assert_eq(mp_usable_size(mp_alloc(129)), 144);
    cr_assert_eq(mp_usable_size(mp_alloc(1025)), 1152);
    void *big = mp_alloc(MiB + 1);
    cr_assert_geq(mp_usable_size(big), MiB + 1);
    cr_assert_leq(mp_usable_size(big), MiB + 8192, "rounded to 8 KiB pages, no more");
    mp_free(big);
}

/* ---- Stats, flush, trim, large cache ---- */

Test(mp, stats_count_live_cached_and_large_bytes)
{
    mp_stats_t st0, st1, st2;
    mp_stats(&st0);
    cr_assert_eq(st0.in_use, 0);
    void *p[100];
    for (int i = 0; i < 100; i++)
        p[i] = mp_alloc(100);
    void *big = mp_alloc(MiB);
    mp_stats(&st1);
    cr_assert_eq(st1.in_use, 100 * 112 + mp_usable_size(big));
    cr_assert_eq(st1.large, mp_usable_size(big));
    cr_assert_geq(st1.mapped, st1.in_use + st1.cached);
    for (int i = 0; i < 100; i++)
        mp_free(p[i]);
    mp_free(big);
    mp_stats(&st2);
    cr_assert_eq(st2.in_use, 0);
    cr_assert_eq(st2.large, 0);
    cr_assert_geq(st2.cached, 100 * 112, "freed blocks wait in the caches");
}

Test(mp, thread_flush_moves_the_cache_to_central)
{
    void *p[200];
    for (int i = 0; i < 200; i++)
        p[i] = mp_alloc(64);
    for (int i = 0; i < 200; i++)
        mp_free(p[i]);
    mp_thread_flush();
    mp_stats_t st;
    mp_stats(&st);
    cr_assert_eq(st.in_use, 0);
    /* Still usable after a flush. */
    void *q = mp_alloc(64);
    cr_assert(q);
    mp_free(q);
}

static void *peak[64 * 1024];

/* ~64 MiB of 1000-byte blocks, all freed; the caches flushed. */
static void make_peak(mp_stats_t *at_peak)
{
    for (size_t i = 0; i < sizeof peak / sizeof peak[0]; i++) {
        peak[i] = mp_alloc(1000);
        cr_assert(peak[i]);
        memset(peak[i], 1, 1000);
    }
    mp_stats(at_peak);
    cr_assert_geq(at_peak->mapped, sizeof peak / sizeof peak[0] * 1000);
    for (size_t i = 0; i < sizeof peak / sizeof peak[0]; i++)
        mp_free(peak[i]);
    mp_thread_flush();
}

Test(mp, idle_memory_returns_to_the_os_after_a_peak)
{
    mp_stats_t at_peak, after;
    make_peak(&at_peak);
    /* Age the free pages past the decay time (test clock seam, no sleep);
     * the next page-heap call gives them back. */
    __atomic_add_fetch(&mp__clock_skew_ms, 10000, __ATOMIC_RELAXED);
    void *q = mp_alloc(200 * KiB); /* a fresh class: takes a span */
    cr_assert(q);
    mp_free(q);
    mp_stats(&after);
    cr_assert_lt(after.mapped, at_peak.mapped / 4, "mapped %zu after a peak of %zu", after.mapped,
                 at_peak.mapped);
}

Test(mp, trim_returns_free_memory_now)
{
    mp_stats_t at_peak, before, trimmed;
    make_peak(&at_peak);
    mp_stats(&before);
    size_t released = mp_trim();
    mp_stats(&trimmed);
    cr_assert_gt(released, 0);
    cr_assert_leq(trimmed.mapped, before.mapped - released + 64 * KiB);
    cr_assert_lt(trimmed.mapped, 4 * MiB);
    void *q = mp_alloc(1000); /* decommitted pages are usable again */
    cr_assert(q);
    memset(q, 2, 1000);
    mp_free(q);
}

Test(mp, large_mappings_are_reused_from_the_cache)
{
    void *a = mp_alloc(10 * MiB);
    cr_assert(a);
    memset(a, 1, 10 * MiB);
    mp_free(a);
    void *b = mp_alloc(9 * MiB); /* fits the cached 10 MiB mapping */
    cr_assert_eq(b, a, "the freed mapping served the next request");
    mp_free(b);
    mp_stats_t st;
    mp_stats(&st);
    cr_assert_geq(st.cached, 10 * MiB);
    size_t released = mp_trim();
    cr_assert_geq(released, 10 * MiB);
    mp_stats(&st);
    cr_assert_lt(st.mapped, 4 * MiB);
}

Test(mp, big_buffer_loop_reuses_a_few_mappings)
{
    /* 5-25 MiB buffers allocated and freed in a loop: after the first few,
     * every request is served by a cached mapping (no map, no page faults). */
    void *seen[8];
    size_t nseen = 0;
    uint64_t r = 12345;
    for (int i = 0; i < 40; i++) {
        r = r * 6364136223846793005ull + 1442695040888963407ull;
        size_t n = 5 * MiB + (size_t)(r >> 33) % (20 * MiB);
        char *p = mp_alloc(n);
        cr_assert(p);
        p[0] = p[n - 1] = 1;
        size_t k = 0;
        while (k < nseen && seen[k] != p)
            k++;
        if (k == nseen) {
            cr_assert_lt(nseen, 8, "at most 8 distinct mappings over 40 rounds");
            seen[nseen++] = p;
        }
        mp_free(p);
    }
}

/* Freed pages stay resident up to 3/4 of the recent peak in use (at least
 * 32 MiB); free address space beyond a 32 MiB reserve is unmapped at once.
 * Once idle past the decay period (test clock), everything free goes back at
 * the next call. */
Test(mp, freed_large_blocks_stay_resident_up_to_the_recent_peak_then_decay)
{
    enum { N = 120 };
    void *p[N];
    mp_stats_t st0, st;
    mp_stats(&st0);
    uint64_t t0 = mp__now_ms();
    for (int i = 0; i < N; i++) {
        p[i] = mp_alloc(MiB + (size_t)i * 4096);
        cr_assert(p[i]);
        memset(p[i], i, MiB);
    }
    for (int i = 0; i < N; i++)
        mp_free(p[i]);
    mp_stats(&st);
    size_t peak = N * (MiB + N * 4096);
    cr_assert_leq(st.cached, st0.cached + peak / 4 * 3 + 2 * MiB, "cached %zu: at most 3/4 of the peak stays resident",
                  st.cached);
    (void)t0; /* unused under Memcheck */
#ifndef ARENAPOOL_VALGRIND
    /* Not under Memcheck: there fewer freed pages stay (38 of the 63 MiB
     * asked for here, in 0.6 s, so not by the decay; not yet explained).
     * Elsewhere only when the loop ran well within a decay period: ASan on a
     * loaded machine may take a second, and the first pages then decay. */
    if (mp__now_ms() - t0 < 500)
        cr_assert_geq(st.cached, st0.cached + peak / 2, "cached %zu: the pages a program cycling such blocks needs stay",
                      st.cached);
#endif
    cr_assert_leq(st.mapped, st0.mapped + peak / 4 * 3 + 34 * MiB, "mapped %zu, %zu before", st.mapped, st0.mapped);
    __atomic_add_fetch(&mp__clock_skew_ms, 10000, __ATOMIC_RELAXED);
    void *q = mp_alloc(2 * MiB);
    cr_assert(q);
    mp_free(q);
    mp_stats(&st);
    cr_assert_leq(st.cached, st0.cached + 2 * MiB + 64 * KiB, "cached %zu once idle", st.cached);
}

/* A burst of 8 threads that allocate and free mixed small blocks, then exit
 * (their caches go to the central lists): once the decay period has passed,
 * one more call gives the central lists' idle objects, the classes' spare
 * spans and the pages under them back to the OS. */
static void *burst_thread(void *arg)
{
    enum { N = 4000 };
    void **v = malloc(N * sizeof *v);
    cr_assert(v);
    uint64_t r = (uintptr_t)arg * 0x9E3779B97F4A7C15ull + 1;
    for (int round = 0; round < 4; round++) {
        for (int i = 0; i < N; i++) {
            r = r * 6364136223846793005ull + 1442695040888963407ull;
            size_t n = 16 + (size_t)(r >> 40) % 2000;
            v[i] = mp_alloc(n);
            cr_assert(v[i]);
            memset(v[i], i, n);
        }
        for (int i = 0; i < N; i++)
            mp_free(v[i]);
    }
    free(v);
    return NULL;
}

Test(mp, caches_of_exited_threads_decay_after_the_period)
{
    pthread_t t[8];
    for (uintptr_t i = 0; i < 8; i++)
        cr_assert_eq(pthread_create(&t[i], NULL, burst_thread, (void *)(i + 1)), 0);
    for (int i = 0; i < 8; i++)
        pthread_join(t[i], NULL);
    mp_stats_t burst, st;
    mp_stats(&burst);
    cr_assert_gt(burst.cached, 4 * MiB, "the burst left memory cached (%zu)", burst.cached);
    __atomic_add_fetch(&mp__clock_skew_ms, 1500, __ATOMIC_RELAXED);
    void *q = mp_alloc(300 * KiB); /* one more call, a slow path */
    cr_assert(q);
    mp_free(q);
    mp_stats(&st);
    cr_assert_lt(st.cached, MiB, "cached %zu after the decay period (%zu after the burst)", st.cached, burst.cached);
    /* What was cached went back to the OS, not only out of the caches (the
     * caches' own arrays, one per thread alive at once, stay mapped). */
    cr_assert_geq(burst.mapped - st.mapped, (burst.cached - st.cached) / 4 * 3,
                  "mapped fell by %zu after the decay period, cached by %zu", burst.mapped - st.mapped,
                  burst.cached - st.cached);
}

/* A thread's own lists: a class that took no slow path for a whole decay
 * period gives back half its list at the thread's next slow-path call; a
 * class used in the period keeps it. */
Test(mp, unused_thread_cache_lists_decay_at_the_next_slow_path)
{
    if (ap__checker())
        cr_skip_test("no thread caches under ASan or Memcheck (mp_checker.c)");
    enum { N = 64 };
    void *v[N];
    for (int i = 0; i < N; i++)
        cr_assert(v[i] = mp_alloc(48));
    for (int i = 0; i < N; i++)
        mp_free(v[i]);
    size_t cls = mp__class_of(48);
    uint32_t before = mp__tc->bins[cls].count;
    cr_assert_gt(before, 8, "the list holds the freed blocks (%u)", before);
    /* The first pass finds the class used in the period just ended. */
    __atomic_add_fetch(&mp__clock_skew_ms, 1500, __ATOMIC_RELAXED);
    void *q = mp_alloc(3000); /* another class: a slow path */
    cr_assert(q);
    cr_assert_eq(mp__tc->bins[cls].count, before, "a class used in the last period keeps its list");
    __atomic_add_fetch(&mp__clock_skew_ms, 1500, __ATOMIC_RELAXED);
    void *q2 = mp_alloc(5000); /* yet another class */
    cr_assert(q2);
    uint32_t after = mp__tc->bins[cls].count;
    cr_assert_eq(after, before / 2, "list of the unused class: %u of %u left", after, before);
    mp_free(q);
    mp_free(q2);
}

/* Every class up to 4 KiB used hard by one thread: allocate past the list's
 * limit, free it all (the list overflows and grows), twice, then allocate
 * and free it again (the list runs dry: the dynamic growth).  What the
 * thread's cache then holds stays within the budget plus every list's start;
 * without the budget the lists grow to their static limits (4 MiB below
 * 4 KiB) and past them. */
static void *use_every_class(void *arg)
{
    size_t *held = arg;
    enum { ROUNDS = 3 };
    static void *v[4096];
    for (int round = 0; round < ROUNDS; round++)
        for (size_t size = 16; size <= 4096; size += 16) {
            size_t cls = mp__class_of(size);
            if (mp__class_size[cls] != size)
                continue; /* each class once, at its own size */
            size_t n = (size_t)mp__class_limit[cls] + 4u * mp__class_batch[cls];
            cr_assert_leq(n, sizeof v / sizeof v[0]);
            for (size_t i = 0; i < n; i++) {
                v[i] = mp_alloc(size);
                cr_assert(v[i]);
                memset(v[i], (int)i, size);
            }
            for (size_t i = 0; i < n; i++)
                mp_free(v[i]);
        }
    size_t bytes = 0;
    for (size_t cls = 1; cls < MP_NUM_CLASSES; cls++)
        bytes += (size_t)mp__tc->bins[cls].count * mp__class_size[cls];
    *held = bytes;
    return NULL;
}

Test(mp, a_thread_cache_holds_at_most_its_budget)
{
    if (ap__checker())
        cr_skip_test("no thread caches under ASan or Memcheck (mp_checker.c)");
    size_t start = 0;
    for (size_t cls = 1; cls < MP_NUM_CLASSES && mp__class_size[cls] <= 4096; cls++)
        start += MP_TC_START * mp__class_size[cls];
    size_t held = 0;
    pthread_t t;
    cr_assert_eq(pthread_create(&t, NULL, use_every_class, &held), 0);
    cr_assert_eq(pthread_join(t, NULL), 0);
    cr_assert_gt(held, MP_TC_BUDGET / 4, "the lists did grow (%zu bytes held)", held);
    cr_assert_leq(held, MP_TC_BUDGET + start, "held %zu bytes, budget %zu + start %zu", held,
                  (size_t)MP_TC_BUDGET, start);
}

/* A program cycling large blocks of varied sizes (as mimalloc-bench's
 * malloc-large, scaled down so that a loaded machine still runs a cycle well
 * within the idle decay period): once warm, new blocks come from pages
 * already resident, so the page faults are a small part of the pages
 * written.  16 live blocks of 2-10 MiB: the peak (~96 MiB) sets the limit,
 * not the 32 MiB floor (a fixed 32 MiB cap faults in about half of them). */
Test(mp, cycling_large_blocks_reuses_resident_pages)
{
    enum { LIVE = 16, CYCLES = 200 };
    char *live[LIVE] = {0};
    uint64_t r = 0x1A46E;
    long faults = 0;
    size_t written = 0;
    for (int i = 0; i < CYCLES; i++) {
        r = r * 6364136223846793005ull + 1442695040888963407ull;
        size_t k = (size_t)(r >> 33) % LIVE, n = 2 * MiB + (size_t)(r >> 20) % (8 * MiB);
        struct rusage a, b;
        getrusage(RUSAGE_SELF, &a);
        char *p = mp_alloc(n);
        cr_assert(p);
        memset(p, i, n);
        mp_free(live[k]);
        live[k] = p;
        getrusage(RUSAGE_SELF, &b);
        if (i >= 2 * LIVE) {
            faults += b.ru_minflt - a.ru_minflt;
            written += n;
        }
    }
    for (int k = 0; k < LIVE; k++)
        mp_free(live[k]);
    size_t pages = written / 4096;
    cr_assert_lt((size_t)faults, pages / 4, "%ld page faults for %zu pages written once warm", faults, pages);
}

/* ---- Debug-build misuse checks ---- */

#if ARENAPOOL_DEBUG
Test(mp, debug_double_free_aborts, .signal = SIGABRT)
{
    void *p = mp_alloc(32);
    mp_free(p);
    mp_free(p);
}

Test(mp, debug_foreign_pointer_free_aborts, .signal = SIGABRT)
{
    static char not_ours[64];
    mp_free(not_ours + 16);
}

Test(mp, debug_interior_pointer_free_aborts, .signal = SIGABRT)
{
    char *p = mp_alloc(64);
    mp_free(p + 16);
}

Test(mp, debug_large_double_free_aborts, .signal = SIGABRT)
{
    void *p = mp_alloc(MiB);
    mp_free(p);
    mp_free(p);
}

Test(mp, debug_free_sized_with_wrong_size_aborts, .signal = SIGABRT)
{
    void *p = mp_alloc(32);
    mp_free_sized(p, 1000);
}
#endif
