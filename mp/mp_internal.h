/*
 * mp_internal.h - layout shared by the memory pool's files (never installed).
 *
 * Three levels: a per-thread cache (mp_thread_cache.c) of per-class free
 * lists, central free lists per size class (mp_central.c), and a page heap
 * of spans over the OS layer (mp_page_heap.c) with a radix page map that gives
 * the size class and span of any address (mp_pagemap.c).  Large blocks
 * (mp_large.c) are spans of that same heap, so freed space serves either kind.
 *
 * This header holds the inline fast paths (alloc pop, free push) used by
 * mp_alloc.c and by the malloc override, so both get them without a call.
 * Free objects are never linked through their own memory: thread caches and
 * the central level hold arrays of pointers, spans a bitmap.
 */
#ifndef ARENAPOOL_MP_INTERNAL_H
#define ARENAPOOL_MP_INTERNAL_H

#include "mp.h"
#include "ap_os.h"

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Fast paths: inlined whatever the optimiser's estimate says. */
#define MP__INLINE static inline AP__ALWAYS_INLINE

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
_Static_assert(MP_PAGE_SHIFT >= 8 && (255u << MP_PAGE_SHIFT) <= UINT32_MAX, "a small span's page offsets fit the page-map word above the class");

extern const uint32_t mp__class_size[MP_NUM_CLASSES] AP__HIDDEN;
extern const uint8_t mp__class_pages[MP_NUM_CLASSES] AP__HIDDEN;
extern const uint8_t mp__class_batch[MP_NUM_CLASSES] AP__HIDDEN;
extern const uint16_t mp__class_limit[MP_NUM_CLASSES] AP__HIDDEN;
extern const uint16_t mp__class_slots[MP_NUM_CLASSES] AP__HIDDEN;
extern const uint8_t mp__class_index[MP_SMALL_INDEXED / 16 + 1] AP__HIDDEN;
extern const uint16_t mp__class_binoff[MP_SMALL_INDEXED / 16 + 1] AP__HIDDEN;

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
    if (AP__LIKELY(size <= MP_SMALL_INDEXED))
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
    size_t npages;               /* length in pages                             */
    uint32_t used;               /* small: objects out of the span              */
    uint32_t nfree;              /* small: objects whose bit is set in `avail`  */
    uint8_t cls;                 /* small: size class                           */
    uint8_t state;               /* MP_SPAN_*                                   */
    uint8_t committed;           /* free: 1 touched (resident), 2 fresh (never
                                  * handed out), 0 decommitted (madvised away)  */
    uint8_t listed;              /* small: on its central's list                */
    uint32_t backed;             /* small: bytes from the start known resident  */
    uint32_t marked;             /* small: pages [0, marked) carry the class in
                                  * the page map (see span_carve, mp_central.c) */
    uint64_t stamp;              /* free: when it became idle (ms)              */
    /* small: bit i set = object i is free in the span (never carved, or given
     * back); objects are never linked through their own memory, so handing
     * them out or taking them back touches only this record. */
    uint64_t avail[MP_SPAN_WORDS];
} mp_span_t;

/* Page map: a two-level radix tree over 48-bit addresses.  A small span's
 * page carries its class only from the first time an object on it is carved
 * (handed to a cache); the objects on it still in the span get their key
 * then.  Until then it reads class 0 and a free of a pointer there takes the
 * slow path, which reports it: no object there was ever handed out.  So a
 * pointer on a page with a class is a live block or a free one that holds its
 * key (see "Misuse"), never an object with no owner and no key.  A leaf covers
 * 2^18 pages (2 GiB); it holds each page's span and a 32-bit word: the size
 * class (0 = not a small block; see mp__meta_make) or'd with the page's byte
 * offset in its span (a multiple of the page), so free can tell an object's
 * start from its interior with the one load it already makes.  The root
 * stores each leaf as an offset from an all-zero static leaf, so the free
 * fast path needs no NULL check: an unknown address reads class 0 and falls
 * to the slow path. */
#define MP_LEAF_BITS 18
#define MP_ROOT_BITS (48 - MP_PAGE_SHIFT - MP_LEAF_BITS)
#define MP_LEAF_LEN ((size_t)1 << MP_LEAF_BITS)
#define MP_ROOT_LEN ((size_t)1 << MP_ROOT_BITS)

typedef struct mp_leaf {
    uint32_t meta[MP_LEAF_LEN]; /* class | byte offset of the page in its span */
    mp_span_t *span[MP_LEAF_LEN];
} mp_leaf_t;

/* One entry more than the tree needs: always 0 (the empty leaf), read for
 * any address above 48 bits, so such a pointer never aliases a low one. */
extern uintptr_t mp__root[MP_ROOT_LEN + 1] AP__HIDDEN;
extern mp_leaf_t mp__leaf_empty AP__HIDDEN;

MP__INLINE mp_leaf_t *mp__leaf_of(uintptr_t addr)
{
    uintptr_t i = addr >> (MP_PAGE_SHIFT + MP_LEAF_BITS);
    i = i < MP_ROOT_LEN ? i : MP_ROOT_LEN; /* a compare and a cmov */
    uintptr_t off = MP__LOAD(&mp__root[i]);
    return (mp_leaf_t *)((uintptr_t)&mp__leaf_empty + off);
}

/* The page-map word of a small span's marked page: the page's byte offset in
 * its span (a multiple of the page) or'd with its class times 32, the byte
 * offset of the class's list in a thread cache (mp_bin_t), so the free fast
 * path finds its list with one mask.  0: no class (not a small block, or a
 * page not yet marked). */
#define MP_META_CLS_SHIFT 5
#define MP_META_CLS_MASK ((uint32_t)0x7F << MP_META_CLS_SHIFT)
_Static_assert(MP_NUM_CLASSES <= 128 && (128u << MP_META_CLS_SHIFT) <= MP_PAGE_SIZE,
               "the class fits the page-map word below the page offset");

MP__INLINE uint32_t mp__meta_make(size_t cls, size_t page_in_span)
{
    return (uint32_t)(cls << MP_META_CLS_SHIFT | page_in_span << MP_PAGE_SHIFT);
}

MP__INLINE size_t mp__meta_cls(uint32_t m)
{
    return (m & MP_META_CLS_MASK) >> MP_META_CLS_SHIFT;
}

MP__INLINE uint32_t mp__meta_at(const void *p)
{
    uintptr_t a = (uintptr_t)p;
    return MP__LOAD(&mp__leaf_of(a)->meta[(a >> MP_PAGE_SHIFT) & (MP_LEAF_LEN - 1)]); /* marked while others free */
}


/* ceil(2^64 / class size) per class: x is a multiple of the size iff
 * x * c mod 2^64 < c, for x < 2^32 (Lemire's divisibility test: one
 * multiply, no division).  Filled by mp__misuse_init. */
extern uint64_t mp__class_divc[MP_NUM_CLASSES] AP__HIDDEN;

/* Is p, on a page of a small span with page-map word m, not the start of an
 * object?  ~6 instructions, no branch. */
MP__INLINE bool mp__off_bad(const void *p, uint32_t m)
{
    uint64_t off = (m & ~(uint32_t)(MP_PAGE_SIZE - 1)) | ((uintptr_t)p & (MP_PAGE_SIZE - 1));
    uint64_t c = mp__class_divc[mp__meta_cls(m)];
    return off * c >= c;
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

/* The size class of the small span holding p, marked page or not; 0 when p
 * is on no small span (debug checks and tests; not a fast path). */
MP__INLINE size_t mp__class_at(const void *p)
{
    size_t cls = mp__meta_cls(mp__meta_at(p));
    mp_span_t *s = cls ? NULL : mp__span_at(p);
    return s && MP__LOAD(&s->state) == MP_SPAN_SMALL ? __atomic_load_n(&s->cls, __ATOMIC_RELAXED) : cls;
}

/* ---- Page heap (mp_page_heap.c) ---- */

/* A small span of npages pages for class cls: state MP_SPAN_SMALL, every page
 * mapped to it, none marked with the class yet (mp__pagemap_mark); *unbacked:
 * its pages were not resident.  Taken from the high end of a free span (see
 * take_pages).  NULL when the OS refuses. */
mp_span_t *mp__page_alloc(size_t npages, size_t cls, bool *unbacked) AP__HIDDEN;
/* A large block's span of npages pages, its first page a multiple of `align`
 * pages (a power of two): state MP_SPAN_LARGE, first and last page mapped.
 * *zeroed: its pages read as zero.  NULL when the OS refuses. */
mp_span_t *mp__page_alloc_large(size_t npages, size_t align, bool *zeroed) AP__HIDDEN;
/* Give a span to the heap: a small one with all objects back. */
void mp__page_free(mp_span_t *s) AP__HIDDEN;
/* The same for a span whose pages have been idle a decay period already:
 * its pages go back to the OS at once. */
void mp__page_free_idle(mp_span_t *s) AP__HIDDEN;
/* Give large block s (starting at p) to the heap, checking under the heap
 * lock that it is still a live large block there; false (nothing changed)
 * when it is not, as when two threads free it at once. */
bool mp__page_free_large(mp_span_t *s, const void *p) AP__HIDDEN;
/* What the page-map entry of p says, read under the heap lock: the span, its
 * state (0 when p is on no span's bound or page) and whether p is its start. */
mp_span_t *mp__page_lookup(const void *p, uint8_t *state, bool *start) AP__HIDDEN;
/* Make [p, p+size) (a live block's bytes, at its start, from resident free
 * pages) read as zero, by a clear or a drop of its pages, whichever what is
 * resident makes cheaper (see mp_page_release.c). */
void mp__page_clear(void *p, size_t size) AP__HIDDEN;
/* Large span s: make it npages long in place, shrinking (the tail goes back
 * to the heap) or growing into a free neighbour.  false: s unchanged. */
bool mp__page_resize(mp_span_t *s, size_t npages) AP__HIDDEN;
/* Large span s: move its pages (no copy, the OS's mremap) to a new place
 * npages long; the added pages read as zero.  0 or errno: s unchanged. */
int mp__page_move(mp_span_t *s, size_t npages) AP__HIDDEN;
/* Give back every free page and its address space; bytes released. */
size_t mp__page_trim(void) AP__HIDDEN;
/* Bytes in free spans: resident ones, and all (resident or not). */
void mp__page_totals(size_t *free_resident, size_t *free_all) AP__HIDDEN;
uint64_t mp__now_ms(void) AP__HIDDEN;
extern uint64_t mp__clock_skew_ms AP__HIDDEN; /* tests: age idle memory */
void mp__page_lock_all(void) AP__HIDDEN;
void mp__page_unlock_all(void) AP__HIDDEN;
void mp__page_reinit_locks(void) AP__HIDDEN;

/* ---- Page map, span records, metadata (mp_pagemap.c) ---- */

/* Mark pages [from, to) of small span s with its class in the page map
 * (caller holds the span's class lock). */
void mp__pagemap_mark(const mp_span_t *s, size_t from, size_t to) AP__HIDDEN;
/* Make sure the page map has leaves for [addr, addr+len); 0 or ENOMEM. */
int mp__pagemap_reserve(uintptr_t addr, size_t len) AP__HIDDEN;
/* Span records and small metadata (never returned to the OS). */
mp_span_t *mp__span_new(void) AP__HIDDEN;
void mp__span_delete(mp_span_t *s) AP__HIDDEN;
void *mp__meta_alloc(size_t size) AP__HIDDEN;
/* Process-wide counters (relaxed atomics). */
extern size_t mp__stat_mapped AP__HIDDEN; /* bytes from the OS, less decommitted */
extern size_t mp__stat_large AP__HIDDEN;  /* live large bytes            */

/* ---- Central free lists (mp_central.c) ---- */

/* Store up to n objects of class cls in out[0..n); returns how many (0 when
 * memory is exhausted). */
size_t mp__central_fetch(size_t cls, void **out, size_t n) AP__HIDDEN;
/* Take back the n objects of class cls listed in objs[0..n). */
void mp__central_release(size_t cls, void *const *objs, size_t n) AP__HIDDEN;
/* p, the start of an object of class cls: is it free in the central level
 * (transfer stack or its span's bitmap)?  1 yes, 0 no, -1 it is no object
 * of a live span of that class (the tail past a span's last object). */
int mp__central_holds(size_t cls, const void *p) AP__HIDDEN;
/* p, on a page of small span s that carries no class: its class when the
 * page was marked meanwhile and p starts an object, else 0 after reporting
 * the misuse (no object on an unmarked page was ever handed out). */
size_t mp__central_carved_class(const void *p, mp_span_t *s) AP__HIDDEN;
/* Once a decay period has passed since the last pass: objects idle on
 * transfer stacks and unused spare spans go back (see mp_central.c).  Cheap
 * otherwise (a clock read); called by the slow paths. */
void mp__central_decay(void) AP__HIDDEN;
/* Return every object held in transfer caches to its span (for trim). */
void mp__central_drain(void) AP__HIDDEN;
/* Objects out of central (handed to caches or users) and bytes cached in it. */
void mp__central_totals(size_t *out_bytes, size_t *cached_bytes) AP__HIDDEN;
void mp__central_lock_all(void) AP__HIDDEN;
void mp__central_unlock_all(void) AP__HIDDEN;
void mp__central_reinit_locks(void) AP__HIDDEN;

/* ---- Large blocks (mp_large.c) ---- */

/* A block of size bytes (any size up to MP_MAX_REQUEST) aligned to align (0
 * or a power of two), a span of its own in the page heap; *zeroed: it reads
 * as zero.  NULL + ENOMEM. */
void *mp__large_alloc(size_t size, size_t align, bool *zeroed) AP__HIDDEN;
/* Free large block s starting at p (checked again under the heap lock). */
void mp__large_free(mp_span_t *s, const void *p) AP__HIDDEN;
/* p reads class 0 in the page map: the large block that starts at p (NULL
 * otherwise).  *cls: p's class when it starts an object on a small span's
 * page marked meanwhile (*cls > 0); 0 when p is NULL or after reporting what
 * p is (double free, interior, never handed out, foreign). */
mp_span_t *mp__large_find(const void *p, size_t *cls) AP__HIDDEN;
/* Resize large block s to size (> MP_MAX_SMALL) without copying: in place or
 * by moving its pages.  The new address, or NULL (block unchanged). */
void *mp__large_resize(mp_span_t *s, size_t size) AP__HIDDEN;

/* ---- Statistics (mp_stats.c; counts from mp_central.c, mp_thread_cache.c) ---- */

/* Bytes out of the central lists changed by `small_bytes` (large ones are
 * in mp__stat_large): keeps the high-water mark mp_stats_print reports. */
void mp__stats_note(ptrdiff_t small_bytes) AP__HIDDEN;
void mp__central_class(size_t cls, size_t *out, size_t *cached) AP__HIDDEN;
void mp__tcache_counts(size_t counts[MP_NUM_CLASSES]) AP__HIDDEN;

/* ---- Thread cache (mp_thread_cache.c) ---- */

/* A thread's cache of one class: a stack of pointers.  Why an array and not
 * a list through the objects: a pop then reads no object memory (a list pop
 * loads the next pointer from the object, a dependent cache miss when the
 * objects were freed long ago or in random order), a push writes only the free
 * key into the block's second word (the double-free check), and a
 * batch moves to or from the central level as one memcpy. */
typedef struct mp_bin {
    void **slots;   /* objects in slots[0 .. count); capacity >= max */
    uint32_t count; /* objects held (stats read it: relaxed stores) */
    uint32_t max;   /* push inline while count < max; 0 = always the slow path */
    uint64_t divc;  /* mp__class_divc of the class: the free check's multiply
                     * reads it beside count and max, one line, no table */
    uint64_t pad;
} mp_bin_t;

_Static_assert(sizeof(mp_bin_t) == 32, "mp__class_binoff holds class * 32");

typedef struct mp_tcache {
    mp_bin_t bins[MP_NUM_CLASSES]; /* bins[0] has max 0: "not small" */
    struct mp_tcache *next, *prev; /* registry of live caches */
    void **store;                  /* every bin's slots, carved at creation */
    size_t cap_bytes;              /* sum of every list's limit above MP_TC_START, in bytes */
    uint64_t decay_stamp;          /* when this cache last decayed (ms) */
    /* Per list: MP_TC_SPILLED, it has overflowed since the last flush;
     * MP_TC_ACTIVE, it took a slow path since the last decay.  Bits of one
     * byte, so the cache keeps its size rounded to 64 (and the lists'
     * arrays carved after it keep their places). */
    uint8_t flags[MP_NUM_CLASSES];
} mp_tcache_t;

enum { MP_TC_SPILLED = 1, MP_TC_ACTIVE = 2 };

/* A list's limit at creation and after a flush (slow start: a class used once
 * costs one or two objects, not a batch). */
#define MP_TC_START 2u
/* Why a budget for the whole cache: a thread that stops calling keeps its
 * lists until it exits (no other thread may touch them: the fast paths take
 * no lock), so what one thread holds is bounded by what its lists may grow
 * to.  The static limits alone add up to 12 MiB a thread (4 MiB below 4 KiB);
 * instead, the growth of every list above MP_TC_START, in bytes, stays within
 * this, as tcmalloc bounds each thread cache.  Lists a thread stops using
 * hand their room back (tc_decay, mp_thread_cache.c).  Overridable at build
 * time for measurements only. */
#ifndef MP_TC_BUDGET
#define MP_TC_BUDGET ((size_t)2 << 20)
#endif

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
extern _Thread_local mp_tcache_t *mp__tc MP__TLS_IE AP__HIDDEN;

void *mp__alloc_slow(size_t cls) AP__HIDDEN;
void mp__free_slow(void *p, size_t cls) AP__HIDDEN;
/* The free of p (page-map word m) failed mp__small_ok: report it, or free p
 * when the key was there by chance and p is in fact live. */
void mp__free_suspect(void *p, uint32_t m) AP__HIDDEN;
/* p (page-map word m) failed mp__small_ok: true when it is in fact a live
 * block (its key there by chance), false after reporting the misuse. */
bool mp__small_verify(const void *p, uint32_t m) AP__HIDDEN;
/* p, the start of an object of class cls: true when it is live (no key, or
 * the key there by chance: found free nowhere), false after reporting a
 * double free. */
bool mp__small_live(const void *p, size_t cls) AP__HIDDEN;
/* p, a pointer that reads class 0: free it (a large block, or an object on a
 * page marked meanwhile), or report it. */
void mp__free_nonsmall(void *p) AP__HIDDEN;
void mp__tcache_flush(void) AP__HIDDEN;
size_t mp__tcache_bytes(void) AP__HIDDEN;
void mp__atfork_prepare(void) AP__HIDDEN;
void mp__atfork_parent(void) AP__HIDDEN;
void mp__atfork_child(void) AP__HIDDEN;

/* ---- Entry points shared with the override (mp_alloc.c) ---- */

void *mp__alloc_big(size_t size) AP__HIDDEN;      /* > MP_SMALL_INDEXED */
void *mp__aligned(size_t align, size_t size) AP__HIDDEN; /* align: 2^k > 16 */
size_t mp__usable(const void *p) AP__HIDDEN;

/* ---- Misuse (mp_misuse.c) ---- */

/* Why a key in every free block: a second free of the same block must be
 * caught in O(1) wherever the block now waits (this thread's cache, another
 * thread's, a central list, its span).  Every free block holds, in its
 * second word, the per-process random secret xor its own address: free
 * writes it, a fetch from a span writes it into every object it carves, and
 * every path that hands a block out clears it.  Why bound to the address: a
 * program that copies a block's bytes (never-written ones included) into
 * another block carries a key that does not match there.  A free that finds
 * its key is only a hint: the thread cache confirms the block really is free
 * (mp__small_verify) before reporting, so a live block that holds the value
 * by chance is freed normally. */
extern uintptr_t mp__free_key AP__HIDDEN;

MP__INLINE uintptr_t mp__key(const void *p)
{
    return mp__free_key ^ (uintptr_t)p;
}

/* MP_FAST_CHECKS=0 compiles the checks out of the inline fast paths; only
 * for measuring what they cost (bench/instr.sh on bench/instr.c and a library
 * both built with it); never for users. */
#ifndef MP_FAST_CHECKS
#define MP_FAST_CHECKS 1
#endif

/* Report misuse that can only be a bug: "arenapool: <what> (ptr=...)" on
 * stderr, then abort(); with ARENAPOOL_MISUSE=ignore in the environment it
 * returns and the caller drops the pointer (leaks it) instead. */
void mp__misuse(const char *what, const void *p) AP__HIDDEN;
/* Key and divisibility table; idempotent, called before the first cache. */
void mp__misuse_init(void) AP__HIDDEN;
/* The hint: is p, a pointer on a marked page of a small span (word m), the
 * start of an object without its free key?  ~8 instructions, no branch. */
MP__INLINE bool mp__small_ok(const void *p, uint32_t m)
{
    return !((int)mp__off_bad(p, m) | (int)(((const uintptr_t *)p)[1] == mp__key(p)));
}

/* ---- Fast paths ---- */

/* Pop from this thread's bin b of class cls: no object memory is read. */
MP__INLINE void *mp__pop(mp_bin_t *b, size_t cls)
{
    uint32_t n = b->count;
    if (AP__UNLIKELY(n == 0))
        return mp__alloc_slow(cls);
    void *p = b->slots[n - 1];
    MP__STORE(&b->count, n - 1);
#if MP_FAST_CHECKS
    ((uintptr_t *)p)[1] = 0; /* no longer free: clear the key */
#endif
    return p;
}

/* Budget: ~18 instructions with the ret (mp_alloc), one unlikely branch to
 * the slow path, no atomics: a table lookup (giving the bin's byte offset, so
 * no scaling; the class is recovered from it only on the slow path), a TLS
 * load, the pop, the key cleared.  Sizes above 8 KiB take mp__alloc_big
 * (still no lock while the thread cache has objects).  With mp__free_inline:
 * mp_alloc + mp_free 62 instructions (make bench-instr), 45 with
 * MP_FAST_CHECKS=0. */
MP__INLINE void *mp__alloc_inline(size_t size)
{
    if (AP__UNLIKELY(size > MP_SMALL_INDEXED))
        return mp__alloc_big(size);
    size_t off = mp__class_binoff[(size + 15) >> 4];
    return mp__pop((mp_bin_t *)((char *)mp__tc->bins + off), off / sizeof(mp_bin_t));
}

/* Push checked block p on bin b holding n (< max) objects, marking it free. */
MP__INLINE void mp__push(mp_bin_t *b, uint32_t n, void *p)
{
#if MP_FAST_CHECKS
    ((uintptr_t *)p)[1] = mp__key(p);
#endif
    b->slots[n] = p;
    MP__STORE(&b->count, n + 1);
}

/* Push p of class cls on this thread's list, marking it free (the fast path
 * of mp_free_sized).  Budget: ~16 instructions, no atomics, one unlikely
 * branch for the slow path: class 0 (not a small block), an uninitialised
 * cache and a full list all fail count < max, since bins[0] and the empty
 * caches have max 0; and one for the check: a block that already holds the
 * free key is a double free. */
MP__INLINE void mp__free_class(void *p, size_t cls)
{
    mp_bin_t *b = &mp__tc->bins[cls];
    uint32_t n = b->count;
    if (AP__UNLIKELY(n >= b->max)) {
        mp__free_slow(p, cls);
        return;
    }
#if MP_FAST_CHECKS
    if (AP__UNLIKELY(((uintptr_t *)p)[1] == mp__key(p))) {
        mp__free_slow(p, cls); /* confirms, then reports or frees */
        return;
    }
#endif
    mp__push(b, n, p);
}

/* free(): page-map lookup (two dependent loads, the root index clamped so
 * an address above 48 bits reads the empty leaf) giving the class and the
 * page's place in its span, a check that p starts an object and does not
 * hold its free key, then the push.  Budget: ~41 instructions with the ret
 * (mp_free), no atomics, one unlikely branch to the slow path and one for
 * the checks (the compiler may split it in two).  The checks, with the key
 * mp__pop clears, are 17 of the 62 of mp_alloc + mp_free. */
MP__INLINE void mp__free_inline(void *p)
{
    uint32_t m = mp__meta_at(p);
    mp_bin_t *b = (mp_bin_t *)((char *)mp__tc->bins + (m & MP_META_CLS_MASK));
    uint32_t n = b->count;
    if (AP__UNLIKELY(n >= b->max)) {
        mp__free_slow(p, mp__meta_cls(m));
        return;
    }
#if MP_FAST_CHECKS
    /* mp__small_ok, with the divisor from the bin (loaded with it) */
    uintptr_t key = mp__key(p);
    uint64_t off = (m & ~(uint32_t)(MP_PAGE_SIZE - 1)) | ((uintptr_t)p & (MP_PAGE_SIZE - 1)), c = b->divc;
    if (AP__UNLIKELY((int)(off * c >= c) | (int)(((const uintptr_t *)p)[1] == key))) {
        mp__free_suspect(p, m);
        return;
    }
    ((uintptr_t *)p)[1] = key;
#endif
    b->slots[n] = p;
    MP__STORE(&b->count, n + 1);
}

#endif /* ARENAPOOL_MP_INTERNAL_H */
