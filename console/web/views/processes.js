import { countStates } from "../filter.js";
import { filtered } from "../picture.js";
import { actButtons, empty, stateSummary } from "../pieces.js";
import { S } from "../state.js";
import { esc, pkey } from "../util.js";
import { procRows } from "./rows.js";
import { groupSpec, groupTable, keepShown, selectionBar, setView } from "./tables.js";
import { mountList } from "../vlist.js";

export function groups() {
  const { pic } = filtered(false);
  setView(`<h1>Program groups across the fleet</h1>` + groupTable(pic, S.route.params.get("f") || ""));
}

export function group([name]) {
  const { procs } = filtered();
  const mine = procs.filter((p) => p.group === name);
  if (S.sel.size) {
    const keys = new Set(mine.map((p) => pkey(p.host, p.name)));
    keepShown((k) => keys.has(k));
  }
  const hosts = [...new Set(mine.map((p) => p.host))].sort();
  const c = countStates(mine);
  let html = `<h1>Program group <code>${esc(name)}</code> <span class="sub">${mine.length} processes on ${hosts.length} hosts</span></h1>`;
  html += `<div class="toolbar">${stateSummary(c)} ${hosts.length ? actButtons(groupSpec(name, new Set(hosts), mine)) : ""}</div>`;
  html += selectionBar();
  html += mine.length ? `<div data-mount="group"></div>` : empty(S.loaded ? "No process of this group matches." : "Loading…");
  setView(html);
  if (mine.length) procRows(mountList("group"), mine);
}

export function processes() {
  const { procs, pic } = filtered();
  keepShown((k) => S.procs.has(k) && pic.in.has(S.procs.get(k)));
  let html = `<h1>Processes <span class="sub">${procs.length} of ${S.procs.size}</span></h1>` + selectionBar();
  html += procs.length ? `<div data-mount="procs"></div>` : empty(S.loaded ? "No process matches the filter; clear the filter box to see them all." : "Loading…");
  setView(html);
  if (procs.length) procRows(mountList("procs"), procs);
}
