/*
 * mp_large.c - blocks above the largest size class (and small blocks with an
 * alignment above the page-heap page): one OS mapping each, found again by
 * free through the page-map entry of the pointer's page.
 *
 * A freed mapping is not unmapped at once: up to MP_LC_ENTRIES mappings
 * (MP_LC_BYTES in all) wait in a cache and serve later requests of up to the
 * same size, so a program that allocates and frees big buffers in a loop does
 * not map and page-fault them again each time.  Entries idle for MP_LC_DECAY_MS
 * are unmapped at the next large call; mp_trim unmaps them all.
 */
#include "mp_internal.h"

#include <errno.h>
#include <string.h>

/* Why these bounds: the cache is resident memory the program does not use;
 * glibc keeps at most about twice its mmap threshold (<= 64 MiB) around after a
 * big free, so a smaller cap keeps peak RSS near glibc's. */
#define MP_LC_ENTRIES 8
#define MP_LC_BYTES ((size_t)32 << 20)
#define MP_LC_SLACK ((size_t)32 << 20) /* a cached mapping may exceed the need by this */
#define MP_LC_DECAY_MS 2000u

static pthread_mutex_t large_lock = PTHREAD_MUTEX_INITIALIZER;
static mp_span_t *lc_head; /* newest first; records with base/bytes/stamp */
static size_t lc_count, lc_bytes;

static void lc_remove(mp_span_t *s)
{
    if (s->prev)
        s->prev->next = s->next;
    else
        lc_head = s->next;
    if (s->next)
        s->next->prev = s->prev;
    s->next = s->prev = NULL;
    lc_count--;
    lc_bytes -= s->bytes;
}

/* Detach entries idle too long, or over the bounds (oldest first), onto *out. */
static void lc_evict(uint64_t now, mp_span_t **out)
{
    mp_span_t *s = lc_head;
    while (s && s->next)
        s = s->next; /* oldest */
    while (s) {
        mp_span_t *prev = s->prev;
        if (lc_count > MP_LC_ENTRIES || lc_bytes > MP_LC_BYTES || now - s->stamp > MP_LC_DECAY_MS) {
            lc_remove(s);
            s->next = *out;
            *out = s;
        }
        s = prev;
    }
}

static size_t unmap_all(mp_span_t *s)
{
    size_t bytes = 0;
    while (s) {
        mp_span_t *next = s->next;
        arena__os_unmap(s->base, s->bytes);
        bytes += s->bytes;
        MP__SUB(&mp__stat_mapped, s->bytes);
        MP__SUB(&mp__stat_large_cached, s->bytes);
        mp__span_delete(s);
        s = next;
    }
    return bytes;
}

void *mp__large_alloc(size_t size, size_t align, bool *fresh)
{
    *fresh = false;
    size_t ps = arena__os_page_size();
    if (size > MP_MAX_REQUEST || align > MP_MAX_REQUEST / 2) {
        errno = ENOMEM;
        return NULL;
    }
    size_t extra = align > ps ? align - ps : 0;
    /* Why at least one byte: with size 0 the aligned address may fall exactly
     * at the end of the mapping, i.e. on a neighbour's first page, and the
     * page map would then file the neighbour under this block (found by
     * fuzz_mp: mp_aligned_alloc(65536, 0) returned a live block's address). */
    size_t need = ((size ? size : 1) + extra + ps - 1) & ~(ps - 1);

    /* Best fit among cached mappings not far above the need: a 25 MiB mapping
     * may serve a 5 MiB request (one mapping then serves a whole loop of
     * varied sizes), a 1 GiB one may not serve 300 KiB. */
    size_t slack = need > MP_LC_SLACK ? need : MP_LC_SLACK;
    mp_span_t *s = NULL, *dead = NULL;
    pthread_mutex_lock(&large_lock);
    for (mp_span_t *e = lc_head; e; e = e->next)
        if (e->bytes >= need && e->bytes - need <= slack && (!s || e->bytes < s->bytes))
            s = e;
    if (s) {
        lc_remove(s);
        MP__SUB(&mp__stat_large_cached, s->bytes);
    }
    lc_evict(mp__now_ms(), &dead);
    pthread_mutex_unlock(&large_lock);
    unmap_all(dead);

    if (!s) {
        void *mem;
        if (arena__os_map(need, &mem) != 0) {
            errno = ENOMEM;
            return NULL;
        }
        if (!(s = mp__span_new())) {
            arena__os_unmap(mem, need);
            errno = ENOMEM;
            return NULL;
        }
        *fresh = true;
        s->base = mem;
        s->bytes = need;
        MP__ADD(&mp__stat_mapped, need);
    }
    uintptr_t a = (uintptr_t)s->base;
    if (align > ps)
        a = (a + align - 1) & ~(uintptr_t)(align - 1);
    if (mp__pagemap_reserve(a, 1) != 0) {
        mp_span_t *one = s;
        one->next = NULL;
        MP__ADD(&mp__stat_large_cached, s->bytes); /* unmap_all subtracts it */
        unmap_all(one);
        errno = ENOMEM;
        return NULL;
    }
    s->user = (void *)a;
    s->page = a >> MP_PAGE_SHIFT;
    MP__STORE(&s->state, (uint8_t)MP_SPAN_LARGE);
    MP__ADD(&mp__stat_large, (size_t)(s->base + s->bytes - (char *)a));
    mp__pagemap_set(s->page, s);
    return (void *)a;
}

void mp__large_free(mp_span_t *s)
{
    mp__pagemap_set(s->page, NULL);
    MP__SUB(&mp__stat_large, (size_t)(s->base + s->bytes - (char *)s->user));
    MP__STORE(&s->state, (uint8_t)0);
    s->user = NULL;
    mp_span_t *dead = NULL;
    uint64_t now = mp__now_ms();
    pthread_mutex_lock(&large_lock);
    if (s->bytes <= MP_LC_BYTES) {
        s->stamp = now;
        s->prev = NULL;
        s->next = lc_head;
        if (lc_head)
            lc_head->prev = s;
        lc_head = s;
        lc_count++;
        lc_bytes += s->bytes;
        MP__ADD(&mp__stat_large_cached, s->bytes);
    } else {
        s->next = dead;
        dead = s;
        MP__ADD(&mp__stat_large_cached, s->bytes);
    }
    lc_evict(now, &dead);
    pthread_mutex_unlock(&large_lock);
    unmap_all(dead);
}

size_t mp__large_trim(void)
{
    pthread_mutex_lock(&large_lock);
    mp_span_t *all = lc_head;
    lc_head = NULL;
    lc_count = lc_bytes = 0;
    pthread_mutex_unlock(&large_lock);
    return unmap_all(all);
}

void mp__large_lock_all(void) { pthread_mutex_lock(&large_lock); }
void mp__large_unlock_all(void) { pthread_mutex_unlock(&large_lock); }
void mp__large_reinit_locks(void) { pthread_mutex_init(&large_lock, NULL); }
