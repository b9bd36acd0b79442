"""11. Event listeners: crash→restart of one program (as in 4) beside a
listener subscribed to PROCESS_STATE that printed READY once and never
reads its stdin again (its one event is out for ever, its buffer full,
every later event dropped), against the same program with no listener.
Both supervisors run the identical listener (supervisord's own
protocol); each kill raises several state events for the pool. 10 kills
per run, 2 alternating runs (quick: 6, 1)."""

from common import Program, Row, alternate, kill_and_time, wait_file_lines

DEAF = ["sh", "-c", "echo READY; exec sleep 100000"]


def run(ctx):
    kills = 6 if ctx.quick else 10
    runs = 1 if ctx.quick else 2

    def one(deaf):
        def go(A, rep):
            wd = ctx.workdir(f"listeners-{'deaf' if deaf else 'none'}-{A.label}")
            rec = wd / "starts"
            fleet_extra = sup_extra = ""
            if deaf:
                cmd = " ".join(DEAF[:2]) + " '" + DEAF[2] + "'"
                fleet_extra = (
                    "[eventlistener.deaf]\n"
                    f"command = {DEAF!r}\n".replace("'", '"')
                    + 'events = ["PROCESS_STATE"]\nbuffer_size = 10\nstartsecs = 0\n'
                )
                sup_extra = (
                    f"[eventlistener:deaf]\ncommand={cmd}\nevents=PROCESS_STATE\n"
                    "buffer_size=10\nstartsecs=0\n"
                    f"stderr_logfile={wd / 'deaf.err'}\n"
                )
            progs = [Program("victim", [str(ctx.bin("fleet-testprog")), "record", str(rec)],
                             startsecs=0, fleet_extra=fleet_extra, sup_extra=sup_extra)]
            with A(ctx, wd, progs).start() as d:
                wait_file_lines(rec, 1)
                d.wait_states("RUNNING", 2 if deaf else 1)
                return kill_and_time(d, rec, kills, running=2 if deaf else 1)
        res = alternate(ctx, runs, go)
        return ([x for r in res["fleet"] for x in r], [x for r in res["supervisord"] for x in r])

    ctx.log("  no listener")
    f0, s0 = one(False)
    ctx.log("  a deaf PROCESS_STATE listener")
    f1, s1 = one(True)
    r = Row("listeners", f"crash→restart median beside a listener that never reads ({len(f1)} kills)",
            "ms", f1, s1)
    base = sorted(f0)[len(f0) // 2]
    r.target = "unchanged (≤ 2× without it)"
    r.met = r.fmed() <= max(2 * base, base + 2)
    r.note = (f"without a listener: fleet {base:.2f} ms, "
              f"supervisord {sorted(s0)[len(s0) // 2]:.0f} ms")
    return [r]
