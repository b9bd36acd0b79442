import { actButtons, bar, healthBadge, listenerBadge, usageText, hostBadge, hostClass, hostHref, link, procHref, stBadge, story, wantedNote } from "../pieces.js";
import { agg } from "../picture.js";
import { BAD, canAct, S, STATES } from "../state.js";
import { esc, pkey } from "../util.js";

export function sortHead(key, label) {
  const cur = S.route.params.get("sort") || "severity";
  const on = cur.replace(/^-/, "") === key;
  const dir = on ? (cur.startsWith("-") ? "descending" : "ascending") : "none";
  return `<button type="button" class="sort${on ? " on" : ""}" data-sort="${key}" aria-sort="${dir}" aria-label="sort by ${label}">${label}${on ? (cur.startsWith("-") ? " ▲" : " ▼") : ""}</button>`;
}

export function procRows(l, procs) {
  l.selected = canAct() ? S.sel : null;
  l.set(procs, {
    order: S.route.view + "?" + S.route.params,
    cls: "g-proc",
    head:
      `<span>${canAct() ? `<input type="checkbox" data-selall="${esc(l.id)}" aria-label="select all shown processes">` : ""}</span>` +
      `<span>${sortHead("host", "host")}</span><span>${sortHead("name", "process")}</span><span>${sortHead("severity", "state")}</span><span>${sortHead("restarts", "restarts")}</span><span>${sortHead("rss", "cpu · mem")}</span><span>${sortHead("uptime", "uptime / last exit")}</span><span>${canAct() ? "actions" : ""}</span>`,
    key: (p) => pkey(p.host, p.name),
    rowClass: (p) => hostClass(S.hosts.get(p.host)) + (S.hosts.get(p.host) && S.hosts.get(p.host).up ? "" : " dim"),
    row: (p) => {
      const k = pkey(p.host, p.name);
      const what = `${p.name} on ${p.host}`;
      return (
        `<span class="c-sel">${canAct() ? `<input type="checkbox" data-sel="${esc(k)}"${S.sel.has(k) ? " checked" : ""} aria-label="${esc("select " + what)}">` : ""}</span>` +
        `<span class="c-host">${link(hostHref(p.host), p.host)}</span>` +
        `<span class="c-name">${link(procHref(p.host, p.name), p.name, "mono")}</span>` +
        `<span class="c-state">${stBadge(p.state)} ${healthBadge(p)} ${listenerBadge(p)} ${wantedNote(p)}</span>` +
        `<span class="c-restarts mono" data-pid="${p.pid == null ? "" : p.pid}" title="restarts">${p.restarts || 0}</span>` +
        `<span class="c-use mono" title="CPU (share of one core) and resident memory">${usageText(p)}</span>` +
        `<span class="c-story sub" title="${esc(story(p).replace(/<[^>]*>/g, ""))}">${story(p)}</span>` +
        `<span class="c-act">${actButtons({ target: p.name, hosts: p.host, what }, ["start", "stop", "restart", "signal"])}</span>`
      );
    },
  });
}

// Per host counts kept by picture.js (`pic.byHost`).
export function hostRows(l, hosts, pic) {
  l.selected = canAct() ? S.hostSel : null;
  l.set(hosts, {
    order: S.route.view + "?" + S.route.params,
    cls: "g-host",
    head:
      `<span>${canAct() ? `<input type="checkbox" data-hostselall="${esc(l.id)}" aria-label="select all hosts">` : ""}</span>` +
      `<span>host</span><span>status</span><span>host groups</span><span>procs</span><span>states</span><span>summary</span><span>${canAct() ? "actions (all processes)" : ""}</span>`,
    key: (h) => h.name,
    rowClass: (h) => hostClass(h),
    row: (h) => {
      const a = pic.byHost.get(h.name) || agg(false);
      const c = a.c;
      const bad = STATES.filter((s) => BAD.has(s) && c[s]).map((s) => `${c[s]} ${s}`);
      // A crash loop that is RUNNING this instant is not "all fine".
      if (a.flap) bad.push(`${a.flap} flapping`);
      const summary = !h.up ? esc(h.error || "unreachable") : bad.length ? bad.join(", ") : a.n ? "all fine" : "no processes";
      return (
        `<span>${canAct() ? `<input type="checkbox" data-hostsel="${esc(h.name)}"${S.hostSel.has(h.name) ? " checked" : ""} aria-label="${esc("select host " + h.name)}">` : ""}</span>` +
        `<span>${link(hostHref(h.name), h.name)}${h.kind === "supervisord" ? ` <span class="sub" title="supervisord, polled over XML-RPC">supervisord</span>` : ""}</span>` +
        `<span>${hostBadge(h)}</span>` +
        `<span class="sub">${esc((h.groups || []).join(", "))}</span>` +
        `<span>${a.n}</span>` +
        `<span>${bar(c, a.n)}</span>` +
        `<span class="sub${bad.length || !h.up ? " error" : ""}" title="${summary}">${summary}</span>` +
        `<span class="c-act">${actButtons({ target: "all", hosts: h.name, what: `every process on ${h.name}` })}</span>`
      );
    },
  });
}
