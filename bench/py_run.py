#!/usr/bin/env python3
"""py_run.py --run K [--quick] [--python PY] NAME=PRELOAD ... - one pass of
the python rows (8a pymalloc, 8b PYTHONMALLOC=malloc): bench/py_churn.py run
by Debian's python3 under each allocator through LD_PRELOAD (glibc: an empty
PRELOAD), printing the same "R" lines as the benchmark binaries.

ns and cpu are both the child's CPU time (user + system, from wait4): on a
shared machine wall time mostly measures the neighbours.  rss_kb is the
child's peak RSS; check is what the script printed (equal for everyone)."""
import os, subprocess, sys, tempfile, time


def main():
    args = sys.argv[1:]
    run, quick, py, peers = 1, False, "/usr/bin/python3", []
    while args:
        a = args.pop(0)
        if a == "--run":
            run = int(args.pop(0))
        elif a == "--quick":
            quick = True
        elif a == "--python":
            py = args.pop(0)
        else:
            name, _, so = a.partition("=")
            peers.append((name, so))
    if not os.access(py, os.X_OK):
        print("py_run: %s missing: no python rows" % py, file=sys.stderr)
        return 0
    script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "py_churn.py")
    n = "10000" if quick else "600000"
    status = 0
    for key, pm in (("py_pymalloc", None), ("py_malloc", "malloc")):
        for name, so in peers:
            env = dict(os.environ)
            env.pop("PYTHONMALLOC", None)
            if pm:
                env["PYTHONMALLOC"] = pm
            if so:
                env["LD_PRELOAD"] = so
            else:
                env.pop("LD_PRELOAD", None)
            with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
                t0 = time.monotonic()
                p = subprocess.Popen([py, script, n], env=env, stdout=out, stderr=err)
                _, st, ru = os.wait4(p.pid, 0)
                p.returncode = os.waitstatus_to_exitcode(st)
                wall = time.monotonic() - t0
                out.seek(0)
                err.seek(0)
                text, etext = out.read().decode(errors="replace"), err.read().decode(errors="replace")
            if p.returncode != 0 or not text.strip().isdigit():
                print("E\tw=%s\tc=%s\trun=%d\tstatus=%d" % (key, name, run, p.returncode))
                sys.stderr.write("py_run: %s under %s failed: %s\n" % (key, name, etext[-500:]))
                status = 1
                continue
            cpu = (ru.ru_utime + ru.ru_stime) * 1e9
            print("R\tw=%s\tc=%s\trun=%d\tns=%.0f\tcpu=%.0f\tops=1\trss_kb=%d\twall_ns=%.0f\tcheck=%s"
                  % (key, name, run, cpu, cpu, ru.ru_maxrss, wall * 1e9, text.strip()))
            sys.stdout.flush()
    return status


if __name__ == "__main__":
    sys.exit(main())
