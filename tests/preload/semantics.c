/*
 * semantics.c - the malloc family's observable behaviour (results, errno,
 * alignment, sizes), printed without addresses so that a run under glibc and
 * a run under LD_PRELOAD=libarenapool_malloc.so must print the same lines.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define SHOW(label, expr)                                                                     \
    do {                                                                                      \
        errno = 0;                                                                            \
        void *p_ = (expr);                                                                    \
        int e_ = errno;                                                                       \
        printf("%-34s %s errno=%-6s align16=%d\n", label, p_ ? "ptr " : "NULL",              \
               e_ == 0 ? "0" : e_ == ENOMEM ? "ENOMEM" : e_ == EINVAL ? "EINVAL" : "other", \
               p_ ? ((uintptr_t)p_ % 16 == 0) : -1);                                          \
        free(p_);                                                                             \
    } while (0)

/* Hides constants from the compiler, which would fold or reject the calls. */
static size_t V(size_t x)
{
    volatile size_t v = x;
    return v;
}

static int aligned_to(void *p, size_t a) { return p && (uintptr_t)p % a == 0; }

int main(void)
{
    long ps = sysconf(_SC_PAGESIZE);
    SHOW("malloc(0)", malloc(V(0)));
    SHOW("malloc(1)", malloc(1));
    SHOW("malloc(SIZE_MAX)", malloc(V(SIZE_MAX)));
    SHOW("malloc(PTRDIFF_MAX+1)", malloc(V((size_t)PTRDIFF_MAX + 1)));
    SHOW("calloc(0,0)", calloc(V(0), 0));
    SHOW("calloc(overflow)", calloc(V(SIZE_MAX / 2), 3));
    SHOW("realloc(NULL,10)", realloc(NULL, 10));
    SHOW("reallocarray(NULL,overflow)", reallocarray(NULL, V(SIZE_MAX / 2), 3));
    SHOW("reallocarray(NULL,4,8)", reallocarray(NULL, 4, 8));
    SHOW("memalign(3,10)", memalign(3, 10));
    SHOW("memalign(48,10)", memalign(48, 10));
    SHOW("memalign(SIZE_MAX/2+2,1)", memalign(V(SIZE_MAX / 2 + 2), 1));
    SHOW("aligned_alloc(64,100)", aligned_alloc(64, 100));
    SHOW("aligned_alloc(4096,SIZE_MAX)", aligned_alloc(4096, V(SIZE_MAX)));
    SHOW("valloc(1)", valloc(1));
    SHOW("pvalloc(0)", pvalloc(0));
    SHOW("pvalloc(SIZE_MAX)", pvalloc(V(SIZE_MAX)));

    errno = 0;
    void *r = malloc(100);
    void *q = realloc(r, 0);
    printf("realloc(p,0) -> %s errno=%d\n", q ? "ptr" : "NULL", errno);
    free(q);

    for (size_t a = 1; a <= (size_t)1 << 20; a <<= 1) {
        void *p = NULL;
        errno = 0;
        int rc = posix_memalign(&p, a, 1000);
        printf("posix_memalign(%zu) rc=%d aligned=%d errno=%d\n", a, rc, rc == 0 ? aligned_to(p, a) : -1, errno);
        free(p);
    }
    void *pm = (void *)1;
    printf("posix_memalign(24) rc=%d untouched=%d\n", posix_memalign(&pm, 24, 8), pm == (void *)1);
    printf("posix_memalign(huge size) rc=%d\n", posix_memalign(&pm, 64, V(SIZE_MAX - 100)));

    void *v = valloc(100), *pv = pvalloc(100);
    printf("valloc page aligned=%d pvalloc page aligned=%d usable>=page=%d\n", aligned_to(v, (size_t)ps),
           aligned_to(pv, (size_t)ps), malloc_usable_size(pv) >= (size_t)ps);
    free(v);
    free(pv);
    printf("malloc_usable_size(NULL)=%zu\n", malloc_usable_size(NULL));

    /* Growth by realloc keeps contents, across every size range. */
    unsigned char *g = NULL;
    size_t n = 0, bad = 0;
    for (size_t want = 1; want < (size_t)8 << 20; want = want * 3 / 2 + 1) {
        g = realloc(g, want);
        for (size_t i = 0; i < n && i < want; i += 97)
            bad += g[i] != (unsigned char)(i * 31);
        for (size_t i = n; i < want; i++)
            g[i] = (unsigned char)(i * 31);
        bad += malloc_usable_size(g) < want;
        n = want;
    }
    free(g);
    printf("realloc growth: %zu bad\n", bad);

    /* fork from a process that has allocated: the child allocates too. */
    void *keep = malloc(12345);
    pid_t pid = fork();
    if (pid == 0) {
        void *c = malloc(777);
        free(keep);
        free(c);
        _exit(c ? 0 : 1);
    }
    int st;
    waitpid(pid, &st, 0);
    printf("fork child ok=%d\n", WIFEXITED(st) && WEXITSTATUS(st) == 0);
    free(keep);

    /* Read into a big buffer over pages of freed 256 KiB blocks, shrink it
     * to what arrived, grow it again; copy a fresh block's never-written
     * bytes into another and free it.  Correct programs: never stopped. */
    for (int i = 0; i < 8; i++) {
        void *t = malloc(256 * 1024);
        memset(t, 0, 256 * 1024);
        free(t);
    }
    char *x[8];
    for (int i = 0; i < 8; i++)
        x[i] = malloc(256 * 1024);
    for (int i = 0; i < 8; i++)
        free(x[i]);
    int fd[2];
    int piped = pipe(fd) == 0 && write(fd[1], "hello", 5) == 5;
    char *buf = malloc(400000);
    ssize_t got = piped ? read(fd[0], buf, 400000) : -1;
    char *b2 = realloc(buf, 4096);
    char *b3 = b2 ? realloc(b2, 8192) : NULL;
    printf("read and shrink: got=%zd ok=%d\n", got, b3 && memcmp(b3, "hello", 5) == 0);
    char *fresh = malloc(400000), *dst = malloc(64);
    memcpy(dst, fresh, 16);
    free(dst);
    free(fresh);
    free(b3);
    printf("copy of never-written bytes: ok\n");
    return 0;
}
