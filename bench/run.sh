#!/bin/sh
# run.sh BENCH_DIR OUT_DIR RUNS QUICK "PEERS" - run every benchmark binary
# RUNS times, interleaved (pass 1 of every binary, then pass 2, ...) so that
# noise from the rest of the machine falls on every contender alike, then
# merge the result lines into tables, JSON and a chart (bench/report.c).
# The python rows (8a/8b, bench/py_run.py) run in the first PY_RUNS passes
# (default 3; QUICK: 1), each allocator's library through LD_PRELOAD;
# BENCH_MP_SO names mp's (build/libarenapool_malloc.so).
# Every binary holds one malloc: glibc's (with obstack, arena, pool, bump),
# or one peer's; inside a binary each (workload, contender) runs in a child.
set -u
dir=$1 out=$2 runs=$3 quick=$4 peers=$5
mkdir -p "$out"
bins="glibc"
skipped=""
for p in talloc apr jemalloc mimalloc tcmalloc; do
  case " $peers " in
    *" $p "*) bins="$bins $p" ;;
    *) skipped="$skipped $p" ;;
  esac
done
if [ -x "$dir/bench-mp" ]; then bins="$bins mp"; else skipped="$skipped mp(mp/mp.h-absent)"; fi
skipped=${skipped# }
[ -n "$skipped" ] && echo "bench: skipping (not installed):$skipped; install with: sudo sh .ci/deps.sh bench" >&2

qflag=""
[ "$quick" = 1 ] && qflag="--quick"

# Python rows: the same allocators as shared libraries for LD_PRELOAD.
py_runs=${PY_RUNS:-3}
[ "$quick" = 1 ] && py_runs=1
py_peers=""
if [ -x /usr/bin/python3 ]; then
  py_peers="glibc="
  for p in jemalloc:libjemalloc.so.2 mimalloc:libmimalloc.so.2 tcmalloc:libtcmalloc_minimal.so.4; do
    name=${p%%:*} lib=${p#*:}
    case " $peers " in *" $name "*) ;; *) continue ;; esac
    path=$(${CC:-gcc} -print-file-name="$lib" 2>/dev/null)
    [ -f "$path" ] && py_peers="$py_peers $name=$path"
  done
  [ -n "${BENCH_MP_SO:-}" ] && [ -f "$BENCH_MP_SO" ] && py_peers="$py_peers mp=$(cd "$(dirname "$BENCH_MP_SO")" && pwd)/$(basename "$BENCH_MP_SO")"
else
  echo "bench: /usr/bin/python3 missing: no python rows (8a, 8b)" >&2
fi
raw="$dir/raw${quick}.txt"
: > "$raw"
status=0
r=1
start=$(date +%s)
load0=$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null)
while [ "$r" -le "$runs" ]; do
  for b in $bins; do
    printf 'bench: pass %s/%s: %s\n' "$r" "$runs" "$b" >&2
    "$dir/bench-$b" $qflag --run "$r" >> "$raw" || status=1
  done
  if [ "$r" -le "$py_runs" ] && [ -n "$py_peers" ]; then
    printf 'bench: pass %s/%s: python churn under%s\n' "$r" "$runs" "$(echo " $py_peers" | sed 's/=[^ ]*//g')" >&2
    /usr/bin/python3 "$(dirname "$0")/py_run.py" --run "$r" $qflag $py_peers >> "$raw" || status=1
  fi
  r=$((r + 1))
done
end=$(date +%s)
load1=$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null)

model=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
machine="${model:-unknown CPU}, $(nproc) cores, $(uname -sr)"
compiler=$(${CC:-gcc} --version 2>/dev/null | head -n 1)
libc=$(ldd --version 2>/dev/null | head -n 1)
versions=""
for pk in libjemalloc2 libmimalloc2.0 libtcmalloc-minimal4 libtalloc2 libapr1; do
  v=$(dpkg-query -W -f='${Version}' "$pk" 2>/dev/null) && versions="$versions $pk $v,"
done
cmd="make bench"
[ "$quick" = 1 ] && cmd="make bench QUICK=1"

"$dir/report" --raw "$raw" --md "$out/latest.md" --json "$out/latest.json" \
  --dat "$dir/chart$quick.dat" --gp "$dir/chart$quick.gp" --svg "$out/latest.svg" \
  --skipped "$skipped" --meta "date=$(date -u '+%Y-%m-%d %H:%M UTC')" --meta "machine=$machine" \
  --meta "compiler=$compiler" --meta "libc=$libc" --meta "peers=${versions%,}" \
  --meta "command=$cmd" --meta "runs=$runs" --meta "seconds=$((end - start))" \
  --meta "load=load average $load0 before, $load1 after; nice $(nice)" || status=1
if command -v gnuplot >/dev/null 2>&1; then
  gnuplot "$dir/chart$quick.gp" || status=1
else
  rm -f "$out/latest.svg"
  echo "bench: gnuplot not installed: no chart (install gnuplot-nox)" >&2
fi
echo "bench: $((end - start)) s; results in $out/latest.md, latest.json$(command -v gnuplot >/dev/null 2>&1 && echo ', latest.svg')" >&2
exit $status
