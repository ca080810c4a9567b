/*
 * ap_options.h - the process's run-time options: every ARENAPOOL_* variable
 * of the environment, read once, validated, and handed to the layers above.
 *
 * Variables (README.md and docs/api.md, "Environment", list them for users):
 *   ARENAPOOL_MISUSE=abort|ignore   what mp does on a double or foreign free
 *   ARENAPOOL_THP=0|1               transparent huge pages for mp's regions
 *   ARENAPOOL_SIM_PAGE_SIZE=16384|65536  tests: behave as on an OS with that page
 *   ARENAPOOL_SHOW_STATS=0|1        mp's statistics on stderr at exit
 *   ARENAPOOL_VERBOSE=0|1           the version and every option at start
 * A value outside its list, or an ARENAPOOL_* name not in it, gets one
 * warning line on stderr naming it, and the default stays in force.
 */
#ifndef AP_OPTIONS_H
#define AP_OPTIONS_H

#include "ap_build.h"

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ap_options {
    int misuse_ignore;    /* ARENAPOOL_MISUSE=ignore (default abort)   */
    int thp;              /* ARENAPOOL_THP=1 (default 0)               */
    size_t sim_page_size; /* ARENAPOOL_SIM_PAGE_SIZE; 0 = the OS's page */
    int show_stats;       /* ARENAPOOL_SHOW_STATS=1 (default 0)        */
    int verbose;          /* ARENAPOOL_VERBOSE=1 (default 0)           */
} ap_options_t;

/* The options, read from the environment on the first call (a library
 * constructor makes that call at start): warnings and, with
 * ARENAPOOL_VERBOSE=1, the effective values are written to stderr then.
 * Never allocates (environ is read in place, output goes through write(2)),
 * so it may be called from inside malloc, before main, from any thread.  A
 * later setenv is not seen. */
const ap_options_t *ap__options(void) AP__HIDDEN;

/* Tests only: read the environment again, after a setenv (warnings and
 * ARENAPOOL_VERBOSE's lines are written again).  A module that has already
 * acted on an option (mp's first misuse or first region) keeps its choice. */
void ap__options_reread(void) AP__HIDDEN;

#ifdef __cplusplus
}
#endif

#endif /* AP_OPTIONS_H */
