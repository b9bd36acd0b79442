"""Peer supervisors shown as extra columns next to fleet and supervisord:
circus (Python, PyPI) and PM2 (Node.js, npm), on footprint, idle,
crash→restart and mass start. Same Daemon interface as the adapters in
common.py; the option mapping and its gaps are documented in METHOD.md and
in comments below.

Python 3.11 standard library only: circus is driven over its zmq JSON
protocol through circus_bridge.py (run by the venv's python, which has
pyzmq), PM2 through its CLI.
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import common
from common import Daemon, alive, kill_pid, kill_tree

CIRCUS_SPEC = "circus==0.19.0"
CIRCUS_VERSION = "0.19.0"
PM2_VERSION = "6.0.14"

HERE = Path(__file__).resolve().parent


class PeerNotReady(ConnectionError):
    """The peer's control interface is not up yet (wait_api retries)."""


# ---------------------------------------------------------------- circus


class Circus(Daemon):
    """circusd in the foreground, one watcher per program.

    Mapping from the Program fields (supervisord names):
    - command argv → cmd + args (no shell); copy_env = true (supervisord
      and fleet pass the environment through; circus's default is an empty
      one).
    - numprocs → numprocesses; processes are named name_00.. by wid order.
    - autostart → autostart.
    - autorestart → respawn (true for True and "unexpected": circus
      respawns on any exit, it has no exit-code rule).
    - startsecs → none. circus has no "must stay up N s to count as
      started" state: a process is running once spawned. warmup_delay is
      NOT that (it is a pause after each spawn, which would serialise the
      start of 100 watchers), so it stays 0.
    - startretries → none. max_retry counts failed spawns (fork/exec
      errors), not early exits; a crash-looping program is respawned
      forever (circus's optional flapping plugin is not enabled).
    - stopwaitsecs → graceful_timeout; stop signal TERM → stop_signal.
    - killasgroup/stopasgroup → stop_children.
    - stdout/stderr capture → FileStream per watcher (supervisord captures
      both to files by default); stdout_logfile_maxbytes/backups →
      max_bytes/backup_count.
    - Daemon-level: circus defaults, notably check_delay = 5 s (the
      default for an ini file): circusd reaps and respawns dead processes
      only on that timer (it has no SIGCHLD handler), which sets its
      crash→restart latency.
    """

    label = "circus"
    circusd: Path | None = None
    python: Path | None = None

    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.bridge: subprocess.Popen | None = None

    @property
    def sock(self):
        return str(self.dir / "circus.sock")

    def write_config(self) -> Path:
        d = self.dir
        lines = [
            "[circus]",
            f"endpoint = ipc://{self.sock}",
            f"pubsub_endpoint = ipc://{d / 'circus-pubsub.sock'}",
            "",
        ]
        for p in self.programs:
            out = p.stdout_logfile or str(d / "logs" / f"{p.name}-stdout.log")
            err = out if p.redirect_stderr else str(d / "logs" / f"{p.name}-stderr.log")
            lines += [
                f"[watcher:{p.name}]",
                f"cmd = {p.argv[0]}",
                "args = " + " ".join(shlex.quote(a) for a in p.argv[1:]),
                f"numprocesses = {p.numprocs}",
                f"autostart = {str(p.autostart).lower()}",
                f"respawn = {str(p.autorestart is not False).lower()}",
                f"graceful_timeout = {p.stopwaitsecs}",
                "stop_signal = TERM",
                f"stop_children = {str(p.killasgroup or p.stopasgroup).lower()}",
                "copy_env = true",
            ]
            for stream, fn in (("stdout_stream", out), ("stderr_stream", err)):
                lines.append(f"{stream}.class = FileStream")
                lines.append(f"{stream}.filename = {fn}")
                if p.stdout_logfile_maxbytes is not None:
                    lines.append(f"{stream}.max_bytes = {p.stdout_logfile_maxbytes}")
                if p.stdout_logfile_backups is not None:
                    lines.append(f"{stream}.backup_count = {p.stdout_logfile_backups}")
            lines.append("")
        path = d / "circus.ini"
        path.write_text("\n".join(lines))
        return path

    def argv(self, cfg):
        return [str(self.circusd), str(cfg)]

    def start(self, wait_api=True):
        common.LIVE_PEERS.add(self)
        return super().start(wait_api)

    def _call(self, cmds: list[dict]) -> list[dict]:
        if not os.path.exists(self.sock):
            raise PeerNotReady("circus endpoint not bound yet")
        if self.bridge is None or self.bridge.poll() is not None:
            self.bridge = subprocess.Popen(
                [str(self.python), str(HERE / "circus_bridge.py"), f"ipc://{self.sock}"],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
            )
            common.STARTED.add(self.bridge.pid)
        self.bridge.stdin.write(json.dumps(cmds) + "\n")
        self.bridge.stdin.flush()
        line = self.bridge.stdout.readline()
        if not line:
            raise PeerNotReady("circus bridge exited")
        out = json.loads(line)
        for c, r in zip(cmds, out):
            if r is None:
                raise PeerNotReady(f"circus: no reply to {c['command']}")
            if r.get("status") != "ok":
                raise RuntimeError(f"circus {c['command']}: {r}")
        return out

    def cmd(self, command, **props):
        return self._call([{"command": command, "properties": props}])[0]

    def status(self):
        """`status` for every watcher, then `list NAME` for each one's pids,
        pipelined in one batch. A process is RUNNING when its watcher is
        active and the pid is alive in /proc (circus keeps a dead pid in
        its list until its next check_delay tick)."""
        st = self.cmd("status")["statuses"]
        names = sorted(st)
        pids = self._call([{"command": "list", "properties": {"name": n}} for n in names])
        out = []
        for p in self.programs:
            want = p.process_names()
            r = pids[names.index(p.name)]["pids"] if p.name in st else []
            for i, pname in enumerate(want):
                pid = r[i] if i < len(r) else None
                w = st.get(p.name, "unknown")
                if pid is not None and alive(pid):
                    state = "RUNNING" if w == "active" else w.upper()
                else:
                    state = "STARTING" if w in ("active", "starting") else w.upper()
                out.append({"name": pname, "state": state, "pid": pid if state == "RUNNING" else None})
        return out

    # Process-level verbs act on the whole watcher (circus has no
    # per-process start/stop); fine for numprocs = 1.
    def start_proc(self, name):
        return self.cmd("start", name=self.program_of(name), waiting=True)

    def stop_proc(self, name):
        return self.cmd("stop", name=self.program_of(name), waiting=True)

    def restart_all(self):
        # Like `supervisorctl restart all`: stop every watcher, then start
        # them. (circus's `restart` with no name restarts the arbiter
        # itself, control socket included.)
        # Start each by name: a nameless start skips autostart=false ones.
        self.cmd("stop", waiting=True)
        return [self.cmd("start", name=p.name, waiting=True) for p in self.programs]

    def restart_group(self, g):
        # One watcher at a time: circus refuses a second restart while
        # one is running (its commands take an arbiter-wide lock).
        return [self.cmd("restart", name=m, waiting=True) for m in self.groups[g]]

    def teardown(self):
        if self.bridge is not None:
            if self.bridge.poll() is None:
                self.bridge.kill()
            self.bridge.wait()
            common.STARTED.discard(self.bridge.pid)
            self.bridge = None
        if self.proc is not None:
            kill_tree(self.proc.pid)
            self.proc.wait()
            common.STARTED.discard(self.proc.pid)
            self.proc = None
        common.LIVE_PEERS.discard(self)


# ---------------------------------------------------------------- PM2

PM2_STATES = {
    "online": "RUNNING",
    "launching": "STARTING",
    "waiting restart": "BACKOFF",
    "stopping": "STOPPING",
    "stopped": "STOPPED",
    "errored": "FATAL",
    "one-launch-status": "EXITED",
}


class Pm2(Daemon):
    """PM2's God daemon with a private PM2_HOME in the run's directory,
    loaded with `pm2 start ecosystem.json` (one app per program, fork
    mode, interpreter "none" so the binary is exec'd directly).

    Mapping from the Program fields (supervisord names):
    - command argv → script + args; interpreter = none; exec_mode = fork.
    - numprocs → instances (same app name, one pm_id each); processes
      are named name_00.. by pm_id order.
    - autostart → none in an ecosystem file (every listed app starts);
      an app with autostart = false is left out of the file and
      start_proc() adds it then.
    - autorestart → autorestart; "unexpected" → autorestart plus
      stop_exit_codes = [0] (supervisord's default exitcodes).
    - startsecs → min_uptime (ms), the closest: PM2 shows a process
      "online" as soon as it is spawned; min_uptime only decides whether
      an exit counts as an unstable restart. startsecs = 0 → 100 ms, the
      schema's minimum (0 is rejected and falls back to 1000 ms).
    - startretries → max_restarts (unstable restarts before "errored").
    - stopwaitsecs → kill_timeout (ms); stop signal TERM → kill_signal
      (PM2's default is SIGINT), then SIGKILL.
    - killasgroup/stopasgroup → treekill.
    - stdout/stderr → out_file/error_file (PM2 always captures both);
      no size rotation without the pm2-logrotate module.
    - groups → namespace (one per app).
    Status comes from `pm2 jlist`, a fresh node CLI each call (~0.3 s of
    node start-up on this machine), so status polls are slower than the
    others'; the daemon's own figures are unaffected.
    """

    label = "PM2"
    bin: Path | None = None

    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.home = self.dir / "home"
        self._god: int | None = None
        self.apps: dict[str, dict] = {}

    def env(self):
        e = dict(os.environ)
        e["PM2_HOME"] = str(self.home)
        return e

    def write_config(self) -> Path:
        ns = {m: g for g, ms in self.groups.items() for m in ms}
        apps = []
        for p in self.programs:
            out = p.stdout_logfile or str(self.dir / "logs" / f"{p.name}-stdout.log")
            err = out if p.redirect_stderr else str(self.dir / "logs" / f"{p.name}-stderr.log")
            a = {
                "name": p.name,
                "script": p.argv[0],
                "args": p.argv[1:],
                "interpreter": "none",
                "exec_mode": "fork",
                "instances": p.numprocs,
                "autorestart": p.autorestart is not False,
                # PM2's schema minimum is 100 ms (0 falls back to 1000 ms).
                "min_uptime": max(100, p.startsecs * 1000),
                "max_restarts": p.startretries,
                "kill_timeout": p.stopwaitsecs * 1000,
                "kill_signal": "SIGTERM",
                "treekill": bool(p.killasgroup or p.stopasgroup),
                "out_file": out,
                "error_file": err,
                "cwd": str(self.dir),
            }
            if p.autorestart == "unexpected":
                a["stop_exit_codes"] = [0]
            if p.name in ns:
                a["namespace"] = ns[p.name]
            self.apps[p.name] = a
            if p.autostart:
                apps.append(a)
        path = self.dir / "ecosystem.json"
        path.write_text(json.dumps({"apps": apps}, indent=1))
        return path

    def argv(self, cfg):
        return [str(self.bin), "start", str(cfg)]

    def _cli(self, *args, timeout=60) -> str:
        # A CLI call starts a God daemon if none is running: never call it
        # once ours is gone.
        if self._god is not None and not alive(self._god):
            raise RuntimeError("PM2 daemon died")
        r = subprocess.run([str(self.bin), *args], env=self.env(), cwd=self.dir,
                           stdin=subprocess.DEVNULL, capture_output=True, text=True,
                           timeout=timeout)
        if r.returncode != 0:
            raise RuntimeError(f"pm2 {' '.join(args)}: {r.returncode} {r.stderr[-500:]}")
        return r.stdout

    def start(self, wait_api=True):
        """`pm2 start ecosystem.json` (the CLI spawns the God daemon,
        which daemonizes, then asks it to start every app). self.proc is
        the CLI; pid is the God daemon's, from PM2_HOME/pm2.pid."""
        cfg = self.write_config()
        self.home.mkdir(exist_ok=True)
        err = open(self.dir / "daemon.stderr", "wb")
        common.LIVE_PEERS.add(self)
        self.t_start = time.time()
        self.proc = subprocess.Popen(
            self.argv(cfg), stdin=subprocess.DEVNULL, stdout=err, stderr=err,
            cwd=self.dir, env=self.env(), start_new_session=True,
        )
        common.STARTED.add(self.proc.pid)
        if wait_api:
            self.wait_api()
        return self

    def _god_pid(self) -> int | None:
        if self._god is None:
            try:
                pid = int((self.home / "pm2.pid").read_text().strip())
            except (OSError, ValueError):
                return None
            if alive(pid):
                self._god = pid
                common.STARTED.add(pid)
        return self._god

    @property
    def pid(self) -> int:
        deadline = time.time() + 30
        while self._god_pid() is None:
            if time.time() > deadline:
                raise TimeoutError("PM2: no pm2.pid")
            time.sleep(0.01)
        return self._god

    def wait_api(self, timeout=60):
        """Ready once the `pm2 start` CLI has returned (every app handed to
        the daemon) and the daemon answers jlist."""
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise TimeoutError("pm2 start did not return")
        if rc != 0:
            raise RuntimeError("pm2 start failed: " + (self.dir / "daemon.stderr").read_text(errors="replace")[-2000:])
        common.STARTED.discard(self.proc.pid)
        self.pid  # noqa: B018 (wait for the pid file)
        self.status()

    def status(self):
        if self._god_pid() is None:
            raise PeerNotReady("PM2 daemon not up yet")
        byname: dict[str, list] = {}
        for a in sorted(json.loads(self._cli("jlist")), key=lambda a: a["pm_id"]):
            byname.setdefault(a["name"], []).append(a)
        out = []
        for p in self.programs:
            got = byname.get(p.name, [])
            for i, pname in enumerate(p.process_names()):
                if i < len(got):
                    a = got[i]
                    st = a["pm2_env"]["status"]
                    out.append({"name": pname, "state": PM2_STATES.get(st, st.upper()),
                                "pid": a.get("pid") or None})
                else:
                    out.append({"name": pname, "state": "STOPPED", "pid": None})
        return out

    # Per-app verbs (act on every instance of the app).
    def start_proc(self, name):
        app = self.program_of(name)
        if not any(x["name"] == app for x in json.loads(self._cli("jlist"))):
            f = self.dir / f"start-{app}.json"
            f.write_text(json.dumps({"apps": [self.apps[app]]}))
            return self._cli("start", str(f))
        return self._cli("start", app)

    def stop_proc(self, name):
        return self._cli("stop", self.program_of(name))

    def restart_all(self):
        return self._cli("restart", "all")

    def restart_group(self, g):
        return self._cli("restart", g)

    def stop(self, timeout=60):
        if self._god_pid() is not None and alive(self._god):
            self._cli("kill", timeout=timeout)
        self.teardown()

    def teardown(self):
        """SIGSTOP the God daemon, SIGKILL it and every descendant; also
        the CLI if it is still running. No CLI call here (it would start a
        new daemon)."""
        if self.proc is not None:
            if self.proc.poll() is None:
                kill_tree(self.proc.pid)
            self.proc.wait()
            common.STARTED.discard(self.proc.pid)
            self.proc = None
        god = self._god_pid()
        if god is not None:
            kill_tree(god)
            common.STARTED.discard(god)
        common.LIVE_PEERS.discard(self)


# ---------------------------------------------------------------- setup


def _log(msg):
    print(msg, file=sys.stderr, flush=True)


def setup(cache: Path, venv: Path, notes: list[str]) -> list[tuple[type, str]]:
    """Install (once, into the cache) and return [(adapter, version)] for
    the peers that work. A peer that cannot be installed is left out with
    a note; it never fails the run."""
    out = []
    # circus: into the suite's venv, next to supervisor.
    circusd, py = venv / "bin" / "circusd", venv / "bin" / "python"

    def circus_version():
        r = subprocess.run([str(py), "-c", "import circus, zmq; print(circus.__version__)"],
                           capture_output=True, text=True)
        return r.stdout.strip() if r.returncode == 0 else None

    try:
        if not circusd.exists() or circus_version() != CIRCUS_VERSION:
            _log(f"installing {CIRCUS_SPEC} into {venv}…")
            subprocess.run([str(venv / "bin" / "pip"), "install", "-q", CIRCUS_SPEC],
                           check=True, timeout=300)
        v = circus_version()
        if v is None or not circusd.exists():
            raise RuntimeError("circus does not import after install")
        Circus.circusd, Circus.python = circusd, py
        out.append((Circus, v))
    except Exception as e:
        msg = f"circus column left out: could not install {CIRCUS_SPEC} ({type(e).__name__}: {e})"[:300]
        _log(msg)
        notes.append(msg)

    # PM2: npm into <cache>/pm2, run with the machine's node.
    prefix = cache / "pm2"
    pm2 = prefix / "node_modules" / ".bin" / "pm2"
    pkg = prefix / "node_modules" / "pm2" / "package.json"

    def pm2_version():
        try:
            return json.loads(pkg.read_text())["version"]
        except (OSError, ValueError, KeyError):
            return None

    try:
        if not pm2.exists() or pm2_version() != PM2_VERSION:
            npm = subprocess.run(["sh", "-c", "command -v npm"], capture_output=True, text=True).stdout.strip()
            if not npm:
                raise RuntimeError("no npm on PATH")
            _log(f"installing pm2@{PM2_VERSION} into {prefix}…")
            subprocess.run([npm, "install", "--prefix", str(prefix), "--no-audit", "--no-fund",
                            "--loglevel=error", f"pm2@{PM2_VERSION}"],
                           check=True, timeout=300, stdout=subprocess.DEVNULL)
        node = subprocess.run(["sh", "-c", "command -v node"], capture_output=True, text=True).stdout.strip()
        if not node or not pm2.exists() or pm2_version() is None:
            raise RuntimeError("pm2 or node missing after install")
        Pm2.bin = pm2
        out.append((Pm2, pm2_version()))
    except Exception as e:
        msg = f"PM2 column left out: could not install pm2@{PM2_VERSION} ({type(e).__name__}: {e})"[:300]
        _log(msg)
        notes.append(msg)
    return out
