#!/bin/sh
# run.sh SERVER [quick] - start examples/http_server on a free loopback port,
# run client.py (good requests, directory listings, paths outside DIR,
# malformed / truncated / oversized requests, other methods, timeouts, the
# connection cap), drive it with wrk for a few seconds (or a python keep-alive
# client if wrk is absent), check that its RSS and mapping count stay flat
# after warm-up, that it logs only seconds with traffic, and that GET / in its
# default directory (no DIR argument, no index.html) answers with a listing;
# then stop it.  Bounded: < 40 s.
# "quick" (used for the malloc build, bench/http_server_malloc.c) skips the
# RSS/mapping check.
set -eu
SERVER=$1
MODE=${2:-full}
PY=$(command -v python3)
tmp=$(mktemp -d /tmp/arenapool-server.XXXXXX)
pid=
pid2=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; [ -n "$pid2" ] && kill "$pid2" 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT
fail() { echo "test-server: FAILED: $*" >&2; [ -f "$tmp/log" ] && tail -5 "$tmp/log" >&2; exit 1; }

# The served tree, and things outside it that must never be served.
root=$tmp/www
mkdir -p "$root/sub/deeper"
printf '<!doctype html><title>arenapool</title><h1>It works</h1>\n' > "$root/index.html"
printf 'space\n' > "$root/sub/a b.txt"
printf 'escaped\n' > "$root/sub/<b>&.txt"
printf 'hidden\n' > "$root/sub/.hidden"
head -c 1048576 /dev/urandom > "$root/big.bin"
head -c 1024 /dev/urandom > "$root/small.bin"
printf 'TOP-SECRET\n' > "$tmp/secret.txt"
ln -s "$tmp/secret.txt" "$root/link"
ln -s "$tmp" "$root/linkdir"
ln -s .. "$root/sub/uplink"
mkfifo "$root/fifo"

wait_port() { # wait_port LOG -> the port the server logged
  for _ in $(seq 50); do
    p=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$1")
    [ -n "$p" ] && { echo "$p"; return; }
    sleep 0.1
  done
}

CAP=48
"$SERVER" -p 0 -t 2 -c $CAP "$root" 2> "$tmp/log" &
pid=$!
port=$(wait_port "$tmp/log")
[ -n "$port" ] || fail "server did not start"
echo "test-server: $SERVER on 127.0.0.1:$port"

timeout 40 "$PY" tests/server/client.py "$port" "$root" --cap $CAP || fail "client checks"

rss() { awk '/^VmRSS/ {print $2}' /proc/$pid/status; }
maps() { wc -l < /proc/$pid/maps; }
load() { # load SECONDS
  if command -v wrk >/dev/null; then
    wrk -t1 -c32 -d"$1"s "http://127.0.0.1:$port/small.bin" > "$tmp/wrk" 2>&1 || fail "wrk"
    grep -q 'Non-2xx' "$tmp/wrk" && fail "wrk saw non-2xx answers: $(cat "$tmp/wrk")"
    awk '/Requests\/sec/ {print "  wrk: " $2 " req/s"}' "$tmp/wrk"
  else
    timeout $(($1 + 10)) "$PY" - "$port" "$1" <<'PYEOF' || fail "python load"
import socket, sys, time
port, secs = int(sys.argv[1]), float(sys.argv[2])
socks = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(8)]
n, end = 0, time.time() + secs
req = b"GET /small.bin HTTP/1.1\r\nHost: t\r\n\r\n"
while time.time() < end:
    for s in socks:
        s.sendall(req)
        buf = b""
        while not (b"\r\n\r\n" in buf and len(buf.split(b"\r\n\r\n", 1)[1]) >= 1024):
            buf += s.recv(65536)
        assert buf.startswith(b"HTTP/1.1 200"), buf[:40]
        n += 1
print("  python client: %d req/s" % (n / secs))
PYEOF
  fi
}
load 1 # warm-up
rss0=$(rss); maps0=$(maps)
load 3
rss1=$(rss); maps1=$(maps)
load 2
rss2=$(rss); maps2=$(maps)
echo "  RSS after warm-up ${rss0} KiB, after load ${rss1} KiB, ${rss2} KiB; mappings ${maps0} -> ${maps1} -> ${maps2}"
if [ "$MODE" = full ]; then
  [ "$rss2" -le $((rss0 + 512)) ] || fail "RSS grew from ${rss0} to ${rss2} KiB"
  [ "$maps2" -le "$maps0" ] || fail "mappings grew from $maps0 to $maps2"
  stats=$(curl -s "http://127.0.0.1:$port/stats" 2>/dev/null || "$PY" -c "
import socket,sys; s=socket.create_connection(('127.0.0.1',$port)); s.sendall(b'GET /stats HTTP/1.0\r\n\r\n')
b=b''
while True:
    d=s.recv(65536)
    if not d: break
    b+=d
print(b.decode())")
  echo "$stats" | sed -n 's/^\(conn_pool\|total_arena_mmaps\|requests\)/  &/p'
fi
timeout 10 "$PY" tests/server/client.py "$port" "$root" > "$tmp/again" 2>&1 || fail "checks after load: $(grep FAIL "$tmp/again")"
echo "  all checks pass again after load"

kill -TERM "$pid"
wait "$pid" || fail "server exit status $?"
pid=
grep -q 'requests served' "$tmp/log" || fail "no clean shutdown"
grep -q 'req/s' "$tmp/log" || fail "no per-second log line"
# The timeout checks leave seconds without a finished request: none is logged.
! grep -q ' 0 req/s' "$tmp/log" || fail "an idle second was logged"

# The default directory: no DIR argument, started in a folder without index.html.
server_abs=$(cd "$(dirname "$SERVER")" && pwd)/$(basename "$SERVER")
(cd "$root/sub" && exec "$server_abs" -p 0) 2> "$tmp/log2" &
pid2=$!
port2=$(wait_port "$tmp/log2")
[ -n "$port2" ] || fail "server without DIR did not start"
timeout 10 "$PY" - "$port2" <<'PYEOF' || fail "GET / in the default directory"
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5)
s.sendall(b"GET / HTTP/1.0\r\n\r\n")
b = b""
while True:
    d = s.recv(65536)
    if not d:
        break
    b += d
assert b.startswith(b"HTTP/1.1 200 "), b[:80]
assert b'<a href="/a%20b.txt">a b.txt</a>' in b and b"Index of /<" in b, b
print("  GET / without DIR and without index.html: 200, a listing")
PYEOF
kill -TERM "$pid2"
wait "$pid2" || fail "server without DIR: exit status $?"
pid2=
echo "test-server: ok ($(basename "$SERVER"))"
