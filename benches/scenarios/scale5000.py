"""15. Scale: one fleet-console with 5,000 simulated hosts × 20 processes
(`fleet-sim`, one process serving the agent API on 5,000 loopback ports;
half of each host's processes a `celery` group, 5 % crash-looping at
2,000 events/s across the fleet), plus 50 dead hosts (closed ports) and
5 black-holed ones (a listener that never accepts). Calibrated in the
same run, one after the other (500 real agents and 5,000 simulated hosts
together do not fit 24 GiB and 2 cores beside a console): 500 real
fleet-agents (2 `celery` workers each, as scenario 9) and then fleet-sim
with 500 hosts (the same 2 `celery` workers, plus 2 `web`), each behind
its own console and measured the same way, so the simulator's figures
can be read against the real ones. Reported per phase: time until the
console's picture is complete, `fleetctl status` (table) and `fleetctl
-o json status` wall time, a parallel `fleetctl restart group:celery`
(per-host verdicts checked, the audit record read back); in the 5,000
phase the restart twice (the console's default concurrency, 2,048, and
`--concurrency 5000`), and also the console's CPU and RSS over 10 s of 2,000 events/s, the
size of `GET /v1/ops?limit=1000` and of one op, and the console's RSS
growth under 20 concurrent list reads. The page (headless Chromium) is
not measured here. Where a target is missed, the row's note says by how
much."""

import http.client
import json
import socket
import subprocess
import threading
import time
from common import STARTED, Row, cpu_s, kill_pid, median, rss_kib
from scenarios import page as browser_page
from scenarios.fleet_console import TOKEN_OP, free_port, spawn_agents

DEAD, HOLES = 50, 5


def get(port, path, timeout=120):
    """(status, body bytes) of an operator GET on the console."""
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        c.request("GET", path, headers={"Authorization": f"Bearer {TOKEN_OP}"})
        r = c.getresponse()
        return r.status, r.read()
    finally:
        c.close()


def start_console(ctx, base, entries):
    cport = free_port()
    (base / "data").mkdir()
    (base / "console.toml").write_text(
        f'[console]\nlisten = "127.0.0.1:{cport}"\ndata_dir = {json.dumps(str(base / "data"))}\n\n'
        f'[[tokens]]\nname = "ops"\ntoken = "{TOKEN_OP}"\nrole = "operator"\n\n' + "\n".join(entries)
    )
    err = open(base / "console.stderr", "wb")
    con = subprocess.Popen([str(ctx.bin("fleet-console")), "--config", str(base / "console.toml")],
                           stdout=err, stderr=err, stdin=subprocess.DEVNULL, start_new_session=True)
    STARTED.add(con.pid)
    return con, cport


def wait_picture(cport, hosts_up, processes, running=False, timeout=600):
    """Seconds until the console shows `hosts_up` hosts up and
    `processes` processes known (with `running`: RUNNING)."""
    t0 = time.time()
    seen = None
    while True:
        try:
            code, body = get(cport, "/v1/status")
            if code == 200:
                st = json.loads(body)
                up = sum(1 for h in st["hosts"] if h["up"])
                n = sum(1 for p in st["processes"]
                        if (p.get("state") == "RUNNING" if running else p.get("state") != "UNKNOWN"))
                seen = (up, n)
                if up >= hosts_up and n >= processes:
                    return time.time() - t0
        except (OSError, ValueError, http.client.HTTPException):
            pass
        if time.time() - t0 > timeout:
            raise TimeoutError(f"console shows (hosts up, processes) {seen}, want ({hosts_up}, {processes})")
        time.sleep(0.5)


def timed(cmd, reps, down_ok=False):
    """Wall times in ms of `reps` runs of `cmd`, and why it failed (None:
    it did not). With `down_ok`, exit 1 with only "host … is unreachable"
    lines is a success (the dead and black-holed hosts, as scenario 9)."""
    out = []
    for _ in range(reps):
        t = time.perf_counter()
        r = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        out.append((time.perf_counter() - t) * 1000)
        err = r.stderr.decode(errors="replace")
        other = [l for l in err.splitlines() if "is unreachable" not in l]
        if r.returncode != 0 and not (down_ok and r.returncode == 1 and not other):
            return out, f"rc {r.returncode}: {' '.join(other)[-300:]}"
    return out, None


def restart(ctl, cport, hosts, sel, extra=()):
    """Seconds for a parallel `restart group:celery` on the hosts `sel`
    names, and the size of the op's audit record as the console returns
    it (every host's verdict checked)."""
    t = time.perf_counter()
    r = subprocess.run(ctl + ["restart", "group:celery", "--hosts", sel, *extra],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    took = time.perf_counter() - t
    if r.returncode != 0:
        raise RuntimeError(f"restart: rc {r.returncode} {r.stderr[-400:]!r} {r.stdout[-400:]!r}")
    code, body = get(cport, "/v1/ops?limit=1")
    op = json.loads(body)["ops"][0]
    code, body = get(cport, f"/v1/ops/{op['id']}")
    full = json.loads(body)
    verdicts = {}
    for h in full["hosts"]:
        verdicts[h["verdict"]] = verdicts.get(h["verdict"], 0) + 1
    if full["state"] != "done" or verdicts.get("ok", 0) != hosts:
        raise RuntimeError(f"restart op {op['id']}: {full['state']} {verdicts}")
    return took, len(body)


def stop(procs):
    for p in procs:
        kill_pid(p.pid, 15)
    for p in procs:
        try:
            p.wait(60)
        except subprocess.TimeoutExpired:
            kill_pid(p.pid)
            p.wait()
        STARTED.discard(p.pid)


def sim(ctx, base, hosts, processes, extra=()):
    toml = base / "agents.toml"
    err = open(base / "sim.stderr", "wb")
    p = subprocess.Popen([str(ctx.bin("fleet-sim")), "--hosts", str(hosts), "--processes", str(processes),
                          *extra, "--agents-toml", str(toml)],
                         stdout=subprocess.PIPE, stderr=err, stdin=subprocess.DEVNULL, start_new_session=True)
    STARTED.add(p.pid)
    line = p.stdout.readline()
    if line != b"ready\n":
        raise RuntimeError(f"fleet-sim: {line!r} {(base / 'sim.stderr').read_text()[-400:]}")
    return p, toml.read_text()


def calibration(ctx, n, real, rows):
    """500 hosts behind one console: real agents or fleet-sim, measured alike."""
    what = "real agents" if real else "fleet-sim hosts"
    ctx.log(f" scale calibration: {n} {what}")
    base = ctx.workdir(f"scale-cal-{'real' if real else 'sim'}")
    procs, entries = [], []
    try:
        if real:
            spawn_agents(ctx, base, n, procs, entries)
            per_host = 2
        else:
            p, toml = sim(ctx, base, n, 4)
            procs.append(p)
            entries.append(toml)
            per_host = 4
        con, cport = start_console(ctx, base, entries)
        procs.append(con)
        t_pic = wait_picture(cport, n, n * per_host, running=True)
        ctl = [str(ctx.bin("fleetctl")), "--console", f"http://127.0.0.1:{cport}", "--token", TOKEN_OP]
        st, st_err = timed(ctl + ["status"], 5)
        js, js_err = timed(ctl + ["-o", "json", "status"], 3)
        if st_err or js_err:
            raise RuntimeError(f"fleetctl status: {st_err or js_err}")
        par, _ = restart(ctl, cport, n, "*")
    finally:
        stop(procs)
    label = f"{n} {what} × {per_host}"

    def R(metric, unit, vals):
        rows.append(Row("scale", f"{metric}, {label}", unit, vals, None))

    R("console picture complete", "s", [t_pic])
    R("`fleetctl status`", "ms", st)
    R("`fleetctl -o json status`", "ms", js)
    R("`fleetctl restart group:celery` parallel", "s", [par])


def black_holes(k):
    """`k` listening sockets that never accept: connections complete in
    the kernel's backlog, nothing ever answers."""
    socks = []
    for _ in range(k):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        s.listen(64)
        socks.append(s)
    return socks


def scale(ctx, hosts, rows):
    ctx.log(f" scale: {hosts} fleet-sim hosts × 20, {DEAD} dead, {HOLES} black-holed")
    base = ctx.workdir("scale")
    procs, holes = [], black_holes(HOLES)
    try:
        p, toml = sim(ctx, base, hosts, 20, ["--crashing", "5", "--events-per-sec", "2000"])
        procs.append(p)
        entries = [toml]
        for i in range(DEAD):
            entries.append(f'[[agent]]\nname = "dead-{i:03}"\nurl = "http://127.0.0.1:{free_port()}"\n'
                           f'token = "dead-token-0123456789abcdef"\n')
        for i, s in enumerate(holes):
            entries.append(f'[[agent]]\nname = "hole-{i:03}"\nurl = "http://127.0.0.1:{s.getsockname()[1]}"\n'
                           f'token = "hole-token-0123456789abcdef"\n')
        con, cport = start_console(ctx, base, entries)
        procs.append(con)
        t_pic = wait_picture(cport, hosts, hosts * 20)
        ctl = [str(ctx.bin("fleetctl")), "--console", f"http://127.0.0.1:{cport}", "--token", TOKEN_OP]
        st, st_err = timed(ctl + ["status"], 5, down_ok=True)
        js, js_err = timed(ctl + ["-o", "json", "status"], 3, down_ok=True)
        t = time.perf_counter()
        code, body = get(cport, "/v1/status")
        raw_ms, raw_mib = (time.perf_counter() - t) * 1000, len(body) / 1048576
        t = time.perf_counter()
        code, body = get(cport, "/v1/status/summary?all_below=1000")
        sum_ms, sum_kib = (time.perf_counter() - t) * 1000, len(body) / 1024
        try:
            pg, pg_err = browser_page.measure(cport, TOKEN_OP), None
        except Exception as e:  # reported as a miss with its reason
            pg, pg_err = {}, str(e)
        time.sleep(2)
        c0, t0 = cpu_s(con.pid), time.time()
        time.sleep(10)
        cores = (cpu_s(con.pid) - c0) / (time.time() - t0)
        rss = rss_kib(con.pid) / 1024
        par, op_bytes = restart(ctl, cport, hosts, "sim-*")
        time.sleep(2)
        wide, _ = restart(ctl, cport, hosts, "sim-*", ["--concurrency", str(hosts)])
        code, body = get(cport, "/v1/ops?limit=1000")
        page = len(body)
        before = rss_kib(con.pid) / 1024
        peak = [before]
        done = threading.Event()

        def sample():
            while not done.is_set():
                peak[0] = max(peak[0], rss_kib(con.pid) / 1024)
                time.sleep(0.01)

        sampler = threading.Thread(target=sample)
        sampler.start()
        readers = [threading.Thread(target=get, args=(cport, "/v1/ops?limit=1000")) for _ in range(20)]
        for t in readers:
            t.start()
        for t in readers:
            t.join()
        done.set()
        sampler.join()
    finally:
        stop(procs)
        for s in holes:
            s.close()
    label = f"{hosts} sim hosts × 20"

    def R(metric, unit, vals, target="", met=None, miss=""):
        rows.append(Row("scale", f"{metric}, {label}", unit, vals, None, target, met,
                        note=miss if met is False else ""))

    def by(x, limit, unit):
        return f"missed by {x - limit:.3g} {unit} ({x / limit:.2g}× the target)"

    ms, mj = median(st), median(js)
    R("console picture complete", "s", [t_pic])
    # A failed call is a miss whatever its time (fleetctl refuses an
    # answer over its 32 MiB cap).
    R(f"`fleetctl status` (summary), {DEAD} dead + {HOLES} black-holed", "ms", st, "≤ 300 ms",
      ms <= 300 and not st_err, f"failed: {st_err}" if st_err else by(ms, 300, "ms"))
    R(f"`fleetctl -o json status`, {DEAD} dead + {HOLES} black-holed", "ms", js, "≤ 2 s",
      mj <= 2000 and not js_err, f"failed: {js_err}" if js_err else by(mj, 2000, "ms"))
    R("`GET /v1/status` (the answer fleetctl reads)", "ms", [raw_ms])
    R("`GET /v1/status` size", "MiB", [raw_mib])
    R("`GET /v1/status/summary` (what `fleetctl status` reads)", "ms", [sum_ms])
    R("`GET /v1/status/summary` size", "KiB", [sum_kib])
    def P(metric, key, limit=None):
        v = pg.get(key)
        if v is None:
            R(f"page: {metric}", "ms", [0.0], f"≤ {limit} ms" if limit else "", False if limit else None,
              f"not measured: {pg_err or 'no figure'}")
        elif limit:
            R(f"page: {metric}", "ms", [v], f"≤ {limit} ms", v <= limit, by(v, limit, "ms"))
        else:
            R(f"page: {metric}", "ms", [v])
    P("overview first render after the login click (GET /v1/status read and parsed)", "first_render_ms", 2000)
    P(f"processes view render ({pg.get('list_rows', '?')} rows, virtual list)", "processes_render_ms")
    P(f"processes list scrolled to its middle ({pg.get('rows_in_dom', '?')} rows in the DOM)", "scroll_paint_ms")
    P("a batch of 200 process events, processes view (median of 7)", "flush_200_processes_ms", 50)
    P("a batch of 200 process events, overview (median of 7)", "flush_200_overview_ms", 50)
    R("console CPU at 2,000 events/s", "cores", [cores], "≤ 0.5", cores <= 0.5, by(cores, 0.5, "cores"))
    R("console RSS at 2,000 events/s", "MiB", [rss], "≤ 500 MiB", rss <= 500, by(rss, 500, "MiB"))
    R("`fleetctl restart group:celery` parallel, default concurrency 2,048 (verdicts, audit read back)",
      "s", [par], "≤ 10 s", par <= 10, by(par, 10, "s"))
    R(f"`fleetctl restart group:celery --concurrency {hosts}` (verdicts, audit read back)", "s", [wide],
      "≤ 10 s", wide <= 10, by(wide, 10, "s"))
    R("that op, `GET /v1/ops/ID`", "KiB", [op_bytes / 1024])
    R("`GET /v1/ops?limit=1000` page", "KiB", [page / 1024])
    R("console RSS growth, 20 concurrent `GET /v1/ops?limit=1000`", "MiB", [peak[0] - before])


def run(ctx):
    rows = []
    n_real = 50 if ctx.quick else 500
    hosts = 500 if ctx.quick else 5000
    calibration(ctx, n_real, True, rows)
    calibration(ctx, n_real, False, rows)
    scale(ctx, hosts, rows)
    return rows
