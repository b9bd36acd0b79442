// The filtered, sorted picture the views show, kept between renders in
// `S.pic`: the matching processes in display order, their counts (per
// state, per program group, per host), the trouble rows, and over every
// process the troubled ones (tab badge, host ranks). An event batch moves
// only the processes it changes: data.js calls leave(p) before changing
// one and enter(p) after, which adjust the counts by the old and new
// contribution and re-insert it at its binary-searched place. A new filter
// or sort, a status reload (new Maps), a host change that a filter can
// see, or the flapping window moving rebuilds it. Invariant: it equals a
// rebuild from scratch (S.test.recount; tests/console_picture.rs).
import { hostOk, parseFilter, procOk, procOrder, recentExits, trouble } from "./filter.js";
import { FLAP_MS, FLAP_N, S, SEVERITY, STATES } from "./state.js";
import { cmp } from "./util.js";

export function agg(withHosts) {
  const c = {};
  for (const s of STATES) c[s] = 0;
  return { n: 0, c, flap: 0, sick: 0, healthy: 0, checked: 0, unwanted: 0, hosts: withHosts ? new Map() : null };
}

function bump(m, k, d) {
  const n = (m.get(k) || 0) + d;
  if (n) m.set(k, n);
  else m.delete(k);
}

// One process's contribution, d = +1 or -1.
function add(a, p, d) {
  a.n += d;
  a.c[p.state] = (a.c[p.state] || 0) + d;
  if (p._flap) a.flap += d;
  if (p.health) a.checked += d;
  if (p.health === "unhealthy") a.sick += d;
  if (p.health === "healthy") a.healthy += d;
  if (p.wanted === "running" && p.state === "STOPPED") a.unwanted += d;
  if (a.hosts) bump(a.hosts, p.host, d);
}

// Sum of counts (host groups add up their hosts').
export function addAgg(a, b) {
  a.n += b.n;
  for (const s in b.c) a.c[s] = (a.c[s] || 0) + b.c[s];
  for (const k of ["flap", "sick", "healthy", "checked", "unwanted"]) a[k] += b[k];
}

// Flapping and rank are fixed when a process enters, so leaving finds it
// where it went in; time moves them only when an exit leaves the window.
function mark(p, now) {
  p._flap = (p.exits_by_minute || p.exits || []).length ? recentExits(p, now) >= FLAP_N : false;
  p._rank = p._flap ? Math.min(SEVERITY[p.state], SEVERITY.BACKOFF) : SEVERITY[p.state];
}

// When the oldest exit still counted leaves the window (a flapping
// process can stop flapping then; one that is not cannot start to).
function flapEnd(p, now) {
  let t = Infinity;
  if (p.exits_by_minute) {
    for (const [minute] of p.exits_by_minute) if (minute + 60000 + FLAP_MS > now) t = Math.min(t, minute + 60000 + FLAP_MS);
  } else for (const x of p.exits || []) if (!x.stopped_by_us && x.at + FLAP_MS > now) t = Math.min(t, x.at + FLAP_MS);
  return t;
}

function lower(arr, p, by) {
  let lo = 0;
  let hi = arr.length;
  while (lo < hi) {
    const m = (lo + hi) >> 1;
    if (by(arr[m], p) < 0) lo = m + 1;
    else hi = m;
  }
  return lo;
}

function at(arr, p, by) {
  const i = lower(arr, p, by);
  return arr[i] === p ? i : arr.indexOf(p); // an order that is not total (NaN)
}

function drop(arr, p, by) {
  const i = at(arr, p, by);
  if (i >= 0) arr.splice(i, 1);
}

// Counts and membership; `ordered`: insert at its place (else the caller
// sorts once).
function count(pic, p, d, now, ordered) {
  const bad = trouble(p);
  if (bad) {
    pic.bad += d;
    bump(pic.badHosts, p.host, d);
  }
  if (d > 0 && p._flap) pic.flapUntil = Math.min(pic.flapUntil, flapEnd(p, now));
  const shown = d > 0 ? pic.hostSet.has(p.host) && procOk(pic.f, p) : pic.in.has(p);
  if (!shown) return;
  add(pic.total, p, d);
  let g = pic.groups.get(p.group);
  if (!g) pic.groups.set(p.group, (g = agg(true)));
  add(g, p, d);
  if (!g.n) pic.groups.delete(p.group);
  let h = pic.byHost.get(p.host);
  if (!h) pic.byHost.set(p.host, (h = agg(false)));
  add(h, p, d);
  if (!h.n) pic.byHost.delete(p.host);
  if (d < 0) {
    pic.in.delete(p);
    if (!pic.bulk) {
      drop(pic.procs, p, pic.by);
      if (bad) drop(pic.trouble, p, pic.by);
    } else if (!pic.pend.delete(p)) {
      // Where it is now, while every row still has the fields it went in with.
      pic.outs.push(at(pic.procs, p, pic.by));
      if (bad) pic.outBad.push(at(pic.trouble, p, pic.by));
    }
    return;
  }
  pic.in.add(p);
  if (!ordered) {
    pic.procs.push(p);
    if (bad) pic.trouble.push(p);
    return;
  }
  if (pic.bulk) {
    pic.pend.add(p);
    return;
  }
  pic.procs.splice(lower(pic.procs, p, pic.by), 0, p);
  if (bad) pic.trouble.splice(lower(pic.trouble, p, pic.by), 0, p);
}

// A big batch (begin()) moves its processes in one go at the end: each
// splice of a 100,000-row array moves half of it, and 400 of them cost
// more than cutting the old rows out and weaving the new ones in by
// slices (native copies; places binary-searched).
function settle(pic) {
  pic.bulk = false;
  if (!pic.outs.length && !pic.pend.size) return;
  const add = [...pic.pend].sort(pic.by);
  pic.procs = weave(cut(pic.procs, pic.outs), add, pic.by);
  pic.trouble = weave(cut(pic.trouble, pic.outBad), add.filter(trouble), pic.by);
  pic.outs = [];
  pic.outBad = [];
  pic.pend.clear();
}

function cut(a, idx) {
  if (!idx.length) return a;
  idx.sort((x, y) => x - y);
  const parts = [];
  let from = 0;
  for (const i of idx) {
    parts.push(a.slice(from, i));
    from = i + 1;
  }
  parts.push(a.slice(from));
  return [].concat(...parts);
}

function weave(a, b, by) {
  if (!b.length) return a;
  const parts = [];
  let from = 0;
  for (const x of b) {
    const i = lower(a, x, by); // b is sorted: `i` only grows
    parts.push(a.slice(from, i), x);
    from = i;
  }
  parts.push(a.slice(from));
  return [].concat(...parts);
}

const keyOf = () => (S.route.params.get("f") || "") + "\n" + (S.route.params.get("sort") || "severity");
const fresh = (pic) => pic && !pic.dirty && pic.key === keyOf() && pic.procsMap === S.procs && pic.hostsMap === S.hosts && Date.now() < pic.flapUntil;

export function build() {
  const f = parseFilter(S.route.params.get("f"));
  const pic = { key: keyOf(), procsMap: S.procs, hostsMap: S.hosts, dirty: false, f, by: procOrder(S.route.params.get("sort")) };
  pic.hostSet = new Set();
  for (const h of S.hosts.values()) if (hostOk(f, h)) pic.hostSet.add(h.name);
  Object.assign(pic, { procs: [], trouble: [], in: new Set(), total: agg(false), groups: new Map(), byHost: new Map(), bad: 0, badHosts: new Map(), flapUntil: Infinity, moved: 0, bulk: false, outs: [], outBad: [], pend: new Set() });
  const now = Date.now();
  for (const p of S.procs.values()) {
    mark(p, now);
    count(pic, p, 1, now, false);
  }
  pic.procs.sort(pic.by);
  pic.trouble.sort(pic.by);
  return pic;
}

// The kept picture, rebuilt first if it went stale.
export function picture() {
  if (!fresh(S.pic)) S.pic = build();
  else settle(S.pic);
  return S.pic;
}

// data.js, before a batch of `n` events.
export function begin(n) {
  if (!fresh(S.pic)) return;
  settle(S.pic);
  S.pic.bulk = n > 16;
}

// Before data.js changes process `p` in place, and after.
export function leave(p) {
  if (fresh(S.pic)) count(S.pic, p, -1, Date.now(), true);
}
export function enter(p) {
  const now = Date.now();
  mark(p, now);
  if (!fresh(S.pic)) return;
  count(S.pic, p, 1, now, true);
  S.pic.moved++; // read by the tests: changes applied since the build
}

// A host changed (an event, a /v1/hosts read): a rebuild only if the
// filter now takes or leaves it (is:stale, hg:, a new host); its ranks
// are read afresh each render.
export function hostChanged(old, h) {
  if (S.pic && (!old || hostOk(S.pic.f, old) !== hostOk(S.pic.f, h))) S.pic.dirty = true;
}

// The hosts the filter shows, worst first (down, stale, with troubled
// processes; then by name); `sorted` = false skips the ordering.
export function shownHosts(pic, sorted = true) {
  const f = pic.f;
  const narrow = f.procTerms || f.text.length;
  const out = [];
  for (const h of S.hosts.values()) {
    if (!pic.hostSet.has(h.name)) continue;
    // With process-level terms, a host shows only if a process of it
    // matches (or, for plain text, its name matches).
    if (narrow && !pic.byHost.has(h.name) && !(f.text.length && !f.procTerms && f.text.every((t) => h.name.toLowerCase().includes(t)))) continue;
    out.push(h);
  }
  if (!sorted) return out;
  // Plain code-unit order: localeCompare is ~10× slower on 10,000 rows.
  const rank = (h) => (!h.up ? 0 : h.stale_ms > 0 ? 1 : pic.badHosts.get(h.name) ? 2 : 3);
  return out.sort((a, b) => rank(a) - rank(b) || cmp(a.name, b.name));
}

// The filtered picture: hosts, processes in order, and their counts.
export function filtered(sorted = true) {
  const pic = picture();
  return { f: pic.f, hosts: shownHosts(pic, sorted), procs: pic.procs, pic };
}

// For the tests (S.test.picture / S.test.recount): everything the views
// read of a picture, as plain data in a stable order.
export function digest(pic) {
  const a = (x) => ({ n: x.n, c: x.c, flap: x.flap, sick: x.sick, healthy: x.healthy, checked: x.checked, unwanted: x.unwanted, hosts: x.hosts && [...x.hosts].sort() });
  const keyed = (m, f) => Object.fromEntries([...m.keys()].sort().map((k) => [k, f(m.get(k))]));
  const key = (p) => p.host + "/" + p.name;
  return {
    procs: pic.procs.map(key),
    trouble: pic.trouble.map(key),
    total: a(pic.total),
    groups: keyed(pic.groups, a),
    byHost: keyed(pic.byHost, a),
    bad: pic.bad,
    badHosts: keyed(pic.badHosts, (n) => n),
    hosts: shownHosts(pic).map((h) => h.name),
  };
}
