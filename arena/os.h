/*
 * os.h - the only door to the operating system for every arenapool layer.
 *
 * Arenas, pools and the memory pool obtain and return address space only
 * through these calls; nothing else in the project calls mmap/munmap/madvise.
 * Each call returns 0 or an errno value (it does not touch errno itself), so a
 * caller can decide what to report and can leave its own state untouched on
 * failure.  Sizes and addresses must be multiples of arena__os_page_size()
 * unless stated otherwise.
 *
 * Test builds (ARENAPOOL_FAULT_INJECT) get a seam that makes chosen mappings
 * fail, so every ENOMEM path can be walked deterministically.
 */
#ifndef ARENAPOOL_OS_H
#define ARENAPOOL_OS_H

#include <stddef.h>
#include <stdint.h>

#if defined(__GNUC__) && !defined(_WIN32)
#define ARENA__HIDDEN __attribute__((visibility("hidden")))
#else
#define ARENA__HIDDEN
#endif

/* Slow paths: kept out of line and out of the hot code's cache lines. */
#if defined(__GNUC__)
#define ARENA__NOINLINE __attribute__((noinline))
#define ARENA__COLD __attribute__((cold))
#else
#define ARENA__NOINLINE
#define ARENA__COLD
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* The system page size (a power of two); cached after the first call. */
size_t arena__os_page_size(void) ARENA__HIDDEN;

/* Map `size` bytes of zeroed, read-write, private anonymous memory.
 * size: non-zero multiple of the page size.  On success *out is page aligned
 * and 0 is returned; otherwise *out is untouched and ENOMEM/EINVAL returned. */
int arena__os_map(size_t size, void **out) ARENA__HIDDEN;

/* Map `size` bytes whose address is a multiple of `align`.
 * align: power of two >= page size; size: multiple of the page size.
 * Over-maps and trims, so no address space is left over.  0 or errno. */
int arena__os_map_aligned(size_t size, size_t align, void **out) ARENA__HIDDEN;

/* Unmap [p, p+size) obtained from one of the map calls (whole or part of
 * it, page aligned).  0 or errno. */
int arena__os_unmap(void *p, size_t size) ARENA__HIDDEN;

/* Tell the OS the contents of [p, p+size) are no longer needed: the range
 * stays mapped and reads back as zero; RSS falls.  Page aligned.  0 or errno. */
int arena__os_decommit(void *p, size_t size) ARENA__HIDDEN;

/* Move the pages of [from, from+size) to [to, to+size) without copying
 * (mremap): whatever was mapped at `to` is replaced, and `from` is unmapped.
 * Both page aligned; [from, from+size) inside one mapping.  0 or errno
 * (ENOSYS where the OS cannot move pages); on failure nothing changed. */
int arena__os_move(void *from, size_t size, void *to) ARENA__HIDDEN;

/* Ask for transparent huge pages on [p, p+size) (MADV_HUGEPAGE): a first
 * touch then faults in a whole 2 MiB page where the range covers one.  A
 * hint: 0 or errno (EINVAL where unsupported or for p == NULL / size == 0).
 * Page aligned, inside a read-write mapping. */
int arena__os_hugepage(void *p, size_t size) ARENA__HIDDEN;

/* Pre-fault [p, p+size) for writing in one call (MADV_POPULATE_WRITE), so
 * pages a caller is about to write do not fault one by one.  A hint: the
 * contents never change; 0 or errno (EINVAL on kernels before Linux 5.14, or
 * for p == NULL / size == 0).  Page aligned, inside a read-write mapping. */
int arena__os_populate(void *p, size_t size) ARENA__HIDDEN;

/* Make [p, p+size) inaccessible (guard page); page aligned.  0 or errno. */
int arena__os_protect_none(void *p, size_t size) ARENA__HIDDEN;

/* Make [p, p+size) readable and writable again.  0 or errno. */
int arena__os_protect_rw(void *p, size_t size) ARENA__HIDDEN;

/* Report a fatal misuse and abort().  Writes "arenapool: <what> (<name>=<ptr>
 * ...)" to stderr with write(2) only: it never allocates, so it is safe from
 * inside an allocator.  name2/p2 may be NULL. */
_Noreturn void arena__os_fatal(const char *what, const char *name1, const void *p1,
                               const char *name2, const void *p2) ARENA__HIDDEN;

/* A 64-bit value that differs between processes and calls (address-space
 * randomisation, time and a counter mixed); for hardening keys, not crypto. */
uint64_t arena__os_random(void) ARENA__HIDDEN;

#ifdef ARENAPOOL_FAULT_INJECT
/* Test seam: the map call number `k` counted from now (0 = the next one)
 * fails with ENOMEM; k < 0 disarms.  Returns the number of map calls made
 * since the last arming, so a test can walk k = 0, 1, 2, ... until a workload
 * completes without reaching the armed call. */
long arena__os_fail_nth_map(long k);
#endif

#ifdef __cplusplus
}
#endif

#endif /* ARENAPOOL_OS_H */
