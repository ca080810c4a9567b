/*
 * uaf_reset.c - memory used after arena_reset must be reported by Memcheck.
 * Built against build/valgrind/ (-DARENAPOOL_VALGRIND); run by tests/valgrind/run.sh.
 *   uaf_reset        correct use: every block written before the reset; exits 0
 *   uaf_reset bug    writes into two blocks after the reset: "Invalid write".
 * Both sit in the first chunk, which a reset always keeps mapped (a later
 * chunk may be unmapped or coalesced, and a write there could fault instead).
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
    volatile char *small = arena_alloc(a, 100);
    volatile char *big = arena_alloc(a, 20000);
    if (!small || !big)
        return 2;
    small[0] = 1;
    big[19999] = 2;
    arena_reset(a);
    if (bug) {
        small[0] = 3;    /* use after reset */
        big[19999] = 4; /* use after reset */
    }
    char *again = arena_alloc(a, 100);
    memset(again, 0, 100);
    arena_destroy(a);
    printf("uaf_reset%s: ok\n", bug ? " bug" : "");
    return 0;
}
