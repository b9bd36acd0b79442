#!/usr/bin/env python3
"""fleet vs supervisord benchmark suite.

    python3 benches/run.py            # full run (~25 min with peers), writes BENCHMARKS.md
    python3 benches/run.py --quick    # fewer reps and sizes, no peers (< 3 min)
    python3 benches/run.py --only crash_restart,stop --out /tmp/b.md
    python3 benches/run.py --no-peers # fleet vs supervisord only

Builds the release binaries (`cargo build --release --workspace --bins`),
installs supervisor from PyPI into a private virtualenv under the cache dir
(default ~/.cache/fleet-bench), runs every scenario for both supervisors
with alternating runs, and writes BENCHMARKS.md (method, machine, table).
In a full run (or with --peers), also installs circus (into the same venv) and PM2 (npm,
under the cache dir) and adds them as extra columns on footprint, idle,
crash_restart and mass_start (see peers.py); a peer that can't be
installed or fails is left out with a note, never failing the run.
Python 3.11 standard library only.
"""

from __future__ import annotations

import argparse
import datetime
import importlib
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

import common  # noqa: E402
import peers  # noqa: E402

SCENARIOS = [
    "footprint",
    "idle",
    "mass_start",
    "crash_restart",
    "crash_loop",
    "stop",
    "log_flood",
    "control",
    "fleet_console",
    "health",
    "listeners",
    "crowd",
    "mixed",
    "chatty",
    "upgrade",
    "console_store",
    "scale5000",
]

SUPERVISOR_SPEC = "supervisor==4.3.0"


class Ctx:
    def __init__(self, args, tmp: Path, supervisord: Path, sup_version: str):
        self.quick = args.quick
        self.tmp = tmp
        self.supervisord = supervisord
        self.sup_version = sup_version
        self.target_dir = Path(
            os.environ.get("CARGO_TARGET_DIR", ROOT / "target")
        ) / "release"
        self.t0 = time.time()
        self.notes: list[str] = []
        self._n = 0
        self.scenario = ""
        # [(adapter class, version)] of the peers in this run (peers.py)
        self.peers: list[tuple[type, str]] = []

    def bin(self, name) -> Path:
        return self.target_dir / name

    def workdir(self, label: str) -> Path:
        self._n += 1
        d = self.tmp / f"{self._n:03}-{label}"
        d.mkdir(parents=True)
        return d

    def log(self, msg):
        print(f"[{time.time() - self.t0:7.1f}s] {msg}", file=sys.stderr, flush=True)


def build():
    env = dict(os.environ)
    env.setdefault("CARGO_BUILD_JOBS", "1")
    print("building release binaries…", file=sys.stderr, flush=True)
    subprocess.run(
        ["cargo", "build", "--release", "--workspace", "--bins"], cwd=ROOT, env=env, check=True
    )


def venv(cache: Path) -> tuple[Path, str]:
    v = cache / "venv"
    sd = v / "bin" / "supervisord"
    if not sd.exists():
        print(f"installing {SUPERVISOR_SPEC} into {v}…", file=sys.stderr, flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(v)], check=True)
        subprocess.run(
            [str(v / "bin" / "pip"), "install", "-q", SUPERVISOR_SPEC], check=True
        )
    ver = subprocess.run(
        [str(sd), "--version"], capture_output=True, text=True, check=True
    ).stdout.strip()
    return sd, ver


def machine() -> list[str]:
    cpu = "?"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = "?"
    try:
        kb = int(open("/proc/meminfo").readline().split()[1])
        mem = f"{kb / 1048576:.1f} GiB"
    except OSError:
        pass
    load = " ".join(open("/proc/loadavg").read().split()[:3])
    rustc = subprocess.run(["rustc", "--version"], capture_output=True, text=True).stdout.strip()
    return [
        f"- CPU: {cpu}, {os.cpu_count()} logical cores; memory {mem}",
        f"- Kernel: {platform.system()} {platform.release()}",
        f"- Load average at start: {load}",
        f"- Python {platform.python_version()}; {rustc}",
    ]


def fmt(x, unit=""):
    if x is None:
        return "—"
    if isinstance(x, str):
        return x
    if abs(x) >= 100:
        return f"{x:.0f}"
    if abs(x) >= 10:
        return f"{x:.1f}"
    if abs(x) >= 1:
        return f"{x:.2f}"
    return f"{x:.3g}"


def cell(xs, agg):
    xs = [x for x in xs if x is not None] if xs is not None else None
    if xs is None:
        return "—"
    if not xs:
        return "n/a"
    if len(xs) == 1:
        return fmt(xs[0])
    mid = common.pct(xs, 95) if agg == "p95" else common.median(xs)
    return f"**{fmt(mid)}** ({fmt(min(xs))}–{fmt(max(xs))})"


def write_md(out: Path, ctx: Ctx, rows: list[common.Row], errors, header, elapsed, cmd):
    L = []
    L.append("# Benchmarks: fleet-agent vs supervisord")
    L.append("")
    L.append(
        "<!-- Generated by `python3 benches/run.py` — do not edit by hand; re-run the suite. -->"
    )
    L.append("")
    L.append(f"Command: `{cmd}` — {'quick' if ctx.quick else 'full'} run, "
             f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC, "
             f"took {elapsed / 60:.1f} min. Compared with {ctx.sup_version and 'supervisord ' + ctx.sup_version}"
             + "".join(f", {a.label} {v}" for a, v in ctx.peers) + ".")
    L.append("")
    L.append("## Machine")
    L.append("")
    L += header
    L.append("")
    L.append((HERE / "METHOD.md").read_text().strip())
    L.append("")
    L.append("## Results")
    L.append("")
    L.append(
        "Cells: **median** (min–max) over the runs; p95 rows show the pooled 95th "
        "percentile. ratio = fleet median / supervisord median (lower is better for "
        "times, memory and CPU; higher is better for throughput)."
    )
    L.append("")
    # Peer columns: only peers with a sample in some row (none with
    # --no-peers, which leaves the table as it was).
    plabels = [a.label for a, _ in ctx.peers if any(r.peers.get(a.label) for r in rows)]
    if plabels:
        L.append(
            "Peer columns (" + ", ".join(plabels) + ") run fewer repetitions, on some "
            "scenarios only (see Method); ratio and targets are fleet vs supervisord."
        )
        L.append("")
    L.append("| scenario | metric | unit | fleet | supervisord | "
             + "".join(f"{p} | " for p in plabels) + "ratio | target | met? |")
    L.append("|---|---|---|---|---|" + "---|" * len(plabels) + "---|---|---|")
    def esc(text):
        # A `|` inside a cell (e.g. "writer | cat > file") would split it.
        return text.replace("|", "\\|")

    for r in rows:
        ratio = r.ratio()
        met = {True: "yes", False: "**no**", None: ""}[r.met]
        L.append(
            f"| {r.scenario} | {esc(r.metric)} | {r.unit} | {cell(r.fleet, r.agg)} | "
            f"{cell(r.sup, r.agg)} | "
            + "".join(f"{cell(r.peers.get(p), r.agg)} | " for p in plabels)
            + f"{fmt(ratio) if ratio is not None else '—'} | "
            f"{esc(r.target)} | {met} |"
        )
    L.append("")
    notes = [r for r in rows if r.note]
    if notes or ctx.notes:
        L.append("## Notes")
        L.append("")
        for n in ctx.notes:
            L.append(f"- {n}")
        for r in notes:
            L.append(f"- {r.scenario} / {r.metric}: {r.note}")
        L.append("")
    missed = [r for r in rows if r.met is False]
    if (HERE / "BOUNDS.md").exists():
        L.append((HERE / "BOUNDS.md").read_text().strip())
        L.append("")
    L.append("## Targets missed")
    L.append("")
    if missed:
        for r in missed:
            L.append(f"- {r.scenario} / {r.metric}: fleet {fmt(r.fmed())} {r.unit}, target {r.target}")
    else:
        L.append("- none")
    L.append("")
    if errors:
        L.append("## Scenario failures")
        L.append("")
        for name, e in errors:
            L.append(f"- {name}: `{e}`")
        L.append("")
    out.write_text("\n".join(L))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="fewer reps and sizes (< 3 min)")
    ap.add_argument("--only", help="comma-separated scenario names: " + ",".join(SCENARIOS))
    ap.add_argument("--out", default=str(ROOT / "BENCHMARKS.md"))
    ap.add_argument("--cache", default=os.environ.get("FLEET_BENCH_CACHE", str(Path.home() / ".cache" / "fleet-bench")))
    ap.add_argument("--no-build", action="store_true", help="use the existing target/release binaries")
    ap.add_argument("--scratch", help="directory for configs, sockets and logs (default /dev/shm: "
                    "tmpfs, so log capture measures the supervisors, not the disk)")
    ap.add_argument("--keep", action="store_true", help="keep the scratch directory")
    ap.add_argument("--peers", action=argparse.BooleanOptionalAction, default=None,
                    help="also run circus and PM2 as extra columns on footprint, idle, "
                    "crash_restart, mass_start (default: on for a full run, off with "
                    "--quick, which must stay under 3 minutes)")
    args = ap.parse_args()
    if args.peers is None:
        args.peers = not args.quick

    t0 = time.time()
    if not args.no_build:
        build()
    cache = Path(args.cache)
    cache.mkdir(parents=True, exist_ok=True)
    sd, ver = venv(cache)
    header = machine()
    header.append(f"- Scratch directory (configs, sockets, logs): {args.scratch or '/dev/shm (tmpfs)'}")
    scratch = args.scratch or ("/dev/shm" if os.path.isdir("/dev/shm") else None)
    tmp = Path(tempfile.mkdtemp(prefix="fleet-bench-", dir=scratch))
    ctx = Ctx(args, tmp, sd, ver)
    if args.peers:
        ctx.peers = peers.setup(cache, sd.parent.parent, ctx.notes)
        common.PEERS[:] = [a for a, _ in ctx.peers]
        header.append("- Peers: " + (", ".join(f"{a.label} {v}" for a, v in ctx.peers) or "none installed")
                      + (f"; node {subprocess.run(['node', '--version'], capture_output=True, text=True).stdout.strip()}"
                         if shutil.which("node") else ""))
    names = args.only.split(",") if args.only else SCENARIOS
    rows: list[common.Row] = []
    errors = []
    try:
        for name in names:
            ctx.log(f"scenario {name}")
            ctx.scenario = name
            mod = importlib.import_module(f"scenarios.{name}")
            try:
                rows += mod.run(ctx)
            except Exception as e:  # one broken scenario must not lose the rest
                traceback.print_exc()
                errors.append((name, f"{type(e).__name__}: {e}"[:300]))
            finally:
                common.kill_peer_leftovers()
                for pid in list(common.STARTED):
                    common.kill_pid(pid)
                    common.STARTED.discard(pid)
    finally:
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
    cmd = "python3 benches/run.py" + (" --quick" if args.quick else "")
    if args.only:
        cmd += f" --only {args.only}"
    if args.peers and args.quick:
        cmd += " --peers"
    elif not args.peers and not args.quick:
        cmd += " --no-peers"
    write_md(Path(args.out), ctx, rows, errors, header, time.time() - t0, cmd)
    print(Path(args.out).read_text())
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
