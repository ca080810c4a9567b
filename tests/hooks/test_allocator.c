/*
 * test_allocator.c - the allocator.h constructors on their own: arena, pool,
 * memory pool and libc allocators behind one interface, and the size headers
 * used for malloc-style hooks.  Plain asserts (no Criterion): it runs as part of
 * make test-hooks next to the real-library drivers.
 */
#include "allocator.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int failures;
#define CHECK(c)                                                                   \
    do {                                                                           \
        if (!(c)) {                                                                \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #c);   \
            failures++;                                                            \
        }                                                                          \
    } while (0)

/* Grow a buffer by doubling through realloc, as Lua tables and strings do,
 * and check the contents survive every move. */
static void grow_and_check(const allocator_t *al)
{
    size_t n = 16;
    unsigned char *b = allocator_alloc(al, n);
    CHECK(b != NULL);
    if (!b)
        return;
    for (size_t i = 0; i < n; i++)
        b[i] = (unsigned char)i;
    while (n < 1 << 20) {
        unsigned char *nb = allocator_realloc(al, b, n, n * 2);
        CHECK(nb != NULL);
        if (!nb)
            return;
        for (size_t i = n; i < n * 2; i++)
            nb[i] = (unsigned char)i;
        b = nb, n *= 2;
    }
    int ok = 1;
    for (size_t i = 0; i < n; i++)
        ok &= b[i] == (unsigned char)i;
    CHECK(ok);
    CHECK(((uintptr_t)b % ARENA_ALIGN) == 0);
    allocator_free(al, b, n);

    /* The unsized helpers keep the block aligned and track its size. */
    char *s = allocator_unsized_alloc(al, 10);
    CHECK(s && ((uintptr_t)s % ARENA_ALIGN) == 0);
    memcpy(s, "0123456789", 10);
    s = allocator_unsized_realloc(al, s, 100000);
    CHECK(s && memcmp(s, "0123456789", 10) == 0);
    s = allocator_unsized_realloc(al, s, 5);
    CHECK(s && memcmp(s, "01234", 5) == 0);
    CHECK(allocator_unsized_realloc(al, s, 0) == NULL); /* frees */
    allocator_unsized_free(al, NULL);
    allocator_free(al, NULL, 0);
}

int main(void)
{
    arena_t *a = arena_create(NULL);
    CHECK(a != NULL);
    allocator_t aa = allocator_from_arena(a);
    grow_and_check(&aa);
    /* The arena allocator grows the newest block in place. */
    arena_mark_t m = arena_mark(a);
    char *p = allocator_alloc(&aa, 64);
    CHECK(allocator_realloc(&aa, p, 64, 4096) == p);
    CHECK(arena_rewind(a, m) == 0);

    allocator_t lc = allocator_from_libc();
    grow_and_check(&lc);
    allocator_t mp = allocator_from_mp();
    grow_and_check(&mp);

    /* Pool allocator: slots up to the slot size, reused LIFO, bigger refused. */
    pool_t *pl = pool_create(a, 48, 0);
    CHECK(pl != NULL);
    allocator_t pa = allocator_from_pool(pl, 48);
    void *x = allocator_alloc(&pa, 40), *y = allocator_alloc(&pa, 48);
    CHECK(x && y && x != y);
    CHECK(allocator_realloc(&pa, x, 40, 48) == x);
    errno = 0;
    CHECK(allocator_alloc(&pa, 49) == NULL && errno == ENOMEM);
    CHECK(allocator_realloc(&pa, x, 48, 49) == NULL);
    allocator_free(&pa, y, 48);
    CHECK(allocator_alloc(&pa, 8) == y);
    pool_stats_t ps;
    pool_stats(pl, &ps);
    CHECK(ps.live == 2);
    void *u = allocator_unsized_alloc(&pa, 32); /* 32 + 16-byte header = 48 */
    CHECK(u != NULL && pool_owns(pl, (char *)u - ARENA_ALIGN));
    allocator_unsized_free(&pa, u);
    pool_destroy(pl);
    arena_destroy(a);

    printf("test_allocator: %s\n", failures ? "FAILED" : "ok");
    return failures != 0;
}
