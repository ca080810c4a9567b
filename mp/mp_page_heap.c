/*
 * mp_page_heap.c - the memory pool's bottom level: the one page heap that
 * serves both small-class spans and large blocks over the OS layer: its free
 * lists, growth, large-block resize and move, checks and fork handlers.  The
 * page map and span records it files spans in are mp_pagemap.c's; what it
 * gives back to the OS, and when, is mp_page_release.c's.
 *
 * Invariants: the heap's address space comes in regions mapped at 2 MiB
 * alignment, carved into spans of whole 8 KiB pages, so every block begins
 * and ends on a page-map page and no two blocks ever share a page-map entry.
 * Every page of a small span maps to its span and class; a large span and a
 * free span map only their first and last page (interior pages read NULL, so
 * a pointer into the middle of a block is never taken for a block).  Free
 * spans coalesce with free neighbours of the same commit state and are kept
 * in per-length lists per state: touched (resident), fresh (mapped, never
 * used) and decommitted (madvised away).  Beyond a small reserve, free
 * address space is unmapped.  No mmap, munmap or madvise of the heap's
 * pages runs under mp__heap_lock: spans to release are taken out of the lists
 * and the page map under it and released after it (mp__run_jobs), regions are
 * mapped before it is taken and added after.  Called by mp_central.c and
 * mp_large.c; takes only its own locks (heap -> page-map leaves -> metadata).
 */
#include "mp_page_internal.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>

/* ---- Page heap ---- */

/* Test seam: added to the clock, so tests can age idle memory without sleeping. */
uint64_t mp__clock_skew_ms;

uint64_t mp__now_ms(void)
{
    return ap__os_now_ms() + MP__LOAD(&mp__clock_skew_ms);
}

pthread_mutex_t mp__heap_lock = PTHREAD_MUTEX_INITIALIZER;
mp_span_t *mp__free_lists[3][MP_BUCKETS + 1]; /* [committed][npages]; [.][0] = longer */
size_t mp__free_committed; /* bytes in touched (resident) free spans */
size_t mp__free_total;     /* bytes in all free spans: address space held, unused */
size_t mp__heap_used;      /* bytes in spans handed out (small spans, large blocks) */

static mp_span_t **list_for(const mp_span_t *s)
{
    return &mp__free_lists[s->committed][s->npages <= MP_BUCKETS ? s->npages : 0];
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

static void clear_bounds(const mp_span_t *s)
{
    mp__pagemap_set(s->page, NULL);
    mp__pagemap_set(s->page + s->npages - 1, NULL);
}

/* Insert free span s (bounds not yet set), merging with free neighbours of
 * the same commit state.  Totals are the caller's. */
static void heap_insert(mp_span_t *s)
{
    mp_span_t *prev = mp__span_of_page(s->page - 1);
    if (prev && MP__LOAD(&prev->state) == MP_SPAN_FREE && prev->committed == s->committed) {
        list_remove(list_for(prev), prev);
        clear_bounds(prev);
        s->page = prev->page;
        s->npages += prev->npages;
        if (prev->stamp > s->stamp)
            s->stamp = prev->stamp;
        mp__span_delete(prev);
    }
    mp_span_t *next = mp__span_of_page(s->page + s->npages);
    if (next && MP__LOAD(&next->state) == MP_SPAN_FREE && next->committed == s->committed) {
        list_remove(list_for(next), next);
        clear_bounds(next);
        s->npages += next->npages;
        if (next->stamp > s->stamp)
            s->stamp = next->stamp;
        mp__span_delete(next);
    }
    MP__STORE(&s->state, (uint8_t)MP_SPAN_FREE);
    set_bounds(s);
    list_insert(list_for(s), s);
}

/* A free span of pages [page, page+n) in state `committed`, counted in the
 * free totals, from the spare record r. */
void mp__add_free(mp_span_t *r, uintptr_t page, size_t n, uint8_t committed, uint64_t stamp)
{
    r->page = page;
    r->npages = n;
    r->committed = committed;
    r->stamp = stamp;
    mp__free_total += n << MP_PAGE_SHIFT;
    if (committed == SPAN_TOUCHED)
        mp__free_committed += n << MP_PAGE_SHIFT;
    heap_insert(r);
}

/* Take free span s (listed) out of the free totals and lists. */
void mp__take_free(mp_span_t *s)
{
    size_t bytes = mp__span_bytes(s);
    list_remove(list_for(s), s);
    clear_bounds(s);
    mp__free_total -= bytes;
    if (s->committed == SPAN_TOUCHED)
        mp__free_committed -= bytes;
}

/* Does free span s hold n pages starting on a multiple of `align` pages? */
static bool fits(const mp_span_t *s, size_t n, size_t align)
{
    uintptr_t start = (s->page + align - 1) & ~(uintptr_t)(align - 1);
    return start - s->page <= s->npages && s->npages - (start - s->page) >= n;
}

/* Why this order: a touched span is resident, so reusing it costs no fault
 * and keeps RSS flat.  Fresh and decommitted pages cost the same to fault
 * in, but fresh ones are already counted as held, while taking a decommitted
 * span would hold again what was given back.  Within a state, the shortest
 * span that fits (so long spans stay whole for large blocks). */
static mp_span_t *find_free(size_t n, size_t align)
{
    static const uint8_t order[3] = {SPAN_TOUCHED, SPAN_FRESH, SPAN_DECOMMITTED};
    for (size_t k = 0; k < 3; k++) {
        size_t c = order[k];
        for (size_t b = n; b <= MP_BUCKETS; b++)
            for (mp_span_t *s = mp__free_lists[c][b]; s; s = s->next)
                if (fits(s, n, align))
                    return s;
        mp_span_t *best = NULL;
        for (mp_span_t *s = mp__free_lists[c][0]; s; s = s->next)
            if (fits(s, n, align) && (!best || s->npages < best->npages))
                best = s;
        if (best)
            return best;
    }
    return NULL;
}

/* Why huge pages only when asked: a transparent huge page is resident as a
 * whole, so a program that touches a few bytes of a region holds 2 MiB, and
 * the kernel's compaction to find them costs real programs time (the python
 * churn benchmark, bench/py_churn.py, runs slower with them).  glibc and
 * mimalloc leave them off by default too.  ARENAPOOL_THP=1 asks for them on every region, for programs
 * that fill what they allocate and fault a lot. */
static int thp_wanted = -1; /* -1 until read; read and set outside mp__heap_lock */

static bool thp_on(void)
{
    int w = MP__LOAD(&thp_wanted);
    if (w < 0) {
        w = ap__options()->thp;
        MP__STORE(&thp_wanted, w);
    }
    return w;
}

/* A region just mapped at mem: its page-map leaves reserved (else it is
 * unmapped again), counted as mapped.  0 or ENOMEM. */
static int region_ready(void *mem, size_t bytes)
{
    if (mp__pagemap_reserve((uintptr_t)mem, bytes) != 0) {
        ap__os_unmap(mem, bytes);
        return ENOMEM;
    }
    if (thp_on())
        (void)ap__os_hugepage(mem, bytes); /* a hint: 4 KiB pages if refused */
    MP__ADD(&mp__stat_mapped, bytes);
    return 0;
}

/* Map a new region for n pages aligned to `align` pages, its page-map
 * leaves reserved; called without mp__heap_lock (the region is no one's until
 * added).  *pages: its length.  0 or ENOMEM. */
static int grow_map(size_t n, size_t align, void **mem, size_t *pages)
{
    *pages = (n + MP_GROW_PAGES - 1) / MP_GROW_PAGES * MP_GROW_PAGES;
    size_t bytes = *pages << MP_PAGE_SHIFT;
    size_t al = align << MP_PAGE_SHIFT;
    if (ap__os_map_aligned(bytes, al > MP_REGION_ALIGN ? al : MP_REGION_ALIGN, mem) != 0)
        return ENOMEM;
    return region_ready(*mem, bytes);
}

/* ---- Growing next to resident pages ----
 * Why: a program cycling large blocks whose sizes vary reaches a new largest
 * size now and then.  A region mapped apart from the resident free pages it
 * has used so far leaves them to be given back at the retain limit, and the
 * new block's pages all fault in again (bench row 7.3 faulted twice glibc's
 * pages so), while glibc's heap grows its top in place.  So the longest
 * resident free span becomes part of the new block: the region is mapped
 * right next to it where the address space there is free (below first:
 * mmap hands out address space from the top down), else mapped anywhere
 * and the span's pages are moved to its start (mremap: page-table updates,
 * no fault, no copy; the old range is unmapped by the move).  Either way the
 * resident pages and the fresh ones beside them are then one run that
 * find_joined takes. */

typedef struct grow_plan {
    size_t places;      /* 0 to 2 */
    uintptr_t at[2];    /* first page of a region to map exactly there */
    size_t pages[2];    /* its length */
    mp_span_t *carry;   /* the span to move into a region mapped elsewhere */
    uintptr_t carry_page;
    size_t carry_npages;
} grow_plan_t;

/* A plan for n pages (large, unaligned): the longest resident free span, and
 * each side of it where its run of free pages (with the fresh span beside
 * it) ends at a region's edge and nothing of the heap lies beyond. */
static void plan_growth(size_t n, grow_plan_t *g)
{
    memset(g, 0, sizeof *g);
    mp_span_t *s = NULL;
    for (mp_span_t *t = mp__free_lists[SPAN_TOUCHED][0]; t; t = t->next)
        if (!s || t->npages > s->npages)
            s = t;
    if (!s || s->npages >= n)
        return;
    for (int below = 1; below >= 0; below--) {
        uintptr_t edge = below ? s->page : s->page + s->npages; /* where the run ends */
        size_t have = s->npages;
        mp_span_t *t = mp__span_of_page(below ? edge - 1 : edge);
        if (t && MP__LOAD(&t->state) == MP_SPAN_FREE && t->committed == SPAN_FRESH) {
            have += t->npages;
            edge = below ? t->page : t->page + t->npages;
        }
        if (have >= n || edge % MP_GROW_PAGES != 0 || mp__span_of_page(below ? edge - 1 : edge) != NULL)
            continue;
        size_t need = (n - have + MP_GROW_PAGES - 1) / MP_GROW_PAGES * MP_GROW_PAGES;
        if (below && edge <= need)
            continue;
        g->at[g->places] = below ? edge - need : edge;
        g->pages[g->places] = need;
        g->places++;
    }
    if (mp__os_whole(s)) { /* the OS moves whole OS pages only */
        g->carry = s;
        g->carry_page = s->page;
        g->carry_npages = s->npages;
    }
}

/* Map a region of `pages` pages exactly at page `at`; called without
 * mp__heap_lock.  0, or an errno value when the address space there is taken
 * or the map fails. */
static int grow_at(uintptr_t at, size_t pages)
{
    void *mem = (void *)(at << MP_PAGE_SHIFT);
    size_t bytes = pages << MP_PAGE_SHIFT;
    int err = ap__os_map_at(mem, bytes);
    return err ? err : region_ready(mem, bytes);
}

/* Add the region of `pages` pages at mem (mapped elsewhere for g) with the
 * planned span's pages moved to its start, when that span is still free and
 * resident as planned; else the region as fresh.  r: the record for it.
 * Called and returns with mp__heap_lock held; drops it around the move. */
static void add_region(const grow_plan_t *g, void *mem, size_t pages, mp_span_t *r)
{
    uintptr_t page = (uintptr_t)mem >> MP_PAGE_SHIFT;
    mp_span_t *c = g->carry;
    if (!c || mp__span_of_page(g->carry_page) != c || MP__LOAD(&c->state) != MP_SPAN_FREE ||
        c->committed != SPAN_TOUCHED || c->page != g->carry_page || c->npages != g->carry_npages ||
        c->npages >= pages) {
        mp__add_free(r, page, pages, SPAN_FRESH, mp__now_ms());
        return;
    }
    /* Out of the lists and the page map before the move, as in
     * mp__page_move: the move unmaps the old range, and another thread's
     * grow may map it again at once. */
    mp__take_free(c);
    pthread_mutex_unlock(&mp__heap_lock);
    int err = ap__os_move((void *)(c->page << MP_PAGE_SHIFT), mp__span_bytes(c), mem);
    pthread_mutex_lock(&mp__heap_lock);
    if (err) {
        mp__add_free(c, c->page, c->npages, SPAN_TOUCHED, c->stamp);
        mp__add_free(r, page, pages, SPAN_FRESH, mp__now_ms());
        return;
    }
    MP__SUB(&mp__stat_mapped, mp__span_bytes(c)); /* its old range is unmapped */
    mp__add_free(c, page, c->npages, SPAN_TOUCHED, c->stamp);
    mp__add_free(r, page + c->npages, pages - c->npages, SPAN_FRESH, mp__now_ms());
}

/* Span records a carve may need: one for a grown region, one each for the
 * free pieces before and after the pages taken.  Taken before mp__heap_lock so a
 * failure leaves the heap as it was (a grow whose region another thread
 * took first needs one more: spare_take gets it, heap -> metadata order). */
#define SPARES 4

static bool spares_get(mp_span_t **sp)
{
    for (size_t i = 0; i < SPARES; i++)
        if (!(sp[i] = mp__span_new())) {
            while (i-- > 0)
                mp__span_delete(sp[i]);
            return false;
        }
    return true;
}

static void spares_put(mp_span_t **sp)
{
    for (size_t i = 0; i < SPARES; i++)
        mp__span_delete(sp[i]);
}

static mp_span_t *spare_take(mp_span_t **sp)
{
    for (size_t i = 0; i < SPARES; i++)
        if (sp[i]) {
            mp_span_t *r = sp[i];
            sp[i] = NULL;
            return r;
        }
    return mp__span_new(); /* a grow lost to another thread: one more */
}

/* Take n pages aligned to `align` pages out of the heap (NULL when no free
 * span fits); the pieces around them stay free.  Returns the span,
 * detached, its pages not yet in the page map; *was: its commit state.
 * high: from the free span's high end (small spans).  Why: large blocks come
 * from the low end, so the first page of a large block just freed is the
 * last a small span takes; a second free of that block then still finds a
 * free span there and is reported, instead of freeing a small block that
 * happens to start at the same address. */
/* No resident span holds n pages: a resident one of more than MP_BUCKETS
 * pages that does with the unbacked free span beside it.  Why: a program
 * cycling blocks of varied sizes frees one and asks for a somewhat larger
 * one; without this it would take unbacked pages elsewhere and fault in all
 * of them, while the resident pages next to them wait to decay.  The joined
 * span is taken whole or not at all (take_joined); NULL when none fits. */
static mp_span_t *find_joined(size_t n, mp_span_t **other)
{
    for (mp_span_t *s = mp__free_lists[SPAN_TOUCHED][0]; s; s = s->next) {
        mp_span_t *t = mp__span_of_page(s->page + s->npages);
        if (t && MP__LOAD(&t->state) == MP_SPAN_FREE && t->committed != SPAN_TOUCHED &&
            t->page == s->page + s->npages && s->npages + t->npages >= n) {
            *other = t;
            return s;
        }
        t = mp__span_of_page(s->page - 1);
        if (t && MP__LOAD(&t->state) == MP_SPAN_FREE && t->committed != SPAN_TOUCHED &&
            t->page + t->npages == s->page && s->npages + t->npages >= n) {
            *other = t;
            return s;
        }
    }
    return NULL;
}

/* Take the pages of touched span s and, of its unbacked neighbour t, those
 * that make n (the rest of t stays free).  Both listed; s comes out detached
 * and still touched: its pages are part resident, part not. */
static void take_joined(mp_span_t *s, mp_span_t *t, size_t n)
{
    uint8_t st = t->committed;
    size_t need = n > s->npages ? n - s->npages : 0;
    mp__take_free(s);
    mp__take_free(t);
    if (t->page > s->page) { /* t after s: its first pages */
        s->npages += need;
        if (t->npages > need)
            mp__add_free(t, t->page + need, t->npages - need, st, t->stamp);
        else
            mp__span_delete(t);
    } else { /* t before s: its last pages */
        s->page -= need;
        s->npages += need;
        if (t->npages > need)
            mp__add_free(t, t->page, t->npages - need, st, t->stamp);
        else
            mp__span_delete(t);
    }
    if (st == SPAN_DECOMMITTED)
        MP__ADD(&mp__stat_mapped, need << MP_PAGE_SHIFT); /* held again */
}

/* Take n pages aligned to `align` pages out of the heap (NULL when no free
 * span fits); the pieces around them stay free.  Returns the span,
 * detached, its pages not yet in the page map; *was: its commit state.
 * high: from the free span's high end (small spans).  Why: large blocks come
 * from the low end, so the first page of a large block just freed is the
 * last a small span takes; a second free of that block then still finds a
 * free span there and is reported, instead of freeing a small block that
 * happens to start at the same address. */
static mp_span_t *take_pages(size_t n, size_t align, bool high, mp_span_t **sp, uint8_t *was)
{
    mp_span_t *s = find_free(n, align), *t;
    if ((!s || s->committed != SPAN_TOUCHED) && n > MP_BUCKETS && align == 1 && !high &&
        (t = NULL, s = find_joined(n, &t)) != NULL) {
        take_joined(s, t, n);
        /* s may now be longer than n: its rest goes back below. */
        uintptr_t start = s->page;
        if (s->npages > n)
            mp__add_free(spare_take(sp), start + n, s->npages - n, SPAN_TOUCHED, s->stamp);
        s->npages = n;
        *was = SPAN_TOUCHED;
        s->stamp = 0;
        return s;
    }
    if (!s)
        s = find_free(n, align);
    if (!s)
        return NULL;
    mp__take_free(s);
    uintptr_t start = high && align == 1 ? s->page + s->npages - n
                                         : (s->page + align - 1) & ~(uintptr_t)(align - 1);
    size_t head = start - s->page, tail = s->npages - head - n;
    if (head) {
        mp__add_free(spare_take(sp), s->page, head, s->committed, s->stamp);
    }
    if (tail) {
        mp__add_free(spare_take(sp), start + n, tail, s->committed, s->stamp);
    }
    s->page = start;
    s->npages = n;
    *was = s->committed;
    if (*was == SPAN_DECOMMITTED)
        MP__ADD(&mp__stat_mapped, n << MP_PAGE_SHIFT); /* touched again: counts as held */
    s->committed = SPAN_TOUCHED;
    s->stamp = 0;
    return s;
}

/* A span of n pages aligned to `align` pages, in the page map as a small span
 * of class cls (cls > 0: every page) or a large block (cls 0: its bounds).
 * *unbacked: its pages were not resident (and read as zero). */
static mp_span_t *alloc_span(size_t n, size_t align, size_t cls, bool *unbacked)
{
    mp_span_t *sp[SPARES];
    jobs_t jobs = {NULL};
    *unbacked = false;
    if (!spares_get(sp))
        return NULL;
    pthread_mutex_lock(&mp__heap_lock);
    mp__maybe_release(&jobs);
    if (jobs.head) {
        /* Released before the take: decommitted spans are back in the lists
         * for it, and the room of unmapped ones is free for a grow. */
        pthread_mutex_unlock(&mp__heap_lock);
        mp__run_jobs(&jobs);
        pthread_mutex_lock(&mp__heap_lock);
    }
    uint8_t was = SPAN_TOUCHED;
    mp_span_t *s = take_pages(n, align, cls != 0, sp, &was);
    /* Nothing fits: map a region outside the lock, add it, take from it.
     * Why a few tries: another thread may take the new region first.  Why
     * give everything back before the last: under RLIMIT_AS (or an
     * overcommit limit) the map may fail only because free pages kept for
     * reuse hold the room. */
    for (int tries = 0; !s && tries < 4; tries++) {
        grow_plan_t g = {0};
        if (cls == 0 && align == 1 && n > MP_BUCKETS && tries == 0)
            plan_growth(n, &g);
        pthread_mutex_unlock(&mp__heap_lock);
        mp__run_jobs(&jobs);
        void *mem;
        size_t pages;
        int err = ENOMEM;
        for (size_t i = 0; i < g.places && err; i++)
            if ((err = grow_at(g.at[i], g.pages[i])) == 0) {
                mem = (void *)(g.at[i] << MP_PAGE_SHIFT);
                pages = g.pages[i];
                g.carry = NULL; /* next to it: nothing to move */
            }
        if (err)
            err = grow_map(n, align, &mem, &pages);
        if (err) {
            pthread_mutex_lock(&mp__heap_lock);
            mp__release(UINT64_MAX, 0, 0, false, &jobs);
            mp__unmap_excess(0, &jobs);
            pthread_mutex_unlock(&mp__heap_lock);
            mp__run_jobs(&jobs);
            err = grow_map(n, align, &mem, &pages);
        }
        pthread_mutex_lock(&mp__heap_lock);
        if (err)
            break;
        mp_span_t *r = spare_take(sp);
        if (!r) {
            pthread_mutex_unlock(&mp__heap_lock);
            ap__os_unmap(mem, pages << MP_PAGE_SHIFT);
            MP__SUB(&mp__stat_mapped, pages << MP_PAGE_SHIFT);
            pthread_mutex_lock(&mp__heap_lock);
            break;
        }
        add_region(&g, mem, pages, r);
        s = take_pages(n, align, cls != 0, sp, &was);
    }
    if (s) {
        mp__heap_used += n << MP_PAGE_SHIFT;
        mp__note_used();
    }
    if (s && cls) {
        s->cls = (uint8_t)cls;
        s->marked = 0;
        MP__STORE(&s->state, (uint8_t)MP_SPAN_SMALL);
        /* Every page to the span; classes come with carving. */
        for (size_t i = 0; i < n; i++)
            mp__pagemap_set(s->page + i, s);
    } else if (s) {
        MP__STORE(&s->state, (uint8_t)MP_SPAN_LARGE);
        set_bounds(s);
    }
    HEAP_CHECK();
    pthread_mutex_unlock(&mp__heap_lock);
    mp__run_jobs(&jobs);
    spares_put(sp);
    *unbacked = was != SPAN_TOUCHED;
    return s;
}

mp_span_t *mp__page_alloc(size_t n, size_t cls, bool *unbacked)
{
    return alloc_span(n, 1, cls, unbacked);
}

mp_span_t *mp__page_alloc_large(size_t n, size_t align, bool *zeroed)
{
    return alloc_span(n, align, 0, zeroed);
}

static void page_free_locked(mp_span_t *s, jobs_t *jobs, bool idle)
{
    if (s->state == MP_SPAN_SMALL) {
        mp__pagemap_set_class(s->page, s->npages, 0);
        for (size_t i = 0; i < s->npages; i++)
            mp__pagemap_set(s->page + i, NULL);
    } else {
        clear_bounds(s);
    }
    s->used = s->nfree = 0;
    s->cls = 0;
    s->listed = 0;
    s->marked = 0;
    mp__heap_used -= mp__span_bytes(s);
    mp__add_free(s, s->page, s->npages, SPAN_TOUCHED, idle ? 0 : mp__now_ms());
    if (idle && s->stamp == 0) /* not merged with pages freed lately */
        mp__give_back(s, MP_VA_RESERVE, jobs);
    mp__maybe_release(jobs);
    HEAP_CHECK();
}

void mp__page_free(mp_span_t *s)
{
    jobs_t jobs = {NULL};
    pthread_mutex_lock(&mp__heap_lock);
    page_free_locked(s, &jobs, false);
    pthread_mutex_unlock(&mp__heap_lock);
    mp__run_jobs(&jobs);
}

void mp__page_free_idle(mp_span_t *s)
{
    jobs_t jobs = {NULL};
    pthread_mutex_lock(&mp__heap_lock);
    page_free_locked(s, &jobs, true);
    pthread_mutex_unlock(&mp__heap_lock);
    mp__run_jobs(&jobs);
}

bool mp__page_free_large(mp_span_t *s, const void *p)
{
    jobs_t jobs = {NULL};
    pthread_mutex_lock(&mp__heap_lock);
    bool ok = mp__span_at(p) == s && s->state == MP_SPAN_LARGE && (uintptr_t)p == s->page << MP_PAGE_SHIFT;
    if (ok)
        page_free_locked(s, &jobs, false);
    pthread_mutex_unlock(&mp__heap_lock);
    mp__run_jobs(&jobs);
    return ok;
}

mp_span_t *mp__page_lookup(const void *p, uint8_t *state, bool *start)
{
    pthread_mutex_lock(&mp__heap_lock);
    mp_span_t *s = mp__span_at(p);
    *state = s ? s->state : 0;
    *start = s && (uintptr_t)p == s->page << MP_PAGE_SHIFT;
    pthread_mutex_unlock(&mp__heap_lock);
    return s;
}

bool mp__page_resize(mp_span_t *s, size_t n)
{
    if (n == s->npages)
        return true;
    mp_span_t *r = NULL;
    if (n < s->npages && !(r = mp__span_new()))
        return false;
    bool ok = true;
    jobs_t jobs = {NULL};
    pthread_mutex_lock(&mp__heap_lock);
    if (n < s->npages) {
        size_t tail = s->npages - n;
        clear_bounds(s);
        s->npages = n;
        set_bounds(s);
        mp__add_free(r, s->page + n, tail, SPAN_TOUCHED, mp__now_ms());
        mp__heap_used -= tail << MP_PAGE_SHIFT;
        r = NULL;
        mp__maybe_release(&jobs);
    } else {
        size_t extra = n - s->npages;
        mp_span_t *next = mp__span_of_page(s->page + s->npages);
        if (next && MP__LOAD(&next->state) == MP_SPAN_FREE && next->npages >= extra) {
            uint8_t st = next->committed;
            mp__take_free(next);
            if (next->npages > extra) { /* the rest of the neighbour stays free */
                size_t left = next->npages - extra;
                mp__add_free(next, next->page + extra, left, st, next->stamp);
            } else {
                mp__span_delete(next);
            }
            if (st == SPAN_DECOMMITTED)
                MP__ADD(&mp__stat_mapped, extra << MP_PAGE_SHIFT);
            clear_bounds(s);
            s->npages = n;
            set_bounds(s);
            mp__heap_used += extra << MP_PAGE_SHIFT;
            mp__note_used();
        } else {
            ok = false;
        }
    }
    HEAP_CHECK();
    pthread_mutex_unlock(&mp__heap_lock);
    mp__run_jobs(&jobs);
    mp__span_delete(r);
    return ok;
}

int mp__page_move(mp_span_t *s, size_t n)
{
    size_t old_bytes = mp__span_bytes(s);
    if (n <= s->npages)
        return EINVAL;
    /* The OS moves whole OS pages: a block sharing one with a neighbour
     * would take the neighbour's bytes with it.  The caller copies instead. */
    if (!mp__os_whole(s))
        return ENOTSUP;
    size_t pages = (n + MP_GROW_PAGES - 1) / MP_GROW_PAGES * MP_GROW_PAGES;
    size_t bytes = pages << MP_PAGE_SHIFT;
    mp_span_t *r = mp__span_new();
    void *mem;
    if (!r)
        return ENOMEM;
    if (ap__os_map_aligned(bytes, MP_REGION_ALIGN, &mem) != 0) {
        mp__span_delete(r);
        return ENOMEM;
    }
    int err = mp__pagemap_reserve((uintptr_t)mem, bytes);
    if (err) {
        ap__os_unmap(mem, bytes);
        mp__span_delete(r);
        return err;
    }
    /* Out of the page map before the move: the moved-from range is unmapped
     * by it, and another thread's grow may map it again at once and file its
     * own spans there. */
    pthread_mutex_lock(&mp__heap_lock);
    clear_bounds(s);
    pthread_mutex_unlock(&mp__heap_lock);
    err = ap__os_move((void *)(s->page << MP_PAGE_SHIFT), old_bytes, mem);
    if (err) {
        pthread_mutex_lock(&mp__heap_lock);
        set_bounds(s);
        pthread_mutex_unlock(&mp__heap_lock);
        ap__os_unmap(mem, bytes);
        mp__span_delete(r);
        return err;
    }
    if (thp_on())
        (void)ap__os_hugepage(mem, bytes);
    pthread_mutex_lock(&mp__heap_lock);
    s->page = (uintptr_t)mem >> MP_PAGE_SHIFT;
    s->npages = n;
    set_bounds(s);
    MP__ADD(&mp__stat_mapped, bytes - old_bytes);
    mp__heap_used += mp__span_bytes(s) - old_bytes;
    mp__note_used();
    if (pages > n) {
        mp__add_free(r, s->page + n, pages - n, SPAN_FRESH, mp__now_ms());
        r = NULL;
    }
    jobs_t jobs = {NULL};
    mp__maybe_release(&jobs);
    HEAP_CHECK();
    pthread_mutex_unlock(&mp__heap_lock);
    mp__run_jobs(&jobs);
    mp__span_delete(r);
    return 0;
}

size_t mp__page_trim(void)
{
    jobs_t jobs = {NULL};
    pthread_mutex_lock(&mp__heap_lock);
    /* Why no reserve here: mp_trim (and malloc_trim) is a request to give
     * back everything free now, address space included. */
    mp__release(UINT64_MAX, 0, 0, false, &jobs);
    mp__unmap_excess(0, &jobs);
    HEAP_CHECK();
    pthread_mutex_unlock(&mp__heap_lock);
    return mp__run_jobs(&jobs);
}

void mp__page_totals(size_t *free_resident, size_t *free_all)
{
    pthread_mutex_lock(&mp__heap_lock);
    *free_resident = mp__free_committed;
    *free_all = mp__free_total;
    pthread_mutex_unlock(&mp__heap_lock);
}

/* ---- Expensive checks (ARENAPOOL_DEBUG >= 3) ---- */

#if ARENAPOOL_DEBUG >= 3
static void check_fail(const char *what, uintptr_t page, const mp_span_t *s)
{
    ap__os_fatal(what, "page", (const void *)(page << MP_PAGE_SHIFT), "span", s);
}

/* Walk every page-map entry and check it against the span it names; then
 * every free list against the map. */
void mp__heap_check_locked(void)
{
    for (size_t r = 0; r < MP_ROOT_LEN; r++) {
        if (MP__LOAD(&mp__root[r]) == 0)
            continue;
        mp_leaf_t *leaf = mp__leaf_of((uintptr_t)r << (MP_PAGE_SHIFT + MP_LEAF_BITS));
        for (size_t j = 0; j < MP_LEAF_LEN; j++) {
            uintptr_t page = ((uintptr_t)r << MP_LEAF_BITS) | j;
            mp_span_t *s = MP__LOAD(&leaf->span[j]);
            uint32_t m = MP__LOAD(&leaf->meta[j]);
            uint8_t cls = (uint8_t)mp__meta_cls(m);
            if (!s) {
                if (cls != 0)
                    check_fail("mp heap check: class set on a page without a span", page, s);
                continue;
            }
            uint8_t st = MP__LOAD(&s->state);
            if (page < s->page || page >= s->page + s->npages)
                check_fail("mp heap check: page-map entry outside its span", page, s);
            if (st == MP_SPAN_SMALL) {
                bool marked = page - s->page < s->marked;
                if (marked ? cls != s->cls || (m >> MP_PAGE_SHIFT) != page - s->page : m != 0)
                    check_fail("mp heap check: page class or index differs from its span's", page, s);
            } else if (st == MP_SPAN_FREE || st == MP_SPAN_LARGE) {
                if (cls != 0 || (page != s->page && page != s->page + s->npages - 1))
                    check_fail("mp heap check: interior page of a free or large span mapped", page, s);
            } else if (st != 0) {
                check_fail("mp heap check: span in an unknown state", page, s);
            }
        }
    }
    size_t total = 0, resident = 0;
    for (size_t c = 0; c < 3; c++)
        for (size_t b = 0; b <= MP_BUCKETS; b++)
            for (mp_span_t *s = mp__free_lists[c][b]; s; s = s->next) {
                if (s->state != MP_SPAN_FREE || s->committed != c || mp__span_of_page(s->page) != s ||
                    mp__span_of_page(s->page + s->npages - 1) != s ||
                    (b != 0 ? s->npages != b : s->npages <= MP_BUCKETS))
                    check_fail("mp heap check: free span out of place", s->page, s);
                total += mp__span_bytes(s);
                if (c == SPAN_TOUCHED)
                    resident += mp__span_bytes(s);
            }
    if (total != mp__free_total || resident != mp__free_committed)
        check_fail("mp heap check: free totals disagree with the lists", 0, NULL);
}
#endif

/* ---- fork ---- */

void mp__page_lock_all(void)
{
    pthread_mutex_lock(&mp__heap_lock);
    pthread_mutex_lock(&mp__leaf_lock);
    pthread_mutex_lock(&mp__meta_lock);
}

void mp__page_unlock_all(void)
{
    pthread_mutex_unlock(&mp__meta_lock);
    pthread_mutex_unlock(&mp__leaf_lock);
    pthread_mutex_unlock(&mp__heap_lock);
}

void mp__page_reinit_locks(void)
{
    pthread_mutex_init(&mp__heap_lock, NULL);
    pthread_mutex_init(&mp__leaf_lock, NULL);
    pthread_mutex_init(&mp__meta_lock, NULL);
}

