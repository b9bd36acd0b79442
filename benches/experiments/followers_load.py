#!/usr/bin/env python3
"""What each console following an agent costs the agent (issue #30: with
PostgreSQL, every console follows every agent itself, so three consoles
are three event streams per agent).

    python3 benches/experiments/followers_load.py [--programs 10]
        [--seconds 20] [--followers 0,1,3]
        [--agent target/release/fleet-agent]
        [--testprog target/release/fleet-testprog]

Starts one fleet-agent with PROGRAMS programs that exit (code 3) 50 ms after each
start and are restarted at once (a steady stream of state events: about
four per restart), then, for each follower count K, opens K
`GET /v1/events` streams on the agent's unix socket (what a console's
follower reads), drains them on threads, and measures the agent's CPU
(utime + stime from /proc/PID/stat) and RSS over SECONDS, and the events
each stream received. Prints one markdown row per K. Stdlib only;
everything started is stopped by pid.

Measured (release build, 2-core VM, nothing else running, 20 s per row;
10 programs restarting ~20 times a second each, ~577 events/s):

| followers | agent CPU (% of a core) | agent RSS (MiB) | events per stream per s |
|---|---|---|---|
| 0 | 6.8 | 5.5 | — |
| 1 | 8.5 | 5.8 | 577 |
| 3 | 9.4 | 5.8 | 576 |

The restarts themselves cost 6.8 %; the first follower 1.7 points, each
further one about 0.45 (three consoles on PostgreSQL: +2.6 points and
0.3 MiB over none, at a far higher event rate than a healthy host's).
"""

import argparse
import os
import signal
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


class Follower(threading.Thread):
    """One event stream on the unix socket, read until told to stop."""

    def __init__(self, sock_path: str):
        super().__init__(daemon=True)
        self.events = 0
        self.stop = threading.Event()
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.connect(sock_path)
        self.s.sendall(b"GET /v1/events HTTP/1.1\r\nHost: agent\r\n\r\n")
        self.s.settimeout(0.5)

    def run(self):
        while not self.stop.is_set():
            try:
                data = self.s.recv(65536)
            except socket.timeout:
                continue
            if not data:
                return
            self.events += data.count(b"\nid:") + data.startswith(b"id:")

    def close(self):
        self.stop.set()
        self.join()
        self.s.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--programs", type=int, default=10)
    ap.add_argument("--seconds", type=float, default=20)
    ap.add_argument("--followers", default="0,1,3")
    ap.add_argument("--agent", default=str(ROOT / "target/release/fleet-agent"))
    ap.add_argument("--testprog", default=str(ROOT / "target/release/fleet-testprog"))
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        sock = f"{d}/agent.sock"
        progs = "".join(
            f'[program.p{i}]\ncommand = "{a.testprog} exit 3 50"\nstartsecs = 0\n'
            f'stdout_logfile = "NONE"\nstderr_logfile = "NONE"\n\n'
            for i in range(a.programs)
        )
        Path(f"{d}/agent.toml").write_text(
            f'[agent]\nsocket = "{sock}"\nlog_dir = "{d}/logs"\n\n{progs}'
        )
        agent = subprocess.Popen(
            [a.agent, "--config", f"{d}/agent.toml"],
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            deadline = time.time() + 20
            while not os.path.exists(sock):
                if time.time() > deadline or agent.poll() is not None:
                    raise SystemExit("the agent did not come up")
                time.sleep(0.05)  # start-up poll, not a measurement
            time.sleep(2)  # let the restart loop reach its steady rate
            print("| followers | agent CPU (% of a core) | agent RSS (MiB) | events per stream per s |")
            print("|---|---|---|---|")
            for k in [int(x) for x in a.followers.split(",")]:
                fs = [Follower(sock) for _ in range(k)]
                for f in fs:
                    f.start()
                time.sleep(1)  # streams open and caught up
                for f in fs:
                    f.events = 0
                c0, t0 = cpu_s(agent.pid), time.time()
                time.sleep(a.seconds)
                c1, t1 = cpu_s(agent.pid), time.time()
                rss = rss_mib(agent.pid)
                per = [f.events / (t1 - t0) for f in fs]
                for f in fs:
                    f.close()
                rate = f"{min(per):.0f}–{max(per):.0f}" if per else "—"
                print(f"| {k} | {100 * (c1 - c0) / (t1 - t0):.1f} | {rss:.1f} | {rate} |")
        finally:
            os.killpg(agent.pid, signal.SIGTERM)
            agent.wait(timeout=30)


if __name__ == "__main__":
    main()
