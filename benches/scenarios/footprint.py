"""1. Footprint: daemon RSS and peak RSS (VmHWM) idle with 10, 100 and 500
programs of `fleet-testprog sleep` (startsecs=1), measured 2 s after every
process is RUNNING. Peers (circus, PM2) at 100 programs only, 1 run
(full: 2)."""

import subprocess
import time
from pathlib import Path
from common import Program, Row, alternate, peer_samples, rss_kib, hwm_kib, threads, proc_status


def run(ctx):
    sizes = (10, 100) if ctx.quick else (10, 100, 500)
    reps = 1 if ctx.quick else 3
    rows = []
    per = {}
    for n in sizes:
        ctx.log(f" footprint {n} programs")

        def one(A, rep):
            progs = [Program(f"p{i:03}", [str(ctx.bin("fleet-testprog")), "sleep"]) for i in range(n)]
            with A(ctx, ctx.workdir(f"foot-{A.label}-{n}"), progs).start() as d:
                d.wait_states("RUNNING", n, timeout=120)
                time.sleep(2)
                anon = int(proc_status(d.pid).get("RssAnon", "0 kB").split()[0])
                return rss_kib(d.pid) / 1024, hwm_kib(d.pid) / 1024, threads(d.pid), anon / 1024

        res = alternate(ctx, reps, one, peer_reps=(1 if ctx.quick else 2) if n == 100 else 0)
        per[n] = res
        f = res["fleet"]
        s = res["supervisord"]

        def pk(i):
            return peer_samples(res, lambda x: x[i])

        r = Row("footprint", f"RSS, {n} programs", "MiB", [x[0] for x in f], [x[0] for x in s], peers=pk(0))
        if n == 100:
            r.target = "≤ 0.22 of supervisord"
            r.met = r.ratio() is not None and r.ratio() <= 0.22
        rows.append(r)
        rows.append(Row("footprint", f"peak RSS, {n} programs", "MiB", [x[1] for x in f], [x[1] for x in s], peers=pk(1)))
        rows.append(Row("footprint", f"RSS anonymous (heap+stacks), {n} programs", "MiB", [x[3] for x in f], [x[3] for x in s], peers=pk(3)))
        rows.append(Row("footprint", f"threads, {n} programs", "", [x[2] for x in f], [x[2] for x in s], peers=pk(2)))
    rows.append(text_order(ctx))
    lo, hi = sizes[0], sizes[-1]
    if hi > lo:
        def growth(lbl):
            a = sorted(x[0] for x in per[lo][lbl])
            b = sorted(x[0] for x in per[hi][lbl])
            return [(b[len(b) // 2] - a[len(a) // 2]) * 1024 / (hi - lo)]
        r = Row("footprint", f"RSS growth per program ({lo}→{hi})", "KiB", growth("fleet"), growth("supervisord"))
        r.target = "per-process bookkeeping only (≤ 64 KiB)"
        r.met = r.fmed() <= 64
        rows.append(r)
    return rows


def text_order(ctx):
    """How much of agent/text-order/symbols.txt (the hot-first code layout,
    BOUNDS.md) the measured binary still has: stale names lay nothing out."""
    want = (Path(__file__).resolve().parents[2] / "agent/text-order/symbols.txt").read_text().split()
    out = subprocess.run(["nm", str(ctx.bin("fleet-agent"))], capture_output=True, text=True, check=True).stdout
    have = {line.split()[-1] for line in out.splitlines() if line.strip()}
    r = Row("footprint", "hot-first code layout: listed functions found in the binary", "%",
            [100 * sum(1 for w in want if w in have) / len(want)], None)
    r.target = "≥ 90 % (else regenerate the list)"
    r.met = r.fmed() >= 90
    return r
