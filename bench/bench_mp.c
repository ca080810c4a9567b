/*
 * bench_mp.c - the thread-caching memory pool (mp_*) as a general allocator
 * in every workload, in a binary of its own; glibc's malloc is untouched (no
 * override is linked).
 */
#include "contenders.h"
#include "mp.h"

#define GA_NAME "mp"
#define GA_SYM bench_c_mp
#define GA_MALLOC(n) mp_alloc(n)
#define GA_FREE(p) mp_free(p)
#define GA_REALLOC(p, n) mp_realloc((p), (n))
#define GA_CALLOC(n, s) mp_calloc((n), (s))
#define GA_TRIM() ((void)mp_trim())
#include "general.inc"
