"""2. Idle cost: daemon CPU time and context switches (voluntary and
nonvoluntary, summed over /proc/PID/task/*/status) over 30 s (quick: 10 s)
idle with 100 programs, starting 2 s after all are RUNNING. Peers
(circus, PM2): same window, 1 run."""

import time
from common import Program, Row, alternate, cpu_s, ctx_switches, peer_samples


def run(ctx):
    window = 10 if ctx.quick else 30
    reps = 1 if ctx.quick else 3
    n = 100

    def one(A, rep):
        progs = [Program(f"p{i:03}", [str(ctx.bin("fleet-testprog")), "sleep"]) for i in range(n)]
        with A(ctx, ctx.workdir(f"idle-{A.label}"), progs).start() as d:
            d.wait_states("RUNNING", n, timeout=120)
            time.sleep(2)
            c0, (v0, i0) = cpu_s(d.pid), ctx_switches(d.pid)
            time.sleep(window)
            c1, (v1, i1) = cpu_s(d.pid), ctx_switches(d.pid)
            return c1 - c0, v1 - v0, i1 - i0

    res = alternate(ctx, reps, one, peer_reps=1)
    f, s = res["fleet"], res["supervisord"]

    def pk(fn):
        return peer_samples(res, fn)

    rows = []
    r = Row("idle", f"CPU over {window} s, 100 programs", "s", [x[0] for x in f], [x[0] for x in s], peers=pk(lambda x: x[0]))
    r.target = "≤ 1/10 of supervisord"
    fm, sm = r.fmed(), r.smed()
    # CPU is counted in clock ticks (10 ms): 0 vs 0 ticks is "met".
    r.met = fm <= sm / 10 if sm > 0 else fm == 0
    rows.append(r)
    r = Row("idle", f"voluntary ctx switches over {window} s", "", [x[1] for x in f], [x[1] for x in s], peers=pk(lambda x: x[1]))
    r.target = "≈ 0 (no periodic wake-ups)"
    r.met = r.fmed() <= 5
    rows.append(r)
    rows.append(Row("idle", f"nonvoluntary ctx switches over {window} s", "", [x[2] for x in f], [x[2] for x in s], peers=pk(lambda x: x[2])))
    rows.append(Row("idle", "wake-ups per second", "/s", [x[1] / window for x in f], [x[1] / window for x in s],
                    peers=pk(lambda x: x[1] / window)))
    return rows
