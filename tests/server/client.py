#!/usr/bin/env python3
"""client.py PORT ROOT [--cap N] - functional and hostile-input checks for
examples/http_server.c (started by run.sh with -t 2 on ROOT, built by run.sh).

Each check opens its own loopback connection with a timeout, sends raw bytes
and inspects the raw answer: status, body, and whether the server closed.
Exit status 0 when every check passed; one line per check on stdout."""
import os
import socket
import sys
import time

PORT = int(sys.argv[1])
ROOT = sys.argv[2]
CAP = int(sys.argv[4]) if len(sys.argv) > 4 and sys.argv[3] == "--cap" else 0
failures = 0


def check(name, ok, detail=""):
    global failures
    print(("ok   " if ok else "FAIL ") + name + ("" if ok else "  " + detail))
    if not ok:
        failures += 1


def conn(timeout=5.0):
    s = socket.create_connection(("127.0.0.1", PORT), timeout=timeout)
    s.settimeout(timeout)
    return s


def read_response(s, head_only=False):
    """One response: (status, headers dict, body) or None on EOF/timeout."""
    buf = b""
    while b"\r\n\r\n" not in buf:
        try:
            d = s.recv(65536)
        except socket.timeout:
            return None
        if not d:
            return None
        buf += d
    head, rest = buf.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    hdrs = {}
    for l in lines[1:]:
        k, v = l.split(":", 1)
        hdrs[k.strip().lower()] = v.strip()
    n = 0 if head_only else int(hdrs.get("content-length", "0"))
    while len(rest) < n:
        d = s.recv(65536)
        if not d:
            break
        rest += d
    return status, hdrs, rest[:n]


def closed(s):
    """True when the server closes the connection (EOF) within the timeout."""
    try:
        while True:
            d = s.recv(65536)
            if not d:
                return True
    except (socket.timeout, ConnectionResetError):
        return False


def raw(data, shut=False):
    s = conn()
    s.sendall(data)
    if shut:
        s.shutdown(socket.SHUT_WR)
    r = read_response(s)
    return s, r


def get(path, extra=b""):
    s, r = raw(b"GET " + path + b" HTTP/1.1\r\nHost: t\r\n" + extra + b"\r\n")
    s.close()
    return r


def expect(name, data, status, must_close=True, shut=False):
    s, r = raw(data, shut)
    ok = r is not None and r[0] == status
    check(name + " -> %d" % status, ok, "got %r" % (r[0] if r else None,))
    if must_close and r is not None:
        check(name + " closes", closed(s))
    s.close()


index = open(os.path.join(ROOT, "index.html"), "rb").read()
big = open(os.path.join(ROOT, "big.bin"), "rb").read()

# ---- good requests ----
r = get(b"/")
check("GET / serves index.html", r and r[0] == 200 and r[2] == index)
r = get(b"/index.html")
check("GET /index.html content-type", r and r[0] == 200 and r[1]["content-type"].startswith("text/html"))
r = get(b"/big.bin")
check("GET /big.bin (%d bytes) intact" % len(big), r and r[0] == 200 and r[2] == big)
r = get(b"/sub/a%20b.txt")
check("percent-decoded name", r and r[0] == 200 and r[2] == b"space\n")
r = get(b"/nope.txt")
check("missing file -> 404", r and r[0] == 404)
s = conn()
s.sendall(b"HEAD /big.bin HTTP/1.1\r\nHost: t\r\n\r\n")
r = read_response(s, head_only=True)
check("HEAD: length, no body", r and r[0] == 200 and int(r[1]["content-length"]) == len(big) and r[2] == b"")
# keep-alive: sequential and pipelined requests on one connection
s.sendall(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
r = read_response(s)
check("keep-alive second request", r and r[0] == 200 and r[2] == index)
s.close()
# pipelining checked strictly: read everything, count responses
s = conn()
s.sendall(b"GET /index.html HTTP/1.1\r\nHost: t\r\n\r\n" * 5 + b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
data = b""
while True:
    d = s.recv(65536)
    if not d:
        break
    data += d
check("6 pipelined requests, 6 answers, then close", data.count(b"HTTP/1.1 200 OK") == 6 and data.endswith(index))
s.close()
r = get(b"/stats")
check("/stats shows statistics", r and r[0] == 200 and b"requests:" in r[2] and b"build:" in r[2])
s, r = raw(b"GET / HTTP/1.0\r\n\r\n")
check("HTTP/1.0 without Host, closed after", r and r[0] == 200 and closed(s))

# ---- directories: index.html, or a generated listing ----
r = get(b"/sub/")
page = r[2].decode("utf-8", "replace") if r else ""
check("GET /sub/ (no index.html) -> 200 listing", r and r[0] == 200 and r[1]["content-type"].startswith("text/html")
      and '<a href="/sub/a%20b.txt">a b.txt</a>' in page and '<a href="/sub/deeper/">deeper/</a>' in page
      and '<a href="/">../</a>' in page, "got %r" % (r[0] if r else None,))
check("listing escapes names in links and text", '<a href="/sub/%3Cb%3E%26.txt">&lt;b&gt;&amp;.txt</a>' in page)
check("listing leaves out symlinks and dot files", "uplink" not in page and ".hidden" not in page)
check("listing sorted by name", page.find("&lt;b&gt;") < page.find("a b.txt") < page.find("deeper/"))
r2 = get(b"/sub")
check("GET /sub (no slash): the same listing", r2 and r2[0] == 200 and r and r2[2] == r[2])
s = conn()
s.sendall(b"HEAD /sub/ HTTP/1.1\r\nHost: t\r\n\r\n")
r2 = read_response(s, head_only=True)
check("HEAD of a listing: its length, no body", r2 and r2[0] == 200 and r and int(r2[1]["content-length"]) == len(r[2]) and r2[2] == b"")
s.close()
r = get(b"/sub/./deeper//")
check("empty directory, canonical links", r and r[0] == 200 and b'<a href="/sub/">../</a>' in r[2]
      and b"Index of /sub/deeper/" in r[2] and r[2].count(b"<li>") == 1)

# ---- never outside ROOT ----
secret = open(os.path.join(os.path.dirname(ROOT), "secret.txt"), "rb").read()
for p in [b"/../secret.txt", b"/%2e%2e/secret.txt", b"/%2E%2E%2Fsecret.txt", b"/sub/../../secret.txt",
          b"/sub/%2e%2e/%2e%2e/secret.txt", b"/..%2fsecret.txt", b"/link", b"/linkdir/secret.txt",
          b"/sub/uplink/secret.txt", b"//etc/passwd", b"/./../secret.txt", b"/..", b"/%2e%2e"]:
    r = get(p)
    check("outside DIR %s refused" % p.decode(), r is not None and r[0] in (400, 403, 404) and secret not in r[2],
          "got %r" % (r[0] if r else None,))
r = get(b"/fifo")
check("non-regular file refused", r is not None and r[0] in (403, 404))

# ---- malformed, truncated, oversized ----
expect("garbage line", b"GARBAGE\r\n\r\n", 400)
expect("no version", b"GET /\r\nHost: t\r\n\r\n", 400)
expect("bad version", b"GET / HTTP/2.0\r\nHost: t\r\n\r\n", 505)
expect("not HTTP", b"GET / FTP/1.1\r\nHost: t\r\n\r\n", 400)
expect("header without colon", b"GET / HTTP/1.1\r\nHost: t\r\nBadHeader\r\n\r\n", 400)
expect("space before colon", b"GET / HTTP/1.1\r\nHost : t\r\n\r\n", 400)
expect("obs-fold", b"GET / HTTP/1.1\r\nHost: t\r\nX: a\r\n  b\r\n\r\n", 400)
expect("missing Host (1.1)", b"GET / HTTP/1.1\r\n\r\n", 400)
expect("two Hosts", b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400)
expect("NUL byte", b"GET /\x00 HTTP/1.1\r\nHost: t\r\n\r\n", 400)
expect("encoded NUL", b"GET /index.html%00.txt HTTP/1.1\r\nHost: t\r\n\r\n", 400)
expect("bad escape", b"GET /%zz HTTP/1.1\r\nHost: t\r\n\r\n", 400)
expect("relative target", b"GET index.html HTTP/1.1\r\nHost: t\r\n\r\n", 400)
expect("control char in value", b"GET / HTTP/1.1\r\nHost: t\x01\r\n\r\n", 400)
expect("Transfer-Encoding", b"GET / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 501)
expect("GET with a body", b"GET / HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello", 400)
expect("truncated head then EOF", b"GET / HTTP/1.1\r\nHost: t\r\n", 400, shut=True)
expect("long URI", b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: t\r\n\r\n", 414)
expect("too many headers", b"GET / HTTP/1.1\r\nHost: t\r\n" + b"".join(b"X-%d: v\r\n" % i for i in range(100)) + b"\r\n", 431)
expect("huge header", b"GET / HTTP/1.1\r\nHost: t\r\nX: " + b"v" * 20000 + b"\r\n\r\n", 431)
expect("head bigger than the buffer", b"GET / HTTP/1.1\r\nHost: t\r\n" + b"X-Long: " + b"v" * 4000 + b"\r\n" * 1 + (b"Y: " + b"w" * 3000 + b"\r\n") * 5 + b"\r\n", 431)
s = conn()
s.sendall(b"\r\n" * 10 + b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
r = read_response(s)
check("leading empty lines -> 400", r is not None and r[0] == 400)
s.close()
# an error mid-pipeline: the good request is answered, the bad one closes
s = conn()
s.sendall(b"GET / HTTP/1.1\r\nHost: t\r\n\r\nBROKEN\r\n\r\nGET / HTTP/1.1\r\nHost: t\r\n\r\n")
data = b""
while True:
    d = s.recv(65536)
    if not d:
        break
    data += d
check("error mid-pipeline: 200 then 400 then close", data.count(b"HTTP/1.1 200") == 1 and data.count(b"HTTP/1.1 400") == 1)
s.close()

# ---- methods other than GET and HEAD: 405 with Allow, then close ----
def expect_405(name, data):
    s, r = raw(data)
    check(name + " -> 405, Allow: GET, HEAD", r is not None and r[0] == 405 and r[1].get("allow") == "GET, HEAD",
          "got %r" % ((r[0], r[1].get("allow")) if r else None,))
    if r is not None:
        check(name + " closes", closed(s))
    s.close()


expect_405("POST", b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n")
expect_405("POST with a body", b"POST /form HTTP/1.1\r\nHost: t\r\nContent-Type: application/x-www-form-urlencoded\r\n"
           b"Content-Length: 7\r\n\r\na=1&b=2")
expect_405("PUT, chunked body", b"PUT /x HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n")
expect_405("DELETE", b"DELETE /index.html HTTP/1.1\r\nHost: t\r\n\r\n")
expect_405("OPTIONS", b"OPTIONS * HTTP/1.1\r\nHost: t\r\n\r\n")

# ---- timeouts ----
idle = conn(timeout=6)
slow = conn(timeout=6)
slow.sendall(b"GET / HTTP/1.1\r\n")
t0 = time.time()
for i in range(4):  # a slowloris: a header byte a second never completes the head
    time.sleep(0.8)
    try:
        slow.sendall(b"X")
    except OSError:
        break
check("idle connection timed out", closed(idle) and time.time() - t0 < 6)
try:
    slow.sendall(b"\r\n\r\n")
    r = read_response(slow)
    check("slow request head timed out", r is None or r[0] != 200)
except OSError:
    check("slow request head timed out", True)
idle.close()
slow.close()

# ---- connection cap ----
if CAP:
    socks = [conn() for _ in range(CAP)]
    time.sleep(0.2)
    extra = conn()
    r = read_response(extra)
    check("connection %d over the cap -> 503" % (CAP + 1), r is not None and r[0] == 503 and closed(extra))
    extra.close()
    for x in socks:
        x.close()
    time.sleep(0.3)

# ---- still serving ----
r = get(b"/")
check("still serving after all that", r and r[0] == 200 and r[2] == index)
print("client.py: %d failure(s)" % failures)
sys.exit(1 if failures else 0)
