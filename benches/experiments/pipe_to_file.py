#!/usr/bin/env python3
"""Pipe → log file: what does the *reader's* CPU per GiB depend on?

    python3 benches/experiments/pipe_to_file.py [--dir /dev/shm] [--gib 1] [--reps 3]

A child writes GiB of 64 KiB chunks into a 1 MiB pipe (like `fleet-testprog
flood`); the parent copies the pipe into a file four ways and reports its
own CPU seconds per GiB (getrusage, the child excluded) and the wall time:

  rw             read(2) into a page-aligned 1 MiB buffer + write(2)
                 (what fleet-agent and `cat` do)
  splice         splice(2) pipe → file, no copy through user space
  rw-batched     rw, but wait ~1 ms whenever the pipe holds < 3/4 MiB
  splice-batched splice, same wait

This is the experiment behind benches/BOUNDS.md's log-flood entry: it asks
whether a splice-based pump would cut the agent's CPU enough to meet the
≤ 1/3-of-supervisord target. Python's per-call overhead is noise at 1 MiB
per call. Stdlib only; Linux only (os.splice, F_SETPIPE_SZ).
"""

import argparse
import array
import fcntl
import mmap
import os
import resource
import select
import statistics
import termios
import time

F_SETPIPE_SZ = 1031
PIPE = 1 << 20
CHUNK = 64 * 1024


def one(mode: str, path: str, total: int) -> tuple[float, float]:
    r, w = os.pipe()
    fcntl.fcntl(r, F_SETPIPE_SZ, PIPE)
    pid = os.fork()
    if pid == 0:
        os.close(r)
        buf = b"x" * CHUNK
        for _ in range(total // CHUNK):
            os.write(w, buf)
        os._exit(0)
    os.close(w)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    batched = mode.endswith("-batched")
    spl = mode.startswith("splice")
    buf = mmap.mmap(-1, PIPE)  # page-aligned, like the agent's PageBuf
    view = memoryview(buf)
    queued = array.array("i", [0])
    off = 0
    ru0 = resource.getrusage(resource.RUSAGE_SELF)
    t0 = time.perf_counter()
    while True:
        if batched:
            select.select([r], [], [])
            fcntl.ioctl(r, termios.FIONREAD, queued, True)
            if queued[0] < PIPE * 3 // 4:
                time.sleep(0.001)
        if spl:
            # O_APPEND files refuse splice (EINVAL): explicit offset instead.
            n = os.splice(r, fd, PIPE, offset_dst=off)
        else:
            n = os.readv(r, [view])
            m = 0
            while m < n:
                m += os.write(fd, view[m:n])
        if n == 0:
            break
        off += n
    wall = time.perf_counter() - t0
    ru1 = resource.getrusage(resource.RUSAGE_SELF)
    os.waitpid(pid, 0)
    os.close(fd)
    os.close(r)
    assert os.path.getsize(path) == total, "bytes lost"
    os.unlink(path)
    cpu = (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime)
    return cpu / (total / 2**30), wall


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dir", default="/dev/shm")
    ap.add_argument("--gib", type=float, default=1.0)
    ap.add_argument("--reps", type=int, default=3)
    a = ap.parse_args()
    total = int(a.gib * 2**30) // CHUNK * CHUNK
    path = os.path.join(a.dir, f"pipe_to_file.{os.getpid()}")
    modes = ["rw", "splice", "rw-batched", "splice-batched"]
    res = {m: [] for m in modes}
    for rep in range(a.reps):
        for m in modes if rep % 2 == 0 else reversed(modes):
            res[m].append(one(m, path, total))
    print(f"{a.gib:g} GiB, 64 KiB writes, 1 MiB pipe, file in {a.dir}, {a.reps} reps (median, min–max)")
    print(f"{'mode':<16}{'reader CPU-s/GiB':>26}{'wall s':>22}")
    for m in modes:
        c = [x[0] for x in res[m]]
        w = [x[1] for x in res[m]]
        print(f"{m:<16}{statistics.median(c):>10.2f} ({min(c):.2f}–{max(c):.2f}){statistics.median(w):>12.2f} ({min(w):.2f}–{max(w):.2f})")


if __name__ == "__main__":
    main()
