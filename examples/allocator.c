/*
 * allocator.c - the ready constructors of allocator.h and the size-header
 * helpers for malloc-style hooks.  Each constructor wraps one arenapool object
 * (or none, for mp and libc) in an allocator_t; the allocator_t does not own it.
 */
#include "allocator.h"
#include "mp.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* ---- arena ---- */

static void *arena_hook_alloc(const allocator_t *al, size_t size)
{
    return arena_alloc(al->ctx, size);
}

static void *arena_hook_realloc(const allocator_t *al, void *p, size_t old_size, size_t new_size)
{
    return arena_realloc(al->ctx, p, old_size, new_size);
}

/* Why a no-op: an arena frees by scope (reset, rewind).  arena_realloc already
 * gives a shrink of the newest block back, which covers the usual grow/shrink
 * buffer pattern of the libraries. */
static void arena_hook_free(const allocator_t *al, void *p, size_t size)
{
    (void)al, (void)p, (void)size;
}

allocator_t allocator_from_arena(arena_t *a)
{
    return (allocator_t){a, SIZE_MAX, arena_hook_alloc, arena_hook_realloc, arena_hook_free,
                         "arena"};
}

/* ---- pool ---- */

static void *pool_hook_alloc(const allocator_t *al, size_t size)
{
    if (size > al->max_size) {
        errno = ENOMEM;
        return NULL;
    }
    return pool_alloc(al->ctx);
}

/* Every block is a whole slot, so any size up to the slot stays in place. */
static void *pool_hook_realloc(const allocator_t *al, void *p, size_t old_size, size_t new_size)
{
    (void)old_size;
    if (new_size > al->max_size) {
        errno = ENOMEM;
        return NULL;
    }
    return p ? p : pool_alloc(al->ctx);
}

static void pool_hook_free(const allocator_t *al, void *p, size_t size)
{
    (void)size;
    if (p)
        pool_free(al->ctx, p);
}

allocator_t allocator_from_pool(pool_t *p, size_t slot_size)
{
    return (allocator_t){p, slot_size, pool_hook_alloc, pool_hook_realloc, pool_hook_free, "pool"};
}

/* ---- memory pool ---- */

static void *mp_hook_alloc(const allocator_t *al, size_t size)
{
    (void)al;
    return mp_alloc(size);
}

/* mp_realloc(p, 0) frees, as glibc's does; the interface wants a block. */
static void *mp_hook_realloc(const allocator_t *al, void *p, size_t old_size, size_t new_size)
{
    (void)al, (void)old_size;
    return mp_realloc(p, new_size ? new_size : 1);
}

/* The size passed here always leads back to the block's class (mp_realloc
 * keeps a block in place only within its class), so mp_free_sized would do;
 * the plain mp_free costs one page-map lookup more and also catches a pointer
 * into the middle of a block (mp_free_sized checks only for a double free). */
static void mp_hook_free(const allocator_t *al, void *p, size_t size)
{
    (void)al, (void)size;
    mp_free(p);
}

allocator_t allocator_from_mp(void)
{
    return (allocator_t){NULL, SIZE_MAX, mp_hook_alloc, mp_hook_realloc, mp_hook_free, "mp"};
}

/* ---- libc ---- */

static void *libc_hook_alloc(const allocator_t *al, size_t size)
{
    (void)al;
    return malloc(size ? size : 1);
}

static void *libc_hook_realloc(const allocator_t *al, void *p, size_t old_size, size_t new_size)
{
    (void)al, (void)old_size;
    return realloc(p, new_size ? new_size : 1);
}

static void libc_hook_free(const allocator_t *al, void *p, size_t size)
{
    (void)al, (void)size;
    free(p);
}

allocator_t allocator_from_libc(void)
{
    return (allocator_t){NULL, SIZE_MAX, libc_hook_alloc, libc_hook_realloc, libc_hook_free, "libc"};
}

/* ---- Size headers for hooks without sizes ---- */

/* One ARENA_ALIGN-sized header keeps the block ARENA_ALIGN-aligned. */
#define HDR ((size_t)ARENA_ALIGN)
_Static_assert(ARENA_ALIGN >= sizeof(size_t), "the header holds a size_t");

void *allocator_unsized_alloc(const allocator_t *al, size_t size)
{
    if (size > SIZE_MAX - HDR) {
        errno = ENOMEM;
        return NULL;
    }
    char *b = allocator_alloc(al, size + HDR);
    if (b == NULL)
        return NULL;
    memcpy(b, &size, sizeof size);
    return b + HDR;
}

void *allocator_unsized_realloc(const allocator_t *al, void *p, size_t size)
{
    if (p == NULL)
        return allocator_unsized_alloc(al, size);
    if (size == 0) {
        allocator_unsized_free(al, p);
        return NULL;
    }
    if (size > SIZE_MAX - HDR) {
        errno = ENOMEM;
        return NULL;
    }
    char *b = (char *)p - HDR;
    size_t old;
    memcpy(&old, b, sizeof old);
    char *nb = allocator_realloc(al, b, old + HDR, size + HDR);
    if (nb == NULL)
        return NULL;
    memcpy(nb, &size, sizeof size);
    return nb + HDR;
}

void allocator_unsized_free(const allocator_t *al, void *p)
{
    if (p == NULL)
        return;
    char *b = (char *)p - HDR;
    size_t old;
    memcpy(&old, b, sizeof old);
    allocator_free(al, b, old + HDR);
}
