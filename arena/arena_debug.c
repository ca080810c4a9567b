/*
 * arena_debug.c - statistics and the debug checks of the arena.
 *
 * Owns the debug registry of live arenas and pools (ARENAPOOL_DEBUG >= 1,
 * arena_shared.h), the full invariant walk (>= 3, ARENA__CHECK_INVARIANTS)
 * and arena_stats.  The registry is an open-addressing set in pages from the
 * OS layer, behind one lock, never allocating through malloc.  Called by the
 * other files of arena/ and by pool.c; calls the OS layer only.
 */
#include "arena_internal.h"

#if ARENAPOOL_DEBUG
#include <pthread.h>
#endif

/* ---- Debug registry of live handles ---- */

#if ARENAPOOL_DEBUG
/* Why a registry: a destroyed arena's memory (and every pool in it) is
 * unmapped, so reading its magic number would fault instead of reporting.
 * An open-addressing set of (address | kind), in pages from the OS layer (it
 * must not allocate through malloc), behind one lock: debug builds only. */
#define REG_EMPTY ((uintptr_t)0)
#define REG_GONE ((uintptr_t)1)

static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static uintptr_t *reg;
static size_t reg_cap, reg_live, reg_gone;

/* Why: a fork while another thread holds the lock would leave the child a
 * lock nobody unlocks; the table itself is consistent under the lock. */
static pthread_once_t reg_once = PTHREAD_ONCE_INIT;
static void reg_before_fork(void) { pthread_mutex_lock(&reg_lock); }
static void reg_after_fork(void) { pthread_mutex_unlock(&reg_lock); }
static void reg_after_fork_child(void) { pthread_mutex_init(&reg_lock, NULL); }
static void reg_init(void) { pthread_atfork(reg_before_fork, reg_after_fork, reg_after_fork_child); }

static void reg_lock_now(void)
{
    pthread_once(&reg_once, reg_init);
    pthread_mutex_lock(&reg_lock);
}

static size_t reg_home(uintptr_t key, size_t cap)
{
    return (size_t)(((uint64_t)key * 0x9E3779B97F4A7C15ull) >> 17) & (cap - 1);
}

static void reg_put(uintptr_t *tab, size_t cap, uintptr_t key)
{
    size_t i = reg_home(key, cap);
    while (tab[i] != REG_EMPTY && tab[i] != REG_GONE)
        i = (i + 1) & (cap - 1);
    tab[i] = key;
}

/* Keep the table at most half full (tombstones count); 0 or ENOMEM. */
static int reg_make_room(void)
{
    if ((reg_live + reg_gone + 1) * 2 <= reg_cap)
        return 0;
    size_t cap = reg_cap ? reg_cap : 512;
    while ((reg_live + 1) * 4 > cap)
        cap *= 2;
    size_t bytes = ARENA__ROUND_UP(cap * sizeof(uintptr_t), arena__page_size());
    void *mem;
    int err = ap__os_map(bytes, &mem);
    if (err)
        return (reg_live + reg_gone + 1 < reg_cap) ? 0 : err;
    uintptr_t *tab = mem;
    for (size_t i = 0; i < reg_cap; i++)
        if (reg[i] != REG_EMPTY && reg[i] != REG_GONE)
            reg_put(tab, cap, reg[i]);
    if (reg)
        ap__os_unmap(reg, ARENA__ROUND_UP(reg_cap * sizeof(uintptr_t), arena__page_size()));
    reg = tab;
    reg_cap = cap;
    reg_gone = 0;
    return 0;
}

static size_t reg_find(uintptr_t key)
{
    if (reg_cap == 0)
        return SIZE_MAX;
    for (size_t i = reg_home(key, reg_cap);; i = (i + 1) & (reg_cap - 1)) {
        if (reg[i] == key)
            return i;
        if (reg[i] == REG_EMPTY)
            return SIZE_MAX;
    }
}

int arena__debug_reserve(void)
{
    reg_lock_now();
    int err = reg_make_room();
    pthread_mutex_unlock(&reg_lock);
    return err;
}

int arena__debug_track(const void *h, unsigned kind, int live)
{
    uintptr_t key = (uintptr_t)h | kind;
    int err = 0;
    reg_lock_now();
    size_t i = reg_find(key);
    if (live && i == SIZE_MAX) {
        err = reg_make_room();
        if (err == 0) {
            reg_put(reg, reg_cap, key);
            reg_live++;
        }
    } else if (!live && i != SIZE_MAX) {
        reg[i] = REG_GONE;
        reg_live--;
        reg_gone++;
    }
    pthread_mutex_unlock(&reg_lock);
    return err;
}

int arena__debug_alive(const void *h, unsigned kind)
{
    reg_lock_now();
    int alive = reg_find((uintptr_t)h | kind) != SIZE_MAX;
    pthread_mutex_unlock(&reg_lock);
    return alive;
}
#endif

/* ---- Invariants ---- */

#if ARENAPOOL_DEBUG >= 3
void arena__check_invariants(const arena_t *a)
{
    size_t n = 0, mapped = 0, spare = 0;
    char *end = ap__checker() ? a->h.cur : arena__chunk_end(a->chunk);
    bool cur_in_chunk = a->h.cur >= a->chunk->start && a->h.cur <= arena__chunk_end(a->chunk) &&
                        a->h.end == end;
    if (!cur_in_chunk || ((uintptr_t)a->h.cur & (ARENA_ALIGN - 1)))
        ap__os_fatal("arena cursor outside its chunk", "arena", a, "cur", a->h.cur);
    const arena__chunk_t *c = a->chunk;
    for (; c; c = c->prev) {
        n++, mapped += c->map_size;
        if (c->prev == NULL && c != a->first)
            ap__os_fatal("arena chunk chain does not end at the first chunk", "arena", a,
                         "chunk", c);
    }
    for (c = a->spare; c; c = c->prev)
        n++, mapped += c->map_size, spare += c->map_size;
    if (n != a->nchunks || mapped != a->mapped || spare != a->spare_bytes)
        ap__os_fatal("arena chunk accounting is inconsistent", "arena", a, NULL, NULL);
}
#endif

/* ---- Statistics ---- */

void arena_stats(const arena_t *a, arena_stats_t *out)
{
    if (out == NULL)
        return;
    memset(out, 0, sizeof *out);
    if (!arena__ok(a))
        return;
    out->used = arena__used_now(a);
    out->peak = a->peak > out->used ? a->peak : out->used;
    out->mapped = a->mapped;
    out->chunks = a->nchunks;
    out->mmaps = a->nmmaps;
}
