import { loadStatusSoon, schedule } from "./data.js";
import { S } from "./state.js";
import { $ } from "./util.js";

export function connectEvents() {
  if (S.es) S.es.close();
  const es = new EventSource("/v1/events");
  S.es = es;
  const live = $("#live");
  es.onopen = () => {
    live.className = "live on";
    live.title = "live: receiving events";
    if (S.loaded) loadStatusSoon(); // resync after a reconnect
  };
  es.onerror = () => {
    live.className = "live off";
    live.title = "event stream lost; reconnecting…";
  };
  for (const kind of ["process", "host", "op", "gap"]) {
    es.addEventListener(kind, (ev) => {
      S.queue.push([kind, ev.data]);
      schedule();
    });
  }
}
