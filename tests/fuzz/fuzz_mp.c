/*
 * fuzz_mp.c - libFuzzer harness for mp.h (the thread-caching memory pool)
 * against a shadow model: alloc, calloc, aligned alloc (alignments up to
 * 1 MiB), realloc (grow, shrink, to zero, aligned blocks too), free,
 * free_sized, flush and trim, copies of never-written bytes between blocks
 * before a free, with sizes from 0 into the MiBs (around 8 KiB
 * page multiples too) and up to 256 blocks kept live across the whole input.
 * Big sizes are rare (page faults make them cost milliseconds each).
 * On every free and realloc the block's own pattern is checked (every byte of
 * small blocks; head, tail and a byte in every 4 KiB page of big ones), and
 * every live block's usable size and pattern after a trim or a flush: a block
 * that lost its page-map entry or its data to a neighbour is caught there.
 */
#include "fuzz_common.h"
#include "mp.h"

#include <errno.h>

enum { MAX_BLOCKS = 256 };

/* Live bytes are capped so that an input of many MiB-sized blocks stays
 * within libFuzzer's RSS limit (every page of a block is written). */
#define MAX_LIVE ((size_t)192 << 20)

typedef struct {
    char *p;
    size_t n;
    uint32_t seed;
    int sized; /* may use mp_free_sized */
} block_t;

static block_t blocks[MAX_BLOCKS];
static size_t nblocks, live_bytes;
static uint32_t seed;

/* Sizes for this harness: mostly small, some medium, large ones into the
 * MiBs, some at 4 KiB steps past 300 000 (not multiples of mp's 8 KiB page),
 * rarely absurd. */
static size_t mp_in_size(input_t *in)
{
    uint8_t k = in_u8(in);
    if (k < 180)
        return in_u16(in) % 512;
    if (k < 236)
        return (size_t)in_u16(in) * ((k & 1) + 1);
    if (k < 244)
        return ((size_t)256 << 10) + (size_t)in_u16(in) * (8 + (k & 7) * 8); /* 256 KiB .. ~4.3 MiB */
    if (k < 252)
        return 300000 + (size_t)in_u8(in) * 4096 + (k & 1) * 12345;
    if (k < 254)
        return SIZE_MAX - in_u8(in);
    return (size_t)1 << (40 + (in_u8(in) % 23));
}

/* Patterns: every byte up to 64 KiB; beyond, the first and last 4 KiB and
 * one byte in each 4 KiB page, so a MiB-sized block costs little.  The
 * dense part is fuzz_common.h's fill(); dense_ok checks all of it (intact()
 * looks only at the ends of blocks above 1 KiB). */
#define DENSE ((size_t)64 << 10)

FUZZ_MODEL static int dense_ok(const char *p, size_t m, uint32_t s)
{
    const unsigned char *b = (const unsigned char *)p;
    for (size_t i = 0; i < m; i++)
        if (b[i] != (unsigned char)(s + i * 13u + (i >> 8)))
            return 0;
    return 1;
}

/* Blocks above DENSE get one byte in each 4 KiB page from the second up to
 * the tail, at an offset in the page drawn from the seed. */
#define SPARSE_AT(i, s) ((i) + ((s) & 1023))

FUZZ_MODEL static void mp_fill(char *p, size_t n, uint32_t s)
{
    if (n <= DENSE) {
        fill(p, n, s);
        return;
    }
    fill(p, 4096, s);
    for (size_t i = 4096; i + 1024 < n - 4096; i += 4096)
        p[SPARSE_AT(i, s)] = (char)(s + i / 4096);
    unsigned char *t = (unsigned char *)p + n - 4096;
    for (size_t i = 0; i < 4096; i++)
        t[i] = (unsigned char)(s * 7 + i);
}

/* The bytes [0, m) of a block filled for n bytes with seed s (m >= n: all). */
FUZZ_MODEL static int mp_intact_prefix(const char *p, size_t n, size_t m, uint32_t s)
{
    if (m > n)
        m = n;
    if (n <= DENSE)
        return dense_ok(p, m, s);
    if (!dense_ok(p, m < 4096 ? m : 4096, s))
        return 0;
    for (size_t i = 4096; i + 1024 < n - 4096; i += 4096)
        if (SPARSE_AT(i, s) < m && p[SPARSE_AT(i, s)] != (char)(s + i / 4096))
            return 0;
    if (m == n) {
        const unsigned char *t = (const unsigned char *)p + n - 4096;
        for (size_t i = 0; i < 4096; i++)
            if (t[i] != (unsigned char)(s * 7 + i))
                return 0;
    }
    return 1;
}

FUZZ_MODEL static int mp_intact(const char *p, size_t n, uint32_t s) { return mp_intact_prefix(p, n, n, s); }

/* Every live block still has its usable size and its pattern. */
FUZZ_MODEL static void check_live(void)
{
    for (size_t i = 0; i < nblocks; i++) {
        FUZZ_CHECK(mp_usable_size(blocks[i].p) >= blocks[i].n);
        FUZZ_CHECK(mp_intact(blocks[i].p, blocks[i].n, blocks[i].seed));
    }
}

FUZZ_MODEL static void add(char *p, size_t n, size_t align, int sized)
{
    FUZZ_CHECK(((uintptr_t)p & (align - 1)) == 0);
    FUZZ_CHECK(mp_usable_size(p) >= n);
    size_t span = n ? n : 1; /* size 0 still gives a unique block */
    for (size_t i = 0; i < nblocks; i++)
        FUZZ_CHECK(!overlaps(p, span, blocks[i].p, blocks[i].n ? blocks[i].n : 1));
    block_t b = {p, n, seed++, sized};
    mp_fill(p, n, b.seed);
    blocks[nblocks++] = b;
    live_bytes += n;
}

static void release(size_t i)
{
    block_t b = blocks[i];
    FUZZ_CHECK(mp_usable_size(b.p) >= b.n);
    FUZZ_CHECK(mp_intact(b.p, b.n, b.seed));
    live_bytes -= b.n;
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
    live_bytes = 0;
    seed = 1;
    while (in.n) {
        uint8_t op = in_u8(&in) % 10;
        errno = 0;
        switch (op) {
        case 0:
        case 1: {
            if (nblocks == MAX_BLOCKS)
                break;
            size_t n = mp_in_size(&in);
            if (n <= MAX_LIVE && live_bytes + n > MAX_LIVE)
                break;
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
            size_t n = in_u8(&in) % 32, m = mp_in_size(&in);
            if (m > DENSE && n > 2)
                n = 2; /* keeps inputs cheap: big callocs fault in every page */
            if (m <= MAX_LIVE && live_bytes + n * m > MAX_LIVE)
                break;
            char *p = mp_calloc(n, m);
            if (p) {
                for (size_t i = 0; i < n * m; i += i < 65536 ? 61 : 4093)
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
            /* 1 B .. 1 MiB, half of them 16 KiB or more; some non powers of two */
            al = al < 100 ? (size_t)1 << (al % 21) : al < 200 ? (size_t)1 << (14 + al % 7) : al;
            size_t n = in_u8(&in) < 128 ? in_u16(&in) % 4097 : mp_in_size(&in);
            if (n <= MAX_LIVE && live_bytes + n > MAX_LIVE)
                break;
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
            size_t n = in_u8(&in) < 16 ? 0 : mp_in_size(&in);
            block_t b = blocks[i];
            if (n <= MAX_LIVE && n > b.n && live_bytes + n - b.n > MAX_LIVE)
                break;
            FUZZ_CHECK(mp_intact(b.p, b.n, b.seed));
            char *q = mp_realloc(b.p, n);
            if (n == 0) {
                FUZZ_CHECK(q == NULL); /* freed, glibc style */
                live_bytes -= b.n;
                blocks[i] = blocks[--nblocks];
            } else if (q == NULL) {
                FUZZ_CHECK(errno == ENOMEM);
                FUZZ_CHECK(mp_intact(b.p, b.n, b.seed));
            } else {
                FUZZ_CHECK(mp_intact_prefix(q, b.n, n, b.seed));
                live_bytes -= b.n;
                blocks[i] = blocks[--nblocks];
                /* An aligned block resized in place is still one (not for
                 * mp_free_sized); a moved one came from mp_alloc. */
                add(q, n, 16, q != b.p || b.sized);
            }
            break;
        }
        case 7:
            if (in_u8(&in) < 16) {
                mp_thread_flush();
                check_live();
            }
            break;
        case 8:
            if (in_u8(&in) < 4)
                mp_trim();
            check_live();
            break;
        case 9: {
            /* A correct program that looks like misuse: bytes of a fresh
             * block, never written (they hold whatever the block's memory
             * held before), copied into another block that is then freed or
             * realloc'd.  No report may come of it. */
            size_t na = mp_in_size(&in), nb = mp_in_size(&in);
            if (na > MAX_LIVE || nb > MAX_LIVE || live_bytes + na + nb > MAX_LIVE || nblocks == MAX_BLOCKS)
                break;
            char *a = mp_alloc(na), *b = mp_alloc(nb);
            if (a && b) {
                size_t k = na < nb ? na : nb;
                memcpy(b, a, k < 4096 ? k : 4096);
                if (in_u8(&in) & 1) {
                    mp_free(b);
                } else {
                    char *q = mp_realloc(b, (size_t)in_u8(&in) + 1);
                    if (q)
                        mp_free(q);
                    else
                        mp_free(b);
                }
                add(a, na, 16, 1);
            } else {
                mp_free(a);
                mp_free(b);
            }
            break;
        }
        }
    }
    while (nblocks)
        release(nblocks - 1);
    return 0;
}
