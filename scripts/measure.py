#!/usr/bin/env python3
"""Runs a command and measures it as a whole process tree.

    scripts/measure.py [--env K=V]... -- CMD [ARGS...]

Prints one JSON object on stdout: wall_s, cpu_s (user + system of the command and every
descendant it waited for), peak_rss_mb (the largest sum of the resident set sizes of all
processes of the tree at one moment, sampled every --interval seconds, default 0.1, from
/proc), peak_pss_mb (the
same with proportional set sizes, which count shared pages once), peak_processes and
exit_code. The command's own stdout and stderr go to the files named by --stdout and
--stderr (default: /dev/null). Used by scripts/bench.sh; Linux only.
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import threading
import time

PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024


def children(pid):
    """The children of every thread of a process (/proc/PID/task/TID/children)."""
    kids = []
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            try:
                with open(f"/proc/{pid}/task/{tid}/children") as f:
                    kids.extend(int(k) for k in f.read().split())
            except OSError:
                continue
    except OSError:
        pass
    return kids


def tree(root):
    """The process and all its descendants, found from the root down: cheap enough to
    sample often without taking CPU from the command measured (scanning all of /proc
    every 20 ms took 14 % of a core)."""
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(children(pid))
    return out


def rss_kb(pid):
    try:
        with open(f"/proc/{pid}/statm") as f:
            return int(f.read().split()[1]) * PAGE_KB
    except (OSError, IndexError, ValueError):
        return 0


def pss_kb(pid):
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--stdout", default=os.devnull)
    ap.add_argument("--stderr", default=os.devnull)
    ap.add_argument("--env", action="append", default=[])
    ap.add_argument("--interval", type=float, default=0.1)
    ap.add_argument("cmd", nargs=argparse.REMAINDER)
    a = ap.parse_args()
    cmd = a.cmd[1:] if a.cmd and a.cmd[0] == "--" else a.cmd
    if not cmd:
        ap.error("no command")
    env = dict(os.environ)
    for kv in a.env:
        k, _, v = kv.partition("=")
        env[k] = v
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.monotonic()
    with open(a.stdout, "wb") as out, open(a.stderr, "wb") as err:
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, env=env)
        peak = {"rss": 0, "pss": 0, "procs": 0}
        done = threading.Event()

        def sample():
            while not done.is_set():
                pids = tree(proc.pid)
                peak["rss"] = max(peak["rss"], sum(rss_kb(p) for p in pids))
                peak["pss"] = max(peak["pss"], sum(pss_kb(p) for p in pids))
                peak["procs"] = max(peak["procs"], len(pids))
                done.wait(a.interval)

        t = threading.Thread(target=sample, daemon=True)
        t.start()
        code = proc.wait()
        done.set()
        t.join()
    wall = time.monotonic() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    json.dump({
        "wall_s": round(wall, 3),
        "cpu_s": round(cpu, 3),
        "peak_rss_mb": round(peak["rss"] / 1024, 1),
        "peak_pss_mb": round(peak["pss"] / 1024, 1),
        "peak_processes": peak["procs"],
        # the largest resident set of any one process, from the kernel (exact, not sampled)
        "max_process_rss_mb": round(after.ru_maxrss / 1024, 1),
        "exit_code": code,
    }, sys.stdout)
    print()


if __name__ == "__main__":
    main()
