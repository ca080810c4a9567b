#if !defined(__cplusplus) && (!defined(__STDC_VERSION__) || __STDC_VERSION__ < 201112L)
#error "arenapool needs C11"
#endif
#if defined(__SIZEOF_POINTER__) && __SIZEOF_POINTER__ != 8
#error "arenapool's mp needs a 64-bit target: its page map covers 48-bit addresses"
#endif
/*
 * mp.h - the thread-caching memory pool: a general-purpose allocator.
 *
 * Small blocks (up to 256 KiB) come from size classes served by a per-thread
 * cache without locks or atomics; the cache trades batches with central free
 * lists, which carve spans of pages from a page heap over the OS layer.
 * Larger blocks are runs of pages from the same page heap; freed pages stay
 * resident for a while (up to 3/4 of the recent peak in use, at least 32 MiB;
 * pages idle for 1 s go back at the next call that reaches the page heap),
 * and free address space beyond a 32 MiB reserve is unmapped.  Every function is thread-safe; a
 * block may be freed by any thread.  The mp_* calls follow malloc's semantics
 * (errno, alignment, NULL handling).
 *
 * The LD_PRELOAD library, libarenapool_malloc.so (installed next to
 * libarenapool.so; give LD_PRELOAD its absolute path), puts this pool under an
 * unmodified program: malloc, free, calloc, realloc, reallocarray, memalign,
 * aligned_alloc, posix_memalign, valloc, pvalloc and malloc_usable_size with
 * glibc's answers, and glibc's malloc_trim (mp_trim), mallinfo2 / mallinfo
 * (mp_stats), malloc_stats (mp_stats_print on stderr), malloc_info (the same
 * figures in glibc's XML) and mallopt (accepted, ignored).
 *
 * Environment, read once at start by the library and the LD_PRELOAD library
 * alike; a value outside its list, or an unknown ARENAPOOL_* name, gets one
 * warning line on stderr naming it, and the default stays:
 *   variable                 values         effect
 *   ARENAPOOL_MISUSE         abort|ignore   on a double or foreign free: report
 *                                           and abort (default), or drop the
 *                                           pointer (leak it) and go on
 *   ARENAPOOL_THP            0|1            1: transparent huge pages for the
 *                                           pool's regions (default 0)
 *   ARENAPOOL_SHOW_STATS     0|1            1: mp_stats_print on stderr at exit
 *   ARENAPOOL_VERBOSE        0|1            1: the version and every variable's
 *                                           effective value on stderr at start
 *   ARENAPOOL_SIM_PAGE_SIZE  16384|65536    tests only: behave as on an OS whose
 *                                           page is that large
 *
 * Under AddressSanitizer or Valgrind Memcheck (found at run time) freed
 * blocks are poisoned, so a use after mp_free is reported; the thread caches
 * are then off (a lock per call).
 */
#ifndef ARENAPOOL_MP_H
#define ARENAPOOL_MP_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define MP__MALLOC_ATTR __attribute__((malloc, warn_unused_result))
#else
#define MP__MALLOC_ATTR
#endif

/* A block of at least size bytes, 16-byte aligned, owned by the caller until
 * mp_free.  size 0 gives a unique pointer.  NULL + ENOMEM when out of memory. */
void *mp_alloc(size_t size) MP__MALLOC_ATTR;

/* n * size zeroed bytes, 16-byte aligned.  NULL + ENOMEM when the product
 * overflows or memory is exhausted. */
void *mp_calloc(size_t n, size_t size) MP__MALLOC_ATTR;

/* Resize p to size bytes, keeping the contents up to the smaller size.  Stays
 * in place when the new size maps to the block's own size class.  p NULL = mp_alloc;
 * size 0 frees p and returns NULL (glibc).  On failure NULL + ENOMEM, p intact. */
void *mp_realloc(void *p, size_t size) MP__MALLOC_ATTR;

/* A block of size bytes aligned to align (any power of two; any size).
 * NULL + EINVAL when align is not a power of two, NULL + ENOMEM when out of memory. */
void *mp_aligned_alloc(size_t align, size_t size) MP__MALLOC_ATTR;

/* Release a block from any mp_* allocation call, from any thread.  NULL is a
 * no-op.  Every build reports a double free, a pointer inside a block and one
 * mp never handed out ("arenapool: double free (ptr=0x...)") and aborts;
 * ARENAPOOL_MISUSE=ignore drops the pointer instead. */
void mp_free(void *p);

/* mp_free for a block from mp_alloc/mp_calloc/mp_realloc when the caller
 * knows the size it asked for: skips the page-map lookup.  Not for aligned
 * blocks.  A wrong size is caught by debug builds, and by release builds only
 * when the free takes the slow path: otherwise the block is filed under the
 * wrong size class and the heap is corrupted. */
void mp_free_sized(void *p, size_t size);

/* Bytes usable in the block p (>= the size asked for); 0 for NULL. */
size_t mp_usable_size(const void *p);

/* Give this thread's cached free blocks back to the central lists now (a
 * thread's cache is also given back when the thread exits). */
void mp_thread_flush(void);

/* Return free memory to the OS now: this thread's cache, the central caches
 * and every free page of the heap (unmapped).  Returns the bytes released. */
size_t mp_trim(void);

typedef struct mp_stats {
    size_t mapped; /* bytes held from the OS (memory given back with madvise does not count) */
    size_t in_use; /* bytes in live allocations, as rounded to their size class (large included) */
    size_t cached; /* bytes free in thread and central caches, in spans in use, and resident free pages of the page heap */
    size_t large;  /* bytes in live allocations above the largest size class */
} mp_stats_t;

/* Process-wide counters; approximate while other threads allocate. */
void mp_stats(mp_stats_t *out);

/* Write a summary to file descriptor fd (2 for stderr): the mp_stats figures,
 * the peak of bytes in use, the OS calls made (mmap, munmap, madvise, mremap,
 * mprotect) and each size class's blocks in use and cached.  Uses write(2)
 * and a fixed buffer, never malloc.  0, or -1 with errno from write. */
int mp_stats_print(int fd);

#ifdef __cplusplus
}
#endif

#endif /* ARENAPOOL_MP_H */
