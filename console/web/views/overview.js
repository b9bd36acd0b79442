import { hostDown, hostStale } from "../filter.js";
import { filtered } from "../picture.js";
import { andF, curF, empty, withF } from "../pieces.js";
import { BAD, S, STATES } from "../state.js";
import { esc } from "../util.js";
import { card, groupTable, hostGroupTable, setView, troubleTable } from "./tables.js";

export function overview() {
  // Counts kept by picture.js: an event batch costs its events, not the
  // fleet.
  const { hosts, pic } = filtered(false);
  const t = pic.total;
  const f = curF();
  const up = hosts.filter((h) => h.up && !(h.stale_ms > 0)).length;
  const down = hosts.filter(hostDown).length;
  const stale = hosts.filter(hostStale).length;
  const c = t.c;
  const flap = t.flap;
  const unwanted = t.unwanted;
  let html = `<h1>Fleet overview</h1>`;
  // Trouble first: every problem is a card linking to its filtered list.
  let bad = "";
  for (const s of ["FATAL", "BACKOFF", "EXITED"]) if (c[s]) bad += card(c[s], s, "bad", withF("#/processes", andF("state:" + s.toLowerCase())), "trouble-" + s);
  if (flap) bad += card(flap, "flapping", "bad", withF("#/processes", andF("is:flapping")), "trouble-flapping");
  const sick = t.sick;
  if (sick) bad += card(sick, "unhealthy", "bad", withF("#/processes", andF("is:unhealthy")), "trouble-unhealthy");
  if (unwanted) bad += card(unwanted, "stopped, wanted running", "warn", withF("#/processes", andF("state:stopped is:trouble")), "trouble-unwanted");
  if (down) bad += card(down, "hosts down", "bad", withF("#/hosts", andF("is:down")), "trouble-down");
  if (stale) bad += card(stale, "hosts stale", "warn", withF("#/hosts", andF("is:stale")), "trouble-stale");
  if (S.loaded) {
    html += bad
      ? `<section class="trouble" aria-label="problems"><h2>Needs attention</h2><div class="cards">${bad}</div>${troubleTable(pic, hosts)}</section>`
      : `<p class="allgood" role="status">No problems: ${up} host(s) up, ${c.RUNNING} process(es) running.</p>`;
  }
  html += `<h2>Fleet</h2><div class="cards">` + card(hosts.length, "hosts", "", withF("#/hosts", f)) + card(up, "up", "ok", withF("#/hosts", andF("is:up"))) + card(down, "down", down ? "bad" : "", withF("#/hosts", andF("is:down"))) + card(stale, "stale", stale ? "warn" : "", withF("#/hosts", andF("is:stale"))) + card(t.n, "processes", "", withF("#/processes", f));
  for (const s of STATES) {
    if (!c[s] && s !== "RUNNING") continue;
    const cls = s === "RUNNING" ? "ok" : BAD.has(s) ? "bad" : s === "STOPPED" ? "" : "warn";
    html += card(c[s], s, cls, withF("#/processes", andF("state:" + s.toLowerCase())), s);
  }
  html += `</div>`;
  if (!S.loaded) html += S.loadError ? `<div class="banner">Could not read the fleet: ${esc(S.loadError)}</div>` : empty("Loading the fleet…");
  else if (!S.hosts.size) html += empty("No agents yet. List them under <code>[[agent]]</code> in console.toml, or let agents register with the enrollment token.");
  html += `<h2>Program groups across the fleet</h2>` + groupTable(pic, f);
  html += `<h2>Host groups</h2>` + hostGroupTable(hosts, pic);
  setView(html);
}
