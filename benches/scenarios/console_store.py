"""17. The console's store: SQLite (embedded) vs PostgreSQL (issue #30),
one console at a time over the same N fleet-agents (quick: 50; full:
500), each running one `sleep` worker (startsecs=0, so the op's time is
the console's and the store's, not the program's). PostgreSQL is a fresh
cluster from Debian's `postgresql` package on a temp dir (initdb/pg_ctl,
as the postgres user when run as root; fsync on, as deployed). Reported
per store: op admission latency (`POST /v1/ops` → 201: the overlap check,
and with PostgreSQL the admission lock, the intent and the op's lease;
median of 20 one-host ops) and the wall time of a parallel restart of
every host (POST until the op is done). No supervisord equivalent."""

import http.client
import json
import os
import shutil
import subprocess
import tempfile
import time
from common import STARTED, Row, kill_pid
from scenarios.fleet_console import TOKEN_AGENT, TOKEN_OP, free_port, get_status

WORKER = """
[program.worker]
command = ["{tp}", "sleep"]
startsecs = 0
stopwaitsecs = 2
"""


def call(port, method, path, body=None):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    try:
        c.request(method, path, body=json.dumps(body) if body is not None else None,
                  headers={"Authorization": f"Bearer {TOKEN_OP}", "Content-Type": "application/json"})
        r = c.getresponse()
        return r.status, json.loads(r.read() or b"null")
    finally:
        c.close()


def wait_op(port, op_id):
    while True:
        _, op = call(port, "GET", f"/v1/ops/{op_id}?after=1000000")
        if op["state"] != "running":
            return op


class Postgres:
    """A throwaway cluster (stopped by pg_ctl in `stop`)."""

    def __init__(self, base):
        bins = sorted(d for d in os.listdir("/usr/lib/postgresql") if d.isdigit())
        if not bins:
            raise RuntimeError("PostgreSQL is not installed (apt-get install postgresql)")
        self.bin = f"/usr/lib/postgresql/{bins[-1]}/bin"
        # Not under the 0700 scratch dir: the postgres user must reach it.
        self.dir = tempfile.mkdtemp(prefix="fleet-bench-pg")
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres", "postgres")
        self.port = free_port()
        self.run("initdb", "-D", f"{self.dir}/data", "-U", "fleet", "-A", "trust", "-E", "UTF8")
        self.run("pg_ctl", "start", "-w", "-D", f"{self.dir}/data", "-l", f"{self.dir}/log",
                 "-o", f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c max_connections=200")
        self.run("createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", "fleet", "fleet")
        self.url = f"postgres://fleet@127.0.0.1:{self.port}/fleet"

    def run(self, tool, *args):
        cmd = [f"{self.bin}/{tool}", *args]
        if os.geteuid() == 0:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=self.dir)

    def stop(self):
        self.run("pg_ctl", "stop", "-w", "-m", "fast", "-D", f"{self.dir}/data")


def console(ctx, base, label, entries, n, store):
    d = base / f"console-{label}"
    (d / "data").mkdir(parents=True)
    port = free_port()
    (d / "console.toml").write_text(
        f'[console]\nlisten = "127.0.0.1:{port}"\ndata_dir = {json.dumps(str(d / "data"))}\n\n'
        + store
        + f'[[tokens]]\nname = "ops"\ntoken = "{TOKEN_OP}"\nrole = "operator"\n\n' + "\n".join(entries)
    )
    err = open(d / "stderr", "wb")
    p = subprocess.Popen([str(ctx.bin("fleet-console")), "--config", str(d / "console.toml")],
                         stdout=err, stderr=err, stdin=subprocess.DEVNULL, start_new_session=True)
    STARTED.add(p.pid)
    deadline = time.time() + 300
    while True:
        try:
            st = get_status(port)
            if sum(1 for x in st.get("processes", []) if x.get("state") == "RUNNING") >= n:
                return p, port
        except (OSError, ValueError, http.client.HTTPException):
            pass
        if time.time() > deadline:
            raise TimeoutError(f"console ({label}) never saw {n} RUNNING")
        time.sleep(0.2)


def measure(port, n):
    admit = []
    for i in range(20):
        body = {"action": "signal", "signal": "SIGCONT", "target": "all", "hosts": f"w-{i % n:03}"}
        t = time.perf_counter()
        status, op = call(port, "POST", "/v1/ops", body)
        admit.append((time.perf_counter() - t) * 1000)
        if status != 201:
            raise RuntimeError(f"POST /v1/ops: {status} {op}")
        wait_op(port, op["id"])
    t = time.perf_counter()
    status, op = call(port, "POST", "/v1/ops", {"action": "restart", "target": "all"})
    if status != 201:
        raise RuntimeError(f"POST /v1/ops restart: {status} {op}")
    done = wait_op(port, op["id"])
    took = time.perf_counter() - t
    bad = [h for h in done["hosts"] if h["verdict"] != "ok"]
    if bad:
        raise RuntimeError(f"restart: {len(bad)} host(s) not ok, e.g. {bad[0]}")
    return admit, took


def run(ctx):
    n = 50 if ctx.quick else 500
    tp = str(ctx.bin("fleet-testprog"))
    base = ctx.workdir(f"store-{n}")
    procs, entries, rows = [], [], []
    pg = None
    try:
        for i in range(n):
            d = base / f"a{i:03}"
            (d / "logs").mkdir(parents=True)
            port = free_port()
            (d / "agent.toml").write_text(
                "[agent]\n"
                f"socket = {json.dumps(str(d / 'agent.sock'))}\n"
                f"log_dir = {json.dumps(str(d / 'logs'))}\n"
                f'listen = "127.0.0.1:{port}"\ntoken = "{TOKEN_AGENT}"\n' + WORKER.format(tp=tp))
            err = open(d / "stderr", "wb")
            p = subprocess.Popen([str(ctx.bin("fleet-agent")), "--config", str(d / "agent.toml")],
                                 stdout=err, stderr=err, stdin=subprocess.DEVNULL, start_new_session=True)
            STARTED.add(p.pid)
            procs.append(p)
            entries.append(f'[[agent]]\nname = "w-{i:03}"\nurl = "http://127.0.0.1:{port}"\ntoken = "{TOKEN_AGENT}"\n')
        pg = Postgres(base)
        for label, store in [("sqlite", ""), ("postgres", f'[store]\nurl = "{pg.url}"\n\n')]:
            ctx.log(f" console on {label}, {n} agents")
            con, port = console(ctx, base, label, entries, n, store)
            try:
                admit, took = measure(port, n)
            finally:
                kill_pid(con.pid, 15)
                con.wait(30)
                STARTED.discard(con.pid)
            rows.append(Row("console_store", f"op admission (POST /v1/ops → 201), {label}", "ms",
                            admit, None))
            rows.append(Row("console_store", f"parallel restart of {n} hosts, {label}", "s", [took], None))
    finally:
        for p in procs:
            kill_pid(p.pid, 15)
        for p in procs:
            try:
                p.wait(30)
            except subprocess.TimeoutExpired:
                kill_pid(p.pid)
                p.wait()
            STARTED.discard(p.pid)
        if pg:
            pg.stop()
    return rows
