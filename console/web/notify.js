// Opt-in browser notifications: when something new goes wrong — a host
// down, a process FATAL, EXITED, in BACKOFF or flapping — one notification
// per batch of events names it. What was in trouble when the page loaded
// (or when notifications were turned on) is not news.
import { flapping } from "./filter.js";
import { BAD, S } from "./state.js";
import { $ } from "./util.js";

const KEY = "fleet.notify";

export function initNotify() {
  const btn = $("#notify");
  if (!("Notification" in window)) {
    btn.hidden = true;
    return;
  }
  S.notify.on = localStorage.getItem(KEY) === "on" && Notification.permission === "granted";
  paint();
  btn.addEventListener("click", async () => {
    if (S.notify.on) {
      S.notify.on = false;
      localStorage.removeItem(KEY);
    } else {
      const p = Notification.permission === "granted" ? "granted" : await Notification.requestPermission();
      S.notify.on = p === "granted";
      if (S.notify.on) localStorage.setItem(KEY, "on");
      // What is wrong now is not news.
      S.notify.seen = S.loaded ? new Set(troubles().keys()) : null;
    }
    paint();
  });
}

function paint() {
  const btn = $("#notify");
  btn.textContent = S.notify.on ? "notifying" : "notify me";
  btn.setAttribute("aria-pressed", String(S.notify.on));
  btn.title = S.notify.on ? "browser notifications for new trouble: on (click to stop)" : "get a browser notification when something new goes wrong";
}

// What is wrong now, by key: "host w-01 down", "w-01 web:web FATAL".
function troubles() {
  const now = new Map();
  for (const h of S.hosts.values()) if (!h.up) now.set("host/" + h.name, `${h.name} is down: ${h.error || "unreachable"}`);
  for (const p of S.procs.values()) {
    if (!S.hosts.get(p.host) || !S.hosts.get(p.host).up) continue;
    if (BAD.has(p.state)) now.set(p.host + "/" + p.name, `${p.name} on ${p.host} is ${p.state}`);
    else if (flapping(p)) now.set(p.host + "/" + p.name, `${p.name} on ${p.host} is flapping`);
    else if (p.health === "unhealthy") now.set(p.host + "/" + p.name, `${p.name} on ${p.host} is unhealthy${p.health_message ? ": " + p.health_message : ""}`);
  }
  return now;
}

// After each applied batch (data.js): tell what is new.
export function notifyNew() {
  if (!S.notify.on || !S.loaded) return;
  const now = troubles();
  const seen = S.notify.seen;
  S.notify.seen = new Set(now.keys());
  if (!seen) return;
  const fresh = [...now.entries()].filter(([k]) => !seen.has(k)).map(([, text]) => text);
  if (!fresh.length) return;
  const title = fresh.length === 1 ? "fleet: " + fresh[0] : `fleet: ${fresh.length} new problems`;
  const body = fresh.slice(0, 5).join("\n") + (fresh.length > 5 ? `\n… and ${fresh.length - 5} more` : "");
  S.notify.said.push(title);
  if (S.notify.said.length > 50) S.notify.said.shift();
  try {
    const n = new Notification(title, { body, tag: "fleet-trouble" });
    n.onclick = () => {
      window.focus();
      location.hash = "#/";
    };
  } catch (_) {
    /* a browser that refuses now: the page itself still shows it */
  }
}
