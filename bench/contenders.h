/*
 * contenders.h - the contenders a benchmark binary can list.  Each lives in
 * its own bench_<name>.c, which includes the workload templates (w_*.inc)
 * with its own inline operations, so the allocator's fast path is inlined
 * exactly as in a user's program.  main.c picks the ones its binary holds.
 */
#ifndef ARENAPOOL_BENCH_CONTENDERS_H
#define ARENAPOOL_BENCH_CONTENDERS_H

#include "harness.h"

extern const bench_contender_t bench_c_malloc;  /* bench_malloc.c: glibc, jemalloc, mimalloc or tcmalloc */
extern const bench_contender_t bench_c_obstack; /* bench_obstack.c */
extern const bench_contender_t bench_c_talloc;  /* bench_talloc.c */
extern const bench_contender_t bench_c_apr;     /* bench_apr.c */
extern const bench_contender_t bench_c_arena;   /* bench_arena.c: arena (+ pool in the frame loop) */
extern const bench_contender_t bench_c_pool;    /* bench_pool.c */
extern const bench_contender_t bench_c_bump;    /* bench_bump.c: the ideal bump pointer */
extern const bench_contender_t bench_c_mp;      /* bench_mp.c */

#endif /* ARENAPOOL_BENCH_CONTENDERS_H */
