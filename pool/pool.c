/*
 * pool.c - fixed-size object pools carved from an arena.
 *
 * A pool owns a list of slabs (arena blocks of equal-size slots, oldest first)
 * and an intrusive LIFO free list threaded through free slots.  Slots are
 * carved from the current slab in address order, a batch at a time, so fresh
 * objects are contiguous; freed ones are reused newest first.  Every slab
 * registers an arena_defer callback, so an arena rewind that releases a slab
 * removes it from the pool before its memory goes.  Invariants: every free-list
 * entry is a carved slot of a held slab; live = carved - length(free list).
 * Used by programs through pool.h; uses only the public arena API.
 */
#include "pool.h"
#include "os.h"

#include <errno.h>
#include <stdlib.h>

#if defined(__GNUC__)
#define NOINLINE __attribute__((noinline))
#define COLD __attribute__((cold))
#else
#define NOINLINE
#define COLD
#endif

#define ROUND_UP(x, a) (((x) + ((a) - 1)) & ~(size_t)((a) - 1))
/* Why these sizes: the first slab fits a page, so a small pool costs little;
 * doubling keeps the slab count logarithmic; 1 MiB caps a single arena request. */
#define SLAB_FIRST_BYTES 4096u
#define SLAB_MAX_BYTES ((size_t)1 << 20)
#define SLAB_MIN_SLOTS 8u
/* Slots linked per refill: about a page, so a refill touches memory the caller
 * is about to use anyway. */
#define CARVE_BATCH_BYTES 4096u

typedef struct slab {
    struct slab *next; /* newer slab */
    pool_t *pool;
    char *start;   /* first slot */
    char *end;     /* one past the last slot */
    size_t carved; /* slots carved since the last reset (from start up) */
} slab_t;

struct pool {
    struct pool__head h; /* free, slot, key, magic: read by the inline paths */
    arena_t *arena;
    bool own_arena;
    bool dead;           /* destroyed or rewound away: callbacks do nothing */
    size_t align;
    slab_t *slabs;       /* oldest first */
    slab_t *carve;       /* slab being carved, NULL if none has room */
    size_t carved;       /* slots carved since reset, over all slabs */
    size_t next_slab_bytes;
    uintptr_t lo, hi;    /* bounds of every slab's slots (hardened pop check) */
};

/* ---- Free-list links ---- */

static void *encode(const pool_t *p, const void *slot, void *next)
{
#if ARENAPOOL_HARDENED
    /* Why XOR with the slot address too: a link copied to another slot (or a
     * forged one) no longer decodes to a pool address. */
    return (void *)((uintptr_t)next ^ p->h.key ^ (uintptr_t)slot);
#else
    (void)p, (void)slot;
    return next;
#endif
}

static void *decode(const pool_t *p, const void *slot, void *link)
{
    return encode(p, slot, link); /* XOR is its own inverse */
}

/* Read a free slot's link; the slot stays poisoned. */
static void *read_link(const pool_t *p, void *slot)
{
    ARENA__REVEAL_LINK(slot);
    void *link = *(void **)slot;
    ARENA__POISON(slot, sizeof(void *));
    return decode(p, slot, link);
}

static void write_link(pool_t *p, void *slot, void *next)
{
    ARENA__REVEAL_LINK(slot);
    *(void **)slot = encode(p, slot, next);
}

static bool check_pool(const pool_t *p)
{
    if (ARENA__UNLIKELY(p == NULL || p->h.magic != POOL__MAGIC)) {
        if (ARENAPOOL_DEBUG || ARENAPOOL_HARDENED)
            arena__os_fatal("use of a NULL, destroyed or invalid pool", "pool", p, NULL, NULL);
        return false;
    }
    return true;
}

_Noreturn void pool__corrupt(pool_t *p, const void *slot)
{
    arena__os_fatal("pool free list is corrupted (use after free or overflow?)", "pool", p,
                    "slot", slot);
}

/* ---- Slabs ---- */

static slab_t *slab_of(const pool_t *p, const void *obj)
{
    const char *o = obj;
    for (slab_t *s = p->slabs; s; s = s->next)
        if (o >= s->start && o < s->end)
            return s;
    return NULL;
}

static void bounds_add(pool_t *p, const slab_t *s)
{
    if (p->lo == 0 || (uintptr_t)s->start < p->lo)
        p->lo = (uintptr_t)s->start;
    if ((uintptr_t)s->end > p->hi)
        p->hi = (uintptr_t)s->end;
}

/* Arena callback: the arena is releasing slab s (rewind past its creation). */
static void slab_dropped(void *arg)
{
    slab_t *s = arg;
    pool_t *p = s->pool;
    if (p->dead)
        return;
    slab_t **pp = &p->slabs;
    while (*pp && *pp != s)
        pp = &(*pp)->next;
    if (*pp == NULL)
        return;
    *pp = s->next;
    /* Drop the slab's slots from the free list, keeping the others' order. */
    void *prev = NULL, *cur = p->h.free;
    while (cur) {
        void *next = read_link(p, cur);
        if ((char *)cur >= s->start && (char *)cur < s->end) {
            if (prev)
                write_link(p, prev, next), ARENA__POISON(prev, sizeof(void *));
            else
                p->h.free = next;
        } else {
            prev = cur;
        }
        cur = next;
    }
    p->carved -= s->carved;
    if (p->carve == s)
        p->carve = s->next;
    p->lo = p->hi = 0;
    for (slab_t *t = p->slabs; t; t = t->next)
        bounds_add(p, t);
}

/* Arena callback: the arena is releasing the pool itself. */
static void pool_ended(void *arg)
{
    pool_t *p = arg;
    p->dead = true;
    p->h.magic = 0;
}

/* A new slab from the arena, registered for rewinds; NULL + ENOMEM. */
static slab_t *slab_new(pool_t *p)
{
    size_t slot = p->h.slot;
    size_t hdr = ROUND_UP(sizeof(slab_t), p->align);
    size_t bytes = p->next_slab_bytes;
    if (bytes < SLAB_MIN_SLOTS * slot)
        bytes = SLAB_MIN_SLOTS * slot;
    size_t nslots = bytes / slot;
    size_t total = hdr + nslots * slot;
    size_t align = p->align > ARENA_ALIGN ? p->align : ARENA_ALIGN;
    char *base = arena_alloc_aligned(p->arena, total, align);
    if (base == NULL)
        return NULL;
    slab_t *s = (slab_t *)base;
    if (arena_defer(p->arena, slab_dropped, s) != 0) {
        /* Give the block back: it is the newest allocation, so the arena's
         * cursor returns to where it was. */
        int saved = errno;
        arena_realloc(p->arena, base, total, 0);
        errno = saved;
        return NULL;
    }
    s->next = NULL;
    s->pool = p;
    s->start = base + hdr;
    s->end = s->start + nslots * slot;
    s->carved = 0;
    ARENA__POISON(s->start, nslots * slot);
    slab_t **pp = &p->slabs;
    while (*pp)
        pp = &(*pp)->next;
    *pp = s;
    bounds_add(p, s);
    if (p->next_slab_bytes < SLAB_MAX_BYTES)
        p->next_slab_bytes *= 2;
    return s;
}

/* Carve a batch of fresh slots: return the first, link the rest in address
 * order onto the (empty) free list. */
static void *carve(pool_t *p)
{
    slab_t *s = p->carve;
    while (s && s->start + s->carved * p->h.slot >= s->end)
        s = s->next;
    if (s == NULL && (s = slab_new(p)) == NULL)
        return NULL;
    p->carve = s;
    size_t slot = p->h.slot;
    size_t left = (size_t)(s->end - s->start) / slot - s->carved;
    size_t n = CARVE_BATCH_BYTES / slot;
    if (n < 1)
        n = 1;
    if (n > left)
        n = left;
    char *first = s->start + s->carved * slot;
    s->carved += n;
    p->carved += n;
    void *next = p->h.free;
    for (size_t i = n; i-- > 1;) {
        char *slot_p = first + i * slot;
        write_link(p, slot_p, next);
        ARENA__POISON(slot_p, slot);
        next = slot_p;
    }
    p->h.free = next;
    ARENA__UNPOISON(first, slot);
    return first;
}

/* ---- Allocation ---- */

NOINLINE COLD void *pool__alloc_slow(pool_t *p)
{
    if (!check_pool(p)) {
        errno = EINVAL;
        return NULL;
    }
    return carve(p);
}

#define CANARY_SALT ((uintptr_t)0x5EEDF7EEDEADF7EEull)

/* The second word of a free slot holds a keyed canary (slots of two words or
 * more), so a double free is found in O(1) without walking the free list. */
static uintptr_t canary(const pool_t *p, const void *slot)
{
    return (uintptr_t)slot ^ p->h.key ^ CANARY_SALT;
}

void *pool__alloc_checked(pool_t *p)
{
    if (!check_pool(p)) {
        errno = EINVAL;
        return NULL;
    }
    void **obj = p->h.free;
    if (obj == NULL)
        return carve(p);
    void *next = read_link(p, obj);
    if (next && ((uintptr_t)next < p->lo || (uintptr_t)next >= p->hi ||
                 ((uintptr_t)next & (p->align - 1))))
        pool__corrupt(p, obj);
    p->h.free = next;
    ARENA__UNPOISON(obj, p->h.slot);
    if (p->h.slot >= 2 * sizeof(void *))
        obj[1] = 0;
#if ARENAPOOL_DEBUG >= 2
    memset(obj, 0xD0, p->h.slot);
#endif
    return obj;
}

static bool on_free_list(const pool_t *p, const void *obj)
{
    for (void *cur = p->h.free; cur; cur = read_link(p, cur))
        if (cur == obj)
            return true;
    return false;
}

void pool__free_checked(pool_t *p, void *obj)
{
    if (obj == NULL)
        return;
    if (!check_pool(p))
        return;
    slab_t *s = slab_of(p, obj);
    size_t slot = p->h.slot;
    if (s == NULL || (size_t)((char *)obj - s->start) % slot != 0 ||
        (char *)obj >= s->start + s->carved * slot)
        arena__os_fatal("pool_free of a pointer this pool did not hand out", "pool", p, "ptr", obj);
    void **o = obj;
    bool dbl;
    if (slot >= 2 * sizeof(void *)) {
        ARENA__REVEAL_LINK(&o[1]);
        dbl = (uintptr_t)o[1] == canary(p, obj) && on_free_list(p, obj);
    } else {
        dbl = on_free_list(p, obj);
    }
    if (dbl)
        arena__os_fatal("double free in pool", "pool", p, "ptr", obj);
#if ARENAPOOL_DEBUG >= 2
    memset(obj, 0xDF, slot);
#endif
    write_link(p, obj, p->h.free);
    if (slot >= 2 * sizeof(void *))
        o[1] = (void *)canary(p, obj);
    p->h.free = obj;
    ARENA__POISON(obj, slot);
}

void *pool_calloc(pool_t *p)
{
    void *obj = pool_alloc(p);
    if (obj)
        memset(obj, 0, p->h.slot);
    return obj;
}

/* ---- Lifetime ---- */

pool_t *pool_create(arena_t *a, size_t obj_size, size_t align)
{
    if (obj_size == 0 || (align & (align - 1)) || obj_size > SIZE_MAX / 4 ||
        align > SIZE_MAX / 4) {
        errno = EINVAL;
        return NULL;
    }
    if (align == 0) {
        /* Why: sizeof(T) is a multiple of alignof(T), so the lowest set bit of
         * obj_size (up to ARENA_ALIGN) suits every type of that size, and small
         * objects are not padded to 16 bytes. */
        align = obj_size & -obj_size;
        if (align > ARENA_ALIGN)
            align = ARENA_ALIGN;
    }
    if (align < sizeof(void *))
        align = sizeof(void *);
    size_t slot = ROUND_UP(obj_size < sizeof(void *) ? sizeof(void *) : obj_size, align);

    bool own = a == NULL;
    if (own && (a = arena_create(NULL)) == NULL)
        return NULL;
    pool_t *p = ARENA_NEW(a, pool_t);
    if (p == NULL || arena_defer(a, pool_ended, p) != 0) {
        int saved = errno;
        if (own)
            arena_destroy(a);
        errno = saved;
        return NULL;
    }
    p->h.slot = slot;
    p->h.magic = POOL__MAGIC;
    p->h.key = ARENAPOOL_HARDENED ? (uintptr_t)arena__os_random() : 0;
    p->arena = a;
    p->own_arena = own;
    p->align = align;
    p->next_slab_bytes = SLAB_FIRST_BYTES;
    return p;
}

void pool_destroy(pool_t *p)
{
    if (p == NULL || !check_pool(p))
        return;
    p->dead = true;
    p->h.magic = 0;
    if (p->own_arena)
        arena_destroy(p->arena);
}

void pool_reset(pool_t *p)
{
    if (!check_pool(p))
        return;
    p->h.free = NULL;
    p->carved = 0;
    for (slab_t *s = p->slabs; s; s = s->next) {
#if ARENAPOOL_DEBUG >= 2
        memset(s->start, 0xDF, (size_t)(s->end - s->start));
#endif
        ARENA__POISON(s->start, (size_t)(s->end - s->start));
        s->carved = 0;
    }
    p->carve = p->slabs;
}

bool pool_owns(const pool_t *p, const void *obj)
{
    if (p == NULL || obj == NULL || p->h.magic != POOL__MAGIC)
        return false;
    const slab_t *s = slab_of(p, obj);
    return s && (size_t)((const char *)obj - s->start) % p->h.slot == 0;
}

void pool_stats(const pool_t *p, pool_stats_t *out)
{
    if (out == NULL)
        return;
    memset(out, 0, sizeof *out);
    if (!check_pool(p))
        return;
    size_t free_len = 0, cap = 0;
    for (void *cur = p->h.free; cur; cur = read_link(p, cur))
        free_len++;
    for (const slab_t *s = p->slabs; s; s = s->next)
        cap += (size_t)(s->end - s->start) / p->h.slot;
    out->obj_size = p->h.slot;
    out->live = p->carved - free_len;
    out->capacity = cap;
}
