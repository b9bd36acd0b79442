"""Shared pieces of the benchmark harness: /proc readers, the two
supervisor adapters (same programs written as a supervisord INI file and as
a fleet TOML file, same control verbs over each one's unix-socket API),
statistics and result rows.

Python 3.11 standard library only.
"""

from __future__ import annotations

import http.client
import json
import os
import shlex
import signal
import socket
import statistics
import subprocess
import time
import xmlrpc.client
from dataclasses import dataclass, field
from pathlib import Path

CLK_TCK = os.sysconf("SC_CLK_TCK")

# Every pid the harness started (daemons and reference pipelines); killed
# by pid, one by one, if a scenario fails half-way.
STARTED: set[int] = set()


# ---------------------------------------------------------------- /proc


def proc_status(pid: int) -> dict[str, str]:
    out = {}
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                k, _, v = line.partition(":")
                out[k] = v.strip()
    except OSError:
        pass
    return out


def rss_kib(pid: int) -> int:
    return int(proc_status(pid).get("VmRSS", "0 kB").split()[0])


def hwm_kib(pid: int) -> int:
    return int(proc_status(pid).get("VmHWM", "0 kB").split()[0])


def cpu_s(pid: int) -> float:
    """utime + stime of the process (all its threads), in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        rest = f.read().rsplit(")", 1)[1].split()
    # rest[0] is field 3 (state); utime is field 14, stime 15.
    return (int(rest[11]) + int(rest[12])) / CLK_TCK


def ctx_switches(pid: int) -> tuple[int, int]:
    """(voluntary, nonvoluntary) summed over every thread."""
    vol = invol = 0
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return 0, 0
    for tid in tids:
        st = proc_status_path(f"/proc/{pid}/task/{tid}/status")
        vol += int(st.get("voluntary_ctxt_switches", 0))
        invol += int(st.get("nonvoluntary_ctxt_switches", 0))
    return vol, invol


def proc_status_path(path: str) -> dict[str, str]:
    out = {}
    try:
        with open(path) as f:
            for line in f:
                k, _, v = line.partition(":")
                out[k] = v.strip()
    except OSError:
        pass
    return out


def threads(pid: int) -> int:
    try:
        return len(os.listdir(f"/proc/{pid}/task"))
    except OSError:
        return 0


def alive(pid: int) -> bool:
    """True if pid exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
        return state != "Z"
    except OSError:
        return False


def kill_pid(pid: int, sig=signal.SIGKILL) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


# ---------------------------------------------------------------- stats


def median(xs):
    return statistics.median(xs) if xs else float("nan")


def pct(xs, p):
    if not xs:
        return float("nan")
    s = sorted(xs)
    k = min(len(s) - 1, max(0, int(round(p / 100 * (len(s) - 1)))))
    return s[k]


@dataclass
class Row:
    scenario: str
    metric: str
    unit: str
    fleet: list = field(default_factory=list)
    sup: list | None = None  # None: no supervisord equivalent
    target: str = ""
    met: bool | None = None
    note: str = ""
    # for rows whose figure is a percentile over pooled samples
    agg: str = "median"
    # Extra peer supervisors (circus, PM2, see peers.py): label -> samples.
    # Shown as extra columns; ratio and targets stay fleet vs supervisord.
    peers: dict = field(default_factory=dict)

    def fmed(self):
        return self._agg(self.fleet)

    def smed(self):
        return self._agg(self.sup) if self.sup is not None else None

    def _agg(self, xs):
        xs = [x for x in xs if x is not None]
        if not xs:
            return None
        if self.agg == "p95":
            return pct(xs, 95)
        return median(xs)

    def pmed(self, label):
        return self._agg(self.peers[label]) if label in self.peers else None

    def ratio(self):
        f, s = self.fmed(), self.smed()
        if f is None or s is None or s == 0:
            return None
        return f / s


# ---------------------------------------------------------------- programs


@dataclass
class Program:
    name: str
    argv: list[str]
    numprocs: int = 1
    autostart: bool = True
    autorestart: bool | str = True
    startsecs: int = 1
    startretries: int = 3
    stopwaitsecs: int = 10
    killasgroup: bool = False
    stopasgroup: bool = False
    redirect_stderr: bool = False
    stdout_logfile: str | None = None
    stdout_logfile_maxbytes: int | None = None
    stdout_logfile_backups: int | None = None
    # fleet only: TOML appended after the program's keys (a health table).
    fleet_extra: str = ""
    # supervisord only: INI appended after the program's section.
    sup_extra: str = ""

    def process_names(self) -> list[str]:
        if self.numprocs == 1:
            return [self.name]
        return [f"{self.name}_{i:02}" for i in range(self.numprocs)]


def _unix_conn(path: str, timeout: float = 120) -> http.client.HTTPConnection:
    class C(http.client.HTTPConnection):
        def connect(self):
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.settimeout(timeout)
            s.connect(path)
            self.sock = s

    return C("localhost", timeout=timeout)


class Daemon:
    """Base class: one supervisor daemon under test, in its own directory."""

    label = "?"

    def __init__(self, ctx, workdir: Path, programs: list[Program], groups=None):
        self.ctx = ctx
        self.dir = workdir
        self.dir.mkdir(parents=True, exist_ok=True)
        (self.dir / "logs").mkdir(exist_ok=True)
        self.programs = programs
        self.groups = groups or {}
        self.proc: subprocess.Popen | None = None
        self.t_start = 0.0

    @property
    def pid(self) -> int:
        return self.proc.pid

    def start(self, wait_api=True):
        cfg = self.write_config()
        err = open(self.dir / "daemon.stderr", "wb")
        self.t_start = time.time()
        self.proc = subprocess.Popen(
            self.argv(cfg),
            stdin=subprocess.DEVNULL,
            stdout=err,
            stderr=err,
            cwd=self.dir,
            start_new_session=True,
        )
        STARTED.add(self.proc.pid)
        if wait_api:
            self.wait_api()
        return self

    def wait_api(self, timeout=30):
        deadline = time.time() + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"{self.label} exited: "
                    + (self.dir / "daemon.stderr").read_text(errors="replace")[-2000:]
                )
            try:
                self.status()
                return
            except (OSError, http.client.HTTPException, xmlrpc.client.Error):
                if time.time() > deadline:
                    raise
                time.sleep(0.01)

    def program_of(self, name: str) -> str:
        """The program a process name belongs to (itself if none)."""
        for p in self.programs:
            if name in p.process_names():
                return p.name
        return name

    def states(self) -> dict[str, tuple[str, int | None]]:
        return {p["name"]: (p["state"], p["pid"]) for p in self.status()}

    def wait_states(self, want: str, n: int, timeout=120, poll=0.05) -> float:
        """Poll until n processes are in `want`; returns the time.time()."""
        deadline = time.time() + timeout
        while True:
            st = self.states()
            if sum(1 for s, _ in st.values() if s == want) >= n:
                return time.time()
            if time.time() > deadline:
                raise TimeoutError(f"{self.label}: {want} x{n}: {st}")
            time.sleep(poll)

    def stop(self, timeout=60):
        if not self.proc:
            return
        if self.proc.poll() is None:
            kill_pid(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                kill_pid(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        STARTED.discard(self.proc.pid)
        self.proc = None

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.teardown()

    def teardown(self):
        """Harness-side cleanup, not measured: SIGKILL the daemon and then
        each child pid it reported (a graceful stop of 500 programs costs
        supervisord seconds per run and measures nothing we report)."""
        if not self.proc:
            return
        pids = []
        try:
            pids = [p["pid"] for p in self.status() if p["pid"]]
        except Exception:
            pass
        kill_pid(self.proc.pid)
        self.proc.wait()
        for p in pids:
            kill_pid(p)
        STARTED.discard(self.proc.pid)
        self.proc = None


class Fleet(Daemon):
    label = "fleet"

    @property
    def sock(self):
        return str(self.dir / "agent.sock")

    def write_config(self) -> Path:
        lines = [
            "[agent]",
            f"socket = {json.dumps(self.sock)}",
            f"log_dir = {json.dumps(str(self.dir / 'logs'))}",
            "",
        ]
        for p in self.programs:
            lines.append(f"[program.{p.name}]")
            lines.append(f"command = {json.dumps(p.argv)}")
            if p.numprocs != 1:
                lines.append(f"numprocs = {p.numprocs}")
                lines.append('process_name = "{program}_{num:02}"')
            ar = p.autorestart
            lines.append(
                "autorestart = " + (json.dumps(ar) if isinstance(ar, str) else str(ar).lower())
            )
            for k in ("autostart", "killasgroup", "stopasgroup", "redirect_stderr"):
                lines.append(f"{k} = {str(getattr(p, k)).lower()}")
            for k in ("startsecs", "startretries", "stopwaitsecs"):
                lines.append(f"{k} = {getattr(p, k)}")
            if p.stdout_logfile:
                lines.append(f"stdout_logfile = {json.dumps(p.stdout_logfile)}")
            if p.stdout_logfile_maxbytes is not None:
                lines.append(f"stdout_logfile_maxbytes = {p.stdout_logfile_maxbytes}")
            if p.stdout_logfile_backups is not None:
                lines.append(f"stdout_logfile_backups = {p.stdout_logfile_backups}")
            if p.fleet_extra:
                lines.append(p.fleet_extra)
            lines.append("")
        for g, members in self.groups.items():
            lines.append(f"[group.{g}]")
            lines.append(f"programs = {json.dumps(members)}")
            lines.append("")
        path = self.dir / "agent.toml"
        path.write_text("\n".join(lines))
        return path

    def argv(self, cfg):
        return [str(self.ctx.bin("fleet-agent")), "--config", str(cfg)]

    def _req(self, method, path, body=None):
        c = _unix_conn(self.sock)
        try:
            c.request(method, path, body=body)
            r = c.getresponse()
            data = r.read()
        finally:
            c.close()
        if r.status >= 400:
            raise RuntimeError(f"fleet {method} {path}: {r.status} {data[:500]!r}")
        return json.loads(data)

    def status(self):
        return [
            {"name": p["name"], "state": p["state"], "pid": p.get("pid")}
            for p in self._req("GET", "/v1/status")["processes"]
        ]

    def act(self, verb, target):
        return self._req("POST", f"/v1/processes/{target}/{verb}")

    def start_proc(self, name):
        return self.act("start", name)

    def stop_proc(self, name):
        return self.act("stop", name)

    def restart_all(self):
        return self.act("restart", "all")

    def restart_group(self, g):
        return self.act("restart", f"group:{g}")


class Supervisord(Daemon):
    label = "supervisord"

    @property
    def sock(self):
        return str(self.dir / "supervisor.sock")

    def write_config(self) -> Path:
        d = self.dir
        lines = [
            "[unix_http_server]",
            f"file={self.sock}",
            "",
            "[supervisord]",
            f"logfile={d / 'supervisord.log'}",
            f"pidfile={d / 'supervisord.pid'}",
            f"childlogdir={d / 'logs'}",
            "nodaemon=true",
            "minfds=4096",
            "",
            "[rpcinterface:supervisor]",
            "supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface",
            "",
            "[supervisorctl]",
            f"serverurl=unix://{self.sock}",
            "",
        ]
        for p in self.programs:
            lines.append(f"[program:{p.name}]")
            lines.append("command=" + " ".join(shlex.quote(a) for a in p.argv).replace("%", "%%"))
            if p.numprocs != 1:
                lines.append(f"numprocs={p.numprocs}")
                lines.append("process_name=%(program_name)s_%(process_num)02d")
            ar = p.autorestart
            lines.append("autorestart=" + (ar if isinstance(ar, str) else str(ar).lower()))
            for k in ("autostart", "killasgroup", "stopasgroup", "redirect_stderr"):
                lines.append(f"{k}={str(getattr(p, k)).lower()}")
            for k in ("startsecs", "startretries", "stopwaitsecs"):
                lines.append(f"{k}={getattr(p, k)}")
            if p.stdout_logfile:
                lines.append(f"stdout_logfile={p.stdout_logfile}")
            if p.stdout_logfile_maxbytes is not None:
                lines.append(f"stdout_logfile_maxbytes={p.stdout_logfile_maxbytes}")
            if p.stdout_logfile_backups is not None:
                lines.append(f"stdout_logfile_backups={p.stdout_logfile_backups}")
            lines.append("")
            if p.sup_extra:
                lines.append(p.sup_extra)
                lines.append("")
        for g, members in self.groups.items():
            lines.append(f"[group:{g}]")
            lines.append("programs=" + ",".join(members))
            lines.append("")
        path = self.dir / "supervisord.conf"
        path.write_text("\n".join(lines))
        return path

    def argv(self, cfg):
        return [str(self.ctx.supervisord), "-n", "-c", str(cfg)]

    def rpc(self):
        sock = self.sock

        class T(xmlrpc.client.Transport):
            def make_connection(self, host):
                return _unix_conn(sock)

        return xmlrpc.client.ServerProxy("http://localhost", transport=T()).supervisor

    def status(self):
        return [
            {
                "name": f"{p['group']}:{p['name']}",
                "state": p["statename"],
                "pid": p["pid"] or None,
            }
            for p in self.rpc().getAllProcessInfo()
        ]

    def _full(self, name):
        for p in self.programs:
            if name in p.process_names():
                return f"{p.name}:{name}" if p.numprocs != 1 else f"{name}:{name}"
        return name

    def start_proc(self, name):
        return self.rpc().startProcess(self._full(name), True)

    def stop_proc(self, name):
        return self.rpc().stopProcess(self._full(name), True)

    def restart_all(self):
        # What `supervisorctl restart all` does.
        r = self.rpc()
        r.stopAllProcesses(True)
        return r.startAllProcesses(True)

    def restart_group(self, g):
        r = self.rpc()
        r.stopProcessGroup(g, True)
        return r.startProcessGroup(g, True)


ADAPTERS = (Fleet, Supervisord)

# Peer adapters that installed and are switched on (run.py fills this from
# peers.setup(); empty with --no-peers or when no peer could be installed).
PEERS: list = []


def alternate(ctx, reps: int, fn, peer_reps: int = 0):
    """Run fn(adapter_cls, rep) `reps` times per supervisor, alternating
    which one goes first. Returns {label: [results...]}.

    With peer_reps > 0, each adapter in PEERS also runs in the first
    peer_reps repetitions (after fleet and supervisord in even
    repetitions, before them in odd ones). A peer that fails is logged,
    recorded in ctx.notes and skipped for the rest of the scenario: a peer
    never fails a scenario. Its label is then absent from the result (or
    holds fewer samples)."""
    out = {a.label: [] for a in ADAPTERS}
    peers = list(PEERS) if peer_reps > 0 else []
    broken: set[str] = set()
    for p in peers:
        out[p.label] = []
    for rep in range(reps if not peers else max(reps, peer_reps)):
        order = list(ADAPTERS if rep % 2 == 0 else tuple(reversed(ADAPTERS)))
        if rep >= reps:
            order = []
        these = [p for p in peers if rep < peer_reps and p.label not in broken]
        order = order + these if rep % 2 == 0 else these + order
        for a in order:
            ctx.log(f"  {a.label} run {rep + 1}/{peer_reps if a in peers else reps}")
            if a not in peers:
                out[a.label].append(fn(a, rep))
                continue
            try:
                out[a.label].append(fn(a, rep))
            except Exception as e:  # a peer never fails the scenario
                broken.add(a.label)
                msg = f"{a.label} failed in {getattr(ctx, 'scenario', '?')}: {type(e).__name__}: {e}"[:300]
                ctx.log("  " + msg)
                ctx.notes.append(msg)
            finally:
                kill_peer_leftovers()
    for label in broken:
        if not out[label]:
            del out[label]
    return out


def kill_peer_leftovers():
    """Kill every peer daemon tree still registered (a peer's teardown
    unregisters it; this catches a scenario that died half-way)."""
    for d in list(LIVE_PEERS):
        try:
            d.teardown()
        except Exception:
            pass
        LIVE_PEERS.discard(d)


# Peer daemons (peers.py) between start() and teardown(): their daemons may
# not be our children (PM2 daemonizes), so STARTED alone can't clean up.
LIVE_PEERS: set = set()


def peer_samples(res, f) -> dict:
    """{peer label: [f(result) ...]} for the peers present in an
    alternate() result."""
    return {p.label: [f(x) for x in res[p.label]] for p in PEERS if p.label in res}


def children_of(pid: int) -> list[int]:
    """Direct children of pid, from /proc/*/stat."""
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                rest = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(rest[1]) == pid:
            out.append(int(d))
    return out


def kill_tree(pid: int) -> list[int]:
    """SIGSTOP pid (so it can't spawn or respawn anything), collect its
    descendants from /proc, then SIGKILL all of them. Returns the pids."""
    if not alive(pid):
        return []
    kill_pid(pid, signal.SIGSTOP)
    todo, seen = [pid], []
    while todo:
        p = todo.pop()
        seen.append(p)
        if p != pid:
            kill_pid(p, signal.SIGSTOP)
        todo += [c for c in children_of(p) if c not in seen]
    for p in seen:
        kill_pid(p)
    # Wait until each is gone from /proc, or is a zombie of ours (the
    # caller reaps those). Orphans (PM2's daemon, and the children of a
    # killed daemon) are reaped by init, here within ~1 s.
    me = os.getpid()

    def gone(p):
        try:
            with open(f"/proc/{p}/stat") as f:
                rest = f.read().rsplit(")", 1)[1].split()
        except OSError:
            return True
        return rest[0] == "Z" and int(rest[1]) == me

    deadline = time.time() + 5
    while not all(gone(p) for p in seen) and time.time() < deadline:
        time.sleep(0.01)
    return seen


def wait_file_lines(path: Path, n: int, timeout=30, poll=0.001) -> list[str]:
    deadline = time.time() + timeout
    while True:
        try:
            text = path.read_text()
        except FileNotFoundError:
            text = ""
        # Only complete lines: a writer may be half-way through one.
        lines = text[: text.rfind("\n") + 1].splitlines()
        if len(lines) >= n:
            return lines
        if time.time() > deadline:
            raise TimeoutError(f"{path}: {len(lines)} of {n} lines")
        time.sleep(poll)


def kill_and_time(d, rec: Path, kills: int, running: int | None = 1, settle: float = 0.05) -> list[float]:
    """Crash→restart latencies (ms) of the program `fleet-testprog record
    REC` runs: SIGKILL the newest recorded pid `kills` times; each latency
    is the new instance's own start time (its line in REC) minus the kill
    time. Between kills, wait for `running` processes RUNNING (None: don't)
    and `settle` seconds more."""
    lines = wait_file_lines(rec, 1)
    lat = []
    for _ in range(kills):
        pid = int(lines[-1].split()[0])
        n = len(lines)
        t_kill = time.time_ns()
        os.kill(pid, signal.SIGKILL)
        lines = wait_file_lines(rec, n + 1, timeout=30, poll=0.0005)
        lat.append((int(lines[-1].split()[1]) - t_kill) / 1e6)
        if running is not None:
            d.wait_states("RUNNING", running, poll=0.01)
        time.sleep(settle)
    return lat
