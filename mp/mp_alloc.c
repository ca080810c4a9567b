/*
 * mp_alloc.c - the public mp_* entry points: argument checks (once, at the
 * entry, as musl does), routing between the inline thread-cache fast paths,
 * size classes above 8 KiB, aligned blocks and large blocks (page-heap
 * spans, mp_large.c), plus realloc, usable size, trim and stats.  The misuse
 * checks live below: the hint in the inline paths (mp_internal.h), the
 * confirmation in the thread cache and central levels, the report in
 * mp_misuse.c.
 *
 * The malloc override (mp_override.c) calls the same hidden helpers, so the
 * two front ends cannot drift apart.
 */
#include "mp_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* ---- Allocation ---- */

/* Pop from the thread cache of class cls (any class, no size table). */
MP__INLINE void *alloc_class(size_t cls)
{
    return mp__pop(&mp__tc->bins[cls], cls);
}

void *mp__alloc_big(size_t size)
{
    if (AP__LIKELY(size <= MP_MAX_SMALL))
        return alloc_class(mp__class_of_mid(size));
    bool zeroed;
    return mp__large_alloc(size, 0, &zeroed);
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
        bool zeroed;
        void *p = mp__large_alloc(total, 0, &zeroed);
        if (p && !zeroed)
            mp__page_clear(p, total);
        return p;
    }
    void *p = mp__alloc_inline(total);
    if (p)
        memset(p, 0, total);
    return p;
}

/* align: a power of two above 16.  Small blocks come from the first class
 * whose size is a multiple of align: spans start on a page boundary, so every
 * object of such a class is aligned.  Beyond a page, a span of its own that
 * starts on a multiple of align. */
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
    bool zeroed;
    return mp__large_alloc(size, align, &zeroed);
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
    if (mp__class_at(p) != cls) {
        mp__misuse("mp_free_sized: size does not match the block", p);
        return;
    }
#endif
    mp__free_class(p, cls);
}

/* ---- Size queries and realloc ---- */

/* The class of p (> 0) or its large block (*large), checked as free checks
 * it; 0 and NULL after the misuse report when p is no live block. */
static size_t check_live(const void *p, mp_span_t **large)
{
    uint32_t m = mp__meta_at(p);
    size_t cls = mp__meta_cls(m);
    *large = NULL;
    if (AP__LIKELY(cls != 0))
        return mp__small_ok(p, m) || mp__small_verify(p, m) ? cls : 0;
    *large = mp__large_find(p, &cls);
    if (cls != 0 && !mp__small_live(p, cls)) /* its page was marked meanwhile */
        cls = 0;
    return cls;
}

/* A freed or interior pointer gets the same report as from free (never the
 * size of a block the caller does not own); 0 when that is ignored. */
size_t mp__usable(const void *p)
{
    mp_span_t *large;
    size_t cls = check_live(p, &large);
    if (cls)
        return mp__class_size[cls];
    return large ? large->npages << MP_PAGE_SHIFT : 0;
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
    /* A small block stays in place only while the new size maps to its own
     * class.  Why so strict: mp_free_sized(p, size) computes the class from
     * the size, so the size a caller last passed must always lead back to the
     * block's real class; a block filed under another class would corrupt
     * its lists.  A large block is resized without a copy when it stays large.
     * Why p is checked before the size: a bad pointer is reported whatever
     * size comes with it. */
    mp_span_t *s;
    size_t cls = check_live(p, &s), old;
    if (cls == 0 && s == NULL) {
        errno = EINVAL;
        return NULL;
    }
    if (size > MP_MAX_REQUEST) {
        errno = ENOMEM;
        return NULL;
    }
    if (cls != 0) {
        if (size <= MP_MAX_SMALL && mp__class_of(size) == cls)
            return p;
        old = mp__class_size[cls];
    } else {
        if (size > MP_MAX_SMALL) {
            void *q = mp__large_resize(s, size);
            if (q)
                return q;
        }
        old = s->npages << MP_PAGE_SHIFT;
    }
    void *q;
    if (size > MP_MAX_SMALL) {
        bool zeroed;
        q = mp__large_alloc(size, 0, &zeroed);
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
    size_t own = mp__page_trim();
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
    size_t free_resident, free_all;
    mp__page_totals(&free_resident, &free_all);
    out->cached = tc + central_cached + free_resident;
}
