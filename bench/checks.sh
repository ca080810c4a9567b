#!/bin/sh
# checks.sh WITH_DIR WITHOUT_DIR OUT.md [RUNS] - what the memory pool's misuse
# checks cost: the mp workloads (6.x) of two bench-mp binaries, one built
# with the checks (the default) and one with -DMP_FAST_CHECKS=0, run
# interleaved RUNS times (medians), and the instructions of mp_alloc + mp_free
# of the two instr binaries by callgrind (bench/instr.sh).  Writes OUT.md.
set -u
with=$1 without=$2 out=$3 runs=${4:-7}
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
r=1
while [ "$r" -le "$runs" ]; do
  "$with/bench-mp" --only 6 --run "$r" | sed 's/^R\t/R\twith\t/' >> "$tmp/raw" || exit 1
  "$without/bench-mp" --only 6 --run "$r" | sed 's/^R\t/R\twithout\t/' >> "$tmp/raw" || exit 1
  r=$((r + 1))
done
instr_with=- instr_without=-
if command -v valgrind >/dev/null 2>&1; then
  sh bench/instr.sh "$with/instr" "$tmp/iw.md" >/dev/null 2>&1 &&
    instr_with=$(awk -F'|' '/mp_alloc \+ mp_free 64 B, batches/ {gsub(/ /, "", $4); print $4}' "$tmp/iw.md")
  sh bench/instr.sh "$without/instr" "$tmp/io.md" >/dev/null 2>&1 &&
    instr_without=$(awk -F'|' '/mp_alloc \+ mp_free 64 B, batches/ {gsub(/ /, "", $4); print $4}' "$tmp/io.md")
fi
{
  echo "# The memory pool's misuse checks: with and without"
  echo
  echo "Made by \`make bench-checks\` on $(date -u '+%Y-%m-%d %H:%M UTC'); medians of $runs interleaved runs;"
  echo "ratio = time with the checks / time without (1.00 = no cost)."
  echo
  echo "| workload | with checks, ns/op | without, ns/op | ratio |"
  echo "|---|---:|---:|---:|"
  awk -F'\t' '$1 == "R" {
      w = ""; ns = 0; ops = 0
      for (i = 3; i <= NF; i++) {
        split($i, kv, "=")
        if (kv[1] == "w") w = kv[2]
        if (kv[1] == "ns") ns = kv[2]
        if (kv[1] == "ops") ops = kv[2]
      }
      if (ops > 0) print w, $2, ns / ops
    }' "$tmp/raw" | sort -k1,1 -k2,2 -k3,3g | awk '
      function med(a, n) { return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2 }
      { key = $1 " " $2; n[key]++; v[key, n[key]] = $3; ws[$1] = 1 }
      END {
        for (w in ws) {
          kw = w " with"; ko = w " without"
          for (i = 1; i <= n[kw]; i++) a[i] = v[kw, i]
          mw = med(a, n[kw])
          for (i = 1; i <= n[ko]; i++) a[i] = v[ko, i]
          mo = med(a, n[ko])
          printf "| %s | %.2f | %.2f | %.2f |\n", w, mw, mo, mw / mo
        }
      }' | sort
  echo
  echo "callgrind, mp_alloc + mp_free of 64 B (instructions, wrapper's ret excluded):" \
       "$instr_with with the checks, $instr_without without."
} > "$out"
cat "$out"
