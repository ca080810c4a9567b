/*
 * report.c - merge the result lines of every benchmark binary and run into
 * one table per workload (median over runs, ns/op, ratio to glibc, spread,
 * peak RSS, bytes mapped vs requested, frame-time statistics), judge the
 * speed and memory targets (full runs only: the QUICK sizes are not the ones
 * the targets were set for), and write the Markdown, the JSON and the
 * gnuplot data and script for the chart.  A full run prints the Markdown; a
 * QUICK run prints a short matrix of ns/op, since it is a smoke test.
 *
 *   report --raw FILE --md OUT.md --json OUT.json --dat CHART.dat --gp CHART.gp
 *          --svg CHART.svg [--quick] [--meta KEY=VALUE]... [--skipped "names"]
 */
#include "harness.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#define MAX_RUNS 64
#define MAX_META 16

/* Display order: the baseline, the general allocators, the region peers,
 * this library, the ideal. */
static const char *const order[] = {"glibc", "jemalloc", "mimalloc", "tcmalloc", "mp",   "obstack",
                                    "talloc", "apr",     "arena",    "pool",     "bump"};
#define NC (sizeof order / sizeof order[0])

typedef struct cell {
    int n;
    double ns[MAX_RUNS], cpu[MAX_RUNS], pop[MAX_RUNS], f50[MAX_RUNS], f99[MAX_RUNS], fmax[MAX_RUNS], fw50[MAX_RUNS],
        fw99[MAX_RUNS], flt[MAX_RUNS];
    uint64_t ops, mapped, req;
    long rss_kb;
    double rss_end[MAX_RUNS]; /* KiB, 7.4 */
    unsigned timeout;         /* a run was stopped after this many seconds */
    long long mmaps;
    int failed;
    /* derived */
    double med, cpu_med, op, min, max, p50, p99, pmax, w50, w99, faults; /* op: median ns per op */
    double op_min, op_max;                                               /* ns per op, fastest and slowest run */
    double rss_end_med;                                                  /* KiB */
} cell_t;

static cell_t cells[W_COUNT][NC];
static char *meta_k[MAX_META], *meta_v[MAX_META];
static int nmeta;
static char malloc_from[NC][256];
static const char *skipped = "";
static int quick;                /* --quick: the sizes of bench_params(1) */
static bench_params_t params;

static int cidx(const char *name)
{
    for (size_t i = 0; i < NC; i++)
        if (strcmp(order[i], name) == 0)
            return (int)i;
    return -1;
}

static int widx(const char *key)
{
    for (int i = 0; i < W_COUNT; i++)
        if (strcmp(bench_workloads[i].key, key) == 0)
            return i;
    return -1;
}

static const char *field(char *line, const char *key, char *buf, size_t n)
{
    size_t kl = strlen(key);
    for (char *p = line; p && *p;) {
        if (strncmp(p, key, kl) == 0 && p[kl] == '=') {
            const char *v = p + kl + 1;
            size_t l = strcspn(v, "\t\n");
            if (l >= n)
                l = n - 1;
            memcpy(buf, v, l);
            buf[l] = '\0';
            return buf;
        }
        p = strchr(p, '\t');
        if (p)
            p++;
    }
    return NULL;
}

static double fnum(char *line, const char *key)
{
    char b[64];
    return field(line, key, b, sizeof b) ? strtod(b, NULL) : 0;
}

static int cmpd(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(const double *v, int n)
{
    double t[MAX_RUNS];
    memcpy(t, v, (size_t)n * sizeof *t);
    qsort(t, (size_t)n, sizeof *t, cmpd);
    return n % 2 ? t[n / 2] : (t[n / 2 - 1] + t[n / 2]) / 2;
}

static void load(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        perror(path);
        exit(1);
    }
    char line[1024], w[64], c[64], b[256];
    while (fgets(line, sizeof line, f)) {
        if (line[0] == 'I' && field(line, "binary", b, sizeof b)) {
            /* binary=.../bench-NAME: remember which library answered malloc. */
            const char *name = strrchr(b, '-');
            int i = name ? cidx(name + 1) : -1;
            if (i >= 0)
                field(line, "malloc_from", malloc_from[i], sizeof malloc_from[i]);
            continue;
        }
        if ((line[0] != 'R' && line[0] != 'E') || !field(line, "w", w, sizeof w) || !field(line, "c", c, sizeof c))
            continue;
        int wi = widx(w), ci = cidx(c);
        if (wi < 0 || ci < 0)
            continue;
        cell_t *x = &cells[wi][ci];
        if (line[0] == 'E') {
            x->failed++;
            unsigned to = (unsigned)fnum(line, "timeout");
            if (to)
                x->timeout = to;
            continue;
        }
        if (x->n == MAX_RUNS)
            continue;
        x->ns[x->n] = fnum(line, "ns");
        x->cpu[x->n] = fnum(line, "cpu");
        x->fw50[x->n] = fnum(line, "fw50");
        x->fw99[x->n] = fnum(line, "fw99");
        x->f50[x->n] = fnum(line, "f50");
        x->f99[x->n] = fnum(line, "f99");
        x->fmax[x->n] = fnum(line, "fmax");
        x->flt[x->n] = fnum(line, "flt");
        x->rss_end[x->n] = fnum(line, "rss_end_kb");
        x->ops = (uint64_t)fnum(line, "ops");
        x->pop[x->n] = x->ops ? x->ns[x->n] / (double)x->ops : 0;
        x->mapped = (uint64_t)fnum(line, "mapped");
        x->req = (uint64_t)fnum(line, "req");
        long rss = (long)fnum(line, "rss_kb");
        if (rss > x->rss_kb)
            x->rss_kb = rss;
        long long mm = (long long)fnum(line, "mmaps");
        if (x->n == 0 || mm > x->mmaps)
            x->mmaps = mm;
        x->n++;
    }
    fclose(f);
    for (int wi = 0; wi < W_COUNT; wi++)
        for (size_t ci = 0; ci < NC; ci++) {
            cell_t *x = &cells[wi][ci];
            if (!x->n)
                continue;
            x->med = median(x->ns, x->n);
            x->min = x->max = x->ns[0];
            for (int i = 1; i < x->n; i++) {
                x->min = fmin(x->min, x->ns[i]);
                x->max = fmax(x->max, x->ns[i]);
            }
            x->op = median(x->pop, x->n);
            x->op_min = x->op_max = x->pop[0];
            for (int i = 1; i < x->n; i++) {
                x->op_min = fmin(x->op_min, x->pop[i]);
                x->op_max = fmax(x->op_max, x->pop[i]);
            }
            x->cpu_med = median(x->cpu, x->n);
            x->w50 = median(x->fw50, x->n);
            x->w99 = median(x->fw99, x->n);
            x->p50 = median(x->f50, x->n);
            x->p99 = median(x->f99, x->n);
            x->pmax = median(x->fmax, x->n);
            x->faults = median(x->flt, x->n);
            x->rss_end_med = median(x->rss_end, x->n);
        }
}

static const cell_t *get(int w, const char *c)
{
    int i = cidx(c);
    return (i >= 0 && cells[w][i].n) ? &cells[w][i] : NULL;
}

/* Ratios use the median time per operation: workload 1 runs each contender
 * for a minimum time, so operation counts differ between contenders. */
static double per_op(const cell_t *x) { return x->op; }

static void human(char *b, size_t n, double bytes)
{
    if (bytes >= 1024.0 * 1024 * 1024)
        snprintf(b, n, "%.2f GiB", bytes / (1024.0 * 1024 * 1024));
    else if (bytes >= 1024.0 * 1024)
        snprintf(b, n, "%.1f MiB", bytes / (1024.0 * 1024));
    else
        snprintf(b, n, "%.0f KiB", bytes / 1024.0);
}

/* ---- Headings ---- */

/* v with a space between groups of three digits ("65 536"), in one of a few
 * rotating buffers so that one heading can hold several. */
static const char *num(size_t v)
{
    static char bufs[8][32];
    static unsigned next;
    char *b = bufs[next++ % 8], t[32];
    int n = snprintf(t, sizeof t, "%zu", v), o = 0;
    for (int i = 0; i < n; i++) {
        if (i && (n - i) % 3 == 0)
            b[o++] = ' ';
        b[o++] = t[i];
    }
    b[o] = '\0';
    return b;
}

static size_t mib(size_t bytes) { return bytes >> 20; }

/* The heading of workload w, with the sizes this run used (bench_params of
 * the run's mode), so a QUICK table does not claim the full sizes. */
static const char *heading(int w)
{
    static char b[256];
    const bench_params_t *p = &params;
    /* bench/py_run.py's step counts. */
    const char *py_steps = quick ? "10 000" : "600 000";
    switch (w) {
    case W_BULK_SMALL:
        snprintf(b, sizeof b, "Bulk free: %s objects of 16-64 B, then all freed at once", num(p->bulk_n));
        break;
    case W_BULK:
        snprintf(b, sizeof b, "Bulk free: %s objects of 8-256 B, then all freed at once", num(p->bulk_n));
        break;
    case W_SERVER:
        snprintf(b, sizeof b,
                 "Per-request server: %s requests; parse request line + headers, build response, cleanup",
                 num(p->srv_requests));
        break;
    case W_SERVER_NEW:
        snprintf(b, sizeof b,
                 "Per-request server, a pool created and destroyed per request: %s requests (arena_create, "
                 "APR sub-pool, talloc child; malloc as in 2)",
                 num(p->srv_requests));
        break;
    case W_CREATE:
        snprintf(b, sizeof b,
                 "A pool per request alone: %s x (create, 32 allocations of 16-64 B + one of 1.3 KB, "
                 "destroy); malloc: 33 x malloc + free",
                 num(p->srv_requests));
        break;
    case W_FRAME:
        snprintf(b, sizeof b,
                 "Game frame loop: %s frames of %s transient allocs of 16-512 B + %s particle spawns",
                 num(p->frames), num(p->frame_allocs), num(p->frame_spawns));
        break;
    case W_CHURN:
        snprintf(b, sizeof b, "Fixed-size churn: 64 B objects, live set %s, %s free+alloc pairs in random order",
                 num(p->churn_live), num(p->churn_pairs));
        break;
    case W_SCOPES:
        snprintf(b, sizeof b, "Nested scopes, depths 1-8, 6 allocations of 16-128 B per scope, %s passes",
                 num(p->scope_reps));
        break;
    case W_MP_BURST:
        snprintf(b, sizeof b, "mp 1: %s x 32 B, every fourth freed at once, rest at the end; %u round%s",
                 num(p->mp_burst_n), p->mp_burst_rounds, p->mp_burst_rounds == 1 ? "" : "s");
        break;
    case W_MP_THREADS:
        snprintf(b, sizeof b,
                 "mp 2: 2 threads x %s random 8-256 B, 75 %% chance to free a random live block; %u round%s",
                 num(p->mp_thr_n), p->mp_thr_rounds, p->mp_thr_rounds == 1 ? "" : "s");
        break;
    case W_MP_MIXED:
        snprintf(b, sizeof b, "mp 3: %s allocs of {16..2048} B, 20 freed every 100th; %u round%s",
                 num(p->mp_mixed_n), p->mp_mixed_rounds, p->mp_mixed_rounds == 1 ? "" : "s");
        break;
    case W_MP_PAIR16:
    case W_MP_PAIR64:
    case W_MP_PAIR256:
    case W_MP_PAIR4096:
        snprintf(b, sizeof b, "mp 4: steady alloc/free pair loop, %s pairs of %d B", num(p->mp_pairs),
                 w == W_MP_PAIR16 ? 16 : w == W_MP_PAIR64 ? 64 : w == W_MP_PAIR256 ? 256 : 4096);
        break;
    case W_MP_XTHREAD:
        snprintf(b, sizeof b, "mp 5: producer/consumer threads, %s blocks, every one freed by the other thread",
                 num(p->mp_xthread_n));
        break;
    case W_OS_PARTIAL:
        snprintf(b, sizeof b,
                 "OS 1: %s blocks of 100 000 B, only the first 4 KiB of each written (peak RSS is the result)",
                 num(p->os_partial_n));
        break;
    case W_OS_REALLOC:
        snprintf(b, sizeof b, "OS 2: one block grown by realloc from 1 MiB to %zu MiB in 1 MiB steps",
                 mib(p->os_realloc_max));
        break;
    case W_OS_CALLOC:
        snprintf(b, sizeof b, "OS 3: %s blocks of 5-25 MiB from calloc, each read and freed", num(p->os_calloc_n));
        break;
    case W_OS_TRIM:
        snprintf(b, sizeof b,
                 "OS 4: 2 threads allocate and free %zu MiB each, then malloc_trim(0) (mp: mp_trim): RSS after",
                 mib(p->os_trim_bytes));
        break;
    case W_OS_RLIMIT:
        snprintf(b, sizeof b,
                 "OS 5: RLIMIT_AS = VmSize + %zu MiB; %zu MiB of 3000 B blocks freed, then 1 MiB blocks and a "
                 "%zu MiB mmap: MiB that fit",
                 mib(p->os_rlimit_fill + p->os_rlimit_fill / 2), mib(p->os_rlimit_fill), mib(p->os_rlimit_fill / 3));
        break;
    case W_LARSON:
        snprintf(b, sizeof b,
                 "larson-like server: 2 threads each replace random slots of a %s-slot table %s times, %u thread "
                 "generations",
                 num(p->larson_slots), num(p->larson_ops), p->larson_gens);
        break;
    case W_XMALLOC:
        snprintf(b, sizeof b,
                 "xmalloc-like: 2 threads, %s batches of 128 blocks each, freed by whichever thread takes them",
                 num(p->xmalloc_batches));
        break;
    case W_OS_LARGE:
        snprintf(b, sizeof b,
                 "malloc-large-like: %s blocks of 5-25 MiB, each written whole and replacing one of 20 live ones",
                 num(p->os_large_n));
        break;
    case W_OS_LATENCY:
        snprintf(b, sizeof b,
                 "latency: %s malloc+free pairs of 16 B-512 KiB, each timed, while another thread cycles 8-32 MiB "
                 "blocks (p99 and max in the last column)",
                 num(p->latency_ops));
        break;
    case W_OS_IDLE:
        snprintf(b, sizeof b,
                 "idle: 8 threads each allocate and free %zu MiB of 16-4096 B blocks, 4 exit and 4 go idle; RSS "
                 "after a quiet 1.5 s and one more call",
                 mib(p->idle_bytes));
        break;
    case W_PY_PYMALLOC:
        snprintf(b, sizeof b, "python3 churn script, %s steps, under LD_PRELOAD, pymalloc (CPU time)", py_steps);
        break;
    case W_PY_MALLOC:
        snprintf(b, sizeof b, "python3 churn script, %s steps, under LD_PRELOAD, PYTHONMALLOC=malloc (CPU time)",
                 py_steps);
        break;
    default: /* a workload added to harness.c needs its heading here */
        snprintf(b, sizeof b, "workload %d: no heading in bench/report.c", w);
    }
    return b;
}

/* ---- Targets ---- */

/* T_RATIO: ref time / mine >= bar; T_TIME_LE: mine / ref <= bar; T_RSS: peak
 * RSS mine / ref <= bar; T_RSS_END: RSS at the end, mine - ref <= bar MiB;
 * T_FIT: bytes that fit (mapped) mine / ref >= bar; T_P99_LE, T_MAX_LE: p99
 * or max latency mine / ref <= bar. */
enum { T_RATIO, T_FRAME_JITTER, T_MMAPS, T_RSS, T_TIME_LE, T_RSS_END, T_FIT, T_P99_LE, T_MAX_LE };

typedef struct target {
    const char *group; /* which layer's goals (not printed): 2, 4 arena/pool, 3 mp, 10 mp and the OS */
    int w;
    int kind;
    const char *who;
    const char *vs; /* space-separated: the fastest of them is the reference; "*" = every other */
    double bar;     /* ratio >= bar (T_RATIO), value <= bar (others) */
    const char *what;
} target_t;

static const target_t targets[] = {
    {"2", W_BULK_SMALL, T_RATIO, "arena", "glibc", 15, "arena_alloc + arena_reset >= 15x glibc malloc + free"},
    {"2", W_BULK_SMALL, T_RATIO, "arena", "bump", 0.8, "arena within 1.25x of the ideal bump pointer"},
    {"2", W_CHURN, T_RATIO, "pool", "glibc", 5, "pool_alloc + pool_free (random order) >= 5x malloc + free"},
    {"4", W_BULK, T_RATIO, "arena", "glibc", 15, "bulk free: arena >= 15x glibc"},
    {"4", W_BULK, T_RATIO, "arena", "obstack apr", 2.5, "bulk free: arena >= 2.5x the best of obstack and APR"},
    {"4", W_BULK, T_RATIO, "arena", "talloc", 5, "bulk free: arena >= 5x talloc"},
    {"4", W_BULK, T_RATIO, "arena", "bump", 0.8, "bulk free: arena within 1.25x of the ideal bump pointer"},
    {"4", W_SERVER, T_RATIO, "arena", "glibc", 1.5, "server: arena >= 1.5x glibc"},
    {"4", W_SERVER, T_RATIO, "arena", "*", 1.0, "server: arena at least as fast as every other peer"},
    {"17", W_CREATE, T_RATIO, "arena", "apr", 1.0,
     "a pool per request: arena_create ... arena_destroy no slower than an APR sub-pool"},
    {"17", W_SERVER_NEW, T_RATIO, "arena", "apr", 0.95,
     "server, a pool per request: arena within 5 % of APR sub-pools (parsing dominates)"},
    {"4", W_FRAME, T_RATIO, "arena", "glibc", 1.5, "frame loop: arena >= 1.5x glibc"},
    {"4", W_FRAME, T_RATIO, "arena", "*", 1.0, "frame loop: arena at least as fast as every other peer"},
    {"4", W_FRAME, T_FRAME_JITTER, "arena", NULL, 1.5, "frame loop: arena frame time p99 / median <= 1.5"},
    {"4", W_FRAME, T_MMAPS, "arena", NULL, 0, "frame loop: arena makes no mmap in steady state"},
    {"4", W_CHURN, T_RATIO, "pool", "glibc", 5, "churn: pool >= 5x glibc"},
    {"4", W_CHURN, T_RATIO, "pool", "mimalloc", 2, "churn: pool >= 2x mimalloc"},
    {"3", W_MP_BURST, T_RATIO, "mp", "glibc", 2, "mp 1: >= 2x glibc"},
    {"3", W_MP_BURST, T_RATIO, "mp", "mimalloc", 0.9, "mp 1: as fast as mimalloc (within 10 %)"},
    {"3", W_MP_BURST, T_RSS, "mp", "glibc", 1.1, "mp 1: peak RSS <= glibc + 10 %"},
    {"3", W_MP_THREADS, T_RATIO, "mp", "glibc", 2, "mp 2: >= 2x glibc"},
    {"3", W_MP_THREADS, T_RATIO, "mp", "mimalloc", 0.9, "mp 2: as fast as mimalloc (within 10 %)"},
    {"3", W_MP_THREADS, T_RSS, "mp", "glibc", 1.1, "mp 2: peak RSS <= glibc + 10 %"},
    {"3", W_MP_MIXED, T_RATIO, "mp", "glibc", 2, "mp 3: >= 2x glibc"},
    {"3", W_MP_MIXED, T_RATIO, "mp", "mimalloc", 0.9, "mp 3: as fast as mimalloc (within 10 %)"},
    {"3", W_MP_MIXED, T_RSS, "mp", "glibc", 1.1, "mp 3: peak RSS <= glibc + 10 %"},
    {"3", W_MP_PAIR16, T_RATIO, "mp", "glibc", 2, "mp 4 (16 B): >= 2x glibc"},
    {"3", W_MP_PAIR16, T_RATIO, "mp", "mimalloc", 0.9, "mp 4 (16 B): as fast as mimalloc (within 10 %)"},
    {"3", W_MP_PAIR16, T_RSS, "mp", "glibc", 1.1, "mp 4 (16 B): peak RSS <= glibc + 10 %"},
    {"3", W_MP_PAIR64, T_RATIO, "mp", "glibc", 2, "mp 4 (64 B): >= 2x glibc"},
    {"3", W_MP_PAIR64, T_RATIO, "mp", "mimalloc", 0.9, "mp 4 (64 B): as fast as mimalloc (within 10 %)"},
    {"3", W_MP_PAIR64, T_RSS, "mp", "glibc", 1.1, "mp 4 (64 B): peak RSS <= glibc + 10 %"},
    {"3", W_MP_PAIR256, T_RATIO, "mp", "glibc", 2, "mp 4 (256 B): >= 2x glibc"},
    {"3", W_MP_PAIR256, T_RATIO, "mp", "mimalloc", 0.9, "mp 4 (256 B): as fast as mimalloc (within 10 %)"},
    {"3", W_MP_PAIR256, T_RSS, "mp", "glibc", 1.1, "mp 4 (256 B): peak RSS <= glibc + 10 %"},
    {"3", W_MP_PAIR4096, T_RATIO, "mp", "glibc", 2, "mp 4 (4096 B): >= 2x glibc"},
    {"3", W_MP_PAIR4096, T_RATIO, "mp", "mimalloc", 0.9, "mp 4 (4096 B): as fast as mimalloc (within 10 %)"},
    {"3", W_MP_PAIR4096, T_RSS, "mp", "glibc", 1.1, "mp 4 (4096 B): peak RSS <= glibc + 10 %"},
    {"3", W_MP_XTHREAD, T_RATIO, "mp", "mimalloc", 0.9, "mp 5: as fast as mimalloc (within 10 %)"},
    {"3", W_MP_XTHREAD, T_RSS, "mp", "glibc", 1.1, "mp 5: peak RSS <= glibc + 10 %"},
    {"10", W_PY_PYMALLOC, T_TIME_LE, "mp", "glibc", 1.05, "python churn, pymalloc: CPU time <= 1.05x glibc"},
    {"10", W_PY_MALLOC, T_TIME_LE, "mp", "glibc", 0.7, "python churn, PYTHONMALLOC=malloc: CPU time <= 0.7x glibc"},
    {"10", W_OS_PARTIAL, T_RSS, "mp", "glibc", 1.2, "partly touched blocks: peak RSS <= 1.2x glibc"},
    {"10", W_OS_TRIM, T_RSS_END, "mp", "glibc", 16, "RSS after free + trim <= glibc + 16 MiB (MiB above glibc)"},
    {"10", W_OS_REALLOC, T_TIME_LE, "mp", "glibc", 2, "realloc growth 1 -> 512 MiB: time <= 2x glibc"},
    {"10", W_OS_CALLOC, T_TIME_LE, "mp", "glibc", 1, "2 000 calloc'd blocks of 5-25 MiB: time <= glibc"},
    {"20", W_OS_LARGE, T_TIME_LE, "mp", "glibc", 1.2, "malloc-large-like, 5-25 MiB blocks: time <= 1.2x glibc"},
    {"20", W_OS_LATENCY, T_P99_LE, "mp", "glibc", 1.0, "malloc+free latency beside big-block traffic: p99 <= glibc"},
    {"20", W_OS_LATENCY, T_MAX_LE, "mp", "glibc", 2.0, "malloc+free latency beside big-block traffic: max <= 2x glibc"},
    {"20", W_OS_IDLE, T_RSS_END, "mp", "glibc", 8, "RSS after a burst of 8 threads and a quiet period <= glibc + 8 MiB"},
    {"10", W_OS_RLIMIT, T_FIT, "mp", "glibc", 1, "RLIMIT_AS: as many MiB fit after frees as under glibc"},
};
#define NT (sizeof targets / sizeof targets[0])

typedef struct verdict {
    int known; /* 0: a contender is missing */
    int met;
    double value;
    char ref[32]; /* which peer was the reference */
} verdict_t;

static int in_list(const char *list, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = list; (p = strstr(p, name)) != NULL; p += n)
        if ((p == list || p[-1] == ' ') && (p[n] == ' ' || p[n] == '\0'))
            return 1;
    return 0;
}

static verdict_t judge(const target_t *t)
{
    verdict_t v = {0, 0, 0, ""};
    const cell_t *me = get(t->w, t->who);
    if (!me)
        return v;
    if (t->kind == T_FRAME_JITTER) {
        v.known = me->p50 > 0;
        v.value = v.known ? me->p99 / me->p50 : 0;
        v.met = v.value <= t->bar;
        return v;
    }
    if (t->kind == T_MMAPS) {
        v.known = me->mmaps >= 0;
        v.value = (double)me->mmaps;
        v.met = me->mmaps == 0;
        return v;
    }
    if (t->kind == T_P99_LE || t->kind == T_MAX_LE) {
        const cell_t *o = get(t->w, t->vs);
        double a = t->kind == T_P99_LE ? me->p99 : me->pmax, b = o ? (t->kind == T_P99_LE ? o->p99 : o->pmax) : 0;
        if (!o || b <= 0)
            return v;
        v.known = 1;
        v.value = a / b;
        v.met = v.value <= t->bar;
        snprintf(v.ref, sizeof v.ref, "%s", t->vs);
        return v;
    }
    if (t->kind == T_TIME_LE || t->kind == T_RSS_END || t->kind == T_FIT) {
        const cell_t *o = get(t->w, t->vs);
        if (!o)
            return v;
        v.known = 1;
        v.value = t->kind == T_TIME_LE ? me->op / o->op
                  : t->kind == T_RSS_END ? (me->rss_end_med - o->rss_end_med) / 1024.0
                  : o->mapped ? (double)me->mapped / (double)o->mapped : 0;
        v.met = t->kind == T_FIT ? v.value >= t->bar : v.value <= t->bar;
        snprintf(v.ref, sizeof v.ref, "%s", t->vs);
        return v;
    }
    if (t->kind == T_RSS) {
        const cell_t *o = get(t->w, t->vs);
        if (!o || !o->rss_kb)
            return v;
        v.known = 1;
        v.value = (double)me->rss_kb / (double)o->rss_kb;
        v.met = v.value <= t->bar;
        snprintf(v.ref, sizeof v.ref, "%s", t->vs);
        return v;
    }
    const cell_t *best = NULL;
    for (size_t i = 0; i < NC; i++) {
        const cell_t *o = &cells[t->w][i];
        if (!o->n || strcmp(order[i], t->who) == 0)
            continue;
        if (strcmp(t->vs, "*") != 0 && !in_list(t->vs, order[i]))
            continue;
        if (!best || o->op < best->op) {
            best = o;
            snprintf(v.ref, sizeof v.ref, "%s", order[i]);
        }
    }
    if (!best)
        return v;
    v.known = 1;
    v.value = best->op / me->op;
    v.met = v.value >= t->bar;
    return v;
}

/* ---- Output ---- */

static void json_str(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            fputc('\\', f);
        if ((unsigned char)*s < 0x20)
            fprintf(f, "\\u%04x", *s);
        else
            fputc(*s, f);
    }
    fputc('"', f);
}

static const char *meta(const char *k)
{
    for (int i = 0; i < nmeta; i++)
        if (strcmp(meta_k[i], k) == 0)
            return meta_v[i];
    return "";
}

static void write_targets(FILE *f)
{
    if (quick) {
        fprintf(f, "\n## Targets\n\ntargets: judged only in full runs (`make bench`): they were set for the "
                   "full sizes, and the QUICK ones are too small to meet them or miss them.\n");
        return;
    }
    fprintf(f, "\n## Targets\n\nThe figures each layer was built to reach.  Speed ratios are the reference's "
               "median time per operation / the contender's: above 1 the contender is faster (\"within 1.25x "
               "of bump\" means >= 0.80x); the time targets of the OS rows (7.x) are the contender's time / "
               "the reference's (below 1 is faster).\n\n| workload | target | needs | measured | verdict |\n"
               "|---|---|---:|---:|---|\n");
    for (size_t i = 0; i < NT; i++) {
        const target_t *t = &targets[i];
        verdict_t v = judge(t);
        char m[64] = "n/a";
        if (v.known) {
            if (t->kind == T_RATIO)
                snprintf(m, sizeof m, "%.2fx vs %s", v.value, v.ref);
            else if (t->kind == T_RSS || t->kind == T_FIT)
                snprintf(m, sizeof m, "%.2f of %s", v.value, v.ref);
            else if (t->kind == T_TIME_LE || t->kind == T_P99_LE || t->kind == T_MAX_LE)
                snprintf(m, sizeof m, "%.2fx %s", v.value, v.ref);
            else if (t->kind == T_RSS_END)
                snprintf(m, sizeof m, "%+.1f MiB vs %s", v.value, v.ref);
            else if (t->kind == T_MMAPS)
                snprintf(m, sizeof m, "%.0f", v.value);
            else
                snprintf(m, sizeof m, "%.2f", v.value);
        }
        char need[32];
        if (t->kind == T_RATIO || t->kind == T_FIT)
            snprintf(need, sizeof need, ">= %.2fx", t->bar);
        else if (t->kind == T_TIME_LE || t->kind == T_P99_LE || t->kind == T_MAX_LE)
            snprintf(need, sizeof need, "<= %.2fx", t->bar);
        else if (t->kind == T_RSS_END)
            snprintf(need, sizeof need, "<= +%.0f MiB", t->bar);
        else if (t->kind == T_MMAPS)
            snprintf(need, sizeof need, "0");
        else
            snprintf(need, sizeof need, "<= %.2f", t->bar);
        fprintf(f, "| %s | %s | %s | %s | %s |\n", bench_workloads[t->w].id, t->what, need, m,
                !v.known ? "not measured" : v.met ? "met" : "**missed**");
    }
}

static void write_md(FILE *f)
{
    fprintf(f, "# arenapool benchmark results\n\n");
    fprintf(f, "- date: %s\n- machine: %s\n- compiler: %s\n- libc: %s\n- peers: %s\n", meta("date"),
            meta("machine"), meta("compiler"), meta("libc"), meta("peers"));
    fprintf(f, "- command: `%s` (median of %s interleaved runs; each contender in its own child process)\n",
            meta("command"), meta("runs"));
    fprintf(f, "- machine load: %s; the run took %s s\n", meta("load"), meta("seconds"));
    if (quick)
        fprintf(f, "- **QUICK run**: every workload at a tiny size (the headings give the sizes used), a smoke "
                   "test of the benchmarks; its times are not comparable with a full run's\n");
    if (*skipped)
        fprintf(f, "- skipped (not installed): %s\n", skipped);
    fprintf(f, "\nTimes are medians over the runs (wall clock); **vs glibc** is glibc's median time per "
               "operation / the contender's (higher is faster); spread is (max - min) / median of the run "
               "times; cpu %% is the process CPU time (all threads, user + system) / wall time of the measured "
               "part, below 100 %% when the process was preempted on a busy machine; peak RSS is the child "
               "process's ru_maxrss; mapped / requested: bytes the allocator "
               "held from the system (arena and bump: mapped; obstack: its chunks) at the peak of a round, "
               "vs bytes asked for. Frame times (workload 3) are thread CPU time per steady-state frame "
               "(frames %u and later), so that preemption on a shared machine is not counted as "
               "jitter; the wall-clock p99/p50 is shown beside them.\n",
            params.frame_steady);
    write_targets(f);
    for (int w = 0; w < W_COUNT; w++) {
        int any = 0;
        for (size_t c = 0; c < NC; c++)
            any |= cells[w][c].n > 0 || cells[w][c].failed > 0;
        if (!any)
            continue;
        const bench_workload_t *wl = &bench_workloads[w];
        const cell_t *g = get(w, "glibc");
        if (w == 0)
            fprintf(f, "\n## Workloads\n");
        fprintf(f, "\n### %s. %s\n\n", wl->id, heading(w));
        fprintf(f, "| contender | median ms | cpu %% | ns/%s | vs glibc | spread | peak RSS | mapped / requested |",
                wl->unit);
        if (w == W_FRAME)
            fprintf(f, " frame p50 us | p99 us | max us | p99/p50 | wall p99/p50 | steady mmaps | faults/frame |");
        fprintf(f, "\n|---|---:|---:|---:|---:|---:|---:|---:|%s\n", w == W_FRAME ? "---:|---:|---:|---:|---:|---:|---:|" : "");
        for (size_t c = 0; c < NC; c++) {
            const cell_t *x = &cells[w][c];
            if (x->failed && !x->n) {
                if (x->timeout)
                    fprintf(f, "| %s | TIMEOUT (> %u s) | | | | | | |\n", order[c], x->timeout);
                else
                    fprintf(f, "| %s | FAILED | | | | | | |%s\n", order[c], w == W_FRAME ? " | | | | | | |" : "");
                continue;
            }
            if (!x->n)
                continue;
            char rss[32], mp[96] = "-";
            human(rss, sizeof rss, (double)x->rss_kb * 1024);
            if (w == W_OS_LATENCY && x->p99 > 0) {
                snprintf(mp, sizeof mp, "p99 %.1f us, max %.0f us", x->p99 / 1e3, x->pmax / 1e3);
            } else if (x->rss_end_med > 0) {
                char a[32];
                human(a, sizeof a, x->rss_end_med * 1024);
                snprintf(mp, sizeof mp, "RSS %s: %s", w == W_OS_TRIM ? "after trim" : "at the end", a);
            } else if (x->mapped) {
                char a[32], b[32];
                human(a, sizeof a, (double)x->mapped);
                if (x->req) {
                    human(b, sizeof b, (double)x->req);
                    snprintf(mp, sizeof mp, "%s / %s (%.2f)", a, b, (double)x->mapped / (double)x->req);
                } else {
                    snprintf(mp, sizeof mp, "%s", a);
                }
            }
            char ratio[32] = "-";
            if (g)
                snprintf(ratio, sizeof ratio, "%.2fx", g->op / x->op);
            double po = per_op(x);
            fprintf(f, "| %s | %.1f | %.0f | %.*f | %s | %.0f %% | %s | %s |", order[c], x->med / 1e6,
                    100 * x->cpu_med / x->med, po < 10 ? 2 : 1, po,
                    ratio, 100 * (x->max - x->min) / x->med, rss, mp);
            if (w == W_FRAME) {
                char mm[24] = "n/a";
                if (x->mmaps >= 0)
                    snprintf(mm, sizeof mm, "%lld", x->mmaps);
                fprintf(f, " %.0f | %.0f | %.0f | %.2f | %.2f | %s | %.2f |", x->p50 / 1e3, x->p99 / 1e3,
                        x->pmax / 1e3, x->p50 > 0 ? x->p99 / x->p50 : 0, x->w50 > 0 ? x->w99 / x->w50 : 0, mm,
                        x->faults);
            }
            fputc('\n', f);
        }
    }
    fprintf(f, "\nWhich library answered `malloc` in each binary:");
    for (size_t c = 0; c < NC; c++)
        if (malloc_from[c][0])
            fprintf(f, " bench-%s: `%s`;", order[c], malloc_from[c]);
    fprintf(f, "\n");
}

static void write_json(FILE *f)
{
    fprintf(f, "{\n  \"meta\": {");
    for (int i = 0; i < nmeta; i++) {
        fprintf(f, "%s\n    ", i ? "," : "");
        json_str(f, meta_k[i]);
        fprintf(f, ": ");
        json_str(f, meta_v[i]);
    }
    fprintf(f, "\n  },\n  \"skipped\": ");
    json_str(f, skipped);
    fprintf(f, ",\n  \"malloc_from\": {");
    int first = 1;
    for (size_t c = 0; c < NC; c++)
        if (malloc_from[c][0]) {
            fprintf(f, "%s\n    \"%s\": ", first ? "" : ",", order[c]);
            json_str(f, malloc_from[c]);
            first = 0;
        }
    fprintf(f, "\n  },\n  \"workloads\": [");
    int fw = 1;
    for (int w = 0; w < W_COUNT; w++) {
        const bench_workload_t *wl = &bench_workloads[w];
        const cell_t *g = get(w, "glibc");
        int any = 0;
        for (size_t c = 0; c < NC; c++)
            any |= cells[w][c].n > 0;
        if (!any)
            continue;
        fprintf(f, "%s\n    {\"id\": \"%s\", \"key\": \"%s\", \"unit\": \"%s\", \"title\": ", fw ? "" : ",", wl->id,
                wl->key, wl->unit);
        json_str(f, heading(w));
        fprintf(f, ", \"results\": [");
        int fc = 1;
        for (size_t c = 0; c < NC; c++) {
            const cell_t *x = &cells[w][c];
            if (!x->n)
                continue;
            fprintf(f, "%s\n      {\"contender\": \"%s\", \"runs\": %d, \"median_ns\": %.0f, \"cpu_median_ns\": %.0f, \"min_ns\": %.0f, "
                       "\"max_ns\": %.0f, \"ops\": %llu, \"ns_per_op\": %.3f, \"vs_glibc\": %.3f, "
                       "\"peak_rss_kb\": %ld, \"mapped_bytes\": %llu, \"requested_bytes\": %llu",
                    fc ? "" : ",", order[c], x->n, x->med, x->cpu_med, x->min, x->max, (unsigned long long)x->ops, per_op(x),
                    g ? g->op / x->op : 0.0, x->rss_kb, (unsigned long long)x->mapped,
                    (unsigned long long)x->req);
            if (x->rss_end_med > 0)
                fprintf(f, ", \"rss_end_kb\": %.0f", x->rss_end_med);
            if (w == W_OS_LATENCY)
                fprintf(f, ", \"p99_ns\": %.0f, \"max_ns\": %.0f", x->p99, x->pmax);
            if (w == W_FRAME)
                fprintf(f, ", \"frame_cpu_p50_ns\": %.0f, \"frame_cpu_p99_ns\": %.0f, \"frame_cpu_max_ns\": %.0f, "
                           "\"frame_wall_p50_ns\": %.0f, \"frame_wall_p99_ns\": %.0f, "
                           "\"steady_mmaps\": %lld, \"steady_faults_per_frame\": %.2f",
                        x->p50, x->p99, x->pmax, x->w50, x->w99, x->mmaps, x->faults);
            fprintf(f, "}");
            fc = 0;
        }
        fprintf(f, "\n    ]}");
        fw = 0;
    }
    fprintf(f, "\n  ],\n  \"quick\": %s,\n  \"targets\": [", quick ? "true" : "false");
    for (size_t i = 0; i < NT && !quick; i++) { /* QUICK: judged only in full runs */
        verdict_t v = judge(&targets[i]);
        fprintf(f, "%s\n    {\"workload\": \"%s\", \"target\": ", i ? "," : "", bench_workloads[targets[i].w].id);
        json_str(f, targets[i].what);
        if (v.known)
            fprintf(f, ", \"value\": %.3f, \"reference\": \"%s\", \"met\": %s}", v.value, v.ref,
                    v.met ? "true" : "false");
        else
            fprintf(f, ", \"value\": null, \"met\": null}");
    }
    fprintf(f, "\n  ]\n}\n");
}

/* ---- QUICK summary ---- */

static void fmt_ns(char *b, size_t n, double v)
{
    if (v < 10)
        snprintf(b, n, "%.2f", v);
    else if (v < 1e4)
        snprintf(b, n, "%.1f", v);
    else if (v < 1e8)
        snprintf(b, n, "%.0f", v);
    else
        snprintf(b, n, "%.2g", v);
}

/* Rows whose result is memory, not time (peak RSS, RSS after trim, MiB that
 * fit): their ns/op would only mislead beside the others. */
static int memory_result(int w)
{
    return w == W_OS_PARTIAL || w == W_OS_TRIM || w == W_OS_RLIMIT || w == W_OS_LATENCY || w == W_OS_IDLE;
}

/* Rows that take seconds per operation (a whole python run). */
static int seconds_result(int w) { return w == W_PY_PYMALLOC || w == W_PY_MALLOC; }

/* The unit a QUICK row is printed in, and the cell's figure in it: memory
 * rows their result in MiB, the python rows seconds, the others ns per op. */
static void quick_unit(char *b, size_t n, int w)
{
    if (w == W_OS_PARTIAL)
        snprintf(b, n, "MiB peak");
    else if (w == W_OS_TRIM)
        snprintf(b, n, "MiB left");
    else if (w == W_OS_RLIMIT)
        snprintf(b, n, "MiB fit");
    else if (seconds_result(w))
        snprintf(b, n, "s/%s", bench_workloads[w].unit);
    else
        snprintf(b, n, "ns/%s", bench_workloads[w].unit);
}

static void quick_value(char *b, size_t n, int w, const cell_t *x)
{
    if (w == W_OS_PARTIAL)
        snprintf(b, n, "%.1f", (double)x->rss_kb / 1024);
    else if (w == W_OS_TRIM)
        snprintf(b, n, "%.1f", x->rss_end_med / 1024);
    else if (w == W_OS_RLIMIT)
        snprintf(b, n, "%llu", (unsigned long long)x->ops);
    else if (seconds_result(w))
        snprintf(b, n, "%.2f", x->op / 1e9);
    else
        fmt_ns(b, n, x->op);
}

/* What a QUICK run prints: one line per workload, each contender's median
 * in the row's unit; the tables with their sizes are in the Markdown file. */
static void write_quick(FILE *f, const char *md)
{
    int used[NC] = {0};
    for (size_t c = 0; c < NC; c++)
        for (int w = 0; w < W_COUNT; w++)
            used[c] |= cells[w][c].n > 0 || cells[w][c].failed > 0;
    fprintf(f, "bench QUICK: every workload at a tiny size, %s runs: a smoke test, not a measurement.\n"
               "medians, each row in its own unit (tables and sizes: %s)\n\n%-5s %-12s",
            meta("runs"), md ? md : "the Markdown output", "", "unit");
    for (size_t c = 0; c < NC; c++)
        if (used[c])
            fprintf(f, " %8s", order[c]);
    fputc('\n', f);
    for (int w = 0; w < W_COUNT; w++) {
        int any = 0;
        for (size_t c = 0; c < NC; c++)
            any |= cells[w][c].n > 0 || cells[w][c].failed > 0;
        if (!any)
            continue;
        char unit[32];
        quick_unit(unit, sizeof unit, w);
        fprintf(f, "%-5s %-12s", bench_workloads[w].id, unit);
        for (size_t c = 0; c < NC; c++) {
            if (!used[c])
                continue;
            const cell_t *x = &cells[w][c];
            char v[32] = "-";
            if (x->n)
                quick_value(v, sizeof v, w, x);
            else if (x->timeout)
                snprintf(v, sizeof v, "> %u s", x->timeout);
            else if (x->failed)
                snprintf(v, sizeof v, "FAILED");
            fprintf(f, " %8s", v);
        }
        fputc('\n', f);
    }
    fprintf(f, "\ntargets: judged only in full runs\n");
}

/* ---- Chart ---- */

/* One fixed colour per contender, the same in every chart.  This library's
 * own (arena, pool, mp) are saturated and outlined in black; the peers are
 * light tints of hues that ours do not use, so ours stand out and no two
 * peers look alike; bump, the ideal, is hatched. */
static const char *const colour[NC] = {
    /* glibc */ "#a6a6a6", /* jemalloc */ "#9ecae1", /* mimalloc */ "#a1d99b", /* tcmalloc */ "#d8b98f",
    /* mp */ "#6a1b9a",    /* obstack */ "#f6e8a0",  /* talloc */ "#80cdc1",   /* apr */ "#f4c2d7",
    /* arena */ "#d62728", /* pool */ "#ff7f0e",     /* bump */ "#ffffff",
};

static int ours(size_t c)
{
    return strcmp(order[c], "arena") == 0 || strcmp(order[c], "pool") == 0 || strcmp(order[c], "mp") == 0;
}

static void plot_style(FILE *g, size_t c)
{
    if (ours(c))
        fprintf(g, "with boxes fs solid 1.0 border lc rgb 'black' lw 2 lc rgb '%s'", colour[c]);
    else if (strcmp(order[c], "bump") == 0)
        fprintf(g, "with boxes fs pattern 4 border lc rgb '#404040' lw 1 lc rgb '#404040'");
    else
        fprintf(g, "with boxes fs solid 1.0 border lc rgb '#707070' lw 1 lc rgb '%s'", colour[c]);
}

#define MAX_PANELS 16

typedef struct panel {
    const char *unit;
    int w[W_COUNT], nw;
    int bars;
    double width;        /* in bar slots, gaps included */
    int row;
    double x0, x1;       /* screen fractions */
} panel_t;

/* A contender stopped at a workload's time limit gets a bar too, as tall as
 * the limit spread over the operations the others made (the same workload,
 * the same count), marked "> N s": a missing bar would read as "not run". */
static double timeout_op[W_COUNT][NC];

static void find_timeouts(void)
{
    for (int w = 0; w < W_COUNT; w++) {
        uint64_t ops = 0;
        for (size_t c = 0; c < NC; c++)
            if (cells[w][c].n && cells[w][c].ops > ops)
                ops = cells[w][c].ops;
        for (size_t c = 0; c < NC; c++)
            timeout_op[w][c] = !cells[w][c].n && cells[w][c].timeout && ops
                                   ? cells[w][c].timeout * 1e9 / (double)ops
                                   : 0;
    }
}

static int has_bar(int w, size_t c) { return cells[w][c].n > 0 || timeout_op[w][c] > 0; }

/* The bar's median, fastest and slowest time per op (a timeout: the limit). */
static void bar_of(int w, size_t c, double *op, double *lo, double *hi)
{
    const cell_t *cl = &cells[w][c];
    if (cl->n)
        *op = cl->op, *lo = cl->op_min, *hi = cl->op_max;
    else
        *op = *lo = *hi = timeout_op[w][c];
}

/* A panel per unit of operation, so that ns per alloc and ns per frame never
 * share an axis; inside a panel each workload is a group of only the
 * contenders that ran it, centred on its label; bars are medians, whiskers
 * the fastest and slowest run.  A panel whose operations take seconds (the
 * python runs) is drawn in seconds. */
static void write_chart(const char *dat, const char *gp, const char *svg)
{
    find_timeouts();
    FILE *d = fopen(dat, "w"), *g = fopen(gp, "w");
    if (!d || !g) {
        perror("chart");
        exit(1);
    }
    panel_t pn[MAX_PANELS];
    int np = 0;
    int used[NC] = {0};
    for (int w = 0; w < W_COUNT; w++) {
        int bars = 0;
        for (size_t c = 0; c < NC; c++)
            bars += has_bar(w, c);
        if (!bars || memory_result(w))
            continue;
        int i = 0;
        while (i < np && strcmp(pn[i].unit, bench_workloads[w].unit) != 0)
            i++;
        if (i == np) {
            if (np == MAX_PANELS)
                continue;
            pn[np++] = (panel_t){.unit = bench_workloads[w].unit};
        }
        pn[i].w[pn[i].nw++] = w;
        pn[i].bars += bars;
        for (size_t c = 0; c < NC; c++)
            used[c] |= has_bar(w, c);
    }
    for (int i = 0; i < np; i++)
        pn[i].width = pn[i].bars + 1.5 * pn[i].nw + 4; /* + gaps, + room for the y tic labels */

    /* Rows: first-fit decreasing, with rows as narrow as allows four of
     * them at most; rows then keep the workloads' order, and each is
     * stretched to the chart's width. */
    int byw[MAX_PANELS], nrows = 0, rowfirst[MAX_PANELS], rank[MAX_PANELS];
    double rowfill[MAX_PANELS], cap = 0, total = 0;
    for (int i = 0; i < np; i++)
        cap = fmax(cap, pn[i].width), total += pn[i].width, byw[i] = i;
    for (int i = 0; i < np; i++)
        for (int j = i + 1; j < np; j++)
            if (pn[byw[j]].width > pn[byw[i]].width) {
                int t = byw[i];
                byw[i] = byw[j], byw[j] = t;
            }
    for (cap = fmax(cap, total / 4);; cap *= 1.05) {
        nrows = 0;
        for (int k = 0; k < np; k++) {
            panel_t *p = &pn[byw[k]];
            int r = 0;
            while (r < nrows && rowfill[r] + p->width > cap)
                r++;
            if (r == nrows)
                rowfill[nrows++] = 0;
            p->row = r;
            rowfill[r] += p->width;
        }
        if (nrows <= 4)
            break;
    }
    for (int r = 0; r < nrows; r++)
        rowfirst[r] = W_COUNT;
    for (int i = 0; i < np; i++)
        if (pn[i].w[0] < rowfirst[pn[i].row])
            rowfirst[pn[i].row] = pn[i].w[0];
    for (int r = 0; r < nrows; r++) {
        rank[r] = 0;
        for (int q = 0; q < nrows; q++)
            rank[r] += rowfirst[q] < rowfirst[r];
    }
    for (int r = 0; r < nrows; r++) {
        double x = 0.01;
        for (int i = 0; i < np; i++) /* panels in workload order within the row */
            if (pn[i].row == r) {
                pn[i].x0 = x;
                x += 0.98 * pn[i].width / rowfill[r];
                pn[i].x1 = x;
            }
    }

    const double row_h = 300, head_h = 110;
    double height = head_h + row_h * nrows;
    fprintf(g, "set terminal svg size 1600,%.0f dynamic noenhanced font 'sans,11' background rgb 'white'\n"
               "set output '%s'\n"
               "set multiplot\n",
            height, svg);
    fprintf(g, "set label 1 \"arenapool benchmarks, %s%s: time per operation, log scales, lower is better\" "
               "at screen 0.5, screen %.4f center font 'sans,15'\n",
            quick ? "QUICK run (tiny sizes: a smoke test, not comparable with a full run), " : "", meta("date"),
            1 - 22 / height);
    fprintf(g, "set label 2 \"bars: median of %s runs; whiskers: fastest and slowest run; arena, pool and mp "
               "(this library) in bold colours with a black outline. 7.1, 7.4 and 7.5 measure memory: see "
               "latest.md\" at screen 0.5, screen %.4f center\n",
            meta("runs"), 1 - 44 / height);

    /* The legend: an empty plot whose key lists every contender once. */
    fprintf(g, "set lmargin at screen 0.02\nset rmargin at screen 0.98\n"
               "set tmargin at screen %.4f\nset bmargin at screen %.4f\n"
               "unset border\nunset tics\nset xrange [0:1]\nset yrange [0:1]\n"
               "set key at screen 0.5, screen %.4f center center horizontal maxrows 1 width 1 samplen 2\n"
               "plot ",
            1 - 58 / height, 1 - 100 / height, 1 - 80 / height);
    int first = 1;
    for (size_t c = 0; c < NC; c++) {
        if (!used[c])
            continue;
        fprintf(g, "%sNaN ", first ? "" : ", ");
        plot_style(g, c);
        fprintf(g, " title '%s%s'", order[c], ours(c) ? " (ours)" : strcmp(order[c], "bump") == 0 ? " (ideal)" : "");
        first = 0;
    }
    fprintf(g, "\nunset label\nset key off\nset border 3\nset tics nomirror\nset grid ytics\n"
               "set logscale y\nset format y '%%g'\nset boxwidth 0.85\n"
               "set xtics scale 0 font 'sans,10'\nset ytics nomirror\n");

    int block = 0;
    for (int i = 0; i < np; i++) {
        panel_t *p = &pn[i];
        double lo = INFINITY, hi = 0, x = 0.5;
        char tics[2048];
        size_t tl = 0;
        int pblock = block;
        /* Seconds where an operation takes seconds, else nanoseconds. */
        double scale = seconds_result(p->w[0]) ? 1e9 : 1;
        int nlabels = 0;
        for (int k = 0; k < p->nw; k++) {
            int w = p->w[k];
            double start = x + 1;
            for (size_t c = 0; c < NC; c++) {
                if (!has_bar(w, c))
                    continue;
                x += 1;
                double op, bmin, bmax;
                bar_of(w, c, &op, &bmin, &bmax);
                lo = fmin(lo, bmin / scale), hi = fmax(hi, bmax / scale);
                if (!cells[w][c].n) {
                    /* The mark, upright above the bar; room kept for it. */
                    fprintf(g, "set label %d \"> %u s\" at first %.2f, first %.6g rotate by 90 left "
                               "font 'sans,9' textcolor rgb '#c00000'\n",
                            ++nlabels, cells[w][c].timeout, x, op / scale * 1.15);
                    hi = fmax(hi, op / scale * 8);
                }
            }
            double mid = (start + x) / 2;
            char key[64];
            snprintf(key, sizeof key, "%s", bench_workloads[w].key);
            tl += (size_t)snprintf(tics + tl, sizeof tics - tl, "%s\"%s\\n%s\" %.2f", k ? ", " : "",
                                   bench_workloads[w].id, key, mid);
            if (tl >= sizeof tics)
                tl = sizeof tics - 1;
            x += 1.5;
        }
        /* Data: one block per contender, its bars across this panel's groups. */
        int nblocks = 0;
        size_t bc[NC];
        for (size_t c = 0; c < NC; c++) {
            double bx = 0.5;
            int wrote = 0;
            for (int k = 0; k < p->nw; k++) {
                for (size_t c2 = 0; c2 < NC; c2++) {
                    if (!has_bar(p->w[k], c2))
                        continue;
                    bx += 1;
                    if (c2 != c)
                        continue;
                    if (!wrote)
                        fprintf(d, "# panel %s, %s\n", p->unit, order[c]);
                    double op, bmin, bmax;
                    bar_of(p->w[k], c2, &op, &bmin, &bmax);
                    fprintf(d, "%.2f %.6g %.6g %.6g\n", bx, op / scale, bmin / scale, bmax / scale);
                    wrote = 1;
                }
                bx += 1.5;
            }
            if (wrote) {
                fprintf(d, "\n\n");
                bc[nblocks++] = c;
            }
        }
        block += nblocks;
        /* A log axis needs a positive bottom; a factor 3 or more below the
         * lowest bar keeps the shortest bars visible. */
        if (!(lo > 0))
            lo = hi > 0 ? hi / 1000 : 0.1;
        double top = 1 - head_h / height - (double)rank[p->row] * row_h / height;
        fprintf(g, "set lmargin at screen %.4f\nset rmargin at screen %.4f\n"
                   "set tmargin at screen %.4f\nset bmargin at screen %.4f\n",
                p->x0 + 0.035, p->x1 - 0.005, top - 36 / height, top - (row_h - 50) / height);
        fprintf(g, "set title '%s per %s'\nset xrange [0:%.2f]\nset yrange [%g:%g]\nset xtics (%s)\nplot ",
                scale > 1 ? "s" : "ns", p->unit, x - 1, pow(10, floor(log10(lo / 3))), pow(10, ceil(log10(hi * 1.2))),
                tics);
        for (int k = 0; k < nblocks; k++) {
            fprintf(g, "%s'%s' index %d using 1:2 ", k ? ", " : "", dat, pblock + k);
            plot_style(g, bc[k]);
            /* Whiskers as vectors: yerrorbars would draw a point at the median too. */
            fprintf(g, " notitle, '' index %d using 1:3:(0):($4-$3) with vectors heads size 0.12,90 "
                       "lc rgb 'black' lw 1.2 notitle",
                    pblock + k);
        }
        fputc('\n', g);
        if (nlabels)
            fprintf(g, "unset label\n");
    }
    fprintf(g, "unset multiplot\n");
    fclose(d);
    fclose(g);
}

int main(int argc, char **argv)
{
    const char *raw = NULL, *md = NULL, *json = NULL, *dat = NULL, *gp = NULL, *svg = NULL;
    for (int i = 1; i < argc; i++) {
        const char *k = argv[i];
        if (!strcmp(k, "--quick")) { /* the one flag without a value */
            quick = 1;
            continue;
        }
        if (i + 1 == argc) {
            fprintf(stderr, "report: %s needs a value\n", k);
            return 2;
        }
        const char *v = argv[++i];
        if (!strcmp(k, "--raw"))
            raw = v;
        else if (!strcmp(k, "--md"))
            md = v;
        else if (!strcmp(k, "--json"))
            json = v;
        else if (!strcmp(k, "--dat"))
            dat = v;
        else if (!strcmp(k, "--gp"))
            gp = v;
        else if (!strcmp(k, "--svg"))
            svg = v;
        else if (!strcmp(k, "--skipped"))
            skipped = v;
        else if (!strcmp(k, "--meta") && nmeta < MAX_META) {
            const char *eq = strchr(v, '=');
            if (!eq)
                continue;
            meta_k[nmeta] = strndup(v, (size_t)(eq - v));
            meta_v[nmeta++] = strdup(eq + 1);
        } else {
            fprintf(stderr, "report: unknown option %s\n", k);
            return 2;
        }
    }
    if (!raw) {
        fprintf(stderr, "usage: report --raw FILE [--md F] [--json F] [--dat F --gp F --svg F] [--quick] "
                        "[--meta K=V].. [--skipped S]\n");
        return 2;
    }
    params = bench_params(quick);
    load(raw);
    if (quick)
        write_quick(stdout, md);
    else
        write_md(stdout);
    if (md) {
        FILE *f = fopen(md, "w");
        if (!f)
            return perror(md), 1;
        write_md(f);
        fclose(f);
    }
    if (json) {
        FILE *f = fopen(json, "w");
        if (!f)
            return perror(json), 1;
        write_json(f);
        fclose(f);
    }
    if (dat && gp && svg)
        write_chart(dat, gp, svg);
    int failed = 0;
    for (int w = 0; w < W_COUNT; w++)
        for (size_t c = 0; c < NC; c++)
            failed += cells[w][c].timeout ? 0 : cells[w][c].failed; /* a timeout is a result (7.x rows) */
    if (failed)
        fprintf(stderr, "report: %d benchmark run(s) failed (see the table)\n", failed);
    return failed ? 1 : 0;
}
