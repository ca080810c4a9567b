/*
 * driver.c - runs tests/test_*.c, built against the Criterion stand-in in
 * shim/criterion/criterion.h, one forked child per test (make valgrind).
 *
 *   driver [-x GLOB]... [-l]     -x: skip tests whose "suite/name" matches GLOB
 *                                -l: list the tests that would run
 * A child passes if it exits 0 (or dies of the test's .signal / exits with
 * its .exit_code).  Under Memcheck with --error-exitcode=1 a child that
 * reports an error or a definite leak exits 1, so that fails its test too;
 * assertion failures exit 2 and timeouts die of SIGALRM.  Exit status: 0 if
 * every test that ran passed.
 */
#include <criterion/criterion.h>

#include <errno.h>
#include <fnmatch.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_TESTS 1024
#define MAX_SUITES 64
#define DEFAULT_TIMEOUT 120 /* seconds, under Memcheck */

typedef struct {
    const char *suite, *name;
    void (*fn)(void);
    const struct vgt_attrs *a;
} test_t;

static test_t tests[MAX_TESTS];
static size_t ntests;
static struct {
    const char *name;
    const struct vgt_attrs *a;
} suites[MAX_SUITES];
static size_t nsuites;

void vgt_register_test(const char *suite, const char *name, void (*fn)(void), const struct vgt_attrs *a)
{
    if (ntests == MAX_TESTS) {
        fprintf(stderr, "driver: more than %d tests\n", MAX_TESTS);
        exit(3);
    }
    tests[ntests++] = (test_t){suite, name, fn, a};
}

void vgt_register_suite(const char *suite, const struct vgt_attrs *a)
{
    if (nsuites == MAX_SUITES) {
        fprintf(stderr, "driver: more than %d suites\n", MAX_SUITES);
        exit(3);
    }
    suites[nsuites].name = suite;
    suites[nsuites++].a = a;
}

/* Exit status of a child whose test called cr_skip_test. */
#define SKIP_STATUS 77

/* The rest of a report line (printf-style), then the child's exit. */
static _Noreturn void finish(int status, const char *fmt, va_list ap)
{
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    fflush(stderr);
    exit(status);
}

void vgt_fail(const char *file, int line, const char *expr, const char *fmt, ...)
{
    fprintf(stderr, "  %s:%d: assertion failed: %s\n   ", file, line, expr);
    va_list ap;
    va_start(ap, fmt);
    finish(2, fmt, ap);
}

void vgt_skip(const char *fmt, ...)
{
    fprintf(stderr, "  skipped:");
    va_list ap;
    va_start(ap, fmt);
    finish(SKIP_STATUS, fmt, ap);
}

static const struct vgt_attrs *suite_of(const char *name)
{
    for (size_t i = 0; i < nsuites; i++)
        if (strcmp(suites[i].name, name) == 0)
            return suites[i].a;
    return NULL;
}

static int cmp_test(const void *x, const void *y)
{
    const test_t *a = x, *b = y;
    int c = strcmp(a->suite, b->suite);
    return c ? c : strcmp(a->name, b->name);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* 1 passed, 0 failed, -1 skipped by the test itself. */
static int run_one(const test_t *t)
{
    const struct vgt_attrs *s = suite_of(t->suite);
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        perror("driver: fork");
        return 0;
    }
    if (pid == 0) {
        alarm(t->a->timeout > 0 ? (unsigned)t->a->timeout * 20 : DEFAULT_TIMEOUT);
        if (s && s->init)
            s->init();
        if (t->a->init)
            t->a->init();
        t->fn();
        if (t->a->fini)
            t->a->fini();
        if (s && s->fini)
            s->fini();
        exit(0);
    }
    int st;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
    }
    if (t->a->signal)
        return WIFSIGNALED(st) && WTERMSIG(st) == t->a->signal;
    if (WIFEXITED(st) && WEXITSTATUS(st) == t->a->exit_code)
        return 1;
    if (WIFEXITED(st) && WEXITSTATUS(st) == SKIP_STATUS)
        return -1;
    if (WIFEXITED(st))
        fprintf(stderr, "  exit status %d (%s)\n", WEXITSTATUS(st),
                WEXITSTATUS(st) == 1 ? "Memcheck reported errors" : WEXITSTATUS(st) == 2 ? "assertion" : "?");
    else if (WIFSIGNALED(st))
        fprintf(stderr, "  killed by signal %d%s\n", WTERMSIG(st), WTERMSIG(st) == SIGALRM ? " (timeout)" : "");
    return 0;
}

int main(int argc, char **argv)
{
    const char *skip[64];
    size_t nskip = 0;
    int list = 0, opt;
    while ((opt = getopt(argc, argv, "x:l")) != -1) {
        if (opt == 'x' && nskip < 64)
            skip[nskip++] = optarg;
        else if (opt == 'l')
            list = 1;
        else {
            fprintf(stderr, "usage: %s [-x GLOB]... [-l]\n", argv[0]);
            return 3;
        }
    }
    qsort(tests, ntests, sizeof tests[0], cmp_test);
    size_t ran = 0, passed = 0, skipped = 0;
    double t0 = now_s();
    for (size_t i = 0; i < ntests; i++) {
        const test_t *t = &tests[i];
        char id[256];
        snprintf(id, sizeof id, "%s/%s", t->suite, t->name);
        int excluded = t->a->disabled;
        for (size_t k = 0; k < nskip && !excluded; k++)
            excluded = fnmatch(skip[k], id, 0) == 0;
        if (excluded) {
            skipped++;
            continue;
        }
        if (list) {
            printf("%s\n", id);
            continue;
        }
        double t1 = now_s();
        int ok = run_one(t);
        if (ok < 0) {
            skipped++;
            printf("[SKIP] %s (%.2f s)\n", id, now_s() - t1);
            continue;
        }
        ran++;
        passed += ok != 0;
        printf("[%s] %s (%.2f s)\n", ok ? "PASS" : "FAIL", id, now_s() - t1);
        fflush(stdout);
    }
    /* A pattern that matches nothing is stale (a renamed test): say so. */
    for (size_t k = 0; k < nskip; k++) {
        int hit = 0;
        for (size_t i = 0; i < ntests && !hit; i++) {
            char id[256];
            snprintf(id, sizeof id, "%s/%s", tests[i].suite, tests[i].name);
            hit = fnmatch(skip[k], id, 0) == 0;
        }
        if (!hit)
            printf("[WARN] driver: -x %s matches no test\n", skip[k]);
    }
    if (!list)
        printf("[====] driver: %zu tests, %zu ran, %zu passed, %zu failed, %zu skipped, %.1f s\n", ntests, ran,
               passed, ran - passed, skipped, now_s() - t0);
    return passed == ran ? 0 : 1;
}
