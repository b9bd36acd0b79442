import { stopLog } from "./log.js";
import { loadOp, loadOps } from "./ops.js";
import { render } from "./render.js";
import { S } from "./state.js";
import { $, enc } from "./util.js";

// ---------------------------------------------------------------- routing

export function parseHash() {
  const h = location.hash.replace(/^#\/?/, "");
  const [path, query] = h.split("?");
  const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
  return { view: parts[0] || "overview", args: parts.slice(1), params: new URLSearchParams(query || "") };
}

export function onRoute() {
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
export function onFilterInput() {
  clearTimeout(S.filterTimer);
  S.filterTimer = setTimeout(applyFilter, 120);
}

// The filter box's text into the hash, now (leaving the box by keyboard
// must land on the rows of what it says, not of what it said 120 ms ago).
export function applyFilter() {
  clearTimeout(S.filterTimer);
  {
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
  }
}

// Change one URL parameter of the current view (history entry kept small).
export function setParam(k, v, reload) {
  const r = parseHash();
  if (v == null || v === "") r.params.delete(k);
  else r.params.set(k, v);
  const path = "#/" + [r.view, ...r.args].map(enc).join("/");
  const qs = r.params.toString();
  history.replaceState(null, "", path + (qs ? "?" + qs : ""));
  onRoute();
  if (reload) loadOps();
}
