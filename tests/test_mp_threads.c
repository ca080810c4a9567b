/*
 * test_mp_threads.c - the memory pool across threads: randomised stress with
 * cross-thread frees and pattern checks, producer/consumer, thread churn,
 * trim racing with allocation, fork while other threads allocate.  The
 * bodies live in mp_cases.h so tests/tsan_mp.c runs them under TSan too.
 */
#include <criterion/criterion.h>

#define MP_CHECK(cond, msg) cr_assert((cond), "%s", (msg))
#include "mp_cases.h"

#include <sys/wait.h>
#include <unistd.h>

Test(mp, stress_cross_thread_frees_keep_data_intact)
{
    mpc_case_stress(4, 40000);
}

Test(mp, aligned_and_large_blocks_survive_cross_thread_frees, .timeout = 120)
{
    mpc_case_aligned_large_stress(4, 6000);
}

Test(mp, producer_consumer_frees_on_the_other_thread)
{
    mpc_case_producer_consumer(200000);
}

Test(mp, thread_churn_keeps_memory_bounded)
{
    mpc_case_thread_churn(2000);
}

Test(mp, trim_and_stats_race_with_allocating_threads)
{
    mpc_case_trim_while_running(20000);
}

Test(mp, decay_passes_race_with_allocating_threads)
{
    mpc_case_decay_while_running(20000);
}

static void *fork_worker(void *arg)
{
    atomic_int *stop = arg;
    uint64_t rng = 7;
    while (!atomic_load(stop)) {
        void *p = mp_alloc(mpc_size(&rng));
        mp_free(p);
    }
    return NULL;
}

Test(mp, fork_while_other_threads_allocate)
{
    static atomic_int stop;
    pthread_t t[2];
    for (int i = 0; i < 2; i++)
        cr_assert(pthread_create(&t[i], NULL, fork_worker, &stop) == 0);
    for (int round = 0; round < 8; round++) {
        pid_t pid = fork();
        cr_assert(pid >= 0);
        if (pid == 0) {
            /* The child must find every lock free and the pool usable; a
             * deadlocked child dies of SIGALRM instead of hanging the suite. */
            alarm(20);
            uint64_t rng = 99;
            for (int i = 0; i < 500; i++) {
                size_t size = mpc_size(&rng);
                void *p = mp_alloc(size);
                if (!p)
                    _exit(2);
                mpc_fill(p, size, 0);
                if (!mpc_check(p, size))
                    _exit(3);
                mp_free(p);
            }
            mp_trim();
            _exit(0);
        }
        int status;
        cr_assert(waitpid(pid, &status, 0) == pid);
        cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status %d", status);
    }
    atomic_store(&stop, 1);
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
}
