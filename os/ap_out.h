/*
 * ap_out.h - text built in a fixed buffer and written with write(2): the
 * output of the options, the warnings and the statistics, which must never
 * allocate (they run inside the allocator they report on, and before main).
 * A line that would overflow the buffer is cut, never spilled.
 */
#ifndef AP_OUT_H
#define AP_OUT_H

#include "ap_build.h"

#include <stddef.h>
#include <stdint.h>

typedef struct ap_out {
    char buf[512];
    size_t len;
} ap_out_t;

static inline void ap__out_str(ap_out_t *o, const char *s)
{
    while (s && *s && o->len < sizeof o->buf)
        o->buf[o->len++] = *s++;
}

/* v in decimal, right-aligned in `width` columns (0: as long as it is). */
static inline void ap__out_u(ap_out_t *o, uint64_t v, unsigned width)
{
    char tmp[24];
    unsigned n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    for (unsigned i = n; i < width && o->len < sizeof o->buf; i++)
        o->buf[o->len++] = ' ';
    while (n && o->len < sizeof o->buf)
        o->buf[o->len++] = tmp[--n];
}

/* s left-aligned in `width` columns. */
static inline void ap__out_col(ap_out_t *o, const char *s, unsigned width)
{
    size_t start = o->len;
    ap__out_str(o, s);
    while (o->len - start < width && o->len < sizeof o->buf)
        o->buf[o->len++] = ' ';
}

/* Write the buffer to fd (all of it, through EINTR and short writes) and
 * empty it.  0, or an errno value; errno itself is left alone. */
int ap__out_flush(ap_out_t *o, int fd) AP__HIDDEN;

#endif /* AP_OUT_H */
