/*
 * stats.c - a program that allocates, reports and exits, for
 * tests/preload/stats.sh: built against the library (-DAPI: mp_* calls, and
 * -DWRAP_MALLOC: glibc's malloc family wrapped to catch any call made while
 * the library reports), or plain for LD_PRELOAD (malloc_stats, malloc_info).
 * Prints "version N" and the report on stdout; the at-exit summary and the
 * option lines go to stderr.  Exit 1 when a report allocated.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef API
#include <arenapool/mp.h>
#include <arenapool/version.h>
#else
/* Weak: resolved to the preloaded library's when there is one. */
int arenapool_version(void) __attribute__((weak));
#endif

static int reporting, allocated;

#ifdef WRAP_MALLOC
extern void *__libc_malloc(size_t), *__libc_calloc(size_t, size_t), *__libc_realloc(void *, size_t);
extern void __libc_free(void *);
void *malloc(size_t n) { allocated += reporting; return __libc_malloc(n); }
void *calloc(size_t n, size_t s) { allocated += reporting; return __libc_calloc(n, s); }
void *realloc(void *p, size_t n) { allocated += reporting; return __libc_realloc(p, n); }
void free(void *p) { __libc_free(p); }
#endif

int main(void)
{
#ifdef API
#define ALLOC mp_alloc
#define FREE mp_free
#else
#define ALLOC malloc
#define FREE free
#endif
    static void *keep[2000];
    for (int i = 0; i < 2000; i++)
        keep[i] = ALLOC(i % 2 ? 64 : 1000);
    char *volatile big = ALLOC(3 << 20); /* volatile: kept, not elided with its free */
    big[0] = 1;
    for (int i = 0; i < 2000; i += 3)
        FREE(keep[i]);
#ifdef API
    printf("version %d\n", arenapool_version());
#else
    printf("version %d\n", arenapool_version ? arenapool_version() : 0);
#endif
    fflush(stdout);

#ifdef API
    mp_stats_t a, b;
    mp_stats(&a);
    reporting = 1;
    int rc = mp_stats_print(1);
    reporting = 0;
    mp_stats(&b);
    if (rc != 0 || memcmp(&a, &b, sizeof a) != 0) {
        fprintf(stderr, "stats: mp_stats_print returned %d or changed mp_stats\n", rc);
        return 1;
    }
#else
    struct mallinfo2 a = mallinfo2(), b;
    reporting = 1;
    malloc_stats();
    if (malloc_info(0, stdout) != 0)
        return 1;
    reporting = 0;
    b = mallinfo2();
    if (a.uordblks != b.uordblks || a.arena != b.arena || a.fordblks != b.fordblks) {
        fprintf(stderr, "stats: malloc_stats/malloc_info changed mallinfo2\n");
        return 1;
    }
#endif
    if (allocated) {
        fprintf(stderr, "stats: %d malloc calls while reporting\n", allocated);
        return 1;
    }
    FREE(big);
    return 0;
}
