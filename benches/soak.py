#!/usr/bin/env python3
"""Soak: a mixed fleet under faults for DURATION, checked every second.

    python3 benches/soak.py DURATION [--agents 20] [--out RELIABILITY.md]

DURATION is seconds or a number with s/m/h (`60`, `10m`, `1h`). The fleet
is real binaries (target/release if all are built there, else
target/debug, built first if needed): one fleet-console and N fleet-agents
on loopback TCP, each running a `celery` group of two workers plus one of:
a crash loop, a log flood (rotating files), a ticker, or a program that
reloads add and remove. Meanwhile, threads of this script

- post rolling restarts of `group:celery` to the console (`POST /v1/ops`)
  one after another, and follow each to its end;
- reload agents, alternately `POST /v1/reload` and SIGHUP, after toggling
  a program in their config;
- SIGKILL an agent and start it again with the same config;
- SIGTERM an agent at a random moment of its life — while it runs its
  crash loop, flood, ticker or reloads, with or without an op in flight,
  or within its first 1.5 s after a start — and fail if it is still alive
  2 × its programs' largest stopwaitsecs (+5 s) later (a lost SIGTERM),
  then start it again.

Every second the checker reads /proc and every status and records a
violation for:

- a zombie: a process of the fleet in state Z at two checks in a row;
- a duplicate: two live processes of one program instance (same agent,
  same FLEET_PROCESS_NAME) from different spawns (FLEET_SPAWN_ID), seen at
  two checks in a row;
- an orphan: a live process of the fleet that no agent's status accounts
  for (neither its pid nor its spawn's main pid is in its agent's table)
  at five checks in a row (an agent is down for a second or so when it is
  killed and restarted);
- an unanswered status (console, or an agent that is up);
- an op that is not in `GET /v1/ops` with a result once it has finished,
  or that does not finish within its deadline;

and at the end for fds or RSS of a daemon that grew after the warm-up
(median of the first ten samples after warm-up against the last ten:
fds +6, RSS +25 % and 4 MiB), and for any process of the fleet left after
the daemons stopped.

Results go to --out (RELIABILITY.md by default), regenerated on every run:
never edit that file by hand. Exit status 1 if there was any violation.
Python 3.11 standard library only.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
AGENT_TOKEN = "soak-agent-token-0123456789abcdef"
OP_TOKEN = "soak-op-token-0123456789abcdef"
MARK = "FLEET_SOAK"

# Warm-up: samples before this are not used to judge fds and RSS.
WARMUP_MIN_S = 20
WARMUP_MAX_S = 300

STARTED: set[int] = set()


def parse_duration(text: str) -> float:
    mult = {"s": 1, "m": 60, "h": 3600}
    if text and text[-1] in mult:
        return float(text[:-1]) * mult[text[-1]]
    return float(text)


def binaries() -> tuple[Path, str]:
    names = ("fleet-agent", "fleet-console", "fleet-testprog")
    rel = ROOT / "target" / "release"
    if all((rel / n).exists() for n in names):
        return rel, "release"
    cargo = os.environ.get("CARGO", "cargo")
    subprocess.run(
        [cargo, "build", "--quiet", "-p", "fleet-agent", "-p", "fleet-console", "-p", "fleet", "--bins"],
        cwd=ROOT,
        check=True,
    )
    return ROOT / "target" / "debug", "debug"


def free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def http_json(port: int, method: str, path: str, body=None, token=OP_TOKEN, timeout=10.0):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        data = None if body is None else json.dumps(body).encode()
        headers = {"Authorization": f"Bearer {token}"}
        if data is not None:
            headers["Content-Type"] = "application/json"
        c.request(method, path, body=data, headers=headers)
        r = c.getresponse()
        raw = r.read()
        return r.status, (json.loads(raw) if raw else None)
    finally:
        c.close()


# ---------------------------------------------------------------- /proc


def read_stat(pid: int):
    """(state, ppid) or None."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            rest = f.read().rsplit(")", 1)[1].split()
        return rest[0], int(rest[1])
    except (OSError, IndexError, ValueError):
        return None


def environ(pid: int) -> dict[str, str] | None:
    try:
        with open(f"/proc/{pid}/environ", "rb") as f:
            raw = f.read()
    except OSError:
        return None
    out = {}
    for item in raw.split(b"\0"):
        k, sep, v = item.partition(b"=")
        if sep:
            out[k.decode(errors="replace")] = v.decode(errors="replace")
    return out


def fleet_processes(run: str) -> dict[int, dict]:
    """Every process carrying this run's marker: pid → {tag, name, spawn, state, ppid}."""
    out = {}
    needle = f"{MARK}={run}-".encode()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        pid = int(entry)
        try:
            with open(f"/proc/{pid}/environ", "rb") as f:
                raw = f.read()
        except OSError:
            continue
        if needle not in raw:
            continue
        env = environ(pid) or {}
        st = read_stat(pid)
        if st is None:
            continue
        out[pid] = {
            "tag": env.get(MARK, ""),
            "name": env.get("FLEET_PROCESS_NAME"),
            "spawn": env.get("FLEET_SPAWN_ID"),
            "state": st[0],
            "ppid": st[1],
        }
    return out


def fd_count(pid: int) -> int | None:
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return None


def rss_kib(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def kill(pid: int, sig=signal.SIGKILL) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


# ---------------------------------------------------------------- the fleet

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

ROLES = {
    "crash": """
[program.crash]
command = ["{tp}", "exit", "1", "100"]
startsecs = 0
autorestart = true
""",
    "flood": """
[program.flood]
command = ["sh", "-c", "while :; do '{tp}' flood 1000000 8192; sleep 0.5; done"]
startsecs = 0
stopasgroup = true
killasgroup = true
stdout_logfile_maxbytes = "1MB"
stdout_logfile_backups = 2
""",
    "ticker": """
[program.ticker]
command = ["{tp}", "ticker", "10"]
startsecs = 0
""",
    "reloader": """
[program.steady]
command = ["{tp}", "sleep"]
startsecs = 0
""",
}

EXTRA = """
[program.extra]
command = ["{tp}", "sleep"]
startsecs = 0
"""


class AgentProc:
    def __init__(self, fleet: "Fleet", i: int):
        self.fleet = fleet
        self.i = i
        self.name = f"soak-{i:02}"
        self.role = list(ROLES)[i % len(ROLES)]
        self.dir = fleet.work / self.name
        (self.dir / "logs").mkdir(parents=True)
        self.port = free_port()
        self.tag = f"{fleet.run}-{i:02}"
        self.extra = False
        self.proc: subprocess.Popen | None = None
        self.incarnations = 0
        # Bumped before each SIGKILL or SIGTERM, so a status call it cut
        # short is not taken for an agent that stopped answering.
        self.kills = 0
        # Held by the SIGTERM loop while it judges this agent's exit, so
        # the SIGKILL loop leaves it alone.
        self.busy = False
        # Answered since its last start (`wait_up`): a reload is only sent
        # to an incarnation known to serve, so a refused connection from
        # one still starting is not taken for a fault.
        self.serving = False
        self.write_config()

    def write_config(self) -> None:
        tp = self.fleet.bins / "fleet-testprog"
        text = (
            "[agent]\n"
            f"socket = {json.dumps(str(self.dir / 'agent.sock'))}\n"
            f"log_dir = {json.dumps(str(self.dir / 'logs'))}\n"
            f'listen = "127.0.0.1:{self.port}"\ntoken = "{AGENT_TOKEN}"\n'
            + CELERY.format(tp=tp)
            + ROLES[self.role].format(tp=tp)
            + (EXTRA.format(tp=tp) if self.extra else "")
        )
        tmp = self.dir / "agent.toml.tmp"
        tmp.write_text(text)
        tmp.rename(self.dir / "agent.toml")

    def start(self) -> None:
        env = dict(os.environ, FLEET_LOG="warn", **{MARK: self.tag})
        err = open(self.dir / "stderr", "ab")
        self.proc = subprocess.Popen(
            [str(self.fleet.bins / "fleet-agent"), "--config", str(self.dir / "agent.toml")],
            stdout=err, stderr=err, stdin=subprocess.DEVNULL, env=env, start_new_session=True,
        )
        err.close()
        STARTED.add(self.proc.pid)
        self.incarnations += 1
        self.serving = False

    def pid(self) -> int | None:
        p = self.proc
        return p.pid if p is not None and p.poll() is None else None

    def wait_up(self, timeout=60.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                st, _ = http_json(self.port, "GET", "/v1/status", token=AGENT_TOKEN, timeout=2)
                if st == 200:
                    self.serving = True
                    return True
            except (OSError, http.client.HTTPException, ValueError):
                pass
            time.sleep(0.1)
        return False


class Fleet:
    def __init__(self, n: int, work: Path, bins: Path, kill_every: float, term_every: float = 0):
        self.run = f"soak{os.getpid()}"
        self.kill_every = kill_every
        self.term_every = term_every
        # SIGTERMs sent, by the phase of the agent's life they hit.
        self.terms: dict[str, int] = {}
        self.work = work
        self.bins = bins
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.agents = [AgentProc(self, i) for i in range(n)]
        self.console_port = free_port()
        self.console: subprocess.Popen | None = None
        self.violations: list[str] = []
        self.counts = {
            "checks": 0, "ops_posted": 0, "ops_refused": 0, "ops_ok": 0, "ops_not_ok": 0,
            "kills": 0, "terms_lost": 0, "reloads": 0, "reloads_refused": 0,
            "status_calls": 0, "max_fleet_processes": 0,
        }
        self.posted: dict[str, dict] = {}  # op id → {"finished": bool, "state": str}
        self.lat_console: list[float] = []
        self.lat_agent: list[float] = []
        # daemon key → [(t, fds, rss_kib)]
        self.samples: dict[str, list[tuple[float, int, int]]] = {}
        self.t0 = time.monotonic()

    def violation(self, text: str) -> None:
        t = time.monotonic() - self.t0
        with self.lock:
            self.violations.append(f"t={t:.0f}s {text}")
        print(f"VIOLATION t={t:.0f}s {text}", file=sys.stderr, flush=True)

    def start(self) -> None:
        data = self.work / "console-data"
        data.mkdir()
        entries = "".join(
            f'[[agent]]\nname = "{a.name}"\nurl = "http://127.0.0.1:{a.port}"\ntoken = "{AGENT_TOKEN}"\n\n'
            for a in self.agents
        )
        (self.work / "console.toml").write_text(
            f'[console]\nlisten = "127.0.0.1:{self.console_port}"\ndata_dir = {json.dumps(str(data))}\n\n'
            f'[[tokens]]\nname = "soak"\ntoken = "{OP_TOKEN}"\nrole = "operator"\n\n' + entries
        )
        for a in self.agents:
            a.start()
        for a in self.agents:
            if not a.wait_up():
                raise RuntimeError(f"{a.name} did not come up: {(a.dir / 'stderr').read_text()[-2000:]}")
        err = open(self.work / "console.stderr", "ab")
        self.console = subprocess.Popen(
            [str(self.bins / "fleet-console"), "--config", str(self.work / "console.toml")],
            stdout=err, stderr=err, stdin=subprocess.DEVNULL,
            env=dict(os.environ, FLEET_LOG="warn"), start_new_session=True,
        )
        err.close()
        STARTED.add(self.console.pid)
        deadline = time.monotonic() + 120
        while True:
            try:
                st, body = http_json(self.console_port, "GET", "/v1/status", timeout=5)
                if st == 200 and all(h.get("up") for h in body.get("hosts", [])) and len(body.get("hosts", [])) == len(self.agents):
                    break
            except (OSError, http.client.HTTPException, ValueError):
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("the console never saw every agent up")
            time.sleep(0.2)

    # ------------------------------------------------------------ workers

    def op_loop(self) -> None:
        """Rolling restarts of the celery group, one after another."""
        while not self.stop.wait(random.uniform(2, 6)):
            body = {"action": "restart", "target": "group:celery", "strategy": "rolling",
                    "batch": "25%", "max_failures": len(self.agents), "timeout_ms": 15000}
            try:
                st, op = http_json(self.console_port, "POST", "/v1/ops", body, timeout=30)
            except (OSError, http.client.HTTPException, ValueError) as e:
                self.violation(f"POST /v1/ops failed: {e}")
                continue
            if st == 409:
                with self.lock:
                    self.counts["ops_refused"] += 1
                continue
            if st != 201:
                self.violation(f"POST /v1/ops answered {st}: {op}")
                continue
            oid = op["id"]
            with self.lock:
                self.counts["ops_posted"] += 1
                self.posted[oid] = {"finished": False, "state": "running"}
            # Per-host timeout 15 s, 4 batches, plus the stop/start times.
            deadline = time.monotonic() + 180
            while True:
                try:
                    st, cur = http_json(self.console_port, "GET", f"/v1/ops/{oid}", timeout=30)
                except (OSError, http.client.HTTPException, ValueError):
                    st, cur = 0, None
                if st == 200 and cur["state"] != "running":
                    with self.lock:
                        self.posted[oid] = {"finished": True, "state": cur["state"]}
                        ok = cur["state"] == "done" and all(h["verdict"] in ("ok", "skipped") for h in cur["hosts"])
                        self.counts["ops_ok" if ok else "ops_not_ok"] += 1
                    break
                if time.monotonic() > deadline:
                    self.violation(f"op {oid} still running after 180 s")
                    with self.lock:
                        self.posted[oid]["finished"] = True
                    break
                if self.stop.wait(0.5):
                    return

    def reload_loop(self) -> None:
        n = 0
        while not self.stop.wait(random.uniform(1, 3)):
            a = random.choice(self.agents)
            with self.lock:
                pid = a.pid()
                if pid is None or not a.serving:
                    continue
                kills = a.kills
                a.extra = not a.extra
                a.write_config()
                n += 1
                if n % 2:
                    kill(pid, signal.SIGHUP)
                    self.counts["reloads"] += 1
                    continue
            try:
                st, body = http_json(a.port, "POST", "/v1/reload", {}, token=AGENT_TOKEN, timeout=30)
            except (OSError, http.client.HTTPException, ValueError) as e:
                # The agent may have been killed (and restarted) meanwhile.
                with self.lock:
                    same = a.kills == kills and a.pid() is not None
                if same:
                    self.violation(f"{a.name}: POST /v1/reload failed: {e}")
                continue
            with self.lock:
                self.counts["reloads" if st == 200 else "reloads_refused"] += 1
            if st != 200 and a.pid() is not None and a.kills == kills:
                self.violation(f"{a.name}: reload answered {st}: {body}")

    def kill_loop(self) -> None:
        if self.kill_every <= 0:
            return
        lo = self.kill_every * 0.5
        while not self.stop.wait(random.uniform(lo, self.kill_every * 1.5)):
            a = random.choice(self.agents)
            with self.lock:
                pid = a.pid()
                if pid is None or a.busy:
                    continue
                a.kills += 1
                kill(pid, signal.SIGKILL)
                a.proc.wait()
                STARTED.discard(pid)
                self.counts["kills"] += 1
            # Restart even when the run is ending: the new incarnation must
            # stop what the killed one left (never twice), and teardown
            # judges exactly that.
            stopping = self.stop.wait(1)
            with self.lock:
                a.start()
            if not a.wait_up():
                self.violation(f"{a.name}: not serving 60 s after its restart")
            if stopping:
                return

    # SIGTERM to an agent must end it within 2 × its programs' largest
    # stopwaitsecs (10 s, supervisord's default, for the role programs).
    TERM_BOUND_S = 2 * 10 + 5

    def phase_of(self, a: "AgentProc") -> str:
        with self.lock:
            in_flight = any(not o["finished"] for o in list(self.posted.values()))
        return f"{a.role}{' + op in flight' if in_flight else ''}"

    def term_and_judge(self, a: "AgentProc", phase: str) -> bool:
        """SIGTERM `a` (already marked busy) and wait for its exit; a
        violation if it outlives the bound (then SIGKILLed)."""
        with self.lock:
            p = a.proc
            if p is None or p.poll() is not None:
                return False
            a.kills += 1
            self.terms[phase] = self.terms.get(phase, 0) + 1
            p.send_signal(signal.SIGTERM)
        try:
            p.wait(timeout=self.TERM_BOUND_S)
        except subprocess.TimeoutExpired:
            with self.lock:
                self.counts["terms_lost"] += 1
            self.violation(f"{a.name}: still alive {self.TERM_BOUND_S} s after a SIGTERM ({phase})")
            kill(p.pid, signal.SIGKILL)
            p.wait()
        STARTED.discard(p.pid)
        return True

    def term_loop(self) -> None:
        """SIGTERM agents at random moments of their life, then restart them."""
        if self.term_every <= 0:
            return
        lo = self.term_every * 0.5
        while not self.stop.wait(random.uniform(lo, self.term_every * 1.5)):
            a = random.choice(self.agents)
            with self.lock:
                if a.pid() is None or a.busy:
                    continue
                a.busy = True
            try:
                self.term_and_judge(a, self.phase_of(a))
                if random.random() < 0.5 and not self.stop.is_set():
                    # A fresh incarnation, signalled during its start-up
                    # (the random delay is the point, not a wait for it).
                    with self.lock:
                        a.start()
                    time.sleep(random.uniform(0, 1.5))
                    self.term_and_judge(a, "start-up")
                stopping = self.stop.wait(1)
                with self.lock:
                    a.start()
                if not a.wait_up():
                    self.violation(f"{a.name}: not serving 60 s after its restart")
            finally:
                with self.lock:
                    a.busy = False
            if stopping:
                return

    # ------------------------------------------------------------ checks

    def check(self, streaks: dict) -> None:
        procs = fleet_processes(self.run)
        agent_pids = {}
        with self.lock:
            for a in self.agents:
                p = a.pid()
                if p is not None:
                    agent_pids[a.tag] = (a, p, a.kills)
        programs = {pid: p for pid, p in procs.items() if p["spawn"]}
        self.counts["max_fleet_processes"] = max(self.counts["max_fleet_processes"], len(programs))

        # Statuses: latency, and what each agent accounts for.
        t = time.perf_counter()
        try:
            st, _ = http_json(self.console_port, "GET", "/v1/status", timeout=5)
            if st != 200:
                self.violation(f"console status answered {st}")
        except (OSError, http.client.HTTPException, ValueError) as e:
            self.violation(f"console status failed: {e}")
        self.lat_console.append((time.perf_counter() - t) * 1000)
        accounted: set[int] = set()
        for tag, (a, pid, kills) in agent_pids.items():
            t = time.perf_counter()
            try:
                st, body = http_json(a.port, "GET", "/v1/status", token=AGENT_TOKEN, timeout=5)
            except (OSError, http.client.HTTPException, ValueError) as e:
                with self.lock:
                    same = a.kills == kills and a.pid() == pid
                if same:
                    self.violation(f"{a.name}: status failed: {e}")
                continue
            self.lat_agent.append((time.perf_counter() - t) * 1000)
            self.counts["status_calls"] += 1
            if st == 200:
                accounted.update(p["pid"] for p in body["processes"] if p.get("pid"))
        main_spawns = {p["spawn"] for pid, p in programs.items() if pid in accounted}

        # kind → {key: message}; a key is reported once per streak.
        seen: dict[str, dict] = {"zombie": {}, "duplicate": {}, "orphan": {}}
        for pid, p in procs.items():
            if p["state"] == "Z":
                seen["zombie"][pid] = f"pid {pid} ({p['tag']} {p['name']}, parent {p['ppid']})"
        by_instance: dict[tuple, set] = {}
        for pid, p in programs.items():
            if p["state"] in ("Z", "X"):
                continue
            by_instance.setdefault((p["tag"], p["name"]), set()).add(p["spawn"])
            if pid not in accounted and p["spawn"] not in main_spawns:
                seen["orphan"][pid] = f"pid {pid} ({p['tag']} {p['name']}, spawn {p['spawn']}) in no agent's table"
        for (tag, name), spawns in by_instance.items():
            if len(spawns) > 1:
                seen["duplicate"][(tag, name)] = f"{tag} {name} runs {len(spawns)} copies (spawns {sorted(spawns)})"
        need = {"zombie": 2, "duplicate": 2, "orphan": 5}
        for kind, items in seen.items():
            old = streaks[kind]
            new = {key: old.get(key, 0) + 1 for key in items}
            for key, n in new.items():
                if n == need[kind]:
                    self.violation(f"{kind}: {items[key]}")
            streaks[kind] = new

        # Daemon footprints.
        daemons = {"console": self.console.pid}
        for tag, (a, pid, _) in agent_pids.items():
            daemons[f"{a.name}#{a.incarnations}"] = pid
        now = time.monotonic() - self.t0
        for key, pid in daemons.items():
            fds, rss = fd_count(pid), rss_kib(pid)
            if fds is not None and rss is not None:
                self.samples.setdefault(key, []).append((now, fds, rss))

        # Audit: every finished op is in the list with a result.
        with self.lock:
            finished = [oid for oid, o in self.posted.items() if o["finished"] and not o.get("audited")]
        if finished:
            try:
                # The newest page, as the page reads it: a page of 1000
                # grew with the run and the console's RSS with it (the
                # allocator keeps the high-water mark of that response).
                st, body = http_json(self.console_port, "GET", "/v1/ops?limit=50", timeout=10)
                listed = {o["id"]: o for o in body["ops"]} if st == 200 else {}
            except (OSError, http.client.HTTPException, ValueError):
                listed = {}
            for oid in finished:
                o = listed.get(oid)
                if o is None:
                    # Older than the page: the op's own record.
                    try:
                        st, o = http_json(self.console_port, "GET", f"/v1/ops/{oid}", timeout=10)
                        o = o if st == 200 else None
                    except (OSError, http.client.HTTPException, ValueError):
                        o = None
                if o is None or o["state"] == "running" or any(h["verdict"] == "pending" for h in o["hosts"]):
                    self.violation(f"audit: finished op {oid} missing or without a result in GET /v1/ops")
                with self.lock:
                    self.posted[oid]["audited"] = True
        self.counts["checks"] += 1

    # ------------------------------------------------------------ teardown

    def shutdown(self) -> list[int]:
        """Stop the daemons; return pids of fleet processes left after."""
        procs = [a.proc for a in self.agents if a.proc is not None and a.proc.poll() is None]
        for p in procs:
            kill(p.pid, signal.SIGTERM)
        for p in procs:
            try:
                p.wait(60)
            except subprocess.TimeoutExpired:
                self.violation(f"agent {p.pid} did not stop within 60 s of SIGTERM")
                kill(p.pid)
                p.wait()
        if self.console is not None and self.console.poll() is None:
            kill(self.console.pid, signal.SIGTERM)
            try:
                self.console.wait(30)
            except subprocess.TimeoutExpired:
                self.violation("console did not stop within 30 s of SIGTERM")
                kill(self.console.pid)
                self.console.wait()
        left = [pid for pid, p in fleet_processes(self.run).items() if p["state"] not in ("Z", "X")]
        for pid in left:
            kill(pid)
        return left


def flat(samples, warm_s):
    """(before, after) medians of fds and RSS, or None if too few samples."""
    after_warm = [s for s in samples if s[0] >= warm_s]
    if len(after_warm) < 20:
        return None
    first, last = after_warm[:10], after_warm[-10:]
    f0 = statistics.median(s[1] for s in first)
    f1 = statistics.median(s[1] for s in last)
    r0 = statistics.median(s[2] for s in first)
    r1 = statistics.median(s[2] for s in last)
    return f0, f1, r0, r1


def pct(xs, p):
    if not xs:
        return float("nan")
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


def report(fleet: Fleet, out: Path, duration: float, elapsed: float, profile: str, warm_s: float, foot, left):
    c = fleet.counts
    lines = [
        "# Reliability: soak results",
        "",
        "<!-- Generated by `benches/soak.py`; regenerated on every run. Do not edit by hand. -->",
        "",
        f"Generated by `python3 benches/soak.py {' '.join(sys.argv[1:])}` on "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}: {os.cpu_count()} CPUs, "
        f"Linux {platform.release()}, {profile} binaries. The fleet: one fleet-console and "
        f"{len(fleet.agents)} fleet-agents on loopback TCP, each with a `celery` group of two "
        "workers plus one of a crash loop (exits after 100 ms, autorestart), a log flood "
        "(1 MB bursts, 1 MB rotation), a ticker, or a program reloads add and remove; "
        "rolling restarts (25 % batches) posted to the console one after another, a reload "
        "every 1-3 s (POST /v1/reload and SIGHUP in turn), "
        + (f"an agent SIGKILLed and restarted every {fleet.kill_every * 0.5:.0f}-{fleet.kill_every * 1.5:.0f} s. "
           if fleet.kill_every > 0 else "no agent killed (`--kill-every 0`). ")
        + (f"An agent SIGTERMed every {fleet.term_every * 0.5:.0f}-{fleet.term_every * 1.5:.0f} s "
           "(half the time a fresh incarnation too, within its first 1.5 s), its exit awaited "
           f"{Fleet.TERM_BOUND_S} s, then restarted. "
           if fleet.term_every > 0 else "No agent SIGTERMed (`--term-every 0`). ")
        + "How each check works: the docstring of `benches/soak.py`.",
        "",
        f"**Verdict: {'PASS' if not fleet.violations else 'FAIL'}** — {len(fleet.violations)} violation(s) "
        f"in {elapsed:.0f} s ({c['checks']} checks).",
        "",
        "| figure | value |",
        "|---|---|",
        f"| run time | {elapsed:.0f} s (warm-up {warm_s:.0f} s) |",
        f"| checks (one per second) | {c['checks']} |",
        f"| console `GET /v1/status` p50 / p99 / max | {pct(fleet.lat_console, 50):.1f} / {pct(fleet.lat_console, 99):.1f} / {max(fleet.lat_console, default=float('nan')):.1f} ms |",
        f"| agent `GET /v1/status` p50 / p99 / max ({len(fleet.lat_agent)} calls) | {pct(fleet.lat_agent, 50):.1f} / {pct(fleet.lat_agent, 99):.1f} / {max(fleet.lat_agent, default=float('nan')):.1f} ms |",
        f"| ops posted (rolling restarts) / finished ok / not ok / refused 409 | {c['ops_posted']} / {c['ops_ok']} / {c['ops_not_ok']} / {c['ops_refused']} |",
        f"| reloads applied / refused | {c['reloads']} / {c['reloads_refused']} |",
        f"| agents SIGKILLed and restarted | {c['kills']} |",
        f"| SIGTERMs sent (by phase: {', '.join(f'{k} {v}' for k, v in sorted(fleet.terms.items())) or 'none'}) / lost | {sum(fleet.terms.values())} / {c['terms_lost']} |",
        f"| most fleet processes seen at once | {c['max_fleet_processes']} |",
        f"| fleet processes left after the daemons stopped | {len(left)} |",
        "",
        "Footprint after warm-up (median of the first ten samples → median of the last ten; "
        "agents that were killed are judged per incarnation that lived long enough):",
        "",
        "| daemon | fds | RSS (MiB) |",
        "|---|---|---|",
    ]
    for key, (f0, f1, r0, r1) in foot:
        lines.append(f"| {key} | {f0:.0f} → {f1:.0f} | {r0 / 1024:.1f} → {r1 / 1024:.1f} |")
    lines += ["", "## Violations", ""]
    if fleet.violations:
        lines += [f"- {v}" for v in fleet.violations[:100]]
        if len(fleet.violations) > 100:
            lines.append(f"- … and {len(fleet.violations) - 100} more")
    else:
        lines.append("None.")
    lines += [
        "",
        "## Running it",
        "",
        "`python3 benches/soak.py 1h` (CI runs `60s` after the tests). Figures from a run "
        "on a loaded machine are upper bounds.",
        "",
    ]
    out.write_text("\n".join(lines))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("duration", help="seconds, or N with s/m/h")
    ap.add_argument("--agents", type=int, default=20)
    ap.add_argument("--out", default=str(ROOT / "RELIABILITY.md"))
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--kill-every", type=float, default=14,
                    help="mean seconds between agent SIGKILLs (0: none)")
    ap.add_argument("--term-every", type=float, default=6,
                    help="mean seconds between agent SIGTERMs (0: none)")
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    args = ap.parse_args()
    duration = parse_duration(args.duration)
    random.seed(args.seed)
    bins, profile = binaries()
    work = Path(tempfile.mkdtemp(prefix="fleet-soak-"))
    fleet = Fleet(args.agents, work, bins, args.kill_every, args.term_every)
    warm_s = min(max(WARMUP_MIN_S, duration * 0.25), WARMUP_MAX_S)

    def bail(signum, _frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, bail)
    left: list[int] = []
    threads = []
    try:
        print(f"soak: {args.agents} agents, {duration:.0f} s, {profile} binaries, work dir {work}", flush=True)
        fleet.start()
        fleet.t0 = time.monotonic()
        for f in (fleet.op_loop, fleet.reload_loop, fleet.kill_loop, fleet.term_loop):
            th = threading.Thread(target=f, daemon=True)
            th.start()
            threads.append(th)
        streaks = {"zombie": {}, "duplicate": {}, "orphan": {}}
        next_check = time.monotonic()
        last_print = 0.0
        while (elapsed := time.monotonic() - fleet.t0) < duration:
            fleet.check(streaks)
            if elapsed - last_print >= 60:
                last_print = elapsed
                print(f"soak: {elapsed:.0f} s, {fleet.counts}, {len(fleet.violations)} violation(s)", flush=True)
            next_check += 1
            time.sleep(max(0.0, next_check - time.monotonic()))
        fleet.stop.set()
        for th in threads:
            th.join(200)
        # Ops still being followed when the run ended: audited now.
        fleet.check(streaks)
        elapsed = time.monotonic() - fleet.t0
    except KeyboardInterrupt:
        fleet.stop.set()
        fleet.violation("interrupted")
        elapsed = time.monotonic() - fleet.t0
    finally:
        left = fleet.shutdown()
        for pid in list(STARTED):
            kill(pid)
    if left:
        fleet.violation(f"{len(left)} fleet process(es) left after the daemons stopped: {left[:20]}")
    foot = []
    for key, samples in sorted(fleet.samples.items()):
        r = flat(samples, warm_s)
        if r is None:
            continue
        f0, f1, r0, r1 = r
        foot.append((key, r))
        if f1 > f0 + 6:
            fleet.violation(f"{key}: fds grew {f0:.0f} → {f1:.0f}")
        if r1 > r0 * 1.25 + 4096:
            fleet.violation(f"{key}: RSS grew {r0 / 1024:.1f} → {r1 / 1024:.1f} MiB")
    report(fleet, Path(args.out), duration, elapsed, profile, warm_s, foot, left)
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    print(f"soak: {len(fleet.violations)} violation(s); results in {args.out}", flush=True)
    return 1 if fleet.violations else 0


if __name__ == "__main__":
    sys.exit(main())
