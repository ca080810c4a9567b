/*
 * mp_override.c - the malloc family on top of the memory pool, built only
 * into build/libarenapool_malloc.so for LD_PRELOAD.
 *
 * Semantics are glibc 2.36's, case by case: malloc(0) and realloc(NULL, n)
 * allocate, realloc(p, 0) frees and returns NULL, memalign/aligned_alloc round
 * a non-power-of-two alignment up (EINVAL only beyond SIZE_MAX/2+1),
 * posix_memalign returns EINVAL for an alignment that is not a power-of-two
 * multiple of sizeof(void *), valloc/pvalloc align to the page, errors set
 * errno to ENOMEM; malloc_trim, mallinfo2, mallinfo, malloc_stats,
 * malloc_info and mallopt answer for
 * mp's heap.  Nothing here calls malloc (the pool only maps pages), so
 * nothing recurses; every state starts zeroed or lazily, so calls before
 * main work; fork safety is registered with the first thread cache.
 */
#include "mp_internal.h"

#include "ap_out.h"

#include <errno.h>
#include <limits.h>
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
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

/* ---- glibc's malloc maintenance calls ---- */

/* Why interpose these too: left to glibc they would trim and report glibc's
 * own (empty) heap, so a program that calls malloc_trim after a peak, as
 * long-running services do, would keep every byte mp holds. */

/* Runs mp_trim; 1 when memory was released, as glibc answers.  `pad` (bytes
 * to keep) is accepted and ignored: mp keeps no top chunk to pad. */
MP__EXPORT int malloc_trim(size_t pad)
{
    (void)pad;
    return mp_trim() > 0;
}

static struct mallinfo2 info_from_stats(void)
{
    mp_stats_t st;
    mp_stats(&st);
    struct mallinfo2 mi;
    memset(&mi, 0, sizeof mi);
    mi.arena = st.mapped - (st.large < st.mapped ? st.large : st.mapped); /* all but large blocks */
    mi.hblks = 0;          /* large blocks are pages of the same heap, not mappings of their own */
    mi.hblkhd = st.large;  /* bytes in large blocks */
    mi.uordblks = st.in_use;
    mi.fordblks = st.cached;
    mi.keepcost = 0;
    return mi;
}

/* mp_stats in glibc's terms: arena = bytes held but large blocks, hblkhd =
 * large blocks, uordblks = in use, fordblks = free but held. */
MP__EXPORT struct mallinfo2 mallinfo2(void)
{
    return info_from_stats();
}

/* The same in int fields (glibc's older call): values above INT_MAX are
 * clamped, where glibc wraps. */
MP__EXPORT struct mallinfo mallinfo(void)
{
    struct mallinfo2 m2 = info_from_stats();
    struct mallinfo mi;
    memset(&mi, 0, sizeof mi);
#define CLAMP(v) ((v) > (size_t)INT_MAX ? INT_MAX : (int)(v))
    mi.arena = CLAMP(m2.arena);
    mi.hblkhd = CLAMP(m2.hblkhd);
    mi.uordblks = CLAMP(m2.uordblks);
    mi.fordblks = CLAMP(m2.fordblks);
#undef CLAMP
    return mi;
}

/* mp_stats_print on stderr, where glibc prints its own arenas' figures. */
MP__EXPORT void malloc_stats(void)
{
    (void)mp_stats_print(2);
}

/* One "<name> ... />" XML element: <tag attr1="v1" attr2="v2"/>. */
static void xml_elem(ap_out_t *o, const char *open, const char *a1, size_t v1, const char *a2, size_t v2)
{
    ap__out_str(o, open);
    ap__out_str(o, a1);
    ap__out_str(o, "=\"");
    ap__out_u(o, v1, 0);
    ap__out_str(o, "\"");
    if (a2) {
        ap__out_str(o, " ");
        ap__out_str(o, a2);
        ap__out_str(o, "=\"");
        ap__out_u(o, v2, 0);
        ap__out_str(o, "\"");
    }
    ap__out_str(o, "/>\n");
}

/* mp's figures in glibc's XML layout (one heap; the element names glibc
 * uses, so tools that read it find them): options must be 0 (EINVAL).  Why
 * the file descriptor when there is one: stdio would allocate the stream's
 * buffer on a first write, through the allocator being reported on. */
MP__EXPORT int malloc_info(int options, FILE *fp)
{
    if (options != 0) {
        errno = EINVAL;
        return -1;
    }
    mp_stats_t st;
    mp_stats(&st);
    ap_out_t o = {.len = 0};
    ap__out_str(&o, "<malloc version=\"1\">\n<heap nr=\"0\">\n<sizes>\n</sizes>\n");
    xml_elem(&o, "<total type=\"rest\" ", "count", 0, "size", st.cached);
    xml_elem(&o, "<system type=\"current\" ", "size", st.mapped, NULL, 0);
    xml_elem(&o, "<aspace type=\"total\" ", "size", st.mapped, NULL, 0);
    ap__out_str(&o, "</heap>\n");
    xml_elem(&o, "<total type=\"mmap\" ", "count", 0, "size", st.large);
    xml_elem(&o, "<total type=\"in_use\" ", "count", 0, "size", st.in_use);
    xml_elem(&o, "<system type=\"current\" ", "size", st.mapped, NULL, 0);
    xml_elem(&o, "<aspace type=\"total\" ", "size", st.mapped, NULL, 0);
    ap__out_str(&o, "</malloc>\n");
    int fd = fileno(fp);
    if (fd >= 0 && fflush(fp) == 0) {
        if (ap__out_flush(&o, fd) != 0)
            return -1;
        return 0;
    }
    return fwrite(o.buf, 1, o.len, fp) == o.len ? 0 : -1;
}

/* Accepted and ignored (returns 1, success): glibc's tunables (M_ARENA_MAX,
 * M_MMAP_THRESHOLD, M_TRIM_THRESHOLD, ...) describe glibc's heap, and mp's
 * policies are fixed (docs/design.md).  Programs that set them keep working. */
MP__EXPORT int mallopt(int param, int value)
{
    (void)param;
    (void)value;
    return 1;
}
