import { onChange, onClick } from "./clicks.js";
import { refreshHosts, schedule } from "./data.js";
import { planAction, runAction } from "./dialogs.js";
import { onKey } from "./keyboard.js";
import { tick } from "./pieces.js";
import { onFilterInput, onRoute } from "./router.js";
import { login, logout, showLogin, start } from "./session.js";
import { S } from "./state.js";
import { $ } from "./util.js";

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

window.fleetPerf = S.perf; // read by the scale measurement
document.addEventListener("DOMContentLoaded", boot);
