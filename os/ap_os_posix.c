/*
 * ap_os_posix.c - POSIX implementation of ap_os.h: mmap, munmap, madvise,
 * mprotect, clock_gettime and write(2) for fatal reports.
 *
 * Owns no state but the cached page size (and, in fault-injection builds, the
 * armed failure counter).  Every function returns 0 or an errno value and
 * restores errno, so callers above can promise "a failed call leaves errno as
 * documented and the structure unchanged".
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* mremap */
#endif
#ifndef _DEFAULT_SOURCE
#define _DEFAULT_SOURCE
#endif
#include "ap_os.h"
#include "ap_checker.h"
#include "ap_out.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#ifdef __linux__
#include <sys/sysinfo.h>
#endif
#include <time.h>
#include <unistd.h>

#ifndef MAP_ANONYMOUS
#define MAP_ANONYMOUS MAP_ANON
#endif

/* Linux >= 5.14; older headers lack it, older kernels answer EINVAL.  Only
 * on Linux: another system may give advice 23 a different meaning. */
#if defined(__linux__) && !defined(MADV_POPULATE_WRITE)
#define MADV_POPULATE_WRITE 23
#endif

static _Atomic size_t page_size_cache;
static _Atomic size_t sim_page; /* ARENAPOOL_SIM_PAGE_SIZE, 0 when off */

/* ARENAPOOL_SIM_PAGE_SIZE (ap_options.c checks it is 16384 or 65536): used
 * only when above the real page.  Anything else leaves the real page. */
static size_t sim_page_from_env(size_t real)
{
    size_t v = ap__options()->sim_page_size;
    return v > real ? v : 0;
}

/* ---- System call counts ---- */

/* Why relaxed: counters for a report, ordered with nothing. */
static _Atomic uint64_t n_mmap, n_munmap, n_madvise, n_mremap, n_mprotect;
#define COUNT(c) atomic_fetch_add_explicit(&(c), 1, memory_order_relaxed)

void ap__os_calls(ap_os_calls_t *out)
{
    out->mmap = atomic_load_explicit(&n_mmap, memory_order_relaxed);
    out->munmap = atomic_load_explicit(&n_munmap, memory_order_relaxed);
    out->madvise = atomic_load_explicit(&n_madvise, memory_order_relaxed);
    out->mremap = atomic_load_explicit(&n_mremap, memory_order_relaxed);
    out->mprotect = atomic_load_explicit(&n_mprotect, memory_order_relaxed);
}

size_t ap__os_page_size(void)
{
    size_t ps = atomic_load_explicit(&page_size_cache, memory_order_relaxed);
    if (ps == 0) {
        long v = sysconf(_SC_PAGESIZE);
        size_t real = v > 0 ? (size_t)v : 4096;
        size_t sim = sim_page_from_env(real);
        atomic_store_explicit(&sim_page, sim, memory_order_relaxed);
        ps = sim ? sim : real;
        atomic_store_explicit(&page_size_cache, ps, memory_order_relaxed);
    }
    return ps;
}

/* Why abort: a kernel with pages of this size would round the range outward
 * and drop or unmap bytes that belong to the range's neighbours. */
static void sim_check(const void *p, size_t size, const char *call)
{
    size_t sim = (ap__os_page_size(), atomic_load_explicit(&sim_page, memory_order_relaxed));
    if (sim && (((uintptr_t)p | size) & (sim - 1)) != 0)
        ap__os_fatal(call, "range", p, "size", (const void *)size);
}

#ifdef ARENAPOOL_FAULT_INJECT
/* Why atomics: the memory-pool tests map from several threads. */
static _Atomic long fail_at = -1;
static _Atomic long map_calls;

long ap__os_fail_nth_map(long k)
{
    long made = atomic_exchange(&map_calls, 0);
    atomic_store(&fail_at, k);
    return made;
}

static int injected_failure(void)
{
    long n = atomic_fetch_add(&map_calls, 1);
    long k = atomic_load(&fail_at);
    return k >= 0 && n == k;
}
#else
static inline int injected_failure(void) { return 0; }
#endif

static int raw_map(size_t size, void **out)
{
    if (injected_failure())
        return ENOMEM;
    int saved = errno;
    size_t sim = (ap__os_page_size(), atomic_load_explicit(&sim_page, memory_order_relaxed));
    size_t extra = sim ? sim : 0; /* a simulated page: over-map, keep an aligned piece */
    COUNT(n_mmap);
    void *p = mmap(NULL, size + extra, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p != MAP_FAILED && extra) {
        uintptr_t base = (uintptr_t)p, al = (base + sim - 1) & ~(uintptr_t)(sim - 1);
        if (al > base) {
            COUNT(n_munmap);
            munmap(p, al - base);
        }
        if (base + extra > al) {
            COUNT(n_munmap);
            munmap((void *)(al + size), base + extra - al);
        }
        p = (void *)al;
    }
    errno = saved;
    /* Why always ENOMEM: the arguments were checked above, so any refusal
     * (a size the kernel or Valgrind will not map is EINVAL there) means "no
     * memory" to the caller, as the headers promise. */
    if (p == MAP_FAILED)
        return ENOMEM;
    *out = p;
    return 0;
}

/* Linux >= 4.17; an older kernel takes the address as a hint only, which
 * the check of the result below covers. */
#if defined(__linux__) && !defined(MAP_FIXED_NOREPLACE)
#define MAP_FIXED_NOREPLACE 0x100000
#endif

int ap__os_map_at(void *addr, size_t size)
{
    if (addr == NULL || size == 0 || (((uintptr_t)addr | size) & (ap__os_page_size() - 1)) != 0)
        return EINVAL;
    if ((uintptr_t)addr + size < (uintptr_t)addr)
        return ENOMEM;
    if (injected_failure())
        return ENOMEM;
    int flags = MAP_PRIVATE | MAP_ANONYMOUS;
#ifdef MAP_FIXED_NOREPLACE
    flags |= MAP_FIXED_NOREPLACE;
#endif
    int saved = errno;
    COUNT(n_mmap);
    void *p = mmap(addr, size, PROT_READ | PROT_WRITE, flags, -1, 0);
    int err = p == MAP_FAILED ? errno : 0;
    if (p != MAP_FAILED && p != addr) { /* a hint the OS did not follow */
        COUNT(n_munmap);
        munmap(p, size);
        err = EEXIST;
    }
    errno = saved;
    if (err)
        return err == EEXIST ? EEXIST : ENOMEM;
    return 0;
}

int ap__os_map(size_t size, void **out)
{
    if (size == 0 || (size & (ap__os_page_size() - 1)) != 0)
        return EINVAL;
    return raw_map(size, out);
}

int ap__os_map_aligned(size_t size, size_t align, void **out)
{
    size_t ps = ap__os_page_size();
    if (size == 0 || (size & (ps - 1)) || align < ps || (align & (align - 1)))
        return EINVAL;
    if (align == ps)
        return raw_map(size, out);
    if (size > SIZE_MAX - align)
        return ENOMEM;
    /* Why over-map: mmap only promises page alignment.  Map size+align, then
     * give back the misaligned head and the unused tail. */
    void *raw;
    int err = raw_map(size + align, &raw);
    if (err)
        return err;
    uintptr_t base = (uintptr_t)raw;
    uintptr_t aligned = (base + align - 1) & ~(uintptr_t)(align - 1);
    size_t head = aligned - base;
    size_t tail = align - head;
    if (head) {
        COUNT(n_munmap);
        munmap(raw, head);
    }
    if (tail) {
        COUNT(n_munmap);
        munmap((void *)(aligned + size), tail);
    }
    /* Under a simulated page raw is aligned to it, so head and tail are too. */
    *out = (void *)aligned;
    return 0;
}

int ap__os_unmap(void *p, size_t size)
{
    if (p == NULL || size == 0)
        return EINVAL;
    sim_check(p, size, "munmap of a range not aligned to the OS page");
    ap__unmapping(p, size);
    int saved = errno;
    COUNT(n_munmap);
    int rc = munmap(p, size);
    int err = errno;
    errno = saved;
    return rc == 0 ? 0 : err;
}

/* madvise with errno left alone: 0 or the errno value. */
static int advise(void *p, size_t size, int advice)
{
    if (p == NULL || size == 0)
        return EINVAL;
    sim_check(p, size, "madvise of a range not aligned to the OS page");
    int saved = errno;
    COUNT(n_madvise);
    int rc = madvise(p, size, advice);
    int err = errno;
    errno = saved;
    return rc == 0 ? 0 : err;
}

int ap__os_decommit(void *p, size_t size) { return advise(p, size, MADV_DONTNEED); }

/* Why pagemap and not only mincore: a page not resident may be empty (it
 * reads zero) or swapped out (it holds data), and only pagemap tells which
 * (bits 63 present, 62 swapped or migrating).  Why opened at each call:
 * "self" is resolved at open, so a descriptor kept across a fork would
 * describe the parent.  Why raw system calls: open, pread and close are
 * cancellation points, and malloc must not be one. */
static int states_from_pagemap(uintptr_t p, size_t size, size_t real, size_t per, unsigned char *vec)
{
#if defined(__linux__) && defined(SYS_openat) && defined(SYS_pread64)
    long fd = syscall(SYS_openat, AT_FDCWD, "/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    uint64_t e[256];
    size_t pages = size / real;
    int rc = 0;
    for (size_t i = 0; i < pages && rc == 0;) {
        size_t n = pages - i < 256 ? pages - i : 256;
        long want = (long)(n * sizeof e[0]);
        if (syscall(SYS_pread64, fd, e, (size_t)want, (off_t)((p / real + i) * sizeof e[0])) != want) {
            rc = -1;
            break;
        }
        for (size_t k = 0; k < n; k++) {
            unsigned char st = (e[k] >> 63) & 1u ? AP_PAGE_RESIDENT : (e[k] >> 62) & 1u ? AP_PAGE_HELD : AP_PAGE_ZERO;
            unsigned char *v = &vec[(i + k) / per];
            if (st > *v)
                *v = st;
        }
        i += n;
    }
    syscall(SYS_close, fd);
    return rc;
#else
    (void)p, (void)size, (void)real, (void)per, (void)vec;
    return -1;
#endif
}

/* Is there no swap space (so no page of ours can be swapped out)?  false
 * when unknown. */
static bool no_swap(void)
{
#ifdef __linux__
    struct sysinfo si;
    return sysinfo(&si) == 0 && si.totalswap == 0;
#else
    return false;
#endif
}

/* Test seam: 1 makes ap__os_page_states read pagemap even without swap, 2
 * answer from mincore as if there were swap and no pagemap. */
int ap__os_states_mode;

int ap__os_page_states(const void *p, size_t size, unsigned char *vec)
{
    size_t ps = ap__os_page_size();
    if (p == NULL || size == 0 || vec == NULL)
        return EINVAL;
    sim_check(p, size, "mincore of a range not aligned to the OS page");
    size_t real = (size_t)sysconf(_SC_PAGESIZE), per = ps / real; /* real pages to an OS page */
    int saved = errno;
    memset(vec, AP_PAGE_ZERO, size / ps);
    /* Why mincore alone without swap: an anonymous page that is not
     * resident where nothing can be swapped out is backed by nothing, and
     * mincore costs a fraction of pagemap (one byte a page, not a decoded
     * entry).  Swap looked for before and after: a page found not resident
     * could have been swapped out only by swap added meanwhile. */
    int mode = __atomic_load_n(&ap__os_states_mode, __ATOMIC_RELAXED);
    bool swapless = mode == 0 && no_swap();
    if (!swapless && mode != 2 && states_from_pagemap((uintptr_t)p, size, real, per, vec) == 0) {
        errno = saved;
        return 0;
    }
    unsigned char away = swapless ? AP_PAGE_ZERO : AP_PAGE_HELD;
    unsigned char chunk[512];
    for (size_t off = 0; off < size;) {
        size_t pages = (size - off) / real < sizeof chunk ? (size - off) / real : sizeof chunk;
        if (mincore((void *)((uintptr_t)p + off), pages * real, chunk) != 0) {
            int err = errno;
            errno = saved;
            return err;
        }
        for (size_t i = 0; i < pages; i++) {
            unsigned char st = chunk[i] & 1u ? AP_PAGE_RESIDENT : away;
            unsigned char *v = &vec[(off / real + i) / per];
            if (st > *v)
                *v = st;
        }
        off += pages * real;
    }
    if (swapless && !no_swap()) /* swap came meanwhile: look again */
        for (size_t i = 0; i < size / ps; i++)
            if (vec[i] == AP_PAGE_ZERO)
                vec[i] = AP_PAGE_HELD;
    errno = saved;
    return 0;
}

int ap__os_populate(void *p, size_t size)
{
#ifdef MADV_POPULATE_WRITE
    return advise(p, size, MADV_POPULATE_WRITE);
#else
    (void)p;
    (void)size;
    return EINVAL;
#endif
}

int ap__os_move(void *from, size_t size, void *to)
{
    if (from == NULL || to == NULL || size == 0)
        return EINVAL;
    sim_check(from, size, "mremap of a range not aligned to the OS page");
    sim_check(to, size, "mremap to a range not aligned to the OS page");
#if defined(__linux__) && defined(MREMAP_FIXED)
    if (injected_failure())
        return ENOMEM;
    ap__unmapping(from, size);
    int saved = errno;
    COUNT(n_mremap);
    void *p = mremap(from, size, size, MREMAP_MAYMOVE | MREMAP_FIXED, to);
    int err = errno;
    errno = saved;
    return p == MAP_FAILED ? err : 0;
#else
    return ENOSYS;
#endif
}

int ap__os_hugepage(void *p, size_t size)
{
#ifdef MADV_HUGEPAGE
    return advise(p, size, MADV_HUGEPAGE);
#else
    (void)p;
    (void)size;
    return EINVAL;
#endif
}

static int protect(void *p, size_t size, int prot)
{
    sim_check(p, size, "mprotect of a range not aligned to the OS page");
    int saved = errno;
    COUNT(n_mprotect);
    int rc = mprotect(p, size, prot);
    int err = errno;
    errno = saved;
    return rc == 0 ? 0 : err;
}

int ap__os_protect_none(void *p, size_t size) { return protect(p, size, PROT_NONE); }
int ap__os_protect_rw(void *p, size_t size) { return protect(p, size, PROT_READ | PROT_WRITE); }

/* ---- Fatal reports: write(2) only ---- */

static size_t put_str(char *buf, size_t at, size_t cap, const char *s)
{
    while (s && *s && at + 1 < cap)
        buf[at++] = *s++;
    return at;
}

static size_t put_ptr(char *buf, size_t at, size_t cap, const void *p)
{
    char tmp[2 + 2 * sizeof(uintptr_t)];
    uintptr_t v = (uintptr_t)p;
    size_t n = 0;
    do {
        tmp[n++] = "0123456789abcdef"[v & 15];
        v >>= 4;
    } while (v);
    at = put_str(buf, at, cap, "0x");
    while (n && at + 1 < cap)
        buf[at++] = tmp[--n];
    return at;
}

_Noreturn void ap__os_fatal(const char *what, const char *name1, const void *p1,
                            const char *name2, const void *p2)
{
    char buf[512];
    size_t at = put_str(buf, 0, sizeof buf, "arenapool: ");
    at = put_str(buf, at, sizeof buf, what);
    if (name1) {
        at = put_str(buf, at, sizeof buf, " (");
        at = put_str(buf, at, sizeof buf, name1);
        at = put_str(buf, at, sizeof buf, "=");
        at = put_ptr(buf, at, sizeof buf, p1);
        if (name2) {
            at = put_str(buf, at, sizeof buf, ", ");
            at = put_str(buf, at, sizeof buf, name2);
            at = put_str(buf, at, sizeof buf, "=");
            at = put_ptr(buf, at, sizeof buf, p2);
        }
        at = put_str(buf, at, sizeof buf, ")");
    }
    buf[at++] = '\n';
    ssize_t ignored = write(2, buf, at);
    (void)ignored;
    abort();
}

int ap__out_flush(ap_out_t *o, int fd)
{
    int saved = errno, err = 0;
    size_t at = 0;
    while (at < o->len) {
        ssize_t n = write(fd, o->buf + at, o->len - at);
        if (n > 0)
            at += (size_t)n;
        else if (n < 0 && errno == EINTR)
            continue;
        else {
            err = n < 0 ? errno : EIO;
            break;
        }
    }
    o->len = 0;
    errno = saved;
    return err;
}

/* ---- Clock ---- */

uint64_t ap__os_now_ms(void)
{
    struct timespec ts;
#ifdef CLOCK_MONOTONIC_COARSE
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
#else
    clock_gettime(CLOCK_MONOTONIC, &ts);
#endif
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

uint64_t ap__os_random(void)
{
    static _Atomic uint64_t counter;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    uint64_t x = (uint64_t)(uintptr_t)&ts ^ ((uint64_t)ts.tv_nsec << 20) ^ (uint64_t)ts.tv_sec ^
                 (uint64_t)(uintptr_t)&counter ^
                 (atomic_fetch_add(&counter, 1) * 0x9E3779B97F4A7C15ull) ^ (uint64_t)getpid();
    /* splitmix64 finaliser: spread the bits */
    x ^= x >> 30;
    x *= 0xBF58476D1CE4E5B9ull;
    x ^= x >> 27;
    x *= 0x94D049BB133111EBull;
    x ^= x >> 31;
    return x | 1;
}
