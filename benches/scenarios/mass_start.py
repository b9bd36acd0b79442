"""3. Mass start: from the daemon's launch until all 100 / 500 processes
are spawned (each is `fleet-testprog record FILE`, which appends its start
time at once; the figure is the latest start time minus the launch time)
and until all are RUNNING (startsecs=1; status polled every 50 ms).
Peers (circus, PM2): 100 only, 1 run; neither has a startsecs state, so
their "RUNNING" is "spawned and reported" (see METHOD.md)."""

from common import Program, Row, alternate, peer_samples, wait_file_lines


def run(ctx):
    sizes = (100,) if ctx.quick else (100, 500)
    reps = 1 if ctx.quick else 3
    rows = []
    for n in sizes:
        ctx.log(f" mass start {n}")

        def one(A, rep):
            wd = ctx.workdir(f"mass-{A.label}-{n}")
            rec = wd / "starts"
            progs = [
                Program(f"p{i:03}", [str(ctx.bin("fleet-testprog")), "record", str(rec)], startsecs=1)
                for i in range(n)
            ]
            with A(ctx, wd, progs).start(wait_api=False) as d:
                lines = wait_file_lines(rec, n, timeout=120, poll=0.02)
                stamps = [int(l.split()[1]) for l in lines if len(l.split()) == 2]
                last = max(stamps) / 1e9
                first = min(stamps) / 1e9
                d.wait_api()
                t_run = d.wait_states("RUNNING", n, timeout=120)
                return last - d.t_start, t_run - d.t_start, first - d.t_start

        res = alternate(ctx, reps, one, peer_reps=1 if n == 100 else 0)
        f, s = res["fleet"], res["supervisord"]

        def pk(i):
            return peer_samples(res, lambda x: x[i])

        rows.append(Row("mass start", f"first spawned, {n}", "s", [x[2] for x in f], [x[2] for x in s], peers=pk(2)))
        r = Row("mass start", f"all spawned, {n}", "s", [x[0] for x in f], [x[0] for x in s], peers=pk(0))
        if n == 500:
            r.target = "≤ 1/10 of supervisord"
            r.met = r.ratio() <= 0.1
        rows.append(r)
        r = Row("mass start", f"all RUNNING, {n} (startsecs=1)", "s", [x[1] for x in f], [x[1] for x in s], peers=pk(1))
        if r.peers:
            r.note = "circus and PM2 have no startsecs state: their processes count as running once spawned"
        rows.append(r)
    return rows
