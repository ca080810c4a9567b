#!/bin/sh
# run.sh DIR PROG... - the use-after-free programs under Memcheck (make valgrind).
# Each DIR/PROG must exit 0 with no error when run correctly, and must make
# Memcheck report an invalid read or write (exit code 42) when run with "bug":
# proof that the library's client requests reach Memcheck.
set -u
dir=$1; shift
vg="valgrind --suppressions=tests/valgrind/known.supp --tool=memcheck --error-exitcode=42 --leak-check=full --errors-for-leak-kinds=definite"
fail=0
for p in "$@"; do
  log=$dir/$p.log
  $vg "$dir/$p" >"$log" 2>&1; rc=$?
  if [ $rc != 0 ]; then
    echo "FAIL $p: correct use exits $rc under Memcheck (want 0):"; cat "$log"; fail=1; continue
  fi
  $vg "$dir/$p" bug >"$log.bug" 2>&1; rc=$?
  n=$(grep -c "Invalid \(read\|write\) of size" "$log.bug")
  if [ $rc != 42 ] || [ "$n" = 0 ]; then
    echo "FAIL $p bug: exit $rc, $n invalid accesses reported (want 42 and >= 1):"; cat "$log.bug"; fail=1; continue
  fi
  echo "ok   $p: clean run 0 errors; bug run: $n invalid access(es) reported, exit $rc"
done
exit $fail
