/*
 * test_mp_stats.c - what the memory pool tells about itself, through the
 * public API: arenapool_version() is the headers' number, mp_stats_print
 * writes the summary (figures equal to mp_stats, the classes in use, the OS
 * calls) without changing a figure it prints, and the environment is read
 * with a warning line for each mistyped value or unknown ARENAPOOL_* name.
 * tests/preload/stats.sh (make test-stats) checks the same at start and exit
 * of real processes, under the LD_PRELOAD library and Valgrind.
 */
#include <criterion/criterion.h>

#include "helpers.h"
#include "ap_options.h" /* ap__options_reread: the environment is read at start */
#include "mp.h"
#include "../include/arenapool/version.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

Test(mp_stats, version_is_the_headers_number)
{
    cr_assert_eq(arenapool_version(), ARENAPOOL_VERSION_NUMBER);
    char want[32];
    snprintf(want, sizeof want, "%d.%d.%d", arenapool_version() / 10000, arenapool_version() / 100 % 100,
             arenapool_version() % 100);
    cr_assert_str_eq(want, ARENAPOOL_VERSION);
}

/* Everything fn writes on the fd it is given, in out (NUL-terminated). */
static void capture(void (*fn)(int fd), char *out, size_t cap)
{
    int fd[2];
    cr_assert_eq(pipe(fd), 0);
    fn(fd[1]);
    close(fd[1]);
    read_to_end(fd[0], out, cap);
    close(fd[0]);
}

static int print_rc;
static void print_to(int fd) { print_rc = mp_stats_print(fd); }

/* The number after `label` on its line of the summary. */
static size_t figure(const char *text, const char *label)
{
    const char *at = strstr(text, label);
    cr_assert(at, "no \"%s\" in:\n%s", label, text);
    return (size_t)strtoull(at + strlen(label), NULL, 10);
}

Test(mp_stats, print_shows_the_figures_of_mp_stats_and_changes_none)
{
    void *small[300];
    for (int i = 0; i < 300; i++)
        cr_assert_not_null(small[i] = mp_alloc(48));
    void *big = mp_alloc(1 << 20);
    cr_assert_not_null(big);
    mp_stats_t before, after;
    mp_stats(&before);
    static char out[16384];
    capture(print_to, out, sizeof out);
    mp_stats(&after);
    cr_assert_eq(print_rc, 0);
    cr_assert(memcmp(&before, &after, sizeof before) == 0, "printing changed mp_stats");

    cr_assert(strstr(out, "arenapool: statistics (arenapool " ARENAPOOL_VERSION ")\n"), "%s", out);
    cr_assert_eq(figure(out, "in use"), before.in_use, "%s", out);
    cr_assert_geq(figure(out, "peak "), before.in_use, "%s", out);
    cr_assert_eq(figure(out, "mapped"), before.mapped, "%s", out);
    cr_assert_eq(figure(out, "cached"), before.cached, "%s", out);
    cr_assert_eq(figure(out, "large"), (size_t)1 << 20, "%s", out);
    cr_assert_geq(figure(out, "mmap "), 1, "%s", out);
    cr_assert(strstr(out, "munmap ") && strstr(out, "madvise ") && strstr(out, "mremap "), "%s", out);
    /* The 48-byte class's row: class, size, blocks in use (all 300), cached. */
    int found = 0;
    for (const char *l = out; *l; l = strchr(l, '\n') + 1) {
        unsigned long cls, size, used, cached;
        if (sscanf(l, "arenapool: %lu %lu %lu %lu", &cls, &size, &used, &cached) == 4 && size == 48) {
            cr_assert_eq(used, 300, "%s", out);
            found = 1;
        }
    }
    cr_assert(found, "no row for the 48-byte class:\n%s", out);
    for (const char *l = out; *l; l = strchr(l, '\n') + 1)
        cr_assert(strncmp(l, "arenapool: ", 11) == 0, "a line without the prefix: %s", l);

    for (int i = 0; i < 300; i++)
        mp_free(small[i]);
    mp_free(big);
}

Test(mp_stats, print_to_a_closed_fd_fails_with_ebadf)
{
    int fd[2];
    cr_assert_eq(pipe(fd), 0);
    close(fd[0]);
    close(fd[1]);
    errno = 0;
    cr_assert_eq(mp_stats_print(fd[1]), -1);
    cr_assert_eq(errno, EBADF);
}

/* The child's side of options_output: only `env`, whatever the suite was
 * started with, then the options read from it. */
static void options_child(void *env)
{
    clearenv();
    for (const char *const *e = env; *e; e++)
        putenv((char *)*e);
    ap__options_reread();
}

/* What reading the environment `env` ("NAME=value" entries, NULL-ended)
 * writes on stderr, from a child (its environment is its own). */
static void options_output(const char *const *env, char *out, size_t cap)
{
    int st = run_in_child(options_child, (void *)env, out, cap);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

static int lines(const char *s)
{
    int n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

Test(mp_stats, a_valid_environment_prints_nothing)
{
    const char *env[] = {"ARENAPOOL_MISUSE=ignore", "ARENAPOOL_THP=0", "ARENAPOOL_SHOW_STATS=0",
                         "ARENAPOOL_SIM_PAGE_SIZE=16384", "ARENAPOOL_VERBOSE=0", NULL};
    char out[2048];
    options_output(env, out, sizeof out);
    cr_assert_str_eq(out, "");
}

Test(mp_stats, mistyped_values_and_unknown_names_get_one_line_each)
{
    const char *env[] = {"ARENAPOOL_THP=yes", "ARENAPOOL_MISUSE=warn", "ARENAPOOL_SHOWSTATS=1",
                         "ARENAPOOL_SIM_PAGE_SIZE=4096", NULL};
    char out[2048];
    options_output(env, out, sizeof out);
    cr_assert_eq(lines(out), 4, "%s", out);
    cr_assert(strstr(out, "arenapool: warning: ARENAPOOL_THP=yes: not 0 or 1; ignored\n"), "%s", out);
    cr_assert(strstr(out, "arenapool: warning: ARENAPOOL_MISUSE=warn: not abort or ignore; ignored\n"), "%s",
              out);
    cr_assert(strstr(out, "arenapool: warning: ARENAPOOL_SHOWSTATS=1: unknown variable; ignored\n"), "%s",
              out);
    cr_assert(strstr(out, "arenapool: warning: ARENAPOOL_SIM_PAGE_SIZE=4096: not 16384 or 65536"), "%s", out);
}

Test(mp_stats, verbose_prints_the_version_and_every_option)
{
    const char *env[] = {"ARENAPOOL_VERBOSE=1", "ARENAPOOL_THP=1", "ARENAPOOL_THP=maybe", NULL};
    char out[2048];
    options_output(env, out, sizeof out);
    /* putenv of the same name replaces: THP=maybe is what the child has. */
    cr_assert(strstr(out, "arenapool: warning: ARENAPOOL_THP=maybe: not 0 or 1; ignored\n"), "%s", out);
    cr_assert(strstr(out, "arenapool: version " ARENAPOOL_VERSION " ("), "%s", out);
    cr_assert(strstr(out, "arenapool:   ARENAPOOL_MISUSE=abort\n"), "%s", out);
    cr_assert(strstr(out, "arenapool:   ARENAPOOL_THP=0\n"), "%s", out);
    cr_assert(strstr(out, "arenapool:   ARENAPOOL_SIM_PAGE_SIZE=0 (the OS's page)\n"), "%s", out);
    cr_assert(strstr(out, "arenapool:   ARENAPOOL_SHOW_STATS=0\n"), "%s", out);
    cr_assert(strstr(out, "arenapool:   ARENAPOOL_VERBOSE=1\n"), "%s", out);
    cr_assert_eq(lines(out), 7, "%s", out);
}
