import { parseFilter } from "../filter.js";
import { morphHTML } from "../morph.js";
import { absTime, actButtons, andF, bar, curF, empty, exitText, flapCount, healthBadge, healthCount, hostHref, link, procHref, stateSummary, stBadge, story, wantedNote, when, withF } from "../pieces.js";
import { addAgg, agg } from "../picture.js";
import { canAct, S } from "../state.js";
import { $, cmp, enc, esc, pkey } from "../util.js";

// A program group across the (filtered) fleet: the selector the operator
// means (`all`, `web-*`, `@workers`) when the filter names hosts that way,
// else the hosts shown.
// When the filter narrows processes (text, name:, state:, is:), the row
// shows some of the group only: the action takes exactly those (`only`),
// so the plan matches the row.
export function groupSpec(name, hosts, procs) {
  const meant = hostsMeant();
  // Sorting 5,000 host names per group only when the selector is the list.
  const list = meant === undefined ? "" : [...hosts].sort().join(",");
  const sel = meant === undefined ? undefined : meant === null ? list : meant;
  const f = parseFilter(curF());
  const narrowed = procs && (f.procTerms || f.text.length);
  const where = sel === undefined ? "all hosts" : sel === list && hosts.size > 3 ? hosts.size + " hosts" : sel;
  const spec = { target: "group:" + name, hosts: sel, nhosts: hosts.size, what: `program group ${name} on ${where}`, fleet: true };
  if (narrowed) {
    spec.only = procs.map((p) => pkey(p.host, p.name)).sort();
    spec.what = `the ${procs.length} process(es) of group ${name} the filter shows, on ${where}`;
  }
  return spec;
}

// Rows from the counts picture.js keeps per group (`pic`).
export function groupTable(pic, f) {
  if (!pic.groups.size) return empty(S.loaded ? "No program group matches." : "Loading…");
  // The rows' actions name exactly the processes shown, when the filter
  // narrows them: only then are the groups' lists needed.
  const pf = parseFilter(f);
  let lists = null;
  if (pf.procTerms || pf.text.length) {
    lists = new Map();
    for (const p of pic.procs) (lists.get(p.group) || lists.set(p.group, []).get(p.group)).push(p);
  }
  let rows = "";
  for (const name of [...pic.groups.keys()].sort()) {
    const g = pic.groups.get(name);
    rows +=
      `<tr data-group="${esc(name)}"><td>${link("#/group/" + enc(name) + (f ? "?f=" + enc(f) : ""), name)}</td>` +
      `<td>${g.hosts.size}</td><td>${g.n}</td><td>${bar(g.c, g.n)}</td><td>${stateSummary(g.c)}${flapCount(g.flap)}${healthCount(g)}</td>` +
      `<td>${actButtons(groupSpec(name, new Set(g.hosts.keys()), lists && lists.get(name)))}</td></tr>`;
  }
  return `<div class="scroll-x"><table class="groups"><thead><tr><th>program group</th><th>hosts</th><th>processes</th><th>states</th><th></th><th>${canAct() ? "across the fleet" : ""}</th></tr></thead><tbody>${rows}</tbody></table></div>`;
}

// A host group's counts are its hosts' (picture.js keeps them per host).
export function hostGroupTable(hosts, pic) {
  const groups = new Map();
  for (const h of hosts) {
    const mine = pic.byHost.get(h.name);
    for (const g of h.groups && h.groups.length ? h.groups : ["(no group)"]) {
      let e = groups.get(g);
      if (!e) groups.set(g, (e = { hosts: [], a: agg(false) }));
      e.hosts.push(h);
      if (mine) addAgg(e.a, mine);
    }
  }
  if (!groups.size) return empty("No host matches.");
  let rows = "";
  for (const name of [...groups.keys()].sort()) {
    const e = groups.get(name);
    const up = e.hosts.filter((h) => h.up).length;
    const c = e.a.c;
    const href = name === "(no group)" ? "#/hosts" : "#/hosts?f=" + enc("hg:" + name);
    rows +=
      `<tr data-hostgroup="${esc(name)}"><td>${link(href, name)}</td><td>${up}/${e.hosts.length}${up < e.hosts.length ? ` <span class="st st-DOWN">${e.hosts.length - up} down</span>` : ""}</td>` +
      `<td>${e.a.n}</td><td>${bar(c, e.a.n)}</td><td>${stateSummary(c)}${flapCount(e.a.flap)}${healthCount(e.a)}</td>` +
      `<td>${name === "(no group)" ? "" : actButtons({ target: "all", hosts: "@" + name, nhosts: e.hosts.length, what: `every process on host group ${name} (${e.hosts.length} hosts)`, fleet: true })}</td></tr>`;
  }
  return `<div class="scroll-x"><table class="hostgroups"><thead><tr><th>host group</th><th>hosts up</th><th>processes</th><th>states</th><th></th><th></th></tr></thead><tbody>${rows}</tbody></table></div>`;
}

// Down hosts by name, then the worst processes (at most 12), worst first,
// with their story.
export function troubleTable(pic, hosts = []) {
  const bad = pic.trouble;
  const down = hosts.filter((h) => !h.up).sort((a, b) => cmp(a.name, b.name));
  if (!bad.length && !down.length) return "";
  let rows = "";
  for (const h of down) {
    const n = pic.byHost.has(h.name) ? pic.byHost.get(h.name).n : 0;
    rows += `<tr data-down-host="${esc(h.name)}" class="down"><td>${link(hostHref(h.name), h.name)}</td><td class="sub">${n} process(es)</td><td>${stBadge("DOWN")}</td><td class="sub">agent unreachable: ${esc(h.error || "no event stream")}; last seen ${when(h.last_seen)}; its processes are UNKNOWN</td></tr>`;
  }
  for (const p of bad.slice(0, 12)) {
    rows += `<tr data-key="${esc(pkey(p.host, p.name))}"><td>${link(hostHref(p.host), p.host)}</td><td>${link(procHref(p.host, p.name), p.name, "mono")}</td><td>${stBadge(p.state)} ${healthBadge(p)} ${wantedNote(p)}</td><td class="sub">${story(p)}</td></tr>`;
  }
  const more = bad.length > 12 ? `<p>${link(withF("#/processes", andF("is:trouble")), `all ${bad.length} processes in trouble`)}</p>` : "";
  return `<div class="scroll-x"><table class="trouble-list"><thead><tr><th>host</th><th>process</th><th>state</th><th>what happened</th></tr></thead><tbody>${rows}</tbody></table></div>${more}`;
}


export function exitsTable(p) {
  const xs = (p.exits || []).slice().reverse();
  if (!xs.length) return `<p class="sub">No exit recorded since the agent started.</p>`;
  let rows = "";
  for (const x of xs) {
    rows += `<tr><td>${when(x.at)}</td><td class="mono">${absTime(x.at)}</td><td>${esc(exitText(x))}</td><td>${x.expected ? "yes" : "no"}</td><td>${x.stopped_by_us ? "yes" : "no"}</td><td>${esc(x.message || "")}</td></tr>`;
  }
  return `<div class="scroll-x"><table class="exits"><thead><tr><th>when</th><th>at</th><th>how</th><th>expected</th><th>stopped by fleet</th><th>message</th></tr></thead><tbody>${rows}</tbody></table></div>`;
}

export function card(n, label, cls, href, state) {
  return `<a class="card ${cls}" href="${esc(href)}"${state ? ` data-count="${state}"` : ` data-count="${esc(label)}"`}><div class="n">${n}</div><div class="l">${esc(label)}</div></a>`;
}

// What is selected is what is shown: rows a filter hides leave the
// selection, so an action never touches a process the operator cannot see.
// `shown(key)`: is that process shown.
export function keepShown(shown) {
  for (const k of [...S.sel]) if (!shown(k)) S.sel.delete(k);
}

// The host selector the operator means by the current filter: all hosts,
// a host glob or a host group — not the list it expands to today.
export function hostsMeant() {
  const f = parseFilter(curF());
  if (f.hostIs.length) return null;
  if (f.raw.host && !f.raw.hg) return f.raw.host;
  if (f.raw.hg && !f.raw.host) return f.raw.hg.split(",").map((g) => "@" + g).join(",");
  if (!f.raw.host && !f.raw.hg) return undefined;
  return null;
}

export function selectionBar() {
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
export const INTERRUPTED_NOTE = ` <span class="v-pending">— the console stopped during this operation; each host shows what really happened to it (in flight: read from its agent once reachable)</span>`;

export function verdictSummary(op) {
  const c = {};
  for (const h of op.hosts) c[h.verdict] = (c[h.verdict] || 0) + 1;
  return ["ok", "failed", "unreachable", "pending", "skipped"]
    .filter((v) => c[v])
    .map((v) => `<span class="v-${v}">${c[v]} ${v}</span>`)
    .join(", ") || "—";
}

export const VERDICT_RANK = { failed: 0, unreachable: 1, pending: 2, skipped: 3, ok: 4 };

// Failures first, so a 500-host result starts with what went wrong.
export function verdictTable(op) {
  let html = `<div class="scroll-x"><table class="verdicts"><thead><tr><th>host</th><th>batch</th><th>verdict</th><th>message</th><th>processes</th></tr></thead><tbody>`;
  const hosts = op.hosts.slice().sort((a, b) => VERDICT_RANK[a.verdict] - VERDICT_RANK[b.verdict] || cmp(a.host, b.host));
  for (const h of hosts) {
    const procs = (h.processes || []).map((p) => `<div class="mono">${esc(p.name)}: ${esc(p.outcome)} → ${esc(p.state)}${p.pid ? " pid " + p.pid : ""}${p.message ? " — " + esc(p.message) : ""}</div>`).join("");
    html += `<tr data-host="${esc(h.host)}" data-key="${esc(h.host)}" data-verdict="${esc(h.verdict)}"><td>${link(hostHref(h.host), h.host)}</td><td>${h.batch || ""}</td><td class="v-${esc(h.verdict)}">${esc(h.verdict)}</td><td>${esc(h.message || "")}</td><td>${procs}</td></tr>`;
  }
  return html + `</tbody></table></div>`;
}

export function setView(html) {
  const v = $("#view");
  if (v._html === html) return;
  v._html = html;
  morphHTML(v, html);
}
