import { parseFilter, procOk, sortProcs } from "../filter.js";
import { startLog } from "../log.js";
import { actButtons, ago, bytes, spark, curF, describe, empty, healthBadge, listenerBadge, healthNote, hostBadge, hostHref, link, procHref, stBadge, story, wantedNote, when } from "../pieces.js";
import { canAct, S } from "../state.js";
import { $, enc, esc, pkey } from "../util.js";
import { exitsTable, setView } from "./tables.js";

export function host([name]) {
  const h = S.hosts.get(name);
  if (!h) return setView(S.loaded ? empty(`No host named <code>${esc(name)}</code>.`) : empty("Loading…"));
  // The filter narrows this host's processes; it never leaves the host.
  const f = parseFilter(curF());
  const procs = [...S.procs.values()].filter((p) => p.host === name && procOk(f, p));
  sortProcs(procs);
  let html = `<h1>${esc(name)} ${hostBadge(h)}</h1>`;
  if (!h.up) html += `<div class="banner">Agent unreachable: ${esc(h.error || "no event stream")}. Processes below are the last known picture${h.last_seen ? " (" + ago(h.last_seen) + ")" : ""}.</div>`;
  html += `<dl class="kv"><dt>url</dt><dd class="mono">${esc(h.url)}</dd><dt>version</dt><dd>${esc(h.version || "—")}</dd><dt>last seen</dt><dd>${when(h.last_seen)}</dd><dt>host groups</dt><dd>${esc((h.groups || []).join(", ") || "—")}</dd><dt>tags</dt><dd>${esc(Object.entries(h.tags || {}).map(([k, v]) => k + "=" + v).join(", ") || "—")}</dd><dt>source</dt><dd>${esc(h.source)}</dd><dt>kind</dt><dd>${esc(h.kind || "fleet")}</dd></dl>`;
  html += `<div class="toolbar"><b>All processes on ${esc(name)}:</b> ${actButtons({ target: "all", hosts: name, what: `every process on ${name}` })}</div>`;
  const groups = [...new Set(procs.map((p) => p.group))].sort();
  if (!procs.length) html += empty(f.any ? "No process of this host matches the filter." : "No processes known on this host.");
  for (const g of groups) {
    const ps = procs.filter((p) => p.group === g);
    html += `<h2>${esc(g)} <span class="sub">${ps.length}</span>${healthNote(ps)} ${actButtons({ target: "group:" + g, hosts: name, what: `program group ${g} on ${name}` })}</h2>`;
    html += `<div class="scroll-x"><table class="procs"><thead><tr><th>process</th><th>state</th><th>restarts</th><th>uptime / last exit</th><th></th></tr></thead><tbody>`;
    for (const p of ps) {
      html += `<tr data-key="${esc(pkey(p.host, p.name))}"><td>${link(procHref(p.host, p.name), p.name, "mono")}</td><td>${stBadge(p.state)} ${healthBadge(p)} ${listenerBadge(p)} ${wantedNote(p)}</td><td class="mono" data-pid="${p.pid == null ? "" : p.pid}">${p.restarts || 0}</td><td class="sub">${story(p)}</td><td>${actButtons({ target: p.name, hosts: p.host, what: `${p.name} on ${p.host}` }, ["start", "stop", "restart", "signal"])}</td></tr>`;
    }
    html += `</tbody></table></div>`;
  }
  setView(html);
}

// The "clear log" button asks for a second click within 5 s (clicks.js).
const armed = (key) => S.clearArm && S.clearArm.key === key && Date.now() < S.clearArm.until;

// Now, and the last readings as a sparkline (one every 30 s).
function usageLine(p, what) {
  if (p.pid == null || p.rss_bytes == null) return "—";
  const u = S.usage.get(pkey(p.host, p.name));
  const xs = u ? u[what] : [];
  const now = what === "rss" ? bytes(p.rss_bytes) : xs.length ? Math.round(xs[xs.length - 1]) + "% of a core" : "—";
  return `${now} ${spark(xs, what === "rss" ? "memory, last readings" : "CPU, last readings")}`;
}

export function proc([host, name]) {
  const p = S.procs.get(pkey(host, name));
  const h = S.hosts.get(host);
  const want = S.route.params.get("stream");
  const stream = want === "stdout" || want === "stderr" ? want : "both";
  let html = `<h1><code>${esc(name)}</code> on ${link(hostHref(host), host)} ${p ? stBadge(p.state) : ""}</h1>`;
  if (h && !h.up) html += `<div class="banner">Agent unreachable: ${esc(h.error || "")}. The log tail needs the agent.</div>`;
  if (p) {
    html += `<dl class="kv"><dt>state</dt><dd>${stBadge(p.state)} since ${when(p.state_since)} ${wantedNote(p)}</dd><dt>wanted</dt><dd>${esc(p.wanted)}</dd>${p.health ? `<dt>health</dt><dd>${healthBadge(p)} ${esc(p.health_message || "no check has run yet")}</dd>` : ""}${p.listener ? `<dt>listener</dt><dd data-listener-detail>${listenerBadge(p)} pool ${esc(p.listener.pool)} · ${esc((p.listener.events || []).join(", "))} · ${p.listener.handled} handled · ${p.listener.rejected} rejected · ${p.listener.dropped} dropped · ${p.listener.buffered} buffered</dd>` : ""}<dt>pid</dt><dd class="mono" data-pid="${p.pid == null ? "" : p.pid}">${p.pid == null ? "—" : p.pid}</dd><dt>now</dt><dd>${story(p)}</dd><dt>description</dt><dd>${describe(p)}</dd><dt>group / program</dt><dd>${esc(p.group)} / ${esc(p.program)}</dd><dt>restarts</dt><dd>${p.restarts}</dd><dt>cpu</dt><dd data-usage="cpu">${usageLine(p, "cpu")}</dd><dt>memory</dt><dd data-usage="rss">${usageLine(p, "rss")}</dd></dl>`;
    html += `<div class="toolbar">${actButtons({ target: p.name, hosts: p.host, what: `${p.name} on ${p.host}` }, ["start", "stop", "restart", "signal"])}</div>`;
    html += `<h2>Last exits <span class="sub">${(p.exits || []).length}, newest first</span></h2>` + exitsTable(p);
  } else if (S.loaded) html += empty("This process is not in the console's picture.");
  const base = procHref(host, name);
  const key = host + "\0" + name + "\0" + stream;
  const seg = (k, label) => `<a class="btn small${stream === k ? " on" : ""}" href="${base}?stream=${k}" data-stream="${k}"${stream === k ? ' aria-current="true"' : ""}>${label}</a>`;
  html += `<h2>Log <span class="seg">${seg("both", "stdout + stderr")} ${seg("stdout", "stdout")} ${seg("stderr", "stderr")}</span> <button type="button" class="small" data-download="log">download shown</button>${canAct() ? ` <button type="button" class="small" data-clear-log="${esc(host + "/" + name)}" aria-label="${esc(`clear the log files and tail of ${name} on ${host}`)}">${armed(host + "/" + name) ? "click again to clear" : "clear log"}</button>` : ""} ${["stdout", "stderr"].map((st) => `<a class="small" data-file="${st}" href="/v1/hosts/${enc(host)}/processes/${enc(name)}/log/file?stream=${st}" download>${st} log file</a>`).join(" ")} <span class="sub" id="log-state">${esc((S.log && S.log.key === key && S.log.state) || "")}</span></h2>`;
  // Same tag as the kept log element, so the morph keeps it in place
  // (moving it would reset its scroll position).
  html += `<pre data-mount="log"></pre>`;
  setView(html);
  if (!S.log || S.log.key !== key) startLog(host, name, stream, key);
  const ph = $(`[data-mount="log"]`);
  if (ph && ph !== S.log.pre) ph.replaceWith(S.log.pre);
}
