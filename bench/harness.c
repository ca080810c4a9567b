/*
 * harness.c - runner, parameters, clock and inputs shared by every benchmark
 * binary.  Each (workload, contender) pair runs in a forked child so that its
 * peak RSS (ru_maxrss is per process and never goes down) and its allocator
 * state belong to it alone; the parent only forks, reads one bench_out_t from
 * a pipe and prints it.  The parent allocates almost nothing before forking,
 * so a child starts from a small, equal baseline.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* dladdr */
#endif
#include "harness.h"

#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* ---- Workload table ---- */

const bench_workload_t bench_workloads[W_COUNT] = {
    [W_BULK_SMALL] = {"1a", "bulk_16_64", "Bulk free: 65 536 objects of 16-64 B, then all freed at once",
                      "alloc"},
    [W_BULK] = {"1b", "bulk_8_256", "Bulk free: 65 536 objects of 8-256 B, then all freed at once", "alloc"},
    [W_SERVER] = {"2", "server", "Per-request server: parse request line + headers, build response, cleanup",
                  "request"},
    [W_SERVER_NEW] = {"2b", "server_new",
                      "Per-request server, a pool (arena, APR sub-pool, talloc context) created and destroyed "
                      "per request",
                      "request"},
    [W_CREATE] = {"2c", "create_destroy",
                  "A pool per request alone: create, 32 allocations of 16-64 B + one of 1.3 KB, destroy",
                  "request"},
    [W_FRAME] = {"3", "frame_loop",
                 "Game frame loop: 10 000 transient allocs of 16-512 B + 2 000 particle spawns per frame",
                 "frame"},
    [W_CHURN] = {"4", "churn_64", "Fixed-size churn: 64 B objects, live set 100 000, random order",
                 "alloc+free"},
    [W_SCOPES] = {"5", "scopes", "Nested scopes, depths 1-8, 6 allocations of 16-128 B per scope", "scope"},
    [W_MP_BURST] = {"6.1", "mp_burst_32", "mp 1: 100 000 x 32 B, every fourth freed at once, rest at the end",
                    "alloc"},
    [W_MP_THREADS] = {"6.2", "mp_threads",
                      "mp 2: 2 threads x 25 000 random 8-256 B, 75 % chance to free a random live block",
                      "alloc"},
    [W_MP_MIXED] = {"6.3", "mp_mixed", "mp 3: 50 000 allocs of {16..2048} B, 20 freed every 100th", "alloc"},
    [W_MP_PAIR16] = {"6.4a", "mp_pair_16", "mp 4: steady alloc/free pair loop, 16 B", "alloc+free"},
    [W_MP_PAIR64] = {"6.4b", "mp_pair_64", "mp 4: steady alloc/free pair loop, 64 B", "alloc+free"},
    [W_MP_PAIR256] = {"6.4c", "mp_pair_256", "mp 4: steady alloc/free pair loop, 256 B", "alloc+free"},
    [W_MP_PAIR4096] = {"6.4d", "mp_pair_4096", "mp 4: steady alloc/free pair loop, 4096 B", "alloc+free"},
    [W_MP_XTHREAD] = {"6.5", "mp_xthread", "mp 5: producer/consumer threads, every block freed by the other",
                      "block"},
    /* The allocator around the OS.  The slow rows run in the first passes
     * only, and stop after a time limit (some peers take far longer than the
     * others on 7.2); the table says so. */
    [W_OS_PARTIAL] = {"7.1", "os_partial",
                      "OS 1: 10 000 blocks of 100 000 B, only the first 4 KiB of each written (peak RSS is the result)",
                      "block", 3, 60},
    [W_OS_REALLOC] = {"7.2", "os_realloc", "OS 2: one block grown by realloc from 1 MiB to 512 MiB in 1 MiB steps",
                      "realloc", 1, 20},
    [W_OS_CALLOC] = {"7.3", "os_calloc", "OS 3: 2 000 blocks of 5-25 MiB from calloc, each read and freed",
                     "block", 1, 20},
    [W_OS_TRIM] = {"7.4", "os_trim",
                   "OS 4: 2 threads allocate and free 512 MiB, then malloc_trim(0) (mp: mp_trim): RSS after",
                   "byte", 1, 60},
    [W_OS_RLIMIT] = {"7.5", "os_rlimit",
                     "OS 5: RLIMIT_AS = VmSize + 600 MiB; 400 MiB of 3000 B blocks freed, then 1 MiB blocks and "
                     "a 128 MiB mmap: MiB that fit",
                     "MiB", 1, 60},
    [W_LARSON] = {"7.6", "larson", "larson-like server: 2 threads replace random slots, 4 thread generations",
                  "alloc+free"},
    [W_XMALLOC] = {"7.7", "xmalloc", "xmalloc-like: 2 threads, batches of 128 blocks freed by whichever thread takes them",
                   "block"},
    [W_OS_LARGE] = {"7.8", "os_large",
                     "malloc-large-like: 20 slots, each block of 5-25 MiB replaced by a new one, written whole",
                     "block", 3, 60},
    [W_OS_LATENCY] = {"7.9", "os_latency",
                       "latency: malloc+free pairs of 16 B-512 KiB timed one by one while another thread cycles "
                       "8-32 MiB blocks (p99, max)",
                       "pair", 3, 60},
    [W_OS_IDLE] = {"7.10", "os_idle",
                   "idle: 8 threads allocate and free, 4 exit and 4 go idle; RSS after a quiet 1.5 s and one call",
                   "byte", 3, 60},
    [W_PY_PYMALLOC] = {"8a", "py_pymalloc", "python3 churn script under LD_PRELOAD, pymalloc (CPU time)", "run"},
    [W_PY_MALLOC] = {"8b", "py_malloc", "python3 churn script under LD_PRELOAD, PYTHONMALLOC=malloc (CPU time)",
                     "run"},
};

bench_params_t bench_params(int quick)
{
    /* Why these sizes: each contender's run is long enough to time well above
     * the clock's resolution and short enough that several interleaved passes
     * of everything fit in a few minutes.  The frame loop runs 600 frames, not
     * the 2 000 its target was first stated for, for that reason. */
    bench_params_t p = {
        .quick = quick,
        .bulk_n = 65536,
        .bulk_rounds = 5,
        .min_ns = 50e6,
        .bulk_warmup = 2,
        .srv_requests = 200000,
        .frames = 600,
        .frame_allocs = 10000,
        .frame_spawns = 2000,
        .frame_steady = 100,
        .churn_live = 100000,
        .churn_pairs = 2000000,
        .scope_reps = 12000,
        .mp_burst_n = 100000,
        .mp_burst_rounds = 10,
        .mp_thr_n = 25000,
        .mp_thr_rounds = 8,
        .mp_mixed_n = 50000,
        .mp_mixed_rounds = 8,
        .mp_pairs = 2000000,
        .mp_xthread_n = 200000,
        .os_partial_n = 10000,
        .os_realloc_max = (size_t)512 << 20,
        .os_calloc_n = 2000,
        .os_trim_bytes = (size_t)256 << 20,
        .os_rlimit_fill = (size_t)400 << 20,
        .larson_gens = 4,
        .larson_ops = 400000,
        .larson_slots = 1000,
        .xmalloc_batches = 10000,
        .os_large_n = 1000,
        .latency_ops = 200000,
        .idle_bytes = (size_t)32 << 20,
    };
    if (quick) {
        p.bulk_n = 4096, p.bulk_rounds = 2, p.min_ns = 1e6, p.bulk_warmup = 1;
        p.srv_requests = 2000;
        p.frames = 40, p.frame_allocs = 1000, p.frame_spawns = 200, p.frame_steady = 10;
        p.churn_live = 10000, p.churn_pairs = 20000;
        p.scope_reps = 100;
        p.mp_burst_n = 5000, p.mp_burst_rounds = 1;
        p.mp_thr_n = 2000, p.mp_thr_rounds = 1;
        p.mp_mixed_n = 5000, p.mp_mixed_rounds = 1;
        p.mp_pairs = 20000;
        p.mp_xthread_n = 10000;
        p.os_partial_n = 200, p.os_realloc_max = (size_t)16 << 20, p.os_calloc_n = 10;
        p.os_trim_bytes = (size_t)8 << 20, p.os_rlimit_fill = (size_t)32 << 20;
        p.larson_gens = 2, p.larson_ops = 5000, p.larson_slots = 200, p.xmalloc_batches = 100;
        p.os_large_n = 40;
        p.latency_ops = 5000, p.idle_bytes = (size_t)2 << 20;
    }
    return p;
}

/* ---- Clock and helpers ---- */

double bench_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

double bench_cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

double bench_pcpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

_Noreturn void bench_fail(const char *what)
{
    fprintf(stderr, "bench: %s failed (errno %d)\n", what, errno);
    _exit(3);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double bench_quantile(double *v, size_t n, double q)
{
    if (n == 0)
        return 0;
    qsort(v, n, sizeof *v, cmp_double);
    /* Nearest rank: the value at or below which q of the samples fall. */
    size_t k = (size_t)(q * (double)n + 0.999999);
    if (k == 0)
        k = 1;
    if (k > n)
        k = n;
    return v[k - 1];
}

long bench_maxrss_kb(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss;
}

long bench_rss_now_kb(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long size = 0, res = 0;
    if (!f)
        return 0;
    if (fscanf(f, "%lu %lu", &size, &res) != 2)
        res = 0;
    fclose(f);
    return (long)(res * (unsigned long)sysconf(_SC_PAGESIZE) / 1024);
}

size_t bench_vmsize(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    size_t kb = 0;
    if (!f)
        return 0;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, "VmSize:", 7) == 0) {
            kb = strtoull(line + 7, NULL, 10);
            break;
        }
    fclose(f);
    return kb * 1024;
}

long bench_minflt(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_minflt;
}

/* ---- Synthetic HTTP requests (workload 2) ---- */

static const char *const words[] = {
    "users", "items", "orders", "search", "static", "images", "v2", "cart", "account", "feed",
    "news", "catalog", "reviews", "assets", "login", "settings", "profile", "stats", "export", "media",
};
#define NWORDS (sizeof words / sizeof words[0])

static const char *const agents[] = {
    "Mozilla/5.0 (X11; Linux x86_64; rv:115.0) Gecko/20100101 Firefox/115.0",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/119.0.0.0 Safari/537.36",
    "curl/7.88.1",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.1 Mobile/15E148 Safari/604.1",
};

static void rand_token(bench_rng_t *r, char *out, size_t n)
{
    static const char al[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    for (size_t i = 0; i < n; i++)
        out[i] = al[bench_rng_range(r, 0, sizeof al - 2)];
    out[n] = '\0';
}

bench_requests_t bench_requests_make(size_t count)
{
    bench_requests_t rq = {calloc(count, sizeof(char *)), calloc(count, sizeof(size_t)), count};
    if (!rq.text || !rq.len)
        bench_fail("request setup");
    bench_rng_t r = {0x5EEDu};
    static const char *const methods[] = {"GET", "GET", "GET", "GET", "GET", "GET", "GET",
                                          "POST", "POST", "PUT", "DELETE", "HEAD"};
    for (size_t i = 0; i < count; i++) {
        char buf[4096], tok[96];
        size_t n = 0;
#define PUT(...) (n += (size_t)snprintf(buf + n, sizeof buf - n, __VA_ARGS__))
        PUT("%s /", methods[bench_rng_range(&r, 0, 11)]);
        unsigned segs = (unsigned)bench_rng_range(&r, 1, 4);
        for (unsigned s = 0; s < segs; s++)
            PUT("%s%s", s ? "/" : "", words[bench_rng_range(&r, 0, NWORDS - 1)]);
        if (bench_rng_range(&r, 0, 2) == 0)
            PUT("/%u", (unsigned)bench_rng_range(&r, 1, 999999));
        if (bench_rng_range(&r, 0, 3) == 0)
            PUT("/my%%20file%%2Dname.txt");
        unsigned params = (unsigned)bench_rng_range(&r, 0, 4);
        for (unsigned q = 0; q < params; q++) {
            rand_token(&r, tok, bench_rng_range(&r, 2, 12));
            PUT("%c%s=%s", q ? '&' : '?', words[bench_rng_range(&r, 0, NWORDS - 1)], tok);
        }
        PUT(" HTTP/1.1\r\n");
        PUT("Host: www.example%u.com\r\n", (unsigned)bench_rng_range(&r, 1, 50));
        /* About 12 headers: 8 usual ones, then 1-7 of the optional ones. */
        PUT("User-Agent: %s\r\n", agents[bench_rng_range(&r, 0, 3)]);
        PUT("Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\n");
        PUT("Accept-Language: en-US,en;q=0.%u\r\n", (unsigned)bench_rng_range(&r, 1, 9));
        PUT("Accept-Encoding: gzip, deflate, br\r\n");
        PUT("Connection: %s\r\n", bench_rng_range(&r, 0, 3) ? "keep-alive" : "close");
        rand_token(&r, tok, bench_rng_range(&r, 16, 64));
        PUT("Cookie: session=%s; theme=dark\r\n", tok);
        rand_token(&r, tok, 32);
        PUT("X-Request-Id: %s\r\n", tok);
        unsigned extra = (unsigned)bench_rng_range(&r, 1, 7);
        for (unsigned e = 0; e < extra; e++) {
            switch (bench_rng_range(&r, 0, 6)) {
            case 0: PUT("Referer: https://www.example.com/%s\r\n", words[bench_rng_range(&r, 0, NWORDS - 1)]); break;
            case 1: PUT("Cache-Control: max-age=%u\r\n", (unsigned)bench_rng_range(&r, 0, 86400)); break;
            case 2: rand_token(&r, tok, 24); PUT("If-None-Match: \"%s\"\r\n", tok); break;
            case 3: PUT("X-Forwarded-For: 10.%u.%u.%u\r\n", (unsigned)bench_rng_range(&r, 0, 255),
                        (unsigned)bench_rng_range(&r, 0, 255), (unsigned)bench_rng_range(&r, 0, 255)); break;
            case 4: rand_token(&r, tok, 40); PUT("Authorization: Bearer %s\r\n", tok); break;
            case 5: PUT("Content-Type: application/json\r\n"); break;
            default: PUT("Content-Length: %u\r\n", (unsigned)bench_rng_range(&r, 0, 4096)); break;
            }
        }
        PUT("\r\n");
#undef PUT
        rq.text[i] = malloc(n + 1);
        if (!rq.text[i])
            bench_fail("request setup");
        memcpy(rq.text[i], buf, n + 1);
        rq.len[i] = n;
    }
    return rq;
}

void bench_requests_free(bench_requests_t *r)
{
    for (size_t i = 0; i < r->count; i++)
        free(r->text[i]);
    free(r->text);
    free(r->len);
}

/* ---- Runner ---- */

static int wanted(const char *only, const char *id)
{
    if (!only)
        return 1;
    size_t n = strlen(id);
    for (const char *s = only; *s;) {
        const char *e = strchr(s, ',');
        size_t len = e ? (size_t)(e - s) : strlen(s);
        /* "6" selects 6.1 .. 6.5; "6.4" selects 6.4a .. 6.4d. */
        if (len <= n && memcmp(s, id, len) == 0 && (len == n || id[len] == '.' || (id[len] >= 'a' && id[len] <= 'z')))
            return 1;
        if (!e)
            break;
        s = e + 1;
    }
    return 0;
}

static int read_full(int fd, void *buf, size_t n)
{
    char *p = buf;
    while (n) {
        ssize_t k = read(fd, p, n);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return -1;
        p += k, n -= (size_t)k;
    }
    return 0;
}

/* Run one pair in a child; 0 and *out filled, or -1 with the wait status. */
static int run_child(const bench_contender_t *c, int wid, const bench_params_t *bp, bench_out_t *out,
                     int *status)
{
    int fds[2];
    if (pipe(fds) != 0)
        return *status = -1, -1;
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0)
        return *status = -1, -1;
    if (pid == 0) {
        close(fds[0]);
        if (bench_workloads[wid].timeout)
            alarm(bench_workloads[wid].timeout); /* SIGALRM ends the child: reported as a timeout */
        bench_out_t o = {.steady_mmaps = -1};
        c->run[wid](wid, bp, &o);
        o.rss_kb = bench_maxrss_kb();
        ssize_t k = write(fds[1], &o, sizeof o);
        _exit(k == (ssize_t)sizeof o ? 0 : 4);
    }
    close(fds[1]);
    int rc = read_full(fds[0], out, sizeof *out);
    close(fds[0]);
    while (waitpid(pid, status, 0) < 0 && errno == EINTR)
        ;
    return (rc == 0 && WIFEXITED(*status) && WEXITSTATUS(*status) == 0) ? 0 : -1;
}

int bench_main(int argc, char **argv, const bench_contender_t *const *cs, size_t n)
{
    int quick = 0, run = 1, list = 0;
    const char *only = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--quick") == 0)
            quick = 1;
        else if (strcmp(argv[i], "--run") == 0 && i + 1 < argc)
            run = atoi(argv[++i]);
        else if (strcmp(argv[i], "--only") == 0 && i + 1 < argc)
            only = argv[++i];
        else if (strcmp(argv[i], "--list") == 0)
            list = 1;
        else {
            fprintf(stderr, "usage: %s [--quick] [--run K] [--only ID,..] [--list]\n", argv[0]);
            return 2;
        }
    }
    bench_params_t bp = bench_params(quick);

    /* Which library answers malloc in this binary: proof that the peers do
     * not interpose on each other. */
    Dl_info info;
    void *(*m)(size_t) = malloc;
    const char *from = "?";
    if (dladdr((void *)(uintptr_t)m, &info) && info.dli_fname)
        from = info.dli_fname;
    printf("I\tbinary=%s\tmalloc_from=%s\n", argv[0], from);

    int failures = 0;
    for (int w = 0; w < W_COUNT; w++) {
        if (!wanted(only, bench_workloads[w].id))
            continue;
        if (bench_workloads[w].max_runs && (unsigned)run > bench_workloads[w].max_runs && !list)
            continue;
        for (size_t i = 0; i < n; i++) {
            if (!cs[i]->run[w])
                continue;
            if (list) {
                printf("L\tw=%s\tc=%s\n", bench_workloads[w].key, cs[i]->name);
                continue;
            }
            bench_out_t o;
            int status = 0;
            if (run_child(cs[i], w, &bp, &o, &status) != 0) {
                int timed_out = WIFSIGNALED(status) && WTERMSIG(status) == SIGALRM;
                printf("E\tw=%s\tc=%s\trun=%d\tstatus=%d\ttimeout=%u\n", bench_workloads[w].key, cs[i]->name, run,
                       status, timed_out ? bench_workloads[w].timeout : 0);
                if (timed_out) { /* a result: the table shows the limit */
                    fprintf(stderr, "bench: %s on %s stopped after %u s\n", cs[i]->name, bench_workloads[w].key,
                            bench_workloads[w].timeout);
                    continue;
                }
                fprintf(stderr, "bench: %s on %s failed (wait status %d)\n", cs[i]->name,
                        bench_workloads[w].key, status);
                failures++;
                continue;
            }
            printf("R\tw=%s\tc=%s\trun=%d\tns=%.0f\tcpu=%.0f\tops=%llu\trss_kb=%ld\tmapped=%llu\treq=%llu"
                   "\tf50=%.0f\tf99=%.0f\tfmax=%.0f\tfw50=%.0f\tfw99=%.0f\tmmaps=%lld\tflt=%.2f\tcheck=%llu\trss_end_kb=%ld\n",
                   bench_workloads[w].key, cs[i]->name, run, o.ns, o.cpu_ns, (unsigned long long)o.ops, o.rss_kb,
                   (unsigned long long)o.mapped, (unsigned long long)o.requested, o.frame_p50, o.frame_p99,
                   o.frame_max, o.frame_wall_p50, o.frame_wall_p99, (long long)o.steady_mmaps, o.steady_faults, (unsigned long long)o.check,
                   o.rss_end_kb);
            fflush(stdout);
        }
    }
    return failures ? 1 : 0;
}
