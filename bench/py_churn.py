# py_churn.py [N] - a python churn script (dicts of tuples, lists, bytes
# and small dicts replaced and popped; lists of lists rebuilt every 1000
# steps).  N = 600000 by default; `make bench QUICK=1` runs fewer.  Run by bench/py_run.py under each allocator.
import sys
N = int(sys.argv[1]) if len(sys.argv) > 1 else 600000
d={}; objs=[]
for i in range(N):
    k=i%100000
    d[k]=(str(i)*4,[i]*(i%16),b"x"*(i%3000),{"a":i,"b":k})
    if i%5==0: d.pop((i*7)%100000,None)
    if i%1000==0: objs=[list(range(j%50)) for j in range(2000)]
print(len(d))
