/*
 * ap_build.h - build-mode plumbing shared by every arenapool layer (never
 * installed): the ARENAPOOL_DEBUG default, branch hints, and the attributes
 * that keep internal symbols hidden and slow paths out of line.
 *
 * Included by ap_os.h, so every .c file of arena/, pool/ and mp/ gets it with
 * the OS layer.  The public headers cannot include it (it is not installed):
 * arena.h keeps its own ARENAPOOL_DEBUG default and ARENA__LIKELY for its
 * inline fast path, with the same meaning.
 */
#ifndef AP_BUILD_H
#define AP_BUILD_H

/* Debug level (arena.h, "Build switches"): 0 none, 1 misuse, 2 invariants and
 * fill bytes, 3 full walks. */
#ifndef ARENAPOOL_DEBUG
#define ARENAPOOL_DEBUG 0
#endif

#if defined(__GNUC__)
#define AP__LIKELY(x) __builtin_expect(!!(x), 1)
#define AP__UNLIKELY(x) __builtin_expect(!!(x), 0)
/* Slow paths: kept out of line and out of the hot code's cache lines. */
#define AP__NOINLINE __attribute__((noinline))
#define AP__COLD __attribute__((cold))
/* Fast paths that must inline whatever the optimiser's estimate says. */
#define AP__ALWAYS_INLINE __attribute__((always_inline))
#else
#define AP__LIKELY(x) (x)
#define AP__UNLIKELY(x) (x)
#define AP__NOINLINE
#define AP__COLD
#define AP__ALWAYS_INLINE
#endif

/* Internal functions shared across files: out of the shared libraries'
 * exported symbols. */
#if defined(__GNUC__) && !defined(_WIN32)
#define AP__HIDDEN __attribute__((visibility("hidden")))
#else
#define AP__HIDDEN
#endif

#endif /* AP_BUILD_H */
