import { onChange, onClick } from "./clicks.js";
import { flush, refreshHosts, schedule } from "./data.js";
import { planAction, runAction } from "./dialogs.js";
import { onKey } from "./keyboard.js";
import { render } from "./render.js";
import { tick } from "./pieces.js";
import { onFilterInput, onRoute } from "./router.js";
import { login, logout, showLogin, start } from "./session.js";
import { S } from "./state.js";
import { $, pkey } from "./util.js";

export function boot() {
  $("#login-form").addEventListener("submit", login);
  $("#logout").addEventListener("click", logout);
  $("#filter").addEventListener("input", onFilterInput);
  $("#confirm-go").addEventListener("click", runAction);
  $("#confirm-plan").addEventListener("click", planAction);
  document.addEventListener("change", onChange);
  setInterval(tick, 1000);
  $("#confirm").addEventListener("close", () => {
    S.dialog.ops = null;
  });
  document.addEventListener("click", onClick);
  document.addEventListener("keydown", onKey);
  window.addEventListener("hashchange", onRoute);
  window.addEventListener("resize", () => schedule());
  setInterval(refreshHosts, 10000);
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

// The page tests and the scale measurements (tests/console_page.rs,
// tests/console_browser.rs) drive the page through these names, as they did
// when the page was one classic script; no module reads them back.
Object.assign(window, { S, pkey, render, flush, fleetPerf: S.perf });
document.addEventListener("DOMContentLoaded", boot);
