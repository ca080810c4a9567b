/*
 * http_server.c - a small HTTP/1.1 static file server on arenapool.
 *
 * One epoll loop, non-blocking sockets, keep-alive and pipelining.  Each
 * connection is an object from a pool and has an arena of its own, created
 * when it opens and destroyed when it closes (the chunk cache shared by all
 * arenas makes that free of system calls in a steady server).  The
 * connection's arena holds its input buffer; every request gets a child arena
 * of it: the request line, the headers, the response head, a directory
 * listing are allocated there, arena_defer closes what the request opened,
 * and destroying the child ends the request (closing the connection would
 * end it too).  GET /stats shows the arena and pool statistics.
 *
 * Safety: binds 127.0.0.1 only; serves what is under DIR only (".." segments
 * refused after percent-decoding, every path component opened with openat +
 * O_NOFOLLOW, so no symlink is ever followed); a directory gives its
 * index.html or, without one, a generated listing of what could be served;
 * 400/414/431/505 for malformed, truncated, oversized or unsupported
 * requests and 405 for methods other than GET and HEAD, then close; caps on
 * connections, on the bytes a connection may buffer and on headers; an idle /
 * slow-request timeout.
 *
 * Usage: http_server [-p PORT] [-c MAXCONN] [-t IDLE_SECONDS] [DIR]
 * (port 8080, 1024 connections, 10 s, DIR = .; -p 0 picks a free port).  Logs
 * "listening on 127.0.0.1:PORT" to stderr, then one line for each second in
 * which requests were served.
 *
 * The server allocates only through the calls under "Memory";
 * bench/http_server_malloc.c compiles this file with its own on malloc/free,
 * so that make bench-server compares the two on identical server code.
 */
#include "arena.h"
#include "pool.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
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
    IN_CAP = 16384,   /* bytes a connection may buffer: one request's head */
    LINE_MAX_ = 8192, /* request line; longer gives 414 */
    MAX_HEADERS = 64, /* more gives 431 */
    MAX_EVENTS = 128,
};

/* ---- Connections and the server ---- */

typedef struct conn conn_t;
typedef struct server server_t;

#ifndef HTTP_SERVER_EXTERNAL_MEM
#define MEM_NAME "arena"

/* A connection's memory: its arena, with the input buffer, and the child
 * arena of the request in progress. */
typedef struct conn_mem {
    arena_t *arena;
    arena_t *request; /* child of arena, or NULL between requests */
    arena_mark_t before_request; /* the connection arena before the child */
} conn_mem_t;

/* The server's: connection objects from a pool. */
typedef struct server_mem {
    arena_t *arena;       /* the pool lives here */
    pool_t *conns;        /* connection objects */
    size_t retired_mmaps; /* mmaps made by arenas since destroyed */
} server_mem_t;
#endif

struct conn {
    int fd;
    bool closing;        /* close once the response is written */
    bool in_request;     /* between req_begin and req_end */
    conn_t *prev, *next; /* live list, for the timeout sweep and /stats */
    time_t deadline;     /* idle / slow request deadline */
    char *in;            /* IN_CAP bytes */
    size_t in_len;
    const char *out;     /* response head */
    size_t out_len;
    const char *body;    /* body in memory, sent after the head, or NULL */
    size_t body_len;
    size_t sent;         /* bytes of head + body written */
    int file_fd;         /* body from a file, or -1 */
    off_t file_off, file_end;
    conn_mem_t mem;
};

struct server {
    int lfd, ep, rootfd, spare_fd;
    int max_conns, idle_secs;
    size_t live;
    conn_t head; /* live list sentinel */
    unsigned long requests, req_this_second, rejected;
    server_mem_t mem;
};

static volatile sig_atomic_t stop;

/* ---- Memory ----
 * Everything the server allocates goes through these calls.  Request memory
 * lives from req_begin to req_end, which frees all of it at once and runs the
 * cleanups registered with req_defer, newest first. */

static int mem_init(server_t *s);             /* 0, or -1 with errno */
static void mem_fini(server_t *s);            /* after every connection closed */
static conn_t *conn_new(server_t *s);         /* zeroed, with c->in (IN_CAP bytes); NULL: no memory */
static void conn_free(server_t *s, conn_t *c);
static int req_begin(conn_t *c);              /* 0, or -1 with errno */
static void *req_alloc(conn_t *c, size_t n);  /* aligned for any type; NULL: no memory */
static char *req_sprintf(conn_t *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int req_defer(conn_t *c, void (*fn)(void *), void *arg); /* 0, or -1 */
static void req_end(conn_t *c);
static const char *mem_stats(server_t *s, conn_t *c); /* lines for /stats; NULL: no memory */

#ifndef HTTP_SERVER_EXTERNAL_MEM

static int mem_init(server_t *s)
{
    s->mem.arena = arena_create(NULL);
    s->mem.conns = s->mem.arena ? pool_create(s->mem.arena, sizeof(conn_t), _Alignof(conn_t)) : NULL;
    if (s->mem.conns == NULL) {
        int e = errno;
        arena_destroy(s->mem.arena);
        errno = e;
        return -1;
    }
    return 0;
}

static void mem_fini(server_t *s)
{
    pool_destroy(s->mem.conns);
    arena_destroy(s->mem.arena);
    arena_trim(); /* the chunk cache: nothing idle left mapped */
}

/* Why create and destroy rather than keep arenas of closed connections: the
 * chunk cache keeps their chunks, so a steady server maps nothing new either
 * way, and the code has no cache of its own.  32 KiB holds the input buffer;
 * 1 MiB caps what a connection's arena can make us hold. */
static conn_t *conn_new(server_t *s)
{
    conn_t *c = pool_calloc(s->mem.conns);
    if (c == NULL)
        return NULL;
    c->mem.arena = arena_create(&(arena_opts_t){.chunk_size = 32 << 10, .max_bytes = 1 << 20});
    if (c->mem.arena == NULL) {
        pool_free(s->mem.conns, c);
        return NULL;
    }
    if ((c->in = arena_alloc(c->mem.arena, IN_CAP)) == NULL) {
        conn_free(s, c);
        return NULL;
    }
    return c;
}

/* Destroying the connection's arena also ends a request still in progress
 * (its child), closing what that request opened. */
static void conn_free(server_t *s, conn_t *c)
{
    arena_stats_t st;
    arena_stats(c->mem.arena, &st);
    s->mem.retired_mmaps += st.mmaps;
    arena_destroy(c->mem.arena);
    pool_free(s->mem.conns, c);
}

/* A child of the connection's arena per request: whatever thread or library
 * handles the request gets an arena of its own that cannot outlive the
 * connection.  The connection arena is marked before it and rewound to the
 * mark after it, which ends the child and takes its record in the parent
 * back, so a keep-alive connection does not grow per request.  8 KiB holds
 * a typical request; 1 MiB caps one. */
static int req_begin(conn_t *c)
{
    c->mem.before_request = arena_mark(c->mem.arena);
    c->mem.request = arena_create(
        &(arena_opts_t){.parent = c->mem.arena, .chunk_size = 8 << 10, .max_bytes = 1 << 20});
    return c->mem.request ? 0 : -1;
}

static void *req_alloc(conn_t *c, size_t n) { return arena_alloc(c->mem.request, n); }

static char *req_sprintf(conn_t *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = arena_vsprintf(c->mem.request, fmt, ap);
    va_end(ap);
    return s;
}

static int req_defer(conn_t *c, void (*fn)(void *), void *arg)
{
    return arena_defer(c->mem.request, fn, arg);
}

/* Rewinding the connection arena to before the request ends the child: its
 * memory goes back and what it opened is closed. */
static void req_end(conn_t *c)
{
    if (arena_rewind(c->mem.arena, c->mem.before_request) != 0)
        arena_destroy(c->mem.request); /* the mark could not be recorded */
    c->mem.request = NULL;
}

static const char *mem_stats(server_t *s, conn_t *c)
{
    arena_stats_t sum = {0}, req = {0}, st;
    size_t n = 0, nreq = 0;
    for (conn_t *x = s->head.next; x != &s->head; x = x->next, n++) {
        arena_stats(x->mem.arena, &st);
        sum.used += st.used, sum.peak += st.peak, sum.mapped += st.mapped;
        sum.chunks += st.chunks, sum.mmaps += st.mmaps;
        if (x->mem.request) {
            arena_stats(x->mem.request, &st);
            req.mapped += st.mapped, req.mmaps += st.mmaps, nreq++;
        }
    }
    pool_stats_t ps;
    pool_stats(s->mem.conns, &ps);
    arena_stats_t ss;
    arena_stats(s->mem.arena, &ss);
    return req_sprintf(c,
                       "conn_pool: obj_size %zu live %zu capacity %zu\n"
                       "conn_arenas: %zu used %zu peak %zu mapped %zu chunks %zu mmaps %zu\n"
                       "request_arenas: %zu mapped %zu mmaps %zu\n"
                       "chunk_cache: %zu bytes\n"
                       "server_arena: used %zu mapped %zu mmaps %zu\n"
                       "total_arena_mmaps: %zu\n",
                       ps.obj_size, ps.live, ps.capacity, n, sum.used, sum.peak, sum.mapped,
                       sum.chunks, sum.mmaps, nreq, req.mapped, req.mmaps, arena_cache_bytes(),
                       ss.used, ss.mapped, ss.mmaps,
                       sum.mmaps + req.mmaps + ss.mmaps + s->mem.retired_mmaps);
}

#endif /* HTTP_SERVER_EXTERNAL_MEM */

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

static void close_dir(void *arg) { closedir(arg); }

/* Hand fd to the request: req_end closes it.  False (fd closed) when the
 * cleanup cannot be registered. */
static bool defer_close(conn_t *c, int fd)
{
    if (req_defer(c, close_fd, (void *)(intptr_t)fd) == 0)
        return true;
    close(fd);
    return false;
}

static char *req_strndup(conn_t *c, const char *s, size_t n)
{
    char *d = req_alloc(c, n + 1);
    if (d)
        memcpy(d, s, n), d[n] = '\0';
    return d;
}

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

/* Queue the head of a response.  False when out of request memory: a fixed
 * 500 is queued instead and the connection closes after it. */
static bool queue_head(conn_t *c, int status, const char *ctype, long long len)
{
    /* A 405 must list the methods the resource supports (RFC 9110, 15.5.6). */
    char *h = req_sprintf(c,
                          "HTTP/1.1 %d %s\r\nServer: arenapool-example\r\nContent-Type: %s\r\n"
                          "Content-Length: %lld\r\n%sConnection: %s\r\n\r\n",
                          status, reason(status), ctype, len,
                          status == 405 ? "Allow: GET, HEAD\r\n" : "",
                          c->closing ? "close" : "keep-alive");
    c->body = NULL, c->body_len = 0, c->sent = 0;
    if (h == NULL) {
        static const char oom[] = "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n"
                                  "Connection: close\r\n\r\n";
        c->closing = true;
        c->out = oom, c->out_len = sizeof oom - 1;
        return false;
    }
    c->out = h, c->out_len = strlen(h);
    return true;
}

/* Queue a response whose body is in memory that lives until req_end. */
static void respond(conn_t *c, int status, const char *ctype, const char *body, size_t len,
                    bool head_only)
{
    if (queue_head(c, status, ctype, (long long)len) && !head_only)
        c->body = body, c->body_len = len;
}

/* A status with its reason as the body; the connection stays open. */
static void respond_status(conn_t *c, int status, bool head_only)
{
    char *body = req_sprintf(c, "%d %s\n", status, reason(status));
    respond(c, status, "text/plain; charset=utf-8", body ? body : "", body ? strlen(body) : 0,
            head_only);
}

/* Error answers end the connection: after a malformed request the stream
 * position is unknown (and a refused request's body is never read), so
 * nothing after it can be trusted. */
static void respond_error(conn_t *c, int status)
{
    c->closing = true;
    respond_status(c, status, false);
}

/* ---- Paths ---- */

static int hexval(char ch)
{
    if (ch >= '0' && ch <= '9') return ch - '0';
    if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F') return ch - 'A' + 10;
    return -1;
}

/* Percent-decode the path part of target into request memory.  NULL for a
 * bad escape, an encoded NUL, or a target that is not an absolute path. */
static char *decode_path(conn_t *c, const char *t)
{
    size_t n = strlen(t);
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

/* The decoded path as "/seg/seg" ("/" for the root), empty and "." segments
 * dropped, so that the links of a listing are canonical (an href "//x" would
 * name a host).  0, or 403 for a ".." segment, 500 without memory. */
static int clean_path(conn_t *c, const char *path, char **out)
{
    char *o = req_alloc(c, strlen(path) + 2), *w = o;
    if (o == NULL)
        return 500;
    for (const char *p = path; *p;) {
        while (*p == '/')
            p++;
        size_t n = strcspn(p, "/");
        if (n == 2 && p[0] == '.' && p[1] == '.')
            return 403;
        if (n > 0 && !(n == 1 && p[0] == '.')) {
            *w++ = '/';
            memcpy(w, p, n);
            w += n;
        }
        p += n;
    }
    if (w == o)
        *w++ = '/';
    *w = '\0';
    *out = o;
    return 0;
}

/* Open a clean path under rootfd one component at a time with O_NOFOLLOW: a
 * symlink anywhere fails (ELOOP, ENOTDIR), so nothing outside DIR is ever
 * reached.  Returns an fd of the last component, a file or a directory, or -1
 * with the HTTP status in *status. */
static int open_under(int rootfd, const char *path, int *status)
{
    int dir = fcntl(rootfd, F_DUPFD_CLOEXEC, 0);
    if (dir < 0) {
        *status = 500;
        return -1;
    }
    for (const char *p = path + 1; *p;) {
        size_t n = strcspn(p, "/");
        char name[NAME_MAX + 1];
        if (n > NAME_MAX) {
            close(dir);
            *status = 404;
            return -1;
        }
        memcpy(name, p, n), name[n] = '\0';
        int fd = openat(dir, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
        int e = errno;
        close(dir);
        if (fd < 0) {
            *status = e == ENOENT || e == ENOTDIR ? 404 : 403;
            return -1;
        }
        dir = fd;
        p += n + (p[n] == '/');
    }
    return dir;
}

/* ---- Directory listings ---- */

typedef struct entry {
    const char *name;
    bool dir;
} entry_t;

typedef struct entry_node {
    entry_t e;
    struct entry_node *next;
} entry_node_t;

/* The page is measured (out NULL) and then written by the same code, so it
 * takes one allocation of the exact size and no buffer that grows. */
typedef struct page {
    char *out;
    size_t len;
} page_t;

static void put(page_t *p, const char *s, size_t n)
{
    if (p->out)
        memcpy(p->out + p->len, s, n);
    p->len += n;
}

static void put_str(page_t *p, const char *s) { put(p, s, strlen(s)); }

/* Percent-encode for a URL path: everything but unreserved characters and '/'. */
static void put_url(page_t *p, const char *s, size_t n)
{
    static const char hex[] = "0123456789ABCDEF";
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
            ch == '-' || ch == '.' || ch == '_' || ch == '~' || ch == '/') {
            put(p, (const char *)&s[i], 1);
        } else {
            char esc[3] = {'%', hex[ch >> 4], hex[ch & 15]};
            put(p, esc, 3);
        }
    }
}

static void put_html(page_t *p, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '&': put_str(p, "&amp;"); break;
        case '<': put_str(p, "&lt;"); break;
        case '>': put_str(p, "&gt;"); break;
        case '"': put_str(p, "&quot;"); break;
        case '\'': put_str(p, "&#39;"); break;
        default: put(p, s, 1);
        }
    }
}

/* base: the directory's clean path, "" for the root. */
static void listing_page(page_t *p, const char *base, const entry_t *v, size_t n)
{
    put_str(p, "<!doctype html>\n<meta charset=\"utf-8\">\n<title>Index of ");
    put_html(p, base);
    put_str(p, "/</title>\n<h1>Index of ");
    put_html(p, base);
    put_str(p, "/</h1>\n<ul>\n");
    if (*base) {
        put_str(p, "<li><a href=\"");
        put_url(p, base, (size_t)(strrchr(base, '/') - base));
        put_str(p, "/\">../</a>\n");
    }
    for (size_t i = 0; i < n; i++) {
        put_str(p, "<li><a href=\"");
        put_url(p, base, strlen(base));
        put_str(p, "/");
        put_url(p, v[i].name, strlen(v[i].name));
        put_str(p, v[i].dir ? "/\">" : "\">");
        put_html(p, v[i].name);
        put_str(p, v[i].dir ? "/</a>\n" : "</a>\n");
    }
    put_str(p, "</ul>\n");
}

static int entry_cmp(const void *a, const void *b)
{
    return strcmp(((const entry_t *)a)->name, ((const entry_t *)b)->name);
}

/* A directory without index.html gets a listing, as nginx's autoindex gives
 * one: the entries a request could be served (regular files and directories;
 * no symlinks, which are never followed; no dot files, which autoindex hides
 * too), sorted by name, with absolute links.  Every string of it lives in
 * request memory, so the listing of a huge directory is bounded by the
 * connection's cap (500 past it) and nothing is left to free. */
static void serve_listing(conn_t *c, int dfd, const char *path, bool head_only)
{
    int fd = fcntl(dfd, F_DUPFD_CLOEXEC, 0); /* closedir closes it; dfd stays the request's */
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    if (d == NULL) {
        if (fd >= 0)
            close(fd);
        respond_error(c, 500);
        return;
    }
    if (req_defer(c, close_dir, d) != 0) {
        closedir(d);
        respond_error(c, 500);
        return;
    }
    entry_node_t *list = NULL;
    size_t n = 0;
    for (struct dirent *de; (de = readdir(d)) != NULL;) {
        struct stat st;
        if (de->d_name[0] == '.' || fstatat(dfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 ||
            !(S_ISREG(st.st_mode) || S_ISDIR(st.st_mode)))
            continue;
        entry_node_t *x = req_alloc(c, sizeof *x);
        char *name = x ? req_strndup(c, de->d_name, strlen(de->d_name)) : NULL;
        if (name == NULL) {
            respond_error(c, 500);
            return;
        }
        x->e = (entry_t){name, S_ISDIR(st.st_mode)};
        x->next = list, list = x, n++;
    }
    entry_t *v = req_alloc(c, (n ? n : 1) * sizeof *v);
    if (v == NULL) {
        respond_error(c, 500);
        return;
    }
    for (size_t i = 0; list; list = list->next)
        v[i++] = list->e;
    qsort(v, n, sizeof *v, entry_cmp);

    const char *base = strcmp(path, "/") == 0 ? "" : path;
    page_t page = {NULL, 0};
    listing_page(&page, base, v, n);
    if ((page.out = req_alloc(c, page.len)) == NULL) {
        respond_error(c, 500);
        return;
    }
    page.len = 0;
    listing_page(&page, base, v, n);
    respond(c, 200, "text/html; charset=utf-8", page.out, page.len, head_only);
}

/* ---- Serving ---- */

/* fd is the request's (closed by req_end); st its status. */
static void serve_file(conn_t *c, int fd, const struct stat *st, const char *path, bool head_only)
{
    if (queue_head(c, 200, mime_type(path), (long long)st->st_size) && !head_only && st->st_size > 0)
        c->file_fd = fd, c->file_off = 0, c->file_end = st->st_size;
}

/* GET or HEAD of a decoded path: a regular file, a directory's index.html,
 * or a directory's listing.  403/404 keep the connection: the request itself
 * was well formed. */
static void serve_path(server_t *s, conn_t *c, const char *decoded, bool head_only)
{
    char *path = NULL;
    int status = clean_path(c, decoded, &path);
    int fd = status ? -1 : open_under(s->rootfd, path, &status);
    if (fd < 0) {
        if (status == 500)
            respond_error(c, 500);
        else
            respond_status(c, status, head_only);
        return;
    }
    struct stat st;
    if (!defer_close(c, fd) || fstat(fd, &st) != 0) {
        respond_error(c, 500);
        return;
    }
    if (S_ISDIR(st.st_mode)) {
        int ifd = openat(fd, "index.html", O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
        struct stat ist;
        if (ifd >= 0 && (!defer_close(c, ifd) || fstat(ifd, &ist) != 0)) {
            respond_error(c, 500);
            return;
        }
        if (ifd >= 0 && S_ISREG(ist.st_mode))
            serve_file(c, ifd, &ist, "index.html", head_only);
        else
            serve_listing(c, fd, path, head_only);
        return;
    }
    if (!S_ISREG(st.st_mode)) {
        respond_status(c, 403, head_only);
        return;
    }
    serve_file(c, fd, &st, path, head_only);
}

static void serve_stats(server_t *s, conn_t *c, bool head_only)
{
    const char *mem = mem_stats(s, c);
    char *body = mem ? req_sprintf(c,
                                   "build: %s\nrequests: %lu\nrejected: %lu\nrss_kib: %zu\n"
                                   "connections: %zu (max %d)\n%s",
                                   MEM_NAME, s->requests, s->rejected, rss_kib(), s->live,
                                   s->max_conns, mem)
                     : NULL;
    if (body == NULL) {
        respond_error(c, 500);
        return;
    }
    respond(c, 200, "text/plain; charset=utf-8", body, strlen(body), head_only);
}

/* ---- Requests ---- */

typedef struct header {
    const char *name, *value;
} header_t;

/* A parsed request head; every string in request memory. */
typedef struct request {
    char *method, *target;
    int minor; /* HTTP/1.minor */
    header_t *headers;
    size_t nheaders;
} request_t;

static bool is_tchar(unsigned char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
           (ch && strchr("!#$%&'*+-.^_`|~", ch));
}

/* "METHOD SP TARGET SP HTTP/1.x" in [in, eol).  0 or an HTTP status. */
static int parse_request_line(conn_t *c, const char *in, const char *eol, request_t *rq)
{
    const char *sp1 = memchr(in, ' ', (size_t)(eol - in));
    const char *sp2 = sp1 ? memchr(sp1 + 1, ' ', (size_t)(eol - sp1 - 1)) : NULL;
    if (sp1 == NULL || sp2 == NULL || sp1 == in || sp2 == sp1 + 1)
        return 400;
    for (const char *p = in; p < sp1; p++)
        if (!is_tchar((unsigned char)*p))
            return 400;
    for (const char *p = sp1 + 1; p < sp2; p++)
        if ((unsigned char)*p <= ' ' || *p == 0x7f)
            return 400;
    size_t vlen = (size_t)(eol - sp2 - 1);
    if (vlen < 5 || memcmp(sp2 + 1, "HTTP/", 5) != 0)
        return 400;
    if (vlen != 8 || memcmp(sp2 + 1, "HTTP/1.", 7) != 0 || (sp2[8] != '0' && sp2[8] != '1'))
        return 505;
    rq->minor = sp2[8] - '0';
    rq->method = req_strndup(c, in, (size_t)(sp1 - in));
    rq->target = req_strndup(c, sp1 + 1, (size_t)(sp2 - sp1 - 1));
    return rq->method && rq->target ? 0 : 500;
}

/* Header lines "name: value CRLF" in [line, end): token names, optional
 * whitespace around values trimmed, no obs-fold, no control bytes.  0 or an
 * HTTP status. */
static int parse_headers(conn_t *c, const char *line, const char *end, request_t *rq)
{
    header_t *hs = rq->headers = req_alloc(c, MAX_HEADERS * sizeof *hs);
    if (hs == NULL)
        return 500;
    while (line < end) {
        const char *le = memchr(line, '\r', (size_t)(end - line));
        if (le == NULL || le[1] != '\n')
            return 400;
        const char *colon = memchr(line, ':', (size_t)(le - line));
        if (colon == NULL || colon == line)
            return 400;
        for (const char *p = line; p < colon; p++)
            if (!is_tchar((unsigned char)*p))
                return 400;
        const char *v = colon + 1, *ve = le;
        while (v < ve && (*v == ' ' || *v == '\t'))
            v++;
        while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
            ve--;
        for (const char *p = v; p < ve; p++)
            if (((unsigned char)*p < ' ' && *p != '\t') || *p == 0x7f)
                return 400;
        if (rq->nheaders == MAX_HEADERS)
            return 431;
        char *name = req_strndup(c, line, (size_t)(colon - line));
        char *value = req_strndup(c, v, (size_t)(ve - v));
        if (!name || !value)
            return 500;
        hs[rq->nheaders++] = (header_t){name, value};
        line = le + 2;
    }
    return 0;
}

/* One Host, required in HTTP/1.1 (two are ambiguous); keep-alive is the 1.1
 * default, close the 1.0 one, and Connection overrides either.  0 or an HTTP
 * status. */
static int read_host_and_connection(conn_t *c, const request_t *rq)
{
    bool has_host = false, keep = rq->minor == 1;
    for (size_t i = 0; i < rq->nheaders; i++) {
        const header_t *h = &rq->headers[i];
        if (strcasecmp(h->name, "Host") == 0) {
            if (has_host)
                return 400;
            has_host = true;
        } else if (strcasecmp(h->name, "Connection") == 0) {
            if (strcasecmp(h->value, "close") == 0)
                keep = false;
            else if (strcasecmp(h->value, "keep-alive") == 0)
                keep = true;
        }
    }
    if (rq->minor == 1 && !has_host)
        return 400;
    c->closing = !keep;
    return 0;
}

/* GET and HEAD are all this server does.  Checked before the body rules, so
 * that a POST with a body hears 405 (with Allow), not 400. */
static int check_method(const request_t *rq)
{
    return strcmp(rq->method, "GET") == 0 || strcmp(rq->method, "HEAD") == 0 ? 0 : 405;
}

/* GET and HEAD carry no body here, and the server never guesses how long one
 * is: Transfer-Encoding gives 501, a Content-Length other than 0 gives 400. */
static int check_no_body(const request_t *rq)
{
    for (size_t i = 0; i < rq->nheaders; i++) {
        const header_t *h = &rq->headers[i];
        if (strcasecmp(h->name, "Transfer-Encoding") == 0)
            return 501;
        if (strcasecmp(h->name, "Content-Length") == 0 && strcmp(h->value, "0") != 0)
            return 400;
    }
    return 0;
}

/* Handle the request whose head is in[0, head_len) (ending "\r\n\r\n"):
 * parse, check, route.  Everything it allocates is request memory; it always
 * queues a response. */
static void handle(server_t *s, conn_t *c, size_t head_len)
{
    const char *in = c->in, *end = in + head_len;
    const char *eol = memchr(in, '\r', head_len); /* the head ends in CRLF CRLF: found */
    request_t rq = {0};
    int status = eol[1] != '\n' ? 400 : parse_request_line(c, in, eol, &rq);
    if (status == 0)
        status = parse_headers(c, eol + 2, end - 2, &rq);
    if (status == 0)
        status = read_host_and_connection(c, &rq);
    if (status == 0)
        status = check_method(&rq);
    if (status == 0)
        status = check_no_body(&rq);
    char *path = status ? NULL : decode_path(c, rq.target);
    if (status == 0 && path == NULL)
        status = 400;
    if (status) {
        respond_error(c, status);
        return;
    }
    bool head_only = strcmp(rq.method, "HEAD") == 0;
    if (strcmp(path, "/stats") == 0)
        serve_stats(s, c, head_only);
    else
        serve_path(s, c, path, head_only);
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

/* Write what is queued: head and in-memory body in one call, then the file.
 * 1 = done, 0 = blocked (wait for EPOLLOUT), -1 = close. */
static int flush_out(conn_t *c)
{
    while (c->sent < c->out_len + c->body_len) {
        struct iovec iov[2];
        size_t k = 0, b = c->sent > c->out_len ? c->sent - c->out_len : 0;
        if (c->sent < c->out_len)
            iov[k++] = (struct iovec){(void *)(c->out + c->sent), c->out_len - c->sent};
        if (b < c->body_len)
            iov[k++] = (struct iovec){(void *)(c->body + b), c->body_len - b};
        ssize_t n = sendmsg(c->fd, &(struct msghdr){.msg_iov = iov, .msg_iovlen = k}, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -1;
        c->sent += (size_t)n;
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
            req_end(c); /* frees the request's memory and closes its files */
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
    if (mem_init(&s) != 0) {
        perror("http_server: memory");
        return 1;
    }

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
    fprintf(stderr, "http_server (%s build): listening on 127.0.0.1:%d, serving %s\n", MEM_NAME,
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
            /* Only seconds that served requests: an idle server stays quiet. */
            if (s.req_this_second && now - last == 1)
                fprintf(stderr, "http_server: %lu req/s, %zu conns, rss %zu KiB\n", s.req_this_second,
                        s.live, rss_kib());
            else if (s.req_this_second)
                fprintf(stderr, "http_server: %lu requests in %lld s, %zu conns, rss %zu KiB\n",
                        s.req_this_second, (long long)(now - last), s.live, rss_kib());
            s.req_this_second = 0;
            last = now;
        }
    }

    while (s.head.next != &s.head)
        conn_close(&s, s.head.next);
    mem_fini(&s);
    close(s.lfd), close(s.ep), close(s.rootfd), close(s.spare_fd);
    fprintf(stderr, "http_server: %lu requests served, bye\n", s.requests);
    return 0;
}
