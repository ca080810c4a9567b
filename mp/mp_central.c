/*
 * mp_central.c - the memory pool's middle level: one central cache per size
 * class, shared by all threads.
 *
 * Each class has a lock, a transfer stack of free object pointers (objects
 * move in and out of it with memcpy, whatever their number) and a list of its
 * spans that still have free objects.  A span records its free objects in a
 * bitmap (never-carved objects included), so handing objects out yields them
 * in address order and taking them back touches no object memory.  Objects
 * that do not fit the transfer stack go back to their spans (found through
 * the page map); a span whose objects have all come back is returned to the
 * page heap.  Called by the thread caches (mp_thread_cache.c) and by trim.
 * Calls that may reach the OS (a new span, a span given back) are made
 * without the class lock; under it only page-map marks are written (lock
 * order, where nested: central -> page heap -> metadata).
 */
#include "mp_internal.h"
#include "mp_checker.h"

#include <errno.h>
#include <string.h>

typedef struct central {
    mp_span_t *spans;  /* spans with free objects */
    void **stack;      /* transfer stack: free objects of any span */
    size_t nstack;     /* objects on it */
    size_t cap;        /* its capacity: about 512 KiB worth of objects */
    size_t out;        /* objects handed out (to thread caches or callers) */
    size_t span_free;  /* objects free in spans (bits set) */
    size_t nspans;     /* spans the class holds (listed or full) */
    uint64_t magic;    /* offset * magic >> 40 = offset / size, exactly */
} __attribute__((aligned(64))) central_t;

/* Why the locks live apart from the lists: initialising them touches one
 * or two pages instead of every page of `centrals` (a short-lived process
 * under LD_PRELOAD pays for each page fault). */
typedef struct central_lock {
    pthread_mutex_t m;
} __attribute__((aligned(64))) central_lock_t;

#define MAGIC_SHIFT 40

static central_t centrals[MP_NUM_CLASSES];
/* Decay state per class, under the class lock; apart from central_t, which
 * stays one cache line: fewest objects on the stack since the last decay
 * pass, and when the stack last gave objects out (ms). */
static size_t stack_low[MP_NUM_CLASSES];
static uint64_t stack_fetched[MP_NUM_CLASSES];
static central_lock_t central_locks[MP_NUM_CLASSES];
static pthread_once_t central_once = PTHREAD_ONCE_INIT;
static void **stack_store; /* every class's stack; pages touched only when used */

/* Why lazy: an array of mutexes has no portable static initialiser, and the
 * stacks are metadata mapped on first use. */
static void central_init(void)
{
    size_t total = 0;
    for (size_t c = 1; c < MP_NUM_CLASSES; c++)
        total += (size_t)mp__class_slots[c] * mp__class_batch[c];
    stack_store = mp__meta_alloc(total * sizeof(void *));
    for (size_t c = 0; c < MP_NUM_CLASSES; c++) {
        pthread_mutex_init(&central_locks[c].m, NULL);
        if (c == 0)
            continue;
        centrals[c].magic = (((uint64_t)1 << MAGIC_SHIFT) + mp__class_size[c] - 1) / mp__class_size[c];
        if (stack_store) { /* without it every object goes back to its span */
            centrals[c].stack = stack_store;
            centrals[c].cap = (size_t)mp__class_slots[c] * mp__class_batch[c];
            stack_store += centrals[c].cap;
        }
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

static size_t span_objects(const mp_span_t *s)
{
    return (s->npages << MP_PAGE_SHIFT) / mp__class_size[s->cls];
}

/* New span s (from mp__page_alloc, made without the class lock) joins
 * class cls, every object free.  Its pages are not touched here: they
 * become resident as its objects are handed out (span_take). */
static void span_init(central_t *c, mp_span_t *s, bool unbacked)
{
    if (AP__UNLIKELY(ap__checker()))
        mp__checker_span_new((void *)(s->page << MP_PAGE_SHIFT), s->npages << MP_PAGE_SHIFT);
    s->backed = unbacked ? 0 : (uint32_t)(s->npages << MP_PAGE_SHIFT);
    c->nspans++;
    size_t n = span_objects(s);
    memset(s->avail, 0, sizeof s->avail);
    for (size_t w = 0; w < n / 64; w++)
        s->avail[w] = ~(uint64_t)0;
    if (n % 64)
        s->avail[n / 64] = ((uint64_t)1 << (n % 64)) - 1;
    s->nfree = (uint32_t)n;
    s->used = 0;
    c->span_free += n;
    span_list_insert(c, s);
}

static size_t span_bytes_of(const mp_span_t *s)
{
    return s->npages << MP_PAGE_SHIFT;
}

/* Pages to pre-fault once the class lock is released: objects just handed
 * out of their spans, on pages not yet resident. */
typedef struct fault_plan {
    uintptr_t lo[4], hi[4];
    size_t n;
} fault_plan_t;

/* Why pre-fault, and only this: objects handed out of a span go to a thread
 * cache that hands them to the program next, which writes them; one
 * MADV_POPULATE_WRITE for the pages they cover costs far less than a fault
 * per page (a fault is the whole cost of an allocation burst on a
 * paravirtualised guest).  Only objects of at most a page, whose whole
 * memory the program is expected to write (a 100 KB block may be touched in
 * its first page only), and only pages under objects handed out, never the
 * rest of the span. */
static void plan_faults(mp_span_t *s, uintptr_t end_off, fault_plan_t *plan)
{
    size_t ps = ap__os_page_size();
    if (mp__class_size[s->cls] > MP_PAGE_SIZE || end_off <= s->backed || plan->n == 4)
        return;
    /* Whole OS pages, rounded outward: a populate never changes contents,
     * so pages shared with a neighbour span are safe to fault in too (and
     * the 2 MiB region holding the span holds whole OS pages). */
    uintptr_t base = s->page << MP_PAGE_SHIFT;
    uintptr_t lo = (base + s->backed) & ~(uintptr_t)(ps - 1), hi = (base + end_off + ps - 1) & ~(uintptr_t)(ps - 1);
    if (hi - lo < ps)
        return;
    plan->lo[plan->n] = lo;
    plan->hi[plan->n] = hi;
    plan->n++;
    s->backed = (uint32_t)(hi - base < span_bytes_of(s) ? hi - base : span_bytes_of(s));
}

static int populate_ok = 1; /* 0 once the kernel refuses (before Linux 5.14) */

static void run_faults(const fault_plan_t *plan)
{
    for (size_t i = 0; i < plan->n && MP__LOAD(&populate_ok); i++)
        if (ap__os_populate((void *)plan->lo[i], plan->hi[i] - plan->lo[i]) == EINVAL)
            MP__STORE(&populate_ok, 0);
}

/* Object `last` of span s has just been carved (handed to a cache for the
 * first time, with every object below it).  Mark in the page map every page
 * it covers, so frees there take the fast path; the objects that start on
 * those pages but were not carved stay free in the span and get their key
 * now, so that a page with a class holds no object without one (a free of
 * such an object is then confirmed as a double free, not pushed to be handed
 * out twice).  Why the tail gets a key: the bytes past a span's last object
 * are no object, yet a pointer to them may pass the offset check (a 48-byte
 * class's one-page span ends with 32 bytes at offset 8160 = 170 * 48); the
 * key sends a free there to the check that knows (mp__central_holds).  All
 * under the lock, before the pages are marked: no free sees a page marked and
 * an object on it bare, and nobody else can take the span's free objects. */
static void span_carve(mp_span_t *s, size_t last)
{
    size_t size = mp__class_size[s->cls];
    size_t pages = (((last + 1) * size) + MP_PAGE_SIZE - 1) >> MP_PAGE_SHIFT;
    if (pages <= s->marked)
        return;
#if MP_FAST_CHECKS
    size_t nobjs = span_objects(s);
    uintptr_t base = s->page << MP_PAGE_SHIFT;
    size_t stop = ((pages << MP_PAGE_SHIFT) + size - 1) / size; /* objects starting before the end */
    for (size_t i = last + 1; i < stop && i < nobjs; i++)
        ((uintptr_t *)(base + i * size))[1] = mp__key((const void *)(base + i * size));
    uintptr_t tail = base + nobjs * size;
    if (stop > nobjs && (s->npages << MP_PAGE_SHIFT) - nobjs * size >= 2 * sizeof(uintptr_t))
        ((uintptr_t *)tail)[1] = mp__key((const void *)tail);
#endif
    mp__pagemap_mark(s, s->marked, pages);
    s->marked = (uint32_t)pages;
}

/* Hand out up to n free objects of span s into out[], lowest address first. */
static size_t span_take(central_t *c, mp_span_t *s, void **out, size_t n, fault_plan_t *plan)
{
    uintptr_t base = s->page << MP_PAGE_SHIFT;
    size_t size = mp__class_size[s->cls], k = 0;
    for (size_t w = 0; w < MP_SPAN_WORDS && k < n; w++) {
        uint64_t bits = s->avail[w];
        while (bits && k < n) {
            unsigned i = (unsigned)__builtin_ctzll(bits);
            bits &= bits - 1;
            out[k++] = (void *)(base + (w * 64 + i) * size);
        }
        s->avail[w] = bits;
    }
    s->nfree -= (uint32_t)k;
    s->used += (uint32_t)k;
    c->span_free -= k;
    if (k) {
        plan_faults(s, (uintptr_t)out[k - 1] + size - base, plan);
        span_carve(s, ((uintptr_t)out[k - 1] - base) / size);
    }
    if (s->nfree == 0)
        span_list_remove(c, s);
    return k;
}

/* The class's spare (its only span, every object back): off the class's
 * lists onto *empty, for the page heap once the class lock is dropped. */
static void take_spare(central_t *c, mp_span_t **empty)
{
    mp_span_t *s = c->spans;
    if (s && s->next == NULL && s->used == 0) {
        span_list_remove(c, s);
        c->span_free -= s->nfree;
        c->nspans--;
        s->next = *empty;
        *empty = s;
    }
}

/* Give objects back to their spans.  Why in runs: objects freed together
 * mostly lie in one span, so the page-map lookup is made once per run of
 * objects inside one span's address range.  A span whose objects are all
 * back goes to the page heap, unless it is the class's only span (kept as a
 * spare so a class used for one object at a time does not churn pages). */
static void spans_put(central_t *c, void *const *objs, size_t n, mp_span_t **empty)
{
    size_t i = 0, size = mp__class_size[c - centrals];
    while (i < n) {
        mp_span_t *s = mp__span_at(objs[i]);
        if (AP__UNLIKELY(!s || s->state != MP_SPAN_SMALL || (size_t)s->cls != (size_t)(c - centrals))) {
            /* Why a check here too: a pointer this span does not hold would
             * otherwise stop the run loop from advancing.  The free path
             * catches such pointers first; this is the last line. */
            mp__misuse("free of a pointer not allocated by arenapool", objs[i]);
            i++;
            continue;
        }
        /* Why the span's fields in locals: the bitmap stores below may alias
         * them, and the object count is a division the loop must not redo. */
        uintptr_t lo = s->page << MP_PAGE_SHIFT, len = s->npages << MP_PAGE_SHIFT;
        uint64_t magic = c->magic, nobjs = span_objects(s), *avail = s->avail;
        size_t k = 0;
        for (; i < n && (uintptr_t)objs[i] - lo < len; i++) {
            uintptr_t off = (uintptr_t)objs[i] - lo;
            uint64_t idx = (off * magic) >> MAGIC_SHIFT, bit = (uint64_t)1 << (idx % 64);
            if (AP__UNLIKELY(idx * size != off || idx >= nobjs || (avail[idx / 64] & bit))) {
                mp__misuse(idx * size != off ? "free of a pointer inside a block"
                           : idx >= nobjs    ? "free of a pointer not allocated by arenapool"
                                             : "double free",
                           objs[i]);
                continue;
            }
            avail[idx / 64] |= bit;
            k++;
        }
        s->nfree += (uint32_t)k;
        s->used -= (uint32_t)k;
        c->span_free += k;
        if (!s->listed)
            span_list_insert(c, s);
        if (s->used == 0 && (c->spans != s || s->next != NULL)) {
            span_list_remove(c, s);
            c->span_free -= s->nfree;
            c->nspans--;
            s->next = *empty;
            *empty = s;
        }
    }
}

/* Give the spans spans_put emptied to the page heap.  Why after the class
 * lock: the page heap may unmap or decommit pages (system calls), and the
 * class's other threads must not wait for them.  The spans are no longer
 * the class's, and only their objects' pages still name them. */
static void spans_free(mp_span_t *empty)
{
    while (empty) {
        mp_span_t *s = empty;
        empty = s->next;
        s->next = NULL;
        mp__page_free(s);
    }
}

/* ---- Decay ----
 * Why: objects parked on a class's transfer stack (up to ~512 KiB a class)
 * and the spare span a class keeps would otherwise go back only on trim, so
 * a burst of threads that exit leaves tens of MiB resident for good.  Once a
 * decay period has passed, the next call into this level (a thread cache's
 * slow path, a large block) makes a pass over the classes: objects that sat
 * on a stack the whole period (below its low-water mark, or all of them when
 * nothing was taken from it) go back to their spans, an unused spare span
 * goes too, and spans emptied so are given straight back to the OS (their
 * pages have been idle that long).  No background thread: a process that
 * makes no call keeps its memory until the next one, as with the page heap's
 * decay. */

#define DECAY_MS 1000u

static uint64_t decay_now;  /* the clock at the last check (ms) */
static uint64_t decay_last; /* when the last pass ran (ms) */
static int decay_busy;      /* a pass is running */

static void decay_class(size_t cls, uint64_t now)
{
    central_t *c = &centrals[cls];
    mp_span_t *empty = NULL;
    LOCK(cls);
    size_t idle = now - stack_fetched[cls] >= DECAY_MS ? c->nstack : stack_low[cls] < c->nstack ? stack_low[cls] : c->nstack;
    if (idle) { /* the oldest objects lie at the bottom of the stack */
        spans_put(c, c->stack, idle, &empty);
        c->nstack -= idle;
        memmove(c->stack, c->stack + idle, c->nstack * sizeof *c->stack);
    }
    stack_low[cls] = c->nstack;
    if (c->nstack == 0 && now - stack_fetched[cls] >= DECAY_MS)
        take_spare(c, &empty);
    UNLOCK(cls);
    while (empty) {
        mp_span_t *e = empty;
        empty = e->next;
        e->next = NULL;
        mp__page_free_idle(e);
    }
}

void mp__central_decay(void)
{
    uint64_t now = mp__now_ms();
    if (MP__LOAD(&decay_now) != now) /* a shared line: written once a tick */
        MP__STORE(&decay_now, now);
    if (now - MP__LOAD(&decay_last) < DECAY_MS || __atomic_exchange_n(&decay_busy, 1, __ATOMIC_ACQUIRE))
        return;
    if (now - MP__LOAD(&decay_last) >= DECAY_MS) {
        MP__STORE(&decay_last, now);
        pthread_once(&central_once, central_init);
        for (size_t cls = 1; cls < MP_NUM_CLASSES; cls++)
            decay_class(cls, now);
    }
    __atomic_store_n(&decay_busy, 0, __ATOMIC_RELEASE);
}

/* ---- Fetch and release ---- */

size_t mp__central_fetch(size_t cls, void **out, size_t n)
{
    mp__central_decay();
    central_t *c = central_get(cls);
    size_t k = 0;
    LOCK(cls);
    /* The transfer stack first: recently freed objects, whose pages are
     * resident and whose lines may still be cached. */
    if (c->nstack > 0) {
        k = c->nstack < n ? c->nstack : n;
        c->nstack -= k;
        memcpy(out, c->stack + c->nstack, k * sizeof *out);
        if (c->nstack < stack_low[cls])
            stack_low[cls] = c->nstack;
        stack_fetched[cls] = MP__LOAD(&decay_now);
    }
    size_t from_spans = k;
    fault_plan_t plan = {.n = 0};
    while (k < n) {
        mp_span_t *s = c->spans;
        if (!s) {
            /* Why without the lock: a new span may need a new mapping, and
             * the class's other threads must not wait for the system call. */
            bool unbacked;
            UNLOCK(cls);
            s = mp__page_alloc(mp__class_pages[cls], cls, &unbacked);
            LOCK(cls);
            if (!s)
                break;
            span_init(c, s, unbacked);
        }
        k += span_take(c, s, out + k, n - k, &plan);
    }
    /* Why reversed: the caller pops from the end, so objects then go out
     * lowest address first, a forward stream for the prefetcher; and a
     * class's first object is its span's first (page-aligned), whose words
     * do not share their low 12 bits with the thread cache's own fields, so
     * a loop on one block does not stall on 4 KiB aliasing. */
    for (size_t i = from_spans, j = k; i + 1 < j; i++, j--) {
        void *t = out[i];
        out[i] = out[j - 1];
        out[j - 1] = t;
    }
    c->out += k;
    mp__stats_note((ptrdiff_t)(k * mp__class_size[cls]));
    UNLOCK(cls);
    if (plan.n && MP__LOAD(&populate_ok))
        run_faults(&plan); /* outside the lock: the objects are the caller's now */
#if MP_FAST_CHECKS
    /* Objects from spans get their free key (see mp__key): they are free in
     * the caller's cache until handed out.  Outside the lock: they are the
     * caller's alone now.  Those from the stack kept theirs since free. */
    for (size_t i = from_spans; i < k; i++)
        ((uintptr_t *)out[i])[1] = mp__key(out[i]);
#endif
    return k;
}

/* ---- Misuse: exact answers for the thread cache's checks ---- */

int mp__central_holds(size_t cls, const void *p)
{
    central_t *c = central_get(cls);
    int held = 0;
    LOCK(cls);
    for (size_t i = 0; i < c->nstack && !held; i++)
        held = c->stack[i] == p;
    mp_span_t *s = mp__span_at(p);
    if (!held && s && s->state == MP_SPAN_SMALL && s->cls == cls) {
        uintptr_t off = (uintptr_t)p - (s->page << MP_PAGE_SHIFT);
        size_t idx = off / mp__class_size[cls];
        if (idx >= span_objects(s))
            held = -1;
        else if (s->avail[idx / 64] & ((uint64_t)1 << (idx % 64)))
            held = 1;
    }
    UNLOCK(cls);
    return held;
}

size_t mp__central_carved_class(const void *p, mp_span_t *s)
{
    size_t cls = __atomic_load_n(&s->cls, __ATOMIC_RELAXED);
    const char *what = "free of a pointer not allocated by arenapool";
    if (cls == 0 || cls >= MP_NUM_CLASSES) {
        mp__misuse(what, p);
        return 0;
    }
    central_get(cls);
    LOCK(cls);
    if (mp__span_at(p) == s && s->state == MP_SPAN_SMALL && s->cls == cls) {
        uintptr_t off = (uintptr_t)p - (s->page << MP_PAGE_SHIFT);
        size_t size = mp__class_size[cls];
        if (off % size != 0)
            what = "free of a pointer inside a block";
        else if ((off >> MP_PAGE_SHIFT) < s->marked)
            what = NULL; /* marked meanwhile: a block (its key check is the caller's) */
    }
    UNLOCK(cls);
    if (what) {
        mp__misuse(what, p);
        return 0;
    }
    return cls;
}

void mp__central_release(size_t cls, void *const *objs, size_t n)
{
    mp__central_decay();
    central_t *c = central_get(cls);
    LOCK(cls);
    c->out -= n;
    mp__stats_note(-(ptrdiff_t)(n * mp__class_size[cls]));
    size_t room = c->cap - c->nstack, m = n < room ? n : room;
    memcpy(c->stack + c->nstack, objs, m * sizeof *objs);
    c->nstack += m;
    mp_span_t *empty = NULL;
    if (m < n)
        spans_put(c, objs + m, n - m, &empty);
    UNLOCK(cls);
    spans_free(empty);
}

void mp__central_drain(void)
{
    for (size_t cls = 1; cls < MP_NUM_CLASSES; cls++) {
        central_t *c = central_get(cls);
        LOCK(cls);
        size_t n = c->nstack;
        c->nstack = 0;
        mp_span_t *empty = NULL;
        spans_put(c, c->stack, n, &empty);
        /* The spare kept by spans_put goes too. */
        take_spare(c, &empty);
        UNLOCK(cls);
        spans_free(empty);
    }
}

void mp__central_totals(size_t *out_bytes, size_t *cached_bytes)
{
    size_t out = 0, cached = 0;
    for (size_t cls = 1; cls < MP_NUM_CLASSES; cls++) {
        central_t *c = central_get(cls);
        LOCK(cls);
        out += c->out * mp__class_size[cls];
        cached += (c->span_free + c->nstack) * mp__class_size[cls];
        UNLOCK(cls);
    }
    *out_bytes = out;
    *cached_bytes = cached;
}

/* Class cls alone: objects out of central, and objects cached in it. */
void mp__central_class(size_t cls, size_t *out, size_t *cached)
{
    central_t *c = central_get(cls);
    LOCK(cls);
    *out = c->out;
    *cached = c->span_free + c->nstack;
    UNLOCK(cls);
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
