#!/bin/sh
# instr.sh INSTR_BINARY OUT.md - instructions per operation of the fast
# paths, measured with callgrind on bench/instr.c: each subject runs at two
# op counts and the difference of the collected instruction counts is divided
# by the difference of the op counts, so setup and one-time costs cancel.
# Only the op_* wrappers are collected: the count is the operation plus the
# wrapper's `ret` (one instruction per wrapper, subtracted in the last column)
# and, for an alloc, the move of the result into the return register.
set -u
bin=$1 out=$2
if ! command -v valgrind >/dev/null 2>&1; then
  echo "bench-instr: valgrind not installed (sudo sh .ci/deps.sh bench)" >&2
  exit 1
fi
n1=1000 n2=5000
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT

# subject|wrappers|what|budget
rows="arena|op_arena_alloc|arena_alloc, size in a register|10
arena_const|op_arena_alloc32|arena_alloc, constant size|10
bump|op_bump_alloc|ideal bump pointer, size in a register|-
pool|op_pool_alloc op_pool_free|pool_alloc + pool_free, batches of 16|12
pool_bulk|op_pool_alloc op_pool_free|pool_alloc + pool_free, N allocs then N frees (slow paths amortised)|-
glibc|op_malloc op_free|glibc malloc + free 64 B, batches of 16|-
glibc_bulk|op_malloc op_free|glibc malloc + free 64 B, N then N|-
mp|op_mp_alloc op_mp_free|mp_alloc + mp_free 64 B, batches of 16|-
mp_bulk|op_mp_alloc op_mp_free|mp_alloc + mp_free 64 B, N then N|-"

count() { # subject n toggles...
  s=$1 n=$2; shift 2
  tog=""
  for f in "$@"; do tog="$tog --toggle-collect=$f"; done
  valgrind --tool=callgrind --callgrind-out-file="$tmp/cg.$s.$n" $tog "$bin" "$s" "$n" >/dev/null 2>&1 ||
    { echo "bench-instr: callgrind run failed: $s $n" >&2; return 1; }
  sed -n 's/^totals: *\([0-9]*\).*/\1/p' "$tmp/cg.$s.$n" | head -n 1
}

{
  echo "# Fast-path instruction counts (callgrind)"
  echo
  echo "$(date -u '+%Y-%m-%d %H:%M UTC'), $(valgrind --version), \`make bench-instr\`; instructions per operation = (Ir(N=$n2) - Ir(N=$n1)) / $((n2 - n1)), counted inside noinline wrappers (bench/instr.c). The wrappers add a \`ret\` each (subtracted in the third column) and, for an allocation, usually one \`mov\` of the result into the return register that inlined code does not need (not subtracted)."
  echo
  echo "| fast path | instructions / op (wrappers incl. ret) | inline (minus the ret of each wrapper) | budget |"
  echo "|---|---:|---:|---:|"
} > "$tmp/out.md"
status=0
echo "$rows" | while IFS='|' read -r s wr what budget; do
  a=$(count "$s" $n1 $wr) && b=$(count "$s" $n2 $wr) || { echo "| $what | failed | | $budget |" >> "$tmp/out.md"; continue; }
  nw=$(echo $wr | wc -w)
  awk -v a="$a" -v b="$b" -v d=$((n2 - n1)) -v nw="$nw" -v what="$what" -v budget="$budget" \
    'BEGIN { x = (b - a) / d; printf "| %s | %.2f | %.2f | %s |\n", what, x, x - nw, budget }' >> "$tmp/out.md"
done
mkdir -p "$(dirname "$out")"
cp "$tmp/out.md" "$out"
cat "$out"
exit $status
