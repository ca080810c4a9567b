/*
 * arenapool/version.h - the library's version, the one place it is written.
 *
 * The Makefile reads the three numbers below for the shared library's file
 * name, arenapool.pc and the CMake package's version file, so a release
 * changes this file only.  Installed as arenapool/version.h.
 */
#ifndef ARENAPOOL_VERSION_H
#define ARENAPOOL_VERSION_H

/* Semantic versioning: MAJOR is also the shared library's soname number
 * (libarenapool.so.MAJOR); before 1.0 a MINOR change may break the API. */
#define ARENAPOOL_VERSION_MAJOR 0
#define ARENAPOOL_VERSION_MINOR 2
#define ARENAPOOL_VERSION_PATCH 0

/* "MAJOR.MINOR.PATCH", built from the numbers above so the two cannot disagree. */
#define ARENAPOOL__STR2(x) #x
#define ARENAPOOL__STR(x) ARENAPOOL__STR2(x)
#define ARENAPOOL_VERSION                                                            \
    ARENAPOOL__STR(ARENAPOOL_VERSION_MAJOR)                                          \
    "." ARENAPOOL__STR(ARENAPOOL_VERSION_MINOR) "." ARENAPOOL__STR(ARENAPOOL_VERSION_PATCH)

/* One number that orders versions: 0.1.0 -> 100, 1.2.3 -> 10203. */
#define ARENAPOOL_VERSION_NUMBER                                                     \
    (ARENAPOOL_VERSION_MAJOR * 10000 + ARENAPOOL_VERSION_MINOR * 100 + ARENAPOOL_VERSION_PATCH)

#ifdef __cplusplus
extern "C" {
#endif

/* ARENAPOOL_VERSION_NUMBER of the library the program runs with (the shared
 * library or LD_PRELOAD malloc actually loaded), to compare with the one it
 * was compiled against. */
int arenapool_version(void);

#ifdef __cplusplus
}
#endif

#endif
