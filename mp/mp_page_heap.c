/*
 * mp_page_heap.c - the memory pool's bottom level: page map, span records,
 * metadata, and the page heap of free spans over the OS layer.
 *
 * Invariants: every page of a small span maps (page map) to its span and
 * class; a free span maps only its first and last page, so a span being freed
 * finds free neighbours in O(1) and coalesces with them.  Free spans are kept
 * in per-length lists, separately for each commit state: touched (resident),
 * fresh (mapped by grow, never handed out) and decommitted (madvised); the
 * kinds never merge, so the state is exact per span: a reused touched span
 * never page-faults, and only the other two are pre-faulted when handed out.
 * Called by mp_central.c (spans for size classes) under a central lock; takes
 * only its own locks.
 */
#include "mp_internal.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- Page map ---- */

uintptr_t mp__root[MP_ROOT_LEN];
mp_leaf_t mp__leaf_empty;

static pthread_mutex_t leaf_lock = PTHREAD_MUTEX_INITIALIZER;

int mp__pagemap_reserve(uintptr_t addr, size_t len)
{
    uintptr_t first = addr >> (MP_PAGE_SHIFT + MP_LEAF_BITS);
    uintptr_t last = (addr + len - 1) >> (MP_PAGE_SHIFT + MP_LEAF_BITS);
    if (last >= MP_ROOT_LEN)
        return ENOMEM; /* outside the 48-bit space the map covers */
    int err = 0;
    pthread_mutex_lock(&leaf_lock);
    for (uintptr_t i = first; i <= last && !err; i++) {
        if (MP__LOAD(&mp__root[i]) != 0)
            continue;
        size_t ps = arena__os_page_size();
        size_t bytes = (sizeof(mp_leaf_t) + ps - 1) & ~(ps - 1);
        void *leaf;
        err = arena__os_map(bytes, &leaf);
        if (!err)
            __atomic_store_n(&mp__root[i], (uintptr_t)leaf - (uintptr_t)&mp__leaf_empty,
                             __ATOMIC_RELEASE);
    }
    pthread_mutex_unlock(&leaf_lock);
    return err;
}

/* Caller has reserved the page's leaf. */
void mp__pagemap_set(uintptr_t page, mp_span_t *s)
{
    mp_leaf_t *leaf = mp__leaf_of(page << MP_PAGE_SHIFT);
    MP__STORE(&leaf->span[page & (MP_LEAF_LEN - 1)], s);
}

static void pagemap_set_class(uintptr_t page, size_t n, size_t cls)
{
    for (size_t i = 0; i < n; i++) {
        mp_leaf_t *leaf = mp__leaf_of((page + i) << MP_PAGE_SHIFT);
        MP__STORE(&leaf->cls[(page + i) & (MP_LEAF_LEN - 1)], (uint8_t)cls);
    }
}

static mp_span_t *span_of_page(uintptr_t page)
{
    return mp__span_at((const void *)(page << MP_PAGE_SHIFT));
}

/* ---- Metadata: bump allocation from the OS, never returned ---- */

static pthread_mutex_t meta_lock = PTHREAD_MUTEX_INITIALIZER;
static char *meta_cur, *meta_end;
static mp_span_t *span_pool; /* recycled span records */

size_t mp__stat_mapped;
size_t mp__stat_large;
size_t mp__stat_large_cached;

#define META_CHUNK ((size_t)256 * 1024)

static void *meta_alloc_locked(size_t size)
{
    size = (size + 63) & ~(size_t)63;
    if ((size_t)(meta_end - meta_cur) < size) {
        size_t bytes = size > META_CHUNK ? (size + META_CHUNK - 1) & ~(META_CHUNK - 1) : META_CHUNK;
        void *chunk;
        if (arena__os_map(bytes, &chunk) != 0)
            return NULL;
        MP__ADD(&mp__stat_mapped, bytes);
        meta_cur = chunk;
        meta_end = meta_cur + bytes;
    }
    void *p = meta_cur;
    meta_cur += size;
    return p;
}

void *mp__meta_alloc(size_t size)
{
    pthread_mutex_lock(&meta_lock);
    void *p = meta_alloc_locked(size);
    pthread_mutex_unlock(&meta_lock);
    return p;
}

mp_span_t *mp__span_new(void)
{
    pthread_mutex_lock(&meta_lock);
    mp_span_t *s = span_pool;
    if (s)
        span_pool = s->next;
    else
        s = meta_alloc_locked(sizeof *s);
    pthread_mutex_unlock(&meta_lock);
    if (s)
        memset(s, 0, sizeof *s);
    return s;
}

void mp__span_delete(mp_span_t *s)
{
    pthread_mutex_lock(&meta_lock);
    MP__STORE(&s->state, (uint8_t)0);
    s->next = span_pool;
    span_pool = s;
    pthread_mutex_unlock(&meta_lock);
}

uint64_t mp__now_ms(void)
{
    struct timespec ts;
#ifdef CLOCK_MONOTONIC_COARSE
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
#else
    clock_gettime(CLOCK_MONOTONIC, &ts);
#endif
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u + MP__LOAD(&mp__clock_skew_ms);
}

/* ---- Page heap ---- */

/* Why these numbers: 2 MiB growth keeps mmap calls rare without mapping much
 * more than a small program needs.  Free pages stay committed while a program
 * is busy (a loop that frees and reallocates its working set must not pay a
 * page fault per page each time, which is what an eager madvise costs), but
 * pages idle for MP_DECAY_MS go back to the OS at the next page-heap call,
 * and never more than MP_RETAIN_BYTES stay committed. */
#define MP_BUCKETS 128
#define MP_GROW_PAGES ((size_t)256)
#define MP_HUGE_SIZE ((size_t)2 << 20)
#define MP_POPULATE_MIN_OBJS 8
#define MP_RETAIN_BYTES ((size_t)64 << 20)
#define MP_DECAY_MS 250u

/* Test seam: added to the clock, so tests can age idle memory without sleeping. */
uint64_t mp__clock_skew_ms;

/* Commit states of a free span (mp_span_t.committed).  Fresh and decommitted
 * pages are both unbacked; they differ only in accounting: fresh bytes are
 * still counted in mp__stat_mapped, decommitted ones were subtracted. */
enum { SPAN_DECOMMITTED = 0, SPAN_TOUCHED = 1, SPAN_FRESH = 2 };

static pthread_mutex_t heap_lock = PTHREAD_MUTEX_INITIALIZER;
static mp_span_t *free_lists[3][MP_BUCKETS + 1]; /* [committed][npages]; [.][0] = longer */
static size_t free_committed; /* bytes in touched (resident) free spans */
static uint64_t last_decay;

static mp_span_t **list_for(const mp_span_t *s)
{
    return &free_lists[s->committed][s->npages <= MP_BUCKETS ? s->npages : 0];
}

static void list_insert(mp_span_t **head, mp_span_t *s)
{
    s->prev = NULL;
    s->next = *head;
    if (*head)
        (*head)->prev = s;
    *head = s;
}

static void list_remove(mp_span_t **head, mp_span_t *s)
{
    if (s->prev)
        s->prev->next = s->next;
    else
        *head = s->next;
    if (s->next)
        s->next->prev = s->prev;
    s->next = s->prev = NULL;
}

static void set_bounds(mp_span_t *s)
{
    mp__pagemap_set(s->page, s);
    mp__pagemap_set(s->page + s->npages - 1, s);
}

/* Insert free span s, merging with free neighbours of the same commit state. */
static void heap_insert(mp_span_t *s)
{
    mp_span_t *prev = span_of_page(s->page - 1);
    if (prev && MP__LOAD(&prev->state) == MP_SPAN_FREE && prev->committed == s->committed) {
        list_remove(list_for(prev), prev);
        mp__pagemap_set(prev->page + prev->npages - 1, NULL);
        mp__pagemap_set(s->page, NULL);
        s->page = prev->page;
        s->npages += prev->npages;
        if (prev->stamp > s->stamp)
            s->stamp = prev->stamp;
        mp__span_delete(prev);
    }
    mp_span_t *next = span_of_page(s->page + s->npages);
    if (next && MP__LOAD(&next->state) == MP_SPAN_FREE && next->committed == s->committed) {
        list_remove(list_for(next), next);
        mp__pagemap_set(next->page, NULL);
        mp__pagemap_set(s->page + s->npages - 1, NULL);
        s->npages += next->npages;
        if (next->stamp > s->stamp)
            s->stamp = next->stamp;
        mp__span_delete(next);
    }
    MP__STORE(&s->state, (uint8_t)MP_SPAN_FREE);
    set_bounds(s);
    list_insert(list_for(s), s);
}

static size_t decommit(mp_span_t *s)
{
    size_t bytes = s->npages << MP_PAGE_SHIFT;
    if (arena__os_decommit((void *)(s->page << MP_PAGE_SHIFT), bytes) != 0)
        return 0;
    list_remove(list_for(s), s);
    if (s->committed == SPAN_TOUCHED)
        free_committed -= bytes;
    MP__SUB(&mp__stat_mapped, bytes);
    s->committed = SPAN_DECOMMITTED;
    heap_insert(s);
    return bytes;
}

/* Decommit touched free spans idle since before `older_than` (ms), longest
 * lists first, until at most `keep` bytes stay committed.  Fresh spans hold
 * no resident page: nothing to give back (only mp__page_trim takes them). */
static size_t release(uint64_t older_than, size_t keep)
{
    size_t released = 0;
    for (size_t b = 0; b <= MP_BUCKETS && free_committed > keep; b++) {
        size_t bucket = b == 0 ? 0 : MP_BUCKETS + 1 - b; /* longest first */
        mp_span_t *s = free_lists[SPAN_TOUCHED][bucket];
        while (s && free_committed > keep) {
            mp_span_t *next = s->next;
            if (s->stamp <= older_than)
                released += decommit(s);
            s = next;
        }
    }
    return released;
}

static void maybe_release(void)
{
    if (free_committed > MP_RETAIN_BYTES)
        release(UINT64_MAX, MP_RETAIN_BYTES / 2);
    uint64_t now = mp__now_ms();
    if (now - last_decay >= MP_DECAY_MS / 4) {
        last_decay = now;
        release(now - MP_DECAY_MS, 0);
    }
}

/* Why this order: a touched span is resident, so reusing it costs no fault
 * and keeps RSS flat.  Fresh and decommitted pages cost the same to fault
 * in, but fresh ones are already counted as held, while taking a decommitted
 * span would hold again what was given back. */
static mp_span_t *find_free(size_t n)
{
    static const uint8_t order[3] = {SPAN_TOUCHED, SPAN_FRESH, SPAN_DECOMMITTED};
    for (size_t k = 0; k < 3; k++) {
        size_t c = order[k];
        for (size_t b = n; b <= MP_BUCKETS; b++)
            if (free_lists[c][b])
                return free_lists[c][b];
        mp_span_t *best = NULL;
        for (mp_span_t *s = free_lists[c][0]; s; s = s->next)
            if (s->npages >= n && (!best || s->npages < best->npages))
                best = s;
        if (best)
            return best;
    }
    return NULL;
}

/* Why huge pages, and only past a threshold: a first touch of a 4 KiB page
 * costs a fault (~11 us on a paravirtualised guest, ~1 us on bare metal), and
 * a heap that grows by megabytes spends most of its time there; a 2 MiB
 * transparent huge page costs one fault.  But a huge page is resident as a
 * whole, so the region a heap is growing into can hold up to 2 MiB more than
 * it uses.  Asked for only once the heap has mapped MP_THP_AFTER bytes, that
 * cost stays within about 6 % of the heap (and falls as it grows), inside the
 * memory budget the pool is held to (peak RSS within glibc's + 10 %); smaller
 * heaps keep 4 KiB pages, pre-faulted a span at a time.  (At 8 MiB a 21 MiB
 * heap ran 2x faster but held 11 % more.)  ARENAPOOL_THP=0 in the
 * environment turns it off, ARENAPOOL_THP=1 asks for it from the first
 * region, trading up to 2 MiB of RSS for the fewest faults. */
#define MP_THP_AFTER ((size_t)32 << 20)

static size_t heap_grown;  /* bytes grow() has mapped, never decreases */
static size_t thp_after;   /* 0 until read; SIZE_MAX = never */

static size_t thp_threshold(void)
{
    if (thp_after == 0) {
        const char *e = getenv("ARENAPOOL_THP"); /* reads environ: never allocates */
        thp_after = e && e[0] == '0' ? SIZE_MAX : e && e[0] == '1' ? 1 : MP_THP_AFTER;
    }
    return thp_after;
}

static int grow(size_t n)
{
    /* Whole 2 MiB-aligned regions, so that a region is made of whole huge
     * pages when they are asked for. */
    _Static_assert((MP_GROW_PAGES << MP_PAGE_SHIFT) % MP_HUGE_SIZE == 0, "regions hold whole huge pages");
    size_t pages = (n + MP_GROW_PAGES - 1) / MP_GROW_PAGES * MP_GROW_PAGES;
    size_t bytes = pages << MP_PAGE_SHIFT;
    void *mem;
    if (arena__os_map_aligned(bytes, MP_HUGE_SIZE, &mem) != 0)
        return ENOMEM;
    mp_span_t *s = mp__span_new();
    if (!s || mp__pagemap_reserve((uintptr_t)mem, bytes) != 0) {
        if (s)
            mp__span_delete(s);
        arena__os_unmap(mem, bytes);
        return ENOMEM;
    }
    heap_grown += bytes;
    if (heap_grown > thp_threshold())
        (void)arena__os_hugepage(mem, bytes); /* a hint: 4 KiB pages if refused */
    MP__ADD(&mp__stat_mapped, bytes);
    s->page = (uintptr_t)mem >> MP_PAGE_SHIFT;
    s->npages = pages;
    s->committed = SPAN_FRESH;
    s->stamp = mp__now_ms();
    heap_insert(s);
    return 0;
}

mp_span_t *mp__page_alloc(size_t n, size_t cls, bool prefault)
{
    pthread_mutex_lock(&heap_lock);
    maybe_release();
    mp_span_t *s = find_free(n);
    if (!s) {
        if (grow(n) != 0) {
            pthread_mutex_unlock(&heap_lock);
            return NULL;
        }
        s = find_free(n);
    }
    if (s->npages > n) {
        mp_span_t *rest = mp__span_new();
        if (!rest) {
            pthread_mutex_unlock(&heap_lock);
            return NULL;
        }
        list_remove(list_for(s), s);
        mp__pagemap_set(s->page + s->npages - 1, NULL);
        rest->page = s->page + n;
        rest->npages = s->npages - n;
        rest->committed = s->committed;
        rest->stamp = s->stamp;
        MP__STORE(&rest->state, (uint8_t)MP_SPAN_FREE);
        set_bounds(rest);
        list_insert(list_for(rest), rest);
        s->npages = n;
    } else {
        list_remove(list_for(s), s);
    }
    size_t bytes = n << MP_PAGE_SHIFT;
    uint8_t was = s->committed;
    if (was == SPAN_TOUCHED)
        free_committed -= bytes;
    else if (was == SPAN_DECOMMITTED)
        MP__ADD(&mp__stat_mapped, bytes); /* touched again: counts as held */
    s->committed = SPAN_TOUCHED;
    MP__STORE(&s->state, (uint8_t)MP_SPAN_SMALL);
    s->cls = (uint8_t)cls;
    for (size_t i = 0; i < n; i++)
        mp__pagemap_set(s->page + i, s);
    pagemap_set_class(s->page, n, cls);
    pthread_mutex_unlock(&heap_lock);
    /* Why pre-fault: a span of a small class is handed out in address order
     * and its objects are about to be written by their users, and one
     * madvise costs far less than a fault per 4 KiB page
     * (~11 us each on a paravirtualised guest, where the faults dominated the
     * first round of an allocation burst).  Only unbacked spans: a touched
     * span is resident already, and a syscall on each reuse would slow the
     * steady state.  Outside heap_lock: the span is ours now and the call
     * takes time.  A hint: when it fails (EINVAL before Linux 5.14) the pages
     * fault one by one as before.  Large blocks (mp_large.c) are never
     * pre-faulted, nor spans of fewer than MP_POPULATE_MIN_OBJS objects: a
     * program may map a big buffer and touch little of it.  Nor when the
     * caller does not ask (a class's first span: see mp_central.c). */
    if (prefault && was != SPAN_TOUCHED && bytes / mp__class_size[cls] >= MP_POPULATE_MIN_OBJS)
        (void)arena__os_populate((void *)(s->page << MP_PAGE_SHIFT), bytes);
    return s;
}

void mp__page_free(mp_span_t *s)
{
    pthread_mutex_lock(&heap_lock);
    pagemap_set_class(s->page, s->npages, 0);
    for (size_t i = 0; i < s->npages; i++)
        mp__pagemap_set(s->page + i, NULL);
    s->used = s->nfree = 0;
    s->cls = 0;
    s->listed = 0;
    s->committed = SPAN_TOUCHED;
    s->stamp = mp__now_ms();
    free_committed += s->npages << MP_PAGE_SHIFT;
    heap_insert(s);
    maybe_release();
    pthread_mutex_unlock(&heap_lock);
}

size_t mp__page_trim(void)
{
    pthread_mutex_lock(&heap_lock);
    size_t released = release(UINT64_MAX, 0);
    /* Why fresh spans too, which the decay leaves alone: mp_trim gives back
     * everything free, so that afterwards mapped counts only what is in use
     * (and metadata), as it always has.  The madvise finds no resident page
     * to drop (a huge page, if any, would go too); the span is pre-faulted
     * when handed out, as it would have been while fresh. */
    for (size_t b = 0; b <= MP_BUCKETS; b++) {
        mp_span_t *s;
        while ((s = free_lists[SPAN_FRESH][b]) != NULL) {
            size_t bytes = decommit(s);
            if (bytes == 0)
                break; /* the OS refused: keep it fresh */
            released += bytes;
        }
    }
    pthread_mutex_unlock(&heap_lock);
    return released;
}

/* ---- fork ---- */

void mp__page_lock_all(void)
{
    pthread_mutex_lock(&heap_lock);
    pthread_mutex_lock(&leaf_lock);
    pthread_mutex_lock(&meta_lock);
}

void mp__page_unlock_all(void)
{
    pthread_mutex_unlock(&meta_lock);
    pthread_mutex_unlock(&leaf_lock);
    pthread_mutex_unlock(&heap_lock);
}

void mp__page_reinit_locks(void)
{
    pthread_mutex_init(&heap_lock, NULL);
    pthread_mutex_init(&leaf_lock, NULL);
    pthread_mutex_init(&meta_lock, NULL);
}
