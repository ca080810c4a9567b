/* bad.c CASE [ok] - one use of memory the library took back, built by run.sh
 * against the installed library with a checker's flags; run once per case,
 * each in its own process.  With "ok" the same steps run without the bad
 * read, so a report can only come from that read.  CASE: rewind, reset,
 * pool_free, mp_free, mp_free_large. */
#include <arenapool/arena.h>
#include <arenapool/mp.h>
#include <arenapool/pool.h>

#include <stdio.h>
#include <string.h>

int main(int argc, char **argv)
{
    if (argc < 2)
        return 2;
    const char *c = argv[1];
    int bug = !(argc > 2 && strcmp(argv[2], "ok") == 0);
    volatile char *p = NULL;
    int sum = 0;
    arena_t *a = arena_create(NULL);
    char *keep = arena_alloc(a, 32);
    memset(keep, 'k', 32);
    if (strcmp(c, "rewind") == 0) {
        arena_mark_t m = arena_mark(a);
        p = arena_alloc(a, 64);
        memset((char *)p, 'x', 64);
        arena_rewind(a, m);
    } else if (strcmp(c, "reset") == 0) {
        p = arena_alloc(a, 64);
        memset((char *)p, 'x', 64);
        arena_reset(a);
        keep = NULL;
    } else if (strcmp(c, "pool_free") == 0) {
        pool_t *pl = pool_create(a, 64, 0);
        char *live = pool_alloc(pl);
        p = pool_alloc(pl);
        memset((char *)p, 'x', 64);
        memset(live, 'l', 64);
        pool_free(pl, (void *)p);
        sum += live[63];
    } else if (strcmp(c, "mp_free") == 0) {
        p = mp_alloc(64);
        memset((char *)p, 'x', 64);
        mp_free((void *)p);
    } else if (strcmp(c, "mp_free_large") == 0) {
        p = mp_alloc(1 << 20);
        memset((char *)p, 'x', 1 << 20);
        mp_free((void *)p);
    } else {
        return 2;
    }
    if (bug)
        sum += p[0]; /* the use after the library took the memory back */
    if (keep)
        sum += keep[31];
    arena_destroy(a);
    printf("bad %s%s: %d\n", c, bug ? "" : " ok", sum);
    return 0;
}
