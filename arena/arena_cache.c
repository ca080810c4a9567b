/*
 * arena_cache.c - the chunk cache shared by every arena of the process.
 *
 * Chunks that arenas give back (destroy; reset and rewind beyond retain_bytes)
 * wait here, still mapped and poisoned, for the next arena_create or growth,
 * so a server that creates and destroys an arena per request makes no system
 * call and takes no page fault in steady state.  Two levels, as a thread-caching
 * malloc has: each thread keeps a few chunks of its own without a lock, over
 * one shared list behind a mutex.  One atomic counter holds the bytes of both
 * levels, so the bound (arena_set_cache_limit) is exact for every thread at
 * once.  Called by arena.c only; calls the OS layer only.
 */
#include "arena_internal.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>

/* Why these sizes: a per-request arena gives back one 64 KiB chunk and takes
 * one; four per thread absorb a burst without the lock, and chunks over
 * 256 KiB are rare enough that the shared list serves them well. */
#define TC_MAX_CHUNKS 4
#define TC_MAX_CHUNK ((size_t)256 * 1024)
#define CACHE_DEFAULT_LIMIT ((size_t)8 * 1024 * 1024)

typedef struct tcache {
    arena__chunk_t *top; /* linked through prev, newest first */
    size_t n;
    size_t bytes;
    bool registered; /* the thread-exit destructor will run */
    bool dead;       /* the destructor ran: everything goes to the shared list */
} tcache_t;

static _Thread_local tcache_t tc;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static arena__chunk_t *shared;        /* under lock */
static size_t shared_bytes;           /* under lock */
static _Atomic size_t shared_n;       /* a hint read without the lock */
static _Atomic size_t cached_bytes;   /* both levels, every thread */
static _Atomic size_t limit = CACHE_DEFAULT_LIMIT;

static pthread_once_t once = PTHREAD_ONCE_INIT;
static pthread_key_t tc_key;
static int tc_key_err;

/* ---- Unmapping ---- */

/* Unmap chunk c (its header is read first: unpoisoning marks it undefined
 * for Memcheck). */
static void os_release(arena__chunk_t *c)
{
    size_t size = c->size, map_size = c->map_size;
    /* Why unpoison: ASan's shadow outlives munmap, and the next mapping at this
     * address would inherit the poison. */
    ARENA__UNPOISON(c, size);
    ap__os_unmap(c, map_size);
}

void arena__cache_unmap(arena__chunk_t *c)
{
    os_release(c);
}

static size_t release_list(arena__chunk_t *c)
{
    size_t bytes = 0;
    while (c) {
        arena__chunk_t *next = c->prev;
        bytes += c->map_size;
        os_release(c);
        c = next;
    }
    return bytes;
}

/* ---- Fork and thread exit ---- */

/* Why: a fork while another thread holds the lock would leave the child a
 * lock nobody unlocks.  The other threads' own caches are lost to the child
 * (they may be mid-update); the counter forgets them, so the bound holds. */
static void before_fork(void) { pthread_mutex_lock(&lock); }
static void after_fork_parent(void) { pthread_mutex_unlock(&lock); }
static void after_fork_child(void)
{
    pthread_mutex_init(&lock, NULL);
    atomic_store_explicit(&cached_bytes, shared_bytes + tc.bytes, memory_order_relaxed);
}

/* At thread exit the thread's chunks go to the shared list, where other
 * threads can use them; chunks given back later (a scratch arena's destructor
 * may run after this one) go there directly. */
static void thread_exit(void *unused)
{
    (void)unused;
    tc.dead = true;
    if (tc.top == NULL)
        return;
    arena__chunk_t *last = tc.top;
    while (last->prev)
        last = last->prev;
    pthread_mutex_lock(&lock);
    last->prev = shared;
    shared = tc.top;
    shared_bytes += tc.bytes;
    atomic_fetch_add_explicit(&shared_n, tc.n, memory_order_relaxed);
    pthread_mutex_unlock(&lock);
    tc.top = NULL;
    tc.n = tc.bytes = 0;
}

static void init_once(void)
{
    tc_key_err = pthread_key_create(&tc_key, thread_exit);
    pthread_atfork(before_fork, after_fork_parent, after_fork_child);
}

/* ---- Take and give back ---- */

static bool fits(const arena__chunk_t *c, size_t min, size_t max, size_t guard)
{
    return c->size >= min && c->size <= max && c->map_size - c->size == guard;
}

/* Unlink the first chunk of *list that fits; NULL if none. */
static arena__chunk_t *take_from(arena__chunk_t **list, size_t min, size_t max, size_t guard)
{
    for (arena__chunk_t **pp = list; *pp; pp = &(*pp)->prev) {
        arena__chunk_t *c = *pp;
        if (fits(c, min, max, guard)) {
            *pp = c->prev;
            return c;
        }
    }
    return NULL;
}

arena__chunk_t *arena__cache_take(size_t min, size_t max, size_t guard)
{
    arena__chunk_t *c = NULL;
    if (!tc.dead && (c = take_from(&tc.top, min, max, guard)) != NULL) {
        tc.n--;
        tc.bytes -= c->map_size;
    } else if (atomic_load_explicit(&shared_n, memory_order_relaxed)) {
        pthread_mutex_lock(&lock);
        if ((c = take_from(&shared, min, max, guard)) != NULL) {
            shared_bytes -= c->map_size;
            atomic_fetch_sub_explicit(&shared_n, 1, memory_order_relaxed);
        }
        pthread_mutex_unlock(&lock);
    }
    if (c == NULL)
        return NULL;
    atomic_fetch_sub_explicit(&cached_bytes, c->map_size, memory_order_relaxed);
    c->prev = NULL;
    return c;
}

void arena__cache_put(arena__chunk_t *c)
{
    size_t ms = c->map_size;
    size_t lim = atomic_load_explicit(&limit, memory_order_relaxed);
    size_t now = atomic_fetch_add_explicit(&cached_bytes, ms, memory_order_relaxed) + ms;
    if (now > lim || now < ms) {
        atomic_fetch_sub_explicit(&cached_bytes, ms, memory_order_relaxed);
        os_release(c);
        return;
    }
    /* Cached chunks are poisoned whole (a destroyed arena's struct too), and
     * filled in debug builds, so a use after destroy is caught or visible. */
#if ARENAPOOL_DEBUG >= 2
    memset((char *)c + ARENA__CHUNK_HDR, 0xDF, c->size - ARENA__CHUNK_HDR);
#endif
    ARENA__POISON((char *)c + ARENA__CHUNK_HDR, c->size - ARENA__CHUNK_HDR);
    if (!tc.registered && !tc.dead) {
        pthread_once(&once, init_once);
        /* The key's value only has to be non-NULL for the destructor to run. */
        tc.registered = tc_key_err == 0 && pthread_setspecific(tc_key, &tc) == 0;
    }
    if (tc.registered && !tc.dead && tc.n < TC_MAX_CHUNKS && c->size <= TC_MAX_CHUNK) {
        c->prev = tc.top;
        tc.top = c;
        tc.n++;
        tc.bytes += ms;
        return;
    }
    pthread_mutex_lock(&lock);
    c->prev = shared;
    shared = c;
    shared_bytes += ms;
    atomic_fetch_add_explicit(&shared_n, 1, memory_order_relaxed);
    pthread_mutex_unlock(&lock);
}

/* Unmap the shared list down to `keep` bytes (oldest first would need a walk;
 * the newest go, which is as good: all are idle). */
static size_t shrink_shared(size_t keep)
{
    arena__chunk_t *drop = NULL;
    size_t n = 0;
    pthread_mutex_lock(&lock);
    while (shared && shared_bytes > keep) {
        arena__chunk_t *c = shared;
        shared = c->prev;
        shared_bytes -= c->map_size;
        c->prev = drop;
        drop = c;
        n++;
    }
    atomic_fetch_sub_explicit(&shared_n, n, memory_order_relaxed);
    pthread_mutex_unlock(&lock);
    size_t bytes = release_list(drop); /* outside the lock: munmap is slow */
    atomic_fetch_sub_explicit(&cached_bytes, bytes, memory_order_relaxed);
    return bytes;
}

size_t arena__cache_drop(void)
{
    size_t bytes = release_list(tc.top);
    tc.top = NULL;
    tc.n = tc.bytes = 0;
    atomic_fetch_sub_explicit(&cached_bytes, bytes, memory_order_relaxed);
    return bytes + shrink_shared(0);
}

/* ---- Public calls ---- */

size_t arena_trim(void) { return arena__cache_drop(); }

size_t arena_set_cache_limit(size_t bytes)
{
    size_t old = atomic_exchange_explicit(&limit, bytes, memory_order_relaxed);
    if (bytes < old) {
        if (tc.bytes > bytes) {
            size_t freed = release_list(tc.top);
            tc.top = NULL;
            tc.n = tc.bytes = 0;
            atomic_fetch_sub_explicit(&cached_bytes, freed, memory_order_relaxed);
        }
        shrink_shared(bytes > tc.bytes ? bytes - tc.bytes : 0);
    }
    return old;
}

size_t arena_cache_bytes(void) { return atomic_load_explicit(&cached_bytes, memory_order_relaxed); }
