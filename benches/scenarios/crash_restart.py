"""4. Crash-to-restart latency: one program `fleet-testprog record FILE`
(autorestart=true, startsecs=0). The harness reads the current pid, takes
the time, SIGKILLs it, and waits for the next line in FILE; latency = the
new process's own start time - the kill time. 30 repetitions (quick: 10),
split into 3 alternating runs per supervisor; median and p95 pooled.
Peers (circus, PM2): 4 kills per run, 1 run (full: 2)."""

from common import PEERS, Program, Row, alternate, kill_and_time, peer_samples, wait_file_lines


def run(ctx):
    total = 10 if ctx.quick else 30
    runs = 2 if ctx.quick else 3
    per_run = -(-total // runs)
    peer_runs, peer_per_run = (1, 4) if ctx.quick else (2, 4)

    def one(A, rep):
        wd = ctx.workdir(f"crash-{A.label}")
        rec = wd / "starts"
        progs = [Program("victim", [str(ctx.bin("fleet-testprog")), "record", str(rec)], startsecs=0)]
        with A(ctx, wd, progs).start() as d:
            wait_file_lines(rec, 1)
            d.wait_states("RUNNING", 1)
            # Each kill waits for it RUNNING again (startsecs=0) and settles.
            return kill_and_time(d, rec, peer_per_run if A in PEERS else per_run)

    res = alternate(ctx, runs, one, peer_reps=peer_runs)
    f = [x for r in res["fleet"] for x in r]
    s = [x for r in res["supervisord"] for x in r]
    p = {k: [x for r in v for x in r] for k, v in peer_samples(res, lambda r: r).items()}
    r1 = Row("crash→restart", f"latency median ({len(f)} kills)", "ms", f, s, peers=p)
    r1.target = "≤ 5 ms"
    r1.met = r1.fmed() <= 5
    if p:
        r1.note = "peers: " + ", ".join(f"{k} {len(v)} kills" for k, v in p.items())
    r2 = Row("crash→restart", f"latency p95 ({len(f)} kills)", "ms", f, s, agg="p95", peers=p)
    r2.target = "≤ 20 ms"
    r2.met = r2.fmed() <= 20
    return [r1, r2]
