/*
 * fuzz_common.h - input decoding, patterns and checks shared by the libFuzzer
 * harnesses.  A harness reads its input as a stream of operations; when the
 * input runs out every read returns 0, so any byte string is a valid program.
 */
#ifndef ARENAPOOL_FUZZ_COMMON_H
#define ARENAPOOL_FUZZ_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const uint8_t *p;
    size_t n;
} input_t;

static inline uint8_t in_u8(input_t *in)
{
    if (in->n == 0)
        return 0;
    in->n--;
    return *in->p++;
}

static inline uint16_t in_u16(input_t *in)
{
    uint16_t lo = in_u8(in);
    return (uint16_t)(lo | (uint16_t)in_u8(in) << 8);
}

/* A size: mostly small, sometimes up to a few hundred KiB, rarely absurd. */
static inline size_t in_size(input_t *in)
{
    uint8_t k = in_u8(in);
    if (k < 200)
        return in_u16(in) % 512;
    if (k < 250)
        return (size_t)in_u16(in) * ((k & 1) + 1);
    if (k < 254)
        return SIZE_MAX - in_u8(in);
    return (size_t)1 << (40 + (in_u8(in) % 23));
}

/* The shadow model's own loops (pattern fills, overlap scans) are not code
 * under test: keeping coverage instrumentation out of them makes each input
 * several times cheaper, so more inputs run in the same time. */
#if defined(__clang__)
#define FUZZ_MODEL __attribute__((no_sanitize("coverage")))
#else
#define FUZZ_MODEL
#endif

FUZZ_MODEL static inline void fill(void *p, size_t n, uint32_t seed)
{
    unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        b[i] = (unsigned char)(seed + i * 13u + (i >> 8));
}

/* Check the whole block when small, else its head and tail. */
FUZZ_MODEL static inline int intact(const void *p, size_t n, uint32_t seed)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) {
        if (b[i] != (unsigned char)(seed + i * 13u + (i >> 8)))
            return 0;
        if (i == 255 && n > 1024)
            i = n - 257;
    }
    return 1;
}

#define FUZZ_CHECK(c)                                                                          \
    do {                                                                                       \
        if (!(c)) {                                                                            \
            fprintf(stderr, "%s:%d: model check failed: %s\n", __FILE__, __LINE__, #c);        \
            abort();                                                                           \
        }                                                                                      \
    } while (0)

FUZZ_MODEL static inline int overlaps(const void *a, size_t an, const void *b, size_t bn)
{
    uintptr_t x = (uintptr_t)a, y = (uintptr_t)b;
    if (an == 0 || bn == 0)
        return 0; /* zero-size blocks may share an address */
    return x < y + bn && y < x + an;
}

#endif
