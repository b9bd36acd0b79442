"""9. Fleet: one fleet-console with 50, 200 and 500 fleet-agents (quick: 50)
on TCP loopback, each agent running a `celery` group of 2 `sleep`
processes (startsecs=1). Reported: time until the console's picture shows
every process RUNNING, `fleetctl status` wall time (5 calls), `fleetctl
restart group:celery` wall time in parallel and rolling 10% (each waits
for the operation to finish; includes the programs' startsecs), and the
console's RSS, CPU and context switches over 10 s idle with every agent
connected; then, with 10% of the agents SIGKILLed and one SIGSTOPped
(black-holed: its kernel accepts connections, nothing answers), the p99 of
50 `fleetctl status` calls once the console shows the killed ones down
(issue #15: answered from the picture, p99 < 50 ms). No supervisord
equivalent: absolute figures against targets."""

import http.client
import json
import os
import signal
import socket
import subprocess
import time
from common import STARTED, Row, children_of, cpu_s, ctx_switches, kill_pid, pct, rss_kib

TOKEN_AGENT = "agent-token-0123456789abcdef"
TOKEN_OP = "op-token-0123456789abcdef"

CELERY = """
[program.worker]
command = ["{tp}", "sleep"]
numprocs = 2
process_name = "{{program}}_{{num:02}}"
startsecs = 1
stopwaitsecs = 2

[group.celery]
programs = ["worker"]
"""


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def get_status(port):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        c.request("GET", "/v1/status", headers={"Authorization": f"Bearer {TOKEN_OP}"})
        r = c.getresponse()
        return json.loads(r.read())
    finally:
        c.close()


def spawn_agents(ctx, base, n, agents, entries):
    """Start `n` fleet-agents under `base` (a `celery` group of 2 `sleep`
    workers each), appending each process to `agents` and its `[[agent]]`
    entry (names `w-000`…) to `entries` as it starts, so a failure part
    way still stops the ones started (scale5000.py calibrates with this)."""
    tp = str(ctx.bin("fleet-testprog"))
    for i in range(n):
        d = base / f"a{i:03}"
        (d / "logs").mkdir(parents=True)
        port = free_port()
        (d / "agent.toml").write_text(
            "[agent]\n"
            f"socket = {json.dumps(str(d / 'agent.sock'))}\n"
            f"log_dir = {json.dumps(str(d / 'logs'))}\n"
            f'listen = "127.0.0.1:{port}"\ntoken = "{TOKEN_AGENT}"\n'
            + CELERY.format(tp=tp)
        )
        err = open(d / "stderr", "wb")
        p = subprocess.Popen([str(ctx.bin("fleet-agent")), "--config", str(d / "agent.toml")],
                             stdout=err, stderr=err, stdin=subprocess.DEVNULL, start_new_session=True)
        STARTED.add(p.pid)
        agents.append(p)
        entries.append(f'[[agent]]\nname = "w-{i:03}"\nurl = "http://127.0.0.1:{port}"\ntoken = "{TOKEN_AGENT}"\n')


def run(ctx):
    sizes = (50,) if ctx.quick else (50, 200, 500)
    rows = []
    for n in sizes:
        ctx.log(f" fleet with {n} agents")
        base = ctx.workdir(f"fleet-{n}")
        agents = []
        entries = []
        try:
            spawn_agents(ctx, base, n, agents, entries)
            cport = free_port()
            (base / "data").mkdir()
            (base / "console.toml").write_text(
                f'[console]\nlisten = "127.0.0.1:{cport}"\ndata_dir = {json.dumps(str(base / "data"))}\n\n'
                f'[[tokens]]\nname = "ops"\ntoken = "{TOKEN_OP}"\nrole = "operator"\n\n' + "\n".join(entries)
            )
            err = open(base / "console.stderr", "wb")
            t0 = time.time()
            con = subprocess.Popen([str(ctx.bin("fleet-console")), "--config", str(base / "console.toml")],
                                   stdout=err, stderr=err, stdin=subprocess.DEVNULL, start_new_session=True)
            STARTED.add(con.pid)
            agents.append(con)
            deadline = time.time() + 300
            while True:
                try:
                    st = get_status(cport)
                    running = sum(1 for p in st.get("processes", []) if p.get("state") == "RUNNING")
                    if running >= 2 * n:
                        break
                except (OSError, ValueError, http.client.HTTPException):
                    pass
                if time.time() > deadline:
                    raise TimeoutError(f"console sees {running} of {2 * n} RUNNING")
                time.sleep(0.2)
            t_pic = time.time() - t0
            url = f"http://127.0.0.1:{cport}"
            ctl = [str(ctx.bin("fleetctl")), "--console", url, "--token", TOKEN_OP]
            stl = []
            for _ in range(5):
                t = time.perf_counter()
                r = subprocess.run(ctl + ["status"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
                stl.append((time.perf_counter() - t) * 1000)
                if r.returncode != 0:
                    raise RuntimeError(f"fleetctl status: {r.stderr[-500:]!r}")
            time.sleep(2)
            c0, (v0, i0) = cpu_s(con.pid), ctx_switches(con.pid)
            time.sleep(10)
            c1, (v1, i1) = cpu_s(con.pid), ctx_switches(con.pid)
            rss = rss_kib(con.pid) / 1024

            def restart(extra):
                t = time.perf_counter()
                r = subprocess.run(ctl + ["restart", "group:celery"] + extra,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE)
                took = time.perf_counter() - t
                if r.returncode != 0:
                    bad = [l for l in r.stdout.decode(errors="replace").splitlines() if "ok" not in l.split()][:12]
                    raise RuntimeError(f"fleetctl restart {extra}: rc {r.returncode} {r.stderr[-500:]!r} {bad!r}")
                return took

            par = restart([])
            time.sleep(1)
            roll = restart(["--rolling", "10%"])
            faulty = faults(agents[:n], cport, ctl)
        finally:
            for p in agents:
                kill_pid(p.pid, 15)
            for p in agents:
                try:
                    p.wait(30)
                except subprocess.TimeoutExpired:
                    kill_pid(p.pid)
                    p.wait()
                STARTED.discard(p.pid)

        def R(metric, unit, vals, target="", met=None):
            rows.append(Row("fleet", f"{metric}, {n} agents", unit, vals, None, target, met))

        R("console picture complete (all RUNNING)", "s", [t_pic])
        ms = sorted(stl)[len(stl) // 2]
        R("`fleetctl status`", "ms", stl, *(("≤ 300 ms", ms <= 300) if n == 500 else ("",)))
        R("`fleetctl restart group:celery` parallel", "s", [par],
          *(("≤ 3 s + startsecs (4 s)", par <= 4) if n == 500 else ("",)))
        R("`fleetctl restart group:celery` rolling 10%", "s", [roll])
        p99 = pct(faulty, 99)
        R("`fleetctl status` p99 of 50, 10% killed + 1 black-holed", "ms", [p99],
          "< 50 ms", p99 < 50)
        R("console RSS idle", "MiB", [rss], *(("≤ 200 MiB", rss <= 200) if n == 500 else ("",)))
        R("console CPU over 10 s idle", "s", [c1 - c0], *(("near zero (≤ 0.1 s)", c1 - c0 <= 0.1) if n == 500 else ("",)))
        R("console wake-ups idle", "/s", [(v1 - v0) / 10])
    return rows


def faults(agents, cport, ctl):
    """SIGKILL every tenth agent and SIGSTOP one more; once the console shows
    the killed ones down, time 50 `fleetctl status` calls (each exits 1: hosts
    are down). Returns the times in ms. The killed agents' programs are
    killed too (a restarted agent would stop them; none is restarted here)."""
    victims = agents[::10]
    hole = agents[5]
    orphans = [c for p in victims for c in children_of(p.pid)]
    for p in victims:
        kill_pid(p.pid)
    os.kill(hole.pid, signal.SIGSTOP)
    try:
        deadline = time.time() + 60
        while True:
            down = sum(1 for h in get_status(cport)["hosts"] if not h["up"])
            if down >= len(victims):
                break
            if time.time() > deadline:
                raise TimeoutError(f"console shows {down} of {len(victims)} killed agents down")
            time.sleep(0.2)
        out = []
        for _ in range(50):
            t = time.perf_counter()
            r = subprocess.run(ctl + ["status"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            out.append((time.perf_counter() - t) * 1000)
            if r.returncode != 1:
                raise RuntimeError(f"fleetctl status with hosts down: rc {r.returncode} {r.stderr[-500:]!r}")
        return out
    finally:
        os.kill(hole.pid, signal.SIGCONT)
        for c in orphans:
            kill_pid(c)
