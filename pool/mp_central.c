/*
 * mp_central.c - the memory pool's middle level: one central free list per
 * size class, shared by all threads.
 *
 * Each class has a lock, a transfer cache of whole batches (a batch moves in
 * and out in O(1), as the head and tail of a linked list), and a list of its
 * spans that still have free or uncarved objects.  Objects that do not fit the
 * transfer cache go back to their spans (found through the page map); a span
 * whose objects have all come back is returned to the page heap.  Called by
 * the thread caches (mp_thread_cache.c) and by trim; calls the page heap while
 * holding the class lock (lock order: central -> page heap -> metadata).
 */
#include "mp_internal.h"

#include <errno.h>

#define MP_SLOTS_MAX 256

typedef struct batch {
    void *head, *tail;
    size_t count; /* a batch, or less once a small fetch took part of it */
} batch_t;

typedef struct central {
    mp_span_t *spans;     /* spans with free or uncarved objects */
    size_t out;           /* objects handed out (to thread caches or callers) */
    size_t span_free;     /* objects on span free lists */
    size_t slot_objs;     /* objects in the transfer cache */
    uint32_t nslots;      /* batches in the transfer cache (central_slots) */
    batch_t *slots;
} __attribute__((aligned(64))) central_t;

/* Why the locks live apart from the lists: initialising them touches one
 * or two pages instead of every page of `centrals` (a short-lived process
 * under LD_PRELOAD pays for each page fault). */
typedef struct central_lock {
    pthread_mutex_t m;
} __attribute__((aligned(64))) central_lock_t;

static central_t centrals[MP_NUM_CLASSES];
static batch_t central_slots[MP_NUM_CLASSES][MP_SLOTS_MAX]; /* touched only when used */
static central_lock_t central_locks[MP_NUM_CLASSES];
static pthread_once_t central_once = PTHREAD_ONCE_INIT;

/* Why lazy: an array of mutexes has no portable static initialiser. */
static void central_init(void)
{
    for (size_t c = 0; c < MP_NUM_CLASSES; c++) {
        pthread_mutex_init(&central_locks[c].m, NULL);
        centrals[c].slots = central_slots[c];
    }
}

static central_t *central_get(size_t cls)
{
    pthread_once(&central_once, central_init);
    return &centrals[cls];
}

#define LOCK(cls) pthread_mutex_lock(&central_locks[cls].m)
#define UNLOCK(cls) pthread_mutex_unlock(&central_locks[cls].m)

/* ---- Spans ---- */

static void span_list_insert(central_t *c, mp_span_t *s)
{
    s->prev = NULL;
    s->next = c->spans;
    if (c->spans)
        c->spans->prev = s;
    c->spans = s;
    s->listed = 1;
}

static void span_list_remove(central_t *c, mp_span_t *s)
{
    if (s->prev)
        s->prev->next = s->next;
    else
        c->spans = s->next;
    if (s->next)
        s->next->prev = s->prev;
    s->next = s->prev = NULL;
    s->listed = 0;
}

static mp_span_t *span_new(central_t *c, size_t cls)
{
    mp_span_t *s = mp__page_alloc(mp__class_pages[cls], cls);
    if (!s)
        return NULL;
    s->carve = (char *)(s->page << MP_PAGE_SHIFT);
    s->end = s->carve + (s->npages << MP_PAGE_SHIFT);
    span_list_insert(c, s);
    return s;
}

/* Give a NULL-terminated list of objects back to their spans.  Why in runs:
 * a batch freed in allocation order mostly lies in one span, so each run of
 * objects inside one span's address range is spliced onto its free list at
 * once (one page-map lookup and one update of the counts per run, no
 * relinking).  A span whose objects are all back goes to the page heap,
 * unless it is the class's only span (kept as a spare so a class used for
 * one object at a time does not churn pages). */
static void spans_put(central_t *c, void *head)
{
    while (head) {
        mp_span_t *s = mp__span_at(head);
        uintptr_t lo = s->page << MP_PAGE_SHIFT, len = s->npages << MP_PAGE_SHIFT;
        void *last = head, *next = *(void **)head;
        uint32_t k = 1;
        while (next && (uintptr_t)next - lo < len) {
            last = next;
            next = *(void **)next;
            k++;
        }
        if (!s->free)
            s->free_tail = last;
        *(void **)last = s->free;
        s->free = head;
        s->nfree += k;
        s->used -= k;
        c->span_free += k;
        if (!s->listed)
            span_list_insert(c, s);
        if (s->used == 0 && (c->spans != s || s->next != NULL)) {
            span_list_remove(c, s);
            c->span_free -= s->nfree;
            mp__page_free(s);
        }
        head = next;
    }
}

/* ---- Fetch and release ---- */

void *mp__central_fetch(size_t cls, size_t n, size_t *got)
{
    central_t *c = central_get(cls);
    size_t size = mp__class_size[cls];
    void *head = NULL;
    size_t k = 0;
    LOCK(cls);
    /* Transfer cache first: whole batches in O(1); a small (slow-start)
     * fetch takes part of the newest one, so freed batches do not pile up
     * while threads carve fresh spans. */
    while (k < n && c->nslots > 0) {
        batch_t *b = &c->slots[c->nslots - 1];
        if (b->count <= n - k) {
            *(void **)b->tail = head;
            head = b->head;
            k += b->count;
            c->slot_objs -= b->count;
            c->nslots--;
        } else {
            size_t m = n - k;
            void *first = b->head, *last = first;
            for (size_t i = 1; i < m; i++)
                last = *(void **)last;
            b->head = *(void **)last;
            b->count -= m;
            c->slot_objs -= m;
            *(void **)last = head;
            head = first;
            k += m;
        }
    }
    while (k < n) {
        mp_span_t *s = c->spans;
        if (!s && !(s = span_new(c, cls)))
            break;
        if (s->free && s->nfree <= n - k) { /* the whole list, in O(1) */
            *(void **)s->free_tail = head;
            head = s->free;
            k += s->nfree;
            s->used += s->nfree;
            c->span_free -= s->nfree;
            s->free = NULL;
            s->nfree = 0;
        }
        if (k < n && s->free) { /* part of the list: cut it after n - k objects */
            size_t m = n - k;
            void *first = s->free, *last = first;
            for (size_t i = 1; i < m; i++)
                last = *(void **)last;
            s->free = *(void **)last;
            *(void **)last = head;
            head = first;
            k += m;
            s->used += (uint32_t)m;
            s->nfree -= (uint32_t)m;
            c->span_free -= m;
        }
        size_t m = (size_t)(s->end - s->carve) / size;
        if (m > n - k)
            m = n - k;
        if (m > 0) { /* carved in address order, linked in one pass */
            char *first = s->carve, *o = first;
            for (size_t i = 1; i < m; i++, o += size)
                *(void **)o = o + size;
            *(void **)o = head;
            head = first;
            s->carve = o + size;
            s->used += (uint32_t)m;
            k += m;
        }
        if (!s->free && (size_t)(s->end - s->carve) < size)
            span_list_remove(c, s);
    }
    c->out += k;
    UNLOCK(cls);
    *got = k;
    return head;
}

void mp__central_release(size_t cls, void *head, void *tail, size_t count)
{
    central_t *c = central_get(cls);
    LOCK(cls);
    c->out -= count;
    if (count == mp__class_batch[cls] && c->nslots < mp__class_slots[cls] && tail) {
        c->slots[c->nslots].head = head;
        c->slots[c->nslots].tail = tail;
        c->slots[c->nslots].count = count;
        c->slot_objs += count;
        c->nslots++;
    } else {
        spans_put(c, head);
    }
    UNLOCK(cls);
}

void mp__central_drain(void)
{
    for (size_t cls = 1; cls < MP_NUM_CLASSES; cls++) {
        central_t *c = central_get(cls);
        LOCK(cls);
        c->slot_objs = 0;
        while (c->nslots > 0) {
            spans_put(c, c->slots[--c->nslots].head);
        }
        /* The spare kept by span_put goes too. */
        mp_span_t *s = c->spans;
        if (s && s->next == NULL && s->used == 0) {
            span_list_remove(c, s);
            c->span_free -= s->nfree;
            mp__page_free(s);
        }
        UNLOCK(cls);
    }
}

void mp__central_totals(size_t *out_bytes, size_t *cached_bytes)
{
    size_t out = 0, cached = 0;
    for (size_t cls = 1; cls < MP_NUM_CLASSES; cls++) {
        central_t *c = central_get(cls);
        LOCK(cls);
        out += c->out * mp__class_size[cls];
        cached += (c->span_free + c->slot_objs) * mp__class_size[cls];
        UNLOCK(cls);
    }
    *out_bytes = out;
    *cached_bytes = cached;
}

/* ---- fork ---- */

void mp__central_lock_all(void)
{
    pthread_once(&central_once, central_init);
    for (size_t c = 0; c < MP_NUM_CLASSES; c++)
        pthread_mutex_lock(&central_locks[c].m);
}

void mp__central_unlock_all(void)
{
    for (size_t c = MP_NUM_CLASSES; c-- > 0;)
        pthread_mutex_unlock(&central_locks[c].m);
}

void mp__central_reinit_locks(void)
{
    for (size_t c = 0; c < MP_NUM_CLASSES; c++)
        pthread_mutex_init(&central_locks[c].m, NULL);
}
