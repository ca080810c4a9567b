/*
 * arena_chunk.c - the arena's chunks: mapping and giving them back, the
 * spare (retained) chunks, growth, and the allocation slow path that grows.
 *
 * Invariants: chunks in use form a stack (chunk -> prev -> ... -> first) in
 * allocation order; spares are poisoned and counted in mapped and nchunks;
 * mapped never exceeds max_bytes.  Chunks come from and go back to the chunk
 * cache (arena_cache.c).  Called by the inline arena_alloc (arena__alloc_slow)
 * and by arena.c and arena_scope.c; calls arena_cache.c and the OS layer.
 */
#include "arena_internal.h"

/* ---- Chunks ---- */

/* Chunk c leaves the arena for the chunk cache (which may unmap it). */
void arena__unmap_chunk(arena_t *a, arena__chunk_t *c)
{
    a->mapped -= c->map_size;
    a->nchunks--;
    arena__cache_put(c);
}

size_t arena__guard_size(unsigned flags)
{
    return (flags & ARENA_F_GUARD) ? arena__page_size() : 0;
}

/* Map `total` bytes; on ENOMEM empty the chunk cache and try once more.  Why:
 * idle cached chunks must never be the reason a program runs out of memory. */
int arena__os_map(size_t total, void **p)
{
    int err = ap__os_map(total, p);
    if (err == ENOMEM && arena__cache_drop() > 0)
        err = ap__os_map(total, p);
    return err;
}

/* A cached chunk of [min, max] bytes with this arena's guard, counted as held. */
static arena__chunk_t *take_cached(arena_t *a, size_t min, size_t max)
{
    arena__chunk_t *c = arena__cache_take(min, max, arena__guard_size(a->flags));
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
    size_t guard = arena__guard_size(a->flags);
    size_t total = size + guard;
    if (a->max_bytes && (a->mapped > a->max_bytes || total > a->max_bytes - a->mapped))
        return ENOMEM;
    arena__chunk_t *c = take_cached(a, size, size);
    if (c == NULL) {
        void *p;
        int err = arena__os_map(total, &p);
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

void arena__release_spares(arena_t *a, bool cache)
{
    while (a->spare) {
        arena__chunk_t *c = a->spare;
        a->spare = c->prev;
        a->spare_bytes -= c->map_size;
        if (cache) {
            arena__unmap_chunk(a, c);
        } else {
            a->mapped -= c->map_size;
            a->nchunks--;
            arena__cache_unmap(c);
        }
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
    size_t ps = arena__page_size();
    if (need > SIZE_MAX - ARENA__CHUNK_HDR - 2 * ps) {
        errno = ENOMEM;
        return NULL;
    }
    size_t min = ARENA__ROUND_UP(ARENA__CHUNK_HDR + need, ps);
    bool ordinary = a->next_size >= min;
    size_t want = ordinary ? a->next_size : min;
    if (a->max_bytes) {
        size_t guard = arena__guard_size(a->flags);
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
            arena__release_spares(a, true);
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
void arena__push_spare(arena_t *a, arena__chunk_t *c)
{
    arena__release_range(c->start, arena__chunk_end(c));
    c->prev = a->spare;
    a->spare = c;
    a->spare_bytes += c->map_size;
}

/* Keep at most retain_bytes of spares: those reused first stay. */
void arena__trim_spares(arena_t *a)
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
        arena__unmap_chunk(a, c);
    }
}

/* Why coalesce: after a reset, one retained chunk as large as all of them lets
 * the next frame of the same size hop only once (from the first chunk, which
 * holds the arena, into it), and makes the loop reach a state with no
 * mmap/munmap at all (Zig's retain_capacity idea).  Why not skip the first
 * chunk altogether: measured, it cost more mappings and memory while frames
 * grew, for no speed gain. */
void arena__coalesce_spares(arena_t *a)
{
    if (a->spare == NULL || a->spare->prev == NULL)
        return;
    size_t data = 0;
    for (arena__chunk_t *c = a->spare; c; c = c->prev)
        data += c->size - ARENA__CHUNK_HDR;
    /* Why not to the chunk cache: the chunk mapped below takes their place,
     * so cached they would only double the arena's resident memory (bench
     * 1b: 10 -> 18 MiB peak) for arenas that may never come. */
    arena__release_spares(a, false);
    size_t ps = arena__page_size(), guard = arena__guard_size(a->flags);
    size_t want = ARENA__ROUND_UP(ARENA__CHUNK_HDR + data, ps);
    if (a->retain_bytes != ARENA_RETAIN_ALL && want + guard > a->retain_bytes)
        want = a->retain_bytes > guard ? (a->retain_bytes - guard) & ~(ps - 1) : 0;
    if (want <= ARENA__CHUNK_HDR)
        return;
    arena__chunk_t *c;
    if (map_chunk(a, want, &c) == 0)
        arena__push_spare(a, c);
}

/* ---- Growth: the allocation slow path ---- */

AP__NOINLINE AP__COLD void *arena__alloc_slow(arena_t *a, size_t size, size_t align)
{
    uintptr_t cur = (uintptr_t)a->h.cur, end = (uintptr_t)arena__chunk_end(a->chunk);
    uintptr_t p = (cur + (align - 1)) & ~(uintptr_t)(align - 1);
    if (p >= cur && p <= end && size <= end - p)
        return arena__bump_at(a, (char *)p, size);

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
    a->h.end = arena__chunk_end(c);
    p = ((uintptr_t)c->start + (align - 1)) & ~(uintptr_t)(align - 1);
    void *r = arena__bump_at(a, (char *)p, size);
    ARENA__CHECK_INVARIANTS(a);
    return r;
}
