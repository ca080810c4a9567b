/*
 * arena_scope.c - scopes: deferred callbacks, marks, rewind and reset.
 *
 * Invariants: mark records and deferred callbacks live in the arena, each
 * stack ordered newest first, so a rewind pops exactly what its scope created;
 * mark ids increase within an arena and are unique in the process; a callback
 * is unlinked before it runs, so it runs exactly once.  Called by users, by
 * arena.c (destroy, children) and by pool.c (slab callbacks); calls
 * arena_chunk.c to retain or give back the chunks a scope releases.
 */
#include "arena_internal.h"

#include <stdatomic.h>

/* ---- Deferred callbacks ---- */

/* Run callbacks newer than `stop`, newest first; each is unlinked before it
 * runs, so it runs exactly once even if it re-enters arena_stats etc. */
void arena__run_defers(arena_t *a, arena__defer_t *stop)
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
void *arena__alloc_deferred(arena_t *a, size_t size, size_t align, void (*fn)(void *),
                            void *arg, bool arg_is_block)
{
    if (size > SIZE_MAX / 2) {
        errno = ENOMEM;
        return NULL;
    }
    size_t at = ARENA__ROUND_UP(size, ARENA_ALIGN);
    size_t total = at + sizeof(arena__defer_t);
    char *p = align <= ARENA_ALIGN ? arena__raw_alloc(a, total)
                                   : arena__alloc_slow(a, total, align);
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
    if (!arena__ok(a) || fn == NULL) {
        errno = EINVAL;
        return -1;
    }
    if (arena__in_own_callback(a, "arena_defer from inside one of the arena's own deferred "
                                  "callbacks"))
        return -1;
    return arena__alloc_deferred(a, 0, ARENA_ALIGN, fn, arg, false) ? 0 : -1;
}

void *arena_alloc_deferred(arena_t *a, size_t size, size_t align, void (*fn)(void *), void *arg)
{
    if (!arena__ok(a) || fn == NULL || align == 0 || (align & (align - 1))) {
        errno = EINVAL;
        return NULL;
    }
    if (arena__in_own_callback(a, "arena_alloc_deferred from inside one of the arena's own "
                                  "deferred callbacks"))
        return NULL;
    return arena__fill_new(arena__alloc_deferred(a, size, align, fn, arg, arg == NULL), size);
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
    if (!arena__ok(a)) {
        errno = EINVAL;
        return m;
    }
    if (arena__in_own_callback(a, "arena_mark from inside one of the arena's own deferred "
                                  "callbacks"))
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
    r = arena__raw_alloc(a, sizeof *r);
    if (r == NULL)
        return m;
    r->prev = a->marks;
    r->defers = a->defers;
    r->chunk = a->chunk;
    r->pos = a->h.cur;
    r->used = arena__used_now(a);
    r->id = next_mark_id(a);
    a->marks = r;
    m.rec = r;
    m.id = r->id;
    return m;
}

int arena_rewind(arena_t *a, arena_mark_t m)
{
    if (!arena__ok(a) || m.arena != a) {
        errno = EINVAL;
        return -1;
    }
    if (arena__in_own_callback(a, "arena_rewind from inside one of the arena's own deferred "
                                  "callbacks"))
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
    arena__note_peak(a);
    arena__run_defers(a, r->defers);
    while (a->chunk != r->chunk) {
        arena__chunk_t *c = a->chunk;
        a->chunk = c->prev;
        arena__push_spare(a, c);
    }
    a->marks = r;
    arena__release_range(r->pos, arena__chunk_end(r->chunk));
    a->h.cur = r->pos;
    a->h.end = arena__chunk_end(r->chunk);
    arena__hide_room(a);
    a->used_before = r->used - (size_t)(r->pos - r->chunk->start);
    arena__trim_spares(a);
    ARENA__CHECK_INVARIANTS(a);
    return 0;
}

void arena_reset(arena_t *a)
{
    if (!arena__ok(a) ||
        arena__in_own_callback(a, "arena_reset from inside one of the arena's own deferred "
                                  "callbacks"))
        return;
    arena__note_peak(a);
    arena__run_defers(a, NULL);
    a->marks = NULL;
    while (a->chunk != a->first) {
        arena__chunk_t *c = a->chunk;
        a->chunk = c->prev;
        arena__push_spare(a, c);
    }
    arena__release_range(a->first->start, arena__chunk_end(a->first));
    a->h.cur = a->first->start;
    a->h.end = arena__chunk_end(a->first);
    arena__hide_room(a);
    a->used_before = 0;
    arena__coalesce_spares(a);
    arena__trim_spares(a);
    ARENA__CHECK_INVARIANTS(a);
}
