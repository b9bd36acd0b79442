import { applyFilter } from "./router.js";
import { S } from "./state.js";
import { $ } from "./util.js";

// Keyboard: j/k or ↓/↑ move between rows, Enter opens the row's process
// or host, s/r/x/t start/restart/stop/signal it, space ticks it.
export function onRowKey(ev) {
  const row = document.activeElement && document.activeElement.closest && document.activeElement.closest(".vrow, tr[data-key]");
  const inList = row && (row === document.activeElement || ev.key === "ArrowDown" || ev.key === "ArrowUp");
  const typing = /^(INPUT|TEXTAREA|SELECT)$/.test(document.activeElement.tagName);
  if (typing || $("#confirm").open) return false;
  const rows = () => [...document.querySelectorAll("#view .vrow[data-key], #view tbody tr[data-key]")];
  const move = (d) => {
    const all = rows();
    if (!all.length) return;
    let i = row ? all.indexOf(row) : -1;
    i = Math.max(0, Math.min(all.length - 1, i + d));
    all[i].tabIndex = -1;
    all[i].focus();
    all[i].scrollIntoView({ block: "nearest" });
  };
  if (ev.key === "j" || (ev.key === "ArrowDown" && (inList || !row))) return move(1), true;
  if (ev.key === "k" || (ev.key === "ArrowUp" && inList)) return move(-1), true;
  if (!row || row !== document.activeElement) return false;
  if (ev.key === "Enter") {
    const a = row.querySelector(".c-name a") || row.querySelector("a[href^='#/proc']") || row.querySelector("a");
    if (a) location.hash = a.getAttribute("href");
    return true;
  }
  const verb = { s: "start", r: "restart", x: "stop", t: "signal" }[ev.key];
  if (verb) {
    const b = row.querySelector(`[data-act="${verb}"]`);
    if (b) b.click();
    return !!b;
  }
  if (ev.key === " ") {
    const c = row.querySelector("input[type=checkbox]");
    if (c) c.click();
    return !!c;
  }
  return false;
}

export function onKey(ev) {
  if (S.me && !ev.ctrlKey && !ev.metaKey && !ev.altKey && onRowKey(ev)) {
    ev.preventDefault();
    return;
  }
  const input = $("#filter");
  const typing = /^(INPUT|TEXTAREA|SELECT)$/.test(document.activeElement.tagName);
  const dialogs = $("#confirm").open || $("#keys").open;
  if (ev.key === "/" && !typing && !dialogs && S.me) {
    ev.preventDefault();
    input.focus();
    input.select();
  } else if (ev.key === "?" && !typing && !dialogs && S.me) {
    ev.preventDefault();
    $("#keys").showModal();
  } else if (document.activeElement === input && (ev.key === "ArrowDown" || ev.key === "Escape")) {
    // From the filter straight to the rows it left; the filter stays
    // (clearing it would throw away what the operator narrowed to).
    ev.preventDefault();
    applyFilter();
    const first = document.querySelector("#view .vrow[data-key], #view tbody tr[data-key]");
    if (first) {
      first.tabIndex = -1;
      first.focus();
    } else input.blur();
  }
}
