/*
 * uaf_pool_free.c - a pool object used after pool_free must be reported by Memcheck.
 * Built against build/valgrind/ (-DARENAPOOL_VALGRIND); run by tests/valgrind/run.sh.
 *   uaf_pool_free        correct use: objects read before they are freed; exits 0
 *   uaf_pool_free bug    reads a freed object (fast-path free) and writes one
 *                        freed through the slow path (spilled): "Invalid read/write"
 */
#include "pool.h"

#include <stdio.h>
#include <string.h>

typedef struct obj {
    long id;
    char name[40];
} obj_t;

int main(int argc, char **argv)
{
    int bug = argc > 1 && strcmp(argv[1], "bug") == 0;
    arena_t *a = arena_create(NULL);
    pool_t *p = a ? pool_create(a, sizeof(obj_t), 0) : NULL;
    if (!p)
        return 2;
    /* More objects than the pool's hot stack holds, so frees also spill. */
    enum { N = 3 * POOL__HOT };
    volatile obj_t *o[N];
    long sum = 0;
    for (int i = 0; i < N; i++) {
        o[i] = pool_alloc(p);
        if (!o[i])
            return 2;
        o[i]->id = i;
        memset((char *)o[i]->name, 'a', sizeof o[i]->name);
    }
    for (int i = 0; i < N; i++) {
        sum += o[i]->id;
        pool_free(p, (void *)o[i]);
    }
    if (bug) {
        sum += o[N - 1]->id;  /* use after free: newest free, on the hot stack */
        o[0]->name[5] = 'z'; /* use after free: oldest, spilled */
    }
    obj_t *again = pool_alloc(p); /* reuse is fine */
    again->id = 7;
    pool_free(p, again);
    arena_destroy(a);
    printf("uaf_pool_free%s: %ld\n", bug ? " bug" : "", sum);
    return 0;
}
