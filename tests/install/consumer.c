/* consumer.c - a program built only from what `make install` put in DESTDIR,
 * through `pkg-config --cflags --libs arenapool`. */
#include <arena.h>
#include <pool.h>

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
    printf("consumer: %s\n", ok ? "ok" : "FAILED");
    return !ok;
}
