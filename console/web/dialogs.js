import { api } from "./api.js";
import { link, RISK, stBadge } from "./pieces.js";
import { S, SIGNALS } from "./state.js";
import { $, enc, esc } from "./util.js";
import { verdictTable } from "./views/tables.js";

// ---------------------------------------------------------------- action dialog

// D: the dialog's current job (S.dialog; see state.js).
const D = S.dialog;

export function specToReq(verb, spec) {
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
  // A row narrowed by the filter acts on what it shows, no more.
  if (spec.only) req.only = spec.only;
  return { what: spec.what, fleet: !!spec.fleet || (spec.nhosts || 1) > 1, req };
}

export function options() {
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

// The confirm button's colour says how much the action can hurt, and its
// label says exactly what it does ("send SIGHUP", not "signal").
export function paintGo() {
  const go = $("#confirm-go");
  const sig = $("#opt-signal");
  go.textContent = sig ? "send SIG" + sig.value : D.verb;
  let risk = RISK[D.verb] || "warn";
  if (sig && (sig.value === "KILL" || sig.value === "TERM")) risk = "danger";
  if (D.fleet && D.verb !== "start") risk = "danger";
  go.className = risk;
  go.dataset.risk = risk;
}

export function optionsEnabled(on) {
  $("#confirm-options").querySelectorAll("input,select").forEach((i) => (i.disabled = !on));
}

// Acting needs a shown plan: Go stays disabled until the dry run of the
// current options is on screen; changing an option withdraws it.
function withdrawPlan() {
  const go = $("#confirm-go");
  if (D.planned === null && go.disabled) return;
  D.planned = null;
  go.disabled = true;
  if ($("#confirm-progress").innerHTML) $("#confirm-progress").innerHTML = `<p class="sub" data-replan>Options changed: plan again to see what this touches.</p>`;
}

// What the request would be with the dialog's options now.
const requestNow = () => JSON.stringify({ ...D.req, ...options() });

export function openAction(verb, spec) {
  const dlg = $("#confirm");
  const job = specToReq(verb, spec);
  D.req = job.req;
  D.ops = null;
  D.verb = verb;
  D.fleet = job.fleet;
  D.planned = null;
  $("#confirm-title").textContent = `${verb[0].toUpperCase() + verb.slice(1)} ${job.what}`;
  const hosts = D.req.hosts === undefined ? "all hosts" : D.req.hosts;
  $("#confirm-body").innerHTML = `<p>${esc(verb)} <code>${esc(D.req.only ? D.req.only.join(", ") : D.req.target)}</code> on <code>${esc(hosts)}</code>. <span class="sub">“Plan” lists exactly what it would touch, without touching it.</span></p>`;
  $("#confirm-progress").innerHTML = "";
  $("#confirm-error").textContent = "";
  let opts = "";
  // HUP first: the usual "reload"; TERM and KILL end the process.
  if (verb === "signal") opts += `<p><label>Signal <select id="opt-signal">${SIGNALS.map((s) => `<option>${s}</option>`).join("")}</select></label></p>`;
  if (job.fleet) {
    opts += `<fieldset><legend>Strategy</legend><label><input type="radio" name="strategy" id="opt-parallel" checked> all at once (parallel)</label><label><input type="radio" name="strategy" id="opt-rolling"> rolling</label> <label>batch <input id="opt-batch" size="5" value="1" title="N hosts or N%"></label><label>stop after <input id="opt-maxfail" size="3" value="1"> failed host(s)</label></fieldset>`;
  }
  $("#confirm-options").innerHTML = opts;
  $("#confirm-options").oninput = withdrawPlan;
  $("#confirm-options").onchange = withdrawPlan;
  const go = $("#confirm-go");
  go.hidden = false;
  go.disabled = true;
  go.title = "Plan first: it lists exactly what this touches";
  go.textContent = verb;
  $("#confirm-plan").hidden = false;
  $("#confirm-plan").disabled = false;
  $("#confirm-cancel").textContent = "Cancel";
  paintGo();
  if (!dlg.open) dlg.showModal();
  // Never the confirm button: Enter must not act by default.
  ($("#confirm-options").querySelector("select,input") || $("#confirm-cancel")).focus();
}

export async function planAction() {
  const plan = $("#confirm-plan");
  const go = $("#confirm-go");
  plan.setAttribute("aria-busy", "true");
  $("#confirm-error").textContent = "";
  const asked = requestNow();
  try {
    const op = await api("POST", "/v1/ops", { ...JSON.parse(asked), dry_run: true });
    let total = 0;
    let lines = "";
    const missing = [];
    const sig = options().signal;
    const rolling = op.request && op.request.strategy === "rolling";
    for (const h of op.hosts) {
      total += h.processes.length;
      // A group's plan names hosts without it once, not one line each.
      if (!h.processes.length && /no matching process/.test(h.message || "")) {
        missing.push(h.host);
        continue;
      }
      // A down host's processes are UNKNOWN: the op would fail there.
      const unreachable = h.processes.some((p) => p.state === "UNKNOWN");
      const batch = rolling && h.batch ? `<span class="sub" data-batch="${h.batch}">batch ${h.batch}</span> ` : "";
      lines += `<div${unreachable ? ' data-unreachable="1"' : ""}>${batch}<b>${esc(h.host)}</b>: ${h.processes.length ? h.processes.map((p) => `<code>${esc(p.name)}</code> ${stBadge(p.state)}`).join(" ") : `<span class="error">${esc(h.message || "nothing")}</span>`}${unreachable ? ` <span class="error">${esc(h.message)}</span>` : ""}</div>`;
    }
    const doing = sig ? `send <b>SIG${esc(sig)}</b> to` : `<b>${esc(D.verb)}</b>`;
    const order = rolling ? ` in ${new Set(op.hosts.map((h) => h.batch)).size} batch(es), in this order` : "";
    const none = missing.length ? `<p class="sub" data-missing="${missing.length}">Not on ${missing.length} host(s), nothing to do there: ${missing.map(esc).join(", ")}</p>` : "";
    $("#confirm-progress").innerHTML = `<p>This will ${doing} <b data-touch-count="${total}">${total} process(es)</b> on <b>${op.hosts.length - missing.length} host(s)</b>${order}:</p><div class="touch">${lines}</div>${none}` + (total ? "" : `<p class="error">Nothing matches; nothing to do.</p>`);
    // The plan shown is the plan of these options, unless they changed
    // while it was asked for.
    if (total && requestNow() === asked) {
      D.planned = asked;
      go.disabled = false;
      go.title = "";
    }
  } catch (e) {
    refused("Cannot plan this: ", e);
  }
  plan.removeAttribute("aria-busy");
  // Focus stays on Plan (never on Go: Enter must not act by default).
  if (!document.activeElement || document.activeElement === document.body) plan.focus();
}

// A refusal names the option at fault and puts the cursor in it.
function refused(prefix, e) {
  $("#confirm-error").textContent = prefix + e.message;
  const culprit = /batch/.test(e.message) ? $("#opt-batch") : /fail/.test(e.message) ? $("#opt-maxfail") : /signal/.test(e.message) ? $("#opt-signal") : null;
  if (culprit) culprit.focus();
}

export async function runAction() {
  const go = $("#confirm-go");
  if (D.planned === null || D.planned !== requestNow()) return withdrawPlan();
  go.disabled = true;
  optionsEnabled(false);
  $("#confirm-error").textContent = "";
  let op;
  try {
    op = await api("POST", "/v1/ops", { ...D.req, ...options() });
  } catch (e) {
    // Refused: nothing ran. Everything stays editable, the culprit focused.
    optionsEnabled(true);
    go.disabled = false;
    refused("Refused: ", e);
    return;
  }
  D.ops = [op];
  go.hidden = true;
  $("#confirm-plan").hidden = true;
  $("#confirm-cancel").textContent = "Close";
  dialogOp(op);
  followOp(op.id);
}

export async function followOp(id) {
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

export function dialogOp(op) {
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
