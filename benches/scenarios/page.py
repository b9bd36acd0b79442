"""The console's page in headless Debian Chromium, driven over WebDriver
(chromedriver) as tests/console_page.rs does, against a real console's
real picture: time from the login click to the first render of the
overview, the processes view's render and a scroll of its virtual list,
and a batch of 200 process events applied on two views (median of 7)."""

import json
import shutil
import subprocess
import tempfile
import time
import urllib.request
from scenarios.fleet_console import free_port

ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--disable-dev-shm-usage", "--window-size=1400,900"]


def call(base, method, path, body=None, timeout=120):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(base + path, data=data, method=method,
                                 headers={"content-type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return json.loads(r.read() or b"null").get("value")


# A batch of 200 process events on the processes view and the overview,
# 7 rounds each, over the page's own (real) picture; then the processes
# list scrolled to its middle.
MEASURE = r"""
const procs = [...S.procs.values()], now = Date.now(), out = { rows: procs.length };
const layout = () => document.body.getBoundingClientRect().height;
for (const view of ['processes', 'overview']) {
  S.route = { view, args: [], params: new URLSearchParams() };
  let t = performance.now(); S.test.render(); layout();
  out[view + '_render_ms'] = performance.now() - t;
  if (view === 'processes') {
    const l = S.lists.get('procs');
    out.list_rows = l.rows.length;
    t = performance.now(); l.el.scrollTop = l.el.scrollHeight / 2; l.paint(); layout();
    out.scroll_paint_ms = performance.now() - t;
    out.rows_in_dom = document.querySelectorAll('.vrow').length;
    l.el.scrollTop = 0; l.paint();
  }
  const took = [];
  for (let round = 0; round < 7; round++) {
    for (let k = 0; k < 200; k++) {
      const p = procs[(round * 200 + k) * 7919 % procs.length];
      const to = k % 2 ? 'RUNNING' : 'STARTING';
      S.queue.push(['process', JSON.stringify({ kind: 'process', host: p.host, seq: k, time: now + k, name: p.name,
        group: p.group, from: p.state, to, pid: 20000 + k,
        process: Object.assign({}, p, { state: to, pid: 20000 + k, host: undefined }) })]);
    }
    t = performance.now(); S.test.flush(); layout();
    took.push(performance.now() - t);
  }
  took.sort((a, b) => a - b);
  out['flush_200_' + view + '_ms'] = took[3];
}
return out;
"""


def measure(console_port, token):
    """{first_render_ms, ...MEASURE's figures} or raises with why."""
    driver_bin, chromium = shutil.which("chromedriver"), shutil.which("chromium")
    if not driver_bin or not chromium:
        raise RuntimeError("chromium and chromedriver are needed (apt-get install chromium chromium-driver)")
    port = free_port()
    profile = tempfile.mkdtemp(prefix="scale-page-")
    drv = subprocess.Popen([driver_bin, f"--port={port}"], stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 20
        while True:
            try:
                call(base, "GET", "/status", timeout=2)
                break
            except OSError:
                if time.time() > deadline:
                    raise RuntimeError("chromedriver did not listen within 20 s")
                time.sleep(0.1)
        caps = {"capabilities": {"alwaysMatch": {"browserName": "chrome", "goog:chromeOptions": {
            "binary": chromium, "args": ARGS + [f"--user-data-dir={profile}"]}}}}
        sid = call(base, "POST", "/session", caps)["sessionId"]
        s = f"/session/{sid}"

        def js(script, timeout=120):
            return call(base, "POST", s + "/execute/sync", {"script": script, "args": []}, timeout)

        def wait(script, what, limit=120):
            deadline = time.time() + limit
            while True:
                v = js(script)
                if v:
                    return v
                if time.time() > deadline:
                    raise RuntimeError(f"the page: no {what} within {limit} s")
                time.sleep(0.05)

        try:
            call(base, "POST", s + "/url", {"url": f"http://127.0.0.1:{console_port}/"})
            wait("return !document.getElementById('login').hidden", "login form")
            js("document.getElementById('token').value = " + json.dumps(token) + ";"
               "window.__t0 = performance.now();"
               "document.querySelector('#login-form button[type=submit]').click();")
            first = wait("return S.loaded && S.perf.firstRender && "
                         "(S.perf.firstRender - window.__t0)", "first render")
            out = js(MEASURE, timeout=300)
            out["first_render_ms"] = first
            return out
        finally:
            call(base, "DELETE", s)
    finally:
        drv.terminate()
        drv.wait(10)
        shutil.rmtree(profile, ignore_errors=True)
