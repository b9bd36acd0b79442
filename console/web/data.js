import { api } from "./api.js";
import { notifyNew } from "./notify.js";
import { opEvent } from "./ops.js";
import { begin, enter, hostChanged, leave } from "./picture.js";
import { render } from "./render.js";
import { S, USAGE_N } from "./state.js";
import { pkey } from "./util.js";

export function loadStatusSoon() {
  if (!S.statusTimer) S.statusTimer = setTimeout(loadStatus, 300);
}

export async function loadStatus() {
  clearTimeout(S.statusTimer);
  S.statusTimer = 0;
  try {
    const st = await api("GET", "/v1/status");
    S.hosts = new Map(st.hosts.map((h) => [h.name, h]));
    S.procs = new Map(st.processes.map((p) => [pkey(p.host, p.name), p]));
    sample(S.procs);
    S.loaded = true;
    S.loadError = null;
  } catch (e) {
    if (e.status === 401) return;
    S.loadError = e.message;
  }
  render();
  notifyNew();
  if (!S.perf.firstRender) S.perf.firstRender = performance.now();
}

// One reading per process from a status read: RSS as is, CPU as the
// share of one core since the previous reading of the same pid.
export function sample(procs, now = Date.now()) {
  for (const [k, p] of procs) {
    if (p.pid == null || p.rss_bytes == null) continue;
    let u = S.usage.get(k);
    if (!u || u.pid !== p.pid) S.usage.set(k, (u = { pid: p.pid, cpu: [], rss: [], lastCpu: null, lastAt: 0 }));
    if (u.lastAt && now - u.lastAt < 1000) continue;
    if (u.lastCpu != null && p.cpu_seconds != null && now > u.lastAt) u.cpu.push(Math.max(0, ((p.cpu_seconds - u.lastCpu) * 1000 * 100) / (now - u.lastAt)));
    u.rss.push(p.rss_bytes);
    u.lastCpu = p.cpu_seconds;
    u.lastAt = now;
    if (u.cpu.length > USAGE_N) u.cpu.shift();
    if (u.rss.length > USAGE_N) u.rss.shift();
  }
  for (const k of S.usage.keys()) if (!procs.has(k)) S.usage.delete(k);
}

export async function refreshHosts() {
  if (!S.me || !S.loaded) return;
  try {
    const r = await api("GET", "/v1/hosts");
    let changed = false;
    for (const h of r.hosts) {
      const old = S.hosts.get(h.name);
      // A host that went down (a heartbeat went stale) or came back: its
      // processes' states change with it (UNKNOWN while down), in /v1/status.
      if (!old || old.up !== h.up) changed = true;
      hostChanged(old, h);
      S.hosts.set(h.name, h);
    }
    if (changed) loadStatusSoon();
    schedule();
  } catch (_) {
    /* shown by the live marker */
  }
}

// Apply queued events and re-render at most once per frame (or every
// 250 ms when the tab is hidden and frames do not run).
export function schedule() {
  if (S.raf) return;
  const run = () => {
    cancelAnimationFrame(S.raf);
    clearTimeout(S.rafT);
    S.raf = 0;
    flush();
  };
  S.raf = requestAnimationFrame(run);
  S.rafT = setTimeout(run, 250);
}

export function flush() {
  const t0 = performance.now();
  const q = S.queue;
  S.queue = [];
  let resync = false;
  begin(q.length);
  for (const [kind, data] of q) {
    let e;
    try {
      e = JSON.parse(data);
    } catch (_) {
      if (kind === "gap") resync = true;
      continue;
    }
    if (kind === "process") {
      const k = pkey(e.host, e.name);
      const p = S.procs.get(k);
      if (!p) {
        if (!e.removed) resync = true;
        continue;
      }
      // Out of the kept picture with its old fields, back in with its new.
      leave(p);
      if (e.removed) {
        S.procs.delete(k);
        continue;
      }
      if (e.process) {
        // The agent's whole copy after the change (see fleet_api::Event);
        // a new pid's CPU and memory are unknown until the next read.
        if (e.process.pid !== p.pid) p.rss_bytes = p.cpu_seconds = undefined;
        Object.assign(p, e.process);
        p.host = e.host;
        enter(p);
        continue;
      }
      p.state = e.to;
      p.pid = e.pid === undefined ? null : e.pid;
      p.state_since = e.time;
      if (e.to === "STARTING") p.started_at = e.time;
      p.description = e.description || "";
      if (e.exit_status) p.exit_status = e.exit_status;
      enter(p);
    } else if (kind === "host") {
      const old = S.hosts.get(e.host.name);
      hostChanged(old, e.host);
      S.hosts.set(e.host.name, e.host);
      if (!old || old.up !== e.host.up || old.processes !== e.host.processes) resync = true;
    } else if (kind === "op") {
      opEvent(e.op);
    }
  }
  S.perf.events += q.length;
  if (resync) loadStatusSoon();
  render();
  notifyNew();
  S.perf.lastFlushMs = performance.now() - t0;
  S.perf.flushes++;
}
