import { S } from "./state.js";
import { $, enc } from "./util.js";

// ---------------------------------------------------------------- log tail

// The log: the last TAIL bytes of each stream (from its first full line),
// each line with the time the agent read it (`timestamps=true`; lines older
// than the agent's index of receive times show none), then new output as it
// arrives, stdout and stderr interleaved by arrival with the time the page
// received each line. stderr lines are marked and coloured.
export const TAIL = 65536;
export const LOG_LINES = 20000;

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
  // `follow`: the view sticks to the newest line until the reader scrolls
  // up, and again once they scroll back to the bottom.
  S.log = { key, ctrl, pre, follow: true };
  const log = S.log;
  const atBottom = () => pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
  pre.addEventListener("scroll", () => {
    // Our own jump to the bottom lands at the bottom: follow stays on.
    log.follow = atBottom();
  });
  const state = (t) => {
    const el = $("#log-state");
    if (el) el.textContent = t;
  };
  const base = `/v1/hosts/${enc(host)}/processes/${enc(name)}/log?stream=`;
  const streams = stream === "both" ? ["stdout", "stderr"] : [stream];
  // `times`: the agent's receive time (unix ms or null) per line of a tail.
  const add = (st, text, live, times) => {
    const frag = document.createDocumentFragment();
    const now = live ? new Date().toLocaleTimeString() + " " : "";
    text.split("\n").forEach((line, i) => {
      const e = document.createElement("span");
      e.className = "ln" + (st === "stderr" ? " err" : "");
      // Shown by CSS, so the line's text stays the program's.
      if (times) e.dataset.time = times[i] ? new Date(times[i]).toLocaleTimeString() : "--:--:--";
      e.textContent = (stream === "both" && st === "stderr" ? "err│ " : "") + now + line + "\n";
      frag.append(e);
    });
    pre.append(frag);
    if (pre.childNodes.length > LOG_LINES) {
      // Dropping the oldest lines must not move what the reader looks at.
      const h = pre.scrollHeight;
      while (pre.childNodes.length > LOG_LINES) pre.firstChild.remove();
      if (!log.follow) pre.scrollTop -= h - pre.scrollHeight;
    }
    if (log.follow) pre.scrollTop = pre.scrollHeight;
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
    // Lines of "MS<tab>LINE" (MS empty when the agent no longer knows).
    const lines = (await r.text()).replace(/\n$/, "").split("\n");
    let times = [];
    let text = [];
    let size = 0;
    if (lines.length > 1 || lines[0] !== "") {
      for (const l of lines) {
        const tab = l.indexOf("\t");
        times.push(tab > 0 ? Number(l.slice(0, tab)) : null);
        text.push(l.slice(tab + 1));
        size += l.length - tab;
      }
    }
    // A full tail may start mid-line: drop its first line.
    if (size >= TAIL - 4 && text.length > 1) {
      text = text.slice(1);
      times = times.slice(1);
    }
    return [st, text.join("\n"), times];
  });
  (async () => {
    try {
      for (const [st, text, times] of await Promise.all(tails)) {
        if (stream === "both") {
          const h = document.createElement("span");
          h.className = "ln mark";
          h.textContent = `── ${st}: last ${text.length ? text.split("\n").length : 0} line(s) ──\n`;
          pre.append(h);
        }
        if (text) add(st, text, false, times);
      }
      if (stream === "both") add("stdout", "── live, both streams, by arrival ──", false);
      state("following…");
      await Promise.all(streams.map((st) => followStream(st)));
      state("stream ended");
    } catch (e) {
      if (e.name !== "AbortError") {
        state("log unavailable");
        add("stderr", "Log unavailable: " + e.message, false);
      }
    }
  })();
  async function followStream(st) {
    const r = await fetch(base + st + "&tail=0&follow=true", { signal: ctrl.signal, credentials: "same-origin", cache: "no-store" });
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
      add(st, partial.slice(0, cut), true);
      partial = partial.slice(cut + 1);
    }
    if (partial) add(st, partial, true);
  }
}

export function stopLog() {
  if (S.log) S.log.ctrl.abort();
  S.log = null;
}
