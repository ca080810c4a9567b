/*
 * arena.c - arena lifetime, the allocation slow path, marks and rewind,
 * reset, deferred callbacks and statistics.
 *
 * Invariants: h.cur and h.end are ARENA_ALIGN aligned and lie in `chunk`;
 * chunks in use form a stack (chunk -> prev -> ... -> first) in allocation
 * order; mark records and deferred callbacks live in the arena, each stack
 * ordered newest first, so a rewind pops exactly what its scope created.
 * Memory not handed out is poisoned (ASan / Memcheck, found at run time by
 * ap_checker.c); with a checker present h.end is kept equal to h.cur, so the
 * inline arena_alloc always calls in here (see hide_room).  Chunks come from
 * and go back to the chunk cache (arena_cache.c); a child is tied to its
 * parent by a deferred callback in the parent.  Called by users and by pool.c.
 */
#include "arena_internal.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#if ARENAPOOL_DEBUG
#include <pthread.h>
#endif

#define FILL_ALLOC 0xD0
#define FILL_FREE 0xDF

static size_t page_size(void) { return ap__os_page_size(); }

/* ---- Debug registry of live handles ---- */

#if ARENAPOOL_DEBUG
/* Why a registry: a destroyed arena's memory (and every pool in it) is
 * unmapped, so reading its magic number would fault instead of reporting.
 * An open-addressing set of (address | kind), in pages from the OS layer (it
 * must not allocate through malloc), behind one lock: debug builds only. */
#define REG_EMPTY ((uintptr_t)0)
#define REG_GONE ((uintptr_t)1)

static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static uintptr_t *reg;
static size_t reg_cap, reg_live, reg_gone;

/* Why: a fork while another thread holds the lock would leave the child a
 * lock nobody unlocks; the table itself is consistent under the lock. */
static pthread_once_t reg_once = PTHREAD_ONCE_INIT;
static void reg_before_fork(void) { pthread_mutex_lock(&reg_lock); }
static void reg_after_fork(void) { pthread_mutex_unlock(&reg_lock); }
static void reg_after_fork_child(void) { pthread_mutex_init(&reg_lock, NULL); }
static void reg_init(void) { pthread_atfork(reg_before_fork, reg_after_fork, reg_after_fork_child); }

static void reg_lock_now(void)
{
    pthread_once(&reg_once, reg_init);
    pthread_mutex_lock(&reg_lock);
}

static size_t reg_home(uintptr_t key, size_t cap)
{
    return (size_t)(((uint64_t)key * 0x9E3779B97F4A7C15ull) >> 17) & (cap - 1);
}

static void reg_put(uintptr_t *tab, size_t cap, uintptr_t key)
{
    size_t i = reg_home(key, cap);
    while (tab[i] != REG_EMPTY && tab[i] != REG_GONE)
        i = (i + 1) & (cap - 1);
    tab[i] = key;
}

/* Keep the table at most half full (tombstones count); 0 or ENOMEM. */
static int reg_make_room(void)
{
    if ((reg_live + reg_gone + 1) * 2 <= reg_cap)
        return 0;
    size_t cap = reg_cap ? reg_cap : 512;
    while ((reg_live + 1) * 4 > cap)
        cap *= 2;
    size_t bytes = ARENA__ROUND_UP(cap * sizeof(uintptr_t), page_size());
    void *mem;
    int err = ap__os_map(bytes, &mem);
    if (err)
        return (reg_live + reg_gone + 1 < reg_cap) ? 0 : err;
    uintptr_t *tab = mem;
    for (size_t i = 0; i < reg_cap; i++)
        if (reg[i] != REG_EMPTY && reg[i] != REG_GONE)
            reg_put(tab, cap, reg[i]);
    if (reg)
        ap__os_unmap(reg, ARENA__ROUND_UP(reg_cap * sizeof(uintptr_t), page_size()));
    reg = tab;
    reg_cap = cap;
    reg_gone = 0;
    return 0;
}

static size_t reg_find(uintptr_t key)
{
    if (reg_cap == 0)
        return SIZE_MAX;
    for (size_t i = reg_home(key, reg_cap);; i = (i + 1) & (reg_cap - 1)) {
        if (reg[i] == key)
            return i;
        if (reg[i] == REG_EMPTY)
            return SIZE_MAX;
    }
}

int arena__debug_reserve(void)
{
    reg_lock_now();
    int err = reg_make_room();
    pthread_mutex_unlock(&reg_lock);
    return err;
}

int arena__debug_track(const void *h, unsigned kind, int live)
{
    uintptr_t key = (uintptr_t)h | kind;
    int err = 0;
    reg_lock_now();
    size_t i = reg_find(key);
    if (live && i == SIZE_MAX) {
        err = reg_make_room();
        if (err == 0) {
            reg_put(reg, reg_cap, key);
            reg_live++;
        }
    } else if (!live && i != SIZE_MAX) {
        reg[i] = REG_GONE;
        reg_live--;
        reg_gone++;
    }
    pthread_mutex_unlock(&reg_lock);
    return err;
}

int arena__debug_alive(const void *h, unsigned kind)
{
    reg_lock_now();
    int alive = reg_find((uintptr_t)h | kind) != SIZE_MAX;
    pthread_mutex_unlock(&reg_lock);
    return alive;
}
#endif

/* Why not always abort: release builds give API misuse a defined answer
 * (EINVAL); debug builds stop the program at the bug. */
static bool arena_ok(const arena_t *a)
{
    if (ARENA__UNLIKELY(a == NULL))
        return false;
#if ARENAPOOL_DEBUG
    if (!arena__debug_alive(a, ARENA__KIND_ARENA))
        ap__os_fatal("use of a destroyed or invalid arena", "arena", a, NULL, NULL);
#endif
    if (ARENA__UNLIKELY(a->h.magic != ARENA__MAGIC)) {
        if (ARENAPOOL_DEBUG)
            ap__os_fatal("use of a destroyed or invalid arena", "arena", a, NULL, NULL);
        return false;
    }
    return true;
}

/* Why refuse: a deferred callback runs while its scope is being torn down;
 * destroying, resetting, rewinding, marking or deferring on the same arena
 * from inside it would pull the memory and the callback list from under the
 * teardown that called it.  True (errno = EINVAL) when called from one. */
static bool in_own_callback(const arena_t *a, const char *what)
{
    if (ARENA__LIKELY(a->running == 0))
        return false;
    if (ARENAPOOL_DEBUG)
        ap__os_fatal(what, "arena", a, NULL, NULL);
    errno = EINVAL;
    return true;
}

static size_t used_now(const arena_t *a)
{
    return a->used_before + (size_t)(a->h.cur - a->chunk->start);
}

static void note_peak(arena_t *a)
{
    size_t u = used_now(a);
    if (u > a->peak)
        a->peak = u;
}

static char *chunk_end(const arena__chunk_t *c) { return (char *)c + c->size; }

/* Mark [p, end) as no longer handed out: fill in debug builds, then poison. */
static void release_range(char *p, char *end)
{
    if (end <= p)
        return;
#if ARENAPOOL_DEBUG >= 2
    memset(p, FILL_FREE, (size_t)(end - p));
#endif
    ARENA__POISON(p, (size_t)(end - p));
}

#if ARENAPOOL_DEBUG >= 3
static void check_invariants(const arena_t *a)
{
    size_t n = 0, mapped = 0, spare = 0;
    char *end = ap__checker() ? a->h.cur : chunk_end(a->chunk);
    bool cur_in_chunk = a->h.cur >= a->chunk->start && a->h.cur <= chunk_end(a->chunk) &&
                        a->h.end == end;
    if (!cur_in_chunk || ((uintptr_t)a->h.cur & (ARENA_ALIGN - 1)))
        ap__os_fatal("arena cursor outside its chunk", "arena", a, "cur", a->h.cur);
    const arena__chunk_t *c = a->chunk;
    for (; c; c = c->prev) {
        n++, mapped += c->map_size;
        if (c->prev == NULL && c != a->first)
            ap__os_fatal("arena chunk chain does not end at the first chunk", "arena", a,
                         "chunk", c);
    }
    for (c = a->spare; c; c = c->prev)
        n++, mapped += c->map_size, spare += c->map_size;
    if (n != a->nchunks || mapped != a->mapped || spare != a->spare_bytes)
        ap__os_fatal("arena chunk accounting is inconsistent", "arena", a, NULL, NULL);
}
#define CHECK_INVARIANTS(a) check_invariants(a)
#else
#define CHECK_INVARIANTS(a) ((void)0)
#endif

/* ---- Chunks ---- */

/* Chunk c leaves the arena for the chunk cache (which may unmap it). */
static void unmap_chunk(arena_t *a, arena__chunk_t *c)
{
    a->mapped -= c->map_size;
    a->nchunks--;
    arena__cache_put(c);
}

static size_t guard_size(unsigned flags) { return (flags & ARENA_F_GUARD) ? page_size() : 0; }

/* Map `total` bytes; on ENOMEM empty the chunk cache and try once more.  Why:
 * idle cached chunks must never be the reason a program runs out of memory. */
static int os_map(size_t total, void **p)
{
    int err = ap__os_map(total, p);
    if (err == ENOMEM && arena__cache_drop() > 0)
        err = ap__os_map(total, p);
    return err;
}

/* A cached chunk of [min, max] bytes with this arena's guard, counted as held. */
static arena__chunk_t *take_cached(arena_t *a, size_t min, size_t max)
{
    arena__chunk_t *c = arena__cache_take(min, max, guard_size(a->flags));
    if (c) {
        c->start = (char *)c + ARENA__CHUNK_HDR;
        a->mapped += c->map_size;
        a->nchunks++;
    }
    return c;
}

/* Map a chunk of `size` bytes (plus a guard page if asked), within max_bytes;
 * a cached one of that size first. */
static int map_chunk(arena_t *a, size_t size, arena__chunk_t **out)
{
    size_t guard = guard_size(a->flags);
    size_t total = size + guard;
    if (a->max_bytes && (a->mapped > a->max_bytes || total > a->max_bytes - a->mapped))
        return ENOMEM;
    arena__chunk_t *c = take_cached(a, size, size);
    if (c == NULL) {
        void *p;
        int err = os_map(total, &p);
        if (err)
            return err;
        if (guard && ap__os_protect_none((char *)p + size, guard)) {
            ap__os_unmap(p, total);
            return ENOMEM;
        }
        c = p;
        c->prev = NULL;
        c->start = (char *)p + ARENA__CHUNK_HDR;
        c->size = size;
        c->map_size = total;
        a->nmmaps++;
        a->mapped += total;
        a->nchunks++;
    }
    ARENA__POISON(c->start, size - ARENA__CHUNK_HDR);
    *out = c;
    return 0;
}

static void release_spares(arena_t *a)
{
    while (a->spare) {
        arena__chunk_t *c = a->spare;
        a->spare = c->prev;
        a->spare_bytes -= c->map_size;
        unmap_chunk(a, c);
    }
}

/* A chunk with room for `need` data bytes: a retained one if one fits, else a
 * new mapping.  Ordinary requests get the next size of the geometric sequence;
 * a larger request gets a chunk of its own size and leaves the sequence alone. */
static arena__chunk_t *acquire_chunk(arena_t *a, size_t need)
{
    for (arena__chunk_t **pp = &a->spare; *pp; pp = &(*pp)->prev) {
        arena__chunk_t *c = *pp;
        if (c->size - ARENA__CHUNK_HDR >= need) {
            *pp = c->prev;
            a->spare_bytes -= c->map_size;
            c->prev = NULL;
            return c;
        }
    }
    size_t ps = page_size();
    if (need > SIZE_MAX - ARENA__CHUNK_HDR - 2 * ps) {
        errno = ENOMEM;
        return NULL;
    }
    size_t min = ARENA__ROUND_UP(ARENA__CHUNK_HDR + need, ps);
    bool ordinary = a->next_size >= min;
    size_t want = ordinary ? a->next_size : min;
    if (a->max_bytes) {
        size_t guard = guard_size(a->flags);
        size_t room = a->max_bytes > a->mapped ? a->max_bytes - a->mapped : 0;
        if (room < min + guard && a->spare) {
            /* Why: spares too small for this request still count against the
             * cap; give them back rather than fail.  But only when that makes
             * the request fit: a call that fails anyway must leave them. */
            size_t held = a->mapped - a->spare_bytes;
            size_t all = a->max_bytes > held ? a->max_bytes - held : 0;
            if (all < min + guard) {
                errno = ENOMEM;
                return NULL;
            }
            release_spares(a);
            room = a->max_bytes > a->mapped ? a->max_bytes - a->mapped : 0;
        }
        room = room > guard ? (room - guard) & ~(ps - 1) : 0;
        if (want > room)
            want = room;
        if (want < min) {
            errno = ENOMEM;
            return NULL;
        }
    }
    arena__chunk_t *c = take_cached(a, min, want);
    int err = c ? 0 : map_chunk(a, want, &c);
    if (err && want > min)
        err = map_chunk(a, min, &c);
    if (err) {
        errno = err;
        return NULL;
    }
    if (ordinary && c->size == a->next_size && a->next_size < ARENA__MAX_GROWTH)
        a->next_size *= 2;
    return c;
}

/* Put a chunk that left use on the spare stack (retained, poisoned). */
static void push_spare(arena_t *a, arena__chunk_t *c)
{
    release_range(c->start, chunk_end(c));
    c->prev = a->spare;
    a->spare = c;
    a->spare_bytes += c->map_size;
}

/* Keep at most retain_bytes of spares: those reused first stay. */
static void trim_spares(arena_t *a)
{
    size_t kept = 0;
    arena__chunk_t **pp = &a->spare;
    while (*pp) {
        arena__chunk_t *c = *pp;
        if (c->map_size <= a->retain_bytes - kept) {
            kept += c->map_size;
            pp = &c->prev;
            continue;
        }
        *pp = c->prev;
        a->spare_bytes -= c->map_size;
        unmap_chunk(a, c);
    }
}

/* Why coalesce: after a reset, one retained chunk as large as all of them lets
 * the next frame of the same size hop only once (from the first chunk, which
 * holds the arena, into it), and makes the loop reach a state with no
 * mmap/munmap at all (Zig's retain_capacity idea).  Why not skip the first
 * chunk altogether: measured, it cost more mappings and memory while frames
 * grew, for no speed gain. */
static void coalesce_spares(arena_t *a)
{
    if (a->spare == NULL || a->spare->prev == NULL)
        return;
    size_t data = 0;
    for (arena__chunk_t *c = a->spare; c; c = c->prev)
        data += c->size - ARENA__CHUNK_HDR;
    release_spares(a);
    size_t ps = page_size(), guard = guard_size(a->flags);
    size_t want = ARENA__ROUND_UP(ARENA__CHUNK_HDR + data, ps);
    if (a->retain_bytes != ARENA_RETAIN_ALL && want + guard > a->retain_bytes)
        want = a->retain_bytes > guard ? (a->retain_bytes - guard) & ~(ps - 1) : 0;
    if (want <= ARENA__CHUNK_HDR)
        return;
    arena__chunk_t *c;
    if (map_chunk(a, want, &c) == 0)
        push_spare(a, c);
}

/* ---- Allocation ---- */

/* Why hide the room from the inline arena_alloc when a checker watches: the
 * program's inline code cannot poison or unpoison (it does not know the
 * checker is there, and must not guess from its own compile flags, which
 * need not match the library's), so every allocation must come here.  With
 * h.end == h.cur the inline test sees no room for any size above 0, and
 * costs nothing more without a checker.  The real end is always
 * chunk_end(a->chunk).  Called after every change of h.cur. */
static void hide_room(arena_t *a)
{
    if (AP__UNLIKELY(ap__checker()))
        a->h.end = a->h.cur;
}

/* Bump p (aligned, known to fit) past size bytes. */
static void *bump_at(arena_t *a, char *p, size_t size)
{
    a->h.cur = p + ARENA__ROUND_UP(size, ARENA_ALIGN);
    hide_room(a);
    ARENA__UNPOISON(p, size);
    return p;
}

AP__NOINLINE AP__COLD void *arena__alloc_slow(arena_t *a, size_t size, size_t align)
{
    uintptr_t cur = (uintptr_t)a->h.cur, end = (uintptr_t)chunk_end(a->chunk);
    uintptr_t p = (cur + (align - 1)) & ~(uintptr_t)(align - 1);
    if (p >= cur && p <= end && size <= end - p)
        return bump_at(a, (char *)p, size);

    /* The data start of a chunk is ARENA_ALIGN aligned, so a larger alignment
     * costs at most align - ARENA_ALIGN bytes of padding. */
    size_t pad = align > ARENA_ALIGN ? align - ARENA_ALIGN : 0;
    if (size > SIZE_MAX / 2 || pad > SIZE_MAX / 2) {
        errno = ENOMEM;
        return NULL;
    }
    arena__chunk_t *c = acquire_chunk(a, size + pad);
    if (c == NULL)
        return NULL;
    a->used_before += (size_t)(a->h.cur - a->chunk->start);
    c->prev = a->chunk;
    a->chunk = c;
    a->h.cur = c->start;
    a->h.end = chunk_end(c);
    p = ((uintptr_t)c->start + (align - 1)) & ~(uintptr_t)(align - 1);
    void *r = bump_at(a, (char *)p, size);
    CHECK_INVARIANTS(a);
    return r;
}

/* The library's own allocations (mark records, callbacks): no debug fill. */
static void *raw_alloc(arena_t *a, size_t size)
{
    char *p = a->h.cur;
    if (size > (size_t)(chunk_end(a->chunk) - p))
        return arena__alloc_slow(a, size, ARENA_ALIGN);
    return bump_at(a, p, size);
}

static void *fill_new(void *p, size_t size)
{
#if ARENAPOOL_DEBUG >= 2
    if (p)
        memset(p, FILL_ALLOC, size);
#else
    (void)size;
#endif
    return p;
}

/* Debug builds: allocating inside one of the arena's own callbacks hands out
 * memory that the scope being ended releases right after. */
static void check_not_running(const arena_t *a)
{
    if (ARENAPOOL_DEBUG && a->running)
        ap__os_fatal("allocation from inside one of the arena's own deferred callbacks",
                     "arena", a, NULL, NULL);
}

void *arena__alloc_checked(arena_t *a, size_t size)
{
#if ARENAPOOL_DEBUG
    if (a == NULL || !arena__debug_alive(a, ARENA__KIND_ARENA) || a->h.magic != ARENA__MAGIC)
#else
    if (a == NULL || a->h.magic != ARENA__MAGIC)
#endif
        ap__os_fatal("arena_alloc on a NULL, destroyed or invalid arena", "arena", a, NULL,
                     NULL);
    check_not_running(a);
    return fill_new(raw_alloc(a, size), size);
}

void *arena_alloc_aligned(arena_t *a, size_t size, size_t align)
{
    if (!arena_ok(a) || align == 0 || (align & (align - 1))) {
        errno = EINVAL;
        return NULL;
    }
    check_not_running(a);
    /* cur is always ARENA_ALIGN aligned: smaller alignments take the bump. */
    if (align <= ARENA_ALIGN)
        return fill_new(raw_alloc(a, size), size);
    return fill_new(arena__alloc_slow(a, size, align), size);
}

void *arena_calloc_aligned(arena_t *a, size_t n, size_t size, size_t align)
{
    if (size && n > SIZE_MAX / size) {
        errno = ENOMEM;
        return NULL;
    }
    void *p = arena_alloc_aligned(a, n * size, align);
    if (p)
        memset(p, 0, n * size);
    return p;
}

void *arena_calloc(arena_t *a, size_t n, size_t size)
{
    return arena_calloc_aligned(a, n, size, ARENA_ALIGN);
}

/* Resize p (see arena_realloc); the result is aligned to `align` (a power of
 * two): p is kept only if it already is. */
static void *realloc_to(arena_t *a, char *p, size_t old_size, size_t new_size, size_t align)
{
    check_not_running(a);
    if (p == NULL || ((uintptr_t)p & (align - 1))) {
        char *q = align <= ARENA_ALIGN ? raw_alloc(a, new_size)
                                       : arena__alloc_slow(a, new_size, align);
        if (q == NULL || p == NULL)
            return fill_new(q, new_size);
        size_t keep = old_size < new_size ? old_size : new_size;
        memcpy(q, p, keep);
        fill_new(q + keep, new_size - keep);
        return q;
    }
    bool newest = old_size <= SIZE_MAX - ARENA_ALIGN && p >= a->chunk->start &&
                  p + ARENA__ROUND_UP(old_size, ARENA_ALIGN) == a->h.cur;
    if (newest && new_size <= (size_t)(chunk_end(a->chunk) - p)) {
        /* In place: grow into the free tail, or give a shrink's tail back
         * (after noting the peak, which the lower cursor would hide). */
        note_peak(a);
        char *old_end = a->h.cur;
        a->h.cur = p + ARENA__ROUND_UP(new_size, ARENA_ALIGN);
        hide_room(a);
        if (new_size > old_size)
            ARENA__UNPOISON(p + old_size, new_size - old_size); /* kept bytes stay defined */
        else
            release_range(a->h.cur, old_end);
        ARENA__POISON(p + new_size, (size_t)(a->h.cur - (p + new_size)));
        return p;
    }
    if (new_size <= old_size) {
        ARENA__POISON(p + new_size, old_size - new_size);
        return p;
    }
    char *q = align <= ARENA_ALIGN ? raw_alloc(a, new_size) : arena__alloc_slow(a, new_size, align);
    if (q == NULL)
        return NULL;
    memcpy(q, p, old_size);
    fill_new(q + old_size, new_size - old_size);
    return q;
}

void *arena_realloc(arena_t *a, void *ptr, size_t old_size, size_t new_size)
{
    if (!arena_ok(a)) {
        errno = EINVAL;
        return NULL;
    }
    /* Why keep the alignment of p: a block asked for with arena_alloc_aligned
     * must not quietly lose it when it moves.  The arena does not remember what
     * was asked, so take the largest power of two dividing p; why at most
     * ARENA_REALLOC_KEEP_ALIGN: an ordinary block that happens to sit on a
     * large boundary should not pay more than that in padding when it moves. */
    uintptr_t low = (uintptr_t)ptr & -(uintptr_t)ptr;
    size_t align = ptr == NULL || low > ARENA_REALLOC_KEEP_ALIGN ? ARENA_REALLOC_KEEP_ALIGN
                                                                 : (size_t)low;
    if (ptr == NULL || align < ARENA_ALIGN)
        align = ARENA_ALIGN;
    return realloc_to(a, ptr, old_size, new_size, align);
}

void *arena_realloc_aligned(arena_t *a, void *ptr, size_t old_size, size_t new_size, size_t align)
{
    if (!arena_ok(a) || align == 0 || (align & (align - 1))) {
        errno = EINVAL;
        return NULL;
    }
    return realloc_to(a, ptr, old_size, new_size, align < ARENA_ALIGN ? ARENA_ALIGN : align);
}

char *arena_strndup(arena_t *a, const char *s, size_t n)
{
    if (s == NULL) {
        errno = EINVAL;
        return NULL;
    }
    size_t len = strnlen(s, n);
    char *p = arena_alloc_aligned(a, len + 1, 1);
    if (p) {
        memcpy(p, s, len);
        p[len] = '\0';
    }
    return p;
}

char *arena_strdup(arena_t *a, const char *s)
{
    return arena_strndup(a, s, SIZE_MAX);
}

char *arena_vsprintf(arena_t *a, const char *fmt, va_list ap)
{
    if (!arena_ok(a) || fmt == NULL) {
        errno = EINVAL;
        return NULL;
    }
    check_not_running(a);
    /* Format straight into the chunk's free tail; only when it does not fit,
     * measure and format again into a fresh block. */
    char *cur = a->h.cur;
    size_t avail = (size_t)(chunk_end(a->chunk) - cur);
    va_list ap2;
    va_copy(ap2, ap);
    ARENA__UNPOISON(cur, avail);
    int n = vsnprintf(cur, avail, fmt, ap2);
    va_end(ap2);
    if (n < 0) {
        ARENA__POISON(cur, avail);
        if (errno == 0)
            errno = EINVAL;
        return NULL;
    }
    if ((size_t)n < avail) {
        ARENA__POISON(cur + n + 1, avail - (size_t)n - 1);
        a->h.cur = cur + ARENA__ROUND_UP((size_t)n + 1, ARENA_ALIGN);
        hide_room(a);
        return cur;
    }
    ARENA__POISON(cur, avail);
    char *p = raw_alloc(a, (size_t)n + 1);
    if (p)
        vsnprintf(p, (size_t)n + 1, fmt, ap);
    return p;
}

char *arena_sprintf(arena_t *a, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *p = arena_vsprintf(a, fmt, ap);
    va_end(ap);
    return p;
}

/* ---- Deferred callbacks ---- */

/* Run callbacks newer than `stop`, newest first; each is unlinked before it
 * runs, so it runs exactly once even if it re-enters arena_stats etc. */
static void run_defers(arena_t *a, arena__defer_t *stop)
{
    while (a->defers && a->defers != stop) {
        arena__defer_t *d = a->defers;
        a->defers = d->prev;
        a->running++;
        d->fn(d->arg);
        a->running--;
    }
}

/* One allocation holds the block and, after it, the callback record, so the
 * two succeed or fail together. */
static void *alloc_deferred(arena_t *a, size_t size, size_t align, void (*fn)(void *),
                            void *arg, bool arg_is_block)
{
    if (size > SIZE_MAX / 2) {
        errno = ENOMEM;
        return NULL;
    }
    size_t at = ARENA__ROUND_UP(size, ARENA_ALIGN);
    size_t total = at + sizeof(arena__defer_t);
    char *p = align <= ARENA_ALIGN ? raw_alloc(a, total) : arena__alloc_slow(a, total, align);
    if (p == NULL)
        return NULL;
    arena__defer_t *d = (arena__defer_t *)(p + at);
    d->prev = a->defers;
    d->fn = fn;
    d->arg = arg_is_block ? p : arg;
    a->defers = d;
    ARENA__POISON(p + size, at - size);
    return p;
}

int arena_defer(arena_t *a, void (*fn)(void *), void *arg)
{
    if (!arena_ok(a) || fn == NULL) {
        errno = EINVAL;
        return -1;
    }
    if (in_own_callback(a, "arena_defer from inside one of the arena's own deferred callbacks"))
        return -1;
    return alloc_deferred(a, 0, ARENA_ALIGN, fn, arg, false) ? 0 : -1;
}

void *arena_alloc_deferred(arena_t *a, size_t size, size_t align, void (*fn)(void *), void *arg)
{
    if (!arena_ok(a) || fn == NULL || align == 0 || (align & (align - 1))) {
        errno = EINVAL;
        return NULL;
    }
    if (in_own_callback(a, "arena_alloc_deferred from inside one of the arena's own deferred "
                           "callbacks"))
        return NULL;
    return fill_new(alloc_deferred(a, size, align, fn, arg, arg == NULL), size);
}

/* ---- Marks and rewind ---- */

/* Why ids come from one process-wide sequence: a mark must be refused by every
 * arena but its own, even by a later arena at the same address whose records
 * land where the old ones were.  An arena takes ids in blocks, so arena_mark
 * makes one atomic operation per MARK_ID_BLOCK marks; ids still increase
 * within an arena, which the rewind walk relies on.  2^64 ids do not run out. */
#define MARK_ID_BLOCK ((uint64_t)4096)
static _Atomic uint64_t mark_ids;

static uint64_t next_mark_id(arena_t *a)
{
    if (a->mark_seq == a->mark_seq_end) {
        uint64_t b = atomic_fetch_add_explicit(&mark_ids, MARK_ID_BLOCK, memory_order_relaxed);
        a->mark_seq = b;
        a->mark_seq_end = b + MARK_ID_BLOCK;
    }
    return ++a->mark_seq;
}

arena_mark_t arena_mark(arena_t *a)
{
    arena_mark_t m = {a, NULL, 0};
    if (!arena_ok(a)) {
        errno = EINVAL;
        return m;
    }
    if (in_own_callback(a, "arena_mark from inside one of the arena's own deferred callbacks"))
        return m;
    arena__mark_rec_t *r = a->marks;
    if (r && r->pos == a->h.cur && r->chunk == a->chunk && r->defers == a->defers) {
        /* Nothing happened since the newest mark (or the rewind to it): the
         * new mark is the same position, so share its record.  Why: a loop of
         * mark / work / rewind must not leave a record per iteration. */
        m.rec = r;
        m.id = r->id;
        return m;
    }
    r = raw_alloc(a, sizeof *r);
    if (r == NULL)
        return m;
    r->prev = a->marks;
    r->defers = a->defers;
    r->chunk = a->chunk;
    r->pos = a->h.cur;
    r->used = used_now(a);
    r->id = next_mark_id(a);
    a->marks = r;
    m.rec = r;
    m.id = r->id;
    return m;
}

int arena_rewind(arena_t *a, arena_mark_t m)
{
    if (!arena_ok(a) || m.arena != a) {
        errno = EINVAL;
        return -1;
    }
    if (in_own_callback(a, "arena_rewind from inside one of the arena's own deferred callbacks"))
        return -1;
    if (m.rec == NULL) {
        errno = ENOMEM;
        return -1;
    }
    /* Why the walk is cheap: records are ordered by id, newest first, and every
     * record above the target is popped by a successful rewind.  A stale mark's
     * record is no longer on the stack (its memory may even be unmapped, so it
     * is compared, never read). */
    arena__mark_rec_t *r = a->marks;
    while (r && r->id > m.id)
        r = r->prev;
    if (r != m.rec || r->id != m.id) {
        errno = EINVAL;
        return -1;
    }
    note_peak(a);
    run_defers(a, r->defers);
    while (a->chunk != r->chunk) {
        arena__chunk_t *c = a->chunk;
        a->chunk = c->prev;
        push_spare(a, c);
    }
    a->marks = r;
    release_range(r->pos, chunk_end(r->chunk));
    a->h.cur = r->pos;
    a->h.end = chunk_end(r->chunk);
    hide_room(a);
    a->used_before = r->used - (size_t)(r->pos - r->chunk->start);
    trim_spares(a);
    CHECK_INVARIANTS(a);
    return 0;
}

void arena_reset(arena_t *a)
{
    if (!arena_ok(a) ||
        in_own_callback(a, "arena_reset from inside one of the arena's own deferred callbacks"))
        return;
    note_peak(a);
    run_defers(a, NULL);
    a->marks = NULL;
    while (a->chunk != a->first) {
        arena__chunk_t *c = a->chunk;
        a->chunk = c->prev;
        push_spare(a, c);
    }
    release_range(a->first->start, chunk_end(a->first));
    a->h.cur = a->first->start;
    a->h.end = chunk_end(a->first);
    hide_room(a);
    a->used_before = 0;
    coalesce_spares(a);
    trim_spares(a);
    CHECK_INVARIANTS(a);
}

/* ---- Children and caller's buffers ---- */

/* The parent's scope that held the child ended: end the child. */
static void child_ended(void *arg)
{
    arena__child_t *l = arg;
    arena_t *c = l->child;
    if (c == NULL)
        return; /* destroyed alone before */
    l->child = NULL;
    c->link = NULL;
    c->parent = NULL;
    arena_destroy(c);
}

/* Tie child a to parent (NULL: nothing to do).  Why a deferred callback in the
 * parent: the child then ends exactly where a callback registered at its
 * creation would run (reset, destroy, or a rewind to an older mark), in LIFO
 * order with the parent's other callbacks and pools.  On failure the child is
 * destroyed and the parent is unchanged. */
static arena_t *adopt_child(arena_t *a, arena_t *parent)
{
    if (a == NULL || parent == NULL)
        return a;
    arena__child_t *l = alloc_deferred(parent, sizeof *l, ARENA_ALIGN, child_ended, NULL, true);
    if (l == NULL) {
        int err = errno;
        arena_destroy(a);
        errno = err;
        return NULL;
    }
    l->child = a;
    a->link = l;
    a->parent = parent;
    return a;
}

/* Why: a child destroyed alone must not be destroyed again by its parent.
 * Its record is given back when it is the parent's newest allocation (a
 * request child created and destroyed with nothing allocated in the parent
 * in between leaves nothing behind); otherwise it stays, inert, until the
 * parent's scope ends. */
static void forget_parent(arena_t *a)
{
    arena__child_t *l = a->link;
    if (l == NULL)
        return;
    arena_t *p = a->parent;
    l->child = NULL;
    a->link = NULL;
    a->parent = NULL;
    char *rec = (char *)l;
    arena__defer_t *d = (arena__defer_t *)(rec + ARENA__ROUND_UP(sizeof *l, ARENA_ALIGN));
    char *end = rec + ARENA__ROUND_UP(ARENA__ROUND_UP(sizeof *l, ARENA_ALIGN) + sizeof *d,
                                      ARENA_ALIGN);
    if (p->running == 0 && p->defers == d && p->h.cur == end && rec >= p->chunk->start) {
        note_peak(p);
        p->defers = d->prev;
        p->h.cur = rec;
        hide_room(p);
        release_range(rec, end);
    }
}

_Static_assert(ARENA__CHUNK_HDR + ARENA__ROUND_UP(sizeof(struct arena), ARENA_ALIGN) + ARENA_ALIGN <=
                   ARENA_BUFFER_MIN,
               "the smallest buffer holds the arena and one allocation");

/* An arena whose first chunk is the caller's buffer. */
static arena_t *create_in_buffer(const arena_opts_t *o)
{
    size_t head = ARENA__CHUNK_HDR + ARENA__ROUND_UP(sizeof(struct arena), ARENA_ALIGN);
    size_t size = o->buffer_size;
    if (o->max_bytes && o->max_bytes < size)
        size = o->max_bytes; /* the cap is the promise */
    size &= ~(size_t)(ARENA_ALIGN - 1);
    if (o->buffer == NULL || ((uintptr_t)o->buffer & (ARENA_ALIGN - 1)) ||
        o->buffer_size < ARENA_BUFFER_MIN) {
        errno = EINVAL;
        return NULL;
    }
    if (size < head + ARENA_ALIGN) { /* max_bytes leaves too little of it */
        errno = ENOMEM;
        return NULL;
    }
    arena__chunk_t *c = o->buffer;
    arena_t *a = (arena_t *)((char *)c + ARENA__CHUNK_HDR);
    memset(c, 0, head);
    c->prev = NULL;
    c->start = (char *)c + head;
    c->size = size;
    c->map_size = size;
    a->h.cur = c->start;
    a->h.end = chunk_end(c);
    a->h.magic = ARENA__MAGIC;
    a->chunk = a->first = c;
    a->mapped = c->map_size;
    a->nchunks = 1;
    a->nmmaps = 0;
    size_t next = ARENA__ROUND_UP(size, page_size()) * 2;
    a->next_size = next < ARENA__MAX_GROWTH ? next : ARENA__MAX_GROWTH;
    a->max_bytes = o->max_bytes;
    a->retain_bytes = o->retain_bytes ? o->retain_bytes : ARENA_RETAIN_ALL;
    a->flags = o->flags | ARENA__F_BUFFER;
#if ARENAPOOL_DEBUG
    int err = arena__debug_track(a, ARENA__KIND_ARENA, 1);
    if (err) {
        a->h.magic = 0;
        errno = err;
        return NULL;
    }
#endif
    ARENA__POISON(c->start, (size_t)(chunk_end(c) - c->start));
    hide_room(a);
    return a;
}

/* ---- Lifetime and stats ---- */

arena_t *arena_create(const arena_opts_t *opts)
{
    arena_opts_t o = opts ? *opts : (arena_opts_t){0};
    if (o.flags & ~ARENA_F_GUARD) {
        errno = EINVAL;
        return NULL;
    }
    if (o.parent && (!arena_ok(o.parent) ||
                     in_own_callback(o.parent, "arena_create of a child from inside one of "
                                               "the parent's own deferred callbacks"))) {
        errno = EINVAL;
        return NULL;
    }
    if (o.buffer || o.buffer_size)
        return adopt_child(create_in_buffer(&o), o.parent);
    size_t ps = page_size();
    size_t head = ARENA__CHUNK_HDR + ARENA__ROUND_UP(sizeof(struct arena), ARENA_ALIGN);
    size_t min_first = ARENA__ROUND_UP(head + ARENA_ALIGN, ps);
    size_t size = o.chunk_size ? o.chunk_size : ARENA__DEFAULT_CHUNK;
    if (size > ARENA__MAX_GROWTH * 64) {
        errno = ENOMEM;
        return NULL;
    }
    size = ARENA__ROUND_UP(size, ps);
    if (size < min_first)
        size = min_first;
    size_t guard = guard_size(o.flags);
    if (o.max_bytes && size + guard > o.max_bytes) {
        /* Why shrink rather than fail: the cap is the promise; the chunk size
         * is only a hint. */
        size = o.max_bytes > guard ? (o.max_bytes - guard) & ~(ps - 1) : 0;
        if (size < min_first) {
            errno = ENOMEM;
            return NULL;
        }
    }
    void *p = arena__cache_take(size, size, guard);
    bool fresh = p == NULL;
    int err = fresh ? os_map(size + guard, &p) : 0;
    if (err) {
        errno = err;
        return NULL;
    }
    if (fresh && guard && ap__os_protect_none((char *)p + size, guard)) {
        ap__os_unmap(p, size + guard);
        errno = ENOMEM;
        return NULL;
    }
    arena__chunk_t *c = p;
    arena_t *a = (arena_t *)((char *)p + ARENA__CHUNK_HDR);
    ARENA__UNPOISON(a, sizeof *a);
    memset(a, 0, sizeof *a);
    c->prev = NULL;
    c->start = (char *)p + head;
    c->size = size;
    c->map_size = size + guard;
    a->h.cur = c->start;
    a->h.end = chunk_end(c);
    hide_room(a);
    a->h.magic = ARENA__MAGIC;
    a->chunk = a->first = c;
    a->mapped = c->map_size;
    a->nchunks = 1;
    a->nmmaps = fresh;
    a->next_size = size * 2 < ARENA__MAX_GROWTH ? size * 2 : ARENA__MAX_GROWTH;
    a->max_bytes = o.max_bytes;
    a->retain_bytes = o.retain_bytes ? o.retain_bytes : ARENA_RETAIN_ALL;
    a->flags = o.flags;
#if ARENAPOOL_DEBUG
    if ((err = arena__debug_track(a, ARENA__KIND_ARENA, 1)) != 0) {
        a->h.magic = 0;
        arena__cache_put(c);
        errno = err;
        return NULL;
    }
#endif
    ARENA__POISON(c->start, (size_t)(chunk_end(c) - c->start));
    return adopt_child(a, o.parent);
}

void arena_destroy(arena_t *a)
{
    if (a == NULL || !arena_ok(a) ||
        in_own_callback(a, "arena_destroy from inside one of the arena's own deferred callbacks"))
        return;
    run_defers(a, NULL);
    forget_parent(a);
    a->h.magic = 0;
#if ARENAPOOL_DEBUG
    arena__debug_track(a, ARENA__KIND_ARENA, 0);
#endif
    release_spares(a);
    arena__chunk_t *first = a->first;
    while (a->chunk != first) {
        arena__chunk_t *c = a->chunk;
        a->chunk = c->prev;
        unmap_chunk(a, c);
    }
    /* The arena lives in its first chunk: read nothing after this. */
    if (a->flags & ARENA__F_BUFFER)
        ARENA__UNPOISON(first, first->map_size); /* the caller's again */
    else
        arena__cache_put(first);
}

void arena_stats(const arena_t *a, arena_stats_t *out)
{
    if (out == NULL)
        return;
    memset(out, 0, sizeof *out);
    if (!arena_ok(a))
        return;
    out->used = used_now(a);
    out->peak = a->peak > out->used ? a->peak : out->used;
    out->mapped = a->mapped;
    out->chunks = a->nchunks;
    out->mmaps = a->nmmaps;
}
