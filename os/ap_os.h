/*
 * ap_os.h - the only door to the operating system for every arenapool layer.
 *
 * Arenas, pools and the memory pool obtain and return address space, read the
 * clock, and report fatal misuse only through these calls; nothing else in
 * the project calls mmap/munmap/madvise or clock_gettime.  The environment is
 * read once, beside this layer, by ap_options.c (ap__options()).  The memory
 * calls return 0 or an errno value (they do not touch errno themselves), so
 * a caller can decide what to report and can leave its own state untouched
 * on failure.  Sizes and addresses must be multiples of ap__os_page_size()
 * unless stated otherwise.  No call here allocates, so each may be made from
 * inside malloc (the LD_PRELOAD library).
 *
 * Test builds (ARENAPOOL_FAULT_INJECT) get a seam that makes chosen mappings
 * fail, so every ENOMEM path can be walked deterministically.
 */
#ifndef AP_OS_H
#define AP_OS_H

#include "ap_build.h"
#include "ap_options.h"

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The system page size (a power of two); cached after the first call.
 * Test knob: ARENAPOOL_SIM_PAGE_SIZE=16384 or 65536 simulates a kernel with
 * that page size on a 4 KiB machine: this returns it, every mapping is
 * aligned to it, and an unmap, madvise, mprotect or mremap of a range not
 * aligned to it aborts (a real kernel would round it outward and drop or
 * unmap its neighbours' bytes). */
size_t ap__os_page_size(void) AP__HIDDEN;

/* Map `size` bytes of zeroed, read-write, private anonymous memory.
 * size: non-zero multiple of the page size.  On success *out is page aligned
 * and 0 is returned; otherwise *out is untouched and ENOMEM/EINVAL returned. */
int ap__os_map(size_t size, void **out) AP__HIDDEN;

/* Map `size` bytes whose address is a multiple of `align`.
 * align: power of two >= page size; size: multiple of the page size.
 * Over-maps and trims, so no address space is left over.  0 or errno. */
int ap__os_map_aligned(size_t size, size_t align, void **out) AP__HIDDEN;

/* Map `size` bytes of zeroed, read-write, private anonymous memory exactly
 * at `addr`, only where nothing is mapped in [addr, addr+size) now (never
 * replaces a mapping).  addr and size: page aligned, size non-zero.  0, or
 * EEXIST when the range is taken (or the OS would place it elsewhere),
 * ENOMEM, EINVAL. */
int ap__os_map_at(void *addr, size_t size) AP__HIDDEN;

/* Unmap [p, p+size) obtained from one of the map calls (whole or part of
 * it, page aligned).  0 or errno. */
int ap__os_unmap(void *p, size_t size) AP__HIDDEN;

/* Tell the OS the contents of [p, p+size) are no longer needed: the range
 * stays mapped and reads back as zero; RSS falls.  Page aligned.  0 or errno. */
int ap__os_decommit(void *p, size_t size) AP__HIDDEN;

/* The state of each OS page of [p, p+size) in a private anonymous mapping:
 * vec[i] (one byte per page of ap__os_page_size(); under a simulated page,
 * the most held state among its real pages) is
 *   AP_PAGE_ZERO      backed by nothing: reads zero without a write;
 *   AP_PAGE_HELD      not resident but may hold data (swapped out), or not
 *                     known to be backed by nothing: a caller that wants
 *                     zeros there must drop it or clear it;
 *   AP_PAGE_RESIDENT  resident (mapped, if only to the shared zero page).
 * Without swap space, from mincore (a page not resident is then backed by
 * nothing); with swap, exact from /proc/self/pagemap where it can be read,
 * else from mincore, which cannot tell an empty page from a swapped-out
 * one: every page not resident is then HELD.  Page aligned, inside a
 * mapping.  Not a cancellation point.  0 or errno (vec then undefined). */
enum { AP_PAGE_ZERO = 0, AP_PAGE_HELD = 1, AP_PAGE_RESIDENT = 2 };
int ap__os_page_states(const void *p, size_t size, unsigned char *vec) AP__HIDDEN;
extern int ap__os_states_mode AP__HIDDEN; /* tests: 1 pagemap even without swap, 2 mincore as with swap */

/* Move the pages of [from, from+size) to [to, to+size) without copying
 * (mremap): whatever was mapped at `to` is replaced, and `from` is unmapped.
 * Both page aligned; [from, from+size) inside one mapping.  0 or errno
 * (ENOSYS where the OS cannot move pages); on failure nothing changed. */
int ap__os_move(void *from, size_t size, void *to) AP__HIDDEN;

/* Ask for transparent huge pages on [p, p+size) (MADV_HUGEPAGE): a first
 * touch then faults in a whole 2 MiB page where the range covers one.  A
 * hint: 0 or errno (EINVAL where unsupported or for p == NULL / size == 0).
 * Page aligned, inside a read-write mapping. */
int ap__os_hugepage(void *p, size_t size) AP__HIDDEN;

/* Pre-fault [p, p+size) for writing in one call (MADV_POPULATE_WRITE), so
 * pages a caller is about to write do not fault one by one.  A hint: the
 * contents never change; 0 or errno (EINVAL on kernels before Linux 5.14, or
 * for p == NULL / size == 0).  Page aligned, inside a read-write mapping. */
int ap__os_populate(void *p, size_t size) AP__HIDDEN;

/* Make [p, p+size) inaccessible (guard page); page aligned.  0 or errno. */
int ap__os_protect_none(void *p, size_t size) AP__HIDDEN;

/* Make [p, p+size) readable and writable again.  0 or errno. */
int ap__os_protect_rw(void *p, size_t size) AP__HIDDEN;

/* Report a fatal misuse and abort().  Writes "arenapool: <what> (<name>=<ptr>
 * ...)" to stderr with write(2) only: it never allocates, so it is safe from
 * inside an allocator.  name2/p2 may be NULL. */
_Noreturn void ap__os_fatal(const char *what, const char *name1, const void *p1,
                            const char *name2, const void *p2) AP__HIDDEN;

/* Calls made to the OS's memory functions since start (relaxed counters, for
 * ARENAPOOL_SHOW_STATS and mp_stats_print): mmap, munmap, madvise, mremap,
 * mprotect.  Failed calls count too. */
typedef struct ap_os_calls {
    uint64_t mmap, munmap, madvise, mremap, mprotect;
} ap_os_calls_t;
void ap__os_calls(ap_os_calls_t *out) AP__HIDDEN;

/* Milliseconds of a monotonic clock, coarse where the OS offers one (cheaper;
 * a timer tick's resolution): for ageing idle memory, not for timing.
 * Never allocates, never fails, leaves errno alone. */
uint64_t ap__os_now_ms(void) AP__HIDDEN;

/* A 64-bit value that differs between processes and calls (address-space
 * randomisation, time and a counter mixed); for hardening keys, not crypto. */
uint64_t ap__os_random(void) AP__HIDDEN;

#ifdef ARENAPOOL_FAULT_INJECT
/* Test seam: the map call number `k` counted from now (0 = the next one)
 * fails with ENOMEM; k < 0 disarms.  Returns the number of map calls made
 * since the last arming, so a test can walk k = 0, 1, 2, ... until a workload
 * completes without reaching the armed call. */
long ap__os_fail_nth_map(long k);
#endif

#ifdef __cplusplus
}
#endif

#endif /* AP_OS_H */
