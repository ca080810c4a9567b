/*
 * mp_checker.h - the memory pool under a memory checker (ASan, Memcheck):
 * poisoning of freed blocks, called from the slow paths.  See mp_checker.c.
 */
#ifndef ARENAPOOL_MP_CHECKER_H
#define ARENAPOOL_MP_CHECKER_H

#include "mp_internal.h"
#include "ap_checker.h"

/* Small block p of class cls is handed out: accessible, contents undefined. */
void mp__checker_alloc(void *p, size_t cls) AP__HIDDEN;
/* Small block p of class cls was freed (its free key written): poisoned. */
void mp__checker_free(void *p, size_t cls) AP__HIDDEN;
/* Large block [p, p+bytes) is handed out, or was resized to that (its pages
 * may read as zero). */
void mp__checker_large_alloc(void *p, size_t bytes) AP__HIDDEN;
/* A new small span [p, p+bytes): accessible (its pages may carry the
 * poison of blocks freed there before; the pool writes keys into it). */
void mp__checker_span_new(void *p, size_t bytes) AP__HIDDEN;
/* Large block [p, p+bytes) was freed. */
void mp__checker_large_free(void *p, size_t bytes) AP__HIDDEN;

#endif /* ARENAPOOL_MP_CHECKER_H */
