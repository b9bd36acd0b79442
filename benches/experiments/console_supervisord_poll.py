#!/usr/bin/env python3
"""What polling supervisord hosts costs the console (issue #29).

    python3 benches/experiments/console_supervisord_poll.py [--hosts 100]
        [--poll 2s] [--seconds 60] [--console target/release/fleet-console]

Starts N real supervisords (PyPI supervisor, `python3 -m
supervisor.supervisord -n`, each on its own unix socket with a group of two
`sleep` programs), one fleet-console with N `kind = "supervisord"` entries
polled every POLL, waits until every host is up and every process RUNNING,
then measures over SECONDS: the console's CPU (utime + stime from
/proc/PID/stat), its RSS (VmRSS) and high-water mark (VmHWM), and the
latency of `GET /v1/status` (one call every 100 ms). Prints one markdown row.
Everything it started is stopped by pid at the end. Stdlib only.

Measured (release build, 2-core VM shared with other builds, 60 s):

| hosts | poll | console CPU | RSS (MiB) | HWM (MiB) | /v1/status p50 / p99 (ms) |
|---|---|---|---|---|---|
| 5 supervisord | 2s | 0.40 % of a core | 9.1 | 9.1 | 0.87 / 1.04 |
| 100 supervisord | 2s | 2.03 % of a core | 12.0 | 12.0 | 1.68 / 5.37 |
"""

import argparse
import http.client
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import types
from pathlib import Path

TOKEN = "bench-viewer-token-0123456789abcdef"
ROOT = Path(__file__).resolve().parents[2]


def cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def status_kib(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0


def get(port: int, path: str) -> tuple[int, bytes]:
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    c.request("GET", path, headers={"Authorization": f"Bearer {TOKEN}"})
    r = c.getresponse()
    body = r.read()
    c.close()
    return r.status, body


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--hosts", type=int, default=100)
    ap.add_argument("--poll", default="2s")
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--console", default=str(ROOT / "target/release/fleet-console"))
    a = ap.parse_args()
    m = measure(a.hosts, a.poll, a.seconds, a.console)
    print("| hosts | poll | console CPU | RSS (MiB) | HWM (MiB) | /v1/status p50 / p99 (ms) |")
    print("|---|---|---|---|---|---|")
    print(
        f"| {a.hosts} supervisord | {a.poll} | {m['cpu_pct']:.2f} % of a core "
        f"| {m['rss']:.1f} | {m['hwm']:.1f} | {statistics.median(m['lat']):.2f} / {m['p99']:.2f} |"
    )
    return 0


def measure(hosts: int, poll: str, seconds: float, console_bin: str, work: Path | None = None,
            supervisord: list[str] | None = None) -> dict:
    """Run the measurement; returns cpu_pct, rss, hwm (MiB), lat (ms list),
    p99. `supervisord`: the command that runs it (default this Python's
    `-m supervisor.supervisord`)."""
    a = types.SimpleNamespace(hosts=hosts, poll=poll, seconds=seconds, console=console_bin)
    supervisord = supervisord or [sys.executable, "-m", "supervisor.supervisord"]
    work = work or Path(tempfile.mkdtemp(prefix="fleet-svpoll-"))
    children: list[subprocess.Popen] = []
    try:
        entries = []
        for i in range(a.hosts):
            d = work / f"sv{i:03}"
            d.mkdir()
            (d / "supervisord.conf").write_text(
                f"""[unix_http_server]
file = {d}/s.sock
[supervisord]
nodaemon = true
logfile = {d}/supervisord.log
pidfile = {d}/supervisord.pid
childlogdir = {d}
[rpcinterface:supervisor]
supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface
[group:celery]
programs = worker
[program:worker]
command = sleep 100000
numprocs = 2
process_name = %(program_name)s_%(process_num)02d
startsecs = 0
"""
            )
            children.append(
                subprocess.Popen(
                    supervisord + ["-n", "-c", str(d / "supervisord.conf")],
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )
            entries.append(
                f'[[agent]]\nname = "sv-{i:03}"\nkind = "supervisord"\nurl = "unix://{d}/s.sock"\npoll = "{a.poll}"\n'
            )
        cfg = work / "console.toml"
        cfg.write_text(
            '[console]\nlisten = "127.0.0.1:0"\ndata_dir = "data"\n\n'
            f'[[tokens]]\nname = "bench"\ntoken = "{TOKEN}"\nrole = "viewer"\n\n' + "\n".join(entries)
        )
        log = open(work / "console.stderr", "wb")
        console = subprocess.Popen(
            [a.console, "--config", str(cfg)], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=log,
            env={**os.environ, "FLEET_LOG": "info"},
        )
        children.append(console)
        port = None
        deadline = time.time() + 60
        while port is None and time.time() < deadline:
            text = (work / "console.stderr").read_text(errors="replace")
            if "listening on http://" in text:
                port = int(text.split("listening on http://", 1)[1].split()[0].rsplit(":", 1)[1])
            else:
                time.sleep(0.05)
        assert port, "the console did not start"
        want = 2 * a.hosts
        deadline = time.time() + 300
        while time.time() < deadline:
            _, body = get(port, "/v1/status")
            if body.count(b'"state":"RUNNING"') == want:
                break
            time.sleep(0.2)
        else:
            raise SystemExit(f"not every process RUNNING in the console: {body[:300]!r}")
        # Settle, then measure.
        time.sleep(2)
        c0, t0 = cpu_s(console.pid), time.time()
        lat = []
        while time.time() - t0 < a.seconds:
            s = time.perf_counter()
            code, _ = get(port, "/v1/status")
            lat.append((time.perf_counter() - s) * 1000)
            assert code == 200
            time.sleep(0.1)
        c1, t1 = cpu_s(console.pid), time.time()
        rss = status_kib(console.pid, "VmRSS") / 1024
        hwm = status_kib(console.pid, "VmHWM") / 1024
        lat.sort()
        p99 = lat[int(len(lat) * 0.99) - 1]
        return {"cpu_pct": 100 * (c1 - c0) / (t1 - t0), "rss": rss, "hwm": hwm, "lat": lat, "p99": p99}
    finally:
        for p in reversed(children):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in reversed(children):
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


if __name__ == "__main__":
    sys.exit(main())
