import { ago, empty, link, took, when } from "../pieces.js";
import { OPS_PAGE, S } from "../state.js";
import { enc, esc } from "../util.js";
import { INTERRUPTED_NOTE, setView, verdictSummary, verdictTable } from "./tables.js";

export function ops() {
  const q = S.route.params;
  const sel = (k, opts) => `<label>${k} <select data-opsfilter="${k}" aria-label="filter operations by ${k}"><option value="">any</option>${opts.map((o) => `<option${q.get(k) === o ? " selected" : ""}>${o}</option>`).join("")}</select></label>`;
  const inp = (k) => `<label>${k} <input data-opsfilter="${k}" size="12" value="${esc(q.get(k) || "")}" aria-label="filter operations by ${k}"></label>`;
  let html = `<h1>Operations</h1><form class="toolbar" id="ops-filter">${sel("action", ["start", "stop", "restart", "signal", "reexec"])} ${sel("result", ["ok", "failed", "running", "aborted", "interrupted"])} ${inp("who")} ${inp("target")}</form>`;
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
}

export function op([id]) {
  const op = S.opDetail && S.opDetail.id === id ? S.opDetail : null;
  if (!op) return setView(S.opError ? `<div class="banner">${esc(S.opError)}</div>` : empty("Loading…"));
  const r = op.request;
  let html = `<h1>Operation <code>${esc(op.id)}</code></h1><dl class="kv"><dt>what</dt><dd>${esc(r.action)}${r.signal ? " " + esc(r.signal) : ""} <code>${esc(r.target)}</code> on <code>${esc(r.hosts || "all")}</code>${r.only && r.only.length ? ` — exactly: <code>${esc(r.only.join(", "))}</code>` : ""}</dd><dt>who</dt><dd>${esc(op.who)}${op.source ? ` from <code>${esc(op.source)}</code>` : ""}</dd><dt>when</dt><dd>${new Date(op.created_at).toLocaleString()}</dd><dt>strategy</dt><dd>${esc(r.strategy)}${r.batch ? ", batch " + esc(r.batch) : ""}${r.max_failures != null ? ", max failures " + r.max_failures : ""}</dd><dt>state</dt><dd>${esc(op.state)}${op.state === "interrupted" ? INTERRUPTED_NOTE : ""}</dd><dt>took</dt><dd>${took(op)}</dd><dt>outcome</dt><dd>${verdictSummary(op)}</dd></dl>`;
  html += `<h2>Per host</h2>` + verdictTable(op);
  setView(html);
}
