import { api } from "./api.js";
import { loadStatus } from "./data.js";
import { connectEvents } from "./events.js";
import { onRoute } from "./router.js";
import { canAct, S } from "./state.js";
import { $ } from "./util.js";

export function showLogin(message) {
  S.me = null;
  if (S.es) S.es.close();
  S.es = null;
  $("#top").hidden = true;
  $("#view").hidden = true;
  $("#banner").hidden = true;
  // Logged out, the page claims no picture at all, stale or not.
  S.conn.lost = 0;
  $("#conn").hidden = true;
  document.body.classList.remove("stale-page");
  $("#login").hidden = false;
  $("#login-error").textContent = message || "";
  $("#token").focus();
}

export async function login(ev) {
  ev.preventDefault();
  const input = $("#token");
  try {
    S.me = await api("POST", "/v1/session", { token: input.value });
    input.value = "";
    start();
  } catch (e) {
    $("#login-error").textContent = e.status === 401 ? "That token is not valid." : "Login failed: " + e.message;
    input.select();
  }
}

export async function logout() {
  try {
    await api("DELETE", "/v1/session");
  } catch (_) {
    /* forget locally anyway */
  }
  S.hosts.clear();
  S.procs.clear();
  S.loaded = false;
  showLogin("Logged out.");
}

export function start() {
  $("#login").hidden = true;
  $("#top").hidden = false;
  $("#view").hidden = false;
  $("#who").textContent = S.me.name + " (" + S.me.role + ")";
  document.body.classList.toggle("viewer", !canAct());
  S.conn.lost = 0;
  connectEvents();
  loadStatus();
  onRoute();
}
