/*
 * soak.c - long-running mixed workload: `make soak SECONDS=N` (docs/testing.md, "Soak").
 *
 * Two threads, each with arenas and pools of its own, share memory-pool traffic:
 *   server: one request per iteration in a request arena reset afterwards
 *           (headers as a pool of records plus strdup'd strings, a body, a
 *           nested scratch scope with deferred callbacks), sessions in a
 *           long-lived pool, a response buffer from mp handed to the frame
 *           thread, which frees it;
 *   frame:  one frame per iteration in a frame arena reset afterwards (particle
 *           arrays, a command buffer grown by realloc, labels, a scratch
 *           scope), entities in a pool over a level arena (pool_reset or a
 *           rewind past the pool every few hundred frames), assets from mp
 *           kept in a small cache, evicted ones freed by the server thread.
 * Every block carries a pattern that is checked before it is released.  The
 * main thread samples RSS (/proc/self/statm) and the library's stats once a
 * second and prints a line; at the end it fails (exit 1) on any integrity
 * error or if RSS or mapped bytes still grow after warm-up: the maximum of the
 * last third of the samples must not exceed that of the middle third by more
 * than GROWTH_PCT percent plus GROWTH_SLACK bytes (judged in runs of 30 s or
 * more; shorter runs such as `make test-soak` check integrity only).
 *
 * Usage: soak [seconds]   (default 60)
 */
#include "arena.h"
#include "mp.h"
#include "pool.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define GROWTH_PCT 10
#define GROWTH_SLACK ((size_t)2 << 20)
#define MIN_GROWTH_SAMPLES 30

/* ---- Failure reporting ---- */

static atomic_int g_failures;
static atomic_int g_stop;

#define CHECK(cond, ...)                                                   \
    do {                                                                   \
        if (!(cond)) {                                                     \
            fprintf(stderr, "soak: %s:%d: check failed: %s: ", __FILE__,  \
                    __LINE__, #cond);                                      \
            fprintf(stderr, __VA_ARGS__);                                  \
            fputc('\n', stderr);                                           \
            atomic_fetch_add(&g_failures, 1);                              \
            atomic_store(&g_stop, 1);                                      \
        }                                                                  \
    } while (0)

/* ---- Random numbers and patterns ---- */

static uint64_t rnd(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * 0x2545F4914F6CDD1DULL;
}

static size_t rnd_range(uint64_t *s, size_t lo, size_t hi) /* [lo, hi] */
{
    return lo + (size_t)(rnd(s) % (uint64_t)(hi - lo + 1));
}

static inline unsigned char pat_byte(uint64_t seed, size_t i)
{
    return (unsigned char)((seed >> (i & 31)) ^ (i * 131u) ^ (i >> 9) ^ seed);
}

/* Pattern over every byte of small blocks; for blocks above 4 KiB the first
 * and last 512 bytes and one byte in every 64 (every cache line) between.
 * check_prefix checks the bytes below `limit` of a block filled with size n
 * (what survives a shrinking realloc). */
static inline int sparse_skip(size_t n, size_t i)
{
    return n > 4096 && i >= 512 && i + 512 < n && (i & 63);
}

static void fill(void *p, size_t n, uint64_t seed)
{
    unsigned char *b = p;
    for (size_t i = 0; i < n; i++) {
        if (sparse_skip(n, i))
            i |= 63; /* the next step lands on a multiple of 64 */
        else
            b[i] = pat_byte(seed, i);
    }
}

static int check_prefix(const void *p, size_t n, size_t limit, uint64_t seed)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n && i < limit; i++) {
        if (sparse_skip(n, i))
            i |= 63;
        else if (b[i] != pat_byte(seed, i))
            return 0;
    }
    return 1;
}

static int check(const void *p, size_t n, uint64_t seed) { return check_prefix(p, n, n, seed); }

/* ---- Cross-thread queue of mp blocks (lock-protected ring) ---- */

typedef struct blk {
    void *p;
    size_t size;
    uint64_t seed;
} blk_t;

#define QCAP 256
typedef struct queue {
    pthread_mutex_t mu;
    blk_t items[QCAP];
    size_t head, count;
} queue_t;

static int q_push(queue_t *q, blk_t b)
{
    pthread_mutex_lock(&q->mu);
    int ok = q->count < QCAP;
    if (ok) {
        q->items[(q->head + q->count) % QCAP] = b;
        q->count++;
    }
    pthread_mutex_unlock(&q->mu);
    return ok;
}

static int q_pop(queue_t *q, blk_t *out)
{
    pthread_mutex_lock(&q->mu);
    int ok = q->count > 0;
    if (ok) {
        *out = q->items[q->head];
        q->head = (q->head + 1) % QCAP;
        q->count--;
    }
    pthread_mutex_unlock(&q->mu);
    return ok;
}

static void blk_release(blk_t b, atomic_ullong *cross)
{
    CHECK(check(b.p, b.size, b.seed), "mp block %p (%zu bytes) corrupted", b.p, b.size);
    CHECK(mp_usable_size(b.p) >= b.size, "usable %zu < %zu", mp_usable_size(b.p), b.size);
    if (b.seed & 1)
        mp_free_sized(b.p, b.size);
    else
        mp_free(b.p);
    if (cross)
        atomic_fetch_add(cross, 1);
}

static blk_t blk_new(uint64_t *rng, size_t size)
{
    blk_t b = {mp_alloc(size), size, rnd(rng)};
    CHECK(b.p != NULL, "mp_alloc(%zu) failed: errno %d", size, errno);
    if (b.p)
        fill(b.p, size, b.seed);
    return b;
}

static queue_t q_to_frame = {.mu = PTHREAD_MUTEX_INITIALIZER};
static queue_t q_to_server = {.mu = PTHREAD_MUTEX_INITIALIZER};
static atomic_ullong g_cross_frees;

static void drain(queue_t *q)
{
    blk_t b;
    while (q_pop(q, &b))
        blk_release(b, &g_cross_frees);
}

/* ---- Snapshots published to the sampling thread ---- */

typedef struct snap {
    size_t arena_mapped; /* sum over the thread's arenas */
    size_t arena_used;
    size_t arena_chunks;
    size_t pool_live;
    size_t pool_capacity;
} snap_t;

typedef struct worker {
    const char *name;
    pthread_t tid;
    uint64_t rng;
    atomic_ullong iters;  /* requests or frames */
    atomic_uint seen_epoch;
    pthread_mutex_t mu;
    snap_t snap;
} worker_t;

static atomic_uint g_epoch;

static void add_arena(snap_t *s, const arena_t *a)
{
    arena_stats_t st;
    arena_stats(a, &st);
    s->arena_mapped += st.mapped;
    s->arena_used += st.used;
    s->arena_chunks += st.chunks;
}

static void add_pool(snap_t *s, const pool_t *p)
{
    pool_stats_t st;
    pool_stats(p, &st);
    s->pool_live += st.live;
    s->pool_capacity += st.capacity * st.obj_size;
}

static void publish(worker_t *w, const snap_t *s)
{
    pthread_mutex_lock(&w->mu);
    w->snap = *s;
    pthread_mutex_unlock(&w->mu);
    atomic_store(&w->seen_epoch, atomic_load(&g_epoch));
}

/* ---- Server: per-request arena ---- */

typedef struct header {
    char *name, *value;
    size_t vlen;
    uint64_t seed;
} header_t;

typedef struct session {
    uint64_t id, seed;
    unsigned char data[80];
} session_t;

#define MAX_SESSIONS 3000

typedef struct server {
    worker_t *w;
    arena_t *req;      /* reset after every request */
    arena_t *sess_ar;  /* holds the session pool */
    pool_t *sessions;
    session_t *live[MAX_SESSIONS];
    size_t nlive;
    pool_t *timers;    /* private arena */
    void *timer[64];
    int defers_run;
    uint64_t next_id;
} server_t;

static void on_scope_end(void *arg) { (*(int *)arg)++; }

static void session_fill(session_t *s, uint64_t id, uint64_t seed)
{
    s->id = id;
    s->seed = seed;
    fill(s->data, sizeof s->data, seed ^ id);
}

static int session_ok(const session_t *s)
{
    return check(s->data, sizeof s->data, s->seed ^ s->id);
}

static size_t body_size(uint64_t *rng)
{
    unsigned r = (unsigned)(rnd(rng) % 1000);
    if (r < 900)
        return rnd_range(rng, 0, 4096);
    if (r < 995)
        return rnd_range(rng, 4097, 65536);
    return rnd_range(rng, 65537, (size_t)1 << 20); /* beyond the first chunk */
}

static void serve_one(server_t *s)
{
    uint64_t *rng = &s->w->rng;
    arena_t *a = s->req;

    /* Headers: records from a pool that lives and dies with the request. */
    pool_t *hp = pool_create(a, sizeof(header_t), 0);
    CHECK(hp != NULL, "pool_create in request arena: errno %d", errno);
    if (!hp)
        return;
    size_t nh = rnd_range(rng, 3, 40);
    header_t *hs[40];
    for (size_t i = 0; i < nh; i++) {
        header_t *h = pool_alloc(hp);
        CHECK(h != NULL, "pool_alloc header");
        if (!h)
            return;
        h->seed = rnd(rng);
        h->name = arena_sprintf(a, "X-Header-%zu-%llx", i, (unsigned long long)(h->seed & 0xffff));
        h->vlen = rnd_range(rng, 1, 300);
        h->value = arena_alloc(a, h->vlen);
        CHECK(h->name && h->value, "header strings");
        if (!h->name || !h->value)
            return;
        fill(h->value, h->vlen, h->seed);
        hs[i] = h;
    }
    /* A few headers dropped (pool_free) and re-added. */
    for (size_t i = 0; i < nh; i += 5) {
        CHECK(check(hs[i]->value, hs[i]->vlen, hs[i]->seed), "header value before free");
        pool_free(hp, hs[i]);
        header_t *h = pool_alloc(hp);
        h->seed = rnd(rng);
        h->name = arena_strdup(a, "Replaced");
        h->vlen = rnd_range(rng, 1, 64);
        h->value = arena_alloc(a, h->vlen);
        fill(h->value, h->vlen, h->seed);
        hs[i] = h;
    }

    /* Body. */
    size_t blen = body_size(rng);
    uint64_t bseed = rnd(rng);
    unsigned char *body = arena_alloc(a, blen);
    CHECK(body != NULL, "body of %zu bytes", blen);
    if (!body)
        return;
    fill(body, blen, bseed);

    /* Nested scope: template rendering in a scratch scope of the request arena. */
    arena_mark_t m = arena_mark(a);
    int before = s->defers_run;
    int ndefer = (int)rnd_range(rng, 0, 3);
    for (int i = 0; i < ndefer; i++)
        CHECK(arena_defer(a, on_scope_end, &s->defers_run) == 0, "arena_defer");
    size_t tlen = rnd_range(rng, 16, 8192);
    char *tmp = arena_alloc(a, tlen);
    fill(tmp, tlen, bseed + 1);
    tmp = arena_realloc(a, tmp, tlen, tlen * 2);
    CHECK(tmp && check(tmp, tlen, bseed + 1), "realloc kept the template");
    CHECK(arena_rewind(a, m) == 0, "rewind: errno %d", errno);
    CHECK(s->defers_run == before + ndefer, "defers ran %d, expected %d", s->defers_run - before, ndefer);

    /* Response: an mp buffer freed by the frame thread. */
    size_t rlen = rnd_range(rng, 16, 1024);
    if (rnd(rng) % 64 == 0)
        rlen = rnd_range(rng, 4096, 300000);
    blk_t resp = blk_new(rng, rlen);
    if (resp.p && !q_push(&q_to_frame, resp))
        blk_release(resp, NULL);

    /* Sessions: created, touched and expired across requests. */
    if (s->nlive < MAX_SESSIONS && rnd(rng) % 3 == 0) {
        session_t *ss = pool_alloc(s->sessions);
        CHECK(ss != NULL, "session alloc");
        if (ss) {
            session_fill(ss, s->next_id++, rnd(rng));
            s->live[s->nlive++] = ss;
        }
    }
    if (s->nlive > 0 && rnd(rng) % 3 == 0) {
        size_t k = rnd(rng) % s->nlive;
        session_t *ss = s->live[k];
        CHECK(session_ok(ss), "session %llu corrupted", (unsigned long long)ss->id);
        s->live[k] = s->live[--s->nlive];
        pool_free(s->sessions, ss);
    }
    /* Timers: a private-arena pool, slots replaced at random. */
    size_t ti = rnd(rng) % 64;
    if (s->timer[ti]) {
        CHECK(check(s->timer[ti], 40, (uint64_t)ti * 977), "timer slot");
        pool_free(s->timers, s->timer[ti]);
    }
    s->timer[ti] = pool_alloc(s->timers);
    CHECK(s->timer[ti] != NULL, "timer alloc");
    if (s->timer[ti])
        fill(s->timer[ti], 40, (uint64_t)ti * 977);

    /* Verify everything the request allocated, then end it. */
    for (size_t i = 0; i < nh; i++)
        CHECK(check(hs[i]->value, hs[i]->vlen, hs[i]->seed), "header %zu value", i);
    CHECK(check(body, blen, bseed), "body of %zu bytes", blen);
    pool_stats_t ps;
    pool_stats(hp, &ps);
    CHECK(ps.live == nh, "header pool live %zu, expected %zu", ps.live, nh);
    arena_reset(a);
}

static void *server_main(void *arg)
{
    worker_t *w = arg;
    server_t s = {.w = w};
    s.req = arena_create(&(arena_opts_t){.chunk_size = 64 << 10, .retain_bytes = 1 << 20});
    s.sess_ar = arena_create(NULL);
    s.sessions = s.sess_ar ? pool_create(s.sess_ar, sizeof(session_t), 64) : NULL;
    s.timers = pool_create(NULL, 40, 0);
    CHECK(s.req && s.sess_ar && s.sessions && s.timers, "server setup");
    if (!s.req || !s.sess_ar || !s.sessions || !s.timers)
        return NULL;
    while (!atomic_load(&g_stop)) {
        for (int i = 0; i < 64; i++)
            serve_one(&s);
        atomic_fetch_add(&w->iters, 64);
        drain(&q_to_server);
        if (atomic_load(&w->seen_epoch) != atomic_load(&g_epoch)) {
            snap_t sn = {0};
            add_arena(&sn, s.req);
            add_arena(&sn, s.sess_ar);
            add_pool(&sn, s.sessions);
            add_pool(&sn, s.timers);
            /* All live sessions checked once a second. */
            for (size_t i = 0; i < s.nlive; i++)
                CHECK(session_ok(s.live[i]), "session %zu", i);
            publish(w, &sn);
        }
    }
    for (size_t i = 0; i < s.nlive; i++)
        CHECK(session_ok(s.live[i]), "session %zu at exit", i);
    pool_destroy(s.timers);
    arena_destroy(s.sess_ar);
    arena_destroy(s.req);
    return NULL;
}

/* ---- Frame loop: per-frame arena, level arena with an entity pool ---- */

typedef struct entity {
    uint64_t id, seed;
    float pos[4], vel[4];
    unsigned char tag[32];
} entity_t;

typedef struct particle {
    float x, y, z, life;
} particle_t;

#define MAX_ENTITIES 4096
#define NASSETS 48

typedef struct game {
    worker_t *w;
    arena_t *frame;  /* reset every frame */
    arena_t *level;  /* lives across frames; rewound at "level loads" */
    arena_mark_t level_start;
    pool_t *ents;
    entity_t *live[MAX_ENTITIES];
    size_t nlive;
    blk_t assets[NASSETS];
    uint64_t next_id;
    unsigned long long frames;
} game_t;

static void ent_fill(entity_t *e, uint64_t id, uint64_t seed)
{
    e->id = id;
    e->seed = seed;
    for (int i = 0; i < 4; i++)
        e->pos[i] = e->vel[i] = (float)i;
    fill(e->tag, sizeof e->tag, seed ^ id);
}

static int ent_ok(const entity_t *e) { return check(e->tag, sizeof e->tag, e->seed ^ e->id); }

static int level_load(game_t *g)
{
    /* Alternate: free every entity with pool_reset, or end the pool by
     * rewinding the level arena past it and create a new one. */
    for (size_t i = 0; i < g->nlive; i++)
        CHECK(ent_ok(g->live[i]), "entity %zu before level load", i);
    g->nlive = 0;
    if (g->ents && (g->frames / 500) % 2 == 0) {
        pool_reset(g->ents);
        return 1;
    }
    if (g->ents)
        CHECK(arena_rewind(g->level, g->level_start) == 0, "level rewind: errno %d", errno);
    g->level_start = arena_mark(g->level);
    g->ents = pool_create(g->level, sizeof(entity_t), 64);
    CHECK(g->ents != NULL, "entity pool: errno %d", errno);
    return g->ents != NULL;
}

static size_t asset_size(uint64_t *rng)
{
    unsigned r = (unsigned)(rnd(rng) % 100);
    if (r < 85)
        return rnd_range(rng, 1, 2048);
    if (r < 99)
        return rnd_range(rng, 2049, 256 << 10);
    return rnd_range(rng, (256 << 10) + 1, 4 << 20); /* large mappings */
}

static void frame_one(game_t *g)
{
    uint64_t *rng = &g->w->rng;
    arena_t *f = g->frame;

    if (g->frames % 500 == 0 && !level_load(g))
        return;

    /* Spawn and despawn. */
    size_t spawn = rnd_range(rng, 0, 24), despawn = rnd_range(rng, 0, 24);
    for (size_t i = 0; i < spawn && g->nlive < MAX_ENTITIES; i++) {
        entity_t *e = pool_alloc(g->ents);
        CHECK(e != NULL, "entity alloc");
        if (!e)
            return;
        ent_fill(e, g->next_id++, rnd(rng));
        g->live[g->nlive++] = e;
    }
    for (size_t i = 0; i < despawn && g->nlive > 0; i++) {
        size_t k = rnd(rng) % g->nlive;
        CHECK(ent_ok(g->live[k]), "entity %llu", (unsigned long long)g->live[k]->id);
        pool_free(g->ents, g->live[k]);
        g->live[k] = g->live[--g->nlive];
    }

    /* Per-frame data: particles, a command buffer grown by realloc, labels. */
    size_t np = rnd_range(rng, 64, 6000);
    particle_t *ps = ARENA_NEW_ARRAY(f, particle_t, np);
    CHECK(ps != NULL, "particles");
    if (!ps)
        return;
    uint64_t pseed = rnd(rng);
    fill(ps, np * sizeof *ps, pseed);
    size_t cap = 64, len = 0;
    unsigned char *cmd = arena_alloc(f, cap);
    uint64_t cseed = rnd(rng);
    size_t ncmd = rnd_range(rng, 10, 3000);
    for (size_t i = 0; i < ncmd; i++) {
        if (len + 16 > cap) {
            cmd = arena_realloc(f, cmd, cap, cap * 2);
            CHECK(cmd != NULL, "command buffer realloc to %zu", cap * 2);
            if (!cmd)
                return;
            cap *= 2;
        }
        for (int k = 0; k < 16; k++, len++)
            cmd[len] = pat_byte(cseed, len);
    }
    char *label = arena_sprintf(f, "frame %llu entities %zu particles %zu", g->frames, g->nlive, np);
    CHECK(label != NULL, "label");

    /* A scratch scope that must not alias the frame arena. */
    arena_mark_t sc = arena_scratch_begin(&f, 1);
    CHECK(sc.arena != NULL && sc.arena != f, "scratch arena");
    if (sc.arena) {
        size_t n = rnd_range(rng, 1, 32768);
        void *t = arena_alloc(sc.arena, n);
        CHECK(t != NULL, "scratch alloc");
        if (t)
            fill(t, n, cseed ^ 5);
        if (t)
            CHECK(check(t, n, cseed ^ 5), "scratch block");
        arena_scratch_end(sc);
    }

    /* Assets: an mp cache; evicted ones are freed by the server thread. */
    size_t ai = rnd(rng) % NASSETS;
    blk_t *as = &g->assets[ai];
    if (as->p && rnd(rng) % 4 == 0) {
        /* Grow or shrink in place of a reload. */
        CHECK(check(as->p, as->size, as->seed), "asset before realloc");
        size_t nsz = asset_size(rng);
        void *np2 = mp_realloc(as->p, nsz);
        CHECK(np2 != NULL, "mp_realloc(%zu)", nsz);
        if (np2) {
            size_t keep = nsz < as->size ? nsz : as->size;
            CHECK(check_prefix(np2, as->size, keep, as->seed), "asset contents after realloc");
            as->p = np2;
            as->size = nsz;
            fill(as->p, nsz, as->seed);
        }
    } else {
        if (as->p && !q_push(&q_to_server, *as))
            blk_release(*as, NULL);
        *as = blk_new(rng, asset_size(rng));
    }

    /* End of frame: verify, then throw the frame away. */
    CHECK(check(ps, np * sizeof *ps, pseed), "particles");
    for (size_t i = 0; i < len; i++)
        if (cmd[i] != pat_byte(cseed, i)) {
            CHECK(0, "command buffer byte %zu", i);
            break;
        }
    arena_reset(f);
    g->frames++;
}

static void *frame_main(void *arg)
{
    worker_t *w = arg;
    game_t g = {.w = w};
    g.frame = arena_create(&(arena_opts_t){.chunk_size = 256 << 10});
    g.level = arena_create(&(arena_opts_t){.retain_bytes = 512 << 10});
    CHECK(g.frame && g.level, "frame setup");
    if (!g.frame || !g.level)
        return NULL;
    while (!atomic_load(&g_stop)) {
        for (int i = 0; i < 16; i++)
            frame_one(&g);
        atomic_store(&w->iters, g.frames);
        drain(&q_to_frame);
        if (atomic_load(&w->seen_epoch) != atomic_load(&g_epoch)) {
            snap_t sn = {0};
            add_arena(&sn, g.frame);
            add_arena(&sn, g.level);
            if (g.ents)
                add_pool(&sn, g.ents);
            for (size_t i = 0; i < g.nlive; i++)
                CHECK(ent_ok(g.live[i]), "entity %zu", i);
            publish(w, &sn);
        }
    }
    for (size_t i = 0; i < NASSETS; i++)
        if (g.assets[i].p)
            blk_release(g.assets[i], NULL);
    arena_destroy(g.level);
    arena_destroy(g.frame);
    return NULL;
}

/* ---- Sampling ---- */

typedef struct sample {
    size_t rss, mapped, mp_mapped, arena_mapped;
} sample_t;

static size_t rss_bytes(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long size = 0, res = 0;
    if (f) {
        if (fscanf(f, "%lu %lu", &size, &res) != 2)
            res = 0;
        fclose(f);
    }
    return (size_t)res * (size_t)sysconf(_SC_PAGESIZE);
}

static double mib(size_t b) { return (double)b / (1024.0 * 1024.0); }

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_until(double t)
{
    double d = t - now_s();
    if (d <= 0)
        return;
    struct timespec ts = {(time_t)d, (long)((d - (double)(time_t)d) * 1e9)};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

static size_t max_field(const sample_t *v, size_t lo, size_t hi, size_t off)
{
    size_t m = 0;
    for (size_t i = lo; i < hi; i++) {
        size_t x;
        memcpy(&x, (const char *)&v[i] + off, sizeof x);
        if (x > m)
            m = x;
    }
    return m;
}

static size_t min_field(const sample_t *v, size_t lo, size_t hi, size_t off)
{
    size_t m = SIZE_MAX;
    for (size_t i = lo; i < hi; i++) {
        size_t x;
        memcpy(&x, (const char *)&v[i] + off, sizeof x);
        if (x < m)
            m = x;
    }
    return m;
}

static int grows(const char *what, const sample_t *v, size_t n, size_t off)
{
    size_t mid = max_field(v, n / 3, 2 * n / 3, off);
    size_t last = max_field(v, 2 * n / 3, n, off);
    size_t limit = mid + mid / 100 * GROWTH_PCT + GROWTH_SLACK;
    printf("soak: %-6s max middle third %.1f MiB, max last third %.1f MiB (limit %.1f MiB)%s\n", what,
           mib(mid), mib(last), mib(limit), last > limit ? "  GROWING" : "");
    return last > limit;
}

int main(int argc, char **argv)
{
    long secs = argc > 1 ? strtol(argv[1], NULL, 10) : 60;
    if (secs < 3)
        secs = 3;
    setvbuf(stdout, NULL, _IOLBF, 0);

    mp_stats_t mp0;
    mp_stats(&mp0);
    static worker_t ws[2] = {{.name = "server", .rng = 0x9E3779B97F4A7C15ULL, .mu = PTHREAD_MUTEX_INITIALIZER},
                             {.name = "frame", .rng = 0xD1B54A32D192ED03ULL, .mu = PTHREAD_MUTEX_INITIALIZER}};
    if (pthread_create(&ws[0].tid, NULL, server_main, &ws[0]) ||
        pthread_create(&ws[1].tid, NULL, frame_main, &ws[1])) {
        fprintf(stderr, "soak: pthread_create failed\n");
        return 1;
    }

    sample_t *v = calloc((size_t)secs, sizeof *v);
    if (!v)
        return 1;
    size_t n = 0;
    unsigned long long last_req = 0, last_frames = 0;
    double t0 = now_s();
    for (long s = 1; s <= secs && !atomic_load(&g_stop); s++) {
        sleep_until(t0 + (double)s);
        /* Ask both workers for a snapshot; wait up to 0.5 s for it. */
        unsigned e = atomic_fetch_add(&g_epoch, 1) + 1;
        double deadline = now_s() + 0.5;
        while ((atomic_load(&ws[0].seen_epoch) != e || atomic_load(&ws[1].seen_epoch) != e) &&
               now_s() < deadline && !atomic_load(&g_stop))
            sleep_until(now_s() + 0.001);
        snap_t sn[2];
        for (int i = 0; i < 2; i++) {
            pthread_mutex_lock(&ws[i].mu);
            sn[i] = ws[i].snap;
            pthread_mutex_unlock(&ws[i].mu);
        }
        mp_stats_t mps;
        mp_stats(&mps);
        sample_t *x = &v[n++];
        x->rss = rss_bytes();
        x->arena_mapped = sn[0].arena_mapped + sn[1].arena_mapped;
        x->mp_mapped = mps.mapped;
        x->mapped = x->arena_mapped + x->mp_mapped;
        unsigned long long req = atomic_load(&ws[0].iters), fr = atomic_load(&ws[1].iters);
        printf("%4lds req %9llu (%6llu/s) frames %7llu (%5llu/s) | rss %6.1f MiB | arena mapped %5.1f MiB"
               " (%zu chunks, used %5.1f MiB) | pools live %5zu cap %4.1f MiB | mp mapped %5.1f in_use %5.1f"
               " cached %5.1f large %5.1f MiB | cross frees %llu\n",
               s, req, req - last_req, fr, fr - last_frames, mib(x->rss), mib(x->arena_mapped),
               sn[0].arena_chunks + sn[1].arena_chunks, mib(sn[0].arena_used + sn[1].arena_used),
               sn[0].pool_live + sn[1].pool_live, mib(sn[0].pool_capacity + sn[1].pool_capacity),
               mib(mps.mapped), mib(mps.in_use), mib(mps.cached), mib(mps.large),
               (unsigned long long)atomic_load(&g_cross_frees));
        last_req = req;
        last_frames = fr;
    }
    atomic_store(&g_stop, 1);
    pthread_join(ws[0].tid, NULL);
    pthread_join(ws[1].tid, NULL);
    drain(&q_to_frame);
    drain(&q_to_server);

    mp_stats_t mp1;
    mp_stats(&mp1);
    CHECK(mp1.in_use == mp0.in_use, "mp in_use %zu after every block was freed, %zu at start", mp1.in_use,
          mp0.in_use);

    int fail = atomic_load(&g_failures) != 0;
    size_t warm = n / 3;
    if (n >= 3) {
        /* Why 30: the memory pool's caches keep filling for the first part
         * of a run, so in a shorter one the thirds still see warm-up; report,
         * do not judge. */
        int g = grows("rss", v, n, offsetof(sample_t, rss));
        g |= grows("mapped", v, n, offsetof(sample_t, mapped));
        if (n >= MIN_GROWTH_SAMPLES)
            fail |= g;
        else if (g)
            printf("soak: growth not judged in a run under %d s (warm-up)\n", MIN_GROWTH_SAMPLES);
        printf("soak: after warm-up (%zu s): rss %.1f-%.1f MiB, mapped %.1f-%.1f MiB "
               "(arena %.1f-%.1f, mp %.1f-%.1f)\n",
               warm, mib(min_field(v, warm, n, offsetof(sample_t, rss))),
               mib(max_field(v, warm, n, offsetof(sample_t, rss))),
               mib(min_field(v, warm, n, offsetof(sample_t, mapped))),
               mib(max_field(v, warm, n, offsetof(sample_t, mapped))),
               mib(min_field(v, warm, n, offsetof(sample_t, arena_mapped))),
               mib(max_field(v, warm, n, offsetof(sample_t, arena_mapped))),
               mib(min_field(v, warm, n, offsetof(sample_t, mp_mapped))),
               mib(max_field(v, warm, n, offsetof(sample_t, mp_mapped))));
    }
    printf("soak: %s: %zu s, %llu requests, %llu frames, %llu cross-thread frees, %d integrity failures\n",
           fail ? "FAILED" : "ok", n, (unsigned long long)atomic_load(&ws[0].iters),
           (unsigned long long)atomic_load(&ws[1].iters), (unsigned long long)atomic_load(&g_cross_frees),
           atomic_load(&g_failures));
    free(v);
    return fail ? 1 : 0;
}
