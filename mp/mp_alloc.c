/*
 * mp_alloc.c - the public mp_* entry points: argument checks (once, at the
 * entry, as musl does), routing between the inline thread-cache fast paths,
 * size classes above 8 KiB, aligned blocks and large blocks (page-heap
 * spans, mp_large.c), plus realloc, usable size, trim, stats and the misuse
 * reports (every build; debug builds also check mp_free_sized's size).
 *
 * The malloc override (mp_override.c) calls the same hidden helpers, so the
 * two front ends cannot drift apart.
 */
#include "mp_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* ---- Misuse ---- */

uintptr_t mp__free_key;
uint64_t mp__class_divc[MP_NUM_CLASSES];
static int misuse_policy; /* 0 unread, 1 abort, 2 ignore */

void mp__misuse_init(void)
{
    if (__atomic_load_n(&mp__free_key, __ATOMIC_ACQUIRE) != 0)
        return;
    for (size_t c = 1; c < MP_NUM_CLASSES; c++)
        mp__class_divc[c] = UINT64_MAX / mp__class_size[c] + 1;
    /* Why never 0 or a small value: fresh pages and most live data hold
     * zeros and small numbers in their second word. */
    uintptr_t key = (uintptr_t)ap__os_random() | ((uintptr_t)1 << 63) | 1u;
    uintptr_t none = 0;
    __atomic_compare_exchange_n(&mp__free_key, &none, key, false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE);
}

__attribute__((constructor)) static void misuse_constructor(void)
{
    mp__misuse_init();
}

void mp__misuse(const char *what, const void *p)
{
    int policy = __atomic_load_n(&misuse_policy, __ATOMIC_RELAXED);
    if (policy == 0) {
        policy = ap__options()->misuse_ignore ? 2 : 1;
        __atomic_store_n(&misuse_policy, policy, __ATOMIC_RELAXED);
    }
    if (policy == 2)
        return;
    ap__os_fatal(what, "ptr", p, NULL, NULL);
}

void mp__misuse_small(const void *p, uint32_t m)
{
    mp__misuse(mp__off_bad(p, m) ? "free of a pointer inside a block" : "double free", p);
}

/* The large block that starts at p, or NULL after reporting what p is. */
static mp_span_t *large_or_report(const void *p)
{
    mp_span_t *s = mp__large_at(p);
    if (s)
        return s;
    mp_span_t *t = mp__span_at(p);
    uint8_t st = t ? MP__LOAD(&t->state) : 0;
    if (st == MP_SPAN_FREE && (uintptr_t)p == t->page << MP_PAGE_SHIFT)
        mp__misuse("double free", p);
    else if (st == MP_SPAN_LARGE)
        mp__misuse("free of a pointer inside a block", p);
    else
        mp__misuse("free of a pointer not allocated by mp", p);
    return NULL;
}

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
        if (p && !zeroed) {
            /* Why drop the pages rather than clear them above 1 MiB: a block
             * reused from freed pages would be written whole, and a program
             * that touches a little of a big calloc'd buffer (a sparse table,
             * a read buffer) would pay for every page; dropped pages read as
             * zero and become resident only where written. */
            mp_span_t *s = mp__large_at(p);
            if (total < ((size_t)1 << 20) || ap__os_decommit(p, s->npages << MP_PAGE_SHIFT) != 0)
                memset(p, 0, total);
        }
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

void mp__free_nonsmall(void *p)
{
    if (p == NULL)
        return;
    mp_span_t *s = large_or_report(p);
    if (s)
        mp__large_free(s);
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
    if (mp__class_at(p) != cls) {
        mp__misuse("mp_free_sized: size does not match the block", p);
        return;
    }
#endif
    mp__free_class(p, cls);
}

/* ---- Size queries and realloc ---- */

/* A freed or interior pointer gets the same report as from free (never the
 * size of a block the caller does not own); 0 when that is ignored. */
size_t mp__usable(const void *p)
{
    uint32_t m = mp__meta_at(p);
    size_t cls = m & 0xFFu;
    if (AP__LIKELY(cls != 0)) {
        if (AP__UNLIKELY(!mp__small_ok(p, m))) {
            mp__misuse_small(p, m);
            return 0;
        }
        return mp__class_size[cls];
    }
    mp_span_t *s = p ? large_or_report(p) : NULL;
    return s ? s->npages << MP_PAGE_SHIFT : 0;
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
    /* A small block stays in place only while the new size maps to its own
     * class.  Why so strict: mp_free_sized(p, size) computes the class from
     * the size, so the size a caller last passed must always lead back to the
     * block's real class; a block filed under another class would corrupt
     * its lists.  A large block is resized without a copy when it stays large. */
    uint32_t m = mp__meta_at(p);
    size_t cls = m & 0xFFu, old;
    if (cls != 0) {
        if (AP__UNLIKELY(!mp__small_ok(p, m))) {
            mp__misuse_small(p, m);
            errno = EINVAL;
            return NULL;
        }
        if (size <= MP_MAX_SMALL && mp__class_of(size) == cls)
            return p;
        old = mp__class_size[cls];
    } else {
        mp_span_t *s = large_or_report(p);
        if (s == NULL) {
            errno = EINVAL;
            return NULL;
        }
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
