/*
 * mp_pagemap.c - the memory pool's page map and metadata: the radix tree
 * from any address to its span and class (mp__root and its leaves), span
 * records, and bump-allocated metadata, all mapped from the OS and never
 * returned.  Invariants: a leaf, once reserved, stays for the process's life,
 * so readers walk the map without a lock; span records are recycled, never
 * unmapped.  Called by the page heap (mp_page_heap.c), which decides what
 * each page maps to, by mp_central.c (mp__pagemap_mark) and by the central
 * and thread caches (mp__meta_alloc).  Its locks, mp__leaf_lock and
 * mp__meta_lock, come after the heap's (heap -> page-map leaves -> metadata).
 */
#include "mp_page_internal.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>

/* ---- Page map ---- */

uintptr_t mp__root[MP_ROOT_LEN + 1];
mp_leaf_t mp__leaf_empty;

pthread_mutex_t mp__leaf_lock = PTHREAD_MUTEX_INITIALIZER;

int mp__pagemap_reserve(uintptr_t addr, size_t len)
{
    uintptr_t first = addr >> (MP_PAGE_SHIFT + MP_LEAF_BITS);
    uintptr_t last = (addr + len - 1) >> (MP_PAGE_SHIFT + MP_LEAF_BITS);
    if (last >= MP_ROOT_LEN || addr + len < addr)
        return ENOMEM; /* outside the 48-bit space the map covers */
    int err = 0;
    pthread_mutex_lock(&mp__leaf_lock);
    for (uintptr_t i = first; i <= last && !err; i++) {
        if (MP__LOAD(&mp__root[i]) != 0)
            continue;
        size_t ps = ap__os_page_size();
        size_t bytes = (sizeof(mp_leaf_t) + ps - 1) & ~(ps - 1);
        void *leaf;
        err = ap__os_map(bytes, &leaf);
        if (!err)
            __atomic_store_n(&mp__root[i], (uintptr_t)leaf - (uintptr_t)&mp__leaf_empty,
                             __ATOMIC_RELEASE);
    }
    pthread_mutex_unlock(&mp__leaf_lock);
    return err;
}

/* Caller has reserved the page's leaf. */
void mp__pagemap_set(uintptr_t page, mp_span_t *s)
{
    mp_leaf_t *leaf = mp__leaf_of(page << MP_PAGE_SHIFT);
    MP__STORE(&leaf->span[page & (MP_LEAF_LEN - 1)], s);
}

/* Class and byte offset in the span of each of a span's n pages (cls 0: not
 * small).  Small spans are at most 255 pages, so the offset fits above the class. */
void mp__pagemap_set_class(uintptr_t page, size_t n, size_t cls)
{
    for (size_t i = 0; i < n; i++) {
        mp_leaf_t *leaf = mp__leaf_of((page + i) << MP_PAGE_SHIFT);
        MP__STORE(&leaf->meta[(page + i) & (MP_LEAF_LEN - 1)], cls ? mp__meta_make(cls, i) : 0u);
    }
}

mp_span_t *mp__span_of_page(uintptr_t page)
{
    return mp__span_at((const void *)(page << MP_PAGE_SHIFT));
}

void mp__pagemap_mark(const mp_span_t *s, size_t from, size_t to)
{
    for (size_t i = from; i < to; i++) {
        mp_leaf_t *leaf = mp__leaf_of((s->page + i) << MP_PAGE_SHIFT);
        MP__STORE(&leaf->meta[(s->page + i) & (MP_LEAF_LEN - 1)], mp__meta_make(s->cls, i));
    }
}

/* ---- Metadata: bump allocation from the OS, never returned ---- */

pthread_mutex_t mp__meta_lock = PTHREAD_MUTEX_INITIALIZER;
static char *meta_cur, *meta_end;
static mp_span_t *span_pool; /* recycled span records */

size_t mp__stat_mapped;
size_t mp__stat_large;

#define META_CHUNK ((size_t)256 * 1024)

static void *meta_alloc_locked(size_t size)
{
    size = (size + 63) & ~(size_t)63;
    if ((size_t)(meta_end - meta_cur) < size) {
        size_t bytes = size > META_CHUNK ? (size + META_CHUNK - 1) & ~(META_CHUNK - 1) : META_CHUNK;
        void *chunk;
        if (ap__os_map(bytes, &chunk) != 0)
            return NULL;
        MP__ADD(&mp__stat_mapped, bytes);
        meta_cur = chunk;
        meta_end = meta_cur + bytes;
    }
    void *p = meta_cur;
    meta_cur += size;
    return p;
}

void *mp__meta_alloc(size_t size)
{
    pthread_mutex_lock(&mp__meta_lock);
    void *p = meta_alloc_locked(size);
    pthread_mutex_unlock(&mp__meta_lock);
    return p;
}

mp_span_t *mp__span_new(void)
{
    pthread_mutex_lock(&mp__meta_lock);
    mp_span_t *s = span_pool;
    if (s)
        span_pool = s->next;
    else
        s = meta_alloc_locked(sizeof *s);
    pthread_mutex_unlock(&mp__meta_lock);
    if (s)
        memset(s, 0, sizeof *s);
    return s;
}

void mp__span_delete(mp_span_t *s)
{
    if (s == NULL)
        return;
    pthread_mutex_lock(&mp__meta_lock);
    MP__STORE(&s->state, (uint8_t)0);
    s->next = span_pool;
    span_pool = s;
    pthread_mutex_unlock(&mp__meta_lock);
}
