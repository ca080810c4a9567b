/*
 * mp_checker.c - the memory pool when ASan or Valgrind Memcheck watches the
 * process (ap_checker.h): freed blocks are poisoned, so a use after mp_free is
 * reported, and blocks handed out are made accessible again.
 *
 * Why the thread caches stay off then (mp_thread_cache.c): a thread keeps the
 * empty cache, whose lists have limit 0, so every mp_alloc and mp_free misses
 * its inline path and reaches mp__alloc_slow / mp__free_slow, which trade
 * single blocks with the central lists and call here.  So the inline paths
 * need no checker code and cost nothing more without a checker.  Called only
 * with a checker present.
 */
#include "mp_checker.h"

/* Why word 1 stays readable: it holds the free key that the double-free and
 * interior-pointer checks read (mp__small_ok), also from code built with ASan
 * (make asan) that must report a double free as misuse, not as a use after
 * poison.  Blocks are at least 16 bytes and 16-byte aligned, so the two
 * poisoned ranges are whole ASan granules. */
#define KEY_LO sizeof(uintptr_t)
#define KEY_HI (2 * sizeof(uintptr_t))

void mp__checker_alloc(void *p, size_t cls)
{
    ap__unpoison(p, mp__class_size[cls]);
}

void mp__checker_free(void *p, size_t cls)
{
    char *b = p;
    ap__poison(b, KEY_LO);
    ap__poison(b + KEY_HI, mp__class_size[cls] - KEY_HI);
}

/* Why defined rather than undefined: a large block's pages may be fresh from
 * the OS or dropped, and mp_calloc relies on them reading as zero.  Also
 * after a resize: pages added in place or by a move may carry the poison of a
 * block freed there before.  (The tail a shrink gives back is not poisoned:
 * it is back in the heap, where another thread may take it, before this
 * file could see it.) */
void mp__checker_large_alloc(void *p, size_t bytes)
{
    ap__reveal(p, bytes);
}

void mp__checker_span_new(void *p, size_t bytes)
{
    ap__reveal(p, bytes);
}

void mp__checker_large_free(void *p, size_t bytes)
{
    ap__poison(p, bytes);
}
