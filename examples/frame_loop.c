/*
 * frame_loop.c - a game-style frame loop on arenapool.
 *
 *   - two frame arenas, double-buffered: this frame's scratch data and last
 *     frame's both stay readable; the older one is reset at the start of a frame;
 *   - a particle pool (64-byte particles, spawned and killed every frame);
 *   - a per-level arena, reset when the level changes.
 *
 * Every simulated second (60 frames) it prints frame-time median / p99 / max and
 * memory: arena bytes used and mapped, live particles, and the mmap count, which
 * stops growing once the loop is warm.  Usage: frame_loop [seconds] (default 10).
 */
#include "arena.h"
#include "pool.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

enum { FPS = 60, MAX_PARTICLES = 4096, LEVEL_SECONDS = 4 };

typedef struct particle {
    float x, y, z, vx, vy, vz;
    float life, size;
    unsigned color, seed;
    struct particle *next;
    char pad[64 - 10 * 4 - sizeof(void *)];
} particle_t;
_Static_assert(sizeof(particle_t) == 64, "particles are 64 bytes");

typedef struct draw_cmd {
    const particle_t *p;
    float depth;
} draw_cmd_t;

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static uint32_t rnd(void)
{
    rng_state ^= rng_state << 13, rng_state ^= rng_state >> 7, rng_state ^= rng_state << 17;
    return (uint32_t)rng_state;
}
static float rndf(void) { return (float)(rnd() & 0xFFFFFF) / (float)0x1000000; }

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static int cmp_depth(const void *a, const void *b)
{
    float x = ((const draw_cmd_t *)a)->depth, y = ((const draw_cmd_t *)b)->depth;
    return (x < y) - (x > y);
}

/* The level: geometry names and a navigation grid, built once per level. */
typedef struct level {
    int number;
    char **names;
    float *grid;
    int n;
} level_t;

static level_t *load_level(arena_t *level_arena, int number)
{
    arena_reset(level_arena);
    level_t *lv = ARENA_NEW(level_arena, level_t);
    lv->number = number;
    lv->n = 2000 + 500 * (number % 4);
    lv->names = ARENA_NEW_ARRAY(level_arena, char *, (size_t)lv->n);
    lv->grid = ARENA_NEW_ARRAY(level_arena, float, (size_t)lv->n * 16);
    for (int i = 0; i < lv->n; i++)
        lv->names[i] = arena_sprintf(level_arena, "level%d/mesh_%04d", number, i);
    for (int i = 0; i < lv->n * 16; i++)
        lv->grid[i] = rndf();
    return lv;
}

int main(int argc, char **argv)
{
    int seconds = argc > 1 ? atoi(argv[1]) : 10;
    if (seconds <= 0)
        seconds = 10;
    arena_t *frames[2] = {arena_create(NULL), arena_create(NULL)};
    arena_t *level_arena = arena_create(NULL);
    arena_t *persistent = arena_create(NULL);
    pool_t *particles = pool_create(persistent, sizeof(particle_t), 0);
    if (!frames[0] || !frames[1] || !level_arena || !persistent || !particles) {
        perror("frame_loop: setup");
        return 1;
    }
    particle_t *alive = NULL;
    size_t nalive = 0;
    level_t *level = load_level(level_arena, 1);
    double times[FPS];
    draw_cmd_t *last_cmds = NULL;
    size_t last_ncmds = 0;
    double checksum = 0;

    printf("%-4s %-5s %9s %9s %9s %10s %10s %9s %6s\n", "sec", "level", "median_us", "p99_us",
           "max_us", "used_KiB", "mapped_KiB", "particles", "mmaps");
    for (int frame = 0; frame < seconds * FPS; frame++) {
        double t0 = now_ms();
        arena_t *fa = frames[frame & 1];
        arena_reset(fa); /* the older frame's data goes; last frame's stays readable */

        if (frame > 0 && frame % (FPS * LEVEL_SECONDS) == 0)
            level = load_level(level_arena, level->number + 1);

        /* Spawn. */
        int spawn = 20 + (int)(rnd() % 40);
        for (int i = 0; i < spawn && nalive < MAX_PARTICLES; i++) {
            particle_t *p = pool_alloc(particles);
            if (!p)
                break;
            p->x = p->y = p->z = 0;
            p->vx = rndf() - 0.5f, p->vy = rndf() * 2, p->vz = rndf() - 0.5f;
            p->life = 0.25f + rndf() * 1.5f;
            p->size = 1 + rndf();
            p->color = rnd();
            p->seed = rnd();
            p->next = alive;
            alive = p;
            nalive++;
        }
        /* Simulate and kill. */
        const float dt = 1.0f / FPS;
        for (particle_t **pp = &alive; *pp;) {
            particle_t *p = *pp;
            p->vy -= 9.8f * dt;
            p->x += p->vx * dt, p->y += p->vy * dt, p->z += p->vz * dt;
            p->life -= dt;
            if (p->life <= 0) {
                *pp = p->next;
                pool_free(particles, p);
                nalive--;
            } else {
                pp = &p->next;
            }
        }
        /* Transient per-frame work: draw commands sorted by depth, debug text,
         * and a few hundred small scratch buffers. */
        draw_cmd_t *cmds = ARENA_NEW_ARRAY(fa, draw_cmd_t, nalive + 1);
        size_t ncmds = 0;
        for (particle_t *p = alive; p; p = p->next)
            cmds[ncmds++] = (draw_cmd_t){p, p->z * p->z + p->x * p->x};
        qsort(cmds, ncmds, sizeof *cmds, cmp_depth);
        for (int i = 0; i < 400; i++) {
            size_t n = 16 + rnd() % 497;
            unsigned char *buf = arena_alloc(fa, n);
            for (size_t k = 0; k < n; k += 64)
                buf[k] = (unsigned char)k;
            checksum += buf[0] + level->grid[(size_t)i % ((size_t)level->n * 16)];
        }
        char *hud = arena_sprintf(fa, "frame %d particles %zu level %s", frame, nalive,
                                  level->names[frame % level->n]);
        checksum += (double)hud[0];
        /* Last frame's commands are still valid: use them for motion blur. */
        for (size_t i = 0; i < last_ncmds && i < 64; i++)
            checksum += last_cmds[i].depth * 1e-9;
        last_cmds = cmds, last_ncmds = ncmds;

        times[frame % FPS] = (now_ms() - t0) * 1000.0;
        if (frame % FPS == FPS - 1) {
            qsort(times, FPS, sizeof times[0], cmp_double);
            arena_stats_t s0, s1, sl, sp;
            arena_stats(frames[0], &s0), arena_stats(frames[1], &s1);
            arena_stats(level_arena, &sl), arena_stats(persistent, &sp);
            printf("%-4d %-5d %9.1f %9.1f %9.1f %10.1f %10.1f %9zu %6zu\n", frame / FPS + 1,
                   level->number, times[FPS / 2], times[(FPS * 99) / 100], times[FPS - 1],
                   (s0.used + s1.used + sl.used + sp.used) / 1024.0,
                   (s0.mapped + s1.mapped + sl.mapped + sp.mapped) / 1024.0, nalive,
                   s0.mmaps + s1.mmaps + sl.mmaps + sp.mmaps);
        }
    }
    if (isnan(checksum))
        puts("unreachable");
    pool_destroy(particles);
    arena_destroy(persistent);
    arena_destroy(level_arena);
    arena_destroy(frames[0]);
    arena_destroy(frames[1]);
    return 0;
}
