import { loadStatusSoon, schedule } from "./data.js";
import { S } from "./state.js";
import { $ } from "./util.js";

// Silence longer than this is a lost console: it sends a keep-alive event
// every 2 s (console/src/server/http/events.rs), so a stopped or frozen
// console, or a dead network, shows within 5 s even when no error fires.
export const SILENCE_MS = 4000;

export function connectEvents() {
  if (S.es) S.es.close();
  const es = new EventSource("/v1/events");
  S.es = es;
  const live = $("#live");
  es.onopen = () => {
    live.className = "live on";
    live.title = "live: receiving events";
    heard();
    if (S.loaded) loadStatusSoon(); // resync after a reconnect
  };
  es.onerror = () => {
    live.className = "live off";
    live.title = "event stream lost; reconnecting…";
    lost();
    // EventSource retries a broken connection by itself, but gives up for
    // good on an HTTP error (a restarted console answers 401: sessions
    // live in its memory). Then ask why, and log in again or retry.
    if (es.readyState === EventSource.CLOSED && S.es === es) retryLater(es);
  };
  es.addEventListener("alive", heard);
  for (const kind of ["process", "host", "op", "gap"]) {
    es.addEventListener(kind, (ev) => {
      heard();
      S.queue.push([kind, ev.data]);
      schedule();
    });
  }
}

function retryLater(es) {
  clearTimeout(S.conn.retry);
  S.conn.retry = setTimeout(async () => {
    if (S.es !== es) return; // logged out, or already reconnected
    let r = null;
    try {
      r = await fetch("/v1/session", { credentials: "same-origin", cache: "no-store" });
    } catch (_) {
      /* unreachable: retry below */
    }
    if (S.es !== es) return;
    if (r && r.status === 401) S.hooks.showLogin("Your session ended (the console restarted, or it expired); log in again.");
    else if (r && r.ok) connectEvents();
    else retryLater(es);
  }, 2000);
}

function heard() {
  S.conn.heard = Date.now();
  if (S.conn.lost) {
    S.conn.lost = 0;
    schedule();
  }
}

function lost() {
  if (S.conn.lost) return;
  // The picture is as of the last thing heard.
  S.conn.lost = S.conn.heard || Date.now();
  schedule();
}

// Once a second (app.js): silence is a loss too.
export function watchConn() {
  if (S.es && S.conn.heard && !S.conn.lost && Date.now() - S.conn.heard > SILENCE_MS) lost();
}
