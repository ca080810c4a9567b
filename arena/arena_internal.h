/*
 * arena_internal.h - chunk layout and bookkeeping records of the arena, the
 * small helpers its files share (static inline) and the functions they call
 * in one another (arena__*, hidden).  Only the .c files of arena/ include
 * this; other modules use arena.h (and pool.c arena_shared.h).
 */
#ifndef ARENAPOOL_ARENA_INTERNAL_H
#define ARENAPOOL_ARENA_INTERNAL_H

#include "arena.h"
#include "arena_shared.h"
#include "ap_os.h"
#include "ap_checker.h"

#include <errno.h>
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
/* Unmap a chunk no arena holds any more, bypassing the cache. */
void arena__cache_unmap(arena__chunk_t *c) AP__HIDDEN;
/* Unmap the calling thread's and the shared cached chunks; bytes unmapped. */
size_t arena__cache_drop(void) AP__HIDDEN;

/* ---- Chunks and growth (arena_chunk.c) ---- */

/* Chunk c leaves the arena for the chunk cache (which may unmap it). */
void arena__unmap_chunk(arena_t *a, arena__chunk_t *c) AP__HIDDEN;
/* Guard page bytes for an arena of these flags: a page or 0. */
size_t arena__guard_size(unsigned flags) AP__HIDDEN;
/* Map `total` bytes; on ENOMEM empty the chunk cache and try once more.  0 or
 * an errno value. */
int arena__os_map(size_t total, void **p) AP__HIDDEN;
/* Give every retained spare chunk back: to the chunk cache, or (cache false)
 * straight to the OS. */
void arena__release_spares(arena_t *a, bool cache) AP__HIDDEN;
/* Put a chunk that left use on the spare stack (retained, poisoned). */
void arena__push_spare(arena_t *a, arena__chunk_t *c) AP__HIDDEN;
/* Keep at most retain_bytes of spares: those reused first stay. */
void arena__trim_spares(arena_t *a) AP__HIDDEN;
/* After a reset: replace the spares by one chunk as large as all of them. */
void arena__coalesce_spares(arena_t *a) AP__HIDDEN;

/* ---- Scopes and callbacks (arena_scope.c) ---- */

/* Run callbacks newer than `stop` (NULL: all), newest first. */
void arena__run_defers(arena_t *a, arena__defer_t *stop) AP__HIDDEN;
/* A block of `size` bytes aligned to `align` with fn deferred after it, both
 * or neither; fn receives the block itself when arg_is_block. */
void *arena__alloc_deferred(arena_t *a, size_t size, size_t align, void (*fn)(void *),
                            void *arg, bool arg_is_block) AP__HIDDEN;

/* ---- Debug checks (arena_debug.c) ---- */

#if ARENAPOOL_DEBUG >= 3
/* Walk every chunk and check the cursor and the accounting; reports, then
 * aborts, on a broken invariant. */
void arena__check_invariants(const arena_t *a) AP__HIDDEN;
#define ARENA__CHECK_INVARIANTS(a) arena__check_invariants(a)
#else
#define ARENA__CHECK_INVARIANTS(a) ((void)0)
#endif

/* ---- Helpers shared by arena's files ---- */

#define ARENA__FILL_ALLOC 0xD0
#define ARENA__FILL_FREE 0xDF

static inline size_t arena__page_size(void) { return ap__os_page_size(); }

/* Why not always abort: release builds give API misuse a defined answer
 * (EINVAL); debug builds stop the program at the bug. */
static inline bool arena__ok(const arena_t *a)
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
static inline bool arena__in_own_callback(const arena_t *a, const char *what)
{
    if (ARENA__LIKELY(a->running == 0))
        return false;
    if (ARENAPOOL_DEBUG)
        ap__os_fatal(what, "arena", a, NULL, NULL);
    errno = EINVAL;
    return true;
}

static inline size_t arena__used_now(const arena_t *a)
{
    return a->used_before + (size_t)(a->h.cur - a->chunk->start);
}

static inline void arena__note_peak(arena_t *a)
{
    size_t u = arena__used_now(a);
    if (u > a->peak)
        a->peak = u;
}

static inline char *arena__chunk_end(const arena__chunk_t *c) { return (char *)c + c->size; }

/* Mark [p, end) as no longer handed out: fill in debug builds, then poison. */
static inline void arena__release_range(char *p, char *end)
{
    if (end <= p)
        return;
#if ARENAPOOL_DEBUG >= 2
    memset(p, ARENA__FILL_FREE, (size_t)(end - p));
#endif
    ARENA__POISON(p, (size_t)(end - p));
}

/* Why hide the room from the inline arena_alloc when a checker watches: the
 * program's inline code cannot poison or unpoison (it does not know the
 * checker is there, and must not guess from its own compile flags, which
 * need not match the library's), so every allocation must come here.  With
 * h.end == h.cur the inline test sees no room for any size above 0, and
 * costs nothing more without a checker.  The real end is always
 * arena__chunk_end(a->chunk).  Called after every change of h.cur. */
static inline void arena__hide_room(arena_t *a)
{
    if (AP__UNLIKELY(ap__checker()))
        a->h.end = a->h.cur;
}

/* Bump p (aligned, known to fit) past size bytes. */
static inline void *arena__bump_at(arena_t *a, char *p, size_t size)
{
    a->h.cur = p + ARENA__ROUND_UP(size, ARENA_ALIGN);
    arena__hide_room(a);
    ARENA__UNPOISON(p, size);
    return p;
}


/* The library's own allocations (mark records, callbacks): no debug fill. */
static inline void *arena__raw_alloc(arena_t *a, size_t size)
{
    char *p = a->h.cur;
    if (size > (size_t)(arena__chunk_end(a->chunk) - p))
        return arena__alloc_slow(a, size, ARENA_ALIGN);
    return arena__bump_at(a, p, size);
}

static inline void *arena__fill_new(void *p, size_t size)
{
#if ARENAPOOL_DEBUG >= 2
    if (p)
        memset(p, ARENA__FILL_ALLOC, size);
#else
    (void)size;
#endif
    return p;
}

#endif /* ARENAPOOL_ARENA_INTERNAL_H */
