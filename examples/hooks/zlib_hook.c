/*
 * zlib_hook.c - zlib's zalloc/zfree from an arena per stream.
 *
 * Compresses and decompresses MB megabytes of generated, partly repetitive
 * text (log-like lines) STREAMS times, each stream (deflate and inflate) with
 * its own scope of one arena: a mark before deflateInit, a rewind after
 * inflateEnd.  Checks the round trip and that the compressed bytes equal
 * those made with zlib's default allocator, and that the mmap count stays flat
 * after the first stream.  Usage: zlib_hook [MB] [STREAMS].
 */
#include "allocator.h"

#include <zlib.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* zlib asks for items * size bytes and frees them at deflateEnd/inflateEnd;
 * zfree is the arena's no-op, the rewind after the stream frees it all. */
static voidpf z_hook_alloc(voidpf opaque, uInt items, uInt size)
{
    const allocator_t *al = opaque;
    if (size && items > SIZE_MAX / size)
        return Z_NULL;
    return allocator_alloc(al, (size_t)items * size);
}

static void z_hook_free(voidpf opaque, voidpf p)
{
    const allocator_t *al = opaque;
    allocator_free(al, p, 0);
}

static void make_input(unsigned char *buf, size_t n)
{
    static const char *words[] = {"GET", "POST", "/index.html", "/api/v1/items", "200", "404",
                                  "user", "agent", "curl/8.5", "Mozilla/5.0", "latency", "ms"};
    uint64_t x = 0x243F6A8885A308D3ull;
    size_t i = 0;
    while (i < n) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        const char *w = words[x % 12];
        int len = snprintf((char *)buf + i, n - i, "%s %u ", w, (unsigned)(x >> 40) % 1000);
        if (len < 0 || (size_t)len >= n - i)
            break;
        i += (size_t)len;
        if (x % 7 == 0 && i < n)
            buf[i++] = '\n';
    }
    memset(buf + i, '.', n - i);
}

/* Compress in into out (capacity *outn), with al or zlib's default when NULL. */
static int deflate_all(const allocator_t *al, const unsigned char *in, size_t n,
                       unsigned char *out, size_t *outn)
{
    z_stream z = {0};
    if (al) {
        z.zalloc = z_hook_alloc;
        z.zfree = z_hook_free;
        z.opaque = (voidpf)al;
    }
    if (deflateInit(&z, 6) != Z_OK)
        return -1;
    z.next_in = (Bytef *)in;
    z.avail_in = (uInt)n;
    z.next_out = out;
    z.avail_out = (uInt)*outn;
    int rc = deflate(&z, Z_FINISH);
    *outn = z.total_out;
    deflateEnd(&z);
    return rc == Z_STREAM_END ? 0 : -1;
}

static int inflate_all(const allocator_t *al, const unsigned char *in, size_t n,
                       unsigned char *out, size_t *outn)
{
    z_stream z = {0};
    z.zalloc = z_hook_alloc;
    z.zfree = z_hook_free;
    z.opaque = (voidpf)al;
    if (inflateInit(&z) != Z_OK)
        return -1;
    z.next_in = (Bytef *)in;
    z.avail_in = (uInt)n;
    /* Small output steps: many inflate calls, as a streaming reader makes. */
    size_t done = 0;
    int rc = Z_OK;
    while (rc == Z_OK) {
        z.next_out = out + done;
        z.avail_out = (uInt)(*outn - done < 65536 ? *outn - done : 65536);
        rc = inflate(&z, Z_NO_FLUSH);
        done = z.total_out;
        if (rc == Z_BUF_ERROR && done == *outn)
            break;
    }
    *outn = done;
    inflateEnd(&z);
    return rc == Z_STREAM_END ? 0 : -1;
}

int main(int argc, char **argv)
{
    size_t mb = argc > 1 ? strtoul(argv[1], NULL, 10) : 4;
    int streams = argc > 2 ? atoi(argv[2]) : 4, fails = 0;
    size_t n = mb << 20, cap = compressBound((uLong)n);
    unsigned char *in = malloc(n), *ref = malloc(cap), *z = malloc(cap), *back = malloc(n);
    if (!in || !ref || !z || !back)
        return 1;
    make_input(in, n);

    size_t refn = cap;
    if (deflate_all(NULL, in, n, ref, &refn) != 0)
        return 1;
    printf("zlib default: %zu -> %zu bytes\n", n, refn);

    arena_t *a = arena_create(NULL);
    if (a == NULL)
        return 1;
    allocator_t al = allocator_from_arena(a);
    size_t mmaps_first = 0;
    for (int s = 0; s < streams; s++) {
        arena_mark_t m = arena_mark(a);
        size_t zn = cap, bn = n;
        int ok = deflate_all(&al, in, n, z, &zn) == 0 && zn == refn && memcmp(z, ref, zn) == 0;
        ok = ok && inflate_all(&al, z, zn, back, &bn) == 0 && bn == n && memcmp(back, in, n) == 0;
        arena_stats_t st;
        arena_stats(a, &st);
        if (arena_rewind(a, m) != 0)
            ok = 0;
        if (s == 0)
            mmaps_first = st.mmaps;
        else if (st.mmaps != mmaps_first)
            ok = 0;
        printf("arena stream %d: %zu -> %zu bytes, round trip %s, arena peak %zu KiB, mmaps %zu\n",
               s, n, zn, ok ? "ok" : "FAILED", st.peak / 1024, st.mmaps);
        fails += !ok;
    }
    arena_destroy(a);
    free(in), free(ref), free(z), free(back);
    printf("zlib_hook: %s\n", fails ? "FAILED" : "ok");
    return fails != 0;
}
