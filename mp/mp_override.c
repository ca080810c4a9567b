/*
 * mp_override.c - the malloc family on top of the memory pool, built only
 * into build/libarenapool_malloc.so for LD_PRELOAD.
 *
 * Semantics are glibc 2.36's, case by case: malloc(0) and realloc(NULL, n)
 * allocate, realloc(p, 0) frees and returns NULL, memalign/aligned_alloc round
 * a non-power-of-two alignment up (EINVAL only beyond SIZE_MAX/2+1),
 * posix_memalign returns EINVAL for an alignment that is not a power-of-two
 * multiple of sizeof(void *), valloc/pvalloc align to the page, errors set
 * errno to ENOMEM.  Nothing here calls malloc (the pool only maps pages), so
 * nothing recurses; every state starts zeroed or lazily, so calls before
 * main work; fork safety is registered with the first thread cache.
 */
#include "mp_internal.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#define MP__EXPORT __attribute__((visibility("default")))

/* Why not call mp_* directly: in a shared library those are interposable
 * exported symbols (a PLT call each); the inline paths below are not. */

MP__EXPORT void *malloc(size_t size)
{
    return mp__alloc_inline(size);
}

MP__EXPORT void free(void *p)
{
    mp__free_inline(p);
}

MP__EXPORT void *calloc(size_t n, size_t size)
{
    return mp_calloc(n, size);
}

MP__EXPORT void *realloc(void *p, size_t size)
{
    return mp_realloc(p, size);
}

MP__EXPORT void *reallocarray(void *p, size_t n, size_t size)
{
    size_t total;
    if (__builtin_mul_overflow(n, size, &total)) {
        errno = ENOMEM;
        return NULL;
    }
    return mp_realloc(p, total);
}

static size_t round_pow2(size_t a)
{
    size_t r = MP_ALIGN;
    while (r < a)
        r <<= 1;
    return r;
}

MP__EXPORT void *memalign(size_t align, size_t size)
{
    if (align <= MP_ALIGN)
        return mp__alloc_inline(size);
    if (align > SIZE_MAX / 2 + 1) {
        errno = EINVAL;
        return NULL;
    }
    return mp__aligned(round_pow2(align), size);
}

MP__EXPORT void *aligned_alloc(size_t align, size_t size)
{
    return memalign(align, size);
}

MP__EXPORT int posix_memalign(void **out, size_t align, size_t size)
{
    if (align % sizeof(void *) != 0 || (align & (align - 1)) != 0 || align == 0)
        return EINVAL;
    int saved = errno;
    void *p = align <= MP_ALIGN ? mp__alloc_inline(size) : mp__aligned(align, size);
    if (!p)
        return ENOMEM;
    errno = saved;
    *out = p;
    return 0;
}

MP__EXPORT void *valloc(size_t size)
{
    return mp__aligned((size_t)getpagesize(), size);
}

MP__EXPORT void *pvalloc(size_t size)
{
    size_t ps = (size_t)getpagesize();
    if (size > SIZE_MAX - ps) {
        errno = ENOMEM;
        return NULL;
    }
    size_t rounded = (size + ps - 1) & ~(ps - 1);
    return mp__aligned(ps, rounded ? rounded : ps);
}

MP__EXPORT size_t malloc_usable_size(void *p)
{
    return p ? mp__usable(p) : 0;
}
