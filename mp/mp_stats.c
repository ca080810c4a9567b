/*
 * mp_stats.c - the memory pool's statistics as text: mp_stats_print, the
 * ARENAPOOL_SHOW_STATS=1 summary at exit, and the high-water mark of bytes
 * handed out that both report.
 *
 * Everything here runs inside the allocator it reports on (malloc_stats() in
 * the LD_PRELOAD library calls it), so nothing allocates: figures are read
 * into locals, each line is built in a fixed buffer and written with write(2)
 * (ap_out.h).  Counts come from mp_stats, the central lists and the thread
 * caches (mp__central_class, mp__tcache_counts) and the OS layer's call
 * counters; they are approximate while other threads allocate.
 */
#include "mp_internal.h"
#include "ap_out.h"

#include "../include/arenapool/version.h"

#include <errno.h>

/* ---- High-water mark ---- */

static size_t small_out; /* bytes out of the central lists (relaxed)      */
static size_t peak_out;  /* most of small_out + mp__stat_large seen at once */

/* Why here and not on every malloc: the central lists and the page heap see
 * every batch and every large block, so the mark costs the fast paths
 * nothing; it counts free blocks waiting in thread caches as in use, an
 * upper bound by at most the caches' size. */
void mp__stats_note(ptrdiff_t small_bytes)
{
    size_t now = small_bytes >= 0 ? MP__ADD(&small_out, (size_t)small_bytes) + (size_t)small_bytes
                                  : MP__SUB(&small_out, (size_t)-small_bytes) - (size_t)-small_bytes;
    if (small_bytes < 0)
        return;
    now += MP__LOAD(&mp__stat_large);
    size_t peak = MP__LOAD(&peak_out);
    while (now > peak &&
           !__atomic_compare_exchange_n(&peak_out, &peak, now, true, __ATOMIC_RELAXED, __ATOMIC_RELAXED))
        ;
}

/* ---- The summary ---- */

/* "arenapool:   <label>  <bytes> bytes" (the caller may add to the line). */
static void bytes_line(ap_out_t *o, const char *label, size_t bytes)
{
    ap__out_str(o, "arenapool:   ");
    ap__out_col(o, label, 14);
    ap__out_u(o, bytes, 14);
    ap__out_str(o, " bytes");
}

static int end_line(ap_out_t *o, int fd, int err)
{
    ap__out_str(o, "\n");
    int e = ap__out_flush(o, fd);
    return err ? err : e;
}

int mp_stats_print(int fd)
{
    mp_stats_t st;
    mp_stats(&st);
    ap_os_calls_t calls;
    ap__os_calls(&calls);
    size_t peak = MP__LOAD(&peak_out);
    size_t tc[MP_NUM_CLASSES] = {0};
    mp__tcache_counts(tc);

    ap_out_t o = {.len = 0};
    int err = 0;
    ap__out_str(&o, "arenapool: statistics (arenapool " ARENAPOOL_VERSION ")");
    err = end_line(&o, fd, err);
    bytes_line(&o, "in use", st.in_use);
    ap__out_str(&o, "   peak ");
    ap__out_u(&o, peak > st.in_use ? peak : st.in_use, 0);
    ap__out_str(&o, " (with free blocks in thread caches)");
    err = end_line(&o, fd, err);
    bytes_line(&o, "mapped", st.mapped);
    err = end_line(&o, fd, err);
    bytes_line(&o, "cached", st.cached);
    err = end_line(&o, fd, err);
    bytes_line(&o, "large", st.large);
    err = end_line(&o, fd, err);
    ap__out_str(&o, "arenapool:   ");
    ap__out_col(&o, "system calls", 14);
    ap__out_str(&o, " mmap ");
    ap__out_u(&o, calls.mmap, 0);
    ap__out_str(&o, ", munmap ");
    ap__out_u(&o, calls.munmap, 0);
    ap__out_str(&o, ", madvise ");
    ap__out_u(&o, calls.madvise, 0);
    ap__out_str(&o, ", mremap ");
    ap__out_u(&o, calls.mremap, 0);
    ap__out_str(&o, ", mprotect ");
    ap__out_u(&o, calls.mprotect, 0);
    err = end_line(&o, fd, err);

    /* One row per size class that holds anything. */
    ap__out_str(&o, "arenapool:   class   block size   in use (blocks)   cached (blocks)");
    err = end_line(&o, fd, err);
    for (size_t cls = 1; cls < MP_NUM_CLASSES; cls++) {
        size_t out, cached;
        mp__central_class(cls, &out, &cached);
        if (out == 0 && cached == 0)
            continue;
        size_t in_tc = tc[cls] < out ? tc[cls] : out;
        ap__out_str(&o, "arenapool:   ");
        ap__out_u(&o, cls, 5);
        ap__out_u(&o, mp__class_size[cls], 13);
        ap__out_u(&o, out - in_tc, 18);
        ap__out_u(&o, cached + in_tc, 18);
        err = end_line(&o, fd, err);
    }
    if (err) {
        errno = err;
        return -1;
    }
    return 0;
}

/* Why a destructor, not atexit: atexit may allocate, and a library's
 * destructors run after the program's own exit handlers, so the summary
 * sees what the program left. */
__attribute__((destructor)) static void stats_at_exit(void)
{
    if (ap__options()->show_stats)
        (void)mp_stats_print(2);
}
