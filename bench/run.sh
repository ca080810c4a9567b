#!/bin/sh
# run.sh BENCH_DIR OUT_DIR RUNS QUICK "PEERS" - run every benchmark binary
# RUNS times, interleaved (pass 1 of every binary, then pass 2, ...) so that
# noise from the rest of the machine falls on every contender alike, then
# merge the result lines into tables, JSON and a chart (bench/report.c).
# The python rows (8a/8b, bench/py_run.py) run in the first PY_RUNS passes
# (default 3; QUICK: 1; every peer in pass 1, then glibc and mp only), each
# allocator's library through LD_PRELOAD;
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

# The steps in order: every binary in each pass, then that pass's python rows.
steps="$dir/steps$quick.txt"
r=1
while [ "$r" -le "$runs" ]; do
  for b in $bins; do echo "$r $b"; done
  [ "$r" -le "$py_runs" ] && [ -n "$py_peers" ] && echo "$r python"
  r=$((r + 1))
done > "$steps"
nsteps=$(wc -l < "$steps")

# Progress on stderr.  A full run gives an ETA before each step: a step's
# time is taken from the same step of the previous full run (times$quick.txt,
# kept for the next run), else from the same binary's latest pass in this
# run (an overestimate after pass 1, which alone runs the slow rows), else
# there is no estimate yet.  A QUICK run says one line per pass.
# Both files start with a comment line, so that awk sees each of them even
# when it holds no times yet.
times_prev="$dir/times$quick.txt" times_now="$dir/times$quick.new"
[ -f "$times_prev" ] || echo '# pass step seconds' > "$times_prev"
echo '# pass step seconds' > "$times_now"
mmss() { printf '%d:%02d' $(($1 / 60)) $(($1 % 60)); }
eta() { # eta DONE -> seconds the steps after the first DONE will take, or "?"
  awk -v done="$1" 'FNR == 1 { f++ }
    /^#/ { next }
    f == 1 { prev[$1 " " $2] = $3; next }
    f == 2 { cur[$2] = $3; next }
    FNR > done { k = $1 " " $2; if (k in prev) s += prev[k]; else if ($2 in cur) s += cur[$2]; else unknown = 1 }
    END { if (unknown) print "?"; else printf "%d\n", s + 0.5 }' \
    "$times_prev" "$times_now" "$steps" 2>/dev/null
}
step() { # step PASS NAME COMMAND... - run one step, report progress, record its time
  t0=$(date +%s) pass=$1 name=$2
  if [ "$quick" = 1 ]; then
    [ "$2" = "$first_bin" ] && printf 'bench QUICK: pass %s/%s\n' "$1" "$runs" >&2
  else
    left=$(eta "$done_steps")
    [ "$left" = "?" ] && left="after pass 1" || left="$(mmss "$left") left"
    printf 'bench: pass %s/%s %-9s step %d/%d, %s elapsed, ETA %s\n' "$1" "$runs" "$2" \
      $((done_steps + 1)) "$nsteps" "$(mmss $((t0 - start)))" "$left" >&2
  fi
  shift 2
  "$@" >> "$raw" || status=1
  echo "$pass $name $(($(date +%s) - t0))" >> "$times_now"
  done_steps=$((done_steps + 1))
}

first_bin=${bins%% *}
done_steps=0
r=1
start=$(date +%s)
load0=$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null)
while [ "$r" -le "$runs" ]; do
  for b in $bins; do
    step "$r" "$b" "$dir/bench-$b" $qflag --run "$r"
  done
  if [ "$r" -le "$py_runs" ] && [ -n "$py_peers" ]; then
    # Why only glibc and mp after the first pass: each run takes seconds;
    # the targets compare those two, the peers are shown from pass 1.
    pp=$py_peers
    [ "$r" -gt 1 ] && pp=$(for x in $py_peers; do case $x in glibc=*|mp=*) printf '%s ' "$x" ;; esac; done)
    step "$r" python /usr/bin/python3 "$(dirname "$0")/py_run.py" --run "$r" $qflag $pp
  fi
  r=$((r + 1))
done
# Only a complete run is a good estimate for the next one.
[ "$(wc -l < "$times_now")" -eq $((nsteps + 1)) ] && mv "$times_now" "$times_prev"
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

"$dir/report" $qflag --raw "$raw" --md "$out/latest.md" --json "$out/latest.json" \
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
