/*
 * trim_info.c - malloc_trim, mallinfo2, mallinfo and mallopt as a program
 * sees them, plus the page-map collision of a large block with an aligned
 * neighbour and a large realloc growth, all through the malloc family.  Prints one
 * "name: ok" or "name: FAIL (...)" line per check and exits 1 on a failure,
 * so run.sh can demand the same lines under glibc and under the preload.
 *
 * Checks: mallopt is accepted (returns 1); mallinfo2().uordblks covers the
 * live bytes of the main thread and falls when they are freed; mallinfo()
 * agrees with it; 2 threads allocate and free 1 GiB (512 MiB each), then malloc_trim(0)
 * returns 1 and RSS ends within 16 MiB of where the program started.
 */
#define _GNU_SOURCE
#include <malloc.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MiB ((size_t)1 << 20)

static int failures;

/* One line per check; the details only on a failure, so that glibc and
 * the pool print the same lines when both pass. */
__attribute__((format(printf, 3, 4))) static void report(const char *name, int ok, const char *fmt, ...)
{
    if (ok) {
        printf("%s: ok\n", name);
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    printf("%s: FAIL (", name);
    vprintf(fmt, ap);
    printf(")\n");
    va_end(ap);
    failures++;
}

static size_t rss_bytes(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long size = 0, res = 0;
    if (!f || fscanf(f, "%lu %lu", &size, &res) != 2)
        exit(2);
    fclose(f);
    return (size_t)res * (size_t)sysconf(_SC_PAGESIZE);
}

/* ---- 2 threads x 512 MiB, allocated, written, checked, freed ---- */

#ifndef THREAD_BYTES
#define THREAD_BYTES (512 * MiB)
#endif

static void *worker(void *arg)
{
    uintptr_t id = (uintptr_t)arg;
    size_t cap = 200000, n = 0, total = 0;
    unsigned char **v = malloc(cap * sizeof *v);
    size_t *len = malloc(cap * sizeof *len);
    if (!v || !len)
        return (void *)1;
    uint64_t r = 0x9E3779B97F4A7C15ull * (id + 1);
    while (total < THREAD_BYTES && n < cap) {
        r ^= r << 13, r ^= r >> 7, r ^= r << 17;
        /* mostly small, some medium, a few past the size classes */
        size_t s = r % 16 == 0 ? 300000 + r % (2 * MiB) : r % 4 == 0 ? 4096 + r % 60000 : 16 + r % 2000;
        unsigned char *p = malloc(s);
        if (!p)
            return (void *)1;
        memset(p, (int)(n & 0xFF), s);
        v[n] = p, len[n] = s, n++;
        total += s;
    }
    uintptr_t bad = 0;
    for (size_t i = 0; i < n; i++) {
        bad += v[i][0] != (unsigned char)(i & 0xFF) || v[i][len[i] - 1] != (unsigned char)(i & 0xFF);
        free(v[i]);
    }
    free(v);
    free(len);
    return (void *)bad;
}

int main(void)
{
    size_t r_start = rss_bytes();
    /* mallopt: accepted. */
    report("mallopt(M_ARENA_MAX)", mallopt(M_ARENA_MAX, 2) == 1, "returned 0");
    report("mallopt(M_TRIM_THRESHOLD)", mallopt(M_TRIM_THRESHOLD, 128 * 1024) == 1, "returned 0");
    report("mallopt(M_MMAP_THRESHOLD)", mallopt(M_MMAP_THRESHOLD, 256 * 1024) == 1, "returned 0");

    /* mallinfo2 tracks the live bytes of this (the main) thread: small
     * blocks in uordblks, a large one in uordblks + hblkhd (glibc counts
     * mapped chunks in hblkhd only). */
    struct mallinfo2 m0 = mallinfo2();
    enum { N = 20000 };
    static void *keep[N];
    size_t live = 0;
    for (int i = 0; i < N; i++) {
        size_t s = 32 + (size_t)(i * 37 % 3000);
        keep[i] = malloc(s);
        if (!keep[i])
            return 2;
        memset(keep[i], 1, s);
        live += s;
    }
    struct mallinfo2 m1 = mallinfo2();
    size_t grew = m1.uordblks - m0.uordblks;
    report("mallinfo2.uordblks covers the live bytes",
           m1.uordblks >= m0.uordblks && grew >= live && grew <= live + live / 2 + MiB, "grew %zu for %zu live bytes",
           grew, live);
    report("mallinfo2.arena + hblkhd hold the live bytes", m1.arena + m1.hblkhd >= live,
           "arena+hblkhd %zu, live %zu", m1.arena + m1.hblkhd, live);
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
    struct mallinfo old = mallinfo();
#pragma GCC diagnostic pop
    size_t o = (size_t)(unsigned)old.uordblks;
    report("mallinfo agrees with mallinfo2", o + 65536 >= m1.uordblks && o <= m1.uordblks + 65536,
           "mallinfo %zu, mallinfo2 %zu", o, m1.uordblks);
    void *large = malloc(20 * MiB);
    if (!large)
        return 2;
    memset(large, 2, 20 * MiB);
    struct mallinfo2 m2 = mallinfo2();
    report("mallinfo2.uordblks + hblkhd count a 20 MiB block",
           m2.uordblks + m2.hblkhd >= m1.uordblks + m1.hblkhd + 20 * MiB, "%zu before, %zu after",
           m1.uordblks + m1.hblkhd, m2.uordblks + m2.hblkhd);
    free(large);
    for (int i = 0; i < N; i++)
        free(keep[i]);
    struct mallinfo2 m3 = mallinfo2();
    report("mallinfo2.uordblks falls after the frees", m3.uordblks + live / 2 <= m1.uordblks,
           "%zu before the frees, %zu after", m1.uordblks, m3.uordblks);

    /* Aligned blocks beside large ones (test_mp_os.c) through posix_memalign:
     * 16 KiB-aligned blocks keep their data and the large ones their size. */
    enum { B = 64 };
    unsigned char *big[B];
    void *al[B];
    size_t collided = 0;
    for (int i = 0; i < B; i++) {
        size_t s = 300000 + (size_t)i * 4096;
        big[i] = malloc(s);
        if (!big[i] || posix_memalign(&al[i], 16384, 64) != 0)
            return 2;
        memset(big[i], 'B', s);
        memset(al[i], 'a', 64);
        collided += malloc_usable_size(big[i]) < s;
    }
    size_t lost = 0;
    for (int i = 0; i < B; i++) {
        unsigned char *c = realloc(big[i], 400000 + (size_t)i * 4096);
        if (!c)
            return 2;
        for (size_t k = 0; k < 300000; k += 997)
            lost += c[k] != 'B';
        lost += ((unsigned char *)al[i])[63] != 'a';
        free(c);
        free(al[i]);
    }
    report("posix_memalign(16 KiB) beside large blocks", collided == 0 && lost == 0,
           "%zu large blocks lost their usable size, %zu bytes lost", collided, lost);

    /* Large realloc growth keeps every MiB. */
    unsigned char *g = NULL;
    size_t bad = 0;
    for (size_t n = MiB; n <= 128 * MiB; n += MiB) {
        unsigned char *q = realloc(g, n);
        if (!q)
            return 2;
        g = q;
        memset(g + n - MiB, (int)(n / MiB), MiB);
    }
    for (size_t n = MiB; n <= 128 * MiB; n += MiB)
        bad += g[n - 1] != (unsigned char)(n / MiB) || g[n - MiB] != (unsigned char)(n / MiB);
    free(g);
    report("realloc growth 1 -> 128 MiB keeps data", bad == 0, "%zu MiB steps lost", bad);

    /* 2 threads allocate and free 1 GiB; malloc_trim gives it back. */
    malloc_trim(0);
    pthread_t t[2];
    for (uintptr_t i = 0; i < 2; i++)
        if (pthread_create(&t[i], NULL, worker, (void *)i) != 0)
            return 2;
    uintptr_t wbad = 0;
    for (int i = 0; i < 2; i++) {
        void *rv;
        pthread_join(t[i], &rv);
        wbad += (uintptr_t)rv;
    }
    report("threads' blocks intact", wbad == 0, "%zu bad blocks", (size_t)wbad);
    size_t r1 = rss_bytes();
    int trimmed = malloc_trim(0);
    size_t r2 = rss_bytes();
    report("malloc_trim(0) returns 1 after 1 GiB was freed", trimmed == 1, "returned %d", trimmed);
    /* Against the RSS the program started with: whatever the earlier checks
     * left behind must go back too. */
    report("RSS after free + malloc_trim within 16 MiB of the start", r2 <= r_start + 16 * MiB,
           "%zu KiB above the program's start, %zu KiB before the trim", r2 > r_start ? (r2 - r_start) / 1024 : 0,
           r1 > r_start ? (r1 - r_start) / 1024 : 0);
    return failures ? 1 : 0;
}
