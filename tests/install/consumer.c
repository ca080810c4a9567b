/* consumer.c - a program built only from what `make install` put in DESTDIR,
 * through pkg-config (run.sh) or find_package(arenapool) (cmake/), with the
 * headers in their installed form.  EXPECT_VERSION is the version the build
 * system reported, which must be the headers' own, and the library it runs
 * with must say the same (arenapool_version). */
#include <arenapool/arena.h>
#include <arenapool/mp.h>
#include <arenapool/pool.h>
#include <arenapool/version.h>

#include <stdio.h>
#include <string.h>

int main(void)
{
    arena_t *a = arena_create(NULL);
    if (a == NULL)
        return 1;
    arena_mark_t m = arena_mark(a);
    char *s = arena_sprintf(a, "hello %s %d", "arenapool", 42);
    pool_t *p = pool_create(a, 32, 0);
    void *x = p ? pool_alloc(p) : NULL;
    int ok = s && strcmp(s, "hello arenapool 42") == 0 && x && pool_owns(p, x);
    pool_destroy(p);
    ok = ok && arena_rewind(a, m) == 0;
    arena_destroy(a);

    char *b = mp_alloc(100);
    ok = ok && b && mp_usable_size(b) >= 100;
    mp_free(b);

    if (arenapool_version() != ARENAPOOL_VERSION_NUMBER) {
        printf("consumer: the library is %d, the headers %d\n", arenapool_version(), ARENAPOOL_VERSION_NUMBER);
        ok = 0;
    }
#ifdef EXPECT_VERSION
    if (strcmp(ARENAPOOL_VERSION, EXPECT_VERSION) != 0) {
        printf("consumer: headers say %s, the build system %s\n", ARENAPOOL_VERSION, EXPECT_VERSION);
        ok = 0;
    }
#endif
    printf("consumer %s: %s\n", ARENAPOOL_VERSION, ok ? "ok" : "FAILED");
    return !ok;
}
