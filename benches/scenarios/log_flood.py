"""7. Log flood: `fleet-testprog flood BYTES 65536` (1 GiB; quick: 256 MiB)
writes to stdout, captured by the daemon into flood.log with rotation at
100 MiB × 3 backups (redirect_stderr, autostart=false, started over the
API, startsecs=0, autorestart=false). A shell wrapper records the writer's
start and end times; the child's MiB/s = BYTES / (end - start). Daemon CPU
is utime+stime from just before the start call until the files stop
growing. Integrity: the retained files, concatenated oldest first, must be
exactly the tail of the stream — every 64 KiB chunk header at its expected
offset (a lost or duplicated byte shifts them all).
References, same writer: straight into a file, and through `| cat > file`
(cat's own CPU from wait4).
Run twice: in the suite's scratch directory (tmpfs), and on disk (a
directory under $FLEET_BENCH_DISK, default /var/tmp, which must not be
tmpfs; full: 2 runs), with the same references on the same disk."""

import os
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from common import ADAPTERS, Program, Row, cpu_s, rss_kib, hwm_kib

CHUNK = 65536
MAXBYTES = 100 * 1024 * 1024
BACKUPS = 3


def files(log: Path):
    out = [Path(f"{log}.{i}") for i in range(BACKUPS, 0, -1)] + [log]
    return [p for p in out if p.exists()]


def check_tail(paths, total):
    sizes = [p.stat().st_size for p in paths]
    L = sum(sizes)
    if L > total:
        return L, -1
    base = total - L
    bad = 0
    j = -(-base // CHUNK)
    fds = [open(p, "rb") for p in paths]
    starts = []
    acc = 0
    for s in sizes:
        starts.append(acc)
        acc += s
    try:
        while j * CHUNK < total:
            off = j * CHUNK - base
            k = max(i for i, st in enumerate(starts) if st <= off)
            f = fds[k]
            f.seek(off - starts[k])
            head = f.read(16)
            if len(head) == 16 and head != f"{j:016}".encode():
                bad += 1
            j += 1
    finally:
        for f in fds:
            f.close()
    return L, bad


def through_cat(tp: str, total: int, out: Path) -> tuple[float, float]:
    """The reference: `fleet-testprog flood` piped through `cat > out`.
    Returns the seconds until both are done and cat's CPU seconds."""
    with open(out, "wb") as fo:
        t0 = time.time()
        w = subprocess.Popen([tp, "flood", str(total), str(CHUNK)], stdout=subprocess.PIPE)
        c = subprocess.Popen(["cat"], stdin=w.stdout, stdout=fo)
        w.stdout.close()
        w.wait()
        _, _, ru = os.wait4(c.pid, 0)
        c.returncode = 0
        return time.time() - t0, ru.ru_utime + ru.ru_stime


def fs_type(path) -> str:
    out = subprocess.run(["findmnt", "-n", "-o", "FSTYPE", "-T", str(path)], capture_output=True, text=True, check=True)
    return out.stdout.strip()


def run(ctx):
    rows = flood(ctx, ctx.workdir, 1 if ctx.quick else 3, "")
    disk = Path(tempfile.mkdtemp(prefix="fleet-bench-", dir=os.environ.get("FLEET_BENCH_DISK", "/var/tmp")))
    try:
        fs = fs_type(disk)
        if fs == "tmpfs":
            raise RuntimeError(f"{disk} is tmpfs: set FLEET_BENCH_DISK to a directory on disk")
        n = [0]

        def on_disk(label):
            n[0] += 1
            d = disk / f"{n[0]:03}-{label}"
            d.mkdir()
            return d
        ctx.log(f"  log flood on disk ({fs}, {disk})")
        rows += flood(ctx, on_disk, 1 if ctx.quick else 2, f", on disk ({fs})")
    finally:
        shutil.rmtree(disk, ignore_errors=True)
    return rows


def flood(ctx, workdir, reps, where):
    total = (256 if ctx.quick else 1024) * 1024 * 1024
    tp = str(ctx.bin("fleet-testprog"))
    gib = total / 2**30
    mib = total / 2**20

    def one(A, rep):
        wd = workdir(f"flood-{A.label}")
        log = wd / "flood.log"
        tf = wd / "times"
        sh = f's=$(date +%s%N); {tp} flood {total} {CHUNK}; e=$(date +%s%N); echo $s $e > {tf}'
        progs = [Program("flood", ["/bin/sh", "-c", sh], autostart=False, autorestart=False,
                         startsecs=0, redirect_stderr=True, stdout_logfile=str(log),
                         stdout_logfile_maxbytes=MAXBYTES, stdout_logfile_backups=BACKUPS)]
        with A(ctx, wd, progs).start() as d:
            time.sleep(0.5)
            rss0 = rss_kib(d.pid)
            c0 = cpu_s(d.pid)
            d.start_proc("flood")
            deadline = time.time() + 300
            while not tf.exists() or not tf.read_text().strip():
                if time.time() > deadline:
                    raise TimeoutError("flood did not finish")
                time.sleep(0.02)
            # Until the files stop growing (the daemon drains the pipe).
            last = -1
            while True:
                cur = sum(p.stat().st_size for p in files(log)) + len(files(log))
                if cur == last:
                    break
                last = cur
                time.sleep(0.3)
            c1 = cpu_s(d.pid)
            rss1, hwm = rss_kib(d.pid), hwm_kib(d.pid)
            s, e = (int(x) for x in tf.read_text().split())
            ondisk, bad = check_tail(files(log), total)
        secs = (e - s) / 1e9
        return mib / secs, (c1 - c0) / gib, ondisk / 2**20, bad, (rss1 - rss0) / 1024, hwm / 1024

    def ref(rep):
        wd = workdir("flood-ref")
        out = wd / "out"
        with open(out, "wb") as fo:
            t0 = time.time()
            subprocess.run([tp, "flood", str(total), str(CHUNK)], stdout=fo, check=True)
            refs["file"].append(mib / (time.time() - t0))
        out.unlink()
        secs, cat_cpu = through_cat(tp, total, out)
        refs["cat"].append(mib / secs)
        refs["cat_cpu"].append(cat_cpu / gib)
        out.unlink()

    # References run in the same alternation as the two daemons.
    refs = {"file": [], "cat": [], "cat_cpu": []}
    res = {A.label: [] for A in ADAPTERS}
    for rep in range(reps):
        order = list(ADAPTERS) + ["ref"]
        if rep % 2:
            order.reverse()
        for A in order:
            ctx.log(f"  {getattr(A, 'label', A)} run {rep + 1}/{reps}")
            if A == "ref":
                ref(rep)
            else:
                res[A.label].append(one(A, rep))

    f, s = res["fleet"], res["supervisord"]
    rows = []
    r = Row("log flood", f"child write rate ({mib:.0f} MiB{where})", "MiB/s", [x[0] for x in f], [x[0] for x in s])
    cat_med = statistics.median(refs["cat"])
    r.target = f"≥ `cat > file` ({cat_med:.0f} MiB/s)"
    r.met = r.fmed() >= cat_med
    rows.append(r)
    rows.append(Row("log flood", f"reference: writer > file{where}", "MiB/s", refs["file"], None))
    rows.append(Row("log flood", f"reference: writer | cat > file{where}", "MiB/s", refs["cat"], None))
    rows.append(Row("log flood", f"reference: cat CPU per GiB{where}", "CPU-s/GiB", refs["cat_cpu"], None))
    r = Row("log flood", f"daemon CPU per GiB{where}", "CPU-s/GiB", [x[1] for x in f], [x[1] for x in s])
    r.target = "≤ 1/3 of supervisord"
    r.met = r.ratio() <= 1 / 3
    rows.append(r)
    retain = min(total, MAXBYTES * (BACKUPS + 1)) / 2**20
    rows.append(Row("log flood", f"bytes kept (written {mib:.0f} MiB, rotation keeps ≤ {retain:.0f}){where}", "MiB",
                    [x[2] for x in f], [x[2] for x in s]))
    r = Row("log flood", f"misplaced 64 KiB chunks in retained tail{where}", "", [x[3] for x in f], [x[3] for x in s])
    r.target = "0 (every byte on disk)"
    r.met = max(x[3] for x in f) == 0
    rows.append(r)
    r = Row("log flood", f"daemon RSS growth during flood{where}", "MiB", [x[4] for x in f], [x[4] for x in s])
    r.target = "flat (≤ 4 MiB)"
    r.met = r.fmed() <= 4
    rows.append(r)
    rows.append(Row("log flood", f"daemon peak RSS{where}", "MiB", [x[5] for x in f], [x[5] for x in s]))
    return rows
