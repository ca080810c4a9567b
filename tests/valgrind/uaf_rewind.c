/*
 * uaf_rewind.c - memory used after arena_rewind must be reported by Memcheck.
 * Built against build/valgrind/ (-DARENAPOOL_VALGRIND); run by tests/valgrind/run.sh.
 *   uaf_rewind        correct use: reads before the rewind only; exits 0 under Memcheck
 *   uaf_rewind bug    reads a block after rewinding past it: "Invalid read"
 */
#include "arena.h"

#include <stdio.h>
#include <string.h>

int main(int argc, char **argv)
{
    int bug = argc > 1 && strcmp(argv[1], "bug") == 0;
    arena_t *a = arena_create(NULL);
    if (!a)
        return 2;
    char *keep = arena_alloc(a, 32);
    memset(keep, 'k', 32);
    arena_mark_t m = arena_mark(a);
    volatile char *p = arena_alloc(a, 64);
    memset((char *)p, 'x', 64);
    int sum = p[10];
    if (arena_rewind(a, m) != 0)
        return 2;
    if (bug)
        sum += p[10]; /* use after rewind */
    sum += keep[31];  /* older than the mark: still valid */
    arena_destroy(a);
    printf("uaf_rewind%s: %d\n", bug ? " bug" : "", sum);
    return 0;
}
