/*
 * ap_options.c - the ARENAPOOL_* environment, read once (ap_options.h), and
 * the version the library was built as (arenapool_version).
 *
 * One pass over environ at start (a constructor, or the first allocation if
 * that comes earlier): each known name is parsed against its list of values,
 * anything else named ARENAPOOL_* is reported as unknown.  Why one place:
 * a reader per module used to check its own variable at its own time, so a
 * mistyped value or name was silently ignored.  Nothing here allocates.
 */
#include "ap_options.h"
#include "ap_out.h"

/* Why by path: the library builds with -Ios -Iarena -Ipool -Imp only. */
#include "../include/arenapool/version.h"

#include <stdatomic.h>
#include <string.h>

extern char **environ;

static ap_options_t opts;
static const ap_options_t defaults; /* while environ is not set up yet */
static _Atomic int opts_state; /* 0 unread, 1 being read, 2 ready */

int arenapool_version(void)
{
    return ARENAPOOL_VERSION_NUMBER;
}

/* ---- One variable ---- */

typedef struct known {
    const char *name;
    const char *values[3]; /* the accepted spellings, index = value code */
    const char *expect;    /* for the warning: what would have been valid */
} known_t;

enum { OPT_MISUSE, OPT_THP, OPT_SIM_PAGE, OPT_SHOW_STATS, OPT_VERBOSE, OPT_COUNT };

static const known_t known[OPT_COUNT] = {
    [OPT_MISUSE] = {"ARENAPOOL_MISUSE", {"abort", "ignore"}, "abort or ignore"},
    [OPT_THP] = {"ARENAPOOL_THP", {"0", "1"}, "0 or 1"},
    [OPT_SIM_PAGE] = {"ARENAPOOL_SIM_PAGE_SIZE", {"0", "16384", "65536"}, "16384 or 65536"},
    [OPT_SHOW_STATS] = {"ARENAPOOL_SHOW_STATS", {"0", "1"}, "0 or 1"},
    [OPT_VERBOSE] = {"ARENAPOOL_VERBOSE", {"0", "1"}, "0 or 1"},
};

static const size_t sim_pages[] = {0, 16384, 65536};

/* One line: "arenapool: warning: NAME=value: what; ignored". */
static void warn(const char *entry, const char *what, const char *expect)
{
    ap_out_t o = {.len = 0};
    ap__out_str(&o, "arenapool: warning: ");
    /* the entry as it stands, cut so the explanation still fits */
    for (size_t i = 0; entry[i] && o.len < sizeof o.buf - 100; i++)
        o.buf[o.len++] = entry[i];
    ap__out_str(&o, ": ");
    ap__out_str(&o, what);
    ap__out_str(&o, expect);
    ap__out_str(&o, "; ignored\n");
    ap__out_flush(&o, 2);
}

/* The code of the value in `entry` for variable k, or -1 (warned). */
static int parse(int k, const char *entry, size_t name_len)
{
    const char *value = entry + name_len + 1;
    for (int v = 0; v < 3 && known[k].values[v]; v++)
        if (strcmp(value, known[k].values[v]) == 0)
            return v;
    warn(entry, "not ", known[k].expect);
    return -1;
}

static void read_environ(ap_options_t *o)
{
    static const char prefix[] = "ARENAPOOL_";
    for (char **e = environ; *e; e++) {
        const char *entry = *e;
        if (strncmp(entry, prefix, sizeof prefix - 1) != 0)
            continue;
        const char *eq = strchr(entry, '=');
        size_t name_len = eq ? (size_t)(eq - entry) : strlen(entry);
        int k = 0;
        while (k < OPT_COUNT && !(strlen(known[k].name) == name_len &&
                                  strncmp(entry, known[k].name, name_len) == 0))
            k++;
        if (k == OPT_COUNT || !eq) {
            warn(entry, k == OPT_COUNT ? "unknown variable" : "no value", "");
            continue;
        }
        int v = parse(k, entry, name_len);
        if (v < 0)
            continue;
        switch (k) {
        case OPT_MISUSE: o->misuse_ignore = v; break;
        case OPT_THP: o->thp = v; break;
        case OPT_SIM_PAGE: o->sim_page_size = sim_pages[v]; break;
        case OPT_SHOW_STATS: o->show_stats = v; break;
        case OPT_VERBOSE: o->verbose = v; break;
        }
    }
}

/* ---- ARENAPOOL_VERBOSE=1 ---- */

static void print_one(const char *name, const char *value)
{
    ap_out_t o = {.len = 0};
    ap__out_str(&o, "arenapool:   ");
    ap__out_str(&o, name);
    ap__out_str(&o, "=");
    ap__out_str(&o, value);
    ap__out_str(&o, "\n");
    ap__out_flush(&o, 2);
}

static void print_options(const ap_options_t *o)
{
    ap_out_t v = {.len = 0};
    ap__out_str(&v, "arenapool: version " ARENAPOOL_VERSION " (");
    ap__out_u(&v, (uint64_t)arenapool_version(), 0);
    ap__out_str(&v, "), options in effect:\n");
    ap__out_flush(&v, 2);
    print_one(known[OPT_MISUSE].name, known[OPT_MISUSE].values[o->misuse_ignore]);
    print_one(known[OPT_THP].name, known[OPT_THP].values[o->thp]);
    print_one(known[OPT_SIM_PAGE].name, o->sim_page_size == 65536   ? "65536"
                                        : o->sim_page_size == 16384 ? "16384"
                                                                    : "0 (the OS's page)");
    print_one(known[OPT_SHOW_STATS].name, known[OPT_SHOW_STATS].values[o->show_stats]);
    print_one(known[OPT_VERBOSE].name, known[OPT_VERBOSE].values[o->verbose]);
}

/* ---- Reading once ---- */

static AP__NOINLINE AP__COLD const ap_options_t *options_slow(void)
{
    /* Why not cached while environ is unset: a malloc from the dynamic
     * loader, before libc has set it up, would otherwise fix the defaults. */
    if (environ == NULL)
        return &defaults;
    int expect = 0;
    if (atomic_compare_exchange_strong_explicit(&opts_state, &expect, 1, memory_order_acq_rel,
                                                memory_order_acquire)) {
        ap_options_t o = {0};
        read_environ(&o);
        opts = o;
        atomic_store_explicit(&opts_state, 2, memory_order_release);
        if (o.verbose)
            print_options(&o);
        return &opts;
    }
    /* Another thread is reading: a few microseconds, once per process. */
    while (atomic_load_explicit(&opts_state, memory_order_acquire) != 2)
        ;
    return &opts;
}

const ap_options_t *ap__options(void)
{
    if (AP__LIKELY(atomic_load_explicit(&opts_state, memory_order_acquire) == 2))
        return &opts;
    return options_slow();
}

void ap__options_reread(void)
{
    (void)ap__options();
    atomic_store_explicit(&opts_state, 0, memory_order_release);
    (void)ap__options();
}

/* At start, so warnings and ARENAPOOL_VERBOSE's lines come before the
 * program's own output even when nothing allocates early. */
__attribute__((constructor)) static void options_constructor(void)
{
    (void)ap__options();
}
