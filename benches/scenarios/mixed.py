"""13. A mixed estate (fleet only: what polling supervisord hosts costs
the console): 100 real supervisords (PyPI supervisor, each on its own unix
socket with a group of two `sleep` programs) as `kind = "supervisord"`
hosts polled every 2 s by one console; once every process shows RUNNING,
the console's CPU and RSS over 60 s (quick: 20 hosts, 20 s) and the
latency of `GET /v1/status` (one call every 100 ms). The measurement is
benches/experiments/console_supervisord_poll.py's."""

import sys
from pathlib import Path
from common import Row

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "experiments"))
import console_supervisord_poll as poll  # noqa: E402


def run(ctx):
    hosts, seconds = (20, 20) if ctx.quick else (100, 60)
    m = poll.measure(hosts, "2s", seconds, str(ctx.bin("fleet-console")), ctx.workdir("mixed"),
                     supervisord=[str(ctx.supervisord)])
    rows = []
    r = Row("mixed estate", f"console CPU, {hosts} supervisord hosts polled every 2 s", "% core", [m["cpu_pct"]], None)
    r.target = "≤ 5 % of a core"
    r.met = m["cpu_pct"] <= 5
    rows.append(r)
    rows.append(Row("mixed estate", f"console RSS, {hosts} supervisord hosts", "MiB", [m["rss"]], None))
    r = Row("mixed estate", f"`GET /v1/status` p99, {hosts} supervisord hosts", "ms", [m["p99"]], None)
    r.target = "< 50 ms"
    r.met = m["p99"] < 50
    r.note = f"median {sorted(m['lat'])[len(m['lat']) // 2]:.2f} ms"
    rows.append(r)
    return rows
