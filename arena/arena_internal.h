/*
 * arena_internal.h - chunk layout and bookkeeping records of arena.c.
 * Only the .c files of arena/ include this; other modules use arena.h.
 */
#ifndef ARENAPOOL_ARENA_INTERNAL_H
#define ARENAPOOL_ARENA_INTERNAL_H

#include "arena.h"
#include "ap_os.h"
#include "ap_checker.h"

#include <stdbool.h>

#define ARENA__DEFAULT_CHUNK ((size_t)64 * 1024)
/* Why a ceiling: doubling forever would map gigabytes for one stray burst. */
#define ARENA__MAX_GROWTH ((size_t)64 * 1024 * 1024)

#define ARENA__ROUND_UP(x, a) (((x) + ((a) - 1)) & ~(size_t)((a) - 1))

/* A chunk is one mapping: [header | data ........ | guard page?]. */
typedef struct arena__chunk {
    struct arena__chunk *prev; /* older chunk in use, or the next spare */
    char *start;               /* first data byte (ARENA_ALIGN aligned) */
    size_t size;               /* bytes mapped, guard page excluded */
    size_t map_size;           /* bytes mapped, guard page included */
} arena__chunk_t;

#define ARENA__CHUNK_HDR ARENA__ROUND_UP(sizeof(arena__chunk_t), ARENA_ALIGN)
_Static_assert((ARENA_ALIGN & (ARENA_ALIGN - 1)) == 0, "ARENA_ALIGN must be a power of two");
_Static_assert(sizeof(arena__chunk_t) <= 64, "chunk header stays small");

/* A deferred callback; lives in the arena, above the mark it belongs to. */
typedef struct arena__defer {
    struct arena__defer *prev;
    void (*fn)(void *);
    void *arg;
} arena__defer_t;

/* What arena_mark leaves in the arena.  Records form a stack (newest first);
 * a mark is valid exactly while its record is on that stack. */
typedef struct arena__mark_rec {
    struct arena__mark_rec *prev;
    arena__defer_t *defers; /* newest callback when the mark was taken */
    arena__chunk_t *chunk;  /* chunk holding pos */
    char *pos;              /* position right after this record */
    size_t used;            /* stats.used at pos */
    uint64_t id;            /* unique in the process, increasing per arena */
} arena__mark_rec_t;

struct arena {
    struct arena__head h;     /* cur, end, magic: read by the inline fast path */
    arena__chunk_t *chunk;    /* current chunk: the newest in use */
    arena__chunk_t *first;    /* holds this struct; never released before destroy */
    arena__chunk_t *spare;    /* retained chunks, the one to reuse first on top */
    size_t spare_bytes;       /* bytes mapped by spares */
    size_t used_before;       /* bytes used in chunks older than `chunk` */
    size_t peak;              /* max used seen at the last decrease */
    size_t mapped;            /* bytes mapped, all chunks, guards included */
    size_t nchunks;           /* chunks held, in use and spare */
    size_t nmmaps;            /* mappings made over the arena's life */
    size_t next_size;         /* size of the next ordinary chunk */
    size_t max_bytes;         /* 0 = no cap */
    size_t retain_bytes;
    unsigned flags;
    arena__mark_rec_t *marks; /* newest live mark record */
    arena__defer_t *defers;   /* newest pending callback */
    uint64_t mark_seq;        /* last mark id issued */
    uint64_t mark_seq_end;    /* last id of the block of ids this arena holds */
    unsigned running;         /* deferred callbacks of this arena running now */
    struct arena__child *link; /* this child's record in its parent, or NULL */
    arena_t *parent;          /* set while `link` is */
};

/* flags bit beyond the public ARENA_F_*: the first chunk is the caller's buffer. */
#define ARENA__F_BUFFER (1u << 31)

/* What a child leaves in its parent: a deferred callback (child_ended) whose
 * argument is this record, so the child ends exactly where a callback
 * registered at its creation would run.  child is NULL once the child was
 * destroyed alone. */
typedef struct arena__child {
    arena_t *child;
} arena__child_t;

/* ---- Chunk cache (arena_cache.c) ---- */

/* A cached chunk whose size is in [min, max] with a guard of `guard` bytes,
 * header set but data poisoned and not zeroed; NULL if none. */
arena__chunk_t *arena__cache_take(size_t min, size_t max, size_t guard) AP__HIDDEN;
/* Give a chunk no arena holds any more to the cache, or unmap it when the
 * cache is at its bound. */
void arena__cache_put(arena__chunk_t *c) AP__HIDDEN;
/* Unmap the calling thread's and the shared cached chunks; bytes unmapped. */
size_t arena__cache_drop(void) AP__HIDDEN;

#endif /* ARENAPOOL_ARENA_INTERNAL_H */
