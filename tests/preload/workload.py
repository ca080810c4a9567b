# workload.py - a Python program that exercises the allocator from many
# angles (small objects, dicts, strings, big buffers, threads, gc cycles) and
# prints a deterministic digest; run under glibc and under the preloaded pool.
import collections
import gc
import hashlib
import json
import random
import re
import threading
import zlib

rng = random.Random(1234)
out = []

# Many small objects: dicts, tuples, lists, strings.
records = [{"id": i, "name": "user%05d" % i, "tags": [rng.randrange(100) for _ in range(rng.randrange(8))],
            "score": rng.random()} for i in range(30000)]
out.append(sum(len(r["tags"]) for r in records))

# JSON round trip and text processing.
text = json.dumps(records)
back = json.loads(text)
out.append(len(text))
out.append(back[12345]["name"])
words = re.findall(r"user(\d+)", text)
out.append(len(words))
counts = collections.Counter(int(w) % 97 for w in words)
out.append(counts.most_common(3))

# Sorting, set and dict churn.
keys = sorted(records, key=lambda r: (r["score"], r["id"]))
out.append([r["id"] for r in keys[:5]])
s = set()
for i in range(100000):
    s.add(i * 7919 % 100003)
    if i % 3 == 0:
        s.discard(i * 31 % 100003)
out.append(len(s))

# Big buffers (large mappings), reallocated as they grow.
buf = bytearray()
for i in range(3000):
    buf += bytes([i % 251]) * (i % 977)
out.append(len(buf))
out.append(hashlib.sha256(buf).hexdigest())
comp = zlib.compress(bytes(buf), 6)
out.append(len(comp))
out.append(zlib.decompress(comp) == bytes(buf))
big = [bytes(1 << 20) for _ in range(40)]
out.append(sum(len(b) for b in big))
del big

# Reference cycles for the collector.
class Node:
    def __init__(self, v):
        self.v = v
        self.peer = None
nodes = [Node(i) for i in range(50000)]
for a, b in zip(nodes, nodes[1:]):
    a.peer = b
nodes[-1].peer = nodes[0]
del nodes
out.append(gc.collect() >= 0)

# Threads allocating and handing objects to each other.
results = [None] * 4
def work(k):
    local = {}
    for i in range(40000):
        local[(k, i % 5000)] = "x" * (i % 300)
    results[k] = sum(len(v) for v in local.values())
ts = [threading.Thread(target=work, args=(k,)) for k in range(4)]
for t in ts:
    t.start()
for t in ts:
    t.join()
out.append(results)

print(hashlib.sha256(repr(out).encode()).hexdigest())
for item in out:
    print(item)
