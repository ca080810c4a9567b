/*
 * mp_page_release.c - how the page heap gives memory back to the OS: the
 * retention policy (a share of the recent peak in use, the peak's decay, the
 * decay of idle pages), the job lists that take spans out of the heap under
 * mp__heap_lock and make the munmap and madvise calls after it, and clearing
 * in whole OS pages (mp__page_clear, for calloc).  Invariants: no OS call
 * under mp__heap_lock; only whole OS pages inside a span are ever dropped or
 * unmapped.  Called by mp_page_heap.c, and mp__page_clear by mp_alloc.c.
 */
#include "mp_page_internal.h"
#include "ap_checker.h"

#include <string.h>

static size_t peak_used;      /* recent peak of mp__heap_used, decaying towards it */
static uint64_t peak_stamp;   /* when peak_used last decayed */
static uint64_t last_decay;

/* ---- Releasing memory in whole OS pages ----
 * Why: the OS page may be larger than the heap's 8 KiB page (16 or 64 KiB on
 * many aarch64 kernels), and the kernel rounds a range outward, so an madvise
 * or munmap of a span that shares an OS page with a neighbour would zero or
 * unmap the neighbour's live bytes.  Memory is released only in whole OS
 * pages that lie inside the span (rounded inward, as gperftools does); a span
 * is unmapped only when it covers whole OS pages, and a decommitted span's
 * bytes at its ends, which stay resident, are cleared so that it still reads
 * as zero. */

static uintptr_t os_round_up(uintptr_t a)
{
    uintptr_t ps = ap__os_page_size();
    return (a + ps - 1) & ~(ps - 1);
}

static uintptr_t os_round_down(uintptr_t a)
{
    return a & ~((uintptr_t)ap__os_page_size() - 1);
}

bool mp__os_whole(const mp_span_t *s)
{
    uintptr_t lo = s->page << MP_PAGE_SHIFT;
    return os_round_down(lo) == lo && os_round_down(lo + mp__span_bytes(s)) == lo + mp__span_bytes(s);
}

/* Clear [p, p+n).  Free memory a checker may hold poisoned (a freed
 * block's): the pool's own write, not the program's, and poisoned again. */
static void clear_bytes(void *p, size_t n, bool is_free)
{
    if (n == 0)
        return;
    if (is_free && AP__UNLIKELY(ap__checker())) {
        ap__unpoison(p, n);
        memset(p, 0, n);
        ap__poison(p, n);
        return;
    }
    memset(p, 0, n);
}

/* Drop the pages of [p, p+size) (page-heap pages: a free span, or a live
 * block when not is_free) so it reads as zero. */
static int zero_range(void *p, size_t size, bool is_free)
{
    uintptr_t lo = (uintptr_t)p, hi = lo + size;
    uintptr_t in_lo = os_round_up(lo), in_hi = os_round_down(hi);
    if (in_lo >= in_hi) {
        clear_bytes(p, size, is_free);
        return 0;
    }
    int err = ap__os_decommit((void *)in_lo, in_hi - in_lo);
    if (err)
        return err;
    clear_bytes(p, in_lo - lo, is_free);
    clear_bytes((void *)in_hi, hi - in_hi, is_free);
    return 0;
}

/* Make [from, to) (whole OS pages of a live block, all in one state) read
 * zero: resident pages are written, pages backed by nothing are left alone,
 * pages that may hold data without being resident are dropped.  Why write
 * a short run of those instead: an madvise costs a system call, more than
 * the few faults it saves. */
#define CLEAR_DROP_MIN ((size_t)4) /* OS pages */

static void clear_run(uintptr_t from, uintptr_t to, unsigned char state)
{
    if (from == to || state == AP_PAGE_ZERO)
        return;
    if (state == AP_PAGE_RESIDENT || (to - from) / ap__os_page_size() < CLEAR_DROP_MIN ||
        ap__os_decommit((void *)from, to - from) != 0)
        memset((void *)from, 0, to - from);
}

/* Why page by page, by what backs each page: a resident page is cleared (a
 * write of it, and it stays resident for the program); a page backed by
 * nothing already reads zero and is left so (writing it would fault in a
 * page the program may never touch); a page swapped out is dropped.  So no
 * page the program did not touch becomes resident, none it uses is dropped
 * to fault in again, and the cost follows the pages the program used, not
 * the block's size: a program that callocs big blocks and touches a few
 * pages of each (bench row 7.3: a byte in every 64th page) clears those
 * few, where glibc clears every byte of a block it reuses.  The fresh pages
 * of a block grown next to resident ones (plan_growth) stay untouched.  A
 * block below 1 MiB is simply written: the look costs more than it saves. */
void mp__page_clear(void *p, size_t size)
{
    const size_t small = (size_t)1 << 20;
    uintptr_t lo = os_round_up((uintptr_t)p), hi = os_round_down((uintptr_t)p + size);
    if (size < small || hi <= lo) {
        memset(p, 0, size);
        return;
    }
    /* Bytes in OS pages shared with a neighbour: written, never dropped. */
    memset(p, 0, lo - (uintptr_t)p);
    memset((void *)hi, 0, (uintptr_t)p + size - hi);
    size_t ps = ap__os_page_size();
    unsigned char vec[1024];
    uintptr_t run = lo;
    unsigned char run_state = AP_PAGE_ZERO;
    for (uintptr_t at = lo; at < hi;) {
        size_t n = (hi - at) / ps < sizeof vec ? (hi - at) / ps : sizeof vec;
        if (ap__os_page_states((void *)at, n * ps, vec) != 0) {
            clear_run(run, at, run_state);
            memset((void *)at, 0, hi - at);
            return;
        }
        for (size_t i = 0; i < n; i++)
            if (vec[i] != run_state) {
                clear_run(run, at + i * ps, run_state);
                run = at + i * ps;
                run_state = vec[i];
            }
        at += n * ps;
    }
    clear_run(run, hi, run_state);
}

/* ---- Releases outside the lock ----
 * Why: an munmap or madvise of megabytes takes long, and every thread that
 * needs a span (or frees one) would wait behind it.  Under mp__heap_lock a span
 * to give back is only chosen and taken out of the free lists, the totals
 * and the page map (so no one can take it or merge with it, and its address
 * space is out of the map before it is unmapped: once unmapped, another
 * thread's grow may map the range again at once); the OS calls run after the
 * lock is dropped (mp__run_jobs), and a decommitted span comes back into the
 * lists as such.  A span the OS refuses comes back as it was. */

/* Take free span s (listed) out of the heap for release: unmapped when the
 * heap holds more free address space than `reserve` and s covers whole OS
 * pages, else decommitted.  Bytes it holds. */
size_t mp__give_back(mp_span_t *s, size_t reserve, jobs_t *jobs)
{
    size_t bytes = mp__span_bytes(s);
    bool unmap = mp__free_total > reserve && mp__os_whole(s);
    mp__take_free(s);
    s->listed = unmap ? JOB_UNMAP : JOB_DECOMMIT;
    s->next = jobs->head;
    jobs->head = s;
    return bytes;
}

/* Release touched free spans idle since before `older_than` (ms) until at
 * most `keep` bytes stay resident: shortest lists first when `short_first`,
 * else longest first.  Why shortest first over the limit: long runs of
 * resident pages are what a program cycling large blocks reuses, while
 * short leftovers fit few requests. */
void mp__release(uint64_t older_than, size_t keep, size_t reserve, bool short_first, jobs_t *jobs)
{
    for (size_t b = 0; b <= MP_BUCKETS && mp__free_committed > keep; b++) {
        size_t bucket = short_first ? (b == MP_BUCKETS ? 0 : b + 1) : b == 0 ? 0 : MP_BUCKETS + 1 - b;
        if (short_first && bucket == 0) {
            /* The long spans share one list in no order: shortest first by
             * a scan each (few spans are that long). */
            for (;;) {
                mp_span_t *best = NULL;
                for (mp_span_t *t = mp__free_lists[SPAN_TOUCHED][0]; t; t = t->next)
                    if (t->stamp <= older_than && (!best || t->npages < best->npages))
                        best = t;
                if (!best || mp__free_committed <= keep)
                    break;
                mp__give_back(best, reserve, jobs);
            }
            continue;
        }
        mp_span_t *s = mp__free_lists[SPAN_TOUCHED][bucket];
        while (s && mp__free_committed > keep) {
            mp_span_t *next = s->next;
            if (s->stamp <= older_than)
                mp__give_back(s, reserve, jobs);
            s = next;
        }
    }
}

/* Unmap unbacked (fresh or decommitted) free spans, longest first, while the
 * heap holds more than `reserve` free bytes.  Touched spans are left to the
 * decay. */
void mp__unmap_excess(size_t reserve, jobs_t *jobs)
{
    static const uint8_t states[2] = {SPAN_DECOMMITTED, SPAN_FRESH};
    for (size_t b = 0; b <= MP_BUCKETS && mp__free_total > reserve; b++) {
        size_t bucket = b == 0 ? 0 : MP_BUCKETS + 1 - b;
        for (size_t k = 0; k < 2 && mp__free_total > reserve; k++) {
            mp_span_t *s = mp__free_lists[states[k]][bucket];
            while (s && mp__free_total > reserve) {
                mp_span_t *next = s->next;
                if (mp__os_whole(s)) /* partial OS pages: stays mapped, unbacked */
                    mp__give_back(s, reserve, jobs);
                s = next;
            }
        }
    }
}

/* Make the OS calls of the jobs; call without mp__heap_lock.  Bytes that
 * stopped counting as mapped. */
size_t mp__run_jobs(jobs_t *jobs)
{
    size_t released = 0;
    mp_span_t *back = NULL; /* spans to list again: decommitted, or refused */
    while (jobs->head) {
        mp_span_t *s = jobs->head;
        jobs->head = s->next;
        size_t bytes = mp__span_bytes(s);
        void *p = (void *)(s->page << MP_PAGE_SHIFT);
        uint8_t was = s->committed;
        if (s->listed == JOB_UNMAP && ap__os_unmap(p, bytes) == 0) {
            if (was != SPAN_DECOMMITTED) {
                MP__SUB(&mp__stat_mapped, bytes);
                released += bytes;
            }
            mp__span_delete(s);
            continue;
        }
        if (was != SPAN_DECOMMITTED && zero_range(p, bytes, true) == 0) {
            MP__SUB(&mp__stat_mapped, bytes);
            released += bytes;
            s->committed = SPAN_DECOMMITTED;
        }
        s->next = back;
        back = s;
    }
    if (back) {
        pthread_mutex_lock(&mp__heap_lock);
        while (back) {
            mp_span_t *s = back;
            back = s->next;
            s->listed = 0;
            mp__add_free(s, s->page, s->npages, s->committed, s->stamp);
        }
        HEAP_CHECK();
        pthread_mutex_unlock(&mp__heap_lock);
    }
    return released;
}

/* The recent peak decays: the gap to what is in use now halves every
 * MP_PEAK_HALF_MS. */
static void peak_decay(uint64_t now)
{
    uint64_t halves = (now - peak_stamp) / MP_PEAK_HALF_MS;
    if (halves == 0)
        return;
    peak_stamp = now;
    size_t gap = peak_used > mp__heap_used ? peak_used - mp__heap_used : 0;
    peak_used = mp__heap_used + (halves >= 64 ? 0 : gap >> halves);
}

void mp__note_used(void)
{
    if (mp__heap_used > peak_used)
        peak_used = mp__heap_used;
}

/* Resident free bytes the heap keeps: 3/4 of the recent peak in use.  Why
 * that much: a program cycling large blocks of varied sizes leaves holes
 * between its live blocks, and a new block fits one only if enough are
 * kept (glibc keeps them all); at half the peak, mimalloc-bench's
 * malloc-large still faulted in 2.5x glibc's pages, at 3/4 as many. */
static size_t retain_limit(void)
{
    size_t l = peak_used / 4 * 3;
    return l > MP_RETAIN_FLOOR ? l : MP_RETAIN_FLOOR;
}

void mp__maybe_release(jobs_t *jobs)
{
    uint64_t now = mp__now_ms();
    peak_decay(now);
    size_t limit = retain_limit();
    /* Why down to three quarters: a program at its limit would otherwise
     * give back a span at nearly every free.  Why never below the floor: a
     * program cycling one block of up to the floor would lose it each time
     * a second one joined it. */
    if (mp__free_committed > limit) {
        size_t keep = limit - limit / 4 > MP_RETAIN_FLOOR ? limit - limit / 4 : MP_RETAIN_FLOOR;
        mp__release(UINT64_MAX, keep, MP_VA_RESERVE, true, jobs);
    }
    if (now - last_decay >= MP_DECAY_MS / 4) {
        last_decay = now;
        mp__release(now - MP_DECAY_MS, 0, MP_VA_RESERVE, false, jobs);
    }
    if (mp__free_total > MP_VA_RESERVE)
        mp__unmap_excess(MP_VA_RESERVE, jobs);
}
