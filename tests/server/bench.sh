#!/bin/sh
# bench.sh ARENA_SERVER MALLOC_SERVER [SECONDS] [ROUNDS] - requests/s and memory
# of examples/http_server.c built on arenas and on malloc/free
# (bench/http_server_malloc.c, the same server code), side by side: the two
# servers are started and loaded in turn (ROUNDS interleaved runs of SECONDS
# each, wrk -t1 -c64, keep-alive GETs of a 1 KiB file and of /), and the
# table gives the median req/s, RSS after the run and peak RSS.
set -eu
A=$1 M=$2 SECS=${3:-4} ROUNDS=${4:-3}
command -v wrk >/dev/null || { echo "bench-server: wrk is missing (apt-get install wrk)"; exit 1; }
tmp=$(mktemp -d /tmp/arenapool-bench.XXXXXX)
pid=
trap '[ -n "$pid" ] && kill $pid 2>/dev/null; rm -rf "$tmp"' EXIT
mkdir -p "$tmp/www"
head -c 1024 /dev/urandom > "$tmp/www/small.bin"
printf '<!doctype html><h1>bench</h1>\n' > "$tmp/www/index.html"

run() { # run SERVER PATH -> "reqs rss hwm"
  "$1" -p 0 "$tmp/www" 2> "$tmp/log" &
  pid=$!
  port=
  for _ in $(seq 50); do
    port=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$tmp/log"); [ -n "$port" ] && break; sleep 0.1
  done
  wrk -t1 -c64 -d1s "http://127.0.0.1:$port$2" > /dev/null 2>&1 # warm-up
  r=$(wrk -t1 -c64 -d"$SECS"s "http://127.0.0.1:$port$2" 2>&1 | awk '/Requests\/sec/ {printf "%d", $2}')
  rss=$(awk '/^VmRSS/ {print $2}' /proc/$pid/status)
  hwm=$(awk '/^VmHWM/ {print $2}' /proc/$pid/status)
  kill $pid; wait $pid 2>/dev/null || true; pid=
  echo "$r $rss $hwm"
}
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

printf '%-12s %-7s %10s %10s %10s\n' path build 'req/s' 'RSS KiB' 'peak KiB'
for path in /small.bin /; do
  : > "$tmp/a"; : > "$tmp/m"
  for _ in $(seq "$ROUNDS"); do run "$A" "$path" >> "$tmp/a"; run "$M" "$path" >> "$tmp/m"; done
  for b in a m; do
    name=arena; [ $b = m ] && name=malloc
    printf '%-12s %-7s %10s %10s %10s\n' "$path" $name \
      "$(cut -d' ' -f1 "$tmp/$b" | median)" "$(cut -d' ' -f2 "$tmp/$b" | median)" "$(cut -d' ' -f3 "$tmp/$b" | median)"
  done
done
echo "($ROUNDS interleaved runs of ${SECS}s each, medians; wrk -t1 -c64 on the same 2-core machine)"
