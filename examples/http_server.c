/*
 * http_server.c - a small HTTP/1.1 static file server on arenapool.
 *
 * One epoll loop, non-blocking sockets, keep-alive and pipelining.  Each
 * connection is an object from a pool; each has its own arena, taken from a
 * cache of idle arenas so that a steady server maps nothing new.  The arena
 * holds the connection's input buffer below a mark; every request lives above
 * it: the request line, the headers, the response head are allocated there,
 * arena_defer closes the file the request opened, and one arena_rewind to the
 * mark ends the request.  GET /stats shows the arena and pool statistics.
 *
 * Safety: binds 127.0.0.1 only; serves regular files under DIR only (".."
 * segments refused after percent-decoding, every path component opened with
 * openat + O_NOFOLLOW, so no symlink is ever followed); 400/414/431/405/505
 * for malformed, truncated, oversized or unsupported requests, then close;
 * caps on connections, on the bytes a connection may buffer and on headers;
 * an idle / slow-request timeout.
 *
 * Usage: http_server [-p PORT] [-c MAXCONN] [-t IDLE_SECONDS] [DIR]
 * (port 8080, 1024 connections, 10 s, DIR = .; -p 0 picks a free port).  Logs
 * "listening on 127.0.0.1:PORT" and then one line per second to stderr.
 * Build with -DUSE_MALLOC for the same server on plain malloc/free.
 */
#include "arena.h"
#include "pool.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

/* ---- Limits ---- */

enum {
    IN_CAP = 16384,      /* bytes a connection may buffer: one request's head */
    LINE_MAX_ = 8192,    /* request line; longer gives 414 */
    MAX_HEADERS = 64,    /* more gives 431 */
    MAX_EVENTS = 128,
    MAX_DEFERS = 4,      /* malloc build: cleanups per request */
};

/* ---- Per-request memory: arena scope, or malloc/free for comparison ---- */

typedef struct conn conn_t;

#ifndef USE_MALLOC
#define BUILD_NAME "arena"
typedef arena_mark_t req_scope_t;
#else
#define BUILD_NAME "malloc"
typedef struct blk {
    struct blk *next;
    max_align_t align[];
} blk_t;
typedef struct {
    int unused;
} req_scope_t;
#endif

struct conn {
    int fd;
    bool closing;         /* close once the response is written */
    bool in_request;      /* a request scope is open */
    conn_t *prev, *next;  /* live list, for the timeout sweep and /stats */
    time_t deadline;      /* idle / slow request deadline */
    char *in;             /* IN_CAP bytes */
    size_t in_len;
    const char *out;      /* response head (and small bodies) */
    size_t out_len, out_off;
    int file_fd;          /* body from a file, or -1 */
    off_t file_off, file_end;
    req_scope_t scope;
#ifndef USE_MALLOC
    arena_t *arena;       /* in + every request's memory */
#else
    blk_t *blocks;        /* this request's malloc'ed blocks */
    struct {
        void (*fn)(void *);
        void *arg;
    } defers[MAX_DEFERS];
    int ndefers;
#endif
};

typedef struct server {
    int lfd, ep, rootfd, spare_fd;
    int max_conns, idle_secs;
    size_t live;
    conn_t head; /* live list sentinel */
    unsigned long requests, req_this_second, rejected;
#ifndef USE_MALLOC
    arena_t *arena;   /* the pool and the arena cache live here */
    pool_t *conns;    /* connection objects */
    arena_t **idle;   /* cache of reset arenas, max_conns entries */
    size_t nidle;
    size_t retired_mmaps; /* mmaps made by arenas since destroyed */
#endif
} server_t;

static volatile sig_atomic_t stop;

#ifndef USE_MALLOC

static void *req_alloc(conn_t *c, size_t n) { return arena_alloc(c->arena, n); }

static char *req_sprintf(conn_t *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static char *req_sprintf(conn_t *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = arena_vsprintf(c->arena, fmt, ap);
    va_end(ap);
    return s;
}

static int req_defer(conn_t *c, void (*fn)(void *), void *arg)
{
    return arena_defer(c->arena, fn, arg);
}

/* The request mark is taken once per connection, right after the input
 * buffer (conn_new), and every request rewinds to that same mark.  A fresh
 * mark per request would cost no memory either (a mark taken right after a
 * rewind shares the record of the mark rewound to, so mark / work / rewind
 * takes none per iteration: arena.h); one mark per connection simply puts
 * the request scope's start where the connection's own memory ends. */
static int req_begin(conn_t *c)
{
    (void)c;
    return 0;
}

/* One rewind frees the request's memory and closes what it opened. */
static void req_end(conn_t *c) { arena_rewind(c->arena, c->scope); }

/* Arenas of closed connections are reset and cached, so a server with a
 * steady number of connections maps no new memory. */
static conn_t *conn_new(server_t *s)
{
    conn_t *c = pool_calloc(s->conns);
    if (c == NULL)
        return NULL;
    if (s->nidle)
        c->arena = s->idle[--s->nidle];
    else
        c->arena = arena_create(&(arena_opts_t){.chunk_size = 32 << 10, .max_bytes = 1 << 20});
    if (c->arena == NULL || (c->in = arena_alloc(c->arena, IN_CAP)) == NULL ||
        (c->scope = arena_mark(c->arena)).arena == NULL) {
        arena_destroy(c->arena);
        pool_free(s->conns, c);
        return NULL;
    }
    return c;
}

static void conn_free(server_t *s, conn_t *c)
{
    arena_reset(c->arena);
    if (s->nidle < (size_t)s->max_conns) {
        s->idle[s->nidle++] = c->arena;
    } else {
        arena_stats_t st;
        arena_stats(c->arena, &st);
        s->retired_mmaps += st.mmaps;
        arena_destroy(c->arena);
    }
    pool_free(s->conns, c);
}

#else /* USE_MALLOC */

static void *req_alloc(conn_t *c, size_t n)
{
    blk_t *b = malloc(sizeof(blk_t) + n);
    if (b == NULL)
        return NULL;
    b->next = c->blocks;
    c->blocks = b;
    return b->align;
}

static char *req_sprintf(conn_t *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static char *req_sprintf(conn_t *c, const char *fmt, ...)
{
    va_list ap, ap2;
    va_start(ap, fmt);
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    char *s = n < 0 ? NULL : req_alloc(c, (size_t)n + 1);
    if (s)
        vsnprintf(s, (size_t)n + 1, fmt, ap2);
    va_end(ap2);
    return s;
}

static int req_defer(conn_t *c, void (*fn)(void *), void *arg)
{
    if (c->ndefers == MAX_DEFERS) {
        errno = ENOMEM;
        return -1;
    }
    c->defers[c->ndefers].fn = fn;
    c->defers[c->ndefers++].arg = arg;
    return 0;
}

static int req_begin(conn_t *c)
{
    (void)c;
    return 0;
}

static void req_end(conn_t *c)
{
    while (c->ndefers > 0) {
        c->ndefers--;
        c->defers[c->ndefers].fn(c->defers[c->ndefers].arg);
    }
    while (c->blocks) {
        blk_t *b = c->blocks;
        c->blocks = b->next;
        free(b);
    }
}

static conn_t *conn_new(server_t *s)
{
    (void)s;
    conn_t *c = calloc(1, sizeof *c);
    if (c && (c->in = malloc(IN_CAP)) == NULL) {
        free(c);
        return NULL;
    }
    return c;
}

static void conn_free(server_t *s, conn_t *c)
{
    (void)s;
    free(c->in);
    free(c);
}

#endif /* USE_MALLOC */

/* ---- Helpers ---- */

static time_t now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec;
}

static size_t rss_kib(void)
{
    long pages = 0, rss = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f) {
        if (fscanf(f, "%ld %ld", &pages, &rss) != 2)
            rss = 0;
        fclose(f);
    }
    return (size_t)rss * (size_t)sysconf(_SC_PAGESIZE) / 1024;
}

static void close_fd(void *arg) { close((int)(intptr_t)arg); }

static const char *mime_type(const char *path)
{
    static const char *const types[][2] = {
        {".html", "text/html; charset=utf-8"}, {".htm", "text/html; charset=utf-8"},
        {".txt", "text/plain; charset=utf-8"}, {".css", "text/css"},
        {".js", "text/javascript"},            {".json", "application/json"},
        {".png", "image/png"},                 {".jpg", "image/jpeg"},
        {".svg", "image/svg+xml"},             {".c", "text/plain; charset=utf-8"},
        {".md", "text/plain; charset=utf-8"},
    };
    const char *dot = strrchr(path, '.');
    if (dot && !strchr(dot, '/'))
        for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
            if (strcasecmp(dot, types[i][0]) == 0)
                return types[i][1];
    return "application/octet-stream";
}

static const char *reason(int status)
{
    switch (status) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 414: return "URI Too Long";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 503: return "Service Unavailable";
    case 505: return "HTTP Version Not Supported";
    default: return "Error";
    }
}

/* ---- Responses ---- */

/* Queue a complete response whose body is in memory. */
static void respond(conn_t *c, int status, const char *ctype, const char *body, size_t len,
                    bool head_only)
{
    char *r = req_sprintf(c,
                          "HTTP/1.1 %d %s\r\nServer: arenapool-example\r\nContent-Type: %s\r\n"
                          "Content-Length: %zu\r\nConnection: %s\r\n\r\n%.*s",
                          status, reason(status), ctype, len, c->closing ? "close" : "keep-alive",
                          head_only ? 0 : (int)len, body);
    if (r == NULL) { /* out of request memory: a fixed answer */
        static const char oom[] = "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n"
                                  "Connection: close\r\n\r\n";
        c->closing = true;
        r = (char *)oom;
    }
    c->out = r;
    c->out_len = strlen(r);
    c->out_off = 0;
}

/* Error answers end the connection: after a malformed request the stream
 * position is unknown, so nothing after it can be trusted. */
static void respond_error(conn_t *c, int status)
{
    char *body = req_sprintf(c, "%d %s\n", status, reason(status));
    c->closing = true;
    respond(c, status, "text/plain; charset=utf-8", body ? body : "", body ? strlen(body) : 0,
            false);
}

/* ---- Paths ---- */

static int hexval(char ch)
{
    if (ch >= '0' && ch <= '9') return ch - '0';
    if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F') return ch - 'A' + 10;
    return -1;
}

/* Percent-decode the path part of target into the request scope.  NULL for a
 * bad escape, an encoded NUL, or a target that is not an absolute path. */
static char *decode_path(conn_t *c, const char *t, size_t n)
{
    if (n == 0 || t[0] != '/')
        return NULL;
    char *out = req_alloc(c, n + 1), *o = out;
    if (out == NULL)
        return NULL;
    for (size_t i = 0; i < n && t[i] != '?' && t[i] != '#'; i++) {
        if (t[i] == '%') {
            int hi = i + 2 < n ? hexval(t[i + 1]) : -1, lo = i + 2 < n ? hexval(t[i + 2]) : -1;
            if (i + 2 >= n || hi < 0 || lo < 0 || (hi | lo) == 0)
                return NULL;
            *o++ = (char)(hi << 4 | lo);
            i += 2;
        } else {
            *o++ = t[i];
        }
    }
    *o = '\0';
    return out;
}

/* Open path (decoded, absolute) under rootfd, one component at a time with
 * O_NOFOLLOW: a symlink anywhere in the path fails with ELOOP/ENOTDIR, a ".."
 * component is refused before any lookup.  A directory gives its index.html.
 * Returns an fd of a regular file, or -1 with the HTTP status in *status. */
static int open_under(int rootfd, char *path, int *status)
{
    for (char *p = path; *p; p++) /* no ".." component, wherever the slashes are */
        if (p[0] == '.' && p[1] == '.' && (p == path || p[-1] == '/') && (p[2] == '/' || !p[2])) {
            *status = 403;
            return -1;
        }
    int dir = dup(rootfd);
    if (dir < 0) {
        *status = 500;
        return -1;
    }
    char *save = NULL;
    int fd = -1;
    for (char *seg = strtok_r(path, "/", &save); seg; seg = strtok_r(NULL, "/", &save)) {
        if (strcmp(seg, ".") == 0)
            continue;
        fd = openat(dir, seg, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
        close(dir);
        if (fd < 0) {
            *status = errno == ENOENT || errno == ENOTDIR ? 404 : 403;
            return -1;
        }
        dir = fd;
    }
    /* dir is now the last component (or the root). */
    struct stat st;
    if (fstat(dir, &st) != 0) {
        close(dir);
        *status = 500;
        return -1;
    }
    if (S_ISDIR(st.st_mode)) {
        fd = openat(dir, "index.html", O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
        close(dir);
        if (fd < 0 || fstat(fd, &st) != 0) {
            if (fd >= 0)
                close(fd);
            *status = 404;
            return -1;
        }
        dir = fd;
    }
    if (!S_ISREG(st.st_mode)) {
        close(dir);
        *status = 403;
        return -1;
    }
    return dir;
}

/* ---- Requests ---- */

/* Answer with an error status and leave the request handler. */
#define FAIL(c, status)                \
    do {                               \
        respond_error((c), (status));  \
        return;                        \
    } while (0)

typedef struct header {
    const char *name, *value;
} header_t;

static void stats_page(server_t *s, conn_t *c, bool head_only);

static bool is_tchar(unsigned char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
           (ch && strchr("!#$%&'*+-.^_`|~", ch));
}

/* Handle the request whose head is in->[0, head_len) (ending "\r\n\r\n").
 * Allocates everything in the request scope; queues the response. */
static void handle(server_t *s, conn_t *c, size_t head_len)
{
    const char *in = c->in, *end = in + head_len;
    const char *eol = memchr(in, '\r', head_len);
    if (eol == NULL || eol[1] != '\n')
        FAIL(c, 400);

    /* Request line: METHOD SP TARGET SP HTTP/1.x */
    const char *sp1 = memchr(in, ' ', (size_t)(eol - in));
    const char *sp2 = sp1 ? memchr(sp1 + 1, ' ', (size_t)(eol - sp1 - 1)) : NULL;
    if (sp1 == NULL || sp2 == NULL || sp1 == in || sp2 == sp1 + 1)
        FAIL(c, 400);
    for (const char *p = in; p < sp1; p++)
        if (!is_tchar((unsigned char)*p))
            FAIL(c, 400);
    for (const char *p = sp1 + 1; p < sp2; p++)
        if ((unsigned char)*p <= ' ' || *p == 0x7f)
            FAIL(c, 400);
    char *method = req_alloc(c, (size_t)(sp1 - in) + 1);
    char *target = req_alloc(c, (size_t)(sp2 - sp1));
    if (!method || !target)
        FAIL(c, 500);
    memcpy(method, in, (size_t)(sp1 - in)), method[sp1 - in] = '\0';
    memcpy(target, sp1 + 1, (size_t)(sp2 - sp1 - 1)), target[sp2 - sp1 - 1] = '\0';
    size_t vlen = (size_t)(eol - sp2 - 1);
    if (vlen < 5 || memcmp(sp2 + 1, "HTTP/", 5) != 0)
        FAIL(c, 400);
    if (vlen != 8 || memcmp(sp2 + 1, "HTTP/1.", 7) != 0 || (sp2[8] != '0' && sp2[8] != '1'))
        FAIL(c, 505);
    int minor = sp2[8] - '0';

    /* Headers: name ":" OWS value OWS CRLF; no obs-fold, no control bytes. */
    header_t *hs = req_alloc(c, MAX_HEADERS * sizeof *hs);
    size_t nh = 0;
    if (hs == NULL)
        FAIL(c, 500);
    for (const char *line = eol + 2; line < end - 2;) {
        const char *le = memchr(line, '\r', (size_t)(end - line));
        if (le == NULL || le[1] != '\n')
            FAIL(c, 400);
        const char *colon = memchr(line, ':', (size_t)(le - line));
        if (colon == NULL || colon == line)
            FAIL(c, 400);
        for (const char *p = line; p < colon; p++)
            if (!is_tchar((unsigned char)*p))
                FAIL(c, 400);
        const char *v = colon + 1, *ve = le;
        while (v < ve && (*v == ' ' || *v == '\t'))
            v++;
        while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
            ve--;
        for (const char *p = v; p < ve; p++)
            if (((unsigned char)*p < ' ' && *p != '\t') || *p == 0x7f)
                FAIL(c, 400);
        if (nh == MAX_HEADERS)
            FAIL(c, 431);
        char *name = req_alloc(c, (size_t)(colon - line) + 1);
        char *value = req_alloc(c, (size_t)(ve - v) + 1);
        if (!name || !value)
            FAIL(c, 500);
        memcpy(name, line, (size_t)(colon - line)), name[colon - line] = '\0';
        memcpy(value, v, (size_t)(ve - v)), value[ve - v] = '\0';
        hs[nh++] = (header_t){name, value};
        line = le + 2;
    }

    bool has_host = false, keep = minor == 1;
    for (size_t i = 0; i < nh; i++) {
        if (strcasecmp(hs[i].name, "Host") == 0) {
            if (has_host)
                FAIL(c, 400); /* two Hosts: ambiguous */
            has_host = true;
        } else if (strcasecmp(hs[i].name, "Connection") == 0) {
            if (strcasecmp(hs[i].value, "close") == 0)
                keep = false;
            else if (strcasecmp(hs[i].value, "keep-alive") == 0)
                keep = true;
        } else if (strcasecmp(hs[i].name, "Transfer-Encoding") == 0) {
            FAIL(c, 501); /* no request bodies here */
        } else if (strcasecmp(hs[i].name, "Content-Length") == 0 && strcmp(hs[i].value, "0") != 0) {
            FAIL(c, 400); /* a GET/HEAD with a body: refuse, never guess */
        }
    }
    if (minor == 1 && !has_host)
        FAIL(c, 400);
    c->closing = !keep;

    bool head_only = strcmp(method, "HEAD") == 0;
    if (!head_only && strcmp(method, "GET") != 0)
        FAIL(c, 405);
    char *path = decode_path(c, target, strlen(target));
    if (path == NULL)
        FAIL(c, 400);
    if (strcmp(path, "/stats") == 0) {
        stats_page(s, c, head_only);
        return;
    }

    int status = 0;
    char *name = req_sprintf(c, "%s", path); /* open_under cuts path up */
    if (name == NULL)
        FAIL(c, 500);
    int fd = open_under(s->rootfd, path, &status);
    if (fd < 0) {
        /* 403/404 keep the connection: the request itself was well formed. */
        char *body = req_sprintf(c, "%d %s\n", status, reason(status));
        respond(c, status, "text/plain; charset=utf-8", body ? body : "", body ? strlen(body) : 0,
                head_only);
        return;
    }
    if (req_defer(c, close_fd, (void *)(intptr_t)fd) != 0) {
        close(fd);
        FAIL(c, 500);
    }
    struct stat st;
    if (fstat(fd, &st) != 0)
        FAIL(c, 500);
    char *r = req_sprintf(c,
                          "HTTP/1.1 200 OK\r\nServer: arenapool-example\r\nContent-Type: %s\r\n"
                          "Content-Length: %lld\r\nConnection: %s\r\n\r\n",
                          mime_type(name), (long long)st.st_size,
                          c->closing ? "close" : "keep-alive");
    if (r == NULL)
        FAIL(c, 500);
    c->out = r, c->out_len = strlen(r), c->out_off = 0;
    if (!head_only && st.st_size > 0)
        c->file_fd = fd, c->file_off = 0, c->file_end = st.st_size;
}

static void stats_page(server_t *s, conn_t *c, bool head_only)
{
    char *body;
#ifndef USE_MALLOC
    arena_stats_t sum = {0}, st;
    size_t n = 0;
    for (conn_t *x = s->head.next; x != &s->head; x = x->next, n++) {
        arena_stats(x->arena, &st);
        sum.used += st.used, sum.peak += st.peak, sum.mapped += st.mapped;
        sum.chunks += st.chunks, sum.mmaps += st.mmaps;
    }
    size_t idle_mapped = 0, idle_mmaps = 0;
    for (size_t i = 0; i < s->nidle; i++) {
        arena_stats(s->idle[i], &st);
        idle_mapped += st.mapped, idle_mmaps += st.mmaps;
    }
    pool_stats_t ps;
    pool_stats(s->conns, &ps);
    arena_stats_t ss;
    arena_stats(s->arena, &ss);
    body = req_sprintf(c,
                       "build: arena\nrequests: %lu\nrejected: %lu\nrss_kib: %zu\n"
                       "connections: %zu (max %d)\n"
                       "conn_pool: obj_size %zu live %zu capacity %zu\n"
                       "conn_arenas: %zu used %zu peak %zu mapped %zu chunks %zu mmaps %zu\n"
                       "idle_arenas: %zu mapped %zu mmaps %zu\n"
                       "server_arena: used %zu mapped %zu mmaps %zu\n"
                       "total_arena_mmaps: %zu\n",
                       s->requests, s->rejected, rss_kib(), s->live, s->max_conns, ps.obj_size,
                       ps.live, ps.capacity, n, sum.used, sum.peak, sum.mapped, sum.chunks,
                       sum.mmaps, s->nidle, idle_mapped, idle_mmaps, ss.used, ss.mapped, ss.mmaps,
                       sum.mmaps + idle_mmaps + ss.mmaps + s->retired_mmaps);
#else
    body = req_sprintf(c, "build: malloc\nrequests: %lu\nrejected: %lu\nrss_kib: %zu\n"
                          "connections: %zu (max %d)\n",
                       s->requests, s->rejected, rss_kib(), s->live, s->max_conns);
#endif
    if (body == NULL)
        FAIL(c, 500);
    respond(c, 200, "text/plain; charset=utf-8", body, strlen(body), head_only);
}

/* ---- Connections ---- */

static void conn_close(server_t *s, conn_t *c)
{
    if (c->in_request)
        req_end(c);
    epoll_ctl(s->ep, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    c->prev->next = c->next, c->next->prev = c->prev;
    s->live--;
    conn_free(s, c);
}

static void set_events(server_t *s, conn_t *c, uint32_t ev)
{
    struct epoll_event e = {.events = ev, .data.ptr = c};
    epoll_ctl(s->ep, EPOLL_CTL_MOD, c->fd, &e);
}

/* Write what is queued.  1 = done, 0 = blocked (wait for EPOLLOUT), -1 = close. */
static int flush_out(conn_t *c)
{
    while (c->out_off < c->out_len) {
        ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -1;
        c->out_off += (size_t)n;
    }
    while (c->file_fd >= 0 && c->file_off < c->file_end) {
        ssize_t n = sendfile(c->fd, c->file_fd, &c->file_off, (size_t)(c->file_end - c->file_off));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -1;
        if (n == 0)
            return -1; /* the file shrank under us: the length we sent is a lie */
    }
    return 1;
}

/* Find the end of the request head in in[0, len): index past "\r\n\r\n", 0 if
 * not there yet, or an HTTP error status. */
static size_t head_end(const conn_t *c, int *err)
{
    const char *in = c->in;
    size_t len = c->in_len;
    const char *eol = memchr(in, '\n', len < LINE_MAX_ ? len : LINE_MAX_);
    if (eol == NULL && len >= LINE_MAX_) {
        *err = 414;
        return 0;
    }
    if (memchr(in, '\0', len)) {
        *err = 400;
        return 0;
    }
    for (size_t i = 3; i < len; i++)
        if (in[i] == '\n' && in[i - 1] == '\r' && in[i - 2] == '\n' && in[i - 3] == '\r')
            return i + 1;
    if (len == IN_CAP)
        *err = 431;
    return 0;
}

/* Serve every complete request in the buffer, then wait for more input or
 * for the socket to drain.  Returns false when the connection was closed. */
static bool progress(server_t *s, conn_t *c)
{
    for (;;) {
        if (c->in_request) {
            int r = flush_out(c);
            if (r < 0) {
                conn_close(s, c);
                return false;
            }
            if (r == 0) {
                set_events(s, c, EPOLLOUT);
                return true;
            }
            req_end(c); /* frees the request's memory and closes its file */
            c->in_request = false;
            c->file_fd = -1;
            s->requests++, s->req_this_second++;
            if (c->closing) {
                shutdown(c->fd, SHUT_WR);
                conn_close(s, c);
                return false;
            }
            c->deadline = now_s() + s->idle_secs;
        }
        int err = 0;
        size_t hl = head_end(c, &err);
        if (hl == 0 && err == 0) {
            set_events(s, c, EPOLLIN);
            return true;
        }
        if (req_begin(c) != 0) {
            conn_close(s, c);
            return false;
        }
        c->in_request = true;
        if (err) {
            respond_error(c, err);
            c->in_len = 0;
        } else {
            handle(s, c, hl);
            memmove(c->in, c->in + hl, c->in_len - hl); /* pipelined requests */
            c->in_len -= hl;
        }
    }
}

static void on_readable(server_t *s, conn_t *c)
{
    for (;;) {
        if (c->in_len == IN_CAP)
            break; /* progress() answers 414/431 */
        ssize_t n = recv(c->fd, c->in + c->in_len, IN_CAP - c->in_len, 0);
        if (n > 0) {
            c->in_len += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            break;
        /* EOF or error.  A partial request is truncated: say so, then close. */
        if (n == 0 && c->in_len > 0 && head_end(c, &(int){0}) == 0 && req_begin(c) == 0) {
            c->in_request = true;
            respond_error(c, 400);
            c->in_len = 0;
            if (flush_out(c) != 0) {
                conn_close(s, c);
                return;
            }
            c->closing = true;
            set_events(s, c, EPOLLOUT);
            return;
        }
        if (c->in_len == 0 || n < 0) {
            conn_close(s, c);
            return;
        }
        break; /* EOF after complete requests: answer them, then close */
    }
    progress(s, c);
}

static void on_accept(server_t *s)
{
    for (int i = 0; i < 64; i++) {
        int fd = accept4(s->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EMFILE || errno == ENFILE) {
                /* Out of descriptors: use the spare one to accept and drop the
                 * client, so the listen queue does not spin the loop. */
                close(s->spare_fd);
                fd = accept(s->lfd, NULL, NULL);
                if (fd >= 0)
                    close(fd);
                s->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
                s->rejected++;
                continue;
            }
            return;
        }
        conn_t *c = (size_t)s->max_conns > s->live ? conn_new(s) : NULL;
        if (c == NULL) {
            static const char busy[] = "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n"
                                       "Connection: close\r\n\r\n";
            if (send(fd, busy, sizeof busy - 1, MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
                (void)0; /* best effort */
            close(fd);
            s->rejected++;
            continue;
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        c->fd = fd;
        c->file_fd = -1;
        c->deadline = now_s() + s->idle_secs;
        c->next = s->head.next, c->prev = &s->head;
        s->head.next->prev = c, s->head.next = c;
        s->live++;
        struct epoll_event e = {.events = EPOLLIN, .data.ptr = c};
        if (epoll_ctl(s->ep, EPOLL_CTL_ADD, fd, &e) != 0)
            conn_close(s, c);
    }
}

/* Close connections past their deadline: idle ones, slow request heads
 * (slowloris), readers that stopped reading. */
static void sweep(server_t *s, time_t now)
{
    for (conn_t *c = s->head.next, *nx; c != &s->head; c = nx) {
        nx = c->next;
        if (now >= c->deadline)
            conn_close(s, c);
    }
}

static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

/* ---- main ---- */

static void usage(void)
{
    fprintf(stderr, "usage: http_server [-p PORT] [-c MAXCONN] [-t IDLE_SECONDS] [DIR]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    int port = 8080, opt;
    server_t s = {.max_conns = 1024, .idle_secs = 10};
    while ((opt = getopt(argc, argv, "p:c:t:")) != -1) {
        long v = optarg ? strtol(optarg, NULL, 10) : -1;
        if (opt == 'p' && v >= 0 && v <= 65535)
            port = (int)v;
        else if (opt == 'c' && v > 0 && v <= 100000)
            s.max_conns = (int)v;
        else if (opt == 't' && v > 0 && v <= 3600)
            s.idle_secs = (int)v;
        else
            usage();
    }
    const char *dir = optind < argc ? argv[optind] : ".";
    if (optind + 1 < argc)
        usage();
    s.rootfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (s.rootfd < 0) {
        perror(dir);
        return 1;
    }
    s.spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    s.head.next = s.head.prev = &s.head;
#ifndef USE_MALLOC
    s.arena = arena_create(NULL);
    s.conns = s.arena ? pool_create(s.arena, sizeof(conn_t), _Alignof(conn_t)) : NULL;
    s.idle = s.arena ? ARENA_NEW_ARRAY(s.arena, arena_t *, (size_t)s.max_conns) : NULL;
    if (s.conns == NULL || s.idle == NULL) {
        perror("http_server: arena");
        return 1;
    }
#endif

    s.lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(s.lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t sl = sizeof sa;
    if (s.lfd < 0 || bind(s.lfd, (struct sockaddr *)&sa, sizeof sa) != 0 ||
        listen(s.lfd, 511) != 0 || getsockname(s.lfd, (struct sockaddr *)&sa, &sl) != 0) {
        perror("http_server: listen");
        return 1;
    }
    s.ep = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event le = {.events = EPOLLIN, .data.ptr = NULL};
    if (s.ep < 0 || epoll_ctl(s.ep, EPOLL_CTL_ADD, s.lfd, &le) != 0) {
        perror("http_server: epoll");
        return 1;
    }
    struct sigaction sig = {.sa_handler = on_signal};
    sigaction(SIGINT, &sig, NULL);
    sigaction(SIGTERM, &sig, NULL);
    signal(SIGPIPE, SIG_IGN);
    fprintf(stderr, "http_server (%s build): listening on 127.0.0.1:%d, serving %s\n", BUILD_NAME,
            ntohs(sa.sin_port), dir);

    time_t last = now_s();
    struct epoll_event evs[MAX_EVENTS];
    while (!stop) {
        int n = epoll_wait(s.ep, evs, MAX_EVENTS, 250);
        for (int i = 0; i < n; i++) {
            conn_t *c = evs[i].data.ptr;
            if (c == NULL) {
                on_accept(&s);
            } else if (evs[i].events & (EPOLLERR | EPOLLHUP) && !(evs[i].events & EPOLLIN)) {
                conn_close(&s, c);
            } else if (evs[i].events & EPOLLOUT) {
                c->deadline = now_s() + s.idle_secs; /* the reader is reading */
                progress(&s, c);
            } else if (evs[i].events & EPOLLIN) {
                on_readable(&s, c);
            }
        }
        time_t now = now_s();
        if (now != last) {
            sweep(&s, now);
            fprintf(stderr, "http_server: %lu req/s, %zu conns, rss %zu KiB\n",
                    s.req_this_second / (unsigned long)(now - last), s.live, rss_kib());
            s.req_this_second = 0;
            last = now;
        }
    }

    while (s.head.next != &s.head)
        conn_close(&s, s.head.next);
#ifndef USE_MALLOC
    for (size_t i = 0; i < s.nidle; i++)
        arena_destroy(s.idle[i]);
    pool_destroy(s.conns);
    arena_destroy(s.arena);
#endif
    close(s.lfd), close(s.ep), close(s.rootfd), close(s.spare_fd);
    fprintf(stderr, "http_server: %lu requests served, bye\n", s.requests);
    return 0;
}
