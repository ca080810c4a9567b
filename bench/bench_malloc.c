/*
 * bench_malloc.c - the process's malloc as a contender in every workload.
 * Built once per general allocator: plain, it is glibc's; linked with
 * -ljemalloc, -lmimalloc or -ltcmalloc_minimal it is that library's, which
 * replaces malloc for the whole binary.  That is why each of them gets a
 * binary of its own (harness.c prints which library answers malloc).
 */
#include "contenders.h"

#include <malloc.h>
#include <stdlib.h>

#ifndef BENCH_MALLOC_NAME
#define BENCH_MALLOC_NAME "glibc"
#endif

#define GA_NAME BENCH_MALLOC_NAME
#define GA_SYM bench_c_malloc
#define GA_MALLOC(n) malloc(n)
#define GA_FREE(p) free(p)
#define GA_REALLOC(p, n) realloc((p), (n))
#define GA_CALLOC(n, s) calloc((n), (s))
/* glibc's malloc_trim: jemalloc, mimalloc and tcmalloc do not replace it, so
 * for them it trims glibc's (empty) heap only, as in a real program. */
#define GA_TRIM() ((void)malloc_trim(0))
#include "general.inc"
