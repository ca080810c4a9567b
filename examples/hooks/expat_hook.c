/*
 * expat_hook.c - expat's XML_ParserCreate_MM with an arena per document.
 *
 * Generates DOCS XML documents (nested elements, attributes, character data,
 * entity and character references, CDATA, comments; about KB kilobytes each),
 * parses each with expat's default allocator and with an arena that lives for
 * one document (reset after XML_ParserFree), feeding 4 KiB pieces or the whole
 * document at once (so expat grows its buffers by realloc), and checks
 * that the handlers see the same events (a digest of every element name,
 * attribute and text byte).  Usage: expat_hook [KB] [DOCS].
 */
#include "allocator.h"

#include <expat.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* XML_Memory_Handling_Suite has no context pointer and its realloc passes no
 * old size: the arena for the current document is a thread-local, and the
 * sizes live in allocator_unsized_* headers. */
static _Thread_local const allocator_t *cur_al;

static void *x_malloc(size_t n) { return allocator_unsized_alloc(cur_al, n); }
static void *x_realloc(void *p, size_t n) { return allocator_unsized_realloc(cur_al, p, n); }
static void x_free(void *p) { allocator_unsized_free(cur_al, p); }

typedef struct digest {
    uint64_t h;
    size_t elements, attrs, text;
    int depth, max_depth;
} digest_t;

static void mix(digest_t *d, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        d->h = (d->h ^ (unsigned char)s[i]) * 0x100000001B3ull;
}

static void XMLCALL on_start(void *ud, const XML_Char *name, const XML_Char **atts)
{
    digest_t *d = ud;
    d->elements++;
    if (++d->depth > d->max_depth)
        d->max_depth = d->depth;
    mix(d, name, strlen(name));
    for (; atts[0]; atts += 2, d->attrs++) {
        mix(d, atts[0], strlen(atts[0]));
        mix(d, atts[1], strlen(atts[1]));
    }
}

static void XMLCALL on_end(void *ud, const XML_Char *name)
{
    digest_t *d = ud;
    d->depth--;
    mix(d, "/", 1);
    mix(d, name, strlen(name));
}

static void XMLCALL on_text(void *ud, const XML_Char *s, int len)
{
    digest_t *d = ud;
    d->text += (size_t)len;
    mix(d, s, (size_t)len);
}

/* A document of about kb KiB, different for each seed. */
static uint32_t rnd(uint32_t *x)
{
    *x ^= *x << 13, *x ^= *x >> 17, *x ^= *x << 5;
    return *x;
}

static char *make_doc(size_t kb, unsigned seed, size_t *len)
{
    size_t cap = kb * 1024 + 4096, n = 0;
    char *b = malloc(cap);
    if (b == NULL)
        return NULL;
    uint32_t x = seed * 2654435761u + 1;
    n += (size_t)snprintf(b + n, cap - n, "<?xml version=\"1.0\"?>\n<!-- doc %u -->\n<catalog id=\"%u\">\n", seed, seed);
    for (unsigned i = 0; n + 1024 < kb * 1024; i++) {
        unsigned r[5] = {rnd(&x) % 1000, rnd(&x) % 100, rnd(&x) % 50, rnd(&x) % 9999, rnd(&x)};
        n += (size_t)snprintf(b + n, cap - n,
                              "  <item n=\"%u\" price=\"%u.%02u\" tag=\"t%u\">\n"
                              "    <name>Item &amp; thing #%u &#x263A;</name>\n"
                              "    <desc><![CDATA[<raw> & %u]]> text %u</desc>\n"
                              "    <parts>",
                              i, r[0], r[1], r[2], i, r[3], r[4]);
        for (unsigned k = rnd(&x) % 6; k > 0; k--)
            n += (size_t)snprintf(b + n, cap - n, "<part q=\"%u\" k=\"&lt;%u&gt;\"/>", rnd(&x) % 9, k);
        n += (size_t)snprintf(b + n, cap - n, "</parts>\n  </item>\n");
    }
    n += (size_t)snprintf(b + n, cap - n, "</catalog>\n");
    *len = n;
    return b;
}

static int parse(const allocator_t *al, const char *doc, size_t len, size_t step, digest_t *d)
{
    static const XML_Memory_Handling_Suite mm = {x_malloc, x_realloc, x_free};
    cur_al = al;
    XML_Parser p = al ? XML_ParserCreate_MM(NULL, &mm, NULL) : XML_ParserCreate(NULL);
    if (p == NULL)
        return -1;
    *d = (digest_t){.h = 0xCBF29CE484222325ull};
    XML_SetUserData(p, d);
    XML_SetElementHandler(p, on_start, on_end);
    XML_SetCharacterDataHandler(p, on_text);
    int ok = 1;
    for (size_t off = 0; ok && off < len; off += step) {
        size_t piece = len - off < step ? len - off : step;
        ok = XML_Parse(p, doc + off, (int)piece, off + piece == len) == XML_STATUS_OK;
    }
    if (!ok)
        fprintf(stderr, "expat_hook: %s at line %lu\n", XML_ErrorString(XML_GetErrorCode(p)),
                (unsigned long)XML_GetCurrentLineNumber(p));
    XML_ParserFree(p);
    return ok ? 0 : -1;
}

int main(int argc, char **argv)
{
    size_t kb = argc > 1 ? strtoul(argv[1], NULL, 10) : 512;
    int docs = argc > 2 ? atoi(argv[2]) : 6, fails = 0;
    arena_t *a = arena_create(NULL);
    if (a == NULL)
        return 1;
    allocator_t al = allocator_from_arena(a);
    size_t mmaps_second = 0;
    for (int i = 0; i < docs; i++) {
        size_t len;
        char *doc = make_doc(kb, (unsigned)i, &len);
        digest_t want, got;
        /* Odd documents go in one piece: expat then grows its buffers by realloc. */
        size_t step = i % 2 ? len : 4096;
        if (doc == NULL || parse(NULL, doc, len, step, &want) != 0)
            return 1;
        int ok = parse(&al, doc, len, step, &got) == 0 && got.h == want.h &&
                 got.elements == want.elements && got.attrs == want.attrs && got.text == want.text;
        arena_stats_t st;
        arena_stats(a, &st);
        arena_reset(a);
        if (i == 1)
            mmaps_second = st.mmaps;
        else if (i > 1 && st.mmaps > mmaps_second + 2)
            ok = 0; /* a larger document may need a chunk more, not one per document */
        printf("doc %d: %zu bytes, %zu elements, %zu attributes, %zu text bytes, depth %d: %s "
               "(arena used %zu KiB, mmaps %zu)\n",
               i, len, got.elements, got.attrs, got.text, got.max_depth,
               ok ? "same events" : "DIFFERENT", st.used / 1024, st.mmaps);
        fails += !ok;
        free(doc);
    }
    arena_destroy(a);
    printf("expat_hook: %s\n", fails ? "FAILED" : "ok");
    return fails != 0;
}
