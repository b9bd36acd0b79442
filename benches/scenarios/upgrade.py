"""16. Upgrade without restarts: 20 programs (`fleet-testprog sleep`,
numprocs=20) running; the supervisor is upgraded in place the only way it
can be. fleet: `POST /v1/agent/reexec` (the agent re-executes its binary,
same pid; the outcome is read from `GET /v1/agent/reexec` once the new
image serves). supervisord: its upgrade path is a restart of supervisord —
a package upgrade's service restart, or `supervisorctl reload`
(`supervisor.restart`, used here), which stops every program and starts
them again; `supervisorctl update` only re-reads program sections, it
never replaces supervisord's own code. Reported: how many programs got a
new pid, and the longest answer to a status call polled every 5 ms through
the upgrade (a call that fails, e.g. refused while supervisord restarts,
counts as lasting until the next one succeeds). 3 runs each (quick: 1)."""

import json
import threading
import time
from common import Fleet, Program, Row, _unix_conn, alternate

N = 20


def _reexec(d):
    """fleet's re-exec as fleetctl does it: the POST answers only a
    refusal; the exec ends the connection."""
    rid = f"bench-{time.time_ns()}"
    c = _unix_conn(d.sock, timeout=30)
    try:
        c.request("POST", "/v1/agent/reexec", body=json.dumps({"id": rid}))
        r = c.getresponse()
        raise RuntimeError(f"reexec refused: {r.status} {r.read()[:300]!r}")
    except (ConnectionError, OSError, Exception) as e:
        if isinstance(e, RuntimeError):
            raise
    finally:
        c.close()
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            o = d._req("GET", "/v1/agent/reexec")
            if o.get("id") == rid:
                if "ok" not in o:
                    raise RuntimeError(f"reexec failed: {o}")
                return o["ok"]
        except (OSError, RuntimeError) as e:
            if "reexec failed" in str(e):
                raise
        time.sleep(0.01)
    raise TimeoutError("no reexec outcome")


def run(ctx):
    reps = 1 if ctx.quick else 3

    def one(A, rep):
        wd = ctx.workdir(f"upgrade-{A.label}")
        progs = [Program("w", [str(ctx.bin("fleet-testprog")), "sleep"], numprocs=N, startsecs=0)]
        with A(ctx, wd, progs).start() as d:
            d.wait_states("RUNNING", N)
            before = {n: p for n, (s, p) in d.states().items()}
            stop = threading.Event()
            worst = [0.0]
            last_ok = [time.time()]

            def probe():
                while not stop.is_set():
                    t0 = time.time()
                    try:
                        d.status()
                        t1 = time.time()
                        # A failure spell lasts from the last success.
                        worst[0] = max(worst[0], t1 - t0, t1 - last_ok[0] - 0.005)
                        last_ok[0] = t1
                    except Exception:
                        pass
                    time.sleep(0.005)

            th = threading.Thread(target=probe)
            th.start()
            t0 = time.time()
            if A is Fleet:
                _reexec(d)
            else:
                d.rpc().restart()
                time.sleep(0.2)  # let supervisord begin its restart
                d.wait_api(60)
            d.wait_states("RUNNING", N, timeout=120, poll=0.01)
            took = time.time() - t0
            time.sleep(0.2)  # the probe sees the new image serve a while
            stop.set()
            th.join()
            after = {n: p for n, (s, p) in d.states().items()}
            restarted = sum(1 for n, p in before.items() if after.get(n) != p)
            ctx.log(f"    {A.label}: {restarted}/{N} restarted, upgrade {took * 1000:.0f} ms, "
                    f"longest status answer {worst[0] * 1000:.1f} ms")
            return restarted, worst[0] * 1000, took * 1000

    res = alternate(ctx, reps, one)
    f, s = res["fleet"], res["supervisord"]
    r1 = Row("upgrade", f"programs restarted (of {N})", "", [x[0] for x in f], [x[0] for x in s])
    r1.target = "0"
    r1.met = max(x[0] for x in f) == 0
    r2 = Row("upgrade", "longest status answer during it", "ms", [x[1] for x in f], [x[1] for x in s])
    r2.target = "< 500 ms"
    r2.met = max(x[1] for x in f) < 500
    r3 = Row("upgrade", f"until all {N} RUNNING again", "ms", [x[2] for x in f], [x[2] for x in s])
    return [r1, r2, r3]
