"""14. Chatty workers: 100 programs of `fleet-testprog chatty 200` (200
numbered ~100-byte lines a second each, one write per line: 20,000 lines/s
in all), each to its own log file. From 2 s after every process is
RUNNING, over 20 s (quick: 10 s): the daemon's CPU (as % of one core), its
RSS at both ends of the window, and afterwards whether every line of the
window is in the files (numbers contiguous per process). The footprint
row's sleeping programs, printing: RSS beside the idle figure."""

import re
import time
from common import Program, Row, alternate, cpu_s, rss_kib

N = 100
RATE = 200
LINE = re.compile(rb"^\[(\d+)\] (\d{10}) ")


def gaps(log):
    """Lines missing inside what the file holds: per pid, the numbers seen
    must be contiguous (a restart would change the pid)."""
    seen = {}
    for raw in log.read_bytes().split(b"\n")[:-1]:
        m = LINE.match(raw)
        if not m:
            return -1
        pid, n = m.group(1), int(m.group(2))
        lo, hi, count = seen.get(pid, (n, n, 0))
        seen[pid] = (min(lo, n), max(hi, n), count + 1)
    return sum(hi - lo + 1 - count for lo, hi, count in seen.values())


def run(ctx):
    window = 10 if ctx.quick else 20
    reps = 1 if ctx.quick else 3
    tp = str(ctx.bin("fleet-testprog"))

    def one(A, rep):
        wd = ctx.workdir(f"chatty-{A.label}")
        progs = [Program(f"w{i:03}", [tp, "chatty", str(RATE)], stdout_logfile=str(wd / f"w{i:03}.log"))
                 for i in range(N)]
        with A(ctx, wd, progs).start() as d:
            d.wait_states("RUNNING", N, timeout=120)
            time.sleep(2)
            c0, r0 = cpu_s(d.pid), rss_kib(d.pid)
            t0 = time.time()
            time.sleep(window)
            c1, r1 = cpu_s(d.pid), rss_kib(d.pid)
            secs = time.time() - t0
        # Stopped: every pipe drained into its file.
        lost = [gaps(wd / f"w{i:03}.log") for i in range(N)]
        lines = sum(len((wd / f"w{i:03}.log").read_bytes().split(b"\n")) - 1 for i in range(N))
        return (c1 - c0) / secs * 100, r1 / 1024, (r1 - r0) / 1024, -1 if -1 in lost else sum(lost), lines

    res = alternate(ctx, reps, one)
    f, s = res["fleet"], res["supervisord"]
    rows = []
    r = Row("chatty workers", f"daemon CPU, {N} programs × {RATE} lines/s", "% of a core",
            [x[0] for x in f], [x[0] for x in s])
    r.target = "≤ 1/10 of supervisord"
    r.met = r.ratio() is not None and r.ratio() <= 0.1
    rows.append(r)
    r = Row("chatty workers", f"RSS, {N} printing programs (footprint's are sleeping)", "MiB",
            [x[1] for x in f], [x[1] for x in s])
    # Each printing stream keeps a 64 KiB tail and an 8 KiB index of line
    # times in memory (BOUNDS.md): up to 7 MiB for 100, on top of idle.
    r.target = "≤ 1/2 of supervisord (+72 KiB per printing stream)"
    r.met = r.ratio() is not None and r.ratio() <= 0.5
    rows.append(r)
    r = Row("chatty workers", f"RSS growth over {window} s", "MiB", [x[2] for x in f], [x[2] for x in s])
    r.target = "bounded (≤ 2 MiB: tails and their line index are capped)"
    r.met = r.fmed() <= 2
    rows.append(r)
    r = Row("chatty workers", "lines missing from the log files", "", [x[3] for x in f], [x[3] for x in s])
    r.target = "0"
    r.met = max(x[3] for x in f) == 0
    rows.append(r)
    rows.append(Row("chatty workers", "lines in the log files", "", [x[4] for x in f], [x[4] for x in s]))
    return rows
