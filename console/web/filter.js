import { BAD, FLAP_MS, FLAP_N, S, SEVERITY, STATES } from "./state.js";
import { cmp } from "./util.js";

// "web host:w-0* group:celery state:fatal,exited hg:workers is:down"
// is: down, stale, up (hosts); flapping, trouble, healthy, unhealthy
// (processes).
export function parseFilter(text) {
  const f = { text: [], host: null, group: null, state: null, hg: null, name: null, is: new Set(), raw: {} };
  for (const tok of (text || "").trim().split(/\s+/)) {
    if (!tok) continue;
    const m = /^(host|group|state|hg|name|is):(.*)$/i.exec(tok);
    if (m && m[2]) {
      const k = m[1].toLowerCase();
      f.raw[k] = m[2];
      if (k === "state") f.state = new Set(m[2].toUpperCase().split(","));
      else if (k === "is") for (const w of m[2].toLowerCase().split(",")) f.is.add(w);
      else f[k] = glob(m[2]);
    } else f.text.push(tok.toLowerCase());
  }
  f.hostIs = ["down", "stale", "up"].filter((w) => f.is.has(w));
  f.procIs = ["flapping", "trouble", "healthy", "unhealthy"].filter((w) => f.is.has(w));
  f.procTerms = !!(f.group || f.state || f.name || f.procIs.length);
  f.any = f.text.length || f.host || f.group || f.state || f.hg || f.name || f.is.size;
  return f;
}

export function glob(pat) {
  const re = pat
    .split(",")
    .map((p) => p.replace(/[.+?^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*"))
    .join("|");
  return new RegExp("^(?:" + re + ")$", "i");
}

export const hostDown = (h) => !h.up;
export const hostStale = (h) => h.up && h.stale_ms > 0;

export function hostOk(f, h) {
  if (f.host && !f.host.test(h.name)) return false;
  if (f.hg && !(h.groups || []).some((g) => f.hg.test(g))) return false;
  if (f.hostIs.length && !f.hostIs.some((w) => (w === "down" ? hostDown(h) : w === "stale" ? hostStale(h) : h.up && !hostStale(h)))) return false;
  return true;
}

// Exits fleet did not ask for within FLAP_MS: the agent's per-minute
// counts (every exit, however many), or with an older agent the last few
// exits it lists.
export function recentExits(p, now = Date.now()) {
  if (p.exits_by_minute) {
    let n = 0;
    for (const [minute, count] of p.exits_by_minute) if (minute + 60000 > now - FLAP_MS) n += count;
    return n;
  }
  return (p.exits || []).filter((x) => now - x.at < FLAP_MS && !x.stopped_by_us).length;
}
// Kept on each process by picture.js (`_flap`, `_rank`), so sorting
// 100,000 rows does not re-scan exit lists.
export const flapping = (p) => (p._flap !== undefined ? p._flap : recentExits(p) >= FLAP_N);
export const trouble = (p) => BAD.has(p.state) || flapping(p) || p.health === "unhealthy" || (p.wanted === "running" && p.state === "STOPPED");

export function procOk(f, p) {
  if (f.group && !f.group.test(p.group)) return false;
  if (f.state && !f.state.has(p.state)) return false;
  if (f.name && !f.name.test(p.name) && !f.name.test(p.process)) return false;
  if (f.is.has("flapping") && !flapping(p)) return false;
  if (f.is.has("trouble") && !trouble(p)) return false;
  if (f.is.has("healthy") && p.health !== "healthy") return false;
  if (f.is.has("unhealthy") && p.health !== "unhealthy") return false;
  for (const t of f.text) {
    if (!p.name.toLowerCase().includes(t) && !p.host.toLowerCase().includes(t)) return false;
  }
  return true;
}

// A flapping process ranks with BACKOFF whatever its state this instant,
// so a crash loop does not jump up and down the list.
export const rankOf = (p) => (p._rank !== undefined ? p._rank : flapping(p) || p.health === "unhealthy" ? Math.min(SEVERITY[p.state], SEVERITY.BACKOFF) : SEVERITY[p.state]);

// Sort keys for ?sort=KEY (a leading "-" reverses); worst first by default.
export const PROC_SORT = {
  severity: (a, b) => rankOf(a) - rankOf(b),
  host: (a, b) => cmp(a.host, b.host),
  name: (a, b) => cmp(a.name, b.name),
  state: (a, b) => cmp(a.state, b.state),
  restarts: (a, b) => b.restarts - a.restarts,
  uptime: (a, b) => (a.started_at || 0) - (b.started_at || 0),
  rss: (a, b) => (b.rss_bytes || 0) - (a.rss_bytes || 0),
};

// The full order of ?sort=KEY: ties broken by host and name, so every
// process has one place (picture.js binary-searches it).
export function procOrder(want = "severity") {
  want = want || "severity";
  const rev = want.startsWith("-") ? -1 : 1;
  const by = PROC_SORT[want.replace(/^-/, "")] || PROC_SORT.severity;
  return (a, b) => rev * by(a, b) || cmp(a.host, b.host) || cmp(a.name, b.name);
}

export function sortProcs(procs) {
  procs.sort(procOrder(S.route.params.get("sort")));
}

export function countStates(procs) {
  const c = {};
  for (const s of STATES) c[s] = 0;
  for (const p of procs) c[p.state] = (c[p.state] || 0) + 1;
  return c;
}
