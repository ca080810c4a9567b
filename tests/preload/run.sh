#!/bin/sh
# run.sh SO - run real programs from Debian's packages under glibc's malloc
# and under LD_PRELOAD=SO, and compare what they print.  Fails on the first
# difference or crash.  Programs: semantics.c and trim_info.c (the malloc
# family's answers, malloc_trim/mallinfo2/mallopt), python3 (tests/preload/workload.py),
# sqlite3 (a few hundred thousand inserts and queries), git (a scratch
# repository: commits, log, diff, gc, fsck, grep) and gcc (compiling and running a file).
set -eu
[ $# -eq 1 ] || { echo "usage: $0 path/to/libarenapool_malloc.so" >&2; exit 2; }
SO=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
TMP=$(mktemp -d "${TMPDIR:-/tmp}/mp-preload.XXXXXX")
trap 'rm -rf "$TMP"' EXIT INT TERM
fail=0

for tool in python3 sqlite3 git gcc; do
  command -v "$tool" >/dev/null 2>&1 || { echo "preload: $tool missing (sh .ci/deps.sh extra)" >&2; exit 1; }
done

# The library must really be in use, not silently ignored by ld.so.
LD_PRELOAD="$SO" python3 -c "import sys; sys.exit(0 if 'libarenapool_malloc' in open('/proc/self/maps').read() else 1)" \
  || { echo "preload: $SO was not loaded" >&2; exit 1; }

# compare NAME CMD...: run CMD in $TMP/NAME.{glibc,mp}/ (its own scratch dir),
# stdout+stderr+status captured, under glibc and under the pool.
compare() {
  t0=$(date +%s)
  name=$1; shift
  for mode in glibc mp; do
    dir="$TMP/$name.$mode"
    mkdir -p "$dir"
    if [ $mode = mp ]; then pre="$SO"; else pre=""; fi
    ( cd "$dir" && LD_PRELOAD="$pre" "$@" ) >"$TMP/$name.$mode.out" 2>&1 && rc=0 || rc=$?
    echo "exit status $rc" >>"$TMP/$name.$mode.out"
  done
  if cmp -s "$TMP/$name.glibc.out" "$TMP/$name.mp.out" && grep -q '^exit status 0$' "$TMP/$name.mp.out"; then
    echo "preload: $name: same output ($(wc -l <"$TMP/$name.mp.out") lines, $(($(date +%s) - t0)) s for both runs)"
  else
    echo "preload: $name: DIFFERENT under the pool" >&2
    diff "$TMP/$name.glibc.out" "$TMP/$name.mp.out" | head -20 >&2 || true
    fail=1
  fi
}

# ---- the malloc family's own semantics (errno, alignment, realloc, fork) ----
gcc -O2 -Wall -Werror -o "$TMP/semantics" "$HERE/semantics.c"
compare semantics "$TMP/semantics"

# ---- malloc_trim, mallinfo2/mallinfo, mallopt; posix_memalign beside large
# blocks; large realloc growth: every check prints ok or FAIL ----
gcc -O2 -Wall -Wextra -Werror -pthread -o "$TMP/trim_info" "$HERE/trim_info.c"
compare trim_info "$TMP/trim_info"

# ---- python3 ----
compare python python3 "$HERE/workload.py"

# ---- sqlite3: 200 000 inserts (one statement each), indexes, queries ----
python3 - "$TMP/load.sql" <<'PY'
import random, sys
r = random.Random(7)
with open(sys.argv[1], "w") as f:
    f.write("PRAGMA synchronous=OFF;\nCREATE TABLE t(id INTEGER PRIMARY KEY, k INTEGER, name TEXT, v REAL);\nBEGIN;\n")
    for i in range(200000):
        f.write("INSERT INTO t(k, name, v) VALUES(%d, 'n%x', %d.25);\n" % (r.randrange(5000), r.getrandbits(40), r.randrange(10**6)))
    f.write("COMMIT;\nCREATE INDEX tk ON t(k);\nCREATE INDEX tn ON t(name);\n")
    for i in range(1000):
        f.write("SELECT count(*), sum(v) FROM t WHERE k = %d;\n" % r.randrange(5000))
        f.write("SELECT id, name FROM t WHERE name > 'n%x' ORDER BY name LIMIT 3;\n" % r.getrandbits(40))
    f.write("SELECT k, count(*), max(name) FROM t GROUP BY k ORDER BY count(*) DESC, k LIMIT 20;\n")
    f.write("SELECT a.k, count(*) FROM t a JOIN t b ON a.k = b.k AND a.id < b.id WHERE a.k < 10 GROUP BY a.k ORDER BY a.k;\n")
    f.write("UPDATE t SET v = v * 2 WHERE k % 7 = 0;\nDELETE FROM t WHERE k % 11 = 0;\nVACUUM;\n")
    f.write("SELECT count(*), sum(v), min(name), max(name) FROM t;\nPRAGMA integrity_check;\n")
PY
compare sqlite sh -c "sqlite3 db.sqlite <'$TMP/load.sql'"

# ---- git: a scratch repository with history, then log, diff, gc, fsck ----
cat >"$TMP/git.sh" <<'SH'
set -e
export GIT_AUTHOR_NAME=t GIT_AUTHOR_EMAIL=t@example.com GIT_COMMITTER_NAME=t GIT_COMMITTER_EMAIL=t@example.com
export GIT_AUTHOR_DATE="2024-01-01T00:00:00Z" GIT_COMMITTER_DATE="2024-01-01T00:00:00Z" HOME="$PWD"
git init -q -b main repo && cd repo
i=0
while [ $i -lt 12 ]; do
  awk -v i=$i 'BEGIN { for (j = 0; j < 25; j++) { f = "f" j ".txt"; for (k = i * j; k <= i * j + 200 + j; k++) print "line " i " " j " " k > f; close(f) } }'
  git add -A && git commit -q -m "commit $i"
  [ $((i % 4)) -eq 3 ] && git branch "b$i"
  i=$((i + 1))
done
git log --oneline --stat | tail -50
git diff --stat HEAD~8 HEAD | tail -5
git gc -q
git fsck --full --strict 2>&1
git count-objects -v | grep -v size
git rev-list --all --objects | sort | sha256sum
git grep -c "line 11" | head -5
SH
compare git sh "$TMP/git.sh"

# ---- gcc: compile (cc1, as, ld all preloaded) and run ----
cat >"$TMP/prog.c" <<'C'
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
struct node { struct node *next; int v; };
static int cmp(const void *a, const void *b) { return *(const int *)a - *(const int *)b; }
int main(void) {
    struct node *head = NULL;
    for (int i = 0; i < 100000; i++) { struct node *n = malloc(sizeof *n); n->v = i * 7 % 1000; n->next = head; head = n; }
    long sum = 0; int *arr = NULL; size_t len = 0;
    for (struct node *n = head; n; ) { struct node *next = n->next; sum += n->v; arr = realloc(arr, (len + 1) * sizeof *arr); arr[len++] = n->v; free(n); n = next; }
    qsort(arr, len, sizeof *arr, cmp);
    char *s = calloc(1, 64); snprintf(s, 64, "%ld %d %d", sum, arr[0], arr[len - 1]);
    puts(s); free(s); free(arr);
    return 0;
}
C
compare gcc sh -c "gcc -O2 -Wall -o prog '$TMP/prog.c' && ./prog && gcc -O2 -S -o - -I'$ROOT/arena' -I'$ROOT/pool' -I'$ROOT/mp' -D_DEFAULT_SOURCE '$ROOT/mp/mp_central.c' | sha256sum"

[ $fail -eq 0 ] && echo "preload: all programs behave the same under the pool"
exit $fail
