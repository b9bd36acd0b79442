import { filtered } from "../picture.js";
import { empty } from "../pieces.js";
import { S } from "../state.js";
import { hostRows } from "./rows.js";
import { hostGroupTable, selectionBar, setView } from "./tables.js";
import { mountList } from "../vlist.js";

export function hosts() {
  const { hosts, pic } = filtered();
  if (S.hostSel.size) {
    const names = new Set(hosts.map((h) => h.name));
    for (const n of [...S.hostSel]) if (!names.has(n)) S.hostSel.delete(n);
  }
  let html = `<h1>Hosts <span class="sub">${hosts.length} of ${S.hosts.size}</span></h1>` + selectionBar();
  html += hosts.length ? `<div data-mount="hosts"></div>` : empty(S.loaded ? "No host matches the filter. <kbd>Esc</kbd> clears it." : "Loading…");
  setView(html);
  if (hosts.length) hostRows(mountList("hosts"), hosts, pic);
}

export function hostgroups() {
  const { hosts, pic } = filtered(false);
  setView(`<h1>Host groups</h1>` + hostGroupTable(hosts, pic));
}
