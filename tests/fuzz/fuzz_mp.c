/*
 * fuzz_mp.c - libFuzzer harness for mp.h (the thread-caching memory pool)
 * against a shadow model: alloc, calloc, aligned alloc, realloc (grow, shrink,
 * to zero), free, free_sized, flush and trim.  After every step: live blocks
 * keep their patterns, none overlap, alignment holds, usable size covers the
 * request, failures are ENOMEM/EINVAL with the block intact.
 */
#include "fuzz_common.h"
#include "mp.h"

#include <errno.h>

enum { MAX_BLOCKS = 256 };

typedef struct {
    char *p;
    size_t n;
    uint32_t seed;
    int sized; /* may use mp_free_sized */
} block_t;

static block_t blocks[MAX_BLOCKS];
static size_t nblocks;
static uint32_t seed;

FUZZ_MODEL static void add(char *p, size_t n, size_t align, int sized)
{
    FUZZ_CHECK(((uintptr_t)p & (align - 1)) == 0);
    FUZZ_CHECK(mp_usable_size(p) >= n);
    size_t span = n ? n : 1; /* size 0 still gives a unique block */
    for (size_t i = 0; i < nblocks; i++)
        FUZZ_CHECK(!overlaps(p, span, blocks[i].p, blocks[i].n ? blocks[i].n : 1));
    block_t b = {p, n, seed++, sized};
    fill(p, n, b.seed);
    blocks[nblocks++] = b;
}

static void release(size_t i)
{
    block_t b = blocks[i];
    FUZZ_CHECK(intact(b.p, b.n, b.seed));
    if (b.sized)
        mp_free_sized(b.p, b.n);
    else
        mp_free(b.p);
    blocks[i] = blocks[--nblocks];
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    input_t in = {data, size};
    nblocks = 0;
    seed = 1;
    while (in.n) {
        uint8_t op = in_u8(&in) % 9;
        errno = 0;
        switch (op) {
        case 0:
        case 1: {
            if (nblocks == MAX_BLOCKS)
                break;
            size_t n = in_size(&in);
            char *p = mp_alloc(n);
            if (p)
                add(p, n, 16, 1);
            else
                FUZZ_CHECK(errno == ENOMEM && n > ((size_t)1 << 39));
            break;
        }
        case 2: {
            if (nblocks == MAX_BLOCKS)
                break;
            size_t n = in_u8(&in) % 32, m = in_size(&in);
            char *p = mp_calloc(n, m);
            if (p) {
                for (size_t i = 0; i < n * m; i += 61)
                    FUZZ_CHECK(p[i] == 0);
                add(p, n * m, 16, 1);
            } else {
                FUZZ_CHECK(errno == ENOMEM);
            }
            break;
        }
        case 3: {
            if (nblocks == MAX_BLOCKS)
                break;
            size_t al = in_u8(&in);
            al = al < 200 ? (size_t)1 << (al % 17) : al; /* some non powers of two */
            size_t n = in_size(&in);
            char *p = mp_aligned_alloc(al, n);
            int pow2 = al && !(al & (al - 1));
            if (p) {
                FUZZ_CHECK(pow2);
                add(p, n, al, 0);
            } else {
                FUZZ_CHECK(errno == (pow2 ? ENOMEM : EINVAL));
            }
            break;
        }
        case 4:
        case 5:
            if (nblocks)
                release(in_u16(&in) % nblocks);
            break;
        case 6: {
            if (nblocks == 0)
                break;
            size_t i = in_u16(&in) % nblocks;
            if (!blocks[i].sized)
                break; /* aligned blocks are not mp_realloc's */
            size_t n = in_u8(&in) < 16 ? 0 : in_size(&in);
            block_t b = blocks[i];
            char *q = mp_realloc(b.p, n);
            if (n == 0) {
                FUZZ_CHECK(q == NULL); /* freed, glibc style */
                blocks[i] = blocks[--nblocks];
            } else if (q == NULL) {
                FUZZ_CHECK(errno == ENOMEM);
                FUZZ_CHECK(intact(b.p, b.n, b.seed));
            } else {
                FUZZ_CHECK(intact(q, b.n < n ? b.n : n, b.seed));
                blocks[i] = blocks[--nblocks];
                add(q, n, 16, 1);
            }
            break;
        }
        case 7:
            if (in_u8(&in) < 16)
                mp_thread_flush();
            break;
        case 8:
            if (in_u8(&in) < 4)
                mp_trim();
            for (size_t i = 0; i < nblocks; i++)
                FUZZ_CHECK(intact(blocks[i].p, blocks[i].n, blocks[i].seed));
            break;
        }
    }
    while (nblocks)
        release(nblocks - 1);
    return 0;
}
