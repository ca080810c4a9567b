/*
 * mp_large.c - blocks above the largest size class, and blocks aligned above
 * the page-heap page: each is a span of whole pages in the page heap
 * (mp_page_heap.c), found again by free through the page-map entry of its
 * first page.
 *
 * Why in the page heap and not mappings of their own: a block then starts and
 * ends on page-map pages, so it can never share a page-map entry with a
 * neighbour; freed blocks and freed small spans coalesce and serve either
 * kind; and the heap's decay, retain limit and address-space reserve apply to
 * both.  A block is exactly as long as its request rounded to pages, so a big
 * free span never serves a small request whole.
 */
#include "mp_internal.h"
#include "mp_checker.h"

#include <errno.h>

static size_t pages_for(size_t size)
{
    return ((size ? size : 1) + MP_PAGE_SIZE - 1) >> MP_PAGE_SHIFT;
}

void *mp__large_alloc(size_t size, size_t align, bool *zeroed)
{
    *zeroed = false;
    if (size > MP_MAX_REQUEST || align > MP_MAX_REQUEST / 2) {
        errno = ENOMEM;
        return NULL;
    }
    size_t align_pages = align > MP_PAGE_SIZE ? align >> MP_PAGE_SHIFT : 1;
    mp__central_decay(); /* a slow path too: idle small objects decay here */
    /* Why at least one page: a zero-byte block still owns its address, so
     * the next block cannot start there. */
    mp_span_t *s = mp__page_alloc_large(pages_for(size), align_pages, zeroed);
    if (!s) {
        /* The heap already gave back its own free pages and retried; free
         * objects parked in the central lists may hold whole spans too. */
        mp__central_drain();
        s = mp__page_alloc_large(pages_for(size), align_pages, zeroed);
    }
    if (!s) {
        errno = ENOMEM;
        return NULL;
    }
    MP__ADD(&mp__stat_large, s->npages << MP_PAGE_SHIFT);
    mp__stats_note(0);
    void *p = (void *)(s->page << MP_PAGE_SHIFT);
    if (AP__UNLIKELY(ap__checker()))
        mp__checker_large_alloc(p, s->npages << MP_PAGE_SHIFT);
    /* A block handed out holds no free key: pages reused from small spans
     * may hold one (never read for large blocks, but copied by a realloc
     * into a small block, it must not be this address's).  Unbacked pages
     * read zero and are left untouched. */
    if (!*zeroed)
        ((uintptr_t *)p)[1] = 0;
    return p;
}

void mp__large_free(mp_span_t *s, const void *p)
{
    size_t bytes = s->npages << MP_PAGE_SHIFT;
    if (AP__UNLIKELY(ap__checker()))
        mp__checker_large_free((void *)p, bytes);
    if (mp__page_free_large(s, p))
        MP__SUB(&mp__stat_large, bytes);
    else
        mp__misuse("double free", p); /* another thread freed it meanwhile */
}

/* Why under the heap lock: the page map names a span record, and records
 * are recycled; only under the lock do the record and the map agree. */
mp_span_t *mp__large_find(const void *p, size_t *cls)
{
    *cls = 0;
    if (p == NULL)
        return NULL;
    uint8_t st;
    bool start;
    mp_span_t *s = mp__page_lookup(p, &st, &start);
    if (st == MP_SPAN_LARGE && start)
        return s;
    if (st == MP_SPAN_SMALL) {
        *cls = mp__central_carved_class(p, s);
        return NULL;
    }
    if (st == MP_SPAN_FREE && start)
        mp__misuse("double free", p);
    else if (st == MP_SPAN_LARGE)
        mp__misuse("free of a pointer inside a block", p);
    else
        mp__misuse("free of a pointer not allocated by arenapool", p);
    return NULL;
}

static void *adjust(mp_span_t *s, size_t old)
{
    /* Pages added in place or by a move may carry a freed block's poison. */
    if (AP__UNLIKELY(ap__checker()))
        mp__checker_large_alloc((void *)(s->page << MP_PAGE_SHIFT), s->npages << MP_PAGE_SHIFT);
    if (s->npages > old) {
        MP__ADD(&mp__stat_large, (s->npages - old) << MP_PAGE_SHIFT);
        mp__stats_note(0);
    } else
        MP__SUB(&mp__stat_large, (old - s->npages) << MP_PAGE_SHIFT);
    return (void *)(s->page << MP_PAGE_SHIFT);
}

/* Why never a copy: a buffer grown step by step (a log, a vector, a read
 * loop) would be copied whole at every step.  Growing takes a free
 * neighbour, or moves the pages with the OS (mremap), which costs
 * page-table updates, not bytes; a move takes a quarter more than asked, so
 * a buffer grown in small steps moves O(log n) times, the headroom costing
 * address space but no memory until written.  Shrinking gives the tail back
 * once it is at least a quarter of the block, so that headroom survives the
 * next small step. */
void *mp__large_resize(mp_span_t *s, size_t size)
{
    size_t n = pages_for(size), old = s->npages;
    if (n <= old) {
        if (old - n >= old / 4)
            (void)mp__page_resize(s, n); /* no record for the tail: stays as is */
        return adjust(s, old);
    }
    if (mp__page_resize(s, n))
        return adjust(s, old);
    size_t roomy = n + n / 4;
    if (roomy > (MP_MAX_REQUEST >> MP_PAGE_SHIFT))
        roomy = n;
    if (mp__page_move(s, roomy) == 0 || mp__page_move(s, n) == 0)
        return adjust(s, old);
    return NULL;
}
