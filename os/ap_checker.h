/*
 * ap_checker.h - the memory checker watching this process, found at run time,
 * and the calls that tell it which bytes are handed out (never installed).
 *
 * Why at run time: programs are built with their own flags against the
 * installed (release) library, so the library cannot know at its own compile
 * time whether AddressSanitizer or Valgrind Memcheck will watch it.  ASan's
 * interface functions are declared weak here: they resolve only in a process
 * that carries the ASan runtime.  Valgrind answers RUNNING_ON_VALGRIND (a
 * no-op instruction sequence natively), and Memcheck, alone among its tools,
 * answers its own client requests.  The answer is fixed for the life of
 * the process.  With a checker present, arena.c, pool.c and the memory pool
 * route every call of their inline fast paths to their slow paths, which
 * poison and unpoison through these calls; without one, each call below is a
 * load and a predicted branch.
 */
#ifndef AP_CHECKER_H
#define AP_CHECKER_H

#include "ap_build.h"

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#define AP__CHECK_NONE 0
#define AP__CHECK_ASAN 1
#define AP__CHECK_VALGRIND 2

/* -1 until the first ap__checker() call, then one of AP__CHECK_*.  Private. */
extern int ap__checker_kind AP__HIDDEN;
int ap__checker_detect(void) AP__HIDDEN;

/* Which checker watches the process: AP__CHECK_* (0 = none).  Without one:
 * a load, a test and a branch predicted not taken. */
static inline AP__ALWAYS_INLINE int ap__checker(void)
{
    int k = __atomic_load_n(&ap__checker_kind, __ATOMIC_RELAXED);
    if (AP__LIKELY(k == AP__CHECK_NONE))
        return AP__CHECK_NONE;
    return k > 0 ? k : ap__checker_detect();
}

/* [p, p+n) is no longer handed out: any access is reported. */
void ap__poison(const void *p, size_t n) AP__HIDDEN;
/* [p, p+n) is handed out (again); under Memcheck its contents are undefined. */
void ap__unpoison(const void *p, size_t n) AP__HIDDEN;
/* [p, p+n) is accessible with its contents defined: bookkeeping the library
 * keeps in free memory, and blocks whose bytes are known (zeroed pages). */
void ap__reveal(const void *p, size_t n) AP__HIDDEN;
/* [p, p+n) is about to be unmapped or moved away: ASan's shadow outlives the
 * mapping, and a later mapping at the same address would inherit its poison. */
void ap__unmapping(const void *p, size_t n) AP__HIDDEN;

/* The forms arena.c and pool.c use: nothing but the test without a checker. */
#define ARENA__POISON(p, n) (AP__UNLIKELY(ap__checker()) ? ap__poison((p), (n)) : (void)0)
#define ARENA__UNPOISON(p, n) (AP__UNLIKELY(ap__checker()) ? ap__unpoison((p), (n)) : (void)0)
#define ARENA__REVEAL(p, n) (AP__UNLIKELY(ap__checker()) ? ap__reveal((p), (n)) : (void)0)

#ifdef __cplusplus
}
#endif

#endif /* AP_CHECKER_H */
