import { api } from "./api.js";
import { schedule } from "./data.js";
import { stopLog } from "./log.js";
import { openAction, paintGo } from "./dialogs.js";
import { onRoute, parseHash, setParam } from "./router.js";
import { S } from "./state.js";
import { enc, pkey } from "./util.js";

export function onClick(ev) {
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
  const resort = t.closest("[data-resort]");
  if (resort) {
    const l = S.lists.get(resort.dataset.resort);
    if (l) l.force = true;
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
  const clear = t.closest("[data-clear-log]");
  if (clear) return clearLog(clear);
  if (t.matches("[data-download]") && S.log) {
    const a = document.createElement("a");
    a.href = URL.createObjectURL(new Blob([S.log.pre.textContent], { type: "text/plain" }));
    a.download = S.log.key.replace(/\0/g, "_").replace(/[^\w.-]/g, "_") + ".log";
    a.click();
    setTimeout(() => URL.revokeObjectURL(a.href), 5000);
  }
}

// "clear log": the first click arms it (a log is evidence), the second
// within 5 s clears both streams' files and tails on the agent (audited by
// the console), then the view starts over empty.
async function clearLog(btn) {
  const key = btn.dataset.clearLog;
  // Armed in S, not on the element: a re-render keeps it.
  if (!S.clearArm || S.clearArm.key !== key || Date.now() >= S.clearArm.until) {
    S.clearArm = { key, until: Date.now() + 5000 };
    setTimeout(schedule, 5001);
    return schedule();
  }
  S.clearArm = null;
  const i = key.indexOf("/");
  const [host, name] = [key.slice(0, i), key.slice(i + 1)];
  btn.disabled = true;
  try {
    await api("POST", `/v1/hosts/${enc(host)}/processes/${enc(name)}/log/clear`);
    stopLog();
    schedule();
  } catch (e) {
    btn.textContent = "not cleared: " + e.message;
  }
}

export function onChange(ev) {
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
