// fleet console web page: native ES modules, no build step, no library;
// each module is embedded in the binary and served at /ui/<path>.js
// (console/src/server/web.rs; a unit test there checks that every import
// below is served). This module boots the page.
//
// Data flow: log in (POST /v1/session → HttpOnly cookie + CSRF token kept
// in memory only), subscribe to GET /v1/events (SSE), then read
// GET /v1/status once. Events are queued and applied once per animation
// frame; the current view is rendered from the in-memory picture as HTML
// text and *morphed* into the live DOM: elements are patched in place, rows
// matched by `data-key`, so focus, selection, scroll position and an open
// menu survive an event storm. Long lists are virtual (vlist.js). The URL
// hash holds the view and the filter (#/processes?f=group:celery).
//
// State: one object, `S` (state.js); no other module keeps mutable state.
// Imports point down this list only (acyclic); the one call upwards,
// api.js showing the login form on a 401, goes through S.hooks:
//
//   app        → clicks keyboard notify session render data events dialogs router picture pieces state util
//   session    → api data events router state util        (login, logout, start)
//   clicks     → api data dialogs log router state util   (click/change handlers)
//   keyboard   → router state util                        (j/k, Enter, s/r/x/t, /)
//   events     → data state util                          (live /v1/events)
//   router     → log ops render state util                (hash → view, filter box)
//   data       → api notify ops picture render state util (/v1/status, apply events)
//   notify     → filter state util                        (opt-in notifications)
//   ops        → api dialogs render state util            (ops list, one op)
//   render     → views/* picture pieces state             (the view, tab badge)
//   views/overview, hosts, processes, detail, ops → views/tables views/rows vlist log picture filter pieces state util
//   views/rows → picture pieces state util                (virtual-list rows)
//   dialogs    → views/tables api pieces state util       (action dialog)
//   views/tables → morph picture filter pieces state util (shared tables, setView)
//   log        → state util                               (log tail)
//   vlist      → morph state util                         (virtual list)
//   pieces     → filter state util                        (badges, links, times)
//   picture    → filter state util                        (the kept list and counts)
//   filter     → state util                               (filter, sort)
//   api        → state                                    (fetch JSON, ApiError)
//   morph, state, util → nothing

import { onChange, onClick } from "./clicks.js";
import { flush, loadStatus, refreshHosts, schedule } from "./data.js";
import { watchConn } from "./events.js";
import { planAction, runAction } from "./dialogs.js";
import { onKey } from "./keyboard.js";
import { initNotify } from "./notify.js";
import { build, digest, picture } from "./picture.js";
import { render } from "./render.js";
import { tick } from "./pieces.js";
import { onFilterInput, onRoute } from "./router.js";
import { login, logout, showLogin, start } from "./session.js";
import { S, USAGE_MS } from "./state.js";
import { $, pkey } from "./util.js";

export function boot() {
  S.hooks.showLogin = showLogin;
  $("#login-form").addEventListener("submit", login);
  $("#logout").addEventListener("click", logout);
  $("#keys-open").addEventListener("click", () => $("#keys").showModal());
  initNotify();
  $("#filter").addEventListener("input", onFilterInput);
  $("#confirm-go").addEventListener("click", runAction);
  $("#confirm-plan").addEventListener("click", planAction);
  document.addEventListener("change", onChange);
  setInterval(() => {
    watchConn();
    tick();
  }, 1000);
  $("#confirm").addEventListener("close", () => {
    S.dialog.ops = null;
  });
  document.addEventListener("click", onClick);
  document.addEventListener("keydown", onKey);
  window.addEventListener("hashchange", onRoute);
  window.addEventListener("resize", () => schedule());
  setInterval(refreshHosts, 10000);
  // CPU and memory readings (the picture's events do not carry them).
  setInterval(() => S.me && S.loaded && loadStatus(), USAGE_MS);
  // An existing session (cookie) skips the login form.
  fetch("/v1/session", { credentials: "same-origin", cache: "no-store" })
    .then((r) => (r.ok ? r.json() : null))
    .then((me) => {
      if (me) {
        S.me = me;
        start();
      } else showLogin();
    })
    .catch(() => showLogin("The console is not reachable."));
}

// The page's one global: its state object. The page tests and the scale
// measurements (tests/console_*.rs) read it, and drive the page through
// `S.test`; no module reads that back.
// picture/recount: the kept (incremental) picture, and one rebuilt from
// scratch in its place, as plain data (tests/console_picture.rs).
S.test = {
  pkey,
  render,
  flush,
  readStatus: loadStatus,
  picture: () => Object.assign(digest(picture()), { moved: S.pic.moved }),
  recount: () => digest((S.pic = build())),
};
window.S = S;
document.addEventListener("DOMContentLoaded", boot);
