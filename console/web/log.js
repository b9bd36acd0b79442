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

// The bytes the agent read for whole [ms, line] pairs: each line's UTF-8
// length and its newline (where a follow that broke goes on `from`).
const utf8 = new TextEncoder();
export const rawLength = (lines) => lines.reduce((n, [, text]) => n + utf8.encode(text).length + 1, 0);

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
  // Kept with the log, so a re-render of the view shows it again.
  const state = (t) => {
    S.log.state = t;
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
  // Each stream's history, and the stream offset just past its last whole
  // line (x-log-offset + the UTF-8 length of each line), where its follow
  // starts: no line lost or shown twice between the two. A last line not
  // yet ended is left to the follow, whole.
  const next = {};
  const tails = streams.map(async (st) => {
    const r = await fetch(base + st + "&tail=" + TAIL + "&timestamps=true", { signal: ctrl.signal, credentials: "same-origin", cache: "no-store" });
    if (!r.ok) throw new Error(await fail(r));
    const at = r.headers.has("x-log-offset") ? Number(r.headers.get("x-log-offset")) : null;
    const body = await r.text();
    const got = parseStamped(body);
    if (body && !body.endsWith("\n")) got.pop();
    if (at !== null) next[st] = at + rawLength(got);
    let lines = got.map(([t, text]) => ({ t, text, st }));
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
  // A follow that breaks (its agent re-executing for an upgrade) goes on
  // from the byte it reached: the answer's x-log-offset plus the UTF-8
  // length of each whole line shown — no line missed or shown twice. The
  // agent ending the stream (it is stopping) ends it.
  async function followStream(st) {
    let from = st in next ? next[st] : null;
    let again = false; // a reconnect: failures are waited out, not shown
    for (let waited = 0; ; ) {
      const q = from === null ? "&tail=0" : "&from=" + from;
      let r = null;
      try {
        r = await fetch(base + st + q + "&follow=true&timestamps=true", { signal: ctrl.signal, credentials: "same-origin", cache: "no-store" });
      } catch (e) {
        if (e.name === "AbortError" || !again) throw e;
      }
      if (!r || !r.ok) {
        if (!again) throw new Error(await fail(r));
        // The console answers 502 until the agent serves again.
        if ((waited += 250) > 60000) throw new Error("its agent did not answer again within 60 s");
        await new Promise((res) => setTimeout(res, 250));
        continue;
      }
      waited = 0;
      const at = r.headers.has("x-log-offset") ? Number(r.headers.get("x-log-offset")) : null;
      if (again) state("following…");
      if (from !== null && at !== null && at > from) add([mark(`${at - from} bytes were written and left the agent's tail meanwhile`)]);
      if (again && at !== null && at < from) add([mark("the agent restarted: its log started over")]);
      let pos = at;
      const reader = r.body.getReader();
      const dec = new TextDecoder();
      let partial = "";
      try {
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          partial += dec.decode(value, { stream: true });
          const cut = partial.lastIndexOf("\n");
          if (cut < 0) continue;
          const got = parseStamped(partial.slice(0, cut + 1));
          if (pos !== null) pos += rawLength(got);
          add(got.map(([t, text]) => line({ t, text, st })));
          partial = partial.slice(cut + 1);
        }
      } catch (e) {
        if (e.name === "AbortError" || pos === null) throw e;
        // Its partial line is asked again, whole, from `pos`.
        from = pos;
        again = true;
        state("the stream broke (its agent re-executing?); going on…");
        continue;
      }
      if (partial) add(parseStamped(partial).map(([t, text]) => line({ t, text, st })));
      return;
    }
  }
}

export function stopLog() {
  if (S.log) S.log.ctrl.abort();
  S.log = null;
}
