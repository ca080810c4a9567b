/*
 * arena.c - arena lifetime (create, destroy, children, caller's buffers) and
 * the allocation calls beyond the inline fast path.
 *
 * Invariants: h.cur and h.end are ARENA_ALIGN aligned and lie in `chunk`;
 * memory not handed out is poisoned (ASan / Memcheck, found at run time by
 * ap_checker.c); with a checker present h.end is kept equal to h.cur, so the
 * inline arena_alloc always calls in here (see arena__hide_room).  A child is
 * tied to its parent by a deferred callback in the parent.  Called by users
 * and by pool.c; calls arena_scope.c, arena_chunk.c and arena_cache.c.
 */
#include "arena_internal.h"

#include <stdio.h>

/* ---- Allocation ---- */

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
    return arena__fill_new(arena__raw_alloc(a, size), size);
}

void *arena_alloc_aligned(arena_t *a, size_t size, size_t align)
{
    if (!arena__ok(a) || align == 0 || (align & (align - 1))) {
        errno = EINVAL;
        return NULL;
    }
    check_not_running(a);
    /* cur is always ARENA_ALIGN aligned: smaller alignments take the bump. */
    if (align <= ARENA_ALIGN)
        return arena__fill_new(arena__raw_alloc(a, size), size);
    return arena__fill_new(arena__alloc_slow(a, size, align), size);
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
        char *q = align <= ARENA_ALIGN ? arena__raw_alloc(a, new_size)
                                       : arena__alloc_slow(a, new_size, align);
        if (q == NULL || p == NULL)
            return arena__fill_new(q, new_size);
        size_t keep = old_size < new_size ? old_size : new_size;
        memcpy(q, p, keep);
        arena__fill_new(q + keep, new_size - keep);
        return q;
    }
    bool newest = old_size <= SIZE_MAX - ARENA_ALIGN && p >= a->chunk->start &&
                  p + ARENA__ROUND_UP(old_size, ARENA_ALIGN) == a->h.cur;
    if (newest && new_size <= (size_t)(arena__chunk_end(a->chunk) - p)) {
        /* In place: grow into the free tail, or give a shrink's tail back
         * (after noting the peak, which the lower cursor would hide). */
        arena__note_peak(a);
        char *old_end = a->h.cur;
        a->h.cur = p + ARENA__ROUND_UP(new_size, ARENA_ALIGN);
        arena__hide_room(a);
        if (new_size > old_size)
            ARENA__UNPOISON(p + old_size, new_size - old_size); /* kept bytes stay defined */
        else
            arena__release_range(a->h.cur, old_end);
        ARENA__POISON(p + new_size, (size_t)(a->h.cur - (p + new_size)));
        return p;
    }
    if (new_size <= old_size) {
        ARENA__POISON(p + new_size, old_size - new_size);
        return p;
    }
    char *q = align <= ARENA_ALIGN ? arena__raw_alloc(a, new_size)
                                   : arena__alloc_slow(a, new_size, align);
    if (q == NULL)
        return NULL;
    memcpy(q, p, old_size);
    arena__fill_new(q + old_size, new_size - old_size);
    return q;
}

void *arena_realloc(arena_t *a, void *ptr, size_t old_size, size_t new_size)
{
    if (!arena__ok(a)) {
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
    if (!arena__ok(a) || align == 0 || (align & (align - 1))) {
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
    if (!arena__ok(a) || fmt == NULL) {
        errno = EINVAL;
        return NULL;
    }
    check_not_running(a);
    /* Format straight into the chunk's free tail; only when it does not fit,
     * measure and format again into a fresh block. */
    char *cur = a->h.cur;
    size_t avail = (size_t)(arena__chunk_end(a->chunk) - cur);
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
        arena__hide_room(a);
        return cur;
    }
    ARENA__POISON(cur, avail);
    char *p = arena__raw_alloc(a, (size_t)n + 1);
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
    arena__child_t *l =
        arena__alloc_deferred(parent, sizeof *l, ARENA_ALIGN, child_ended, NULL, true);
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
 * Why its record is given back when it is the parent's newest allocation (the
 * cursor at its end, its callback the newest pending): a request child created
 * and destroyed with nothing allocated in the parent in between then leaves
 * nothing behind, and a long-lived parent stays flat.  Otherwise the record
 * stays, inert, until the parent's scope ends (destroy, reset or rewind).
 * Why no mark can be hurt: a mark taken after the child leaves its own record
 * above the child's (in this chunk or a newer one), so the cursor is off the
 * record's end for as long as that mark is live; only a rewind to an older
 * mark or a reset brings it back, and either makes the newer mark stale (and
 * one to before the child ends the child).  So every live mark lies at or
 * below the record with an older callback list, and the give-back returns the
 * parent exactly to where it was before the child: a mark taken now may share
 * the record of one taken then (arena_mark) and ends the same callbacks.
 * (3cebe26 took the give-back out on a fuzz_arena report; the fault was in
 * the fuzzer's model, which still counted the given-back callback in such a
 * shared mark and, once a rewind reused its index, expected the wrong
 * callbacks to run.)  Not while the parent runs its own callbacks: its list
 * is being taken apart by the call that runs them. */
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
        arena__note_peak(p);
        p->defers = d->prev;
        p->h.cur = rec;
        arena__hide_room(p);
        arena__release_range(rec, end);
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
    a->h.end = arena__chunk_end(c);
    a->h.magic = ARENA__MAGIC;
    a->chunk = a->first = c;
    a->mapped = c->map_size;
    a->nchunks = 1;
    a->nmmaps = 0;
    size_t next = ARENA__ROUND_UP(size, arena__page_size()) * 2;
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
    ARENA__POISON(c->start, (size_t)(arena__chunk_end(c) - c->start));
    arena__hide_room(a);
    return a;
}

/* ---- Lifetime ---- */

arena_t *arena_create(const arena_opts_t *opts)
{
    arena_opts_t o = opts ? *opts : (arena_opts_t){0};
    if (o.flags & ~ARENA_F_GUARD) {
        errno = EINVAL;
        return NULL;
    }
    if (o.parent && (!arena__ok(o.parent) ||
                     arena__in_own_callback(o.parent, "arena_create of a child from inside "
                                                      "one of the parent's own deferred "
                                                      "callbacks"))) {
        errno = EINVAL;
        return NULL;
    }
    if (o.buffer || o.buffer_size)
        return adopt_child(create_in_buffer(&o), o.parent);
    size_t ps = arena__page_size();
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
    size_t guard = arena__guard_size(o.flags);
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
    int err = fresh ? arena__os_map(size + guard, &p) : 0;
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
    a->h.end = arena__chunk_end(c);
    arena__hide_room(a);
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
    ARENA__POISON(c->start, (size_t)(arena__chunk_end(c) - c->start));
    return adopt_child(a, o.parent);
}

void arena_destroy(arena_t *a)
{
    if (a == NULL || !arena__ok(a) ||
        arena__in_own_callback(a, "arena_destroy from inside one of the arena's own deferred "
                                  "callbacks"))
        return;
    arena__run_defers(a, NULL);
    forget_parent(a);
    a->h.magic = 0;
#if ARENAPOOL_DEBUG
    arena__debug_track(a, ARENA__KIND_ARENA, 0);
#endif
    arena__release_spares(a, true);
    arena__chunk_t *first = a->first;
    while (a->chunk != first) {
        arena__chunk_t *c = a->chunk;
        a->chunk = c->prev;
        arena__unmap_chunk(a, c);
    }
    /* The arena lives in its first chunk: read nothing after this. */
    if (a->flags & ARENA__F_BUFFER)
        ARENA__UNPOISON(first, first->map_size); /* the caller's again */
    else
        arena__cache_put(first);
}
