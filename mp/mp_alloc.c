/*
 * mp_alloc.c - the public mp_* entry points: argument checks (once, at the
 * entry, as musl does), routing between the inline thread-cache fast paths,
 * size classes above 8 KiB, aligned classes and large mappings, plus realloc,
 * usable size, trim, stats and the debug-build misuse checks.
 *
 * The malloc override (mp_override.c) calls the same hidden helpers, so the
 * two front ends cannot drift apart.
 */
#include "mp_internal.h"

#include <errno.h>
#include <string.h>

/* ---- Misuse reports ---- */

_Noreturn void mp__bad_free(const char *what, const void *p)
{
    arena__os_fatal(what, "ptr", p, NULL, NULL);
}

#if ARENAPOOL_DEBUG
void mp__debug_check_free(void *p)
{
    if (p == NULL)
        return;
    mp_span_t *s = mp__span_at(p);
    uint8_t state = s ? MP__LOAD(&s->state) : 0;
    if (state == MP_SPAN_LARGE) {
        if (s->user != p)
            mp__bad_free("mp_free: pointer inside a block, not its start", p);
        return;
    }
    if (state != MP_SPAN_SMALL)
        mp__bad_free("mp_free: pointer not allocated by mp (foreign or already freed)", p);
    uintptr_t off = (uintptr_t)p - (s->page << MP_PAGE_SHIFT);
    if (off % mp__class_size[s->cls] != 0)
        mp__bad_free("mp_free: pointer inside a block, not its start", p);
    uintptr_t *w = p;
    if (w[1] == MP__FREED_MARK(p))
        mp__bad_free("mp_free: double free", p);
    w[1] = MP__FREED_MARK(p);
}
#endif

/* ---- Allocation ---- */

/* Pop from the thread cache of class cls (any class, no size table). */
MP__INLINE void *alloc_class(size_t cls)
{
    return mp__pop(&mp__tc->bins[cls], cls);
}

void *mp__alloc_big(size_t size)
{
    if (MP__LIKELY(size <= MP_MAX_SMALL))
        return alloc_class(mp__class_of_mid(size));
    bool fresh;
    return mp__large_alloc(size, 0, &fresh);
}

void *mp_alloc(size_t size)
{
    return mp__alloc_inline(size);
}

void *mp_calloc(size_t n, size_t size)
{
    size_t total;
    if (__builtin_mul_overflow(n, size, &total)) {
        errno = ENOMEM;
        return NULL;
    }
    if (total > MP_MAX_SMALL) {
        bool fresh;
        void *p = mp__large_alloc(total, 0, &fresh);
        if (p && !fresh)
            memset(p, 0, total);
        return p;
    }
    void *p = mp__alloc_inline(total);
    if (p)
        memset(p, 0, total);
    return p;
}

/* align: a power of two above 16.  Small blocks come from the first class
 * whose size is a multiple of align: spans start on a page boundary, so every
 * object of such a class is aligned.  Beyond a page, a mapping of its own. */
void *mp__aligned(size_t align, size_t size)
{
    if (size > MP_MAX_REQUEST) {
        errno = ENOMEM;
        return NULL;
    }
    if (align <= MP_PAGE_SIZE && size <= MP_MAX_SMALL) {
        size_t cls = mp__class_of(size > align ? size : align);
        while (mp__class_size[cls] % align != 0)
            cls++;
        return alloc_class(cls);
    }
    bool fresh;
    return mp__large_alloc(size, align, &fresh);
}

void *mp_aligned_alloc(size_t align, size_t size)
{
    if (align == 0 || (align & (align - 1)) != 0) {
        errno = EINVAL;
        return NULL;
    }
    if (align <= MP_ALIGN)
        return mp__alloc_inline(size);
    return mp__aligned(align, size);
}

/* ---- Free ---- */

void mp__free_nonsmall(void *p)
{
    if (p == NULL)
        return;
    mp_span_t *s = mp__span_at(p);
    if (s && MP__LOAD(&s->state) == MP_SPAN_LARGE && s->user == p) {
        mp__large_free(s);
        return;
    }
    /* Why not abort in release builds: under LD_PRELOAD a block from before
     * the library took over (the dynamic loader's own) may come back; it is
     * safer to leak it than to crash. */
#if ARENAPOOL_DEBUG
    mp__bad_free("mp_free: pointer not allocated by mp (foreign or already freed)", p);
#endif
}

void mp_free(void *p)
{
    mp__free_inline(p);
}

void mp_free_sized(void *p, size_t size)
{
    if (p == NULL)
        return;
    if (size > MP_MAX_SMALL) {
        mp__free_nonsmall(p);
        return;
    }
    size_t cls = mp__class_of(size);
#if ARENAPOOL_DEBUG
    if (mp__class_at(p) != cls)
        mp__bad_free("mp_free_sized: size does not match the block", p);
    mp__debug_check_free(p);
#endif
    mp__free_class(p, cls);
}

/* ---- Size queries and realloc ---- */

size_t mp__usable(const void *p)
{
    size_t cls = mp__class_at(p);
    if (MP__LIKELY(cls != 0))
        return mp__class_size[cls];
    mp_span_t *s = p ? mp__span_at(p) : NULL;
    if (s && MP__LOAD(&s->state) == MP_SPAN_LARGE && s->user == p)
        return (size_t)(s->base + s->bytes - (const char *)p);
    return 0;
}

size_t mp_usable_size(const void *p)
{
    return p ? mp__usable(p) : 0;
}

void *mp_realloc(void *p, size_t size)
{
    if (p == NULL)
        return mp__alloc_inline(size);
    if (size == 0) {
        mp_free(p);
        return NULL;
    }
    if (size > MP_MAX_REQUEST) {
        errno = ENOMEM;
        return NULL;
    }
    size_t old = mp__usable(p);
#if ARENAPOOL_DEBUG
    if (old == 0)
        mp__bad_free("mp_realloc: pointer not allocated by mp", p);
#endif
    /* In place only while the new size maps to the block's own class (or,
     * for a large block, stays large and keeps more than half the mapping).
     * Why so strict: mp_free_sized(p, size) computes the class from the size,
     * so the size a caller last passed must always lead back to the block's
     * real class; a block filed under another class would corrupt its lists. */
    size_t cls = mp__class_at(p);
    if (cls != 0 ? size <= MP_MAX_SMALL && mp__class_of(size) == cls
                 : size > MP_MAX_SMALL && size <= old && size > old / 2)
        return p;
    void *q;
    if (size > MP_MAX_SMALL && size > old) {
        /* Why the headroom: a buffer grown by repeated realloc would otherwise
         * be copied to a new mapping every time (no mremap in the OS layer). */
        size_t want = size + size / 4;
        bool fresh;
        q = mp__large_alloc(want > size ? want : size, 0, &fresh);
        if (!q)
            q = mp__large_alloc(size, 0, &fresh);
    } else {
        q = mp__alloc_inline(size);
    }
    if (!q)
        return NULL;
    memcpy(q, p, old < size ? old : size);
    mp_free(p);
    return q;
}

/* ---- Maintenance and stats ---- */

void mp_thread_flush(void)
{
    mp__tcache_flush();
}

size_t mp_trim(void)
{
    /* Why also the fall in mapped: spans the drain hands back can push the
     * page heap over its retain limit, and it then gives pages back on its
     * own before mp__page_trim runs; those bytes were released by this call
     * too.  Alone on its thread the fall is exact; never report less than
     * our own count when other threads map meanwhile. */
    size_t before = MP__LOAD(&mp__stat_mapped);
    mp__tcache_flush();
    mp__central_drain();
    size_t own = mp__page_trim() + mp__large_trim();
    size_t after = MP__LOAD(&mp__stat_mapped);
    size_t fall = before > after ? before - after : 0;
    return fall > own ? fall : own;
}

void mp_stats(mp_stats_t *out)
{
    size_t central_out, central_cached;
    mp__central_totals(&central_out, &central_cached);
    size_t tc = mp__tcache_bytes();
    size_t large = MP__LOAD(&mp__stat_large);
    out->mapped = MP__LOAD(&mp__stat_mapped);
    out->large = large;
    out->in_use = (central_out > tc ? central_out - tc : 0) + large;
    out->cached = tc + central_cached + MP__LOAD(&mp__stat_large_cached);
}
