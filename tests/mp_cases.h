/*
 * mp_cases.h - threaded memory-pool test bodies, shared by the Criterion
 * suite (tests/test_mp_threads.c) and the ThreadSanitizer driver
 * (tests/tsan_mp.c), which cannot run Criterion.  The includer defines
 * MP_CHECK(cond, msg) to fail the test.
 *
 * Each block carries its requested size in its first word and a pattern
 * derived from its address in the rest; whoever frees it checks both.
 */
#ifndef ARENAPOOL_TESTS_MP_CASES_H
#define ARENAPOOL_TESTS_MP_CASES_H

#include "mp.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#ifndef MP_CHECK
#error "define MP_CHECK(cond, msg) before including mp_cases.h"
#endif

/* Smaller counts under TSan (10-20x slower); same shape. */
#ifndef MP_CASE_SCALE
#define MP_CASE_SCALE 1
#endif

static inline uint64_t mpc_rand(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *s = x;
}

static inline unsigned char mpc_byte(const void *p, size_t i)
{
    uintptr_t a = (uintptr_t)p;
    return (unsigned char)((a >> 4) ^ (a >> 12) ^ (i * 131u) ^ (i >> 8));
}

/* Write the header (requested size * 2 + 1 when the block came from
 * mp_aligned_alloc) and the pattern; the pattern covers only the first and
 * last 256 bytes of big blocks, to keep the tests fast. */
static inline void mpc_fill(void *p, size_t size, int aligned)
{
    unsigned char *b = p;
    size_t h = size * 2 + (aligned != 0);
    if (size < sizeof h)
        return;
    memcpy(b, &h, sizeof h);
    for (size_t i = sizeof h; i < size; i++) {
        if (i == 256 && size > 512)
            i = size - 256;
        b[i] = mpc_byte(p, i);
    }
}

/* The block's header word (see mpc_fill). */
static inline size_t mpc_header(const void *p)
{
    size_t h;
    memcpy(&h, p, sizeof h);
    return h;
}

/* 1 when the block still holds what mpc_fill wrote for `size`. */
static inline int mpc_check(const void *p, size_t size)
{
    const unsigned char *b = p;
    if (size < sizeof(size_t))
        return 1;
    if (mpc_header(p) / 2 != size)
        return 0;
    for (size_t i = sizeof(size_t); i < size; i++) {
        if (i == 256 && size > 512)
            i = size - 256;
        if (b[i] != mpc_byte(p, i))
            return 0;
    }
    return 1;
}

/* Mostly small sizes, some up to the largest class, a few large blocks. */
static inline size_t mpc_size(uint64_t *rng)
{
    uint64_t r = mpc_rand(rng);
    switch (r % 16) {
    case 0:
        return 8 + (r >> 8) % (300u * 1024);
    case 1:
        return (r >> 8) % 64 == 0 ? 300u * 1024 + (r >> 16) % (1u << 20) : 8 + (r >> 8) % 4096;
    default:
        return 8 + (r >> 8) % 512;
    }
}

/* ---- Randomised stress with cross-thread frees ---- */

#define MPC_SLOTS 512

typedef struct mpc_shared {
    _Atomic(void *) slot[MPC_SLOTS];
    atomic_int failures;
    int ops;
} mpc_shared_t;

typedef struct mpc_arg {
    mpc_shared_t *sh;
    uint64_t seed;
} mpc_arg_t;

static void *mpc_stress_thread(void *argp)
{
    mpc_arg_t *arg = argp;
    mpc_shared_t *sh = arg->sh;
    uint64_t rng = arg->seed;
    void *local[64] = {0};
    for (int op = 0; op < sh->ops; op++) {
        uint64_t r = mpc_rand(&rng);
        size_t size = mpc_size(&rng);
        int aligned = (r & 3) == 0;
        void *p = (r & 1) ? mp_alloc(size) : aligned ? mp_aligned_alloc(64, size) : mp_calloc(1, size);
        if (!p || ((uintptr_t)p & (aligned ? 63 : 15)) != 0) {
            atomic_fetch_add(&sh->failures, 1);
            continue;
        }
        mpc_fill(p, size, aligned);
        void *old;
        if ((r >> 8) % 4 == 0) { /* kept locally: freed by this thread */
            size_t i = (r >> 16) % 64;
            old = local[i];
            local[i] = p;
        } else { /* published: most likely freed by another thread */
            old = atomic_exchange(&sh->slot[(r >> 16) % MPC_SLOTS], p);
        }
        if (old) {
            size_t h = mpc_header(old), osz = h / 2;
            if (!mpc_check(old, osz))
                atomic_fetch_add(&sh->failures, 1);
            if ((r >> 24) % 3 == 0 && !(h & 1))
                mp_free_sized(old, osz);
            else if ((r >> 24) % 3 == 1)
                old = mp_realloc(old, osz / 2 + 8), mp_free(old);
            else
                mp_free(old);
        }
    }
    for (int i = 0; i < 64; i++) {
        if (local[i]) {
            if (!mpc_check(local[i], mpc_header(local[i]) / 2))
                atomic_fetch_add(&sh->failures, 1);
            mp_free(local[i]);
        }
    }
    return NULL;
}

static inline void mpc_case_stress(int nthreads, int ops)
{
    static mpc_shared_t sh;
    memset(&sh, 0, sizeof sh);
    sh.ops = ops / MP_CASE_SCALE;
    pthread_t t[16];
    mpc_arg_t args[16];
    MP_CHECK(nthreads <= 16, "at most 16 threads");
    for (int i = 0; i < nthreads; i++) {
        args[i].sh = &sh;
        args[i].seed = 0x9E3779B97F4A7C15ull * (uint64_t)(i + 1);
        MP_CHECK(pthread_create(&t[i], NULL, mpc_stress_thread, &args[i]) == 0, "pthread_create");
    }
    for (int i = 0; i < nthreads; i++)
        pthread_join(t[i], NULL);
    for (int i = 0; i < MPC_SLOTS; i++) {
        void *p = atomic_load(&sh.slot[i]);
        if (p) {
            MP_CHECK(mpc_check(p, mpc_header(p) / 2), "pattern intact in a published block");
            mp_free(p);
        }
    }
    MP_CHECK(atomic_load(&sh.failures) == 0, "every block allocated, aligned and intact");
    mp_stats_t st;
    mp_stats(&st);
    MP_CHECK(st.in_use == 0 && st.large == 0, "nothing live after the stress run");
}

/* ---- Producer / consumer: every block freed by the other thread ---- */

#define MPC_RING 1024

typedef struct mpc_ring {
    _Atomic(void *) cell[MPC_RING];
    atomic_size_t head, tail;
    atomic_int failures;
    size_t total;
} mpc_ring_t;

static void *mpc_producer(void *argp)
{
    mpc_ring_t *q = argp;
    uint64_t rng = 12345;
    for (size_t i = 0; i < q->total; i++) {
        size_t size = 16 + mpc_rand(&rng) % 1024;
        void *p = mp_alloc(size);
        if (!p) {
            atomic_fetch_add(&q->failures, 1);
            continue;
        }
        mpc_fill(p, size, 0);
        size_t h = atomic_load_explicit(&q->head, memory_order_relaxed);
        while (h - atomic_load_explicit(&q->tail, memory_order_acquire) >= MPC_RING)
            sched_yield();
        atomic_store_explicit(&q->cell[h % MPC_RING], p, memory_order_relaxed);
        atomic_store_explicit(&q->head, h + 1, memory_order_release);
    }
    return NULL;
}

static void *mpc_consumer(void *argp)
{
    mpc_ring_t *q = argp;
    size_t done = 0;
    while (done < q->total - (size_t)atomic_load(&q->failures)) {
        size_t t = atomic_load_explicit(&q->tail, memory_order_relaxed);
        if (t == atomic_load_explicit(&q->head, memory_order_acquire)) {
            sched_yield();
            continue;
        }
        void *p = atomic_load_explicit(&q->cell[t % MPC_RING], memory_order_relaxed);
        atomic_store_explicit(&q->tail, t + 1, memory_order_release);
        if (!mpc_check(p, mpc_header(p) / 2))
            atomic_fetch_add(&q->failures, 1);
        mp_free(p);
        done++;
    }
    return NULL;
}

static inline void mpc_case_producer_consumer(size_t total)
{
    static mpc_ring_t q;
    memset(&q, 0, sizeof q);
    q.total = total / MP_CASE_SCALE;
    pthread_t a, b;
    MP_CHECK(pthread_create(&a, NULL, mpc_producer, &q) == 0, "pthread_create");
    MP_CHECK(pthread_create(&b, NULL, mpc_consumer, &q) == 0, "pthread_create");
    pthread_join(a, NULL);
    pthread_join(b, NULL);
    MP_CHECK(atomic_load(&q.failures) == 0, "every block intact when the other thread freed it");
    mp_stats_t st;
    mp_stats(&st);
    MP_CHECK(st.in_use == 0, "nothing live after producer/consumer");
}

/* ---- Thread churn: thousands of short threads, bounded memory ---- */

static void *mpc_churn_thread(void *argp)
{
    uint64_t rng = (uint64_t)(uintptr_t)argp * 0x9E3779B97F4A7C15ull + 1;
    void *keep[32];
    for (int i = 0; i < 32; i++) {
        size_t size = 16 + mpc_rand(&rng) % 2048;
        keep[i] = mp_alloc(size);
        if (keep[i])
            mpc_fill(keep[i], size, 0);
    }
    for (int i = 0; i < 32; i += 2)
        mp_free(keep[i]);
    /* The odd ones go back to the creator, freed on another thread. */
    void **out = mp_alloc(16 * sizeof(void *));
    if (out)
        for (int i = 1; i < 32; i += 2)
            out[i / 2] = keep[i];
    return out;
}

static inline void mpc_case_thread_churn(int total)
{
    total /= MP_CASE_SCALE;
    size_t first_mapped = 0;
    int failures = 0;
    for (int wave = 0; wave < total / 8; wave++) {
        pthread_t t[8];
        for (int i = 0; i < 8; i++)
            MP_CHECK(pthread_create(&t[i], NULL, mpc_churn_thread, (void *)(uintptr_t)(wave * 8 + i + 1)) == 0,
                     "pthread_create");
        for (int i = 0; i < 8; i++) {
            void **out;
            pthread_join(t[i], (void **)&out);
            if (!out) {
                failures++;
                continue;
            }
            for (int k = 0; k < 16; k++) {
                failures += !out[k] || !mpc_check(out[k], mpc_header(out[k]) / 2);
                mp_free(out[k]);
            }
            mp_free(out);
        }
        if (wave == 4) {
            mp_stats_t st;
            mp_stats(&st);
            first_mapped = st.mapped;
        }
    }
    MP_CHECK(failures == 0, "blocks from exited threads intact");
    mp_stats_t st;
    mp_stats(&st);
    /* Exited threads' caches are reused, so memory stays near what the
     * first waves needed, however many threads came and went. */
    MP_CHECK(st.mapped <= first_mapped + ((size_t)8 << 20), "mapped bytes bounded under thread churn");
    MP_CHECK(st.in_use == 0, "nothing live after the churn");
}

/* ---- Flush and trim racing with allocating threads ---- */

static atomic_int mpc_stop;

static void *mpc_trimmer(void *argp)
{
    (void)argp;
    while (!atomic_load(&mpc_stop)) {
        mp_trim();
        mp_stats_t st;
        mp_stats(&st);
        sched_yield();
    }
    return NULL;
}

/* The stress case on three threads while a fourth runs `beside` until the
 * stress is done (mpc_stop). */
static inline void mpc_stress_beside(void *(*beside)(void *), int ops)
{
    atomic_store(&mpc_stop, 0);
    pthread_t tr;
    MP_CHECK(pthread_create(&tr, NULL, beside, NULL) == 0, "pthread_create");
    mpc_case_stress(3, ops);
    atomic_store(&mpc_stop, 1);
    pthread_join(tr, NULL);
}

static inline void mpc_case_trim_while_running(int ops) { mpc_stress_beside(mpc_trimmer, ops); }

/* The pool's test clock seam (mp_page_heap.c): ms added to its clock. */
extern uint64_t mp__clock_skew_ms;

/* A thread that moves the pool's clock past a decay period again and again
 * and then calls it (a large block, a small one), so every decay pass (the
 * page heap's, the central level's, this thread's cache) runs while other
 * threads allocate and free. */
static void *mpc_decayer(void *argp)
{
    (void)argp;
    while (!atomic_load(&mpc_stop)) {
        __atomic_add_fetch(&mp__clock_skew_ms, 1100, __ATOMIC_RELAXED);
        void *big = mp_alloc(300 * 1024);
        void *small = mp_alloc(64);
        MP_CHECK(big && small, "alloc while decaying");
        memset(big, 1, 4096);
        memset(small, 1, 64);
        mp_free(small);
        mp_free(big);
        sched_yield();
    }
    return NULL;
}

static inline void mpc_case_decay_while_running(int ops) { mpc_stress_beside(mpc_decayer, ops); }

/* ---- Aligned and large blocks across threads ---- */

/* Header word: size * 2 (+1 when aligned); then the address pattern in the
 * first and last 256 bytes and in one byte of every 4 KiB page, so a block
 * whose pages another block took over is caught wherever it lies. */
static inline void mpc_fill_pages(void *p, size_t size, int aligned)
{
    mpc_fill(p, size, aligned);
    unsigned char *b = p;
    for (size_t i = 4096 + 100; i + 256 < size; i += 4096)
        b[i] = mpc_byte(p, i);
}

/* The pattern mpc_fill_pages wrote for a block at address `origin`, looked
 * for at p (the same block, or its copy after a moving realloc). */
static inline int mpc_check_pages_from(const void *p, size_t size, uintptr_t origin)
{
    const unsigned char *b = p;
    const void *o = (const void *)origin;
    if (size < sizeof(size_t))
        return 1;
    if (mpc_header(p) / 2 != size)
        return 0;
    for (size_t i = sizeof(size_t); i < size; i++) {
        if (i == 256 && size > 512)
            i = size - 256;
        if (b[i] != mpc_byte(o, i))
            return 0;
    }
    for (size_t i = 4096 + 100; i + 256 < size; i += 4096)
        if (b[i] != mpc_byte(o, i))
            return 0;
    return 1;
}

static inline int mpc_check_pages(const void *p, size_t size)
{
    return mpc_check_pages_from(p, size, (uintptr_t)p);
}

/* Sizes for the aligned stress: small and page-sized blocks, large blocks at
 * 4 KiB steps past 300 000 (not multiples of 8 KiB), a few of several MiB. */
static inline size_t mpc_big_size(uint64_t *rng, size_t *align)
{
    uint64_t r = mpc_rand(rng);
    *align = 0;
    switch (r % 8) {
    case 0:
    case 1:
        *align = (size_t)16384 << ((r >> 8) % 7); /* 16 KiB .. 1 MiB */
        return 16 + (r >> 16) % 4096;
    case 2:
        *align = (size_t)16 << ((r >> 8) % 8); /* 16 B .. 2 KiB */
        return 16 + (r >> 16) % 20000;
    case 3:
    case 4:
        return 300000 + ((r >> 8) % 64) * 4096;
    case 5:
        return (r >> 8) % 32 == 0 ? ((size_t)2 << 20) + (r >> 16) % ((size_t)4 << 20) : 700000 + (r >> 16) % 100000;
    default:
        return 16 + (r >> 8) % 8192;
    }
}

typedef struct mpc_big_shared {
    _Atomic(void *) slot[64];
    atomic_int failures;
    int ops;
} mpc_big_shared_t;

typedef struct mpc_big_arg {
    mpc_big_shared_t *sh;
    uint64_t seed;
} mpc_big_arg_t;

/* Free (or first grow, then free) a block published by any thread. */
static inline int mpc_big_release(void *old, uint64_t r)
{
    size_t h = mpc_header(old), osz = h / 2;
    int bad = !mpc_check_pages(old, osz) || mp_usable_size(old) < osz;
    if (r % 4 == 0) { /* realloc keeps every byte, aligned blocks too */
        size_t nsz = osz + 4096 + (r >> 8) % 300000;
        uintptr_t origin = (uintptr_t)old;
        unsigned char *q = mp_realloc(old, nsz);
        if (!q)
            return 1;
        bad |= !mpc_check_pages_from(q, osz, origin);
        mpc_fill_pages(q, nsz, 0); /* the pattern follows the address */
        bad |= mp_usable_size(q) < nsz || !mpc_check_pages(q, nsz);
        old = q;
    }
    mp_free(old);
    return bad;
}

static void *mpc_big_thread(void *argp)
{
    mpc_big_arg_t *arg = argp;
    mpc_big_shared_t *sh = arg->sh;
    uint64_t rng = arg->seed;
    void *local[16] = {0};
    int bad = 0;
    for (int op = 0; op < sh->ops; op++) {
        size_t align;
        size_t size = mpc_big_size(&rng, &align);
        uint64_t r = mpc_rand(&rng);
        void *p = align ? mp_aligned_alloc(align, size) : mp_alloc(size);
        if (!p || ((uintptr_t)p & ((align ? align : 16) - 1)) != 0 || mp_usable_size(p) < size) {
            bad++;
            continue;
        }
        mpc_fill_pages(p, size, align != 0);
        void *old;
        if (r % 3 == 0) { /* kept by this thread for a while */
            old = local[(r >> 8) % 16];
            local[(r >> 8) % 16] = p;
        } else { /* published: freed by whichever thread comes next */
            old = atomic_exchange(&sh->slot[(r >> 8) % 64], p);
        }
        if (old)
            bad += mpc_big_release(old, r >> 16);
        /* every live local block still whole after the neighbour arrived */
        if (op % 16 == 0)
            for (int i = 0; i < 16; i++)
                if (local[i])
                    bad += !mpc_check_pages(local[i], mpc_header(local[i]) / 2) ||
                           mp_usable_size(local[i]) < mpc_header(local[i]) / 2;
    }
    for (int i = 0; i < 16; i++)
        if (local[i])
            bad += mpc_big_release(local[i], 1);
    atomic_fetch_add(&sh->failures, bad);
    return NULL;
}

/* Threads allocate aligned (16 B .. 1 MiB) and large blocks, keep some,
 * publish the rest to shared slots, and free or grow what they take from
 * them: every block checked for usable size and contents when it leaves. */
static inline void mpc_case_aligned_large_stress(int nthreads, int ops)
{
    static mpc_big_shared_t sh;
    memset(&sh, 0, sizeof sh);
    sh.ops = ops / MP_CASE_SCALE;
    pthread_t t[8];
    mpc_big_arg_t args[8];
    MP_CHECK(nthreads <= 8, "at most 8 threads");
    mp_stats_t st0;
    mp_stats(&st0);
    for (int i = 0; i < nthreads; i++) {
        args[i].sh = &sh;
        args[i].seed = 0xD1B54A32D192ED03ull * (uint64_t)(i + 1);
        MP_CHECK(pthread_create(&t[i], NULL, mpc_big_thread, &args[i]) == 0, "pthread_create");
    }
    for (int i = 0; i < nthreads; i++)
        pthread_join(t[i], NULL);
    int bad = atomic_load(&sh.failures);
    for (int i = 0; i < 64; i++) {
        void *p = atomic_load(&sh.slot[i]);
        if (p)
            bad += mpc_big_release(p, 1);
    }
    MP_CHECK(bad == 0, "aligned and large blocks allocated, aligned, usable and intact across threads");
    mp_stats_t st;
    mp_stats(&st);
    MP_CHECK(st.in_use == st0.in_use && st.large == st0.large, "nothing live after the aligned stress");
}

#endif /* ARENAPOOL_TESTS_MP_CASES_H */
