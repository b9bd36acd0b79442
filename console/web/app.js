// fleet console web page: one plain-JS module, no build step, no library.
//
// Data flow: log in (POST /v1/session → HttpOnly cookie + CSRF token kept
// in memory only), subscribe to GET /v1/events (SSE), then read
// GET /v1/status once. Events are queued and applied once per animation
// frame; the current view is rendered from the in-memory picture as HTML
// text and *morphed* into the live DOM (`morph`): elements are patched in
// place, rows matched by `data-key`, so focus, selection, scroll position
// and an open menu survive an event storm. Relative times tick once a
// second by rewriting only the text of `[data-t]` elements.
// Long lists (hosts, processes) are virtualised: only the rows in view exist
// in the DOM, so 500 hosts × 20 processes stay cheap. The URL hash holds the
// view and the filter (#/processes?f=group:celery%20state:fatal).
"use strict";

const STATES = ["RUNNING", "STARTING", "BACKOFF", "STOPPING", "STOPPED", "EXITED", "FATAL"];
const BAD = new Set(["FATAL", "EXITED", "BACKOFF"]);
// Worst first: the default order of every list.
const SEVERITY = { FATAL: 0, BACKOFF: 1, EXITED: 2, STOPPING: 3, STARTING: 4, STOPPED: 5, RUNNING: 6 };
const SIGNALS = ["TERM", "HUP", "INT", "QUIT", "USR1", "USR2", "KILL"];
// A process that restarted this often within FLAP_MS is flapping.
const FLAP_N = 3;
const FLAP_MS = 10 * 60 * 1000;
// Row height of the virtual lists: one line, or two on a narrow screen
// where the columns fold into the row (see app.css, max-width: 900px).
const narrow = () => window.innerWidth <= 900;
const rowH = () => (narrow() ? 58 : 30);

const S = {
  me: null,
  hosts: new Map(), // name → HostInfo
  procs: new Map(), // host\0name → FleetProcess
  ops: [], // newest first (ops view)
  opDetail: null,
  loaded: false,
  loadError: null,
  queue: [],
  raf: 0,
  es: null,
  sel: new Set(), // selected process keys
  hostSel: new Set(), // selected host names
  lists: new Map(), // id → VList (kept across renders)
  route: { view: "overview", args: [], params: new URLSearchParams() },
  log: null, // {ctrl, key}
  perf: { firstRender: 0, lastFlushMs: 0, flushes: 0, events: 0 },
};

const $ = (sel, root = document) => root.querySelector(sel);
const esc = (s) =>
  String(s ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
// Host names never contain "/" (the console's name rule), so it separates.
const pkey = (host, name) => host + "/" + name;
const cmp = (a, b) => (a < b ? -1 : a > b ? 1 : 0);
const canAct = () => S.me && S.me.role === "operator";
const enc = encodeURIComponent;

// ---------------------------------------------------------------- API

class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

async function api(method, path, body) {
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (method !== "GET" && S.me && S.me.csrf) headers["X-CSRF-Token"] = S.me.csrf;
  const r = await fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: "same-origin",
    cache: "no-store",
  });
  if (!r.ok) {
    let msg = r.status + " " + r.statusText;
    try {
      const j = await r.json();
      if (j && j.error && j.error.message) msg = j.error.message;
    } catch (_) {
      /* not JSON */
    }
    if (r.status === 401 && path !== "/v1/session") showLogin("Your session has ended; log in again.");
    throw new ApiError(r.status, msg);
  }
  return r.status === 204 ? null : r.json();
}

// ---------------------------------------------------------------- login

function showLogin(message) {
  S.me = null;
  if (S.es) S.es.close();
  S.es = null;
  $("#top").hidden = true;
  $("#view").hidden = true;
  $("#banner").hidden = true;
  $("#login").hidden = false;
  $("#login-error").textContent = message || "";
  $("#token").focus();
}

async function login(ev) {
  ev.preventDefault();
  const input = $("#token");
  try {
    S.me = await api("POST", "/v1/session", { token: input.value });
    input.value = "";
    start();
  } catch (e) {
    $("#login-error").textContent = e.status === 401 ? "That token is not valid." : "Login failed: " + e.message;
    input.select();
  }
}

async function logout() {
  try {
    await api("DELETE", "/v1/session");
  } catch (_) {
    /* forget locally anyway */
  }
  S.hosts.clear();
  S.procs.clear();
  S.loaded = false;
  showLogin("Logged out.");
}

function start() {
  $("#login").hidden = true;
  $("#top").hidden = false;
  $("#view").hidden = false;
  $("#who").textContent = S.me.name + " (" + S.me.role + ")";
  document.body.classList.toggle("viewer", !canAct());
  connectEvents();
  loadStatus();
  onRoute();
}

// ---------------------------------------------------------------- data

let statusTimer = 0;
function loadStatusSoon() {
  if (!statusTimer) statusTimer = setTimeout(loadStatus, 300);
}

async function loadStatus() {
  clearTimeout(statusTimer);
  statusTimer = 0;
  try {
    const st = await api("GET", "/v1/status");
    S.hosts = new Map(st.hosts.map((h) => [h.name, h]));
    S.procs = new Map(st.processes.map((p) => [pkey(p.host, p.name), p]));
    S.loaded = true;
    S.loadError = null;
  } catch (e) {
    if (e.status === 401) return;
    S.loadError = e.message;
  }
  render();
  if (!S.perf.firstRender) S.perf.firstRender = performance.now();
}

async function refreshHosts() {
  if (!S.me || !S.loaded) return;
  try {
    const r = await api("GET", "/v1/hosts");
    for (const h of r.hosts) S.hosts.set(h.name, h);
    schedule();
  } catch (_) {
    /* shown by the live marker */
  }
}

function connectEvents() {
  if (S.es) S.es.close();
  const es = new EventSource("/v1/events");
  S.es = es;
  const live = $("#live");
  es.onopen = () => {
    live.className = "live on";
    live.title = "live: receiving events";
    if (S.loaded) loadStatusSoon(); // resync after a reconnect
  };
  es.onerror = () => {
    live.className = "live off";
    live.title = "event stream lost; reconnecting…";
  };
  for (const kind of ["process", "host", "op", "gap"]) {
    es.addEventListener(kind, (ev) => {
      S.queue.push([kind, ev.data]);
      schedule();
    });
  }
}

// Apply queued events and re-render at most once per frame (or every
// 250 ms when the tab is hidden and frames do not run).
function schedule() {
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

function flush() {
  const t0 = performance.now();
  const q = S.queue;
  S.queue = [];
  let resync = false;
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
      if (e.removed) {
        S.procs.delete(k);
        continue;
      }
      if (!p) {
        resync = true;
        continue;
      }
      if (e.process) {
        // The agent's whole copy after the change (see fleet_api::Event).
        Object.assign(p, e.process);
        p.host = e.host;
        p._flap = p._rank = undefined;
        continue;
      }
      p.state = e.to;
      p.pid = e.pid === undefined ? null : e.pid;
      p.state_since = e.time;
      if (e.to === "STARTING") p.started_at = e.time;
      p.description = e.description || "";
      if (e.exit_status) p.exit_status = e.exit_status;
    } else if (kind === "host") {
      const old = S.hosts.get(e.host.name);
      S.hosts.set(e.host.name, e.host);
      if (!old || old.up !== e.host.up || old.processes !== e.host.processes) resync = true;
    } else if (kind === "op") {
      opEvent(e.op);
    }
  }
  S.perf.events += q.length;
  if (resync) loadStatusSoon();
  render();
  S.perf.lastFlushMs = performance.now() - t0;
  S.perf.flushes++;
}

// ---------------------------------------------------------------- filter

// "web host:w-0* group:celery state:fatal,exited hg:workers is:down"
// is: down, stale, up (hosts); flapping, trouble (processes).
function parseFilter(text) {
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
  f.procIs = ["flapping", "trouble"].filter((w) => f.is.has(w));
  f.procTerms = !!(f.group || f.state || f.name || f.procIs.length);
  f.any = f.text.length || f.host || f.group || f.state || f.hg || f.name || f.is.size;
  return f;
}

function glob(pat) {
  const re = pat
    .split(",")
    .map((p) => p.replace(/[.+?^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*"))
    .join("|");
  return new RegExp("^(?:" + re + ")$", "i");
}

const hostDown = (h) => !h.up;
const hostStale = (h) => h.up && h.stale_ms > 0;

function hostOk(f, h) {
  if (f.host && !f.host.test(h.name)) return false;
  if (f.hg && !(h.groups || []).some((g) => f.hg.test(g))) return false;
  if (f.hostIs.length && !f.hostIs.some((w) => (w === "down" ? hostDown(h) : w === "stale" ? hostStale(h) : h.up && !hostStale(h)))) return false;
  return true;
}

// Restarts within FLAP_MS, from the exits the agent keeps.
function recentExits(p, now = Date.now()) {
  return (p.exits || []).filter((x) => now - x.at < FLAP_MS && !x.stopped_by_us).length;
}
// Computed once per render for every process (filtered() sets _flap), so
// sorting 10,000 rows does not re-scan exit lists.
const flapping = (p) => (p._flap !== undefined ? p._flap : recentExits(p) >= FLAP_N);
const trouble = (p) => BAD.has(p.state) || flapping(p) || (p.wanted === "running" && p.state === "STOPPED");

function procOk(f, p) {
  if (f.group && !f.group.test(p.group)) return false;
  if (f.state && !f.state.has(p.state)) return false;
  if (f.name && !f.name.test(p.name) && !f.name.test(p.process)) return false;
  if (f.is.has("flapping") && !flapping(p)) return false;
  if (f.is.has("trouble") && !trouble(p)) return false;
  for (const t of f.text) {
    if (!p.name.toLowerCase().includes(t) && !p.host.toLowerCase().includes(t)) return false;
  }
  return true;
}

// A flapping process ranks with BACKOFF whatever its state this instant,
// so a crash loop does not jump up and down the list.
const rankOf = (p) => (p._rank !== undefined ? p._rank : flapping(p) ? Math.min(SEVERITY[p.state], SEVERITY.BACKOFF) : SEVERITY[p.state]);

// Sort keys for ?sort=KEY (a leading "-" reverses); worst first by default.
const PROC_SORT = {
  severity: (a, b) => rankOf(a) - rankOf(b),
  host: (a, b) => cmp(a.host, b.host),
  name: (a, b) => cmp(a.name, b.name),
  state: (a, b) => cmp(a.state, b.state),
  restarts: (a, b) => b.restarts - a.restarts,
  uptime: (a, b) => (a.started_at || 0) - (b.started_at || 0),
};

function sortProcs(procs) {
  const want = S.route.params.get("sort") || "severity";
  const rev = want.startsWith("-");
  const by = PROC_SORT[want.replace(/^-/, "")] || PROC_SORT.severity;
  procs.sort((a, b) => (rev ? -1 : 1) * by(a, b) || cmp(a.host, b.host) || cmp(a.name, b.name));
}

// The filtered picture; `sorted` = false skips ordering 10,000 processes
// for views that only count them.
function filtered(sorted = true) {
  const f = parseFilter(S.route.params.get("f"));
  const hosts = [];
  const hostSet = new Set();
  for (const h of S.hosts.values()) {
    if (hostOk(f, h)) {
      hosts.push(h);
      hostSet.add(h.name);
    }
  }
  const procs = [];
  const badHosts = new Map();
  const now = Date.now();
  for (const p of S.procs.values()) {
    p._flap = p.exits && p.exits.length >= FLAP_N ? recentExits(p, now) >= FLAP_N : false;
    p._rank = p._flap ? Math.min(SEVERITY[p.state], SEVERITY.BACKOFF) : SEVERITY[p.state];
    if (trouble(p)) badHosts.set(p.host, (badHosts.get(p.host) || 0) + 1);
    if (hostSet.has(p.host) && procOk(f, p)) procs.push(p);
  }
  // With process-level terms, a host shows only if a process of it matches
  // (or, for plain text, its name matches).
  let shown = hosts;
  if (f.procTerms || f.text.length) {
    const withProc = new Set(procs.map((p) => p.host));
    shown = hosts.filter(
      (h) => withProc.has(h.name) || (f.text.length && !f.procTerms && f.text.every((t) => h.name.toLowerCase().includes(t))),
    );
  }
  // Worst first: down, stale, with troubled processes; then by name.
  // Plain code-unit order: localeCompare is ~10× slower on 10,000 rows.
  const rank = (h) => (hostDown(h) ? 0 : hostStale(h) ? 1 : badHosts.get(h.name) ? 2 : 3);
  shown.sort((a, b) => rank(a) - rank(b) || cmp(a.name, b.name));
  if (sorted) sortProcs(procs);
  return { f, hosts: shown, procs };
}

function countStates(procs) {
  const c = {};
  for (const s of STATES) c[s] = 0;
  for (const p of procs) c[p.state] = (c[p.state] || 0) + 1;
  return c;
}

// ---------------------------------------------------------------- pieces

const stBadge = (s) => `<span class="st st-${esc(s)}" data-state="${esc(s)}">${esc(s)}</span>`;

function hostBadge(h) {
  if (!h) return stBadge("DOWN");
  if (!h.up) return `<span class="st st-DOWN" title="${esc(h.error || "unreachable")}">DOWN</span>`;
  if (h.stale_ms > 0) return `<span class="st st-STALE" title="picture is ${Math.round(h.stale_ms / 1000)} s old">STALE</span>`;
  return `<span class="st st-UP">UP</span>`;
}

const hostClass = (h) => (!h || !h.up ? "down" : h.stale_ms > 0 ? "stale" : "");

function bar(counts, total) {
  if (!total) return `<div class="bar"></div>`;
  // Twenty 8px cells (an inline width would need style="", which the CSP
  // forbids).
  let cells = "";
  for (const s of STATES) {
    const n = Math.round((counts[s] / total) * 20);
    for (let i = 0; i < n; i++) cells += `<span class="b-${s}"></span>`;
  }
  return `<div class="bar bar20">${cells}</div>`;
}

// A green RUNNING count must not hide a crash loop.
function flapNote(procs) {
  const n = procs.filter(flapping).length;
  return n ? ` <span class="st st-FATAL">${n} flapping</span>` : "";
}

function stateSummary(counts) {
  return STATES.filter((s) => counts[s])
    .map((s) => `<span class="st st-${s}">${counts[s]} ${s}</span>`)
    .join(" ");
}

// A live process's description is its timing, computed from the data like
// fleet_api's ProcessInfo::timing ("pid 12, uptime 0:01:02"); the uptime
// is a ticking span (see tick()), so rows are not re-rendered each second.
function describe(p) {
  if ((p.state === "STARTING" || p.state === "RUNNING" || p.state === "STOPPING") && p.pid != null && p.started_at) {
    return `pid ${p.pid}, uptime ${when(p.started_at, "up")}`;
  }
  return esc(p.description);
}

function uptimeText(ms) {
  const s = Math.max(0, Math.floor((Date.now() - ms) / 1000));
  const two = (n) => String(n).padStart(2, "0");
  return `${Math.floor(s / 3600)}:${two(Math.floor(s / 60) % 60)}:${two(s % 60)}`;
}

function ago(ms) {
  if (!ms) return "—";
  const s = Math.max(0, Math.round((Date.now() - ms) / 1000));
  if (s < 60) return s + " s ago";
  if (s < 3600) return Math.round(s / 60) + " min ago";
  if (s < 86400) return Math.round(s / 3600) + " h ago";
  return new Date(ms).toLocaleString();
}

// A time that ticks by itself: "12 s ago" (fmt "ago") or an uptime.
function when(ms, fmt = "ago") {
  if (!ms) return "—";
  return `<span data-t="${ms}" data-fmt="${fmt}">${fmt === "up" ? uptimeText(ms) : ago(ms)}</span>`;
}

// Rewrite ticking times in place, once a second: text only, no rows.
function tick() {
  for (const e of document.querySelectorAll("[data-t]")) {
    const ms = +e.dataset.t;
    const t = e.dataset.fmt === "up" ? uptimeText(ms) : ago(ms);
    if (e.firstChild && e.firstChild.nodeValue !== t) e.firstChild.nodeValue = t;
  }
}

// "exit 1", "SIGKILL (core dumped)", "spawn failed: …" — for people.
function exitText(x) {
  if (!x) return "";
  let t = x.kind === "exited" ? `exit ${x.code ?? "?"}` : x.kind === "signaled" ? `SIG${x.signal || "?"}${x.core_dumped ? " (core dumped)" : ""}` : `spawn failed: ${x.message || "?"}`;
  if (x.stopped_by_us) t += ", stopped by fleet";
  else if (x.expected) t += " (expected)";
  return t;
}

// The row's one-line story: uptime when live, else the last exit, when,
// and how often it restarted: "exit 1, 12 s ago, 167 restarts".
function story(p) {
  const live = (p.state === "STARTING" || p.state === "RUNNING" || p.state === "STOPPING") && p.started_at;
  let t = live ? `${p.pid != null ? "pid " + p.pid + ", " : ""}up ${when(p.started_at, "up")}` : p.exit_status ? `${esc(exitText(p.exit_status))}, ${when(p.exit_status.at)}` : esc(p.description || "");
  if (p.restarts) t += `, ${p.restarts} restart${p.restarts === 1 ? "" : "s"}`;
  const r = recentExits(p);
  if (r >= FLAP_N) t += `, <b class="error">flapping (${r} exits in 10 min)</b>`;
  return t;
}

// Wanted vs actual: "wanted running" on a stopped one, and the reverse.
function wantedNote(p) {
  const up = p.state === "RUNNING" || p.state === "STARTING";
  if (p.wanted === "running" && !up && p.state !== "BACKOFF") return `<span class="want bad">wanted running</span>`;
  if (p.wanted === "stopped" && up) return `<span class="want">wanted stopped</span>`;
  return "";
}

const RISK = { start: "primary", stop: "danger", restart: "warn", signal: "warn" };

// Action buttons; nothing at all for a viewer. Each names what it acts on
// for screen readers ("restart web:web_00 on w-01").
function actButtons(spec, verbs = ["start", "stop", "restart"]) {
  if (!canAct()) return "";
  const data = esc(JSON.stringify(spec));
  const what = spec.what || (spec.multi === "procs" ? "the selected processes" : "every process on the selected hosts");
  return (
    `<span class="actions">` +
    verbs.map((v) => `<button type="button" class="small" data-act="${v}" data-spec="${data}" aria-label="${esc(v + " " + what)}">${v}</button>`).join("") +
    `</span>`
  );
}

function link(hash, text, cls = "") {
  return `<a href="${esc(hash)}" class="${cls}">${esc(text)}</a>`;
}

const hostHref = (h) => "#/host/" + enc(h);
const procHref = (h, n) => "#/proc/" + enc(h) + "/" + enc(n);
const withF = (hash, f) => hash + (f ? "?f=" + enc(f) : "");
const curF = () => S.route.params.get("f") || "";
// The filter joined with one more term (cards and links that narrow).
const andF = (term) => (curF() ? curF() + " " : "") + term;

function empty(text) {
  return `<div class="empty">${text}</div>`;
}

// ---------------------------------------------------------------- virtual list

class VList {
  constructor(id) {
    this.id = id;
    this.el = document.createElement("div");
    this.el.className = "vlist";
    this.el.dataset.list = id;
    this.head = document.createElement("div");
    this.spacer = document.createElement("div");
    this.spacer.className = "spacer";
    this.win = document.createElement("div");
    this.win.className = "vwin";
    this.spacer.append(this.win);
    this.el.append(this.head, this.spacer);
    this.rows = [];
    this.scrollTop = 0;
    this.el.addEventListener("scroll", () => {
      this.scrollTop = this.el.scrollTop;
      if (!this.pending) {
        this.pending = requestAnimationFrame(() => {
          this.pending = 0;
          this.paint();
        });
      }
    });
  }
  set(rows, { head, cls, row, key, rowClass }) {
    this.rows = rows;
    this.row = row;
    this.key = key;
    this.rowClass = rowClass || (() => "");
    this.cls = cls;
    this.head.className = "vhead " + cls;
    morphHTML(this.head, head);
    const R = rowH();
    this.spacer.style.height = rows.length * R + "px";
    const max = Math.max(240, window.innerHeight - 240);
    this.el.style.height = Math.min(max, rows.length * R + R + 4) + "px";
    this.paint();
  }
  paint() {
    const R = rowH();
    const top = this.el.scrollTop;
    const h = this.el.clientHeight || 800;
    const first = Math.max(0, Math.floor(top / R) - 8);
    const last = Math.min(this.rows.length, Math.ceil((top + h) / R) + 8);
    let html = "";
    for (let i = first; i < last; i++) {
      const r = this.rows[i];
      const k = this.key(r);
      const sel = this.selected && this.selected.has(k) ? " sel" : "";
      html += `<div class="vrow ${this.cls} ${this.rowClass(r)}${sel}" data-key="${esc(k)}" tabindex="-1">${this.row(r)}</div>`;
    }
    const tr = `translateY(${first * R}px)`;
    if (this.win.style.transform !== tr) this.win.style.transform = tr;
    // Patch rows in place (matched by data-key): a focused button, a
    // ticked box or an open <select> in a row outlives any update.
    if (html !== this.last) {
      morphHTML(this.win, html);
      this.last = html;
    }
  }
}

// ---------------------------------------------------------------- morph

// Make `el`'s children look like `html` while keeping every element that
// can stay: same tag and same key (data-key, id or data-mount) ⇒ the same
// node, attributes and text patched. Elements marked `_kept` (mounted
// lists, the log) are left alone.
function morphHTML(el, html) {
  const t = document.createElement("template");
  t.innerHTML = html;
  morphChildren(el, t.content);
}

const keyOf = (n) => (n.nodeType === 1 ? n.getAttribute("data-key") || n.id || n.getAttribute("data-mount") || null : null);

function sameKind(a, b) {
  return a.nodeType === b.nodeType && a.nodeName === b.nodeName && keyOf(a) === keyOf(b);
}

function morphChildren(old, neu) {
  const keyed = new Map();
  for (let c = old.firstChild; c; c = c.nextSibling) {
    const k = keyOf(c);
    if (k) keyed.set(k, c);
  }
  let cur = old.firstChild;
  for (const n of [...neu.childNodes]) {
    const k = keyOf(n);
    let match = null;
    if (k) {
      match = keyed.get(k) || null;
      if (match && match.nodeName !== n.nodeName) match = null;
      if (match) keyed.delete(k);
    } else if (cur && !keyOf(cur) && sameKind(cur, n)) match = cur;
    if (match) {
      if (match === cur) cur = cur.nextSibling;
      else if (match.contains(document.activeElement)) {
        // Moving a node drops focus: move what lies before it instead.
        const after = match.nextSibling;
        while (cur !== match) {
          const next = cur.nextSibling;
          old.insertBefore(cur, after);
          cur = next;
        }
        cur = match.nextSibling;
      } else old.insertBefore(match, cur);
      morphNode(match, n);
    } else old.insertBefore(n, cur);
  }
  while (cur) {
    const next = cur.nextSibling;
    old.removeChild(cur);
    cur = next;
  }
}

function morphNode(old, neu) {
  if (old.nodeType !== 1) {
    if (old.nodeValue !== neu.nodeValue) old.nodeValue = neu.nodeValue;
    return;
  }
  if (old._kept) return;
  // A mount placeholder whose kept element is already in place.
  for (const a of [...old.attributes]) if (!neu.hasAttribute(a.name) && a.name !== "style") old.removeAttribute(a.name);
  for (const a of neu.attributes) if (old.getAttribute(a.name) !== a.value) old.setAttribute(a.name, a.value);
  if (old.nodeName === "INPUT" && old.type === "checkbox") old.checked = neu.hasAttribute("checked");
  morphChildren(old, neu);
}

function list(id) {
  let l = S.lists.get(id);
  if (!l) {
    l = new VList(id);
    l.el.dataset.mount = id;
    l.el._kept = true;
    S.lists.set(id, l);
  }
  return l;
}

// Put list `id` where its placeholder is, keeping its scroll position.
function mountList(id) {
  const l = list(id);
  const ph = document.querySelector(`[data-mount="${id}"]`);
  if (ph && ph !== l.el) {
    ph.replaceWith(l.el);
    l.el.scrollTop = l.scrollTop;
  }
  return l;
}

function sortHead(key, label) {
  const cur = S.route.params.get("sort") || "severity";
  const on = cur.replace(/^-/, "") === key;
  const dir = on ? (cur.startsWith("-") ? "descending" : "ascending") : "none";
  return `<button type="button" class="sort${on ? " on" : ""}" data-sort="${key}" aria-sort="${dir}" aria-label="sort by ${label}">${label}${on ? (cur.startsWith("-") ? " ▲" : " ▼") : ""}</button>`;
}

function procRows(l, procs) {
  l.selected = canAct() ? S.sel : null;
  l.set(procs, {
    cls: "g-proc",
    head:
      `<span>${canAct() ? `<input type="checkbox" data-selall="${esc(l.id)}" aria-label="select all shown processes">` : ""}</span>` +
      `<span>${sortHead("host", "host")}</span><span>${sortHead("name", "process")}</span><span>${sortHead("severity", "state")}</span><span>${sortHead("restarts", "restarts")}</span><span>${sortHead("uptime", "uptime / last exit")}</span><span>${canAct() ? "actions" : ""}</span>`,
    key: (p) => pkey(p.host, p.name),
    rowClass: (p) => hostClass(S.hosts.get(p.host)) + (S.hosts.get(p.host) && S.hosts.get(p.host).up ? "" : " dim"),
    row: (p) => {
      const k = pkey(p.host, p.name);
      const what = `${p.name} on ${p.host}`;
      return (
        `<span class="c-sel">${canAct() ? `<input type="checkbox" data-sel="${esc(k)}"${S.sel.has(k) ? " checked" : ""} aria-label="${esc("select " + what)}">` : ""}</span>` +
        `<span class="c-host">${link(hostHref(p.host), p.host)}</span>` +
        `<span class="c-name">${link(procHref(p.host, p.name), p.name, "mono")}</span>` +
        `<span class="c-state">${stBadge(p.state)} ${wantedNote(p)}</span>` +
        `<span class="c-restarts mono" data-pid="${p.pid == null ? "" : p.pid}" title="restarts">${p.restarts || 0}</span>` +
        `<span class="c-story sub">${story(p)}</span>` +
        `<span class="c-act">${actButtons({ target: p.name, hosts: p.host, what }, ["start", "stop", "restart", "signal"])}</span>`
      );
    },
  });
}

function hostRows(l, hosts, procs) {
  const byHost = new Map();
  for (const p of procs) {
    let a = byHost.get(p.host);
    if (!a) byHost.set(p.host, (a = []));
    a.push(p);
  }
  l.selected = canAct() ? S.hostSel : null;
  l.set(hosts, {
    cls: "g-host",
    head:
      `<span>${canAct() ? `<input type="checkbox" data-hostselall="${esc(l.id)}" aria-label="select all hosts">` : ""}</span>` +
      `<span>host</span><span>status</span><span>host groups</span><span>procs</span><span>states</span><span>summary</span><span>${canAct() ? "actions (all processes)" : ""}</span>`,
    key: (h) => h.name,
    rowClass: (h) => hostClass(h),
    row: (h) => {
      const ps = byHost.get(h.name) || [];
      const c = countStates(ps);
      const bad = STATES.filter((s) => BAD.has(s) && c[s]).map((s) => `${c[s]} ${s}`);
      const summary = !h.up ? esc(h.error || "unreachable") : bad.length ? bad.join(", ") : ps.length ? "all fine" : "no processes";
      return (
        `<span>${canAct() ? `<input type="checkbox" data-hostsel="${esc(h.name)}"${S.hostSel.has(h.name) ? " checked" : ""} aria-label="${esc("select host " + h.name)}">` : ""}</span>` +
        `<span>${link(hostHref(h.name), h.name)}</span>` +
        `<span>${hostBadge(h)}</span>` +
        `<span class="sub">${esc((h.groups || []).join(", "))}</span>` +
        `<span>${ps.length}</span>` +
        `<span>${bar(c, ps.length)}</span>` +
        `<span class="sub${bad.length || !h.up ? " error" : ""}" title="${summary}">${summary}</span>` +
        `<span class="c-act">${actButtons({ target: "all", hosts: h.name, what: `every process on ${h.name}` })}</span>`
      );
    },
  });
}

// ---------------------------------------------------------------- views

// A program group across the (filtered) fleet: the selector the operator
// means (`all`, `web-*`, `@workers`) when the filter names hosts that way,
// else the hosts shown.
function groupSpec(name, hosts) {
  const meant = hostsMeant();
  const list = [...hosts].sort().join(",");
  const sel = meant === undefined ? undefined : meant === null ? list : meant;
  return { target: "group:" + name, hosts: sel, nhosts: hosts.size, what: `program group ${name} on ${sel === undefined ? "all hosts" : sel === list && hosts.size > 3 ? hosts.size + " hosts" : sel}`, fleet: true };
}

function groupTable(procs, f) {
  const groups = new Map();
  for (const p of procs) {
    let g = groups.get(p.group);
    if (!g) groups.set(p.group, (g = { procs: [], hosts: new Set() }));
    g.procs.push(p);
    g.hosts.add(p.host);
  }
  if (!groups.size) return empty(S.loaded ? "No program group matches." : "Loading…");
  let rows = "";
  for (const name of [...groups.keys()].sort()) {
    const g = groups.get(name);
    const c = countStates(g.procs);
    rows +=
      `<tr data-group="${esc(name)}"><td>${link("#/group/" + enc(name) + (f ? "?f=" + enc(f) : ""), name)}</td>` +
      `<td>${g.hosts.size}</td><td>${g.procs.length}</td><td>${bar(c, g.procs.length)}</td><td>${stateSummary(c)}${flapNote(g.procs)}</td>` +
      `<td>${actButtons(groupSpec(name, g.hosts))}</td></tr>`;
  }
  return `<div class="scroll-x"><table class="groups"><thead><tr><th>program group</th><th>hosts</th><th>processes</th><th>states</th><th></th><th>${canAct() ? "across the fleet" : ""}</th></tr></thead><tbody>${rows}</tbody></table></div>`;
}

function hostGroupTable(hosts, procs) {
  const byHost = new Map();
  for (const p of procs) {
    let a = byHost.get(p.host);
    if (!a) byHost.set(p.host, (a = []));
    a.push(p);
  }
  const groups = new Map();
  for (const h of hosts) {
    for (const g of h.groups && h.groups.length ? h.groups : ["(no group)"]) {
      let e = groups.get(g);
      if (!e) groups.set(g, (e = { hosts: [], procs: [] }));
      e.hosts.push(h);
      e.procs.push(...(byHost.get(h.name) || []));
    }
  }
  if (!groups.size) return empty("No host matches.");
  let rows = "";
  for (const name of [...groups.keys()].sort()) {
    const e = groups.get(name);
    const up = e.hosts.filter((h) => h.up).length;
    const c = countStates(e.procs);
    const href = name === "(no group)" ? "#/hosts" : "#/hosts?f=" + enc("hg:" + name);
    rows +=
      `<tr data-hostgroup="${esc(name)}"><td>${link(href, name)}</td><td>${up}/${e.hosts.length}${up < e.hosts.length ? ` <span class="st st-DOWN">${e.hosts.length - up} down</span>` : ""}</td>` +
      `<td>${e.procs.length}</td><td>${bar(c, e.procs.length)}</td><td>${stateSummary(c)}${flapNote(e.procs)}</td>` +
      `<td>${name === "(no group)" ? "" : actButtons({ target: "all", hosts: "@" + name, nhosts: e.hosts.length, what: `every process on host group ${name} (${e.hosts.length} hosts)`, fleet: true })}</td></tr>`;
  }
  return `<div class="scroll-x"><table class="hostgroups"><thead><tr><th>host group</th><th>hosts up</th><th>processes</th><th>states</th><th></th><th></th></tr></thead><tbody>${rows}</tbody></table></div>`;
}

const VIEWS = {
  overview() {
    const { hosts, procs } = filtered(false);
    const f = curF();
    const up = hosts.filter((h) => h.up && !(h.stale_ms > 0)).length;
    const down = hosts.filter(hostDown).length;
    const stale = hosts.filter(hostStale).length;
    const c = countStates(procs);
    const flap = procs.filter(flapping).length;
    const unwanted = procs.filter((p) => p.wanted === "running" && p.state === "STOPPED").length;
    let html = `<h1>Fleet overview</h1>`;
    // Trouble first: every problem is a card linking to its filtered list.
    let bad = "";
    for (const s of ["FATAL", "BACKOFF", "EXITED"]) if (c[s]) bad += card(c[s], s, "bad", withF("#/processes", andF("state:" + s.toLowerCase())), "trouble-" + s);
    if (flap) bad += card(flap, "flapping", "bad", withF("#/processes", andF("is:flapping")), "trouble-flapping");
    if (unwanted) bad += card(unwanted, "stopped, wanted running", "warn", withF("#/processes", andF("state:stopped is:trouble")), "trouble-unwanted");
    if (down) bad += card(down, "hosts down", "bad", withF("#/hosts", andF("is:down")), "trouble-down");
    if (stale) bad += card(stale, "hosts stale", "warn", withF("#/hosts", andF("is:stale")), "trouble-stale");
    if (S.loaded) {
      html += bad
        ? `<section class="trouble" aria-label="problems"><h2>Needs attention</h2><div class="cards">${bad}</div>${troubleTable(procs)}</section>`
        : `<p class="allgood" role="status">No problems: ${up} host(s) up, ${c.RUNNING} process(es) running.</p>`;
    }
    html += `<h2>Fleet</h2><div class="cards">` + card(hosts.length, "hosts", "", withF("#/hosts", f)) + card(up, "up", "ok", withF("#/hosts", andF("is:up"))) + card(down, "down", down ? "bad" : "", withF("#/hosts", andF("is:down"))) + card(stale, "stale", stale ? "warn" : "", withF("#/hosts", andF("is:stale"))) + card(procs.length, "processes", "", withF("#/processes", f));
    for (const s of STATES) {
      if (!c[s] && s !== "RUNNING") continue;
      const cls = s === "RUNNING" ? "ok" : BAD.has(s) ? "bad" : s === "STOPPED" ? "" : "warn";
      html += card(c[s], s, cls, withF("#/processes", andF("state:" + s.toLowerCase())), s);
    }
    html += `</div>`;
    if (!S.loaded) html += S.loadError ? `<div class="banner">Could not read the fleet: ${esc(S.loadError)}</div>` : empty("Loading the fleet…");
    else if (!S.hosts.size) html += empty("No agents yet. List them under <code>[[agent]]</code> in console.toml, or let agents register with the enrollment token.");
    html += `<h2>Program groups across the fleet</h2>` + groupTable(procs, f);
    html += `<h2>Host groups</h2>` + hostGroupTable(hosts, procs);
    setView(html);
  },
  hosts() {
    const { hosts, procs } = filtered();
    for (const n of [...S.hostSel]) if (!hosts.some((h) => h.name === n)) S.hostSel.delete(n);
    let html = `<h1>Hosts <span class="sub">${hosts.length} of ${S.hosts.size}</span></h1>` + selectionBar();
    html += hosts.length ? `<div data-mount="hosts"></div>` : empty(S.loaded ? "No host matches the filter. <kbd>Esc</kbd> clears it." : "Loading…");
    setView(html);
    if (hosts.length) hostRows(mountList("hosts"), hosts, procs);
  },
  hostgroups() {
    const { hosts, procs } = filtered(false);
    setView(`<h1>Host groups</h1>` + hostGroupTable(hosts, procs));
  },
  groups() {
    const { procs } = filtered(false);
    setView(`<h1>Program groups across the fleet</h1>` + groupTable(procs, S.route.params.get("f") || ""));
  },
  group([name]) {
    const { procs } = filtered();
    const mine = procs.filter((p) => p.group === name);
    keepShown(mine);
    const hosts = [...new Set(mine.map((p) => p.host))].sort();
    const c = countStates(mine);
    let html = `<h1>Program group <code>${esc(name)}</code> <span class="sub">${mine.length} processes on ${hosts.length} hosts</span></h1>`;
    html += `<div class="toolbar">${stateSummary(c)} ${hosts.length ? actButtons(groupSpec(name, new Set(hosts))) : ""}</div>`;
    html += selectionBar();
    html += mine.length ? `<div data-mount="group"></div>` : empty(S.loaded ? "No process of this group matches." : "Loading…");
    setView(html);
    if (mine.length) procRows(mountList("group"), mine);
  },
  processes() {
    const { procs } = filtered();
    keepShown(procs);
    let html = `<h1>Processes <span class="sub">${procs.length} of ${S.procs.size}</span></h1>` + selectionBar();
    html += procs.length ? `<div data-mount="procs"></div>` : empty(S.loaded ? "No process matches the filter. <kbd>Esc</kbd> clears it." : "Loading…");
    setView(html);
    if (procs.length) procRows(mountList("procs"), procs);
  },
  host([name]) {
    const h = S.hosts.get(name);
    if (!h) return setView(S.loaded ? empty(`No host named <code>${esc(name)}</code>.`) : empty("Loading…"));
    // The filter narrows this host's processes; it never leaves the host.
    const f = parseFilter(curF());
    const procs = [...S.procs.values()].filter((p) => p.host === name && procOk(f, p));
    sortProcs(procs);
    let html = `<h1>${esc(name)} ${hostBadge(h)}</h1>`;
    if (!h.up) html += `<div class="banner">Agent unreachable: ${esc(h.error || "no event stream")}. Processes below are the last known picture${h.last_seen ? " (" + ago(h.last_seen) + ")" : ""}.</div>`;
    html += `<dl class="kv"><dt>url</dt><dd class="mono">${esc(h.url)}</dd><dt>version</dt><dd>${esc(h.version || "—")}</dd><dt>last seen</dt><dd>${when(h.last_seen)}</dd><dt>host groups</dt><dd>${esc((h.groups || []).join(", ") || "—")}</dd><dt>tags</dt><dd>${esc(Object.entries(h.tags || {}).map(([k, v]) => k + "=" + v).join(", ") || "—")}</dd><dt>source</dt><dd>${esc(h.source)}</dd></dl>`;
    html += `<div class="toolbar"><b>All processes on ${esc(name)}:</b> ${actButtons({ target: "all", hosts: name, what: `every process on ${name}` })}</div>`;
    const groups = [...new Set(procs.map((p) => p.group))].sort();
    if (!procs.length) html += empty(f.any ? "No process of this host matches the filter." : "No processes known on this host.");
    for (const g of groups) {
      const ps = procs.filter((p) => p.group === g);
      html += `<h2>${esc(g)} <span class="sub">${ps.length}</span> ${actButtons({ target: "group:" + g, hosts: name, what: `program group ${g} on ${name}` })}</h2>`;
      html += `<div class="scroll-x"><table class="procs"><thead><tr><th>process</th><th>state</th><th>restarts</th><th>uptime / last exit</th><th></th></tr></thead><tbody>`;
      for (const p of ps) {
        html += `<tr data-key="${esc(pkey(p.host, p.name))}"><td>${link(procHref(p.host, p.name), p.name, "mono")}</td><td>${stBadge(p.state)} ${wantedNote(p)}</td><td class="mono" data-pid="${p.pid == null ? "" : p.pid}">${p.restarts || 0}</td><td class="sub">${story(p)}</td><td>${actButtons({ target: p.name, hosts: p.host, what: `${p.name} on ${p.host}` }, ["start", "stop", "restart", "signal"])}</td></tr>`;
      }
      html += `</tbody></table></div>`;
    }
    setView(html);
  },
  proc([host, name]) {
    const p = S.procs.get(pkey(host, name));
    const h = S.hosts.get(host);
    const want = S.route.params.get("stream");
    const stream = want === "stdout" || want === "stderr" ? want : "both";
    let html = `<h1><code>${esc(name)}</code> on ${link(hostHref(host), host)} ${p ? stBadge(p.state) : ""}</h1>`;
    if (h && !h.up) html += `<div class="banner">Agent unreachable: ${esc(h.error || "")}. The log tail needs the agent.</div>`;
    if (p) {
      html += `<dl class="kv"><dt>state</dt><dd>${stBadge(p.state)} since ${when(p.state_since)} ${wantedNote(p)}</dd><dt>wanted</dt><dd>${esc(p.wanted)}</dd><dt>pid</dt><dd class="mono" data-pid="${p.pid == null ? "" : p.pid}">${p.pid == null ? "—" : p.pid}</dd><dt>now</dt><dd>${story(p)}</dd><dt>description</dt><dd>${describe(p)}</dd><dt>group / program</dt><dd>${esc(p.group)} / ${esc(p.program)}</dd><dt>restarts</dt><dd>${p.restarts}</dd></dl>`;
      html += `<div class="toolbar">${actButtons({ target: p.name, hosts: p.host, what: `${p.name} on ${p.host}` }, ["start", "stop", "restart", "signal"])}</div>`;
      html += `<h2>Last exits <span class="sub">${(p.exits || []).length}, newest first</span></h2>` + exitsTable(p);
    } else if (S.loaded) html += empty("This process is not in the console's picture.");
    const base = procHref(host, name);
    const seg = (k, label) => `<a class="btn small${stream === k ? " on" : ""}" href="${base}?stream=${k}" data-stream="${k}"${stream === k ? ' aria-current="true"' : ""}>${label}</a>`;
    html += `<h2>Log <span class="seg">${seg("both", "stdout + stderr")} ${seg("stdout", "stdout")} ${seg("stderr", "stderr")}</span> <button type="button" class="small" data-download="log">download shown</button> ${["stdout", "stderr"].map((st) => `<a class="small" data-file="${st}" href="/v1/hosts/${enc(host)}/processes/${enc(name)}/log/file?stream=${st}" download>${st} log file</a>`).join(" ")} <span class="sub" id="log-state"></span></h2>`;
    html += `<div data-mount="log"></div>`;
    setView(html);
    const key = host + "\0" + name + "\0" + stream;
    if (!S.log || S.log.key !== key) startLog(host, name, stream, key);
    const ph = $(`[data-mount="log"]`);
    if (ph && ph !== S.log.pre) ph.replaceWith(S.log.pre);
  },
  ops() {
    const q = S.route.params;
    const sel = (k, opts) => `<label>${k} <select data-opsfilter="${k}" aria-label="filter operations by ${k}"><option value="">any</option>${opts.map((o) => `<option${q.get(k) === o ? " selected" : ""}>${o}</option>`).join("")}</select></label>`;
    const inp = (k) => `<label>${k} <input data-opsfilter="${k}" size="12" value="${esc(q.get(k) || "")}" aria-label="filter operations by ${k}"></label>`;
    let html = `<h1>Operations</h1><form class="toolbar" id="ops-filter">${sel("action", ["start", "stop", "restart", "signal"])} ${sel("result", ["ok", "failed", "running", "aborted", "interrupted"])} ${inp("who")} ${inp("target")}</form>`;
    if (!S.opsLoaded) html += empty("Loading…");
    else if (!S.ops.length) html += empty(q.toString() ? "No operation matches." : "No operations yet.");
    else {
      html += `<div class="scroll-x"><table class="ops"><thead><tr><th>when</th><th>who</th><th>action</th><th>target</th><th>hosts</th><th>strategy</th><th>state</th><th>took</th><th>outcome</th></tr></thead><tbody>`;
      for (const op of S.ops) {
        const r = op.request;
        const target = r.only && r.only.length ? `${r.only.length} selected process(es)` : r.target;
        html += `<tr data-op="${esc(op.id)}" data-key="${esc(op.id)}"><td>${link("#/op/" + enc(op.id), ago(op.created_at))}</td><td>${esc(op.who)}</td><td>${esc(r.action)}${r.signal ? " " + esc(r.signal) : ""}</td><td class="mono">${esc(target)}</td><td class="mono">${esc(r.hosts || "all")}</td><td>${esc(r.strategy)}${r.batch ? " " + esc(r.batch) : ""}</td><td>${esc(op.state)}</td><td>${took(op)}</td><td>${verdictSummary(op)}</td></tr>`;
      }
      html += `</tbody></table></div>`;
      const off = +(q.get("offset") || 0);
      html += `<div class="toolbar">${off ? `<button type="button" data-page="${Math.max(0, off - OPS_PAGE)}">newer</button>` : ""}${S.opsNext != null ? `<button type="button" data-page="${S.opsNext}">older</button>` : ""}</div>`;
    }
    setView(html);
  },
  op([id]) {
    const op = S.opDetail && S.opDetail.id === id ? S.opDetail : null;
    if (!op) return setView(S.opError ? `<div class="banner">${esc(S.opError)}</div>` : empty("Loading…"));
    const r = op.request;
    let html = `<h1>Operation <code>${esc(op.id)}</code></h1><dl class="kv"><dt>what</dt><dd>${esc(r.action)}${r.signal ? " " + esc(r.signal) : ""} <code>${esc(r.target)}</code> on <code>${esc(r.hosts || "all")}</code>${r.only && r.only.length ? ` — exactly: <code>${esc(r.only.join(", "))}</code>` : ""}</dd><dt>who</dt><dd>${esc(op.who)}${op.source ? ` from <code>${esc(op.source)}</code>` : ""}</dd><dt>when</dt><dd>${new Date(op.created_at).toLocaleString()}</dd><dt>strategy</dt><dd>${esc(r.strategy)}${r.batch ? ", batch " + esc(r.batch) : ""}${r.max_failures != null ? ", max failures " + r.max_failures : ""}</dd><dt>state</dt><dd>${esc(op.state)}${op.state === "interrupted" ? INTERRUPTED_NOTE : ""}</dd><dt>took</dt><dd>${took(op)}</dd><dt>outcome</dt><dd>${verdictSummary(op)}</dd></dl>`;
    html += `<h2>Per host</h2>` + verdictTable(op);
    setView(html);
  },
};

// The worst processes (at most 12), worst first, with their story.
function troubleTable(procs) {
  const bad = procs.filter(trouble);
  sortProcs(bad);
  if (!bad.length) return "";
  let rows = "";
  for (const p of bad.slice(0, 12)) {
    rows += `<tr data-key="${esc(pkey(p.host, p.name))}"><td>${link(hostHref(p.host), p.host)}</td><td>${link(procHref(p.host, p.name), p.name, "mono")}</td><td>${stBadge(p.state)} ${wantedNote(p)}</td><td class="sub">${story(p)}</td></tr>`;
  }
  const more = bad.length > 12 ? `<p>${link(withF("#/processes", andF("is:trouble")), `all ${bad.length} processes in trouble`)}</p>` : "";
  return `<div class="scroll-x"><table class="trouble-list"><thead><tr><th>host</th><th>process</th><th>state</th><th>what happened</th></tr></thead><tbody>${rows}</tbody></table></div>${more}`;
}

// Tab title and icon carry the count of problems across the whole fleet.
let lastBadge = -1;
function badge() {
  let n = 0;
  for (const p of S.procs.values()) if (trouble(p)) n++;
  for (const h of S.hosts.values()) if (!h.up) n++;
  if (n === lastBadge) return;
  lastBadge = n;
  document.title = n ? `(${n}) fleet console` : "fleet console";
  const icon = document.querySelector("link[rel=icon]");
  if (!icon) return;
  if (!n) icon.href = "/ui/favicon.svg";
  else {
    const svg = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16"><rect width="16" height="16" rx="3" fill="#dc2626"/><text x="8" y="12" font-size="${n > 99 ? 7 : 10}" text-anchor="middle" fill="#fff" font-family="sans-serif" font-weight="700">${n > 999 ? "!" : n}</text></svg>`;
    icon.href = "data:image/svg+xml," + encodeURIComponent(svg);
  }
}

function exitsTable(p) {
  const xs = (p.exits || []).slice().reverse();
  if (!xs.length) return `<p class="sub">No exit recorded since the agent started.</p>`;
  let rows = "";
  for (const x of xs) {
    rows += `<tr><td>${when(x.at)}</td><td class="mono">${new Date(x.at).toLocaleString()}</td><td>${esc(exitText(x))}</td><td>${x.expected ? "yes" : "no"}</td><td>${x.stopped_by_us ? "yes" : "no"}</td><td>${esc(x.message || "")}</td></tr>`;
  }
  return `<div class="scroll-x"><table class="exits"><thead><tr><th>when</th><th>at</th><th>how</th><th>expected</th><th>stopped by fleet</th><th>message</th></tr></thead><tbody>${rows}</tbody></table></div>`;
}

function card(n, label, cls, href, state) {
  return `<a class="card ${cls}" href="${esc(href)}"${state ? ` data-count="${state}"` : ` data-count="${esc(label)}"`}><div class="n">${n}</div><div class="l">${esc(label)}</div></a>`;
}

// What is selected is what is shown: rows a filter hides leave the
// selection, so an action never touches a process the operator cannot see.
function keepShown(procs) {
  if (!S.sel.size) return;
  const shown = new Set(procs.map((p) => pkey(p.host, p.name)));
  for (const k of [...S.sel]) if (!shown.has(k)) S.sel.delete(k);
}

// The host selector the operator means by the current filter: all hosts,
// a host glob or a host group — not the list it expands to today.
function hostsMeant() {
  const f = parseFilter(curF());
  if (f.hostIs.length) return null;
  if (f.raw.host && !f.raw.hg) return f.raw.host;
  if (f.raw.hg && !f.raw.host) return f.raw.hg.split(",").map((g) => "@" + g).join(",");
  if (!f.raw.host && !f.raw.hg) return undefined;
  return null;
}

function selectionBar() {
  if (!canAct()) return "";
  const np = S.sel.size;
  const nh = S.hostSel.size;
  if (!np && !nh) return `<div class="toolbar sub">Tick rows to act on several at once.</div>`;
  let html = `<div class="toolbar selection">`;
  if (np) html += `<b>${np} selected process(es):</b> ${actButtons({ multi: "procs" }, ["start", "stop", "restart", "signal"])} <button type="button" class="small" data-clear="procs">clear</button>`;
  if (nh) html += ` <b>${nh} selected host(s), all processes:</b> ${actButtons({ multi: "hosts" })} <button type="button" class="small" data-clear="hosts">clear</button>`;
  return html + `</div>`;
}

// The console stopped while the op ran; pending hosts were in flight and
// wait for their agent to tell what it did.
const INTERRUPTED_NOTE = ` <span class="v-pending">— the console stopped during this operation; each host shows what really happened to it (in flight: read from its agent once reachable)</span>`;

function verdictSummary(op) {
  const c = {};
  for (const h of op.hosts) c[h.verdict] = (c[h.verdict] || 0) + 1;
  return ["ok", "failed", "unreachable", "pending", "skipped"]
    .filter((v) => c[v])
    .map((v) => `<span class="v-${v}">${c[v]} ${v}</span>`)
    .join(", ") || "—";
}

const VERDICT_RANK = { failed: 0, unreachable: 1, pending: 2, skipped: 3, ok: 4 };

// Failures first, so a 500-host result starts with what went wrong.
function verdictTable(op) {
  let html = `<div class="scroll-x"><table class="verdicts"><thead><tr><th>host</th><th>batch</th><th>verdict</th><th>message</th><th>processes</th></tr></thead><tbody>`;
  const hosts = op.hosts.slice().sort((a, b) => VERDICT_RANK[a.verdict] - VERDICT_RANK[b.verdict] || cmp(a.host, b.host));
  for (const h of hosts) {
    const procs = (h.processes || []).map((p) => `<div class="mono">${esc(p.name)}: ${esc(p.outcome)} → ${esc(p.state)}${p.pid ? " pid " + p.pid : ""}${p.message ? " — " + esc(p.message) : ""}</div>`).join("");
    html += `<tr data-host="${esc(h.host)}" data-key="${esc(h.host)}" data-verdict="${esc(h.verdict)}"><td>${link(hostHref(h.host), h.host)}</td><td>${h.batch || ""}</td><td class="v-${esc(h.verdict)}">${esc(h.verdict)}</td><td>${esc(h.message || "")}</td><td>${procs}</td></tr>`;
  }
  return html + `</tbody></table></div>`;
}

function setView(html) {
  const v = $("#view");
  if (v._html === html) return;
  v._html = html;
  morphHTML(v, html);
}

function render() {
  if (!S.me) return;
  const r = S.route;
  const fn = VIEWS[r.view] || VIEWS.overview;
  // Keep scroll positions of lists before the view's HTML is replaced.
  for (const l of S.lists.values()) if (l.el.isConnected) l.scrollTop = l.el.scrollTop;
  fn(r.args);
  badge();
  // Nav links carry the filter (each view applies what it understands).
  const f = curF();
  for (const a of document.querySelectorAll("#nav a")) {
    a.classList.toggle("active", a.dataset.view === r.view);
    if (a.dataset.view === r.view) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
    const base = a.dataset.view === "overview" ? "#/" : "#/" + a.dataset.view;
    const href = a.dataset.view === "ops" ? base : withF(base, f);
    if (a.getAttribute("href") !== href) a.setAttribute("href", href);
  }
}

// ---------------------------------------------------------------- log tail

// The log: the last TAIL bytes of each stream (from its first full line),
// each line with the time the agent read it (`timestamps=true`; lines older
// than the agent's index of receive times show none), then new output as it
// arrives, stdout and stderr interleaved by arrival with the time the page
// received each line. stderr lines are marked and coloured.
const TAIL = 65536;
const LOG_LINES = 20000;

function startLog(host, name, stream, key) {
  if (S.log) S.log.ctrl.abort();
  const pre = document.createElement("pre");
  pre.className = "log";
  pre.id = "log";
  pre.dataset.mount = "log";
  pre._kept = true;
  pre.tabIndex = 0;
  pre.setAttribute("aria-label", `log of ${name} on ${host}`);
  const ctrl = new AbortController();
  S.log = { key, ctrl, pre };
  const state = (t) => {
    const el = $("#log-state");
    if (el) el.textContent = t;
  };
  const base = `/v1/hosts/${enc(host)}/processes/${enc(name)}/log?stream=`;
  const streams = stream === "both" ? ["stdout", "stderr"] : [stream];
  // `times`: the agent's receive time (unix ms or null) per line of a tail.
  const add = (st, text, live, times) => {
    const atEnd = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
    const frag = document.createDocumentFragment();
    const now = live ? new Date().toLocaleTimeString() + " " : "";
    text.split("\n").forEach((line, i) => {
      const e = document.createElement("span");
      e.className = "ln" + (st === "stderr" ? " err" : "");
      // Shown by CSS, so the line's text stays the program's.
      if (times) e.dataset.time = times[i] ? new Date(times[i]).toLocaleTimeString() : "--:--:--";
      e.textContent = (stream === "both" && st === "stderr" ? "err│ " : "") + now + line + "\n";
      frag.append(e);
    });
    pre.append(frag);
    while (pre.childNodes.length > LOG_LINES) pre.firstChild.remove();
    if (atEnd) pre.scrollTop = pre.scrollHeight;
  };
  const fail = async (r) => {
    let m = r.status + "";
    try {
      m = (await r.json()).error.message;
    } catch (_) {
      /* keep status */
    }
    return m;
  };
  const tails = streams.map(async (st) => {
    const r = await fetch(base + st + "&tail=" + TAIL + "&timestamps=true", { signal: ctrl.signal, credentials: "same-origin", cache: "no-store" });
    if (!r.ok) throw new Error(await fail(r));
    // Lines of "MS<tab>LINE" (MS empty when the agent no longer knows).
    const lines = (await r.text()).replace(/\n$/, "").split("\n");
    let times = [];
    let text = [];
    let size = 0;
    if (lines.length > 1 || lines[0] !== "") {
      for (const l of lines) {
        const tab = l.indexOf("\t");
        times.push(tab > 0 ? Number(l.slice(0, tab)) : null);
        text.push(l.slice(tab + 1));
        size += l.length - tab;
      }
    }
    // A full tail may start mid-line: drop its first line.
    if (size >= TAIL - 4 && text.length > 1) {
      text = text.slice(1);
      times = times.slice(1);
    }
    return [st, text.join("\n"), times];
  });
  (async () => {
    try {
      for (const [st, text, times] of await Promise.all(tails)) {
        if (stream === "both") {
          const h = document.createElement("span");
          h.className = "ln mark";
          h.textContent = `── ${st}: last ${text.length ? text.split("\n").length : 0} line(s) ──\n`;
          pre.append(h);
        }
        if (text) add(st, text, false, times);
      }
      if (stream === "both") add("stdout", "── live, both streams, by arrival ──", false);
      state("following…");
      await Promise.all(streams.map((st) => followStream(st)));
      state("stream ended");
    } catch (e) {
      if (e.name !== "AbortError") {
        state("log unavailable");
        add("stderr", "Log unavailable: " + e.message, false);
      }
    }
  })();
  async function followStream(st) {
    const r = await fetch(base + st + "&tail=0&follow=true", { signal: ctrl.signal, credentials: "same-origin", cache: "no-store" });
    if (!r.ok) throw new Error(await fail(r));
    const reader = r.body.getReader();
    const dec = new TextDecoder();
    let partial = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      partial += dec.decode(value, { stream: true });
      const cut = partial.lastIndexOf("\n");
      if (cut < 0) continue;
      add(st, partial.slice(0, cut), true);
      partial = partial.slice(cut + 1);
    }
    if (partial) add(st, partial, true);
  }
}

function stopLog() {
  if (S.log) S.log.ctrl.abort();
  S.log = null;
}

// ---------------------------------------------------------------- routing

function parseHash() {
  const h = location.hash.replace(/^#\/?/, "");
  const [path, query] = h.split("?");
  const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
  return { view: parts[0] || "overview", args: parts.slice(1), params: new URLSearchParams(query || "") };
}

function onRoute() {
  const old = S.route;
  S.route = parseHash();
  const r = S.route;
  if (r.view !== "proc") stopLog();
  const f = r.params.get("f") || "";
  const input = $("#filter");
  if (document.activeElement !== input && input.value !== f) input.value = f;
  if (r.view === "ops") loadOps();
  if (r.view === "op") loadOp(r.args[0]);
  if (old.view !== r.view) {
    for (const l of S.lists.values()) l.scrollTop = 0;
    window.scrollTo(0, 0);
  }
  render();
}

// The filter edits the current hash in place (no history entry per key).
let filterTimer = 0;
function onFilterInput() {
  clearTimeout(filterTimer);
  filterTimer = setTimeout(() => {
    const r = parseHash();
    const v = $("#filter").value.trim();
    if (v) r.params.set("f", v);
    else r.params.delete("f");
    // A host page filters its own processes; other detail pages land on
    // the matching list.
    let parts = [r.view, ...r.args];
    if (["proc", "op", "ops"].includes(r.view)) parts = ["processes"];
    r.params.delete("stream");
    const path = r.view === "overview" ? "#/" : "#/" + parts.map(enc).join("/");
    const qs = r.params.toString();
    history.replaceState(null, "", path + (qs ? "?" + qs : ""));
    onRoute();
  }, 120);
}

// ---------------------------------------------------------------- ops

const OPS_PAGE = 100;

function took(op) {
  const end = op.finished_at || (op.state === "running" ? Date.now() : null);
  if (!end) return "—";
  const ms = Math.max(0, end - op.created_at);
  return ms < 1000 ? ms + " ms" : ms < 60000 ? (ms / 1000).toFixed(1) + " s" : Math.round(ms / 60000) + " min";
}

async function loadOps() {
  const q = new URLSearchParams();
  for (const k of ["action", "result", "who", "target", "offset"]) if (S.route.params.get(k)) q.set(k, S.route.params.get(k));
  q.set("limit", OPS_PAGE);
  try {
    const r = await api("GET", "/v1/ops?" + q);
    S.ops = r.ops;
    S.opsNext = r.next_offset == null ? null : r.next_offset;
    S.opsLoaded = true;
  } catch (e) {
    S.ops = [];
    S.opsLoaded = true;
    $("#banner").hidden = false;
    $("#banner").textContent = "Could not read operations: " + e.message;
  }
  render();
}

async function loadOp(id) {
  S.opError = null;
  try {
    let op = await api("GET", "/v1/ops/" + enc(id));
    S.opDetail = op;
    render();
    // Long-poll while it runs and the page still shows it.
    while (op.state === "running" && S.route.view === "op" && S.route.args[0] === id) {
      const after = op.hosts.filter((h) => h.verdict !== "pending").length;
      op = await api("GET", `/v1/ops/${enc(id)}?after=${after}`);
      S.opDetail = op;
      render();
    }
  } catch (e) {
    S.opError = e.message;
    render();
  }
}

function opEvent(op) {
  const i = S.ops.findIndex((o) => o.id === op.id);
  if (i >= 0) S.ops[i] = op;
  else if (S.opsLoaded) S.ops.unshift(op);
  if (S.opDetail && S.opDetail.id === op.id) S.opDetail = op;
  if (D.ops && D.ops.some((o) => o.id === op.id)) dialogOp(op);
}

// ---------------------------------------------------------------- action dialog

// D: the dialog's current job: one OpRequest (a multi-row selection is one
// operation too, through `only`).
const D = { req: null, ops: null, fleet: false };

function specToReq(verb, spec) {
  if (spec.multi === "procs") {
    const keys = [...S.sel].sort();
    const hosts = [...new Set(keys.map((k) => k.slice(0, k.indexOf("/"))))].sort();
    return { what: `${keys.length} selected process(es) on ${hosts.length} host(s)`, fleet: hosts.length > 1, req: { action: verb, target: "all", hosts: hosts.join(","), only: keys } };
  }
  if (spec.multi === "hosts") {
    const hosts = [...S.hostSel].sort();
    return { what: `every process on ${hosts.length} selected host(s)`, fleet: hosts.length > 1, req: { action: verb, target: "all", hosts: hosts.join(",") } };
  }
  const req = { action: verb, target: spec.target };
  if (spec.hosts !== undefined) req.hosts = spec.hosts;
  return { what: spec.what, fleet: !!spec.fleet || (spec.nhosts || 1) > 1, req };
}

function options() {
  const o = {};
  const sig = $("#opt-signal");
  if (sig) o.signal = sig.value;
  const rolling = $("#opt-rolling");
  if (rolling && rolling.checked) {
    o.strategy = "rolling";
    o.batch = ($("#opt-batch").value || "1").trim();
    const mf = $("#opt-maxfail").value.trim();
    if (mf !== "") o.max_failures = /^\d+$/.test(mf) ? +mf : mf;
  }
  return o;
}

// The confirm button's colour says how much the action can hurt.
function paintGo() {
  const go = $("#confirm-go");
  const sig = $("#opt-signal");
  let risk = RISK[D.verb] || "warn";
  if (sig && (sig.value === "KILL" || sig.value === "TERM")) risk = "danger";
  if (D.fleet && D.verb !== "start") risk = "danger";
  go.className = risk;
  go.dataset.risk = risk;
}

function optionsEnabled(on) {
  $("#confirm-options").querySelectorAll("input,select").forEach((i) => (i.disabled = !on));
}

function openAction(verb, spec) {
  const dlg = $("#confirm");
  const job = specToReq(verb, spec);
  D.req = job.req;
  D.ops = null;
  D.verb = verb;
  D.fleet = job.fleet;
  $("#confirm-title").textContent = `${verb[0].toUpperCase() + verb.slice(1)} ${job.what}`;
  const hosts = D.req.hosts === undefined ? "all hosts" : D.req.hosts;
  $("#confirm-body").innerHTML = `<p>${esc(verb)} <code>${esc(D.req.only ? D.req.only.join(", ") : D.req.target)}</code> on <code>${esc(hosts)}</code>. <span class="sub">“Plan” lists exactly what it would touch, without touching it.</span></p>`;
  $("#confirm-progress").innerHTML = "";
  $("#confirm-error").textContent = "";
  let opts = "";
  if (verb === "signal") opts += `<p><label>Signal <select id="opt-signal">${SIGNALS.map((s) => `<option>${s}</option>`).join("")}</select></label></p>`;
  if (job.fleet) {
    opts += `<fieldset><legend>Strategy</legend><label><input type="radio" name="strategy" id="opt-parallel" checked> all at once (parallel)</label><label><input type="radio" name="strategy" id="opt-rolling"> rolling</label> <label>batch <input id="opt-batch" size="5" value="1" title="N hosts or N%"></label><label>stop after <input id="opt-maxfail" size="3" value="1"> failed host(s)</label></fieldset>`;
  }
  $("#confirm-options").innerHTML = opts;
  const go = $("#confirm-go");
  go.hidden = false;
  go.disabled = false;
  go.textContent = verb;
  $("#confirm-plan").hidden = false;
  $("#confirm-plan").disabled = false;
  $("#confirm-cancel").textContent = "Cancel";
  paintGo();
  if (!dlg.open) dlg.showModal();
  // Never the confirm button: Enter must not act by default.
  ($("#confirm-options").querySelector("select,input") || $("#confirm-cancel")).focus();
}

async function planAction() {
  const plan = $("#confirm-plan");
  plan.disabled = true;
  $("#confirm-error").textContent = "";
  try {
    const op = await api("POST", "/v1/ops", { ...D.req, ...options(), dry_run: true });
    let total = 0;
    let lines = "";
    for (const h of op.hosts) {
      total += h.processes.length;
      lines += `<div><b>${esc(h.host)}</b>: ${h.processes.length ? h.processes.map((p) => `<code>${esc(p.name)}</code> ${stBadge(p.state)}`).join(" ") : `<span class="error">${esc(h.message || "nothing")}</span>`}</div>`;
    }
    $("#confirm-progress").innerHTML = `<p>This will <b>${esc(D.verb)}</b> <b data-touch-count="${total}">${total} process(es)</b> on <b>${op.hosts.length} host(s)</b>:</p><div class="touch">${lines}</div>` + (total ? "" : `<p class="error">Nothing matches; nothing to do.</p>`);
  } catch (e) {
    $("#confirm-error").textContent = "Cannot plan this: " + e.message;
  }
  plan.disabled = false;
}

async function runAction() {
  const go = $("#confirm-go");
  go.disabled = true;
  optionsEnabled(false);
  $("#confirm-error").textContent = "";
  let op;
  try {
    op = await api("POST", "/v1/ops", { ...D.req, ...options() });
  } catch (e) {
    // Refused: nothing ran. Everything stays editable, the culprit focused.
    $("#confirm-error").textContent = "Refused: " + e.message;
    optionsEnabled(true);
    go.disabled = false;
    const culprit = /batch/.test(e.message) ? $("#opt-batch") : /fail/.test(e.message) ? $("#opt-maxfail") : /signal/.test(e.message) ? $("#opt-signal") : null;
    if (culprit) culprit.focus();
    return;
  }
  D.ops = [op];
  go.hidden = true;
  $("#confirm-plan").hidden = true;
  $("#confirm-cancel").textContent = "Close";
  dialogOp(op);
  followOp(op.id);
}

async function followOp(id) {
  let after = 0;
  for (;;) {
    let op;
    try {
      op = await api("GET", `/v1/ops/${enc(id)}?after=${after}`);
    } catch (e) {
      $("#confirm-progress").innerHTML += `<p class="error">Lost track of ${esc(id)}: ${esc(e.message)}</p>`;
      return;
    }
    dialogOp(op);
    if (op.state !== "running") return;
    after = op.hosts.filter((h) => h.verdict !== "pending").length;
  }
}

function dialogOp(op) {
  if (!D.ops) return;
  const i = D.ops.findIndex((o) => o.id === op.id);
  if (i < 0) return;
  D.ops[i] = op;
  let done = 0;
  let all = 0;
  let failed = 0;
  let running = false;
  let interrupted = false;
  for (const o of D.ops) {
    all += o.hosts.length;
    done += o.hosts.filter((h) => h.verdict !== "pending").length;
    failed += o.hosts.filter((h) => h.verdict === "failed" || h.verdict === "unreachable").length;
    if (o.state === "running") running = true;
    if (o.state === "interrupted") interrupted = true;
  }
  const pct = all ? Math.round((done / all) * 100) : 100;
  const verdict = running ? `Running… ${done}/${all} host(s) done` : interrupted ? `<span class="error">Interrupted: the console stopped during it (${done}/${all} host(s) known)</span>` : failed ? `<span class="error">Partially failed: ${failed} host(s) failed or unreachable</span>` : `<span class="v-ok">Done: every host ok</span>`;
  let html = `<p data-op-state="${running ? "running" : interrupted ? "interrupted" : failed ? "failed" : "ok"}">${verdict} · ${D.ops.map((o) => link("#/op/" + enc(o.id), "details")).join(" ")}</p><div class="progress"><span data-pct="${pct}"></span></div>`;
  html += D.ops.map(verdictTable).join("");
  const prog = $("#confirm-progress");
  prog.innerHTML = html;
  prog.querySelector(".progress span").style.width = pct + "%";
}

// ---------------------------------------------------------------- events

function onClick(ev) {
  const t = ev.target;
  const act = t.closest("[data-act]");
  if (act) {
    ev.preventDefault();
    openAction(act.dataset.act, JSON.parse(act.dataset.spec));
    return;
  }
  if (t.matches("[data-sel]")) {
    t.checked ? S.sel.add(t.dataset.sel) : S.sel.delete(t.dataset.sel);
    return schedule();
  }
  if (t.matches("[data-hostsel]")) {
    t.checked ? S.hostSel.add(t.dataset.hostsel) : S.hostSel.delete(t.dataset.hostsel);
    return schedule();
  }
  if (t.matches("[data-selall]")) {
    const l = S.lists.get(t.dataset.selall);
    for (const p of l.rows) t.checked ? S.sel.add(pkey(p.host, p.name)) : S.sel.delete(pkey(p.host, p.name));
    return schedule();
  }
  if (t.matches("[data-hostselall]")) {
    const l = S.lists.get(t.dataset.hostselall);
    for (const h of l.rows) t.checked ? S.hostSel.add(h.name) : S.hostSel.delete(h.name);
    return schedule();
  }
  if (t.matches("[data-clear]")) {
    (t.dataset.clear === "procs" ? S.sel : S.hostSel).clear();
    return schedule();
  }
  const sort = t.closest("[data-sort]");
  if (sort) {
    const cur = S.route.params.get("sort") || "severity";
    const k = sort.dataset.sort;
    return setParam("sort", cur === k ? "-" + k : k === "severity" && cur === "-severity" ? null : k);
  }
  const page = t.closest("[data-page]");
  if (page) return setParam("offset", page.dataset.page === "0" ? null : page.dataset.page, true);
  if (t.matches("[data-download]") && S.log) {
    const a = document.createElement("a");
    a.href = URL.createObjectURL(new Blob([S.log.pre.textContent], { type: "text/plain" }));
    a.download = S.log.key.replace(/\0/g, "_").replace(/[^\w.-]/g, "_") + ".log";
    a.click();
    setTimeout(() => URL.revokeObjectURL(a.href), 5000);
  }
}

// Change one URL parameter of the current view (history entry kept small).
function setParam(k, v, reload) {
  const r = parseHash();
  if (v == null || v === "") r.params.delete(k);
  else r.params.set(k, v);
  const path = "#/" + [r.view, ...r.args].map(enc).join("/");
  const qs = r.params.toString();
  history.replaceState(null, "", path + (qs ? "?" + qs : ""));
  onRoute();
  if (reload) loadOps();
}

function onChange(ev) {
  const t = ev.target;
  if (t.matches("[data-opsfilter]")) {
    const r = parseHash();
    r.params.delete("offset");
    if (t.value.trim()) r.params.set(t.dataset.opsfilter, t.value.trim());
    else r.params.delete(t.dataset.opsfilter);
    history.replaceState(null, "", "#/ops" + (r.params.toString() ? "?" + r.params : ""));
    onRoute();
  }
  if (t.id === "opt-signal") paintGo();
}

// Keyboard: j/k or ↓/↑ move between rows, Enter opens the row's process
// or host, s/r/x/t start/restart/stop/signal it, space ticks it.
function onRowKey(ev) {
  const row = document.activeElement && document.activeElement.closest && document.activeElement.closest(".vrow, tr[data-key]");
  const inList = row && (row === document.activeElement || ev.key === "ArrowDown" || ev.key === "ArrowUp");
  const typing = /^(INPUT|TEXTAREA|SELECT)$/.test(document.activeElement.tagName);
  if (typing || $("#confirm").open) return false;
  const rows = () => [...document.querySelectorAll("#view .vrow[data-key], #view tbody tr[data-key]")];
  const move = (d) => {
    const all = rows();
    if (!all.length) return;
    let i = row ? all.indexOf(row) : -1;
    i = Math.max(0, Math.min(all.length - 1, i + d));
    all[i].tabIndex = -1;
    all[i].focus();
    all[i].scrollIntoView({ block: "nearest" });
  };
  if (ev.key === "j" || (ev.key === "ArrowDown" && (inList || !row))) return move(1), true;
  if (ev.key === "k" || (ev.key === "ArrowUp" && inList)) return move(-1), true;
  if (!row || row !== document.activeElement) return false;
  if (ev.key === "Enter") {
    const a = row.querySelector(".c-name a") || row.querySelector("a[href^='#/proc']") || row.querySelector("a");
    if (a) location.hash = a.getAttribute("href");
    return true;
  }
  const verb = { s: "start", r: "restart", x: "stop", t: "signal" }[ev.key];
  if (verb) {
    const b = row.querySelector(`[data-act="${verb}"]`);
    if (b) b.click();
    return !!b;
  }
  if (ev.key === " ") {
    const c = row.querySelector("input[type=checkbox]");
    if (c) c.click();
    return !!c;
  }
  return false;
}

function onKey(ev) {
  if (S.me && !ev.ctrlKey && !ev.metaKey && !ev.altKey && onRowKey(ev)) {
    ev.preventDefault();
    return;
  }
  const input = $("#filter");
  const typing = /^(INPUT|TEXTAREA|SELECT)$/.test(document.activeElement.tagName);
  if (ev.key === "/" && !typing && !$("#confirm").open && S.me) {
    ev.preventDefault();
    input.focus();
    input.select();
  } else if (ev.key === "Escape" && document.activeElement === input) {
    input.value = "";
    onFilterInput();
    input.blur();
  }
}

function boot() {
  $("#login-form").addEventListener("submit", login);
  $("#logout").addEventListener("click", logout);
  $("#filter").addEventListener("input", onFilterInput);
  $("#confirm-go").addEventListener("click", runAction);
  $("#confirm-plan").addEventListener("click", planAction);
  document.addEventListener("change", onChange);
  setInterval(tick, 1000);
  $("#confirm").addEventListener("close", () => {
    D.ops = null;
  });
  document.addEventListener("click", onClick);
  document.addEventListener("keydown", onKey);
  window.addEventListener("hashchange", onRoute);
  window.addEventListener("resize", () => schedule());
  setInterval(refreshHosts, 10000);
  // An existing session (cookie) skips the login form.
  fetch("/v1/session", { credentials: "same-origin", cache: "no-store" })
    .then((r) => (r.ok ? r.json() : null))
    .then((me) => {
      if (me) {
        S.me = me;
        start();
      } else showLogin();
    })
    .catch(() => showLogin("The console is not reachable."));
}

window.fleetPerf = S.perf; // read by the scale measurement
document.addEventListener("DOMContentLoaded", boot);
