"""5. Crash loop: a program that exits 1 at once (a shell that appends its
start time to a file, then `exit 1`), autorestart=true, startsecs=1,
startretries=3. Reported: the delays between consecutive spawns (the
backoff actually applied), and the time from the first spawn to FATAL
(status polled every 10 ms)."""

from common import Program, Row, alternate, wait_file_lines


def run(ctx):
    reps = 1 if ctx.quick else 3

    def one(A, rep):
        wd = ctx.workdir(f"loop-{A.label}")
        rec = wd / "starts"
        sh = f'echo $$ $(date +%s%N) >> {rec}; exit 1'
        progs = [Program("crasher", ["/bin/sh", "-c", sh], startsecs=1, startretries=3)]
        with A(ctx, wd, progs).start() as d:
            t_fatal = d.wait_states("FATAL", 1, timeout=60, poll=0.01)
            lines = wait_file_lines(rec, 1)
        ts = [int(l.split()[1]) / 1e9 for l in lines]
        delays = [b - a for a, b in zip(ts, ts[1:])]
        return len(ts), delays, t_fatal - ts[0]

    res = alternate(ctx, reps, one)
    f, s = res["fleet"], res["supervisord"]
    rows = [Row("crash loop", "spawns until FATAL (startretries=3)", "", [x[0] for x in f], [x[0] for x in s])]
    k = min(len(x[1]) for x in f + s) if f + s else 0
    for i in range(k):
        rows.append(Row("crash loop", f"backoff delay before spawn {i + 2}", "s",
                        [x[1][i] for x in f], [x[1][i] for x in s]))
    r = Row("crash loop", "first spawn → FATAL", "s", [x[2] for x in f], [x[2] for x in s])
    r.target = "same backoff as supervisord, no tick delay (≤ 1.1×)"
    r.met = r.ratio() <= 1.1
    rows.append(r)
    return rows
