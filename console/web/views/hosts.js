import { filtered } from "../filter.js";
import { empty } from "../pieces.js";
import { S } from "../state.js";
import { hostRows } from "./rows.js";
import { hostGroupTable, selectionBar, setView } from "./tables.js";
import { mountList } from "../vlist.js";

export function hosts() {
  const { hosts, procs } = filtered();
  for (const n of [...S.hostSel]) if (!hosts.some((h) => h.name === n)) S.hostSel.delete(n);
  let html = `<h1>Hosts <span class="sub">${hosts.length} of ${S.hosts.size}</span></h1>` + selectionBar();
  html += hosts.length ? `<div data-mount="hosts"></div>` : empty(S.loaded ? "No host matches the filter. <kbd>Esc</kbd> clears it." : "Loading…");
  setView(html);
  if (hosts.length) hostRows(mountList("hosts"), hosts, procs);
}

export function hostgroups() {
  const { hosts, procs } = filtered(false);
  setView(`<h1>Host groups</h1>` + hostGroupTable(hosts, procs));
}
