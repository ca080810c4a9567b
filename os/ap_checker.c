/*
 * ap_checker.c - finds the memory checker watching the process (ASan,
 * Valgrind Memcheck or none) once, and forwards poison / unpoison requests to
 * it: ASan's interface functions resolved at load time, Memcheck's client
 * requests.  Owns one word of state, written once (every caller computes the
 * same answer, so a race between two first calls is harmless).  Called by
 * arena.c, pool.c, the memory pool (mp_checker.c) and the OS layer's unmap.
 */
#include "ap_checker.h"

#include <stdint.h>

#if defined(__has_include)
#if __has_include(<valgrind/memcheck.h>)
#include <valgrind/memcheck.h>
#define HAVE_MEMCHECK 1
#endif
#endif

/* Why weak: these resolve only in a program that carries the ASan runtime
 * (it exports them); elsewhere they are NULL and nothing else changes. */
void __asan_poison_memory_region(void const volatile *addr, size_t size) __attribute__((weak));
void __asan_unpoison_memory_region(void const volatile *addr, size_t size) __attribute__((weak));
void *__asan_region_is_poisoned(void *beg, size_t size) __attribute__((weak));

/* Ranges from this size up are looked at, a piece of this size at a time,
 * before ASan unpoisons them. */
#define ASAN_PIECE ((size_t)64 * 1024)

int ap__checker_kind = -1;

#ifdef HAVE_MEMCHECK
/* Why ask Memcheck itself: RUNNING_ON_VALGRIND is also true under Callgrind
 * (make bench-instr), Helgrind or DRD, which check no addressability, and
 * there the fast paths must stay as they are.  Only Memcheck handles its
 * client requests, and it answers -1; other tools leave the default 0.
 * Marking a defined local as defined changes nothing. */
static int is_memcheck(void)
{
    volatile long probe = 0;
    return (long)VALGRIND_MAKE_MEM_DEFINED(&probe, sizeof probe) == -1;
}
#endif

int ap__checker_detect(void)
{
    int k = AP__CHECK_NONE;
    if (__asan_poison_memory_region && __asan_unpoison_memory_region && __asan_region_is_poisoned)
        k = AP__CHECK_ASAN;
#ifdef HAVE_MEMCHECK
    else if (RUNNING_ON_VALGRIND && is_memcheck())
        k = AP__CHECK_VALGRIND;
#endif
    __atomic_store_n(&ap__checker_kind, k, __ATOMIC_RELAXED);
    return k;
}

void ap__poison(const void *p, size_t n)
{
    if (n == 0)
        return;
    int k = ap__checker();
    if (k == AP__CHECK_ASAN)
        __asan_poison_memory_region(p, n);
#ifdef HAVE_MEMCHECK
    else if (k == AP__CHECK_VALGRIND)
        (void)VALGRIND_MAKE_MEM_NOACCESS(p, n);
#endif
}

/* ASan: make [p, p+n) accessible.  Why look first, piece by piece, at large
 * ranges: such a range (a large block, a reservation being unmapped) is
 * mostly clean already, and a blanket unpoison writes (and makes resident)
 * shadow pages that were never used.  Why pieces: ASan's check is a fast scan
 * of the shadow when the range is clean, but looks for the first poisoned
 * byte one byte at a time when it is not. */
static void asan_clear(const void *p, size_t n)
{
    const char *b = p;
    if (n < ASAN_PIECE) {
        __asan_unpoison_memory_region(b, n);
        return;
    }
    for (size_t off = 0; off < n; off += ASAN_PIECE) {
        size_t len = n - off < ASAN_PIECE ? n - off : ASAN_PIECE;
        if (__asan_region_is_poisoned((void *)(uintptr_t)(b + off), len))
            __asan_unpoison_memory_region(b + off, len);
    }
}

/* [p, p+n) made accessible.  Why two entry points over one body: ASan knows
 * only accessible or not, but Memcheck also tracks whether the bytes are
 * defined, and callers need both (ap_checker.h): a block
 * handed out is undefined, so a read before a write is reported; bytes the
 * library knows (zeroed pages, its own bookkeeping) are defined, so reading
 * them is no false report. */
static void make_accessible(const void *p, size_t n, int defined)
{
    if (n == 0)
        return;
    int k = ap__checker();
    if (k == AP__CHECK_ASAN)
        asan_clear(p, n);
#ifdef HAVE_MEMCHECK
    else if (k == AP__CHECK_VALGRIND && defined)
        (void)VALGRIND_MAKE_MEM_DEFINED(p, n);
    else if (k == AP__CHECK_VALGRIND)
        (void)VALGRIND_MAKE_MEM_UNDEFINED(p, n);
#else
    (void)defined;
#endif
}

void ap__unpoison(const void *p, size_t n) { make_accessible(p, n, 0); }

void ap__reveal(const void *p, size_t n) { make_accessible(p, n, 1); }

/* Memcheck forgets an unmapped range by itself; ASan does not. */
void ap__unmapping(const void *p, size_t n)
{
    if (n && ap__checker() == AP__CHECK_ASAN)
        asan_clear(p, n);
}
