#if !defined(__cplusplus) && (!defined(__STDC_VERSION__) || __STDC_VERSION__ < 201112L)
#error "arenapool needs C11"
#endif
/*
 * arena.h - bump-pointer arenas that grow by linked mmap chunks.
 *
 * Allocate many objects, free them all at once: arena_reset() between frames
 * or requests, or arena_mark()/arena_rewind() for nested scopes.  Cleanup
 * callbacks (arena_defer) run when the scope that registered them ends.
 *
 * Reset one arena, or create one per request?  Keep one and reset (or rewind)
 * it when one loop owns the work (a frame; a connection served start to end by
 * one thread).  Create one per request (arena_create ... arena_destroy, tens of
 * nanoseconds: chunks come from a chunk cache shared by every arena) when
 * requests go to workers or a library cannot own the loop; make it a child
 * (arena_opts_t.parent) of the connection's arena so it cannot outlive it.  An
 * arena over a buffer of your own (arena_opts_t.buffer) with max_bytes =
 * buffer_size makes no system call at all.
 *
 * Guarantees: every arena_alloc result is aligned to ARENA_ALIGN; allocation
 * is O(1) (an inline bump, one branch); rewind and reset are O(chunks + marks
 * and callbacks released).  An arena is used by one thread at a time; distinct
 * arenas need no locking.  Failed calls return NULL or -1 with errno set and
 * leave the arena exactly as it was: every arena_stats field, the blocks, marks
 * and callbacks.  (One exception: to make room under max_bytes a call may give
 * back retained spare chunks, which hold no data, before it maps; if the OS
 * then refuses the mapping, they stay given back.  The cap alone never causes
 * that: a request that cannot fit even without the spares fails first.)
 * A NULL arena gets NULL / -1 with EINVAL (arena_reset and arena_destroy do
 * nothing, arena_stats zeroes *out), except in the inline arena_alloc, which
 * does not test it (debug builds report it).  Any other use of an arena after
 * arena_destroy has no defined answer; debug builds report it, then abort.
 *
 * Build switch (compile your program with the same one as the library):
 *   ARENAPOOL_DEBUG=1..3   misuse checks (1), invariants and fill bytes (2),
 *                          full walks (3); misuse is reported, then abort().
 * Checkers need no switch: when AddressSanitizer or Valgrind Memcheck watches
 * the process, the library notices at run time, sends every inline call to
 * its out-of-line path and poisons the memory it does not hand out (released
 * by rewind and reset, freed pool slots and mp blocks, chunk tails), however
 * the program and the library were each compiled.
 */
#ifndef ARENAPOOL_ARENA_H
#define ARENAPOOL_ARENA_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#ifdef __cplusplus
#include <cstddef>
extern "C" {
#endif

/* ---- Build-mode plumbing shared by arena.h and pool.h ---- */

#ifndef ARENAPOOL_DEBUG
#define ARENAPOOL_DEBUG 0
#endif

#if defined(__GNUC__)
#define ARENA__ASSUME(c) ((c) ? (void)0 : __builtin_unreachable())
#define ARENA__LIKELY(x) __builtin_expect(!!(x), 1)
#define ARENA__UNLIKELY(x) __builtin_expect(!!(x), 0)
#define ARENA__PRINTF(f, a) __attribute__((format(printf, f, a)))
#define ARENA__MALLOC __attribute__((malloc))
#else
#define ARENA__ASSUME(c) ((void)0)
#define ARENA__LIKELY(x) (x)
#define ARENA__UNLIKELY(x) (x)
#define ARENA__PRINTF(f, a)
#define ARENA__MALLOC
#endif

/* ---- Types ---- */

typedef struct arena arena_t;

/* A position in an arena, returned by value.  The fields are private; a mark
 * is checked by arena_rewind (foreign and stale marks are refused). */
typedef struct arena_mark {
    arena_t *arena;
    void *rec;
    uint64_t id;
} arena_mark_t;

/* Alignment of every arena_alloc result: that of max_align_t (16 on x86-64). */
#ifdef __cplusplus
#define ARENA_ALIGN alignof(std::max_align_t)
#else
#define ARENA_ALIGN _Alignof(max_align_t)
#endif

/* retain_bytes values: keep every chunk (the default), or none but the first. */
#define ARENA_RETAIN_ALL SIZE_MAX
#define ARENA_RETAIN_NONE ((size_t)1)

/* flags: put an inaccessible guard page after every chunk, so a linear
 * overflow past a chunk's end faults at once. */
#define ARENA_F_GUARD 1u

typedef struct arena_opts {
    size_t chunk_size;   /* first chunk's size; 0 = default (64 KiB)           */
    size_t max_bytes;    /* cap on bytes mapped by this arena; 0 = no cap       */
    size_t retain_bytes; /* bytes kept mapped by reset and rewind beyond what is
                            in use; 0 = default = ARENA_RETAIN_ALL.  The first
                            chunk is always kept.                               */
    unsigned flags;      /* ARENA_F_*                                          */
    arena_t *parent;     /* NULL, or the arena this one is a child of: the child
                            ends (as arena_destroy) when the parent is
                            destroyed, reset, or rewound to a mark taken before
                            the child was created; a parent and its children
                            are used by one thread at a time                  */
    void *buffer;        /* NULL, or memory the caller owns that becomes the
                            first chunk (ARENA_ALIGN aligned, buffer_size at
                            least ARENA_BUFFER_MIN): never unmapped nor cached,
                            counted in mapped and max_bytes; max_bytes =
                            buffer_size means no mapping ever                 */
    size_t buffer_size;  /* bytes at buffer                                    */
} arena_opts_t;

/* Smallest buffer_size accepted (the arena's own header lives in the buffer). */
#define ARENA_BUFFER_MIN ((size_t)512)

typedef struct arena_stats {
    size_t used;   /* bytes handed out since the last reset, padding included */
    size_t peak;   /* largest `used` ever seen                                */
    size_t mapped; /* bytes currently mapped from the OS                      */
    size_t chunks; /* chunks currently held (in use or retained)              */
    size_t mmaps;  /* chunk mappings made over the arena's life               */
} arena_stats_t;

/* The first fields of every arena: what the inline fast path reads.  Private. */
struct arena__head {
    char *cur;      /* next free byte, always ARENA_ALIGN aligned */
    char *end;      /* end of the usable part of the current chunk */
    uint32_t magic; /* ARENA__MAGIC while alive (checked in debug builds) */
};
#define ARENA__MAGIC 0xA7E4A001u

/* ---- Lifetime ---- */

/* Create an arena (NULL opts = defaults).  NULL with errno = EINVAL for
 * unknown flags, a misaligned or too small buffer, or a parent that is running
 * one of its callbacks; ENOMEM when the first chunk cannot be mapped or exceeds
 * max_bytes, or the parent cannot hold the child's 48-byte record. */
arena_t *arena_create(const arena_opts_t *opts);

/* Run every deferred callback (newest first), end every child, and give all
 * memory back (to the chunk cache; a caller's buffer to the caller).  NULL is a
 * no-op.  Refused (nothing happens; debug builds report it) when called from
 * inside one of this arena's own deferred callbacks.  A child destroyed alone
 * is forgotten by its parent; its 48-byte record is given back when it is
 * still the parent's newest allocation, else it stays until the parent's scope
 * ends (a parent creating and destroying children alone does not grow). */
void arena_destroy(arena_t *a);

/* ---- Chunk cache ---- */

/* Chunks that arenas give back (arena_destroy; reset and rewind beyond
 * retain_bytes) are kept, still mapped and poisoned, in a cache shared by every
 * arena of the process (up to four chunks of at most 256 KiB per thread without
 * a lock, the rest in a shared list), and reused by arena_create and growth:
 * per-request create/destroy makes no system call.  The cache holds at most
 * 8 MiB by default (arena_set_cache_limit); it is emptied before an ENOMEM is
 * reported, and stays usable across fork (a child keeps what the forking thread
 * and the shared list hold).  stats.mmaps counts real mappings only.
 * arena_trim: unmap every chunk in the shared list and in the calling thread's
 * cache (other threads' own few stay until they exit); returns bytes unmapped. */
size_t arena_trim(void);

/* Set the cache's bound in bytes (0 = cache nothing) and return the previous
 * one.  Lowering it unmaps what the shared list and this thread hold beyond it. */
size_t arena_set_cache_limit(size_t bytes);

/* Bytes now held by the cache, every thread's included. */
size_t arena_cache_bytes(void);

/* ---- Allocation ---- */

/* Out-of-line paths behind the inline fast path.  Private. */
void *arena__alloc_slow(arena_t *a, size_t size, size_t align);
void *arena__alloc_checked(arena_t *a, size_t size);

/* `size` bytes aligned to ARENA_ALIGN, valid until the arena is rewound past
 * them, reset or destroyed.  size 0 gives a valid, possibly shared pointer.
 * NULL + ENOMEM when the arena cannot grow (max_bytes, mmap failure). */
ARENA__MALLOC static inline void *arena_alloc(arena_t *a, size_t size)
{
#if ARENAPOOL_DEBUG
    return arena__alloc_checked(a, size);
#else
    /* Fast path budget: ~10 instructions (8 with a constant size), one branch,
     * no call, no division (bench/results/instr.md, make bench-instr).
     * cur and end are both ARENA_ALIGN aligned, so if size fits, its rounded
     * size fits too, and rounding cannot overflow. */
    struct arena__head *h = (struct arena__head *)a;
    char *p = h->cur;
    if (ARENA__UNLIKELY(size > (size_t)(h->end - p)))
        return arena__alloc_slow(a, size, ARENA_ALIGN);
    h->cur = p + ((size + (ARENA_ALIGN - 1)) & ~(size_t)(ARENA_ALIGN - 1));
    ARENA__ASSUME(p != NULL); /* lets the caller's NULL test vanish here */
    return p;
#endif
}

/* `size` bytes aligned to `align`, any power of two (page size and beyond).
 * NULL + EINVAL for align 0 or not a power of two; ENOMEM as arena_alloc. */
ARENA__MALLOC void *arena_alloc_aligned(arena_t *a, size_t size, size_t align);

/* n * size zeroed bytes aligned to ARENA_ALIGN; NULL + ENOMEM on overflow. */
ARENA__MALLOC void *arena_calloc(arena_t *a, size_t n, size_t size);

/* n * size zeroed bytes aligned to `align` (power of two, else EINVAL);
 * NULL + ENOMEM on overflow.  Backs ARENA_NEW for over-aligned types. */
ARENA__MALLOC void *arena_calloc_aligned(arena_t *a, size_t n, size_t size, size_t align);

/* Resize an allocation of old_size bytes.  Grows in place when p is the newest
 * allocation and the chunk has room; shrinking stays in place (and returns the
 * space when p is the newest); otherwise copies min(old, new) bytes to a new
 * block.  A moved block keeps p's alignment up to ARENA_REALLOC_KEEP_ALIGN: it
 * is aligned to the largest power of two dividing p, at most that (so a block
 * from arena_alloc_aligned(a, n, 4096) stays page aligned; beyond it, use
 * arena_realloc_aligned).  p == NULL acts as arena_alloc.  NULL + ENOMEM leaves
 * p untouched.  stats.peak keeps the size before a shrink. */
void *arena_realloc(arena_t *a, void *p, size_t old_size, size_t new_size);

/* The alignment arena_realloc keeps when it moves a block (see there). */
#define ARENA_REALLOC_KEEP_ALIGN ((size_t)4096)

/* arena_realloc whose result is aligned to max(align, ARENA_ALIGN), any power
 * of two: p stays in place only if it already is, else the block moves.
 * p == NULL acts as arena_alloc_aligned.  NULL + EINVAL for a bad align
 * (nothing changed), ENOMEM as arena_realloc. */
void *arena_realloc_aligned(arena_t *a, void *p, size_t old_size, size_t new_size, size_t align);

/* Copy of the NUL-terminated string s in the arena; NULL + EINVAL if s is NULL. */
char *arena_strdup(arena_t *a, const char *s);

/* Copy of at most n bytes of s, always NUL-terminated; NULL + EINVAL if s is NULL. */
char *arena_strndup(arena_t *a, const char *s, size_t n);

/* printf into the arena, formatting in place when the chunk has room.
 * NULL with errno set on a format error or ENOMEM. */
char *arena_sprintf(arena_t *a, const char *fmt, ...) ARENA__PRINTF(2, 3);

/* va_list form of arena_sprintf. */
char *arena_vsprintf(arena_t *a, const char *fmt, va_list ap) ARENA__PRINTF(2, 0);

/* A zeroed T (aligned for T) or NULL. */
#define ARENA_NEW(a, T) ((T *)arena_calloc_aligned((a), 1, sizeof(T), ARENA__ALIGNOF(T)))
/* A zeroed T[n] or NULL; n * sizeof(T) overflow gives NULL + ENOMEM. */
#define ARENA_NEW_ARRAY(a, T, n) \
    ((T *)arena_calloc_aligned((a), (n), sizeof(T), ARENA__ALIGNOF(T)))
#ifdef __cplusplus
#define ARENA__ALIGNOF(T) alignof(T)
#else
#define ARENA__ALIGNOF(T) _Alignof(T)
#endif

/* ---- Scopes ---- */

/* Record the current position (leaves a 48-byte record in the arena, shared
 * with the newest mark when nothing was allocated since it, so a loop of
 * mark / work / rewind takes no memory per iteration).  If the record cannot
 * be allocated, the mark is empty and rewinding to it fails with ENOMEM.
 * Mark identities are unique in the process: no other arena, not even one
 * created later at the same address, accepts a mark of this one. */
arena_mark_t arena_mark(arena_t *a);

/* Free everything allocated after m, run the callbacks deferred after m (newest
 * first), and keep at most retain_bytes of the released chunks.  -1 + EINVAL
 * for a mark from another arena or a stale one (the arena was rewound before it
 * or reset since), changing nothing.  Rewinding to one mark twice is fine. */
int arena_rewind(arena_t *a, arena_mark_t m);

/* Free everything and run every deferred callback (newest first); keeps the
 * first chunk plus up to retain_bytes, coalesced into one chunk so that a
 * steady loop makes no mmap/munmap calls.  Every pool in the arena ends. */
void arena_reset(arena_t *a);

/* Run fn(arg) exactly once when the current scope ends: rewind to a mark taken
 * before this call, reset or destroy; LIFO with other callbacks.  0, or -1 +
 * ENOMEM/EINVAL.
 * What a callback may do: anything with other arenas, pools and the rest of the
 * program, and read this arena's memory that was allocated before it was
 * registered (it is released after the callback returns), and arena_stats on
 * it.  It must not change the arena that runs it: arena_destroy, arena_reset,
 * arena_rewind, arena_mark, arena_defer and arena_alloc_deferred on it are
 * refused (nothing happens, errno = EINVAL; debug builds report it and abort);
 * allocating from it has no defined answer in release builds (the memory goes
 * with the scope being ended) and is reported in debug builds. */
int arena_defer(arena_t *a, void (*fn)(void *), void *arg);

/* `size` bytes aligned to `align` (a power of two, else EINVAL) and fn(arg)
 * deferred as by arena_defer, in one step: either both happen or neither does
 * (NULL + ENOMEM/EINVAL, the arena unchanged).  arg NULL: fn receives the
 * block itself, a destructor for an object that lives in the arena. */
ARENA__MALLOC void *arena_alloc_deferred(arena_t *a, size_t size, size_t align,
                                         void (*fn)(void *), void *arg);

/* Fill *out with the arena's statistics (see arena_stats_t). */
void arena_stats(const arena_t *a, arena_stats_t *out);

/* ---- Scratch arenas (per thread) ---- */

/* Begin a temporary scope on one of this thread's scratch arenas that is not
 * in conflicts[0..n) (pass the arenas your caller may allocate results in).
 * Allocate from the returned mark's .arena; end with arena_scratch_end.  The
 * arenas are created on first use and released when the thread exits.
 * On failure .arena is NULL and errno is ENOMEM (or EINVAL if every scratch
 * arena conflicts). */
arena_mark_t arena_scratch_begin(arena_t *const *conflicts, size_t n);

/* End a scratch scope: rewind its arena to where the scope began. */
void arena_scratch_end(arena_mark_t scratch);

#ifdef __cplusplus
}
#endif

#endif /* ARENAPOOL_ARENA_H */
