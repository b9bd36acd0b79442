import { S } from "./state.js";
import { $, enc } from "./util.js";

// ---------------------------------------------------------------- log tail

// The log: the last TAIL bytes of each stream (from its first full line),
// both streams merged in time order, then new output as it arrives. Every
// line carries the time the agent read it (`timestamps=true`, history and
// live alike: one clock, the agent's; "--:--:--.---" for lines older than
// the agent's index of receive times), as text, so a copy or "download
// shown" keeps it. stderr lines are marked and coloured.
export const TAIL = 65536;
export const LOG_LINES = 20000;

const two = (n, w = 2) => String(n).padStart(w, "0");
const clock = (ms) => {
  if (!ms) return "--:--:--.---";
  const d = new Date(ms);
  return `${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}.${two(d.getMilliseconds(), 3)}`;
};

// "MS\tLINE" lines into [ms or null, line] pairs.
export function parseStamped(text) {
  if (!text) return [];
  return text
    .replace(/\n$/, "")
    .split("\n")
    .map((l) => {
      const tab = l.indexOf("\t");
      return tab < 0 ? [null, l] : [tab > 0 ? Number(l.slice(0, tab)) : null, l.slice(tab + 1)];
    });
}

// Two streams' lines into one list in time order; a line without a time
// keeps its place before its stream's first timed line.
export function mergeByTime(a, b) {
  const out = [];
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    const x = a[i];
    const y = b[j];
    if (!y || (x && (x.t === null || (y.t !== null && x.t <= y.t)))) out.push(a[i++]);
    else out.push(b[j++]);
  }
  return out;
}

export function startLog(host, name, stream, key) {
  if (S.log) S.log.ctrl.abort();
  const pre = document.createElement("pre");
  pre.className = "log";
  pre.id = "log";
  pre.dataset.mount = "log";
  pre._kept = true;
  pre.tabIndex = 0;
  pre.setAttribute("aria-label", `log of ${name} on ${host}`);
  const ctrl = new AbortController();
  S.log = { key, ctrl, pre };
  // The view sticks to the newest line while it is at the bottom, and
  // stays where the reader scrolled otherwise: read at each append (a
  // scroll event would come too late for lines already on their way).
  const atBottom = () => pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
  const state = (t) => {
    const el = $("#log-state");
    if (el) el.textContent = t;
  };
  const base = `/v1/hosts/${enc(host)}/processes/${enc(name)}/log?stream=`;
  const streams = stream === "both" ? ["stdout", "stderr"] : [stream];
  const line = (l) => {
    const e = document.createElement("span");
    e.className = "ln" + (l.st === "stderr" ? " err" : "");
    e.dataset.st = l.st;
    const t = document.createElement("span");
    t.className = "t";
    t.textContent = clock(l.t) + " ";
    const x = document.createElement("span");
    x.className = "tx";
    x.textContent = (stream === "both" && l.st === "stderr" ? "err│ " : "") + l.text;
    e.append(t, x, "\n");
    return e;
  };
  const mark = (text) => {
    const h = document.createElement("span");
    h.className = "ln mark";
    h.textContent = `── ${text} ──\n`;
    return h;
  };
  const add = (nodes) => {
    const follow = atBottom();
    const frag = document.createDocumentFragment();
    frag.append(...nodes);
    pre.append(frag);
    if (pre.childNodes.length > LOG_LINES) {
      // Dropping the oldest lines must not move what the reader looks at.
      const h = pre.scrollHeight;
      while (pre.childNodes.length > LOG_LINES) pre.firstChild.remove();
      if (!follow) pre.scrollTop -= h - pre.scrollHeight;
    }
    if (follow) pre.scrollTop = pre.scrollHeight;
  };
  const fail = async (r) => {
    let m = r.status + "";
    try {
      m = (await r.json()).error.message;
    } catch (_) {
      /* keep status */
    }
    return m;
  };
  const tails = streams.map(async (st) => {
    const r = await fetch(base + st + "&tail=" + TAIL + "&timestamps=true", { signal: ctrl.signal, credentials: "same-origin", cache: "no-store" });
    if (!r.ok) throw new Error(await fail(r));
    const body = await r.text();
    let lines = parseStamped(body).map(([t, text]) => ({ t, text, st }));
    // A full tail may start mid-line: drop its first line.
    if (body.length >= TAIL - 4 && lines.length > 1) lines = lines.slice(1);
    return lines;
  });
  (async () => {
    try {
      const got = await Promise.all(tails);
      const history = got.length === 2 ? mergeByTime(got[0], got[1]) : got[0];
      const counts = streams.map((st, i) => `${got[i].length} ${st}`).join(" + ");
      add([mark(`last ${counts} line(s)${got.length === 2 ? ", in time order" : ""}; times are the agent's, ${Intl.DateTimeFormat().resolvedOptions().timeZone}`), ...history.map(line), mark("live")]);
      state("following…");
      await Promise.all(streams.map((st) => followStream(st)));
      state("stream ended");
    } catch (e) {
      if (e.name !== "AbortError") {
        state("log unavailable");
        add([line({ t: Date.now(), st: "stderr", text: "Log unavailable: " + e.message })]);
      }
    }
  })();
  async function followStream(st) {
    const r = await fetch(base + st + "&tail=0&follow=true&timestamps=true", { signal: ctrl.signal, credentials: "same-origin", cache: "no-store" });
    if (!r.ok) throw new Error(await fail(r));
    const reader = r.body.getReader();
    const dec = new TextDecoder();
    let partial = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      partial += dec.decode(value, { stream: true });
      const cut = partial.lastIndexOf("\n");
      if (cut < 0) continue;
      add(parseStamped(partial.slice(0, cut + 1)).map(([t, text]) => line({ t, text, st })));
      partial = partial.slice(cut + 1);
    }
    if (partial) add(parseStamped(partial).map(([t, text]) => line({ t, text, st })));
  }
}

export function stopLog() {
  if (S.log) S.log.ctrl.abort();
  S.log = null;
}
