#!/bin/sh
# run.sh MAKE - install into a temporary DESTDIR with PREFIX=/usr, build small
# consumers with pkg-config (static and shared, C and C++) using the installed
# include form <arenapool/...>, the same with find_package(arenapool) in a CMake
# project (tests/install/cmake/), run them, then uninstall and check that no
# file is left behind.
set -eu
MAKE=${1:-make}
CC=${CC:-gcc}
tmp=$(mktemp -d /tmp/arenapool-install.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
dest=$tmp/root
fail() { echo "test-install: FAILED: $*" >&2; exit 1; }

# make install writes arenapool.pc and the CMake files for this PREFIX
# straight into DESTDIR (no copy in build/ that another install could change).
$MAKE --no-print-directory install PREFIX=/usr DESTDIR="$dest" >/dev/null

lib=$dest/usr/lib
for f in include/arenapool/arena.h include/arenapool/pool.h include/arenapool/mp.h \
         include/arenapool/version.h lib/libarenapool.a \
         lib/libarenapool.so lib/libarenapool.so.0 lib/libarenapool_malloc.so lib/pkgconfig/arenapool.pc \
         lib/cmake/arenapool/arenapool-config.cmake lib/cmake/arenapool/arenapool-config-version.cmake; do
  [ -e "$dest/usr/$f" ] || fail "missing /usr/$f"
done
grep -q '^prefix=/usr$' "$lib/pkgconfig/arenapool.pc" || fail "arenapool.pc prefix is not /usr"
soname=$(readelf -d "$lib/libarenapool.so" | sed -n 's/.*SONAME.*\[\(.*\)\]/\1/p')
[ "$soname" = libarenapool.so.0 ] || fail "soname is '$soname'"

export PKG_CONFIG_SYSROOT_DIR="$dest" PKG_CONFIG_PATH="$lib/pkgconfig" PKG_CONFIG_LIBDIR="$lib/pkgconfig"
cflags=$(pkg-config --cflags arenapool | sed "s/ *$//")
libs=$(pkg-config --libs arenapool)
slibs=$(pkg-config --static --libs arenapool)
echo "pkg-config: cflags '$cflags' libs '$libs' static '$slibs'"
case "$cflags" in *"$dest/usr/include") ;; *) fail "cflags do not name DESTDIR's include/ (for <arenapool/arena.h>)" ;; esac
# The consumer checks that the headers' ARENAPOOL_VERSION is what pkg-config says.
cflags="$cflags -DEXPECT_VERSION=\"$(pkg-config --modversion arenapool)\""

# Shared: the .so through -larenapool, found at run time with LD_LIBRARY_PATH.
$CC -std=c11 -Wall -Wextra -Werror $cflags tests/install/consumer.c $libs -o "$tmp/shared"
readelf -d "$tmp/shared" | grep -q 'NEEDED.*libarenapool.so.0' || fail "shared consumer does not need libarenapool.so.0"
LD_LIBRARY_PATH="$lib" "$tmp/shared" || fail "shared consumer"
# Static: the same flags with the linker told to prefer the archive.
$CC -std=c11 -Wall -Wextra -Werror $cflags tests/install/consumer.c \
    -Wl,-Bstatic $(echo "$slibs" | sed 's/-lpthread//') -Wl,-Bdynamic -lpthread -o "$tmp/static"
! readelf -d "$tmp/static" | grep -q 'libarenapool' || fail "static consumer still needs the .so"
"$tmp/static" || fail "static consumer"
# C++ header, if installed.
if [ -e "$dest/usr/include/arenapool/arenapool.hpp" ] && command -v g++ >/dev/null; then
  g++ -std=c++17 -Wall -Wextra -Werror $cflags tests/install/consumer.cpp $libs -o "$tmp/cxx"
  LD_LIBRARY_PATH="$lib" "$tmp/cxx" || fail "C++ consumer"
  # An older standard stops at the header's #error, which says why.
  ! g++ -std=c++14 -fsyntax-only $cflags tests/install/consumer.cpp 2>"$tmp/cxx14.log" || fail "C++14 accepted arenapool.hpp"
  grep -q 'arenapool.hpp needs C++17' "$tmp/cxx14.log" || fail "C++14: no '#error \"arenapool.hpp needs C++17\"'"
fi

# CMake: find_package(arenapool CONFIG) from the installed tree (tests/install/cmake/).
command -v cmake >/dev/null || fail "cmake is not installed (.ci/deps.sh test installs it)"
cm=$tmp/cmake
if ! { cmake -S tests/install/cmake -B "$cm" -DCMAKE_PREFIX_PATH="$dest/usr" -DCMAKE_C_COMPILER="$CC" &&
       cmake --build "$cm"; } >"$tmp/cmake.log" 2>&1; then
  cat "$tmp/cmake.log"; fail "CMake consumer project"
fi
readelf -d "$cm/consumer_shared" | grep -q 'NEEDED.*libarenapool.so.0' || fail "CMake: arenapool::arenapool is not the shared library"
! readelf -d "$cm/consumer_static" | grep -q 'libarenapool' || fail "CMake: arenapool::arenapool_static needs the .so"
LD_LIBRARY_PATH="$lib" "$cm/consumer_shared" || fail "CMake shared consumer"
preload=$(cat "$cm/preload.txt")
[ "$preload" = "$lib/libarenapool_malloc.so" ] || fail "CMake: arenapool::malloc is '$preload'"
LD_PRELOAD="$preload" "$cm/consumer_static" || fail "CMake static consumer under LD_PRELOAD=arenapool::malloc"

$MAKE --no-print-directory uninstall PREFIX=/usr DESTDIR="$dest" >/dev/null
left=$(find "$dest" ! -type d)
[ -z "$left" ] || fail "left after uninstall: $left"
echo "test-install: ok (installed; pkg-config and CMake consumers, static and shared, ran; uninstalled; empty directories left: $(find "$dest" -mindepth 1 -type d | wc -l))"
