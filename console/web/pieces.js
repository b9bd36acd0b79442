import { recentExits } from "./filter.js";
import { canAct, FLAP_MS, FLAP_N, S, STATES } from "./state.js";
import { enc, esc, pkey } from "./util.js";

export const stBadge = (s) => `<span class="st st-${esc(s)}" data-state="${esc(s)}">${esc(s)}</span>`;

export function hostBadge(h) {
  if (!h) return stBadge("DOWN");
  if (!h.up) return `<span class="st st-DOWN" title="${esc(h.error || "unreachable")}">DOWN</span>`;
  if (h.stale_ms > 0) return `<span class="st st-STALE" title="picture is ${Math.round(h.stale_ms / 1000)} s old">STALE</span>`;
  return `<span class="st st-UP">UP</span>`;
}

export const hostClass = (h) => (!h || !h.up ? "down" : h.stale_ms > 0 ? "stale" : "");

export function bar(counts, total) {
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
// A health check's verdict, where the process has one: green, red with
// the failing check's result, grey while undecided.
export function healthBadge(p) {
  if (!p.health) return "";
  const cls = p.health === "healthy" ? "RUNNING" : p.health === "unhealthy" ? "FATAL" : "STOPPED";
  const title = p.health_message ? ` title="${esc("last check: " + p.health_message)}"` : "";
  return `<span class="st st-${cls}" data-health="${esc(p.health)}"${title}>${esc(p.health)}</span>`;
}

// An event listener says so: its protocol state, the pool's counts in
// the title; UNKNOWN (it broke the protocol) is red, events dropped amber.
export function listenerBadge(p) {
  const l = p.listener;
  if (!l) return "";
  const st = l.state || "stopped";
  const cls = st === "UNKNOWN" ? "FATAL" : l.dropped ? "BACKOFF" : "STOPPED";
  const title = `event listener, pool ${l.pool} (${(l.events || []).join(", ")}): ${l.handled} handled, ${l.rejected} rejected, ${l.dropped} dropped, ${l.buffered} buffered`;
  return `<span class="st st-${cls}" data-listener="${esc(st)}" title="${esc(title)}">listener ${esc(st)}</span>`;
}

// A group's health: how many of its checked processes are unhealthy (red)
// or all healthy (green); nothing when none has a check.
export function healthNote(procs) {
  const checked = procs.filter((p) => p.health);
  return healthCount({ checked: checked.length, sick: checked.filter((p) => p.health === "unhealthy").length, healthy: checked.filter((p) => p.health === "healthy").length });
}

// From counts (picture.js's agg).
export function flapCount(n) {
  return n ? ` <span class="st st-FATAL">${n} flapping</span>` : "";
}
export function healthCount(a) {
  if (!a.checked) return "";
  if (a.sick) return ` <span class="st st-FATAL" data-health-count="unhealthy">${a.sick} unhealthy</span>`;
  return ` <span class="st st-${a.healthy === a.checked ? "RUNNING" : "STOPPED"}" data-health-count="healthy">${a.healthy}/${a.checked} healthy</span>`;
}

export function stateSummary(counts) {
  return STATES.filter((s) => counts[s])
    .map((s) => `<span class="st st-${s}">${counts[s]} ${s}</span>`)
    .join(" ");
}

// A live process's description is its timing, computed from the data like
// fleet_api's ProcessInfo::timing ("pid 12, uptime 0:01:02"); the uptime
// is a ticking span (see tick()), so rows are not re-rendered each second.
export function describe(p) {
  if (p.state === "UNKNOWN") return unknownStory(p);
  if ((p.state === "STARTING" || p.state === "RUNNING" || p.state === "STOPPING") && p.pid != null && p.started_at) {
    return `pid ${p.pid}, uptime ${when(p.started_at, "up")}`;
  }
  return esc(p.description);
}

// Uptimes stop where the page's knowledge stops: with the console lost,
// nobody knows whether the process still runs.
// "in 4 s" until then, then "due".
export function inText(ms) {
  const s = Math.round((ms - Date.now()) / 1000);
  return s > 0 ? `in ${s} s` : "due";
}

export function uptimeText(ms) {
  const s = Math.max(0, Math.floor(((S.conn.lost || Date.now()) - ms) / 1000));
  const two = (n) => String(n).padStart(2, "0");
  return `${Math.floor(s / 3600)}:${two(Math.floor(s / 60) % 60)}:${two(s % 60)}`;
}

// An absolute time with its zone: "05/12/2026, 14:03:04 UTC".
export const absTime = (ms) => new Date(ms).toLocaleString(undefined, { timeZoneName: "short" });

export function ago(ms) {
  if (!ms) return "—";
  const s = Math.max(0, Math.round((Date.now() - ms) / 1000));
  if (s < 60) return s + " s ago";
  if (s < 3600) return Math.round(s / 60) + " min ago";
  if (s < 86400) return Math.round(s / 3600) + " h ago";
  return absTime(ms);
}

// A time that ticks by itself: "12 s ago" (fmt "ago") or an uptime.
export function when(ms, fmt = "ago") {
  if (!ms) return "—";
  return `<span data-t="${ms}" data-fmt="${fmt}">${timeText(ms, fmt)}</span>`;
}

const timeText = (ms, fmt) => (fmt === "up" ? uptimeText(ms) : fmt === "in" ? inText(ms) : ago(ms));

// Rewrite ticking times in place, once a second: text only, no rows.
export function tick() {
  for (const e of document.querySelectorAll("[data-t]")) {
    const ms = +e.dataset.t;
    const t = timeText(ms, e.dataset.fmt);
    if (e.firstChild && e.firstChild.nodeValue !== t) e.firstChild.nodeValue = t;
  }
}

// "exit 1", "SIGKILL (core dumped)", "spawn failed: …" — for people.
export function exitText(x) {
  if (!x) return "";
  let t = x.kind === "exited" ? `exit ${x.code ?? "?"}` : x.kind === "signaled" ? `SIG${x.signal || "?"}${x.core_dumped ? " (core dumped)" : ""}` : `spawn failed: ${x.message || "?"}`;
  if (x.stopped_by_us) t += ", stopped by fleet";
  else if (x.expected) t += " (expected)";
  return t;
}

// The row's one-line story: uptime when live, else the last exit, when,
// and how often it restarted: "exit 1, 12 s ago, 167 restarts".
export function story(p) {
  if (p.state === "UNKNOWN") return unknownStory(p);
  const live = (p.state === "STARTING" || p.state === "RUNNING" || p.state === "STOPPING") && p.started_at;
  const r = recentExits(p);
  // A crash loop: that first, then why, then how often; its pid and
  // uptime of the moment say nothing.
  if (r >= FLAP_N) {
    const why = p.exit_status ? `, last ${esc(exitText(p.exit_status))} ${when(p.exit_status.at)}` : "";
    return `<b class="error">flapping: ${r} exits in 10 min</b>${why}${p.restarts ? `, ${p.restarts} restarts` : ""}`;
  }
  // A retry loop: when the next attempt comes.
  const next = p.state === "BACKOFF" && p.next_attempt_at ? `, next attempt ${when(p.next_attempt_at, "in")}` : "";
  let t = live ? `${p.pid != null ? "pid " + p.pid + ", " : ""}up ${when(p.started_at, "up")}` : p.exit_status ? `${esc(exitText(p.exit_status))}, ${when(p.exit_status.at)}` : esc(p.description || "");
  // A failing health check is why a RUNNING process is in trouble.
  if (live && p.health === "unhealthy") t = `<b class="error">unhealthy${p.health_message ? ": " + esc(p.health_message) : ""}</b>, ` + t;
  // A live process that exited lately: the reason is what one looks for.
  if (live && p.exit_status && Date.now() - p.exit_status.at < FLAP_MS) t += `, last ${esc(exitText(p.exit_status))} ${when(p.exit_status.at)}`;
  return t + next + restartsText(p);
}

// Restarts, with those fleet was asked for counted apart: an operator's
// three restarts do not read like three crashes.
export function restartsText(p) {
  if (!p.restarts) return "";
  const s = (n) => (n === 1 ? "" : "s");
  if (p.exits_unasked == null) return `, ${p.restarts} restart${s(p.restarts)}`;
  const asked = Math.max(0, p.restarts - p.exits_unasked);
  const after = p.restarts - asked;
  if (!asked) return `, ${after} restart${s(after)} after exits`;
  if (!after) return `, ${asked} restart${s(asked)} asked for`;
  return `, ${after} restart${s(after)} after exits, ${asked} asked for`;
}

// A process on a down host: what it was, and when that was last true.
export function unknownStory(p) {
  const k = p.last_known;
  if (!k) return "host unreachable";
  return `host unreachable; last known ${esc(k.state)}${k.pid != null ? ", pid " + k.pid : ""}, ${k.as_of ? "as of " + when(k.as_of) : "never seen"}`;
}

// "45 MB", "1.2 GB".
export function bytes(n) {
  if (n == null) return "—";
  const u = ["B", "KB", "MB", "GB", "TB"];
  let i = 0;
  while (n >= 1024 && i < u.length - 1) (n /= 1024), i++;
  return (n >= 10 || i === 0 ? Math.round(n) : n.toFixed(1)) + " " + u[i];
}

// CPU and memory now: "3% · 45 MB" (CPU once two readings exist).
export function usageText(p) {
  if (p.pid == null || p.rss_bytes == null) return "—";
  const u = S.usage.get(pkey(p.host, p.name));
  const cpu = u && u.cpu.length ? Math.round(u.cpu[u.cpu.length - 1]) + "% · " : "";
  return cpu + bytes(p.rss_bytes);
}

// A small line of `xs` (an SVG: no inline style, which the CSP forbids).
export function spark(xs, label) {
  if (!xs || xs.length < 2) return `<span class="sub">collecting…</span>`;
  const w = 120;
  const h = 24;
  const max = Math.max(...xs) || 1;
  const pts = xs.map((x, i) => `${((i / (xs.length - 1)) * w).toFixed(1)},${(h - 2 - (x / max) * (h - 4)).toFixed(1)}`).join(" ");
  return `<svg class="spark" width="${w}" height="${h}" viewBox="0 0 ${w} ${h}" role="img" aria-label="${esc(label)}"><polyline fill="none" stroke="currentColor" stroke-width="1.5" points="${pts}"/></svg>`;
}

// Wanted vs actual: "wanted running" on a stopped one, and the reverse.
export function wantedNote(p) {
  const up = p.state === "RUNNING" || p.state === "STARTING";
  if (p.state === "UNKNOWN") return "";
  if (p.wanted === "running" && !up && p.state !== "BACKOFF") return `<span class="want bad">wanted running</span>`;
  if (p.wanted === "stopped" && up) return `<span class="want">wanted stopped</span>`;
  return "";
}

export const RISK = { start: "primary", stop: "danger", restart: "warn", signal: "warn" };

// Action buttons; nothing at all for a viewer. Each names what it acts on
// for screen readers ("restart web:web_00 on w-01").
export function actButtons(spec, verbs = ["start", "stop", "restart"]) {
  if (!canAct()) return "";
  const data = esc(JSON.stringify(spec));
  const what = spec.what || (spec.multi === "procs" ? "the selected processes" : "every process on the selected hosts");
  return (
    `<span class="actions">` +
    verbs.map((v) => `<button type="button" class="small" data-act="${v}" data-spec="${data}" aria-label="${esc(v + " " + what)}">${v}</button>`).join("") +
    `</span>`
  );
}

export function link(hash, text, cls = "") {
  return `<a href="${esc(hash)}" class="${cls}">${esc(text)}</a>`;
}

export const hostHref = (h) => "#/host/" + enc(h);
export const procHref = (h, n) => "#/proc/" + enc(h) + "/" + enc(n);
export const withF = (hash, f) => hash + (f ? "?f=" + enc(f) : "");
export const curF = () => S.route.params.get("f") || "";
// The filter joined with one more term (cards and links that narrow).
export const andF = (term) => (curF() ? curF() + " " : "") + term;

export function empty(text) {
  return `<div class="empty">${text}</div>`;
}

export function took(op) {
  const end = op.finished_at || (op.state === "running" ? Date.now() : null);
  if (!end) return "—";
  const ms = Math.max(0, end - op.created_at);
  return ms < 1000 ? ms + " ms" : ms < 60000 ? (ms / 1000).toFixed(1) + " s" : Math.round(ms / 60000) + " min";
}
