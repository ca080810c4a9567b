/*
 * test_arena_buffer.c - arenas over a caller's buffer (arena_opts_t.buffer,
 * buffer_size): no mapping with max_bytes = buffer_size, ENOMEM when full with
 * the arena unchanged, EINVAL for a bad buffer, the buffer never unmapped.
 */
#include "helpers.h"

static _Alignas(4096) char buf[64 * 1024];

Test(arena_buffer, exactly_full_then_enomem_and_no_mapping_ever)
{
    arena_opts_t o = {.buffer = buf, .buffer_size = sizeof buf, .max_bytes = sizeof buf};
    arena_t *a = arena_create(&o);
    cr_assert_not_null(a);
    cr_assert((char *)a >= buf && (char *)a < buf + sizeof buf, "the arena lives in the buffer");
    arena_stats_t s = stats_of(a);
    cr_assert_eq(s.mmaps, 0);
    cr_assert_eq(s.mapped, sizeof buf, "the buffer counts toward max_bytes");
    /* Fill it to the last byte. */
    size_t room = 0;
    for (size_t n = 32768; n >= ARENA_ALIGN; n /= 2)
        while (arena_alloc(a, n) != NULL)
            room += n;
    cr_assert_gt(room, sizeof buf - 512);
    for (int round = 0; round < 3; round++) {
        arena_stats_t full = stats_of(a);
        errno = 0;
        cr_assert_null(arena_alloc(a, 1));
        cr_assert_eq(errno, ENOMEM);
        cr_assert_null(arena_alloc_aligned(a, 64, 4096));
        cr_assert_eq(arena_defer(a, (void (*)(void *))abort, NULL), -1);
        cr_assert_null(arena_sprintf(a, "%d", 42));
        UNCHANGED(a, full, "a failed call on a full buffer arena");
        cr_assert_eq(full.mmaps, 0, "no mapping ever");
        arena_reset(a);
        room = 0;
        for (size_t n = 32768; n >= ARENA_ALIGN; n /= 2)
            while (arena_alloc(a, n) != NULL)
                room += n;
    }
    arena_destroy(a);
    /* The buffer is the caller's again: writable, and a new arena fits in it. */
    memset(buf, 0x5A, sizeof buf);
    a = arena_create(&o);
    cr_assert_not_null(a);
    cr_assert_eq(stats_of(a).mmaps, 0);
    arena_destroy(a);
    cr_assert_eq(arena_cache_bytes(), 0, "a buffer never goes to the cache");
}

Test(arena_buffer, without_a_cap_it_grows_into_mapped_chunks)
{
    arena_t *a = arena_create(&(arena_opts_t){.buffer = buf, .buffer_size = 4096});
    cr_assert_not_null(a);
    for (int i = 0; i < 100; i++) {
        char *p = arena_alloc(a, 1000);
        cr_assert_not_null(p);
        memset(p, i, 1000);
    }
    cr_assert_gt(stats_of(a).mmaps, 0);
    arena_mark_t m = arena_mark(a);
    cr_assert_not_null(arena_alloc(a, 100000));
    cr_assert_eq(arena_rewind(a, m), 0);
    arena_reset(a);
    arena_destroy(a);
    memset(buf, 1, 4096);
}

Test(arena_buffer, bad_buffers_get_einval)
{
    arena_opts_t o = {.buffer = buf + 8, .buffer_size = 4096};
    errno = 0;
    cr_assert_null(arena_create(&o), "misaligned");
    cr_assert_eq(errno, EINVAL);
    o = (arena_opts_t){.buffer = buf, .buffer_size = ARENA_BUFFER_MIN - 1};
    errno = 0;
    cr_assert_null(arena_create(&o), "too small");
    cr_assert_eq(errno, EINVAL);
    o = (arena_opts_t){.buffer = NULL, .buffer_size = 4096};
    errno = 0;
    cr_assert_null(arena_create(&o), "a size without a buffer");
    cr_assert_eq(errno, EINVAL);
    o = (arena_opts_t){.buffer = buf, .buffer_size = 0};
    errno = 0;
    cr_assert_null(arena_create(&o), "a buffer without a size");
    cr_assert_eq(errno, EINVAL);
    o = (arena_opts_t){.buffer = buf, .buffer_size = ARENA_BUFFER_MIN};
    arena_t *a = arena_create(&o);
    cr_assert_not_null(a, "the smallest buffer works");
    cr_assert_not_null(arena_alloc(a, ARENA_ALIGN));
    arena_destroy(a);
}

Test(arena_buffer, frame_loop_in_a_buffer_makes_no_system_call)
{
    static _Alignas(16) char frame[16384];
    arena_opts_t o = {.buffer = frame, .buffer_size = sizeof frame, .max_bytes = sizeof frame};
    arena_t *a = arena_create(&o);
    for (int f = 0; f < 1000; f++) {
        arena_mark_t m = arena_mark(a);
        for (int i = 0; i < 20; i++)
            cr_assert_not_null(arena_alloc(a, 100 + i));
        cr_assert_eq(arena_rewind(a, m), 0);
        arena_reset(a);
    }
    cr_assert_eq(stats_of(a).mmaps, 0);
    arena_destroy(a);
}
