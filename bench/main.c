/*
 * main.c - one benchmark binary.  The build defines which contenders it
 * holds (BENCH_WITH_*); general allocators that replace malloc each get a
 * binary of their own, so they never interpose on each other.
 */
#include "contenders.h"

int main(int argc, char **argv)
{
    static const bench_contender_t *const cs[] = {
#ifdef BENCH_WITH_MALLOC
        &bench_c_malloc,
#endif
#ifdef BENCH_WITH_OBSTACK
        &bench_c_obstack,
#endif
#ifdef BENCH_WITH_TALLOC
        &bench_c_talloc,
#endif
#ifdef BENCH_WITH_APR
        &bench_c_apr,
#endif
#ifdef BENCH_WITH_MP
        &bench_c_mp,
#endif
#ifdef BENCH_WITH_ARENA
        &bench_c_arena,
        &bench_c_pool,
        &bench_c_bump,
#endif
    };
    return bench_main(argc, argv, cs, sizeof cs / sizeof cs[0]);
}
