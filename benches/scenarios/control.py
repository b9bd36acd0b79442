"""8. Control latency. (a) With 500 programs RUNNING: the status call over
each daemon's unix-socket API from Python (fleet: GET /v1/status, JSON;
supervisord: supervisor.getAllProcessInfo, XML-RPC), a fresh connection per
call, parse included; 20 calls per run (quick: 10), pooled; plus the CLIs
(`fleetctl --agent SOCKET status`, `supervisorctl -c CONF status`), 3 per run,
and the same client against both: `supervisorctl -s unix://SOCKET status`
against fleet-agent's XML-RPC face, 3 per run; fleet's `GET /metrics`
(Prometheus's scrape), as many as status calls.
(b) With 100 programs (90 single + one program of numprocs=10), startsecs=1:
restart all, and restart the group of 10, each until the call returns with
everything RUNNING again (supervisord: what supervisorctl does, stop then
start with wait=True)."""

import subprocess
import time
from common import Program, Row, _unix_conn, alternate


def run(ctx):
    reps = 1 if ctx.quick else 3
    calls = 10 if ctx.quick else 20
    tp = str(ctx.bin("fleet-testprog"))

    big = 100 if ctx.quick else 500

    def status_lat(A, d, out):
            lat = []
            for _ in range(calls):
                t0 = time.perf_counter()
                st = d.status()
                lat.append((time.perf_counter() - t0) * 1000)
                assert len(st) == big
            out["status"] = lat
            if A.label == "fleet":
                # Prometheus's scrape (fleet only: supervisord has none).
                ml = []
                for _ in range(calls):
                    t0 = time.perf_counter()
                    c = _unix_conn(d.sock)
                    c.request("GET", "/metrics")
                    body = c.getresponse().read()
                    c.close()
                    ml.append((time.perf_counter() - t0) * 1000)
                    assert b"fleet_agent_process_state" in body
                out["metrics"] = ml
            if A.label == "fleet":
                cli = [str(ctx.bin("fleetctl")), "--agent", d.sock, "status"]
            else:
                cli = [str(ctx.supervisord.parent / "supervisorctl"), "-c", str(d.dir / "supervisord.conf"), "status"]
            cl = []
            for _ in range(3):
                t0 = time.perf_counter()
                subprocess.run(cli, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                cl.append((time.perf_counter() - t0) * 1000)
            out["cli"] = cl
            # The same client against both: supervisorctl, as runbooks and
            # Ansible call it (fleet answers it through its /RPC2 face).
            ctl = str(ctx.supervisord.parent / "supervisorctl")
            if A.label == "fleet":
                conf = d.dir / "supervisorctl.conf"
                conf.write_text("[supervisorctl]\n")
                sctl = [ctl, "-c", str(conf), "-s", f"unix://{d.sock}", "status"]
            else:
                sctl = [ctl, "-c", str(d.dir / "supervisord.conf"), "status"]
            sl = []
            for _ in range(3):
                t0 = time.perf_counter()
                p = subprocess.run(sctl, capture_output=True, text=True)
                sl.append((time.perf_counter() - t0) * 1000)
                lines = [l for l in p.stdout.splitlines() if l.strip()]
                assert len(lines) == big, (A.label, p.returncode, p.stdout[-500:], p.stderr[-500:])
            out["supervisorctl"] = sl

    def one(A, rep):
        out = {}
        if not ctx.quick:
            progs = [Program(f"p{i:03}", [tp, "sleep"]) for i in range(big)]
            with A(ctx, ctx.workdir(f"ctl500-{A.label}"), progs).start() as d:
                d.wait_states("RUNNING", big, timeout=180, poll=0.25)
                time.sleep(1)
                status_lat(A, d, out)
        progs = [Program(f"p{i:03}", [tp, "sleep"]) for i in range(90)]
        progs.append(Program("ten", [tp, "sleep"], numprocs=10))
        with A(ctx, ctx.workdir(f"ctl100-{A.label}"), progs).start() as d:
            d.wait_states("RUNNING", 100, timeout=120, poll=0.1)
            if ctx.quick:
                time.sleep(1)
                status_lat(A, d, out)
            t0 = time.perf_counter()
            d.restart_all()
            out["all"] = time.perf_counter() - t0
            assert sum(1 for s, _ in d.states().values() if s == "RUNNING") == 100
            time.sleep(0.5)
            t0 = time.perf_counter()
            d.restart_group("ten")
            out["ten"] = time.perf_counter() - t0
            assert sum(1 for s, _ in d.states().values() if s == "RUNNING") == 100
        return out

    res = alternate(ctx, reps, one)
    f, s = res["fleet"], res["supervisord"]
    pool = lambda rs, k: [x for r in rs for x in r[k]]
    rows = []
    r = Row("control", f"status, {big} processes (API)", "ms", pool(f, "status"), pool(s, "status"))
    if big == 500:
        r.target = "≤ 20 ms"
        r.met = r.fmed() <= 20
    rows.append(r)
    rows.append(Row("control", f"status, {big} processes (CLI)", "ms", pool(f, "cli"), pool(s, "cli")))
    r = Row("control", f"GET /metrics, {big} processes (fleet only)", "ms", pool(f, "metrics"), None)
    if big == 500:
        r.target = "≤ 20 ms"
        r.met = r.fmed() <= 20
    rows.append(r)
    r = Row("control", f"supervisorctl status, {big} processes (same client)", "ms",
            pool(f, "supervisorctl"), pool(s, "supervisorctl"))
    r.target = "faster than supervisord"
    r.met = r.fmed() < r.smed()
    rows.append(r)
    r = Row("control", "restart all, 100 processes (startsecs=1)", "s", [x["all"] for x in f], [x["all"] for x in s])
    rows.append(r)
    r = Row("control", "restart group of 10 (startsecs=1)", "s", [x["ten"] for x in f], [x["ten"] for x in s])
    r.target = "≤ startsecs + 50 ms (1.05 s)"
    r.met = r.fmed() <= 1.05
    rows.append(r)
    return rows
