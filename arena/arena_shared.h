/*
 * arena_shared.h - what arena/ keeps for pool/, and nothing else: the debug
 * registry of live handles.  Internal (never installed); arena's own files get
 * it through arena_internal.h, pool.c includes it directly, as it may not
 * include another module's *_internal.h.
 */
#ifndef ARENAPOOL_ARENA_SHARED_H
#define ARENAPOOL_ARENA_SHARED_H

#include "arena.h"
#include "ap_build.h"

#if ARENAPOOL_DEBUG
/* Debug builds keep a registry of live arenas and pools, so that a handle whose
 * memory is gone (destroyed, or ended with its arena) is reported without being
 * read.  track: 0 or ENOMEM (live) / always 0 (dead).  reserve: make room for
 * one more entry ahead of time, 0 or ENOMEM (arena_debug.c). */
#define ARENA__KIND_ARENA 1u
#define ARENA__KIND_POOL 2u
int arena__debug_track(const void *h, unsigned kind, int live) AP__HIDDEN;
int arena__debug_alive(const void *h, unsigned kind) AP__HIDDEN;
int arena__debug_reserve(void) AP__HIDDEN;
#endif

#endif /* ARENAPOOL_ARENA_SHARED_H */
