#!/usr/bin/env python3
"""Render fleet-dashboard.json against a live demo fleet as a static PNG.

Grafana is not packaged by Debian and cannot be installed here, so this
draws the dashboard's panels itself: it starts `fleet-console demo`, a
Prometheus (Debian's `prometheus`) scraping the demo console's /metrics
with the viewer token, lets the fleet run (its crash loop, one restart of
group:celery) for WINDOW seconds, then runs every panel's PromQL through
Prometheus's HTTP API (range queries for time series, instant ones for
stats and tables), lays the panels out on the dashboard's own grid as SVG
in one HTML page and screenshots it with headless Chromium.

    python3 packaging/monitoring/render-dashboard.py OUT.png [--window 240]

Uses target/release/fleet-console and fleetctl (build them first). Every
process it starts is stopped at the end. Python 3 standard library only.
"""

import argparse
import html
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BOARD = ROOT / "packaging/monitoring/fleet-dashboard.json"
COLORS = ["#5794f2", "#73bf69", "#f2cc0c", "#ff9830", "#f2495c", "#b877d9", "#8ab8ff", "#96d98d"]


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def prom(base, path, **params):
    url = f"{base}/api/v1/{path}?" + urllib.parse.urlencode(params)
    with urllib.request.urlopen(url, timeout=30) as r:
        return json.load(r)["data"]


def legend(fmt, labels):
    if not fmt:
        return ", ".join(f"{k}={v}" for k, v in sorted(labels.items()) if k != "__name__") or "value"
    return re.sub(r"\{\{\s*(\w+)\s*\}\}", lambda m: labels.get(m.group(1), ""), fmt)


def fmt_num(v, unit):
    if unit == "bytes":
        for suf, m in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
            if abs(v) >= m:
                return f"{v / m:.1f} {suf}"
        return f"{v:.0f} B"
    if unit in ("s", "dtdurations"):
        return f"{v:.2f} s" if v < 60 else f"{v / 60:.1f} min"
    if unit == "percentunit":
        return f"{v * 100:.1f} %"
    return f"{v:.3g}" if abs(v) < 1000 else f"{v:.0f}"


def svg_series(series, w, h, unit):
    """Line chart of [(name, [(t, v)...])]."""
    pts = [(t, v) for _, s in series for t, v in s]
    if not pts:
        return f'<div class="empty">no data</div>'
    t0, t1 = min(t for t, _ in pts), max(t for t, _ in pts)
    v0, v1 = min(0, min(v for _, v in pts)), max(v for _, v in pts)
    if v1 == v0:
        v1 = v0 + 1
    if t1 == t0:
        t1 = t0 + 1
    pad_l, pad_b = 56, 18
    out = [f'<svg width="{w}" height="{h}" viewBox="0 0 {w} {h}">']
    for i in range(5):
        y = 4 + (h - pad_b - 8) * i / 4
        val = v1 - (v1 - v0) * i / 4
        out.append(f'<line x1="{pad_l}" x2="{w}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>')
        out.append(f'<text x="{pad_l - 6}" y="{y + 4:.1f}" class="ax" text-anchor="end">{html.escape(fmt_num(val, unit))}</text>')
    for i in range(4):
        t = t0 + (t1 - t0) * i / 3
        x = pad_l + (w - pad_l - 4) * i / 3
        out.append(f'<text x="{x:.1f}" y="{h - 3}" class="ax" text-anchor="middle">{time.strftime("%H:%M:%S", time.gmtime(t))}</text>')
    for i, (_, s) in enumerate(series):
        if not s:
            continue
        coords = " ".join(
            f"{pad_l + (w - pad_l - 4) * (t - t0) / (t1 - t0):.1f},{4 + (h - pad_b - 8) * (1 - (v - v0) / (v1 - v0)):.1f}"
            for t, v in s
        )
        out.append(f'<polyline points="{coords}" fill="none" stroke="{COLORS[i % len(COLORS)]}" stroke-width="1.6"/>')
    out.append("</svg>")
    return "".join(out)


def render_panel(p, base, start, end, step, host):
    unit = p.get("fieldConfig", {}).get("defaults", {}).get("unit", "short")
    kind = p.get("type")
    targets = [t for t in p.get("targets", []) if t.get("expr")]
    exprs = [(t["expr"].replace("$host", host), t.get("legendFormat", "")) for t in targets]
    if kind == "stat":
        vals = []
        for e, _ in exprs:
            r = prom(base, "query", query=e, time=end)["result"]
            vals.extend(float(x["value"][1]) for x in r)
        v = sum(vals) if vals else 0.0
        return f'<div class="stat">{html.escape(fmt_num(v, unit))}</div>'
    if kind == "table":
        rows = {}
        cols = []
        for i, (e, _) in enumerate(exprs):
            # A column is named by the metric its query reads.
            m = re.search(r"fleet_(?:console|agent)_(\w+)", e)
            cols.append(m.group(1) if m else f"#{i + 1}")
            for x in prom(base, "query", query=e, time=end)["result"]:
                key = tuple(sorted((k, v) for k, v in x["metric"].items() if k not in ("__name__", "instance", "job")))
                rows.setdefault(key, {})[i] = float(x["value"][1])
        labels = sorted({k for key in rows for k, _ in key})
        head = "".join(f"<th>{html.escape(l)}</th>" for l in labels) + "".join(f"<th>{html.escape(c)}</th>" for c in cols)
        body = []
        for key, vals in sorted(rows.items())[:14]:
            d = dict(key)
            body.append("<tr>" + "".join(f"<td>{html.escape(d.get(l, ''))}</td>" for l in labels)
                        + "".join(f"<td>{'' if i not in vals else html.escape(fmt_num(vals[i], 'short'))}</td>" for i in range(len(cols)))
                        + "</tr>")
        if not body:
            return '<div class="empty">no rows</div>'
        return f'<table><tr>{head}</tr>{"".join(body)}</table>'
    series = []
    for e, lf in exprs:
        for x in prom(base, "query_range", query=e, start=start, end=end, step=step)["result"]:
            pts = [(float(t), float(v)) for t, v in x["values"] if v not in ("NaN", "+Inf", "-Inf")]
            series.append((legend(lf, x["metric"]), pts))
    series = series[:8]
    return ("SVG", series, unit)


def page(board, base, start, end, step, host, width=1600):
    unit_w = width / 24
    row_h = 34
    parts = []
    max_y = 0
    for p in board["panels"]:
        g = p.get("gridPos", {"x": 0, "y": 0, "w": 24, "h": 1})
        x, y, w, h = g["x"] * unit_w, g["y"] * row_h, g["w"] * unit_w, g["h"] * row_h
        max_y = max(max_y, y + h)
        title = p.get("title", "").replace("$host", host)
        if p.get("type") == "row":
            parts.append(f'<div class="row" style="left:{x}px;top:{y}px;width:{w - 8}px">{html.escape(title)}</div>')
            if p.get("collapsed"):
                continue
            continue
        try:
            body = render_panel(p, base, start, end, step, host)
        except Exception as e:  # a panel that fails says so; the rest render
            body = f'<div class="empty">{html.escape(str(e))}</div>'
        if isinstance(body, tuple):
            _, series, unit = body
            chart = svg_series(series, int(w - 20), int(h - 66), unit)
            leg = "".join(f'<span><i style="background:{COLORS[i % len(COLORS)]}"></i>{html.escape(n)}</span>'
                          for i, (n, _) in enumerate(series))
            body = chart + f'<div class="legend">{leg}</div>'
        parts.append(f'<div class="panel" style="left:{x}px;top:{y}px;width:{w - 8}px;height:{h - 8}px">'
                     f'<div class="title">{html.escape(title)}</div>{body}</div>')
    css = """
body{background:#111217;color:#ccccdc;font:12px system-ui,sans-serif;margin:0}
h1{font-size:16px;font-weight:500;margin:10px 12px}
.board{position:relative;margin:0 8px}
.panel{position:absolute;background:#181b1f;border:1px solid #2c3235;border-radius:3px;overflow:hidden;padding:6px}
.row{position:absolute;font-size:14px;font-weight:500;padding:6px 2px;color:#d8d9da}
.title{font-weight:500;margin-bottom:4px;color:#d8d9da}
.stat{font-size:40px;font-weight:500;color:#73bf69;text-align:center;margin-top:18px}
.grid{stroke:#2c3235;stroke-width:1}.ax{fill:#8e8e8e;font-size:10px}
.legend span{margin-right:10px;white-space:nowrap;font-size:11px}.legend i{display:inline-block;width:10px;height:3px;margin-right:4px;vertical-align:middle}
table{border-collapse:collapse;width:100%;font-size:11px}th,td{text-align:left;padding:2px 6px;border-bottom:1px solid #2c3235}
.empty{color:#8e8e8e;margin-top:20px;text-align:center}
"""
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(end))
    return (f"<!doctype html><meta charset=utf-8><style>{css}</style>"
            f"<h1>{html.escape(board.get('title', 'fleet'))} — demo fleet, host {html.escape(host)}, "
            f"{int(end - start)} s to {when} (rendered from packaging/monitoring/fleet-dashboard.json)</h1>"
            f'<div class="board" style="height:{max_y}px">{"".join(parts)}</div>'), max_y + 60


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out")
    ap.add_argument("--window", type=int, default=240)
    args = ap.parse_args()
    rel = ROOT / "target/release"
    tmp = Path(tempfile.mkdtemp(prefix="fleet-render-"))
    procs = []
    try:
        port = free_port()
        demo = subprocess.Popen([str(rel / "fleet-console"), "demo", "--port", str(port)],
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        procs.append(demo)
        text = ""
        deadline = time.time() + 60
        while "viewer token:" not in text or "Ctrl-C" not in text:
            if time.time() > deadline:
                raise SystemExit(f"the demo did not start:\n{text}")
            text += demo.stdout.readline()
        url = re.search(r"console:\s+(\S+)", text).group(1)
        viewer = re.search(r"viewer token:\s+(\S+)", text).group(1)
        operator = re.search(r"operator token:\s+(\S+)", text).group(1)
        ppath = shutil.which("prometheus") or sys.exit("prometheus not found (apt install prometheus)")
        pport = free_port()
        (tmp / "token").write_text(viewer)
        (tmp / "prometheus.yml").write_text(
            "global:\n  scrape_interval: 5s\n  evaluation_interval: 5s\n"
            "scrape_configs:\n  - job_name: fleet-console\n"
            f"    authorization:\n      credentials_file: {tmp / 'token'}\n"
            f"    static_configs:\n      - targets: ['{urllib.parse.urlparse(url).netloc}']\n")
        pr = subprocess.Popen([ppath, f"--config.file={tmp / 'prometheus.yml'}", f"--storage.tsdb.path={tmp / 'data'}",
                               f"--web.listen-address=127.0.0.1:{pport}"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        procs.append(pr)
        base = f"http://127.0.0.1:{pport}"
        start = time.time()
        env = dict(os.environ, FLEET_CONSOLE=url, FLEET_TOKEN=operator)
        half = False
        while time.time() - start < args.window:
            if not half and time.time() - start > args.window / 2:
                half = True
                subprocess.run([str(rel / "fleetctl"), "restart", "group:celery"], env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(1)
        end = time.time()
        board = json.loads(BOARD.read_text())
        hosts = [x["metric"]["host"] for x in prom(base, "query", query="fleet_console_host_up")["result"]]
        host = sorted(h for h in hosts if h != "web-01")[0] if len(hosts) > 1 else (hosts or ["w-02"])[0]
        doc, height = page(board, base, start, end, 5, host)
        (tmp / "board.html").write_text(doc)
        chromium = shutil.which("chromium") or sys.exit("chromium not found")
        subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                        "--disable-background-networking", "--disable-component-update", "--disable-sync",
                        f"--user-data-dir={tmp / 'profile'}", "--hide-scrollbars",
                        f"--window-size=1616,{int(height)}", f"--screenshot={Path(args.out).resolve()}",
                        (tmp / "board.html").as_uri()], check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, timeout=120)
        print(f"wrote {args.out} ({int(end - start)} s of the demo fleet, host {host})")
    finally:
        for p in reversed(procs):
            if p.poll() is None:
                p.send_signal(signal.SIGINT if p is procs[0] else signal.SIGTERM)
                try:
                    p.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
