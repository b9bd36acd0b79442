"""10. Health checks (fleet only: supervisord has none in core; its
equivalent is one superlance httpok listener process per URL). 500
programs `fleet-testprog http PORT MODE`, each its own HTTP server on
loopback; the agent's CPU and RSS over a window (60 s, quick 20 s) with
no checks, then with an http check every 5 s on each (all 500 healthy
first); the difference is what the checks cost. Then the same 500 with
targets that accept and never answer (2 s timeout: 500 checks always
pending) beside a crash victim: crash→restart latency against a run
without checks (10 kills each, quick 6)."""

import socket
import time
from common import Fleet, Program, Row, cpu_s, kill_and_time, proc_status, rss_kib

N = 500


def free_ports(n):
    """n loopback ports free right now (held open until all are found)."""
    socks, ports = [], []
    for _ in range(n):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        socks.append(s)
        ports.append(s.getsockname()[1])
    for s in socks:
        s.close()
    return ports


def programs(ctx, wd, mode, checks, victim=None):
    ports = free_ports(N)
    progs = []
    for i, port in enumerate(ports):
        extra = ""
        if checks:
            extra = (
                f"[program.w{i:03}.health]\nhttp = \"http://127.0.0.1:{port}/healthz\"\n"
                "interval = \"5s\"\ntimeout = \"2s\"\n"
            )
        progs.append(Program(f"w{i:03}", [str(ctx.bin("fleet-testprog")), "http", str(port), str(mode)],
                             startsecs=0, fleet_extra=extra))
    if victim:
        progs.append(Program("victim", [str(ctx.bin("fleet-testprog")), "record", str(victim)], startsecs=0))
    return progs


def healthy(d):
    st = d._req("GET", "/v1/status")["processes"]
    return sum(1 for p in st if p.get("health") == "healthy")


def cost(ctx, checks, window):
    wd = ctx.workdir(f"health-{'checks' if checks else 'none'}")
    mode = wd / "mode"
    with Fleet(ctx, wd, programs(ctx, wd, mode, checks)).start() as d:
        d.wait_states("RUNNING", N, timeout=180)
        if checks:
            deadline = time.time() + 120
            while healthy(d) < N:
                if time.time() > deadline:
                    raise TimeoutError(f"healthy: {healthy(d)}/{N}")
                time.sleep(0.2)
        time.sleep(3)
        c0 = cpu_s(d.pid)
        time.sleep(window)
        c1 = cpu_s(d.pid)
        st = proc_status(d.pid)
        kib = lambda k: int(st.get(k, "0 kB").split()[0])
        ctx.log(f"    RSS {kib('VmRSS')} KiB: anon {kib('RssAnon')}, file {kib('RssFile')}")
        return (c1 - c0) / window * 100, rss_kib(d.pid) / 1024, kib("RssAnon") / 1024


def latency(ctx, hung, kills):
    wd = ctx.workdir(f"health-latency-{'hung' if hung else 'none'}")
    mode = wd / "mode"
    mode.write_text("hang" if hung else "ok")
    rec = wd / "starts"
    with Fleet(ctx, wd, programs(ctx, wd, mode, hung, victim=rec)).start() as d:
        d.wait_states("RUNNING", N + 1, timeout=180)
        # Let every check be in flight (hung) before the first kill.
        time.sleep(6 if hung else 1)
        return kill_and_time(d, rec, kills, running=None, settle=0.3)


def run(ctx):
    window = 20 if ctx.quick else 60
    kills = 6 if ctx.quick else 10
    ctx.log("  500 programs, no checks")
    base_cpu, base_rss, base_anon = cost(ctx, False, window)
    ctx.log("  500 programs, http check every 5 s")
    cpu, rss, anon = cost(ctx, True, window)
    rows = []
    r = Row("health checks", f"agent CPU, 500 http checks / 5 s ({window} s)", "% core", [cpu - base_cpu], None)
    r.target = "≤ 2 % of a core"
    r.met = cpu - base_cpu <= 2
    r.note = f"{cpu:.2f} % with checks, {base_cpu:.2f} % without"
    rows.append(r)
    r = Row("health checks", "agent RSS added by 500 http checks", "MiB", [rss - base_rss], None)
    r.target = "≤ 1 MiB"
    r.met = rss - base_rss <= 1
    r.note = (f"{rss:.1f} MiB with checks, {base_rss:.1f} MiB without; of the difference, "
              f"{anon - base_anon:.2f} MiB anonymous (heap, stacks), the rest code pages mapped")
    rows.append(r)
    ctx.log("  crash→restart, no checks")
    calm = latency(ctx, False, kills)
    ctx.log("  crash→restart, 500 hung checks")
    hung = latency(ctx, True, kills)
    r = Row("health checks", f"crash→restart median, 500 hung checks ({len(hung)} kills)", "ms", hung, None)
    calm_med = sorted(calm)[len(calm) // 2]
    r.target = "unchanged (≤ 2× without checks)"
    r.met = r.fmed() <= max(2 * calm_med, calm_med + 2)
    r.note = f"{calm_med:.2f} ms without checks"
    rows.append(r)
    return rows
