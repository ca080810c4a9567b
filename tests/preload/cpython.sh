#!/bin/sh
# cpython.sh SO - CPython's own regression tests (Debian's
# libpython3.11-testsuite) under glibc's malloc and under LD_PRELOAD=SO, each
# with pymalloc (the default) and with PYTHONMALLOC=malloc (every object
# through malloc).  The per-module results (passed, failed with its counts,
# skipped, env changed, ...) under the pool must equal glibc's in the same
# mode; any difference fails.  Logs stay in build/cpython/.
#
# SIGINT: a background shell (make under nohup, CI runners) starts its
# children with SIGINT ignored; Python then installs no KeyboardInterrupt
# handler and test_threading / test_io's interrupt tests fail for every
# allocator.  Each run goes through a one-line wrapper that sets SIGINT back
# to SIG_DFL before exec, as an interactive shell would.
#
# Modules: memory-heavy ones.  Left out for time: test_io (alone it takes
# longer than all of the others with -j2 together).  CPYTHON_TESTS="..." overrides the list.
set -eu
[ $# -eq 1 ] || { echo "usage: $0 path/to/libarenapool_malloc.so" >&2; exit 2; }
SO=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
OUT=${CPYTHON_OUT:-$ROOT/build/cpython}
# Debian's interpreter: the test suite package matches it, not a pyenv one.
PY=${CPYTHON:-/usr/bin/python3.11}
TESTS=${CPYTHON_TESTS:-"test_dict test_list test_set test_unicode test_bytes test_json test_re test_gc test_weakref \
test_threading test_pickle test_decimal test_collections test_array test_zlib test_mmap test_ctypes test_xml_etree"}
JOBS=${CPYTHON_JOBS:-2}

[ -x "$PY" ] || { echo "cpython: $PY missing (sh .ci/deps.sh extra)" >&2; exit 1; }
"$PY" -c "import test.libregrtest, test.test_dict" 2>/dev/null \
  || { echo "cpython: CPython's test suite is missing: apt-get install libpython3.11-testsuite (sh .ci/deps.sh extra)" >&2; exit 1; }
LD_PRELOAD="$SO" "$PY" -c "import sys; sys.exit(0 if 'libarenapool_malloc' in open('/proc/self/maps').read() else 1)" \
  || { echo "cpython: $SO was not loaded" >&2; exit 1; }

mkdir -p "$OUT"
WRAP='import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); os.execvp(sys.argv[1], sys.argv[1:])'

# summarize LOG: one "module status" line per module, sorted.  Status is
# the word regrtest prints after the module (with a failure's counts), or
# "missing" when the module never reported (a crashed worker).
summarize() {
  "$PY" - "$1" $TESTS <<'PY'
import re, sys
log, mods = sys.argv[1], sys.argv[2:]
res = {}
pat = re.compile(r"\[\s*\d+/\d+(?:/\d+)?\]\s+(test_\w+)\s+(.*)$")
for line in open(log, errors="replace"):
    m = pat.search(line.rstrip("\n"))
    if not m:
        continue
    mod, rest = m.group(1), m.group(2)
    rest = re.sub(r"\s+--\s+running:.*$", "", rest)          # other workers' progress
    rest = re.sub(r"\s*\(\d+(?:\.\d+)?\s*(?:sec|ms)\)", "", rest)  # durations
    rest = re.sub(r"\s*\(\d+ min \d+ sec\)", "", rest)
    words = rest.split()
    if not words:
        continue
    if words[0] in ("env", "resource", "timed", "uncaught", "did"):
        status = " ".join(words[:2])
    elif words[0] == "failed":
        status = " ".join(words)     # with its "(2 failures, 1 error)"
    else:
        status = words[0]
    res[mod] = status
for mod in sorted(mods):
    print(mod, res.get(mod, "missing"))
PY
}

fail=0
for pm in pymalloc malloc; do
  for alloc in glibc mp; do
    pre=""; [ $alloc = mp ] && pre="$SO"
    pmenv="-u PYTHONMALLOC"; [ $pm = malloc ] && pmenv="PYTHONMALLOC=malloc"
    log="$OUT/$alloc-$pm.log"
    work="$OUT/work-$alloc-$pm"
    rm -rf "$work" && mkdir -p "$work"
    t0=$(date +%s)
    # -u none: no network, no GUI; --timeout: a hang dumps its stacks and fails.
    ( cd "$work" && "$PY" -c "$WRAP" env $pmenv LD_PRELOAD="$pre" \
        "$PY" -m test -u none -j"$JOBS" --timeout 600 $TESTS ) >"$log" 2>&1 && rc=0 || rc=$?
    summarize "$log" >"$OUT/$alloc-$pm.result"
    echo "cpython: $alloc, $pm: exit $rc, $(grep -c ' passed$' "$OUT/$alloc-$pm.result") of $(wc -l <"$OUT/$alloc-$pm.result") modules passed, $(($(date +%s) - t0)) s"
    rm -rf "$work"
  done
  if cmp -s "$OUT/glibc-$pm.result" "$OUT/mp-$pm.result"; then
    echo "cpython: $pm: per-module results under the pool equal glibc's"
  else
    echo "cpython: $pm: per-module results DIFFER (< glibc, > pool; logs in $OUT):" >&2
    diff "$OUT/glibc-$pm.result" "$OUT/mp-$pm.result" >&2 || true
    fail=1
  fi
  if grep -q missing "$OUT/glibc-$pm.result"; then
    echo "cpython: $pm: a module never reported under glibc (see $OUT/glibc-$pm.log)" >&2
    fail=1
  fi
done
[ $fail -eq 0 ] && echo "cpython: every module gives the same result under the pool as under glibc"
exit $fail
