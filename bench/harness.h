/*
 * harness.h - what every benchmark binary shares: the workload table, the
 * parameters (full or QUICK), a fixed-seed generator, the clock, and the
 * runner that measures each contender in a child process of its own.
 *
 * A benchmark binary lists its contenders (bench_contender_t) and calls
 * bench_main().  For every workload and contender it forks a child, which runs
 * the workload once and sends back a bench_out_t; the parent prints one
 * "R\t..." line per result.  bench/run.sh calls every binary several times
 * (interleaved, so machine noise hits every contender alike) and bench/report.c
 * turns the lines into medians, ratios, tables and a chart.
 */
#ifndef ARENAPOOL_BENCH_HARNESS_H
#define ARENAPOOL_BENCH_HARNESS_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* ---- Workloads ---- */

enum {
    W_BULK_SMALL,  /* 1a: 64 Ki objects of 16-64 B, freed at once (the arena speed test) */
    W_BULK,        /* 1b: objects of 8-256 B, freed at once                                */
    W_SERVER,      /* 2:  per-request HTTP parsing server                                   */
    W_SERVER_NEW,  /* 2b: the same, a pool created and destroyed per request              */
    W_CREATE,      /* 2c: a pool created, 33 allocations, destroyed: the 2b overhead alone  */
    W_FRAME,       /* 3:  game frame loop: frame allocator + particle pool                  */
    W_CHURN,       /* 4:  64-byte objects, live set 100 000, random order                   */
    W_SCOPES,      /* 5:  nested scopes, depths 1-8                                         */
    W_MP_BURST,    /* 6.1 100 000 x 32 B, every fourth freed at once, rest at the end       */
    W_MP_THREADS,  /* 6.2 2 threads x 25 000 random 8-256 B, 75 % free a random live one    */
    W_MP_MIXED,    /* 6.3 50 000 of {16 .. 2048} B, 20 freed every 100th                    */
    W_MP_PAIR16,   /* 6.4 steady alloc/free pairs, 16 B                                     */
    W_MP_PAIR64,   /*     64 B                                                              */
    W_MP_PAIR256,  /*     256 B                                                             */
    W_MP_PAIR4096, /*     4096 B                                                            */
    W_MP_XTHREAD,  /* 6.5 producer/consumer threads, every block freed by the other thread  */
    W_OS_PARTIAL,  /* 7.1 10 000 x 100 000 B, first 4 KiB of each written (peak RSS)       */
    W_OS_REALLOC,  /* 7.2 one block grown by realloc, 1 MiB -> 512 MiB in 1 MiB steps       */
    W_OS_CALLOC,   /* 7.3 2 000 calloc'd blocks of 5-25 MiB, each freed after a look        */
    W_OS_TRIM,     /* 7.4 2 threads allocate and free 512 MiB, malloc_trim: RSS after      */
    W_OS_RLIMIT,   /* 7.5 RLIMIT_AS: small blocks freed, then 1 MiB blocks + an mmap        */
    W_LARSON,      /* 7.6 larson-like server: slots replaced, threads handed on            */
    W_XMALLOC,     /* 7.7 xmalloc-like: batches allocated by one thread, freed by another  */
    W_OS_LARGE,    /* 7.8 malloc-large-like: 20 slots of 5-25 MiB blocks replaced, written */
    W_OS_LATENCY,  /* 7.9 malloc+free latency (p99, max) beside a thread cycling big blocks */
    W_OS_IDLE,     /* 7.10 RSS after a burst of 8 threads (exited or idle) and a quiet second */
    W_PY_PYMALLOC, /* 8a  python3 churn script under LD_PRELOAD, pymalloc (bench/py_run.py) */
    W_PY_MALLOC,   /* 8b  the same with PYTHONMALLOC=malloc                                  */
    W_COUNT
};

typedef struct bench_workload {
    const char *id;    /* short id: "1a", "6.4b" */
    const char *key;   /* machine name: "bulk_16_64" */
    const char *title; /* table heading */
    const char *unit;  /* what one op is: "alloc", "request", "frame" */
    unsigned max_runs; /* run only in passes 1..max_runs (0: every pass): the slow rows */
    unsigned timeout;  /* seconds before the child is stopped and the cell shows a timeout (0: none) */
} bench_workload_t;

extern const bench_workload_t bench_workloads[W_COUNT];

/* Sizes and counts; bench_params(1) shrinks everything for the QUICK run. */
typedef struct bench_params {
    int quick;
    size_t bulk_n;          /* objects per round, workload 1 */
    unsigned bulk_rounds;   /* at least this many timed rounds per run ... */
    double min_ns;          /* ... and at least this long (workload 1) */
    unsigned bulk_warmup;   /* untimed rounds first */
    size_t srv_requests;    /* workload 2 */
    unsigned frames;        /* workload 3 */
    unsigned frame_allocs;  /* transient allocations per frame */
    unsigned frame_spawns;  /* particles spawned per frame */
    unsigned frame_steady;  /* first frame counted as steady state */
    size_t churn_live;      /* workload 4 */
    size_t churn_pairs;     /* free+alloc pairs */
    unsigned scope_reps;    /* workload 5: passes over depths 1..8 */
    size_t mp_burst_n;      /* 6.1 */
    unsigned mp_burst_rounds;
    size_t mp_thr_n;        /* 6.2, per thread */
    unsigned mp_thr_rounds;
    size_t mp_mixed_n;      /* 6.3 */
    unsigned mp_mixed_rounds;
    size_t mp_pairs;        /* 6.4, per size */
    size_t mp_xthread_n;    /* 6.5 */
    size_t os_partial_n;    /* 7.1 blocks */
    size_t os_realloc_max;  /* 7.2 final size */
    size_t os_calloc_n;     /* 7.3 blocks */
    size_t os_trim_bytes;   /* 7.4 per thread */
    size_t os_rlimit_fill;  /* 7.5 bytes of small blocks; headroom = 1.5x, mmap = fill / 3 */
    unsigned larson_gens;   /* 7.6 thread generations */
    size_t larson_ops;      /* replacements per thread per generation */
    size_t larson_slots;    /* slots per thread */
    size_t xmalloc_batches; /* 7.7 batches of 128 blocks per thread */
    size_t os_large_n;      /* 7.8 blocks allocated (each replaces one of 20) */
    size_t latency_ops;     /* 7.9 timed malloc+free pairs */
    size_t idle_bytes;      /* 7.10 bytes each burst thread allocates (and frees) */
} bench_params_t;

bench_params_t bench_params(int quick);

/* What one run of one workload reports.  0 means "not measured" for the
 * optional fields; the harness fills rss_kb. */
typedef struct bench_out {
    double ns;             /* wall time of the measured part */
    double cpu_ns;         /* process CPU time of it (shows preemption: cpu < wall) */
    uint64_t ops;          /* operations in it (unit: bench_workload_t.unit) */
    uint64_t mapped;       /* peak bytes the allocator mapped (arenas) */
    uint64_t requested;    /* bytes requested at that point */
    double frame_p50;      /* workload 3, steady frames, thread CPU time, ns */
    double frame_p99;
    double frame_max;
    double frame_wall_p50; /* the same in wall time (includes preemption) */
    double frame_wall_p99;
    int64_t steady_mmaps;  /* workload 3: mmaps in steady state, -1 = unknown */
    double steady_faults;  /* workload 3: minor page faults per steady frame */
    uint64_t check;        /* checksum of the work, printed so nothing is optimised away */
    long rss_kb;           /* peak RSS of the child (harness) */
    long rss_end_kb;       /* RSS at the end of the workload, when it measures one (7.4) */
} bench_out_t;

typedef void (*bench_fn)(int wid, const bench_params_t *bp, bench_out_t *out);

typedef struct bench_contender {
    const char *name;
    bench_fn run[W_COUNT]; /* NULL: does not take part in that workload */
} bench_contender_t;

/* Parse argv (--quick, --run K, --only ID[,ID..], --list), run every
 * (workload, contender) pair in its own child, print result lines. */
int bench_main(int argc, char **argv, const bench_contender_t *const *cs, size_t n);

/* ---- Clock, generator, helpers ---- */

double bench_now_ns(void); /* CLOCK_MONOTONIC */
double bench_cpu_ns(void);  /* CLOCK_THREAD_CPUTIME_ID */
double bench_pcpu_ns(void); /* CLOCK_PROCESS_CPUTIME_ID: every thread, user + system */

/* Print a message and exit the child with failure (allocation failure etc.). */
_Noreturn void bench_fail(const char *what);

/* splitmix64: fixed seeds, same sequence for every contender. */
typedef struct bench_rng {
    uint64_t s;
} bench_rng_t;

static inline uint64_t bench_rng_next(bench_rng_t *r)
{
    uint64_t z = (r->s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Uniform in [lo, hi] (multiply-shift; bias below 2^-32, no division). */
static inline uint64_t bench_rng_range(bench_rng_t *r, uint64_t lo, uint64_t hi)
{
    uint64_t span = hi - lo + 1;
    return lo + (uint64_t)(((unsigned __int128)(bench_rng_next(r) >> 32) * span) >> 32);
}

static inline void bench_store64(void *p, uint64_t v) { memcpy(p, &v, sizeof v); }
static inline uint64_t bench_load64(const void *p)
{
    uint64_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

/* Make the compiler believe p escapes, so that it cannot elide a
 * malloc/free pair whose pointer is otherwise unused. */
static inline void bench_escape(void *p) { __asm__ volatile("" : : "g"(p) : "memory"); }

/* Quantile q in [0,1] of n doubles (sorts v in place). */
double bench_quantile(double *v, size_t n, double q);

/* Peak RSS of this process in KiB, and minor page faults so far. */
long bench_maxrss_kb(void);
long bench_rss_now_kb(void); /* /proc/self/statm */
size_t bench_vmsize(void);    /* /proc/self/status VmSize, bytes */
long bench_minflt(void);

/* ---- Workload 2 input: synthetic HTTP requests ---- */

typedef struct bench_requests {
    char **text;   /* NUL-terminated request heads ("...\r\n\r\n") */
    size_t *len;
    size_t count;
} bench_requests_t;

/* `count` distinct requests, fixed seed, freed with bench_requests_free. */
bench_requests_t bench_requests_make(size_t count);
void bench_requests_free(bench_requests_t *r);

#endif /* ARENAPOOL_BENCH_HARNESS_H */
