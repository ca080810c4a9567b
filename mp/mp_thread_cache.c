/*
 * mp_thread_cache.c - the memory pool's top level: one cache per thread, a
 * bounded free list per size class, and the slow paths behind the inline pop
 * and push of mp_internal.h.
 *
 * A thread's TLS pointer starts at a static empty cache (every list empty,
 * every limit 0), so its first alloc or free falls into the slow path, which
 * creates the real cache; no "initialised?" test on the fast path.  At thread
 * exit a pthread key destructor gives the cache back and points the thread at
 * a second empty cache ("dead"), whose slow paths go straight to the central
 * lists.  Each class's list is a stack of pointers in an array carved for
 * the cache at creation (capacity: the most the list may ever grow to); lists
 * trade objects with mp_central.c by memcpy.  A list starts with a limit of 2
 * (slow start: a class used once costs one or two objects, not a batch) that
 * doubles up to the batch each time it runs dry or overflows, then grows a
 * batch at a time up to the class's limit; a list that keeps running dry
 * there grows further, up to its capacity, from a per-thread budget.
 * Under a memory checker no cache is created (mp_checker.c).
 */
#include "mp_internal.h"
#include "mp_checker.h"

#include <errno.h>
#include <string.h>

/* Why lists may grow past their static limit: a list that keeps running dry
 * may grow further (as tcmalloc's do, up to 8192 objects), so a program that
 * frees a large burst and then allocates it again keeps it in its own cache
 * instead of trading every batch with the central lists.  That growth is
 * charged to the thread's budget (MP_TC_BUDGET) like any other, and one list
 * grows to at most DYN_LIST_BYTES or DYN_MAX_OBJS objects: the arrays are
 * sized for that but only touched as far as used. */
#define DYN_MAX_OBJS 4096u
#define DYN_LIST_BYTES ((size_t)1 << 20)

static mp_tcache_t tc_empty; /* never written: every count and max 0 */
static mp_tcache_t tc_dead;  /* same, for threads past their destructor  */

_Thread_local mp_tcache_t *mp__tc MP__TLS_IE = &tc_empty;

static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static mp_tcache_t *reg_live; /* caches of running threads (for stats) */
static mp_tcache_t *reg_free; /* caches of exited threads, for reuse   */

static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static uint32_t bin_cap[MP_NUM_CLASSES];  /* capacity of each list's array */
static size_t store_len;                   /* pointers in a cache's store    */
static pthread_key_t tc_key;
static int key_ok;
static int atfork_state; /* 0 none, 1 registering, 2 done */


/* ---- Flushing ---- */

/* Move the n most recently pushed objects of bin b to the central level. */
static void release_n(mp_bin_t *b, size_t cls, size_t n)
{
    uint32_t left = b->count - (uint32_t)n;
    MP__STORE(&b->count, left);
    mp__central_release(cls, b->slots + left, n);
}

/* Set bin b's limit, keeping the cache's sum of limits above the start, in
 * bytes (every list starts at MP_TC_START, charged to no budget). */
static void set_max(mp_tcache_t *tc, mp_bin_t *b, size_t cls, uint32_t m)
{
    tc->cap_bytes = tc->cap_bytes - (size_t)b->max * mp__class_size[cls] + (size_t)m * mp__class_size[cls];
    b->max = m;
}

static void flush_cache(mp_tcache_t *tc)
{
    for (size_t cls = 1; cls < MP_NUM_CLASSES; cls++) {
        mp_bin_t *b = &tc->bins[cls];
        if (b->count)
            release_n(b, cls, b->count);
        b->max = MP_TC_START;
    }
    tc->cap_bytes = 0;
    memset(tc->flags, 0, sizeof tc->flags);
}

void mp__tcache_flush(void)
{
    mp_tcache_t *tc = mp__tc;
    if (tc != &tc_empty && tc != &tc_dead)
        flush_cache(tc);
}

/* Why decay: a thread that stops using a class keeps its list full until it
 * exits or trims.  At a slow-path call that trades with the central level
 * (a fetch, an overflow: the clock is read only there, since other slow
 * paths, such as a free on a page not yet marked, may run at every call of
 * a loop), once a decay period has passed, each list that took no slow path
 * in it gives half its objects back to the central level (which decays them
 * further); a list in use refills in one batch.  A thread that makes no call at all keeps its cache: no other
 * thread may touch its lists (the fast paths take no lock). */
#define TC_DECAY_MS 1000u

static void tc_decay(mp_tcache_t *tc)
{
    uint64_t now = mp__now_ms();
    if (now - tc->decay_stamp < TC_DECAY_MS)
        return;
    tc->decay_stamp = now;
    for (size_t cls = 1; cls < MP_NUM_CLASSES; cls++) {
        mp_bin_t *b = &tc->bins[cls];
        if (!(tc->flags[cls] & MP_TC_ACTIVE)) {
            if (b->count)
                release_n(b, cls, b->count - b->count / 2);
            /* its room in the budget goes to the lists in use */
            if (b->max > MP_TC_START)
                set_max(tc, b, cls, b->max / 2 > MP_TC_START ? b->max / 2 : MP_TC_START);
        }
        tc->flags[cls] &= (uint8_t)~MP_TC_ACTIVE;
    }
}

/* ---- Creation and thread exit ---- */

static void tc_destructor(void *arg)
{
    mp_tcache_t *tc = arg;
    mp__tc = &tc_dead;
    flush_cache(tc);
    pthread_mutex_lock(&reg_lock);
    if (tc->prev)
        tc->prev->next = tc->next;
    else
        reg_live = tc->next;
    if (tc->next)
        tc->next->prev = tc->prev;
    tc->prev = NULL;
    tc->next = reg_free;
    reg_free = tc;
    pthread_mutex_unlock(&reg_lock);
}

static void global_init(void)
{
    key_ok = pthread_key_create(&tc_key, tc_destructor) == 0;
    for (size_t cls = 1; cls < MP_NUM_CLASSES; cls++) {
        size_t cap = DYN_LIST_BYTES / mp__class_size[cls];
        if (cap > DYN_MAX_OBJS)
            cap = DYN_MAX_OBJS;
        if (cap < mp__class_limit[cls])
            cap = mp__class_limit[cls];
        bin_cap[cls] = (uint32_t)cap;
        store_len += cap;
    }
    mp__misuse_init();
}

static void register_atfork(void)
{
    /* Why not in global_init: pthread_atfork may call malloc, which would
     * re-enter pthread_once.  Registered by a constructor, while the process
     * is still single-threaded (a fork racing the first cache's creation in
     * another thread would otherwise copy a held lock into the child), and
     * again lazily in case malloc runs before constructors. */
    int expected = 0;
    if (__atomic_compare_exchange_n(&atfork_state, &expected, 1, false, __ATOMIC_ACQ_REL,
                                    __ATOMIC_RELAXED)) {
        pthread_atfork(mp__atfork_prepare, mp__atfork_parent, mp__atfork_child);
        __atomic_store_n(&atfork_state, 2, __ATOMIC_RELEASE);
    }
}

__attribute__((constructor)) static void mp_constructor(void)
{
    register_atfork();
}

static mp_tcache_t *tc_create(void)
{
    pthread_once(&global_once, global_init);
    pthread_mutex_lock(&reg_lock);
    mp_tcache_t *tc = reg_free;
    if (tc)
        reg_free = tc->next;
    pthread_mutex_unlock(&reg_lock);
    if (!tc && !(tc = mp__meta_alloc(sizeof *tc)))
        return NULL;
    void **store = tc->store; /* a reused cache keeps its arrays */
    memset(tc, 0, sizeof *tc);
    if (!store && !(store = mp__meta_alloc(store_len * sizeof *store))) {
        pthread_mutex_lock(&reg_lock);
        tc->next = reg_free;
        reg_free = tc;
        pthread_mutex_unlock(&reg_lock);
        return NULL;
    }
    tc->store = store;
    tc->decay_stamp = mp__now_ms();
    for (size_t cls = 1; cls < MP_NUM_CLASSES; cls++) {
        tc->bins[cls].slots = store;
        tc->bins[cls].max = MP_TC_START;
        tc->bins[cls].divc = mp__class_divc[cls];
        store += bin_cap[cls];
    }
    pthread_mutex_lock(&reg_lock);
    tc->next = reg_live;
    if (reg_live)
        reg_live->prev = tc;
    reg_live = tc;
    pthread_mutex_unlock(&reg_lock);
    /* The TLS pointer first: pthread_setspecific may allocate (keys >= 32). */
    mp__tc = tc;
    if (key_ok)
        pthread_setspecific(tc_key, tc);
    register_atfork();
    return tc;
}

/* ---- Slow paths ---- */

static void grow_limit(mp_tcache_t *tc, mp_bin_t *b, size_t cls)
{
    uint32_t lim = mp__class_limit[cls], batch = mp__class_batch[cls];
    uint32_t m = b->max < batch ? b->max * 2 : b->max + batch;
    if (m > lim)
        m = lim;
    size_t size = mp__class_size[cls], room = MP_TC_BUDGET > tc->cap_bytes ? MP_TC_BUDGET - tc->cap_bytes : 0;
    if (m > b->max && (size_t)(m - b->max) * size > room)
        m = b->max + (uint32_t)(room / size);
    if (m > b->max)
        set_max(tc, b, cls, m);
}

/* A list that ran dry at its static limit: grow it from the thread's budget.
 * Why only a list that has also overflowed: the budget pays off for a thread
 * that frees a burst and allocates it again; a thread that only allocates
 * (a producer whose blocks another thread frees) gains nothing from a longer
 * list but would hold up to the whole budget in fetched, untouched objects. */
static void grow_dynamic(mp_tcache_t *tc, mp_bin_t *b, size_t cls)
{
    uint32_t lim = mp__class_limit[cls], batch = mp__class_batch[cls];
    if (!(tc->flags[cls] & MP_TC_SPILLED) || b->max < lim || b->max + batch > bin_cap[cls])
        return;
    size_t cost = (size_t)batch * mp__class_size[cls];
    if (tc->cap_bytes + cost > MP_TC_BUDGET)
        return;
    set_max(tc, b, cls, b->max + batch);
}

AP__NOINLINE void *mp__alloc_slow(size_t cls)
{
    mp_tcache_t *tc = mp__tc;
    void *p = NULL;
    /* Under a checker the thread keeps the empty cache (mp_checker.c). */
    if (tc == &tc_empty && (ap__checker() || !(tc = tc_create())))
        tc = &tc_dead;
    if (tc == &tc_dead) {
        if (mp__central_fetch(cls, &p, 1) == 0) {
            errno = ENOMEM;
            return NULL;
        }
        goto out;
    }
    tc->flags[cls] |= MP_TC_ACTIVE;
    mp_bin_t *b = &tc->bins[cls];
    if (b->count) { /* a fresh cache may have been filled by a recursive call */
        MP__STORE(&b->count, b->count - 1);
        p = b->slots[b->count];
        goto out;
    }
    /* Demand adapts the batch: a list that keeps running dry fetches more.
     * Why not a list that has never overflowed: its thread only allocates
     * (what it frees comes back through another thread), so a bigger fetch
     * saves a lock per batch but keeps that much more memory in flight. */
    size_t batch = mp__class_batch[cls];
    size_t n = b->max < batch ? b->max
               : !(tc->flags[cls] & MP_TC_SPILLED) || b->max / 2 <= batch ? batch
                                                           : (b->max / 2 / batch) * batch;
    tc_decay(tc); /* the clock only where the cache trades with central */
    size_t got = mp__central_fetch(cls, b->slots, n);
    if (got == 0) {
        errno = ENOMEM;
        return NULL;
    }
    p = b->slots[got - 1];
    MP__STORE(&b->count, (uint32_t)(got - 1));
    grow_dynamic(tc, b, cls);
    grow_limit(tc, b, cls);
out:
    if (AP__UNLIKELY(ap__checker()))
        mp__checker_alloc(p, cls);
#if MP_FAST_CHECKS
    ((uintptr_t *)p)[1] = 0; /* no longer free: clear the key */
#endif
    return p;
}

/* ---- Misuse: confirming what the key suggests ---- */

/* Is p on the list of class cls of cache tc?  Why atomic loads: another
 * thread's cache is read without its owner's cooperation (a report path
 * only); a stale view can only miss a block, and a block missed here is one
 * whose key was found, which a correct program never shows. */
static bool bin_holds(mp_tcache_t *tc, size_t cls, const void *p)
{
    mp_bin_t *b = &tc->bins[cls];
    uint32_t n = MP__LOAD(&b->count);
    void **slots = MP__LOAD(&b->slots);
    for (uint32_t i = 0; slots && i < n; i++)
        if (MP__LOAD(&slots[i]) == p)
            return true;
    return false;
}

static bool other_caches_hold(size_t cls, const void *p)
{
    bool held = false;
    pthread_mutex_lock(&reg_lock);
    for (mp_tcache_t *tc = reg_live; tc && !held; tc = tc->next)
        held = tc != mp__tc && bin_holds(tc, cls, p);
    pthread_mutex_unlock(&reg_lock);
    return held;
}

/* Why confirm: the key is a hint.  A block is reported only where it is
 * found free: this thread's cache, the central level (its transfer stack, or
 * its span's bitmap, which also knows the bytes past the last object), or
 * another thread's cache.  Found nowhere, it is a live block whose second
 * word happens to hold the value, and freeing it is correct. */
bool mp__small_live(const void *p, size_t cls)
{
    if (((const uintptr_t *)p)[1] != mp__key(p))
        return true;
    int held = bin_holds(mp__tc, cls, p) ? 1 : mp__central_holds(cls, p);
    if (held == 0 && other_caches_hold(cls, p))
        held = 1;
    if (held == 0)
        return true;
    mp__misuse(held > 0 ? "double free" : "free of a pointer not allocated by arenapool", p);
    return false;
}

bool mp__small_verify(const void *p, uint32_t m)
{
    if (mp__off_bad(p, m)) {
        mp__misuse("free of a pointer inside a block", p);
        return false;
    }
    return mp__small_live(p, mp__meta_cls(m));
}

/* Push p, a checked block of class cls, on this thread's list. */
static void push_slow(void *p, size_t cls);

void mp__free_suspect(void *p, uint32_t m)
{
    if (mp__small_verify(p, m))
        push_slow(p, mp__meta_cls(m));
}

void mp__free_nonsmall(void *p)
{
    size_t cls;
    mp_span_t *s = mp__large_find(p, &cls);
    if (s)
        mp__large_free(s, p);
    else if (cls != 0 && mp__small_live(p, cls))
        push_slow(p, cls); /* a block on a page marked meanwhile */
}

AP__NOINLINE void mp__free_slow(void *p, size_t cls)
{
    if (cls == 0) { /* NULL, a large block, a page not yet marked, or not ours */
        mp__free_nonsmall(p);
        return;
    }
    /* The checks of the inline free, for the paths that reach here first
     * (a full list, a new thread, mp_free_sized).  Why the page map again:
     * mp_free_sized trusts the caller's size; here it costs nothing. */
#if MP_FAST_CHECKS
    uint32_t m = mp__meta_at(p);
    if (AP__UNLIKELY(mp__meta_cls(m) != cls)) {
        if (mp__meta_cls(m) == 0) { /* a page never marked: the exact look */
            mp__free_nonsmall(p);
            return;
        }
        mp__misuse("mp_free_sized: size does not match the block", p);
        return;
    }
    if (AP__UNLIKELY(!mp__small_ok(p, m)) && !mp__small_verify(p, m))
        return;
#endif
    push_slow(p, cls);
}

static void push_slow(void *p, size_t cls)
{
#if MP_FAST_CHECKS
    ((uintptr_t *)p)[1] = mp__key(p);
#endif
    mp_tcache_t *tc = mp__tc;
    if (tc == &tc_empty && (ap__checker() || !(tc = tc_create())))
        tc = &tc_dead;
    if (tc == &tc_dead) {
        if (AP__UNLIKELY(ap__checker()))
            mp__checker_free(p, cls);
        mp__central_release(cls, &p, 1);
        return;
    }
    tc->flags[cls] |= MP_TC_ACTIVE;
    mp_bin_t *b = &tc->bins[cls];
    if (b->count < b->max) { /* a fresh cache: the fast path saw max 0 */
        b->slots[b->count] = p;
        MP__STORE(&b->count, b->count + 1);
        return;
    }
    /* Why overflow grows the limit only up to a batch (slow start): past
     * that, a list that keeps overflowing belongs to a thread that frees
     * more than it allocates (a consumer of another thread's blocks); a
     * longer list would only park memory that the allocating thread then
     * has to carve afresh.  Running dry grows it (mp__alloc_slow). */
    tc_decay(tc);
    size_t batch = mp__class_batch[cls];
    size_t held = (size_t)b->count + 1;
    release_n(b, cls, held > batch ? batch : held / 2);
    b->slots[b->count] = p;
    MP__STORE(&b->count, b->count + 1);
    if (b->max < batch)
        grow_limit(tc, b, cls);
    tc->flags[cls] |= MP_TC_SPILLED;
}

/* ---- Stats ---- */

size_t mp__tcache_bytes(void)
{
    size_t bytes = 0;
    pthread_mutex_lock(&reg_lock);
    for (mp_tcache_t *tc = reg_live; tc; tc = tc->next)
        for (size_t cls = 1; cls < MP_NUM_CLASSES; cls++)
            bytes += (size_t)MP__LOAD(&tc->bins[cls].count) * mp__class_size[cls];
    pthread_mutex_unlock(&reg_lock);
    return bytes;
}

/* counts[cls] += objects of class cls in every live thread cache. */
void mp__tcache_counts(size_t counts[MP_NUM_CLASSES])
{
    pthread_mutex_lock(&reg_lock);
    for (mp_tcache_t *tc = reg_live; tc; tc = tc->next)
        for (size_t cls = 1; cls < MP_NUM_CLASSES; cls++)
            counts[cls] += MP__LOAD(&tc->bins[cls].count);
    pthread_mutex_unlock(&reg_lock);
}

/* ---- fork ---- */

/* Why every lock: the child has one thread; a lock another thread held at the
 * fork would never be released there. */
void mp__atfork_prepare(void)
{
    pthread_mutex_lock(&reg_lock);
    mp__central_lock_all();
    mp__page_lock_all();
}

void mp__atfork_parent(void)
{
    mp__page_unlock_all();
    mp__central_unlock_all();
    pthread_mutex_unlock(&reg_lock);
}

void mp__atfork_child(void)
{
    mp__page_reinit_locks();
    mp__central_reinit_locks();
    pthread_mutex_init(&reg_lock, NULL);
}
