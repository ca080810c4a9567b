/*
 * mp_page_internal.h - what the page-heap files (mp_pagemap.c,
 * mp_page_heap.c, mp_page_release.c) share and no other file includes
 * (never installed): the page map's writers, the page-map and metadata locks
 * the fork handlers take, the heap's free lists and totals, and the release
 * jobs.  Module-wide declarations stay in mp_internal.h.
 */
#ifndef ARENAPOOL_MP_PAGE_INTERNAL_H
#define ARENAPOOL_MP_PAGE_INTERNAL_H

#include "mp_internal.h"

/* ---- Page map (mp_pagemap.c) ---- */

/* Point the page-map entry of page (a page number) at s (NULL: no span);
 * the caller has reserved the page's leaf. */
void mp__pagemap_set(uintptr_t page, mp_span_t *s) AP__HIDDEN;
/* Class and byte offset in the span of each of a span's n pages from page
 * (cls 0: not small). */
void mp__pagemap_set_class(uintptr_t page, size_t n, size_t cls) AP__HIDDEN;
/* The span whose page-map entry page (a page number) holds; NULL if none. */
mp_span_t *mp__span_of_page(uintptr_t page) AP__HIDDEN;

/* Taken in the order heap -> leaves -> metadata (mp__page_lock_all). */
extern pthread_mutex_t mp__leaf_lock AP__HIDDEN; /* leaf reservation */
extern pthread_mutex_t mp__meta_lock AP__HIDDEN; /* metadata and span records */

/* ---- Page heap (mp_page_heap.c) ---- */

/* Why these numbers: 2 MiB regions keep mmap calls rare without mapping much
 * more than a small program needs (an untouched page costs address space, not
 * memory).  Free pages stay resident while a program is busy (a loop that
 * frees and reallocates its working set must not pay a page fault per page
 * each time, which is what an eager madvise costs).  How much stays follows
 * the program's recent use, as glibc's dynamic mmap threshold and tcmalloc
 * do: up to 3/4 of the recent peak of bytes in use (at least MP_RETAIN_FLOOR),
 * where the peak decays towards what is in use now, halving the difference
 * every MP_PEAK_HALF_MS.  So a program that cycles 5-25 MiB blocks keeps the
 * pages it will need again, and one that shrank for good soon holds little.
 * Pages idle for MP_DECAY_MS go back to the OS at the next page-heap call
 * whatever the limit, trim gives back everything, and so does a failed map
 * before it is retried.  Free address space beyond MP_VA_RESERVE is unmapped,
 * so a program's VmSize falls after it frees, and a process under RLIMIT_AS
 * can map elsewhere what the heap no longer uses. */
#define MP_BUCKETS 128
#define MP_GROW_PAGES ((size_t)256)
#define MP_REGION_ALIGN ((size_t)2 << 20)
#define MP_RETAIN_FLOOR ((size_t)32 << 20)
#define MP_PEAK_HALF_MS 1000u
#define MP_VA_RESERVE ((size_t)32 << 20)
#define MP_DECAY_MS 1000u

_Static_assert((MP_GROW_PAGES << MP_PAGE_SHIFT) % MP_REGION_ALIGN == 0, "regions hold whole huge pages");

/* Commit states of a free span (mp_span_t.committed).  Fresh and decommitted
 * pages are both unbacked and read as zero; they differ only in accounting:
 * fresh bytes are still counted in mp__stat_mapped, decommitted ones were
 * subtracted. */
enum { SPAN_DECOMMITTED = 0, SPAN_TOUCHED = 1, SPAN_FRESH = 2 };

/* The heap's free lists and totals, all under mp__heap_lock. */
extern pthread_mutex_t mp__heap_lock AP__HIDDEN;
extern mp_span_t *mp__free_lists[3][MP_BUCKETS + 1] AP__HIDDEN; /* [committed][npages]; [.][0] = longer */
extern size_t mp__free_committed AP__HIDDEN; /* bytes in touched (resident) free spans */
extern size_t mp__free_total AP__HIDDEN;     /* bytes in all free spans: address space held, unused */
extern size_t mp__heap_used AP__HIDDEN;      /* bytes in spans handed out (small spans, large blocks) */

#if ARENAPOOL_DEBUG >= 3
void mp__heap_check_locked(void) AP__HIDDEN;
#define HEAP_CHECK() mp__heap_check_locked()
#else
#define HEAP_CHECK() ((void)0)
#endif

static inline size_t mp__span_bytes(const mp_span_t *s)
{
    return s->npages << MP_PAGE_SHIFT;
}

/* A free span of pages [page, page+n) in state `committed`, counted in the
 * free totals, from the spare record r (mp__heap_lock held). */
void mp__add_free(mp_span_t *r, uintptr_t page, size_t n, uint8_t committed, uint64_t stamp) AP__HIDDEN;
/* Take free span s (listed) out of the free totals and lists. */
void mp__take_free(mp_span_t *s) AP__HIDDEN;

/* ---- Releases outside the lock (mp_page_release.c) ---- */

/* A list of spans taken out of the heap under mp__heap_lock, released by
 * mp__run_jobs after it. */
enum { JOB_UNMAP = 1, JOB_DECOMMIT = 2 }; /* in mp_span_t.listed of a span in a job list */

typedef struct jobs {
    mp_span_t *head;
} jobs_t;

/* Does span s cover whole OS pages (so the OS can unmap or move it)? */
bool mp__os_whole(const mp_span_t *s) AP__HIDDEN;
/* Take free span s out of the heap into jobs: unmapped or decommitted. */
size_t mp__give_back(mp_span_t *s, size_t reserve, jobs_t *jobs) AP__HIDDEN;
/* Release touched free spans idle since before older_than (ms) down to keep
 * resident bytes (see mp_page_release.c). */
void mp__release(uint64_t older_than, size_t keep, size_t reserve, bool short_first, jobs_t *jobs) AP__HIDDEN;
/* Unmap unbacked free spans while more than reserve bytes are free. */
void mp__unmap_excess(size_t reserve, jobs_t *jobs) AP__HIDDEN;
/* Make the OS calls of the jobs, without mp__heap_lock; bytes released. */
size_t mp__run_jobs(jobs_t *jobs) AP__HIDDEN;
/* mp__heap_used grew: raise the recent peak to it. */
void mp__note_used(void) AP__HIDDEN;
/* The retention policy, at each heap call (mp__heap_lock held). */
void mp__maybe_release(jobs_t *jobs) AP__HIDDEN;

#endif /* ARENAPOOL_MP_PAGE_INTERNAL_H */
