#!/bin/sh
# run.sh MAKE - programs built against the installed library (a staged
# `make install PREFIX=/usr DESTDIR=...`, release build) with a checker's own
# flags, as a user builds them:
#   - good.c, a correct program, must run with no report: clang ASan+UBSan
#     and gcc ASan, static and shared; Memcheck on a plain build and on one
#     with -DARENAPOOL_VALGRIND, static and shared.
#   - bad.c CASE, one use of memory after the library took it back (rewind,
#     reset, pool_free, mp_free, a large mp_free), each case in its own
#     process, must be reported by the same checkers; and bad.c CASE ok (the
#     same steps without the bad read) must not.
set -u
MAKE=${1:-make}
CC=${CC:-gcc}
CLANG=${CLANG:-clang}
VALGRIND=${VALGRIND:-valgrind}
tmp=$(mktemp -d /tmp/arenapool-checkers.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
dest=$tmp/root
fails=0
ok() { echo "ok   $*"; }
bad() { echo "FAIL $*"; fails=$((fails + 1)); }

$MAKE --no-print-directory install PREFIX=/usr DESTDIR="$dest" >/dev/null || { echo "test-checkers: install failed"; exit 1; }
lib=$dest/usr/lib
export PKG_CONFIG_SYSROOT_DIR="$dest" PKG_CONFIG_PATH="$lib/pkgconfig" PKG_CONFIG_LIBDIR="$lib/pkgconfig"
cflags=$(pkg-config --cflags arenapool)
libs=$(pkg-config --libs arenapool)
static="-Wl,-Bstatic $(pkg-config --static --libs arenapool | sed 's/-lpthread//') -Wl,-Bdynamic -lpthread"
export LD_LIBRARY_PATH="$lib"
W="-std=c11 -Wall -Wextra -Werror -g"
CASES="rewind reset pool_free mp_free mp_free_large"

# build NAME COMPILER FLAGS SRC LINK: $tmp/NAME, or a failure counted.
build() {
  name=$1 cc=$2 fl=$3 src=$4 ln=$5
  # shellcheck disable=SC2086 # flag lists are meant to split
  $cc $W $fl $cflags "tests/checkers/$src" $ln -o "$tmp/$name" 2>"$tmp/$name.build" ||
    { bad "build $name:"; cat "$tmp/$name.build"; return 1; }
}

# ---- AddressSanitizer (+ UBSan with clang) ----
ASAN_CLANG="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer"
ASAN_GCC="-fsanitize=address -fno-omit-frame-pointer"
asan_run() { # label prog args...: exit status in $rc, output in $tmp/out
  label=$1; shift
  ASAN_OPTIONS=abort_on_error=0 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 "$@" >"$tmp/out" 2>&1
  rc=$?
}
for v in "clang static:$CLANG:$ASAN_CLANG:static" "clang shared:$CLANG:$ASAN_CLANG:shared" \
         "gcc static:$CC:$ASAN_GCC:static" "gcc shared:$CC:$ASAN_GCC:shared"; do
  label=${v%%:*}; rest=${v#*:}; cc=${rest%%:*}; rest=${rest#*:}; fl=${rest%%:*}; kind=${rest#*:}
  if [ "$kind" = static ]; then ln=$static; else ln=$libs; fi
  n=$(echo "$label" | tr ' ' _)
  build "good_asan_$n" "$cc" "$fl" good.c "$ln" || continue
  asan_run "$label" "$tmp/good_asan_$n"
  if [ $rc = 0 ] && ! grep -q "Sanitizer" "$tmp/out"; then ok "ASan $label: correct program, no report"
  else bad "ASan $label: correct program reported (exit $rc):"; cat "$tmp/out"; fi
  build "bad_asan_$n" "$cc" "$fl" bad.c "$ln" || continue
  for c in $CASES; do
    asan_run "$label" "$tmp/bad_asan_$n" "$c" ok
    if [ $rc != 0 ] || grep -q "Sanitizer" "$tmp/out"; then
      bad "ASan $label: $c without the bad read is reported (exit $rc):"; cat "$tmp/out"; continue
    fi
    asan_run "$label" "$tmp/bad_asan_$n" "$c"
    if [ $rc != 0 ] && grep -q "ERROR: AddressSanitizer: use-after-poison" "$tmp/out"; then
      ok "ASan $label: read after $c reported (use-after-poison, exit $rc)"
    else bad "ASan $label: read after $c not reported (exit $rc):"; cat "$tmp/out"; fi
  done
done

# ---- Valgrind Memcheck ----
if ! command -v "$VALGRIND" >/dev/null; then
  bad "valgrind is not installed (.ci/deps.sh suite installs it)"
else
  vg() { # prog args...: exit status in $rc (42: Memcheck errors), log in $tmp/out
    "$VALGRIND" --tool=memcheck --error-exitcode=42 "$@" >"$tmp/out" 2>&1
    rc=$?
  }
  for v in "plain static::static" "plain shared::shared" "-DARENAPOOL_VALGRIND static:-DARENAPOOL_VALGRIND:static" \
           "-DARENAPOOL_VALGRIND shared:-DARENAPOOL_VALGRIND:shared"; do
    label=${v%%:*}; rest=${v#*:}; fl=${rest%%:*}; kind=${rest#*:}
    if [ "$kind" = static ]; then ln=$static; else ln=$libs; fi
    n=$(echo "$label" | tr ' =-' ___)
    build "good_vg_$n" "$CC" "-O1 $fl" good.c "$ln" || continue
    vg "$tmp/good_vg_$n"
    if [ $rc = 0 ] && grep -q "ERROR SUMMARY: 0 errors" "$tmp/out"; then ok "Memcheck $label: correct program, 0 errors"
    else bad "Memcheck $label: correct program reported (exit $rc):"; cat "$tmp/out"; fi
    [ "$kind" = shared ] && continue # the cases once per define
    build "bad_vg_$n" "$CC" "-O1 $fl" bad.c "$ln" || continue
    for c in $CASES; do
      vg "$tmp/bad_vg_$n" "$c" ok
      if [ $rc != 0 ]; then bad "Memcheck $label: $c without the bad read is reported (exit $rc):"; cat "$tmp/out"; continue; fi
      vg "$tmp/bad_vg_$n" "$c"
      if [ $rc = 42 ] && grep -q "Invalid read of size" "$tmp/out"; then
        ok "Memcheck $label: read after $c reported (Invalid read)"
      else bad "Memcheck $label: read after $c not reported (exit $rc):"; cat "$tmp/out"; fi
    done
  done
fi

$MAKE --no-print-directory uninstall PREFIX=/usr DESTDIR="$dest" >/dev/null
if [ $fails = 0 ]; then echo "test-checkers: ok"; else echo "test-checkers: $fails FAILED"; exit 1; fi
