/*
 * arena_scratch.c - per-thread scratch arenas (the RAD Debugger's pattern).
 *
 * Each thread owns ARENA__SCRATCH_COUNT arenas, created on first use and
 * destroyed by a pthread key destructor at thread exit.  A function that is
 * handed an arena for its results and needs temporary memory of its own asks
 * for a scratch arena that is not that one, so its scratch rewind can never
 * free its caller's results.  Two suffice: at any depth a function conflicts
 * with at most the one arena its caller writes into.
 */
#include "arena_internal.h"

#include <errno.h>
#include <pthread.h>

#define ARENA__SCRATCH_COUNT 2

static _Thread_local arena_t *scratch[ARENA__SCRATCH_COUNT];
static pthread_key_t scratch_key;
static pthread_once_t scratch_once = PTHREAD_ONCE_INIT;
static int scratch_key_err;

static void scratch_release(void *unused)
{
    (void)unused;
    for (int i = 0; i < ARENA__SCRATCH_COUNT; i++) {
        arena_destroy(scratch[i]);
        scratch[i] = NULL;
    }
}

static void scratch_key_init(void)
{
    scratch_key_err = pthread_key_create(&scratch_key, scratch_release);
}

static bool conflicts_with(arena_t *a, arena_t *const *conflicts, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (conflicts[i] == a)
            return true;
    return false;
}

arena_mark_t arena_scratch_begin(arena_t *const *conflicts, size_t n)
{
    arena_mark_t none = {NULL, NULL, 0};
    if (conflicts == NULL && n > 0) {
        errno = EINVAL;
        return none;
    }
    for (int i = 0; i < ARENA__SCRATCH_COUNT; i++) {
        if (scratch[i] && conflicts_with(scratch[i], conflicts, n))
            continue;
        if (scratch[i] == NULL) {
            pthread_once(&scratch_once, scratch_key_init);
            if (scratch_key_err) {
                errno = ENOMEM;
                return none;
            }
            if ((scratch[i] = arena_create(NULL)) == NULL)
                return none;
            /* The key's value only has to be non-NULL for the destructor to run. */
            pthread_setspecific(scratch_key, scratch);
        }
        arena_mark_t m = arena_mark(scratch[i]);
        if (m.rec == NULL)
            return none;
        return m;
    }
    errno = EINVAL;
    return none;
}

void arena_scratch_end(arena_mark_t m)
{
    if (m.arena)
        arena_rewind(m.arena, m);
}
