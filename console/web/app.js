// fleet console web page: one plain-JS module, no build step, no library.
//
// Data flow: log in (POST /v1/session → HttpOnly cookie + CSRF token kept
// in memory only), subscribe to GET /v1/events (SSE), then read
// GET /v1/status once. Events are queued and applied once per animation
// frame; the current view is re-rendered from the in-memory picture.
// Long lists (hosts, processes) are virtualised: only the rows in view exist
// in the DOM, so 500 hosts × 20 processes stay cheap. The URL hash holds the
// view and the filter (#/processes?f=group:celery%20state:fatal).
"use strict";

const STATES = ["RUNNING", "STARTING", "BACKOFF", "STOPPING", "STOPPED", "EXITED", "FATAL"];
const BAD = new Set(["FATAL", "EXITED", "BACKOFF"]);
const SIGNALS = ["TERM", "HUP", "INT", "QUIT", "USR1", "USR2", "KILL"];
const ROW = 30;

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
      const p = S.procs.get(pkey(e.host, e.name));
      if (!p) {
        resync = true;
        continue;
      }
      p.state = e.to;
      p.pid = e.pid === undefined ? null : e.pid;
      p.state_since = e.time;
      if (e.to === "STARTING") p.started_at = e.time;
      if (e.description) p.description = e.description;
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

// "web host:w-0* group:celery state:fatal,exited hg:workers"
function parseFilter(text) {
  const f = { text: [], host: null, group: null, state: null, hg: null, name: null };
  for (const tok of (text || "").trim().split(/\s+/)) {
    if (!tok) continue;
    const m = /^(host|group|state|hg|name):(.*)$/i.exec(tok);
    if (m && m[2]) {
      const k = m[1].toLowerCase();
      if (k === "state") f.state = new Set(m[2].toUpperCase().split(","));
      else f[k] = glob(m[2]);
    } else f.text.push(tok.toLowerCase());
  }
  f.any = f.text.length || f.host || f.group || f.state || f.hg || f.name;
  return f;
}

function glob(pat) {
  const re = pat
    .split(",")
    .map((p) => p.replace(/[.+?^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*"))
    .join("|");
  return new RegExp("^(?:" + re + ")$", "i");
}

function hostOk(f, h) {
  if (f.host && !f.host.test(h.name)) return false;
  if (f.hg && !(h.groups || []).some((g) => f.hg.test(g))) return false;
  return true;
}

function procOk(f, p) {
  if (f.group && !f.group.test(p.group)) return false;
  if (f.state && !f.state.has(p.state)) return false;
  if (f.name && !f.name.test(p.name) && !f.name.test(p.process)) return false;
  for (const t of f.text) {
    if (!p.name.toLowerCase().includes(t) && !p.host.toLowerCase().includes(t)) return false;
  }
  return true;
}

function filtered() {
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
  for (const p of S.procs.values()) if (hostSet.has(p.host) && procOk(f, p)) procs.push(p);
  // With process-level terms, a host shows only if a process of it matches
  // (or, for plain text, its name matches).
  let shown = hosts;
  if (f.group || f.state || f.name || f.text.length) {
    const withProc = new Set(procs.map((p) => p.host));
    shown = hosts.filter(
      (h) => withProc.has(h.name) || (f.text.length && !f.group && !f.state && !f.name && f.text.every((t) => h.name.toLowerCase().includes(t))),
    );
  }
  // Plain code-unit order: localeCompare is ~10× slower on 10,000 rows.
  shown.sort((a, b) => cmp(a.name, b.name));
  procs.sort((a, b) => (a.host === b.host ? cmp(a.name, b.name) : cmp(a.host, b.host)));
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

function stateSummary(counts) {
  return STATES.filter((s) => counts[s])
    .map((s) => `<span class="st st-${s}">${counts[s]} ${s}</span>`)
    .join(" ");
}

// A live process's description is its timing, computed from the data like
// fleet_api's ProcessInfo::timing ("pid 12, uptime 0:01:02"): the agent's
// text was true when it was sent, and an event to a live state has none.
function describe(p) {
  if ((p.state === "STARTING" || p.state === "RUNNING" || p.state === "STOPPING") && p.pid != null && p.started_at) {
    const s = Math.max(0, Math.floor((Date.now() - p.started_at) / 1000));
    const two = (n) => String(n).padStart(2, "0");
    return `pid ${p.pid}, uptime ${Math.floor(s / 3600)}:${two(Math.floor(s / 60) % 60)}:${two(s % 60)}`;
  }
  return p.description;
}

function ago(ms) {
  if (!ms) return "—";
  const s = Math.max(0, Math.round((Date.now() - ms) / 1000));
  if (s < 60) return s + " s ago";
  if (s < 3600) return Math.round(s / 60) + " min ago";
  if (s < 86400) return Math.round(s / 3600) + " h ago";
  return new Date(ms).toLocaleString();
}

// Action buttons; nothing at all for a viewer.
function actButtons(spec, verbs = ["start", "stop", "restart"]) {
  if (!canAct()) return "";
  const data = esc(JSON.stringify(spec));
  return (
    `<span class="actions">` +
    verbs.map((v) => `<button type="button" class="small" data-act="${v}" data-spec="${data}">${v}</button>`).join("") +
    `</span>`
  );
}

function link(hash, text, cls = "") {
  return `<a href="${esc(hash)}" class="${cls}">${esc(text)}</a>`;
}

const hostHref = (h) => "#/host/" + enc(h);
const procHref = (h, n) => "#/proc/" + enc(h) + "/" + enc(n);
const withF = (hash, f) => hash + (f ? "?f=" + enc(f) : "");

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
    if (this.head.innerHTML !== head) this.head.innerHTML = head;
    this.spacer.style.height = rows.length * ROW + "px";
    const max = Math.max(240, window.innerHeight - 240);
    this.el.style.height = Math.min(max, rows.length * ROW + ROW + 4) + "px";
    this.paint();
  }
  paint() {
    const top = this.el.scrollTop;
    const h = this.el.clientHeight || 800;
    const first = Math.max(0, Math.floor(top / ROW) - 8);
    const last = Math.min(this.rows.length, Math.ceil((top + h) / ROW) + 8);
    let html = "";
    for (let i = first; i < last; i++) {
      const r = this.rows[i];
      const k = this.key(r);
      const sel = this.selected && this.selected.has(k) ? " sel" : "";
      html += `<div class="vrow ${this.cls} ${this.rowClass(r)}${sel}" data-key="${esc(k)}">${this.row(r)}</div>`;
    }
    this.win.style.transform = `translateY(${first * ROW}px)`;
    if (html !== this.last) {
      this.win.innerHTML = html;
      this.last = html;
    }
  }
}

function list(id) {
  let l = S.lists.get(id);
  if (!l) {
    l = new VList(id);
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

function procRows(l, procs, opts = {}) {
  l.selected = canAct() ? S.sel : null;
  l.set(procs, {
    cls: "g-proc",
    head:
      `<span>${canAct() ? `<input type="checkbox" data-selall="${esc(l.id)}" aria-label="select all">` : ""}</span>` +
      `<span>host</span><span>process</span><span>state</span><span>pid</span><span>description</span><span>${canAct() ? "actions" : ""}</span>`,
    key: (p) => pkey(p.host, p.name),
    rowClass: (p) => hostClass(S.hosts.get(p.host)) + (S.hosts.get(p.host) && S.hosts.get(p.host).up ? "" : " dim"),
    row: (p) => {
      const k = pkey(p.host, p.name);
      return (
        `<span>${canAct() ? `<input type="checkbox" data-sel="${esc(k)}"${S.sel.has(k) ? " checked" : ""} aria-label="select">` : ""}</span>` +
        `<span>${link(hostHref(p.host), p.host)}</span>` +
        `<span>${link(procHref(p.host, p.name), p.name, "mono")}</span>` +
        `<span>${stBadge(p.state)}</span>` +
        `<span class="mono" data-pid="${p.pid == null ? "" : p.pid}">${p.pid == null ? "" : p.pid}</span>` +
        `<span class="sub" title="${esc(describe(p))}">${esc(describe(p))}</span>` +
        `<span>${actButtons({ target: p.name, hosts: p.host, what: `${p.name} on ${p.host}` }, ["start", "stop", "restart", "signal"])}</span>`
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
        `<span>${canAct() ? `<input type="checkbox" data-hostsel="${esc(h.name)}"${S.hostSel.has(h.name) ? " checked" : ""} aria-label="select host">` : ""}</span>` +
        `<span>${link(hostHref(h.name), h.name)}</span>` +
        `<span>${hostBadge(h)}</span>` +
        `<span class="sub">${esc((h.groups || []).join(", "))}</span>` +
        `<span>${ps.length}</span>` +
        `<span>${bar(c, ps.length)}</span>` +
        `<span class="sub${bad.length || !h.up ? " error" : ""}" title="${summary}">${summary}</span>` +
        `<span>${actButtons({ target: "all", hosts: h.name, what: `every process on ${h.name}` })}</span>`
      );
    },
  });
}

// ---------------------------------------------------------------- views

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
      `<td>${g.hosts.size}</td><td>${g.procs.length}</td><td>${bar(c, g.procs.length)}</td><td>${stateSummary(c)}</td>` +
      `<td>${actButtons({ target: "group:" + name, hosts: [...g.hosts].sort().join(","), nhosts: g.hosts.size, what: `program group ${name} across ${g.hosts.size} host(s)`, fleet: true })}</td></tr>`;
  }
  return `<table class="groups"><thead><tr><th>program group</th><th>hosts</th><th>processes</th><th>states</th><th></th><th>${canAct() ? "across the fleet" : ""}</th></tr></thead><tbody>${rows}</tbody></table>`;
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
      `<td>${e.procs.length}</td><td>${bar(c, e.procs.length)}</td><td>${stateSummary(c)}</td>` +
      `<td>${name === "(no group)" ? "" : actButtons({ target: "all", hosts: "@" + name, nhosts: e.hosts.length, what: `every process on host group ${name} (${e.hosts.length} hosts)`, fleet: true })}</td></tr>`;
  }
  return `<table class="hostgroups"><thead><tr><th>host group</th><th>hosts up</th><th>processes</th><th>states</th><th></th><th></th></tr></thead><tbody>${rows}</tbody></table>`;
}

const VIEWS = {
  overview() {
    const { hosts, procs } = filtered();
    const f = S.route.params.get("f") || "";
    const up = hosts.filter((h) => h.up && !(h.stale_ms > 0)).length;
    const down = hosts.filter((h) => !h.up).length;
    const stale = hosts.filter((h) => h.up && h.stale_ms > 0).length;
    const c = countStates(procs);
    let html = `<h1>Fleet overview</h1><div class="cards">` + card(hosts.length, "hosts", "", "#/hosts") + card(up, "up", "ok", "#/hosts") + card(down, "down", down ? "bad" : "", "#/hosts") + card(stale, "stale", stale ? "warn" : "", "#/hosts") + card(procs.length, "processes", "", withF("#/processes", f));
    for (const s of STATES) {
      if (!c[s] && s !== "RUNNING") continue;
      const cls = s === "RUNNING" ? "ok" : BAD.has(s) ? "bad" : s === "STOPPED" ? "" : "warn";
      html += card(c[s], s, cls, "#/processes?f=" + enc((f ? f + " " : "") + "state:" + s.toLowerCase()), s);
    }
    html += `</div>`;
    if (!S.loaded) html += S.loadError ? `<div class="banner">Could not read the fleet: ${esc(S.loadError)}</div>` : empty("Loading the fleet…");
    else if (!S.hosts.size) html += empty("No agents yet. List them under <code>[[agent]]</code> in console.toml, or let agents register with the enrollment token.");
    const attention = hosts.filter((h) => !h.up || h.stale_ms > 0);
    if (attention.length) {
      html += `<h2>Hosts needing attention</h2><div class="chips">` + attention.slice(0, 40).map((h) => `${link(hostHref(h.name), h.name)} ${hostBadge(h)} <span class="sub">${esc(h.error || "")}</span>`).join(" · ") + (attention.length > 40 ? ` … ${link("#/hosts", "and " + (attention.length - 40) + " more")}` : "") + `</div>`;
    }
    html += `<h2>Program groups across the fleet</h2>` + groupTable(procs, f);
    html += `<h2>Host groups</h2>` + hostGroupTable(hosts, procs);
    setView(html);
  },
  hosts() {
    const { hosts, procs } = filtered();
    let html = `<h1>Hosts <span class="sub">${hosts.length} of ${S.hosts.size}</span></h1>` + selectionBar();
    html += hosts.length ? `<div data-mount="hosts"></div>` : empty(S.loaded ? "No host matches the filter. <kbd>Esc</kbd> clears it." : "Loading…");
    setView(html);
    if (hosts.length) hostRows(mountList("hosts"), hosts, procs);
  },
  hostgroups() {
    const { hosts, procs } = filtered();
    setView(`<h1>Host groups</h1>` + hostGroupTable(hosts, procs));
  },
  groups() {
    const { procs } = filtered();
    setView(`<h1>Program groups across the fleet</h1>` + groupTable(procs, S.route.params.get("f") || ""));
  },
  group([name]) {
    const { procs } = filtered();
    const mine = procs.filter((p) => p.group === name);
    const hosts = [...new Set(mine.map((p) => p.host))].sort();
    const c = countStates(mine);
    let html = `<h1>Program group <code>${esc(name)}</code> <span class="sub">${mine.length} processes on ${hosts.length} hosts</span></h1>`;
    html += `<div class="toolbar">${stateSummary(c)} ${hosts.length ? actButtons({ target: "group:" + name, hosts: hosts.join(","), nhosts: hosts.length, what: `program group ${name} across ${hosts.length} host(s)`, fleet: true }) : ""}</div>`;
    html += selectionBar();
    html += mine.length ? `<div data-mount="group"></div>` : empty(S.loaded ? "No process of this group matches." : "Loading…");
    setView(html);
    if (mine.length) procRows(mountList("group"), mine);
  },
  processes() {
    const { procs } = filtered();
    let html = `<h1>Processes <span class="sub">${procs.length} of ${S.procs.size}</span></h1>` + selectionBar();
    html += procs.length ? `<div data-mount="procs"></div>` : empty(S.loaded ? "No process matches the filter. <kbd>Esc</kbd> clears it." : "Loading…");
    setView(html);
    if (procs.length) procRows(mountList("procs"), procs);
  },
  host([name]) {
    const h = S.hosts.get(name);
    if (!h) return setView(S.loaded ? empty(`No host named <code>${esc(name)}</code>.`) : empty("Loading…"));
    const procs = [...S.procs.values()].filter((p) => p.host === name).sort((a, b) => a.name.localeCompare(b.name));
    let html = `<h1>${esc(name)} ${hostBadge(h)}</h1>`;
    if (!h.up) html += `<div class="banner">Agent unreachable: ${esc(h.error || "no event stream")}. Processes below are the last known picture${h.last_seen ? " (" + ago(h.last_seen) + ")" : ""}.</div>`;
    html += `<dl class="kv"><dt>url</dt><dd class="mono">${esc(h.url)}</dd><dt>version</dt><dd>${esc(h.version || "—")}</dd><dt>last seen</dt><dd>${ago(h.last_seen)}</dd><dt>host groups</dt><dd>${esc((h.groups || []).join(", ") || "—")}</dd><dt>tags</dt><dd>${esc(Object.entries(h.tags || {}).map(([k, v]) => k + "=" + v).join(", ") || "—")}</dd><dt>source</dt><dd>${esc(h.source)}</dd></dl>`;
    html += `<div class="toolbar"><b>All processes on ${esc(name)}:</b> ${actButtons({ target: "all", hosts: name, what: `every process on ${name}` })}</div>`;
    const groups = [...new Set(procs.map((p) => p.group))].sort();
    if (!procs.length) html += empty("No processes known on this host.");
    for (const g of groups) {
      const ps = procs.filter((p) => p.group === g);
      html += `<h2>${esc(g)} <span class="sub">${ps.length}</span> ${actButtons({ target: "group:" + g, hosts: name, what: `program group ${g} on ${name}` })}</h2>`;
      html += `<table><thead><tr><th>process</th><th>state</th><th>pid</th><th>description</th><th></th></tr></thead><tbody>`;
      for (const p of ps) {
        html += `<tr data-key="${esc(pkey(p.host, p.name))}"><td>${link(procHref(p.host, p.name), p.name, "mono")}</td><td>${stBadge(p.state)}</td><td class="mono" data-pid="${p.pid == null ? "" : p.pid}">${p.pid == null ? "" : p.pid}</td><td class="sub">${esc(describe(p))}</td><td>${actButtons({ target: p.name, hosts: p.host, what: `${p.name} on ${p.host}` }, ["start", "stop", "restart", "signal"])}</td></tr>`;
      }
      html += `</tbody></table>`;
    }
    setView(html);
  },
  proc([host, name]) {
    const p = S.procs.get(pkey(host, name));
    const h = S.hosts.get(host);
    const stream = S.route.params.get("stream") === "stderr" ? "stderr" : "stdout";
    let html = `<h1><code>${esc(name)}</code> on ${link(hostHref(host), host)} ${p ? stBadge(p.state) : ""}</h1>`;
    if (h && !h.up) html += `<div class="banner">Agent unreachable: ${esc(h.error || "")}. The log tail needs the agent.</div>`;
    if (p) {
      const last = p.exit_status ? JSON.stringify(p.exit_status) : "—";
      html += `<dl class="kv"><dt>state</dt><dd>${stBadge(p.state)} since ${ago(p.state_since)}</dd><dt>pid</dt><dd class="mono" data-pid="${p.pid == null ? "" : p.pid}">${p.pid == null ? "—" : p.pid}</dd><dt>description</dt><dd>${esc(describe(p))}</dd><dt>group / program</dt><dd>${esc(p.group)} / ${esc(p.program)}</dd><dt>restarts</dt><dd>${p.restarts}</dd><dt>last exit</dt><dd class="mono">${esc(last)}</dd></dl>`;
      html += `<div class="toolbar">${actButtons({ target: p.name, hosts: p.host, what: `${p.name} on ${p.host}` }, ["start", "stop", "restart", "signal"])}</div>`;
    } else if (S.loaded) html += empty("This process is not in the console's picture.");
    const base = procHref(host, name);
    html += `<h2>Log <span class="seg"><a class="btn small${stream === "stdout" ? " on" : ""}" href="${base}?stream=stdout" data-stream="stdout">stdout</a> <a class="btn small${stream === "stderr" ? " on" : ""}" href="${base}?stream=stderr" data-stream="stderr">stderr</a></span> <span class="sub" id="log-state"></span></h2>`;
    html += `<div data-mount="log"></div>`;
    setView(html);
    const ph = $(`[data-mount="log"]`);
    const key = host + "\0" + name + "\0" + stream;
    if (!S.log || S.log.key !== key) startLog(host, name, stream, key);
    if (ph) ph.replaceWith(S.log.pre);
  },
  ops() {
    let html = `<h1>Operations</h1>`;
    if (!S.opsLoaded) html += empty("Loading…");
    else if (!S.ops.length) html += empty("No operations yet.");
    else {
      html += `<table class="ops"><thead><tr><th>when</th><th>who</th><th>action</th><th>target</th><th>hosts</th><th>strategy</th><th>state</th><th>outcome</th></tr></thead><tbody>`;
      for (const op of S.ops) {
        const r = op.request;
        html += `<tr data-op="${esc(op.id)}"><td>${link("#/op/" + enc(op.id), ago(op.created_at))}</td><td>${esc(op.who)}</td><td>${esc(r.action)}${r.signal ? " " + esc(r.signal) : ""}${r.dry_run ? " <span class=sub>(dry run)</span>" : ""}</td><td class="mono">${esc(r.target)}</td><td class="mono">${esc(r.hosts || "all")}</td><td>${esc(r.strategy)}${r.batch ? " " + esc(r.batch) : ""}</td><td>${esc(op.state)}</td><td>${verdictSummary(op)}</td></tr>`;
      }
      html += `</tbody></table>`;
    }
    setView(html);
  },
  op([id]) {
    const op = S.opDetail && S.opDetail.id === id ? S.opDetail : null;
    if (!op) return setView(S.opError ? `<div class="banner">${esc(S.opError)}</div>` : empty("Loading…"));
    const r = op.request;
    let html = `<h1>Operation <code>${esc(op.id)}</code></h1><dl class="kv"><dt>what</dt><dd>${esc(r.action)}${r.signal ? " " + esc(r.signal) : ""} <code>${esc(r.target)}</code> on <code>${esc(r.hosts || "all")}</code>${r.dry_run ? " (dry run)" : ""}</dd><dt>who</dt><dd>${esc(op.who)}</dd><dt>when</dt><dd>${new Date(op.created_at).toLocaleString()}</dd><dt>strategy</dt><dd>${esc(r.strategy)}${r.batch ? ", batch " + esc(r.batch) : ""}${r.max_failures != null ? ", max failures " + r.max_failures : ""}</dd><dt>state</dt><dd>${esc(op.state)}</dd><dt>outcome</dt><dd>${verdictSummary(op)}</dd></dl>`;
    html += `<h2>Per host</h2>` + verdictTable(op);
    setView(html);
  },
};

function card(n, label, cls, href, state) {
  return `<a class="card ${cls}" href="${esc(href)}"${state ? ` data-count="${state}"` : ` data-count="${esc(label)}"`}><div class="n">${n}</div><div class="l">${esc(label)}</div></a>`;
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

function verdictSummary(op) {
  const c = {};
  for (const h of op.hosts) c[h.verdict] = (c[h.verdict] || 0) + 1;
  return ["ok", "failed", "unreachable", "pending", "skipped"]
    .filter((v) => c[v])
    .map((v) => `<span class="v-${v}">${c[v]} ${v}</span>`)
    .join(", ") || "—";
}

function verdictTable(op) {
  let html = `<table class="verdicts"><thead><tr><th>host</th><th>batch</th><th>verdict</th><th>message</th><th>processes</th></tr></thead><tbody>`;
  for (const h of op.hosts) {
    const procs = (h.processes || []).map((p) => `<div class="mono">${esc(p.name)}: ${esc(p.outcome)} → ${esc(p.state)}${p.pid ? " pid " + p.pid : ""}${p.message ? " — " + esc(p.message) : ""}</div>`).join("");
    html += `<tr data-host="${esc(h.host)}" data-verdict="${esc(h.verdict)}"><td>${link(hostHref(h.host), h.host)}</td><td>${h.batch || ""}</td><td class="v-${esc(h.verdict)}">${esc(h.verdict)}</td><td>${esc(h.message || "")}</td><td>${procs}</td></tr>`;
  }
  return html + `</tbody></table>`;
}

function setView(html) {
  const v = $("#view");
  // Detach kept elements (lists, log) before replacing the HTML.
  if (v._html !== html) {
    v.innerHTML = html;
    v._html = html;
  } else {
    for (const [id, l] of S.lists) {
      const ph = v.querySelector(`[data-mount="${id}"]`);
      if (ph) ph.replaceWith(l.el);
    }
  }
}

function render() {
  if (!S.me) return;
  const r = S.route;
  const fn = VIEWS[r.view] || VIEWS.overview;
  // Keep scroll positions of lists before the view's HTML is replaced.
  for (const l of S.lists.values()) if (l.el.isConnected) l.scrollTop = l.el.scrollTop;
  fn(r.args);
  for (const a of document.querySelectorAll("#nav a")) a.classList.toggle("active", a.dataset.view === r.view);
}

// ---------------------------------------------------------------- log tail

function startLog(host, name, stream, key) {
  if (S.log) S.log.ctrl.abort();
  const pre = document.createElement("pre");
  pre.className = "log";
  pre.id = "log";
  const ctrl = new AbortController();
  S.log = { key, ctrl, pre };
  const state = (t) => {
    const el = $("#log-state");
    if (el) el.textContent = t;
  };
  const url = `/v1/hosts/${enc(host)}/processes/${enc(name)}/log?stream=${stream}&tail=200&follow=true`;
  (async () => {
    try {
      const r = await fetch(url, { signal: ctrl.signal, credentials: "same-origin", cache: "no-store" });
      if (!r.ok) {
        let m = r.status + "";
        try {
          m = (await r.json()).error.message;
        } catch (_) {
          /* keep status */
        }
        pre.textContent = "Log unavailable: " + m;
        return;
      }
      state("following…");
      const reader = r.body.getReader();
      const dec = new TextDecoder();
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        const atEnd = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
        pre.append(dec.decode(value, { stream: true }));
        // Keep the last ~256 KiB.
        if (pre.textContent.length > 300000) pre.textContent = pre.textContent.slice(-256000);
        if (atEnd) pre.scrollTop = pre.scrollHeight;
      }
      state("stream ended");
    } catch (e) {
      if (e.name !== "AbortError") state("log stream failed: " + e.message);
    }
  })();
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
    // Filtering from a detail page lands on the matching list.
    let parts = [r.view, ...r.args];
    if (["host", "proc", "op", "ops"].includes(r.view)) parts = ["processes"];
    const path = r.view === "overview" ? "#/" : "#/" + parts.map(enc).join("/");
    const qs = r.params.toString();
    history.replaceState(null, "", path + (qs ? "?" + qs : ""));
    onRoute();
  }, 120);
}

// ---------------------------------------------------------------- ops

async function loadOps() {
  try {
    S.ops = (await api("GET", "/v1/ops?limit=200")).ops;
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

// D: the dialog's current job. reqs: OpRequest bodies (several for a
// multi-selection of processes on different names).
const D = { reqs: [], ops: null, fleet: false };

function specToReqs(verb, spec) {
  if (spec.multi === "procs") {
    // One operation per process name, on the hosts where it is selected.
    const byName = new Map();
    for (const k of S.sel) {
      const i = k.indexOf("/");
      const host = k.slice(0, i);
      const name = k.slice(i + 1);
      if (!byName.has(name)) byName.set(name, []);
      byName.get(name).push(host);
    }
    return {
      what: `${S.sel.size} selected process(es)`,
      fleet: [...byName.values()].some((h) => h.length > 1),
      reqs: [...byName].map(([name, hosts]) => ({ action: verb, target: name, hosts: hosts.sort().join(",") })),
    };
  }
  if (spec.multi === "hosts") {
    const hosts = [...S.hostSel].sort();
    return { what: `every process on ${hosts.length} selected host(s)`, fleet: hosts.length > 1, reqs: [{ action: verb, target: "all", hosts: hosts.join(",") }] };
  }
  return { what: spec.what, fleet: !!spec.fleet || (spec.nhosts || 1) > 1, reqs: [{ action: verb, target: spec.target, hosts: spec.hosts }] };
}

function options() {
  const o = {};
  const sig = $("#opt-signal");
  if (sig) o.signal = sig.value;
  const rolling = $("#opt-rolling");
  if (rolling && rolling.checked) {
    o.strategy = "rolling";
    o.batch = ($("#opt-batch").value || "1").trim();
    const mf = parseInt($("#opt-maxfail").value, 10);
    if (!isNaN(mf)) o.max_failures = mf;
  }
  return o;
}

async function openAction(verb, spec) {
  const dlg = $("#confirm");
  const job = specToReqs(verb, spec);
  D.reqs = job.reqs;
  D.ops = null;
  D.verb = verb;
  $("#confirm-title").textContent = `${verb[0].toUpperCase() + verb.slice(1)} ${job.what}`;
  $("#confirm-body").innerHTML = `<p class="sub">Checking what this would touch (dry run)…</p>`;
  $("#confirm-progress").innerHTML = "";
  let opts = "";
  if (verb === "signal") opts += `<p><label>Signal <select id="opt-signal">${SIGNALS.map((s) => `<option>${s}</option>`).join("")}</select></label></p>`;
  if (job.fleet) {
    opts += `<p><label><input type="radio" name="strategy" id="opt-parallel" checked> all at once (parallel)</label><label><input type="radio" name="strategy" id="opt-rolling"> rolling</label> <label>batch <input id="opt-batch" size="4" value="1" title="N hosts or N%"></label><label>stop after <input id="opt-maxfail" size="3" value="1"> failed host(s)</label></p>`;
  }
  $("#confirm-options").innerHTML = opts;
  const go = $("#confirm-go");
  go.hidden = false;
  go.disabled = true;
  go.textContent = verb;
  $("#confirm-cancel").textContent = "Cancel";
  if (!dlg.open) dlg.showModal();
  try {
    const plans = await Promise.all(D.reqs.map((r) => api("POST", "/v1/ops", { ...r, dry_run: true })));
    let total = 0;
    let lines = "";
    const hosts = new Set();
    for (const op of plans) {
      for (const h of op.hosts) {
        hosts.add(h.host);
        total += h.processes.length;
        lines += `<div><b>${esc(h.host)}</b>: ${h.processes.length ? h.processes.map((p) => `<code>${esc(p.name)}</code> ${stBadge(p.state)}`).join(" ") : `<span class="error">${esc(h.message || "nothing")}</span>`}</div>`;
      }
    }
    D.total = hosts.size;
    $("#confirm-body").innerHTML = `<p>This will <b>${esc(verb)}</b> <b data-touch-count="${total}">${total} process(es)</b> on <b>${hosts.size} host(s)</b>:</p><div class="touch">${lines}</div>`;
    go.disabled = total === 0;
    if (total === 0) $("#confirm-body").innerHTML += `<p class="error">Nothing matches; nothing to do.</p>`;
    else go.focus();
  } catch (e) {
    $("#confirm-body").innerHTML = `<p class="error">Cannot plan this: ${esc(e.message)}</p>`;
  }
}

async function runAction() {
  const go = $("#confirm-go");
  go.disabled = true;
  const o = options();
  $("#confirm-options").querySelectorAll("input,select").forEach((i) => (i.disabled = true));
  try {
    D.ops = [];
    for (const r of D.reqs) D.ops.push(await api("POST", "/v1/ops", { ...r, ...o }));
  } catch (e) {
    $("#confirm-progress").innerHTML += `<p class="error">Refused: ${esc(e.message)}</p>`;
    if (!D.ops.length) {
      go.disabled = false;
      return;
    }
  }
  go.hidden = true;
  $("#confirm-cancel").textContent = "Close";
  for (const op of D.ops) dialogOp(op);
  for (const op of D.ops) followOp(op.id);
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
  for (const o of D.ops) {
    all += o.hosts.length;
    done += o.hosts.filter((h) => h.verdict !== "pending").length;
    failed += o.hosts.filter((h) => h.verdict === "failed" || h.verdict === "unreachable").length;
    if (o.state === "running") running = true;
  }
  const pct = all ? Math.round((done / all) * 100) : 100;
  const verdict = running ? `Running… ${done}/${all} host(s) done` : failed ? `<span class="error">Partially failed: ${failed} host(s) failed or unreachable</span>` : `<span class="v-ok">Done: every host ok</span>`;
  let html = `<p data-op-state="${running ? "running" : failed ? "failed" : "ok"}">${verdict} · ${D.ops.map((o) => link("#/op/" + enc(o.id), "details")).join(" ")}</p><div class="progress"><span data-pct="${pct}"></span></div>`;
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
}

function onKey(ev) {
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
