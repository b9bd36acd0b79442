export const $ = (sel, root = document) => root.querySelector(sel);
export const esc = (s) =>
  String(s ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
// Host names never contain "/" (the console's name rule), so it separates.
export const pkey = (host, name) => host + "/" + name;
export const cmp = (a, b) => (a < b ? -1 : a > b ? 1 : 0);
export const enc = encodeURIComponent;
