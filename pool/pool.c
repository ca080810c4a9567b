/*
 * pool.c - fixed-size object pools carved from an arena.
 *
 * A pool owns a list of slabs (arena blocks of equal-size slots, oldest first).
 * Free slots are kept in two tiers: a small LIFO array in the pool (the hot
 * end, read by the inline fast paths) and a list of "nodes", free slots that
 * each store the addresses of up to node_cap other free slots.  Why nodes:
 * after frees in random order a plain intrusive list makes every pop a
 * dependent cache miss; a node hands back a whole batch for one miss.  Slots
 * are carved from the current slab in address order, a batch at a time.
 * A slab is one arena block, its slots first and its header after them (so an
 * over-aligned pool pays no alignment padding for the header), allocated
 * together with an arena callback, so an arena rewind that releases a slab
 * removes it (and its free slots) from the pool before its memory goes.
 * Invariants: every free slot is in exactly one place (hot, a node, or a
 * node's entries) and belongs to a held slab; live = carved - free; the
 * slabs' callbacks run newest first, so the one running is for the newest slab.
 * With a memory checker present (ap_checker.h) the inline paths are routed
 * here and freed slots are poisoned (see open_hot).
 * Used by programs through pool.h; uses the public arena API plus the hooks
 * arena_shared.h keeps for pools (arena__debug_alive, arena__debug_reserve,
 * arena__debug_track, ARENA__KIND_POOL) and the poisoning macros of
 * ap_checker.h.
 */
#include "pool.h"
#include "arena_shared.h"
#include "ap_checker.h"
#include "ap_os.h"

#include <errno.h>
#include <stdlib.h>

#define ROUND_UP(x, a) (((x) + ((a) - 1)) & ~(size_t)((a) - 1))
/* Why these sizes: the first slab fits a page, so a small pool costs little;
 * doubling keeps the slab count logarithmic; 1 MiB caps a single arena request. */
#define SLAB_FIRST_BYTES 4096u
#define SLAB_MAX_BYTES ((size_t)1 << 20)
#define SLAB_MIN_SLOTS 8u
/* Slots carved per refill: about a page, at most half the hot array. */
#define CARVE_BATCH_BYTES 4096u
/* Entries per node: a batch of up to 32 slots per cache miss is plenty. */
#define NODE_MAX 31u
#define CHECKED (ARENAPOOL_DEBUG || ARENAPOOL_HARDENED)

typedef struct slab {
    struct slab *next; /* newer slab */
    struct slab *prev; /* older slab */
    char *start;   /* first slot: the start of the arena block */
    char *end;     /* one past the last slot */
    size_t carved; /* slots carved since the last reset (from start up) */
} slab_t;

struct pool {
    struct pool__head h; /* n, hot[], slot, key, magic: read by the inline paths */
    arena_t *arena;
    bool own_arena;
    bool dead;           /* destroyed or rewound away: callbacks do nothing */
    size_t align;
    void *nodes;         /* newest node; word 0 links to the next */
    size_t node_cap;     /* slot addresses a node holds after its link */
    slab_t *slabs;       /* oldest first */
    slab_t *newest;      /* the end of that list */
    slab_t *carve;       /* first slab that may still have uncarved slots */
    size_t carved;       /* slots carved since reset, over all slabs */
    size_t next_slab_bytes;
    uintptr_t lo, hi;    /* bounds of every slab's slots (hardened checks) */
    size_t hot_n;        /* checker present: h.n and h.hot[POOL__HOT] while */
    void *hot_top;       /*   the inline paths are shut out (open_hot)      */
};

_Static_assert(POOL__HOT >= 2 && (POOL__HOT & 1) == 0, "hot array spills by halves");
/* A slab's header follows its slots, whose size is a multiple of the alignment
 * (at least a pointer's): the header needs no more. */
_Static_assert(_Alignof(slab_t) <= sizeof(void *), "slab header fits after any slot");

static bool check_pool(const pool_t *p)
{
#if ARENAPOOL_DEBUG
    /* Asked before reading *p: a pool ended with its arena may be unmapped. */
    if (p != NULL && !arena__debug_alive(p, ARENA__KIND_POOL))
        ap__os_fatal("use of a pool that was destroyed or ended with its arena (arena reset, "
                     "destroyed, or rewound to before pool_create)",
                     "pool", p, NULL, NULL);
#endif
    if (ARENA__UNLIKELY(p == NULL || p->h.magic != POOL__MAGIC)) {
        if (CHECKED)
            ap__os_fatal("use of a NULL, destroyed or invalid pool", "pool", p, NULL, NULL);
        return false;
    }
    return true;
}

#if ARENAPOOL_HARDENED
static _Noreturn void corrupt(const pool_t *p, const void *slot)
{
    ap__os_fatal("pool free list is corrupted (use after free or overflow?)", "pool", p,
                 "slot", slot);
}
#endif

/* ---- Routing when a checker watches ---- */

/* Why: the program's inline pool_alloc and pool_free cannot poison or
 * unpoison (they do not know a checker is there), so with one present every
 * call must reach this file.  Between calls the pool shows them a full hot
 * array (n == POOL__HOT: pool_free goes out of line) whose top is NULL
 * (pool_alloc goes out of line); the real count and top wait in hot_n and
 * hot_top.  Every function here that uses the hot array opens it first and
 * shuts it before returning.  Without a checker both are a predicted branch. */
static inline AP__ALWAYS_INLINE void open_hot(pool_t *p)
{
    if (AP__UNLIKELY(ap__checker())) {
        p->h.n = p->hot_n;
        p->h.hot[POOL__HOT] = p->hot_top;
    }
}

static inline AP__ALWAYS_INLINE void shut_hot(pool_t *p)
{
    if (AP__UNLIKELY(ap__checker())) {
        p->hot_n = p->h.n;
        p->hot_top = p->h.hot[POOL__HOT];
        p->h.n = POOL__HOT;
        p->h.hot[POOL__HOT] = NULL;
    }
}

/* ---- Nodes: batches of free-slot addresses stored in a free slot ---- */

/* Hardened builds store every word XOR-ed with the pool key and the word's
 * own address, so a forged or overwritten word decodes to garbage and fails
 * the bounds check instead of being handed out. */
static void *encode(const pool_t *p, void *const *where, void *v)
{
#if ARENAPOOL_HARDENED
    return (void *)((uintptr_t)v ^ p->h.key ^ (uintptr_t)where);
#else
    (void)p, (void)where;
    return v;
#endif
}

static void *validate(const pool_t *p, const void *node, void *v)
{
#if ARENAPOOL_HARDENED
    if (v && ((uintptr_t)v < p->lo || (uintptr_t)v >= p->hi || ((uintptr_t)v & (p->align - 1))))
        corrupt(p, node);
#else
    (void)p, (void)node;
#endif
    return v;
}

/* Write a node: link, then k entries, the rest NULL; the slot stays poisoned. */
static inline AP__ALWAYS_INLINE void node_write(pool_t *p, void *node, void *link,
                                                void *const *e, size_t k)
{
    void **w = node;
    size_t words = 1 + p->node_cap;
    ARENA__REVEAL(w, words * sizeof(void *));
    w[0] = encode(p, &w[0], link);
    for (size_t i = 0; i < p->node_cap; i++)
        w[1 + i] = encode(p, &w[1 + i], i < k ? e[i] : NULL);
    ARENA__POISON(w, p->h.slot);
}

/* Read a node: returns its link and stores its non-NULL entries in out. */
static inline AP__ALWAYS_INLINE void *node_read(const pool_t *p, void *node, void **out, size_t *k)
{
    void **w = node;
    size_t words = 1 + p->node_cap;
    ARENA__REVEAL(w, words * sizeof(void *));
    void *link = validate(p, node, encode(p, &w[0], w[0]));
    *k = 0;
    for (size_t i = 0; i < p->node_cap; i++) {
        void *v = validate(p, node, encode(p, &w[1 + i], w[1 + i]));
        if (v)
            out[(*k)++] = v;
    }
    ARENA__POISON(w, p->h.slot);
    return link;
}

/* Move the older half of the hot array into nodes. */
static void spill(pool_t *p)
{
    enum { HALF = POOL__HOT / 2 };
    void **hot = p->h.hot;
    size_t i = 1;
    while (i <= HALF) {
        void *node = hot[i++];
        if (node == NULL)
            continue; /* a pool_free(NULL) */
        void *e[NODE_MAX];
        size_t k = 0;
        while (k < p->node_cap && i <= HALF)
            if ((e[k] = hot[i++]) != NULL)
                k++;
        node_write(p, node, p->nodes, e, k);
        p->nodes = node;
    }
    memmove(&hot[1], &hot[1 + HALF], (POOL__HOT - HALF) * sizeof(void *));
    p->h.n = POOL__HOT - HALF;
}

/* Stack a free slot (poisoned already), spilling when the hot array is full. */
static void push_free(pool_t *p, void *obj)
{
    if (p->h.n == POOL__HOT)
        spill(p);
    p->h.hot[++p->h.n] = obj;
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

static bool in_slab(const slab_t *s, const void *obj)
{
    return (const char *)obj >= s->start && (const char *)obj < s->end;
}

/* Arena callback: the arena is releasing the pool's newest slab s (a rewind
 * past its creation, or the arena's end; callbacks run newest first, so the
 * newest slab is the one this callback was registered with).  Every free slot
 * inside s is forgotten; the others are stacked again, since nodes inside s
 * are about to vanish with their entries. */
static void slab_dropped(void *arg)
{
    pool_t *p = arg;
    if (p->dead)
        return;
    open_hot(p);
    slab_t *s = p->newest;
    if (s == NULL)
        ap__os_fatal("pool slab callbacks out of step with the slabs", "pool", p, NULL, NULL);
    p->newest = s->prev;
    if (s->prev)
        s->prev->next = NULL;
    else
        p->slabs = NULL;

    size_t kept = 0;
    for (size_t i = 1; i <= p->h.n; i++)
        if (p->h.hot[i] && !in_slab(s, p->h.hot[i]))
            p->h.hot[++kept] = p->h.hot[i];
    p->h.n = kept;
    void *node = p->nodes;
    p->nodes = NULL;
    while (node) {
        void *e[NODE_MAX];
        size_t k;
        void *next = node_read(p, node, e, &k);
        if (!in_slab(s, node))
            push_free(p, node);
        for (size_t i = 0; i < k; i++)
            if (!in_slab(s, e[i]))
                push_free(p, e[i]);
        node = next;
    }
    p->carved -= s->carved;
    if (p->carve == s)
        p->carve = s->next;
    p->lo = p->hi = 0;
    for (slab_t *t = p->slabs; t; t = t->next)
        bounds_add(p, t);
    shut_hot(p);
}

/* Arena callback: the arena is releasing the pool itself. */
static void pool_ended(void *arg)
{
    pool_t *p = arg;
    p->dead = true;
    p->h.magic = 0;
#if ARENAPOOL_DEBUG
    arena__debug_track(p, ARENA__KIND_POOL, 0);
#endif
}

/* A new slab from the arena, registered for rewinds; NULL + ENOMEM, the arena
 * and the pool unchanged. */
static slab_t *slab_new(pool_t *p)
{
    size_t slot = p->h.slot;
    /* Why here: SLAB_MIN_SLOTS * slot wraps for slots near SIZE_MAX / 8, and
     * no arena could hold such a slab anyway. */
    if (slot > (SIZE_MAX / 2 - sizeof(slab_t)) / SLAB_MIN_SLOTS) {
        errno = ENOMEM;
        return NULL;
    }
    size_t bytes = p->next_slab_bytes;
    if (bytes < SLAB_MIN_SLOTS * slot)
        bytes = SLAB_MIN_SLOTS * slot;
    size_t nslots = bytes / slot;
    size_t span = nslots * slot;
    size_t align = p->align > ARENA_ALIGN ? p->align : ARENA_ALIGN;
    /* One arena call for the slab and its callback: both or neither. */
    char *base = arena_alloc_deferred(p->arena, span + sizeof(slab_t), align, slab_dropped, p);
    if (base == NULL)
        return NULL;
    slab_t *s = (slab_t *)(base + span);
    s->next = NULL;
    s->prev = p->newest;
    s->start = base;
    s->end = base + span;
    s->carved = 0;
    ARENA__POISON(s->start, span);
    if (p->newest)
        p->newest->next = s;
    else
        p->slabs = s;
    p->newest = s;
    bounds_add(p, s);
    if (p->next_slab_bytes < SLAB_MAX_BYTES)
        p->next_slab_bytes *= 2;
    return s;
}

static uintptr_t *canary_word(const pool_t *p, void *obj);
static uintptr_t canary(const pool_t *p, const void *obj);

/* Carve a batch of fresh slots (hot array empty): return the first; stack the
 * rest so that they pop in address order. */
static void *carve(pool_t *p)
{
    slab_t *s = p->carve;
    size_t slot = p->h.slot;
    while (s && s->start + s->carved * slot >= s->end)
        s = s->next;
    if (s == NULL && (s = slab_new(p)) == NULL)
        return NULL;
    p->carve = s;
    size_t left = (size_t)(s->end - s->start) / slot - s->carved;
    size_t n = CARVE_BATCH_BYTES / slot;
    if (n < 1)
        n = 1;
    if (n > POOL__HOT / 2)
        n = POOL__HOT / 2;
    if (n > left)
        n = left;
    char *first = s->start + s->carved * slot;
    s->carved += n;
    p->carved += n;
    for (size_t i = n; i-- > 1;) {
        char *obj = first + i * slot;
#if CHECKED
        /* Carved but not handed out is free: the canary says so, so that a
         * pool_free of such a slot is caught like a double free. */
        uintptr_t *c = canary_word(p, obj);
        if (c) {
            ARENA__REVEAL(c, sizeof *c);
            *c = canary(p, obj);
            ARENA__POISON(c, sizeof *c);
        }
#endif
        p->h.hot[++p->h.n] = obj;
    }
    ARENA__UNPOISON(first, slot);
    return first;
}

/* The hot array is empty (or holds only NULLs from pool_free(NULL)): take
 * nodes' batches until half the array is full, else carve.  Each node's link is
 * read first and prefetched, so the next node's miss overlaps this copy. */
static void *refill(pool_t *p)
{
    while (p->h.n && p->h.hot[p->h.n] == NULL)
        p->h.n--;
    if (p->h.n) {
        void *obj = p->h.hot[p->h.n--];
        ARENA__UNPOISON(obj, p->h.slot);
        return obj;
    }
    void *first = p->nodes;
    if (first == NULL)
        return carve(p);
    void *node = first;
    do {
        size_t k;
        void *next = node_read(p, node, &p->h.hot[p->h.n + 1], &k);
#if defined(__GNUC__)
        __builtin_prefetch(next);
#endif
        p->h.n += k;
        if (node != first)
            p->h.hot[++p->h.n] = node;
        node = next;
    } while (node && p->h.n + 1 + p->node_cap <= POOL__HOT / 2);
    p->nodes = node;
    ARENA__UNPOISON(first, p->h.slot);
    return first;
}

/* ---- Allocation ---- */

AP__NOINLINE AP__COLD void *pool__alloc_slow(pool_t *p)
{
    if (!check_pool(p)) {
        errno = EINVAL;
        return NULL;
    }
    open_hot(p);
    void *obj = refill(p);
    shut_hot(p);
    return obj;
}

AP__NOINLINE AP__COLD void pool__free_slow(pool_t *p, void *obj)
{
    if (obj == NULL || !check_pool(p))
        return;
    ARENA__POISON(obj, p->h.slot);
    open_hot(p);
    push_free(p, obj);
    shut_hot(p);
}

/* Checked builds keep a keyed canary in the last word of each free slot (slots
 * of two words or more; nodes never use that word), so a double free is found
 * in O(1); debug builds confirm it with a walk before reporting. */
#define CANARY_SALT ((uintptr_t)0x5EEDF7EEDEADF7EEull)

static uintptr_t *canary_word(const pool_t *p, void *obj)
{
    return p->h.slot >= 2 * sizeof(void *) ? (uintptr_t *)((char *)obj + p->h.slot) - 1 : NULL;
}

static uintptr_t canary(const pool_t *p, const void *obj)
{
    return (uintptr_t)obj ^ p->h.key ^ CANARY_SALT;
}

static bool on_free_list(const pool_t *p, const void *obj)
{
    for (size_t i = 1; i <= p->h.n; i++)
        if (p->h.hot[i] == obj)
            return true;
    for (void *node = p->nodes; node;) {
        void *e[NODE_MAX];
        size_t k;
        if (node == obj)
            return true;
        node = node_read(p, node, e, &k);
        for (size_t i = 0; i < k; i++)
            if (e[i] == obj)
                return true;
    }
    return false;
}

void *pool__alloc_checked(pool_t *p)
{
    if (!check_pool(p)) {
        errno = EINVAL;
        return NULL;
    }
    open_hot(p);
    void *obj = refill(p);
    shut_hot(p);
    if (obj == NULL)
        return NULL;
    validate(p, obj, obj);
    uintptr_t *c = canary_word(p, obj);
    if (c)
        *c = 0;
#if ARENAPOOL_DEBUG >= 2
    memset(obj, 0xD0, p->h.slot);
#endif
    return obj;
}

void pool__free_checked(pool_t *p, void *obj)
{
    if (obj == NULL || !check_pool(p))
        return;
    open_hot(p);
    slab_t *s = slab_of(p, obj);
    size_t slot = p->h.slot;
    if (s == NULL || (size_t)((char *)obj - s->start) % slot != 0 ||
        (char *)obj >= s->start + s->carved * slot)
        ap__os_fatal("pool_free of a pointer this pool did not hand out", "pool", p, "ptr", obj);
    uintptr_t *c = canary_word(p, obj);
    bool dbl;
    if (c) {
        ARENA__REVEAL(c, sizeof *c);
        dbl = *c == canary(p, obj) && (ARENAPOOL_HARDENED || on_free_list(p, obj));
    } else {
        dbl = on_free_list(p, obj);
    }
    if (dbl)
        ap__os_fatal("double free in pool (the slot is free: freed before, or never handed "
                     "out)",
                     "pool", p, "ptr", obj);
#if ARENAPOOL_DEBUG >= 2
    memset(obj, 0xDF, slot);
#endif
    if (c)
        *c = canary(p, obj);
    ARENA__POISON(obj, slot);
    push_free(p, obj);
    shut_hot(p);
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
#if ARENAPOOL_DEBUG
    int err = arena__debug_reserve();
    if (err) {
        errno = err;
        return NULL;
    }
#endif
    if (own && (a = arena_create(NULL)) == NULL)
        return NULL;
    /* One arena call for the pool and the callback that ends it: a failure
     * leaves the arena as it was. */
    pool_t *p = arena_alloc_deferred(a, sizeof(pool_t), _Alignof(pool_t), pool_ended, NULL);
    if (p == NULL) {
        int saved = errno;
        if (own)
            arena_destroy(a);
        errno = saved;
        return NULL;
    }
    memset(p, 0, sizeof *p);
    size_t words = slot / sizeof(void *);
    size_t reserved = 1 + (CHECKED && words >= 2); /* the link, and the canary */
    p->node_cap = words > reserved ? words - reserved : 0;
    if (p->node_cap > NODE_MAX)
        p->node_cap = NODE_MAX;
    p->h.slot = slot;
    p->h.magic = POOL__MAGIC;
    p->h.key = ARENAPOOL_HARDENED ? (uintptr_t)ap__os_random() : 0;
    p->arena = a;
    p->own_arena = own;
    p->align = align;
    p->next_slab_bytes = SLAB_FIRST_BYTES;
    shut_hot(p);
#if ARENAPOOL_DEBUG
    arena__debug_track(p, ARENA__KIND_POOL, 1); /* room was reserved above */
#endif
    return p;
}

void pool_destroy(pool_t *p)
{
    if (p == NULL || !check_pool(p))
        return;
    p->dead = true;
    p->h.magic = 0;
#if ARENAPOOL_DEBUG
    arena__debug_track(p, ARENA__KIND_POOL, 0);
#endif
    if (p->own_arena)
        arena_destroy(p->arena);
}

void pool_reset(pool_t *p)
{
    if (!check_pool(p))
        return;
    p->h.n = 0;
    p->nodes = NULL;
    p->carved = 0;
    for (slab_t *s = p->slabs; s; s = s->next) {
#if ARENAPOOL_DEBUG >= 2
        memset(s->start, 0xDF, (size_t)(s->end - s->start));
#endif
        ARENA__POISON(s->start, (size_t)(s->end - s->start));
        s->carved = 0;
    }
    p->carve = p->slabs;
    shut_hot(p);
}

bool pool_owns(const pool_t *p, const void *obj)
{
    if (p == NULL || obj == NULL)
        return false;
#if ARENAPOOL_DEBUG
    check_pool(p);
#endif
    if (p->h.magic != POOL__MAGIC)
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
    /* The pair leaves *p as it was, so the pool is not changed. */
    pool_t *w = (pool_t *)p;
    open_hot(w);
    size_t free_n = 0, cap = 0;
    for (size_t i = 1; i <= p->h.n; i++)
        free_n += p->h.hot[i] != NULL;
    for (void *node = p->nodes; node;) {
        void *e[NODE_MAX];
        size_t k;
        node = node_read(p, node, e, &k);
        free_n += 1 + k;
    }
    for (const slab_t *s = p->slabs; s; s = s->next)
        cap += (size_t)(s->end - s->start) / p->h.slot;
    shut_hot(w);
    out->obj_size = p->h.slot;
    out->live = p->carved - free_n;
    out->capacity = cap;
}

size_t pool_obj_size(const pool_t *p)
{
    if (p == NULL || !check_pool(p)) {
        errno = EINVAL;
        return 0;
    }
    return p->h.slot;
}

size_t pool_obj_align(const pool_t *p)
{
    if (p == NULL || !check_pool(p)) {
        errno = EINVAL;
        return 0;
    }
    return p->align;
}
