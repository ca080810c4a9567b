#!/bin/sh
# stats.sh BUILD - the environment variables, arenapool_version(), mp_stats_print
# and the preload's malloc_stats()/malloc_info() in real processes (make test-stats):
# tests/preload/stats.c built against BUILD/libarenapool.a (release), against
# BUILD/debug/libarenapool.a (ARENAPOOL_DEBUG=1: the misuse checks), and plain under
# LD_PRELOAD=BUILD/libarenapool_malloc.so; each also under Memcheck when valgrind is
# installed.  Every run checks what it printed, and that no report allocated.
set -eu
B=$(cd "$1" && pwd)
HERE=$(cd "$(dirname "$0")" && pwd)
TMP=$(mktemp -d "${TMPDIR:-/tmp}/ap-stats.XXXXXX")
trap 'rm -rf "$TMP"' EXIT INT TERM
want=$(sed -n 's/^#define ARENAPOOL_VERSION_\(MAJOR\|MINOR\|PATCH\) *\([0-9]*\)$/\2/p' "$HERE/../../include/arenapool/version.h" |
       awk '{ v = v * 100 + $1 } END { print v }')
fail=0
bad() { echo "stats: FAIL $*" >&2; fail=1; }

CFLAGS="-std=c11 -O1 -g -Wall -Wextra -Werror -I$B/include"
cc $CFLAGS -DAPI -DWRAP_MALLOC "$HERE/stats.c" "$B/libarenapool.a" -lpthread -o "$TMP/api"
cc $CFLAGS -DAPI "$HERE/stats.c" "$B/libarenapool.a" -lpthread -o "$TMP/api_vg"
cc $CFLAGS -DAPI -DWRAP_MALLOC "$HERE/stats.c" "$B/debug/libarenapool.a" -lpthread -o "$TMP/api_debug"
cc $CFLAGS "$HERE/stats.c" -o "$TMP/plain"
SO=$B/libarenapool_malloc.so

# run NAME [VAR=value...] CMD...: CMD's stdout and stderr in $TMP/NAME.{out,err}; exit 0 or FAIL.
run() {
  name=$1; shift
  env "$@" >"$TMP/$name.out" 2>"$TMP/$name.err" && rc=0 || rc=$?
  [ $rc = 0 ] || bad "$name: exit $rc: $(cat "$TMP/$name.err")"
}
has() { grep -qF -- "$3" "$TMP/$1.$2" || bad "$1: no '$3' in its std$2: $(cat "$TMP/$1.$2")"; }
# Under Memcheck with LD_PRELOAD, valgrind's launcher loads the library too and
# prints its own option lines: counts are only checked elsewhere.
count() { [ "$mode" = preload_vg ] && return 0; n=$(grep -c -- "$3" "$TMP/$1.$2" || true); [ "$n" = "$4" ] || bad "$1: $n lines '$3' in std$2 (want $4)"; }

for mode in api api_debug preload api_vg preload_vg; do
  pre=NOTHING=1 vg=""
  case $mode in
    api|api_debug) exe=$TMP/$mode ;;
    api_vg) exe=$TMP/api_vg ;;
    preload*) exe=$TMP/plain pre=LD_PRELOAD=$SO ;;
  esac
  case $mode in
    *_vg) command -v valgrind >/dev/null || { echo "stats: valgrind missing, $mode skipped"; continue; }
          # nouserintercepts: Memcheck keeps its malloc out of the preloaded library
          vg="valgrind -q --error-exitcode=9 --leak-check=no --soname-synonyms=somalloc=nouserintercepts" ;;
  esac
  cmd="$vg $exe"
  # Quiet by default: the report on stdout only, nothing on stderr but
  # (preload) malloc_stats's summary.
  run "$mode.quiet" $pre $cmd
  has "$mode.quiet" out "version $want"
  case $mode in
    api*) has "$mode.quiet" out "arenapool: statistics (arenapool " ;;
    *) has "$mode.quiet" err "arenapool: statistics (arenapool "   # malloc_stats: stderr, as glibc's
       has "$mode.quiet" out '<total type="in_use" count="0" size="' ;;
  esac
  count "$mode.quiet" err "warning" 0
  # Every variable, with valid values.
  run "$mode.env" ARENAPOOL_VERBOSE=1 ARENAPOOL_SHOW_STATS=1 ARENAPOOL_THP=1 ARENAPOOL_MISUSE=abort $pre $cmd
  has "$mode.env" err "arenapool: version "
  has "$mode.env" err "arenapool:   ARENAPOOL_THP=1"
  has "$mode.env" err "arenapool:   ARENAPOOL_SHOW_STATS=1"
  count "$mode.env" err "^arenapool:   ARENAPOOL_" 5
  count "$mode.env" err "^arenapool: version " 1
  # SHOW_STATS: the summary at exit, after the program's last free.
  has "$mode.env" err "arenapool:   system calls   mmap "
  has "$mode.env" err "arenapool:   class   block size"
  # Mistyped values and names: one line each, defaults kept.
  run "$mode.typo" ARENAPOOL_THP=yes ARENAPOOL_SHOW_STAT=1 ARENAPOOL_VERBOSE=2 $pre $cmd
  has "$mode.typo" err "arenapool: warning: ARENAPOOL_THP=yes: not 0 or 1; ignored"
  has "$mode.typo" err "arenapool: warning: ARENAPOOL_SHOW_STAT=1: unknown variable; ignored"
  has "$mode.typo" err "arenapool: warning: ARENAPOOL_VERBOSE=2: not 0 or 1; ignored"
  count "$mode.typo" err "warning" 3
  count "$mode.typo" err "ARENAPOOL_MISUSE=" 0
  echo "stats: $mode: ok"
done
case $(cat "$TMP/preload.quiet.out") in *'<malloc version="1">'*'</malloc>'*) ;; *) bad "preload: no malloc_info XML" ;; esac
# The 3 MiB block is in the figures (mp's own, not glibc's or Memcheck's).
grep -q '<total type="mmap" count="0" size="3[0-9]\{6\}"/>' "$TMP/preload.quiet.out" || bad "preload: malloc_info has no 3 MiB large block"
[ $fail = 0 ] && echo "stats: all runs printed what they should, and no report allocated"
exit $fail
