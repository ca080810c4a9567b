#if !defined(__cplusplus) && (!defined(__STDC_VERSION__) || __STDC_VERSION__ < 201112L)
#error "arenapool needs C11"
#endif
/*
 * pool.h - fixed-size object pools over an arena.
 *
 * For reusable small objects (particles, connections, nodes): pool_alloc and
 * pool_free are O(1) inline pops and pushes, with no per-object overhead
 * beyond rounding to the alignment (free slots hold the bookkeeping).  Slots are carved from
 * the arena in slabs, in address order; reuse is LIFO (the slot freed last is
 * handed out next, while it is still in cache).
 *
 * Lifetime.  A pool lives in its arena (pool_create(NULL, ...) gives it a
 * private one).  It stays correct across the arena's rewinds to marks taken
 * after pool_create: slabs carved after the mark are dropped from the pool.
 * These arena events END the pool, as pool_destroy would:
 *   - arena_reset of its arena,
 *   - arena_destroy of its arena,
 *   - arena_rewind to a mark taken before pool_create.
 * After that the pool handle, like every object it handed out, is gone: no
 * pool_* call may use it, pool_destroy included (release builds: no defined
 * answer; debug builds report it, then abort).  So a pool belongs in an arena
 * that lives at least as long as the pool: create a long-lived pool in a
 * long-lived arena, or re-create it after each reset of a per-frame arena.
 * Order: pool_destroy (optional for a pool in a caller's arena: it only ends
 * the pool; the memory goes with the arena) before the arena ends, never after;
 * and once per pool.
 *
 * One thread at a time.  ARENAPOOL_DEBUG reports a foreign pointer, a double
 * free, a never-handed-out slot and a use of an ended pool, and aborts;
 * ARENAPOOL_HARDENED encodes the free-list links and checks each pop; under
 * AddressSanitizer or Valgrind Memcheck (found at run time, see arena.h)
 * every call takes the library's out-of-line path and a freed slot is poisoned.
 */
#ifndef ARENAPOOL_POOL_H
#define ARENAPOOL_POOL_H

#include "arena.h"

#include <stdbool.h>

#ifdef __cplusplus
extern "C" {
#endif

#ifndef ARENAPOOL_HARDENED
#define ARENAPOOL_HARDENED 0
#endif

typedef struct pool pool_t;

typedef struct pool_stats {
    size_t obj_size; /* slot size after rounding to the alignment */
    size_t live;     /* objects handed out and not yet freed       */
    size_t capacity; /* slots carved so far (live + free + uncarved in held slabs) */
} pool_stats_t;

/* Free slots: the newest up to POOL__HOT sit in a small LIFO array in the pool
 * (hot[1..n]; hot[0] is a permanent NULL sentinel, so an empty stack needs no
 * separate test).  Older ones are spilled in batches into "nodes": a free slot
 * that stores the addresses of several other free slots, so refilling touches
 * one cache line per batch instead of one per slot.  No per-object overhead. */
#define POOL__HOT 64

/* The first fields of every pool: what the inline fast paths read.  Private. */
struct pool__head {
    size_t n;                    /* hot slots in hot[1..n] */
    void *hot[POOL__HOT + 1];    /* hot[0] == NULL always */
    size_t slot;                 /* slot size in bytes */
    uintptr_t key;               /* hardened builds: link encoding key */
    uint32_t magic;              /* POOL__MAGIC while alive */
};
#define POOL__MAGIC 0x9001B001u

/* Create a pool of obj_size-byte objects aligned to max(align, alignof(void *))
 * in arena a (a == NULL: a private arena released by pool_destroy).
 * align 0 = the natural alignment of an obj_size-byte object: the largest power
 * of two dividing obj_size, at most ARENA_ALIGN, at least alignof(void *) (so
 * 24 -> 8, 48 -> 16, 12 -> 8); pass alignof(T) to be explicit.  Slots are
 * obj_size rounded up to that alignment (pool_obj_size, pool_obj_align).
 * NULL + EINVAL for obj_size 0, align not a power of two or a size above
 * SIZE_MAX / 4; ENOMEM when the arena cannot hold the pool (the arena is
 * left as it was).  A slot too large for any slab is accepted here and gets
 * ENOMEM from pool_alloc. */
pool_t *pool_create(arena_t *a, size_t obj_size, size_t align);

/* End the pool (see "Lifetime" above).  A private arena is released; an
 * arena-backed pool's memory goes with its arena.  NULL is a no-op. */
void pool_destroy(pool_t *p);

/* The pool's slot size and object alignment (both fixed at pool_create);
 * 0 + EINVAL for a NULL pool.  O(1). */
size_t pool_obj_size(const pool_t *p);
size_t pool_obj_align(const pool_t *p);

/* Out-of-line paths behind the inline fast paths.  Private. */
void *pool__alloc_slow(pool_t *p);
void pool__free_slow(pool_t *p, void *obj);
void *pool__alloc_checked(pool_t *p);
void pool__free_checked(pool_t *p, void *obj);

/* One object of the pool's size, or NULL + ENOMEM when the arena cannot grow
 * (the arena and the pool are left as they were). */
ARENA__MALLOC static inline void *pool_alloc(pool_t *p)
{
#if ARENAPOOL_DEBUG || ARENAPOOL_HARDENED
    return pool__alloc_checked(p);
#else
    /* Fast path budget: 6 instructions, one branch, no call, no atomics, and
     * no load from the object itself (so a cold slot costs no dependent miss).
     * With pool_free: 12-13 (bench/results/instr.md, make bench-instr). */
    struct pool__head *h = (struct pool__head *)p;
    size_t n = h->n;
    void *obj = h->hot[n];
    if (ARENA__UNLIKELY(obj == NULL))
        return pool__alloc_slow(p);
    h->n = n - 1;
    ARENA__ASSUME(obj != NULL);
    return obj;
#endif
}

/* Like pool_alloc, the object zeroed. */
ARENA__MALLOC void *pool_calloc(pool_t *p);

/* Give obj back to the pool; NULL is a no-op.  obj must be an object this pool
 * handed out and has not taken back (debug and hardened builds report and
 * abort on a foreign or interior pointer, a double free, and a slot the pool
 * carved but never handed out). */
static inline void pool_free(pool_t *p, void *obj)
{
#if ARENAPOOL_DEBUG || ARENAPOOL_HARDENED
    pool__free_checked(p, obj);
#else
    /* Fast path budget: 6 instructions, one branch.  A NULL obj needs no test:
     * it is stacked like any slot and skipped when it reaches the top. */
    struct pool__head *h = (struct pool__head *)p;
    size_t n = h->n;
    if (ARENA__UNLIKELY(n == POOL__HOT)) {
        pool__free_slow(p, obj);
        return;
    }
    h->hot[n + 1] = obj;
    h->n = n + 1;
#endif
}

/* Free every object at once; the slabs are kept and reused, so allocating the
 * same number again takes no new arena memory. */
void pool_reset(pool_t *p);

/* True if obj is a slot of one of this pool's slabs (live or free). */
bool pool_owns(const pool_t *p, const void *obj);

/* Fill *out with the pool's statistics; walks the free list (O(free)). */
void pool_stats(const pool_t *p, pool_stats_t *out);

#ifdef __cplusplus
}
#endif

#endif /* ARENAPOOL_POOL_H */
