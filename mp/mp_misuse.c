/*
 * mp_misuse.c - the bottom of the memory pool's misuse checks: the free key,
 * the divisibility table behind the offset check, and the one-line report.
 *
 * Every level above calls in (the entry points, the thread caches, the
 * central lists, large blocks); this file calls nothing of mp's, so no level
 * calls up.  Deciding whether a suspicious pointer really is misuse (looking
 * for it in the caches, the central list, its span) is the thread cache's and
 * the central level's job; this file only says it and stops the program.
 */
#include "mp_internal.h"

#include <string.h>

uintptr_t mp__free_key;
uint64_t mp__class_divc[MP_NUM_CLASSES];
static int misuse_policy; /* 0 unread, 1 abort, 2 ignore */

void mp__misuse_init(void)
{
    if (__atomic_load_n(&mp__free_key, __ATOMIC_ACQUIRE) != 0)
        return;
    for (size_t c = 1; c < MP_NUM_CLASSES; c++)
        __atomic_store_n(&mp__class_divc[c], UINT64_MAX / mp__class_size[c] + 1, __ATOMIC_RELAXED);
    /* Why the top bit set: the key a block holds is this value xor its own
     * address, and addresses stay below 2^48, so a stored key is never zero,
     * a small number or a pointer, the values live data hold most. */
    uintptr_t key = (uintptr_t)ap__os_random() | ((uintptr_t)1 << 63);
    uintptr_t none = 0;
    __atomic_compare_exchange_n(&mp__free_key, &none, key, false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE);
}

__attribute__((constructor)) static void misuse_constructor(void)
{
    mp__misuse_init();
}

void mp__misuse(const char *what, const void *p)
{
    int policy = __atomic_load_n(&misuse_policy, __ATOMIC_RELAXED);
    if (policy == 0) {
        policy = ap__options()->misuse_ignore ? 2 : 1;
        __atomic_store_n(&misuse_policy, policy, __ATOMIC_RELAXED);
    }
    if (policy == 2)
        return;
    ap__os_fatal(what, "ptr", p, NULL, NULL);
}
