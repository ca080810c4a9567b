/*
 * mp_internal.h - layout shared by the memory pool's files (never installed).
 *
 * Three levels: a per-thread cache (mp_thread_cache.c) of per-class free
 * lists, central free lists per size class (mp_central.c), and a page heap
 * of spans over the OS layer (mp_page_heap.c) with a radix page map that gives
 * the size class and span of any address.  Large blocks (mp_large.c) are
 * mappings of their own, kept in a small decaying cache after free.
 *
 * This header holds the inline fast paths (alloc pop, free push) used by
 * mp_alloc.c and by the malloc override, so both get them without a call.
 * Free objects are never linked through their own memory: thread caches and
 * the central level hold arrays of pointers, spans a bitmap.
 */
#ifndef ARENAPOOL_MP_INTERNAL_H
#define ARENAPOOL_MP_INTERNAL_H

#include "mp.h"
#include "os.h"

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifndef ARENAPOOL_DEBUG
#define ARENAPOOL_DEBUG 0
#endif

#if defined(__GNUC__)
#define MP__LIKELY(x) __builtin_expect(!!(x), 1)
#define MP__UNLIKELY(x) __builtin_expect(!!(x), 0)
#define MP__NOINLINE __attribute__((noinline))
#define MP__COLD __attribute__((cold))
#define MP__INLINE static inline __attribute__((always_inline))
#else
#define MP__LIKELY(x) (x)
#define MP__UNLIKELY(x) (x)
#define MP__NOINLINE
#define MP__COLD
#define MP__INLINE static inline
#endif

/* Relaxed atomics on plain fields: a plain mov on x86-64, but stats readers
 * on other threads are then not data races (ThreadSanitizer agrees). */
#define MP__LOAD(p) __atomic_load_n((p), __ATOMIC_RELAXED)
#define MP__STORE(p, v) __atomic_store_n((p), (v), __ATOMIC_RELAXED)
#define MP__ADD(p, v) __atomic_fetch_add((p), (v), __ATOMIC_RELAXED)
#define MP__SUB(p, v) __atomic_fetch_sub((p), (v), __ATOMIC_RELAXED)

/* ---- Sizes ---- */

#define MP_ALIGN 16u                       /* every block is aligned to this */
#define MP_PAGE_SHIFT 13                   /* page-heap page: 8 KiB          */
#define MP_PAGE_SIZE ((size_t)1 << MP_PAGE_SHIFT)
#define MP_NUM_CLASSES 97                  /* class 0 = "not a small block"  */
#define MP_MAX_SMALL ((size_t)256 * 1024)  /* largest size class             */
#define MP_SMALL_INDEXED 8192              /* sizes <= this use a table      */
/* Largest request considered at all: keeps every rounding below overflow. */
#define MP_MAX_REQUEST ((size_t)PTRDIFF_MAX - ((size_t)1 << 26))

_Static_assert((MP_PAGE_SIZE & (MP_PAGE_SIZE - 1)) == 0, "page size is a power of two");
_Static_assert(MP_MAX_SMALL % MP_PAGE_SIZE == 0, "largest class fills whole pages");

extern const uint32_t mp__class_size[MP_NUM_CLASSES] ARENA__HIDDEN;
extern const uint8_t mp__class_pages[MP_NUM_CLASSES] ARENA__HIDDEN;
extern const uint8_t mp__class_batch[MP_NUM_CLASSES] ARENA__HIDDEN;
extern const uint16_t mp__class_limit[MP_NUM_CLASSES] ARENA__HIDDEN;
extern const uint16_t mp__class_slots[MP_NUM_CLASSES] ARENA__HIDDEN;
extern const uint8_t mp__class_index[MP_SMALL_INDEXED / 16 + 1] ARENA__HIDDEN;
extern const uint16_t mp__class_binoff[MP_SMALL_INDEXED / 16 + 1] ARENA__HIDDEN;

/* Class of a request in (128, MP_MAX_SMALL]: eight classes per doubling,
 * so the rounding wastes at most 1/8.  ~6 instructions, no branch. */
MP__INLINE size_t mp__class_of_mid(size_t size)
{
    size_t s = size - 1;
    unsigned e = 63u - (unsigned)__builtin_clzll((unsigned long long)s);
    return 8u + (e - 7u) * 8u + ((s >> (e - 3u)) & 7u) + 1u;
}

/* Class for any size <= MP_MAX_SMALL (0 maps to the 16-byte class). */
MP__INLINE size_t mp__class_of(size_t size)
{
    if (MP__LIKELY(size <= MP_SMALL_INDEXED))
        return mp__class_index[(size + 15) >> 4];
    return mp__class_of_mid(size);
}

/* ---- Spans and the page map ---- */

enum { MP_SPAN_FREE = 1, MP_SPAN_SMALL = 2, MP_SPAN_LARGE = 3 };

/* Most objects a small span holds (16-byte class, one page): its bitmap. */
#define MP_SPAN_MAX_OBJS 512
#define MP_SPAN_WORDS (MP_SPAN_MAX_OBJS / 64)

typedef struct mp_span {
    struct mp_span *next, *prev; /* page-heap free list, or central span list */
    uintptr_t page;              /* first page number (address >> MP_PAGE_SHIFT) */
    size_t npages;               /* small/free: length in pages                 */
    uint32_t used;               /* small: objects out of the span              */
    uint32_t nfree;              /* small: objects whose bit is set in `avail`  */
    uint8_t cls;                 /* small: size class                           */
    uint8_t state;               /* MP_SPAN_*                                   */
    uint8_t committed;           /* free: 1 touched (resident), 2 fresh (never
                                  * handed out), 0 decommitted (madvised away)  */
    uint8_t listed;              /* small: on its central's list                */
    uint64_t stamp;              /* free/cached: when it became idle (ms)       */
    void *user;                  /* large: the pointer handed out               */
    char *base;                  /* large: mapping start                        */
    size_t bytes;                /* large: mapping length                       */
    /* small: bit i set = object i is free in the span (never carved, or given
     * back); objects are never linked through their own memory, so handing
     * them out or taking them back touches only this record. */
    uint64_t avail[MP_SPAN_WORDS];
} mp_span_t;

/* Page map: a two-level radix tree over 48-bit addresses.  A leaf covers
 * 2^18 pages (2 GiB); it holds each page's size class (0 = not a small block)
 * and span.  The root stores each leaf as an offset from an all-zero static
 * leaf, so the free fast path needs no NULL check: an unknown address reads
 * class 0 and falls to the slow path. */
#define MP_LEAF_BITS 18
#define MP_ROOT_BITS (48 - MP_PAGE_SHIFT - MP_LEAF_BITS)
#define MP_LEAF_LEN ((size_t)1 << MP_LEAF_BITS)
#define MP_ROOT_LEN ((size_t)1 << MP_ROOT_BITS)

typedef struct mp_leaf {
    uint8_t cls[MP_LEAF_LEN];
    mp_span_t *span[MP_LEAF_LEN];
} mp_leaf_t;

extern uintptr_t mp__root[MP_ROOT_LEN] ARENA__HIDDEN;
extern mp_leaf_t mp__leaf_empty ARENA__HIDDEN;

MP__INLINE mp_leaf_t *mp__leaf_of(uintptr_t addr)
{
    uintptr_t off = MP__LOAD(&mp__root[(addr >> (MP_PAGE_SHIFT + MP_LEAF_BITS)) & (MP_ROOT_LEN - 1)]);
    return (mp_leaf_t *)((uintptr_t)&mp__leaf_empty + off);
}

MP__INLINE size_t mp__class_at(const void *p)
{
    uintptr_t a = (uintptr_t)p;
    return mp__leaf_of(a)->cls[(a >> MP_PAGE_SHIFT) & (MP_LEAF_LEN - 1)];
}

/* The span holding p, or NULL for an address the pool never handed out. */
MP__INLINE mp_span_t *mp__span_at(const void *p)
{
    uintptr_t a = (uintptr_t)p;
    if ((a >> 48) != 0)
        return NULL;
    mp_leaf_t *leaf = mp__leaf_of(a);
    if (leaf == &mp__leaf_empty)
        return NULL;
    return MP__LOAD(&leaf->span[(a >> MP_PAGE_SHIFT) & (MP_LEAF_LEN - 1)]);
}

/* ---- Page heap (mp_page_heap.c) ---- */

/* A span of npages committed pages, state MP_SPAN_SMALL, page map entries
 * set for class cls on every page; NULL when the OS refuses.  prefault: the
 * caller expects to fill it soon, so unbacked pages are faulted in at once. */
mp_span_t *mp__page_alloc(size_t npages, size_t cls, bool prefault) ARENA__HIDDEN;
/* Give a small span (all objects back) to the heap: coalesce, maybe decommit. */
void mp__page_free(mp_span_t *s) ARENA__HIDDEN;
/* Decommit every free committed span; bytes released. */
size_t mp__page_trim(void) ARENA__HIDDEN;
/* Make sure the page map has leaves for [addr, addr+len); 0 or ENOMEM. */
int mp__pagemap_reserve(uintptr_t addr, size_t len) ARENA__HIDDEN;
void mp__pagemap_set(uintptr_t page, mp_span_t *s) ARENA__HIDDEN;
/* Span records and small metadata (never returned to the OS). */
mp_span_t *mp__span_new(void) ARENA__HIDDEN;
void mp__span_delete(mp_span_t *s) ARENA__HIDDEN;
void *mp__meta_alloc(size_t size) ARENA__HIDDEN;
uint64_t mp__now_ms(void) ARENA__HIDDEN;
extern uint64_t mp__clock_skew_ms ARENA__HIDDEN; /* tests: age idle memory */
void mp__page_lock_all(void) ARENA__HIDDEN;
void mp__page_unlock_all(void) ARENA__HIDDEN;
void mp__page_reinit_locks(void) ARENA__HIDDEN;

/* Process-wide counters (relaxed atomics). */
extern size_t mp__stat_mapped ARENA__HIDDEN; /* committed bytes from the OS */
extern size_t mp__stat_large ARENA__HIDDEN;  /* live large bytes            */
extern size_t mp__stat_large_cached ARENA__HIDDEN;

/* ---- Central free lists (mp_central.c) ---- */

/* Store up to n objects of class cls in out[0..n); returns how many (0 when
 * memory is exhausted). */
size_t mp__central_fetch(size_t cls, void **out, size_t n) ARENA__HIDDEN;
/* Take back the n objects of class cls listed in objs[0..n). */
void mp__central_release(size_t cls, void *const *objs, size_t n) ARENA__HIDDEN;
/* Return every object held in transfer caches to its span (for trim). */
void mp__central_drain(void) ARENA__HIDDEN;
/* Objects out of central (handed to caches or users) and bytes cached in it. */
void mp__central_totals(size_t *out_bytes, size_t *cached_bytes) ARENA__HIDDEN;
void mp__central_lock_all(void) ARENA__HIDDEN;
void mp__central_unlock_all(void) ARENA__HIDDEN;
void mp__central_reinit_locks(void) ARENA__HIDDEN;

/* ---- Large blocks (mp_large.c) ---- */

/* A block of size bytes aligned to align (0 or a power of two), on a mapping
 * of its own; *fresh says it was just mapped (so reads as zero).  NULL+ENOMEM. */
void *mp__large_alloc(size_t size, size_t align, bool *fresh) ARENA__HIDDEN;
void mp__large_free(mp_span_t *s) ARENA__HIDDEN;
size_t mp__large_trim(void) ARENA__HIDDEN;
void mp__large_lock_all(void) ARENA__HIDDEN;
void mp__large_unlock_all(void) ARENA__HIDDEN;
void mp__large_reinit_locks(void) ARENA__HIDDEN;

/* ---- Thread cache (mp_thread_cache.c) ---- */

/* A thread's cache of one class: a stack of pointers.  Why an array and not
 * a list through the objects: a pop then reads no object memory (a list pop
 * loads the next pointer from the object, a dependent cache miss when the
 * objects were freed long ago or in random order), a push writes none, and a
 * batch moves to or from the central level as one memcpy. */
typedef struct mp_bin {
    void **slots;   /* objects in slots[0 .. count); capacity >= max */
    uint32_t count; /* objects held (stats read it: relaxed stores) */
    uint32_t max;   /* push inline while count < max; 0 = always the slow path */
} mp_bin_t;

_Static_assert(sizeof(mp_bin_t) == 16, "mp__class_binoff holds class * 16");

typedef struct mp_tcache {
    mp_bin_t bins[MP_NUM_CLASSES]; /* bins[0] has max 0: "not small" */
    struct mp_tcache *next, *prev; /* registry of live caches */
    void **store;                  /* every bin's slots, carved at creation */
    size_t dyn_bytes;              /* list limits granted above the static ones */
    uint8_t spilled[MP_NUM_CLASSES]; /* list has overflowed since the last flush */
} mp_tcache_t;

#if defined(__GNUC__) && (defined(__PIE__) || !defined(__PIC__))
#define MP__TLS_IE __attribute__((tls_model("local-exec")))
#elif defined(__GNUC__)
#define MP__TLS_IE __attribute__((tls_model("initial-exec")))
#else
#define MP__TLS_IE
#endif

/* Why initial-exec: the LD_PRELOAD library must not call __tls_get_addr (it
 * may allocate) and a malloc fast path cannot afford it.  Only a pointer lives
 * in TLS, so a dlopen of the library still finds room in the static block.
 * Code built for an executable (PIE or not) uses local-exec instead: the
 * pointer is then read straight at a constant %fs offset, without first
 * loading that offset from the GOT (one instruction less on each path). */
extern _Thread_local mp_tcache_t *mp__tc MP__TLS_IE ARENA__HIDDEN;

void *mp__alloc_slow(size_t cls) ARENA__HIDDEN;
void mp__free_slow(void *p, size_t cls) ARENA__HIDDEN;
void mp__tcache_flush(void) ARENA__HIDDEN;
size_t mp__tcache_bytes(void) ARENA__HIDDEN;
void mp__atfork_prepare(void) ARENA__HIDDEN;
void mp__atfork_parent(void) ARENA__HIDDEN;
void mp__atfork_child(void) ARENA__HIDDEN;

/* ---- Entry points shared with the override (mp_alloc.c) ---- */

void *mp__alloc_big(size_t size) ARENA__HIDDEN;      /* > MP_SMALL_INDEXED */
void mp__free_nonsmall(void *p) ARENA__HIDDEN;       /* class-0 page       */
void *mp__aligned(size_t align, size_t size) ARENA__HIDDEN; /* align: 2^k > 16 */
size_t mp__usable(const void *p) ARENA__HIDDEN;
_Noreturn void mp__bad_free(const char *what, const void *p) ARENA__HIDDEN;

#if ARENAPOOL_DEBUG
/* Debug builds mark freed blocks in their second word (blocks are >= 16 bytes)
 * with an address-keyed cookie; a second free of the same block sees it. */
extern uintptr_t mp__cookie ARENA__HIDDEN;
#define MP__FREED_MARK(p) (mp__cookie ^ (uintptr_t)(p))
void mp__debug_check_free(void *p) ARENA__HIDDEN;
#endif

/* ---- Fast paths ---- */

/* Pop from this thread's bin b of class cls: no object memory is read. */
MP__INLINE void *mp__pop(mp_bin_t *b, size_t cls)
{
    uint32_t n = b->count;
    if (MP__UNLIKELY(n == 0))
        return mp__alloc_slow(cls);
    void *p = b->slots[n - 1];
    MP__STORE(&b->count, n - 1);
#if ARENAPOOL_DEBUG
    ((uintptr_t *)p)[1] = 0;
#endif
    return p;
}

/* Budget: ~17 instructions with the ret, one unlikely branch, no atomics: a
 * table lookup (giving the bin's byte offset, so no scaling; the class is
 * recovered from it only on the slow path), a TLS load, the pop.  Sizes
 * above 8 KiB take mp__alloc_big (still no lock while the thread cache has
 * objects). */
MP__INLINE void *mp__alloc_inline(size_t size)
{
    if (MP__UNLIKELY(size > MP_SMALL_INDEXED))
        return mp__alloc_big(size);
    size_t off = mp__class_binoff[(size + 15) >> 4];
    return mp__pop((mp_bin_t *)((char *)mp__tc->bins + off), off / sizeof(mp_bin_t));
}

/* Push p of class cls on this thread's list.  Budget: ~10 instructions, one
 * unlikely branch: class 0 (not a small block), an uninitialised cache and a
 * full list all fail count < max, since bins[0] and the empty caches have
 * max 0. */
MP__INLINE void mp__free_class(void *p, size_t cls)
{
    mp_bin_t *b = &mp__tc->bins[cls];
    uint32_t n = b->count;
    if (MP__UNLIKELY(n >= b->max)) {
        mp__free_slow(p, cls);
        return;
    }
    b->slots[n] = p;
    MP__STORE(&b->count, n + 1);
}

/* free(): page-map class lookup (two dependent loads), then the push.
 * 24 instructions with the ret (callgrind). */
MP__INLINE void mp__free_inline(void *p)
{
#if ARENAPOOL_DEBUG
    mp__debug_check_free(p);
#endif
    mp__free_class(p, mp__class_at(p));
}

#endif /* ARENAPOOL_MP_INTERNAL_H */
