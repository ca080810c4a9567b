/*
 * tsan_mp.c - runs the threaded memory-pool cases (tests/mp_cases.h) from a
 * plain main, for the ThreadSanitizer build: Criterion 2.4 cannot start under
 * TSan.  Exit status 0 = all passed; TSan itself fails the run on a race
 * (TSAN_OPTIONS=halt_on_error=1, set by `make tsan`).
 */
#include <stdio.h>
#include <stdlib.h>

#define MP_CHECK(cond, msg)                                                                   \
    do {                                                                                      \
        if (!(cond)) {                                                                        \
            fprintf(stderr, "tsan_mp: %s:%d: check failed: %s\n", __FILE__, __LINE__, (msg)); \
            exit(1);                                                                          \
        }                                                                                     \
    } while (0)
#define MP_CASE_SCALE 2
#include "mp_cases.h"

/* Same arguments as tests/test_mp_threads.c (MP_CASE_SCALE shrinks them). */
static void stress(void) { mpc_case_stress(4, 40000); }
static void producer_consumer(void) { mpc_case_producer_consumer(200000); }
static void thread_churn(void) { mpc_case_thread_churn(2000); }
static void trim_while_running(void) { mpc_case_trim_while_running(20000); }
static void aligned_large(void) { mpc_case_aligned_large_stress(4, 6000); }
static void decay_while_running(void) { mpc_case_decay_while_running(20000); }

int main(void)
{
    static const struct {
        const char *name;
        void (*run)(void);
    } cases[] = {
        {"stress_cross_thread_frees_keep_data_intact", stress},
        {"producer_consumer_frees_on_the_other_thread", producer_consumer},
        {"thread_churn_keeps_memory_bounded", thread_churn},
        {"trim_and_stats_race_with_allocating_threads", trim_while_running},
        {"aligned_and_large_blocks_survive_cross_thread_frees", aligned_large},
        {"decay_passes_race_with_allocating_threads", decay_while_running},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        printf("tsan_mp: %s\n", cases[i].name);
        fflush(stdout);
        cases[i].run();
    }
    printf("tsan_mp: all passed\n");
    return 0;
}
