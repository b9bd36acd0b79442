import { S } from "./state.js";

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

export async function api(method, path, body) {
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (method !== "GET" && S.me && S.me.csrf) headers["X-CSRF-Token"] = S.me.csrf;
  const r = await fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: "same-origin",
    cache: "no-store",
  });
  if (!r.ok) {
    let msg = r.status + " " + r.statusText;
    try {
      const j = await r.json();
      if (j && j.error && j.error.message) msg = j.error.message;
    } catch (_) {
      /* not JSON */
    }
    if (r.status === 401 && path !== "/v1/session") S.hooks.showLogin("Your session has ended; log in again.");
    throw new ApiError(r.status, msg);
  }
  return r.status === 204 ? null : r.json();
}
