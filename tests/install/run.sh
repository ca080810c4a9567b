#!/bin/sh
# run.sh MAKE - install into a temporary DESTDIR with PREFIX=/usr, build small
# consumers with pkg-config (static and shared, C and C++) using the installed
# include form <arenapool/...>, run them, then uninstall and check that no file
# is left behind.
set -eu
MAKE=${1:-make}
CC=${CC:-gcc}
tmp=$(mktemp -d /tmp/arenapool-install.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
dest=$tmp/root
fail() { echo "test-install: FAILED: $*" >&2; exit 1; }

# The .pc file depends only on the Makefile, so one generated for another
# PREFIX would be installed as is: regenerate it for this PREFIX.
rm -f build/arenapool.pc
$MAKE --no-print-directory install PREFIX=/usr DESTDIR="$dest" >/dev/null

lib=$dest/usr/lib
for f in include/arenapool/arena.h include/arenapool/pool.h include/arenapool/mp.h \
         include/arenapool/version.h lib/libarenapool.a \
         lib/libarenapool.so lib/libarenapool.so.0 lib/pkgconfig/arenapool.pc; do
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
fi

$MAKE --no-print-directory uninstall PREFIX=/usr DESTDIR="$dest" >/dev/null
left=$(find "$dest" ! -type d)
[ -z "$left" ] || fail "left after uninstall: $left"
echo "test-install: ok (installed, built static+shared consumers, uninstalled; empty directories left: $(find "$dest" -mindepth 1 -type d | wc -l))"
