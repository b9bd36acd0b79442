// Render the current route's view from the in-memory picture, and the tab
// badge. A view is a function of `S` that builds HTML text and morphs it into
// #view (views/tables.js setView); it never fetches and never re-renders.
import { picture } from "./picture.js";
import { curF, when, withF } from "./pieces.js";
import { S } from "./state.js";
import * as detail from "./views/detail.js";
import * as hosts from "./views/hosts.js";
import * as ops from "./views/ops.js";
import * as overview from "./views/overview.js";
import * as processes from "./views/processes.js";

// The route's first segment → its view. No prototype: `#/toString` is an
// unknown view (the overview), not a method.
const VIEWS = Object.assign(Object.create(null), overview, hosts, processes, detail, ops);

// Tab title and icon carry the count of problems across the whole fleet.
export function badge() {
  let n = picture().bad;
  for (const h of S.hosts.values()) if (!h.up) n++;
  if (n === S.lastBadge) return;
  S.lastBadge = n;
  document.title = n ? `(${n}) fleet console` : "fleet console";
  const icon = document.querySelector("link[rel=icon]");
  if (!icon) return;
  if (!n) icon.href = "/ui/favicon.svg";
  else {
    const svg = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16"><rect width="16" height="16" rx="3" fill="#dc2626"/><text x="8" y="12" font-size="${n > 99 ? 7 : 10}" text-anchor="middle" fill="#fff" font-family="sans-serif" font-weight="700">${n > 999 ? "!" : n}</text></svg>`;
    icon.href = "data:image/svg+xml," + encodeURIComponent(svg);
  }
}

// A lost console is said in words above everything, and the view is
// greyed: every figure below is as of the loss.
function connBanner() {
  const el = document.getElementById("conn");
  const lost = S.conn.lost;
  document.body.classList.toggle("stale-page", !!lost);
  if (!lost) {
    if (!el.hidden) el.hidden = true;
    return;
  }
  const html = `<b>Lost the console</b> — nothing heard since ${new Date(lost).toLocaleTimeString(undefined, { timeZoneName: "short" })} (${when(lost)}). Everything below is as it was then; reconnecting…`;
  if (el.hidden || el.dataset.lost !== String(lost)) {
    el.innerHTML = html;
    el.dataset.lost = String(lost);
    el.hidden = false;
  }
}

export function render() {
  if (!S.me) return;
  connBanner();
  const r = S.route;
  const fn = VIEWS[r.view] || VIEWS.overview;
  // Keep scroll positions of lists before the view's HTML is replaced.
  for (const l of S.lists.values()) if (l.el.isConnected) l.scrollTop = l.el.scrollTop;
  fn(r.args);
  badge();
  // Nav links carry the filter (each view applies what it understands).
  const f = curF();
  for (const a of document.querySelectorAll("#nav a")) {
    a.classList.toggle("active", a.dataset.view === r.view);
    if (a.dataset.view === r.view) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
    const base = a.dataset.view === "overview" ? "#/" : "#/" + a.dataset.view;
    const href = a.dataset.view === "ops" ? base : withF(base, f);
    if (a.getAttribute("href") !== href) a.setAttribute("href", href);
  }
}
