/*
 * allocator.h - a tiny allocator interface for plugging arenapool into C
 * libraries that take allocation hooks (Lua, zlib, expat, sqlite, ...).
 *
 * An allocator_t is a context pointer plus three functions.  realloc and free
 * receive the block's old size, which every arena and pool call wants; for
 * libraries that do not pass sizes, allocator_unsized_* keeps the size in a
 * small header in front of each block.
 *
 *   arena   alloc = bump, realloc = arena_realloc (in place when newest),
 *           free = no-op (memory comes back when the arena is reset or rewound)
 *   pool    blocks up to the pool's slot size; larger ones fail with ENOMEM
 *   mp      the thread-caching memory pool
 *   libc    malloc/realloc/free, for comparison
 *
 * Errors follow malloc: NULL + errno (ENOMEM).  free(NULL) is a no-op.
 */
#ifndef ARENAPOOL_EXAMPLES_ALLOCATOR_H
#define ARENAPOOL_EXAMPLES_ALLOCATOR_H

#include "arena.h"
#include "pool.h"

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The functions receive the allocator itself, so they can read ctx and max_size. */
typedef struct allocator allocator_t;
struct allocator {
    void *ctx;       /* the arena, the pool, or NULL */
    size_t max_size; /* largest block served (SIZE_MAX for general ones) */
    void *(*alloc)(const allocator_t *al, size_t size);
    /* p == NULL acts as alloc; old_size is the size p was last given. */
    void *(*realloc)(const allocator_t *al, void *p, size_t old_size, size_t new_size);
    /* size is the size p was last given; p == NULL is a no-op. */
    void (*free)(const allocator_t *al, void *p, size_t size);
    const char *name;
};

/* Blocks from arena a (aligned to ARENA_ALIGN); free is a no-op. */
allocator_t allocator_from_arena(arena_t *a);

/* Blocks of at most slot_size bytes from pool p (slot_size: the obj_size the
 * pool was created with); larger requests give NULL + ENOMEM. */
allocator_t allocator_from_pool(pool_t *p, size_t slot_size);

/* The thread-caching memory pool (mp_alloc / mp_realloc / mp_free). */
allocator_t allocator_from_mp(void);

/* malloc / realloc / free. */
allocator_t allocator_from_libc(void);

static inline void *allocator_alloc(const allocator_t *al, size_t size)
{
    return al->alloc(al, size);
}

static inline void *allocator_realloc(const allocator_t *al, void *p, size_t old_size,
                                      size_t new_size)
{
    return al->realloc(al, p, old_size, new_size);
}

static inline void allocator_free(const allocator_t *al, void *p, size_t size)
{
    al->free(al, p, size);
}

/* ---- For hooks that do not pass the old size (expat, malloc-style APIs) ---- */

/* Like allocator_alloc, with the size stored in a 16-byte header before the
 * block (the block keeps ARENA_ALIGN alignment).  NULL + ENOMEM on overflow. */
void *allocator_unsized_alloc(const allocator_t *al, size_t size);
/* realloc semantics of C: p NULL = alloc; size 0 frees p and returns NULL. */
void *allocator_unsized_realloc(const allocator_t *al, void *p, size_t size);
void allocator_unsized_free(const allocator_t *al, void *p);

#ifdef __cplusplus
}
#endif

#endif /* ARENAPOOL_EXAMPLES_ALLOCATOR_H */
