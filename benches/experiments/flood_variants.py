#!/usr/bin/env python3
"""Log flood, writer's MiB/s: fleet-agent variants against copiers.

    python3 benches/experiments/flood_variants.py [--mib 1024] [--reps 5]
        [--agent LABEL=BIN[:K=V,...]]... [--refs cat,copy,copy-rot] [--dir /dev/shm]

Compare agent builds (e.g. a copy of target/release/fleet-agent from before
a change against the current one); K=V pairs go into that agent's
environment (for experimental builds with switches), and the whole string
is also passed as FLEET_EXP.

Each rep runs every variant once, in alternating order, with the suite's
log_flood set-up: `fleet-testprog flood BYTES 65536` under /bin/sh, captured
with rotation at 100 MiB × 3 backups. The writer's rate is BYTES over the
time between the shell's two `date` calls. Copier references, same writer:

  cat        writer | cat > file  (the suite's reference)
  copy       a read(2)+write(2) loop from a 1 MiB pipe (this script)
  copy-rot   the same loop rotating like the agent (rename chain, reopen)

Prints median / min / max per variant and the copier's or agent's CPU per
GiB; per agent run, the main (runtime) thread's CPU and its run-queue wait
go to stderr. Stdlib only; Linux only. This is the experiment behind
benches/BOUNDS.md's log-flood entries.
"""

import argparse
import fcntl
import http.client
import json
import mmap
import os
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

F_SETPIPE_SZ = 1031
ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benches"))
from common import CLK_TCK, cpu_s  # noqa: E402
from scenarios.log_flood import BACKUPS, CHUNK, MAXBYTES, through_cat  # noqa: E402


def unix_post(sock: str, path: str):
    c = http.client.HTTPConnection("localhost", timeout=60)
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(sock)
    c.sock = s
    c.request("POST", path)
    r = c.getresponse()
    r.read()
    c.close()
    if r.status >= 400:
        raise RuntimeError(f"{path}: {r.status}")


def thread_cpu_s(pid: int, tid: int) -> float:
    with open(f"/proc/{pid}/task/{tid}/stat") as f:
        rest = f.read().rsplit(")", 1)[1].split()
    return (int(rest[11]) + int(rest[12])) / CLK_TCK


def settle(paths):
    last = -1
    while True:
        cur = sum(p.stat().st_size for p in paths if p.exists())
        if cur == last:
            return
        last = cur
        time.sleep(0.2)


def agent_run(wd: Path, agent: str, exp: str, tp: str, total: int):
    log = wd / "flood.log"
    tf = wd / "times"
    sock = wd / "agent.sock"
    sh = f"s=$(date +%s%N); {tp} flood {total} {CHUNK}; e=$(date +%s%N); echo $s $e > {tf}"
    (wd / "logs").mkdir()
    cfg = wd / "agent.toml"
    cfg.write_text(
        "[agent]\n"
        f"socket = {json.dumps(str(sock))}\n"
        f"log_dir = {json.dumps(str(wd / 'logs'))}\n\n"
        "[program.flood]\n"
        f"command = {json.dumps(['/bin/sh', '-c', sh])}\n"
        "autostart = false\nautorestart = false\nstartsecs = 0\n"
        "redirect_stderr = true\n"
        f"stdout_logfile = {json.dumps(str(log))}\n"
        f"stdout_logfile_maxbytes = {MAXBYTES}\nstdout_logfile_backups = {BACKUPS}\n"
    )
    env = dict(os.environ)
    for kv in exp.split(","):
        if "=" in kv:
            k, v = kv.split("=", 1)
            env[k] = v
    env["FLEET_EXP"] = exp
    p = subprocess.Popen([agent, "--config", str(cfg)], env=env, stdin=subprocess.DEVNULL,
                         stdout=subprocess.DEVNULL, stderr=open(wd / "stderr", "wb"))
    try:
        deadline = time.time() + 20
        while not sock.exists():
            if time.time() > deadline or p.poll() is not None:
                raise RuntimeError("agent did not start: " + (wd / "stderr").read_text())
            time.sleep(0.01)
        time.sleep(0.3)
        c0 = cpu_s(p.pid)
        rd0 = int(open(f"/proc/{p.pid}/task/{p.pid}/schedstat").read().split()[1])
        unix_post(str(sock), "/v1/processes/flood/start")
        deadline = time.time() + 120
        while not tf.exists() or not tf.read_text().strip():
            if time.time() > deadline:
                raise TimeoutError("flood did not finish")
            time.sleep(0.02)
        settle([log] + [Path(f"{log}.{i}") for i in range(1, BACKUPS + 1)])
        total_cpu = cpu_s(p.pid)
        cpu = total_cpu - c0
        mainc = thread_cpu_s(p.pid, p.pid)
        rd1 = int(open(f"/proc/{p.pid}/task/{p.pid}/schedstat").read().split()[1])
        print(f"    main thread {mainc:.2f} of {total_cpu:.2f} total, runqueue wait {(rd1 - rd0) / 1e9:.3f} s", file=sys.stderr)
    finally:
        p.kill()
        p.wait()
    s, e = (int(x) for x in tf.read_text().split())
    return (e - s) / 1e9, cpu


def remove_and_rename(src, dst):
    # As the agent (and supervisord) do: a rename over an existing file
    # makes ext4 write the renamed file out on the spot (auto_da_alloc).
    if os.path.exists(dst):
        os.remove(dst)
    os.rename(src, dst)


def copy_run(wd: Path, tp: str, total: int, rotate: bool):
    r, w = os.pipe()
    fcntl.fcntl(r, F_SETPIPE_SZ, 1 << 20)
    log = wd / "flood.log"
    flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND
    fd = os.open(log, flags, 0o600)
    size = 0
    buf = mmap.mmap(-1, 256 * 1024)
    view = memoryview(buf)
    ru0 = resource.getrusage(resource.RUSAGE_SELF)
    t0 = time.time()
    child = subprocess.Popen([tp, "flood", str(total), str(CHUNK)], stdout=w)
    os.close(w)
    while True:
        n = os.readv(r, [view])
        if n == 0:
            break
        m = 0
        while m < n:
            m += os.write(fd, view[m:n])
        size += n
        if rotate and size >= MAXBYTES:
            for i in range(BACKUPS - 1, 0, -1):
                if Path(f"{log}.{i}").exists():
                    remove_and_rename(f"{log}.{i}", f"{log}.{i + 1}")
            remove_and_rename(log, f"{log}.1")
            os.close(fd)
            fd = os.open(log, flags | os.O_TRUNC, 0o600)
            size = 0
    child.wait()
    wall = time.time() - t0
    ru1 = resource.getrusage(resource.RUSAGE_SELF)
    os.close(fd)
    os.close(r)
    return wall, (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mib", type=int, default=1024)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--dir", default="/dev/shm")
    ap.add_argument("--agent", action="append", default=[],
                    help="LABEL=BIN[:K=V,...] (default: fleet=target/release/fleet-agent)")
    ap.add_argument("--refs", default="cat,copy,copy-rot")
    a = ap.parse_args()
    total = a.mib * 2**20
    tp = str(ROOT / "target/release/fleet-testprog")
    variants = []
    for spec in a.agent or [f"fleet={ROOT / 'target/release/fleet-agent'}"]:
        label, rest = spec.split("=", 1)
        binpath, _, exp = rest.partition(":")
        variants.append((label, ("agent", binpath, exp)))
    for ref in filter(None, a.refs.split(",")):
        variants.append((ref, (ref,)))
    res = {label: [] for label, _ in variants}
    scratch = Path(a.dir) / f"flood-variants-{os.getpid()}"
    try:
        for rep in range(a.reps):
            order = variants if rep % 2 == 0 else variants[::-1]
            for label, v in order:
                wd = scratch / f"{rep}-{label}"
                wd.mkdir(parents=True)
                if v[0] == "agent":
                    wall, cpu = agent_run(wd, v[1], v[2], tp, total)
                elif v[0] == "cat":
                    wall, cpu = through_cat(tp, total, wd / "out")
                else:
                    wall, cpu = copy_run(wd, tp, total, v[0] == "copy-rot")
                shutil.rmtree(wd)
                res[label].append((a.mib / wall, cpu / (total / 2**30)))
                print(f"rep {rep + 1} {label:>12}: {a.mib / wall:7.0f} MiB/s  {cpu / (total / 2**30):.2f} CPU-s/GiB",
                      file=sys.stderr, flush=True)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    print(f"{'variant':>12}  {'MiB/s med':>9} {'min':>6} {'max':>6}  CPU-s/GiB med")
    for label, rs in res.items():
        r = [x[0] for x in rs]
        c = [x[1] for x in rs]
        print(f"{label:>12}  {statistics.median(r):9.0f} {min(r):6.0f} {max(r):6.0f}  {statistics.median(c):.2f}")


if __name__ == "__main__":
    main()
