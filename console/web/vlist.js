import { morphHTML } from "./morph.js";
import { rowH, S } from "./state.js";
import { esc } from "./util.js";

export class VList {
  constructor(id) {
    this.id = id;
    this.el = document.createElement("div");
    this.el.className = "vlist";
    this.el.dataset.list = id;
    this.head = document.createElement("div");
    this.spacer = document.createElement("div");
    this.spacer.className = "spacer";
    this.win = document.createElement("div");
    this.win.className = "vwin";
    this.spacer.append(this.win);
    this.el.append(this.head, this.spacer);
    this.rows = [];
    this.scrollTop = 0;
    this.el.addEventListener("scroll", () => {
      this.scrollTop = this.el.scrollTop;
      if (!this.pending) {
        this.pending = requestAnimationFrame(() => {
          this.pending = 0;
          this.paint();
        });
      }
    });
  }
  // While the operator works in the list (focus in it, scrolled down, or a
  // dialog open), live re-sorting would pull rows from under them: rows
  // keep their places (new ones go last) until they ask, or stop.
  // `order` is the same sort asked for (view, filter, sort) or a new one.
  frozen(order) {
    if (this.force || this.orderOf !== order || !this.key) return false;
    const a = document.activeElement;
    return (a && a !== document.body && this.el.contains(a)) || this.el.scrollTop > 0 || document.getElementById("confirm").open;
  }
  set(rows, { head, cls, row, key, rowClass, order }) {
    const frozen = this.frozen(order);
    let held = false;
    if (frozen) {
      const pos = this.places();
      const kept = [];
      const fresh = [];
      for (const r of rows) (pos.has(key(r)) ? kept : fresh).push(r);
      kept.sort((a, b) => pos.get(key(a)) - pos.get(key(b)));
      const live = rows;
      rows = kept.concat(fresh);
      held = rows.some((r, i) => r !== live[i]);
    } else rows = rows.slice(); // the caller's array moves on (picture.js)
    this.force = false;
    this.orderOf = order;
    // Row places, needed only once the order is held: built then, not on
    // every update of a 100,000-row list.
    this.pos = null;
    if (held) head += `<button type="button" class="small resort" data-resort="${esc(this.id)}" title="rows keep their places while you work in the list">order held · sort now</button>`;
    this.rows = rows;
    this.row = row;
    this.key = key;
    this.rowClass = rowClass || (() => "");
    this.cls = cls;
    this.head.className = "vhead " + cls;
    morphHTML(this.head, head);
    const R = rowH();
    const sh = rows.length * R + "px";
    if (this.spacer.style.height !== sh) this.spacer.style.height = sh;
    const max = Math.max(240, window.innerHeight - 240);
    let height = Math.min(max, rows.length * R + R + 4);
    // Rows leaving a filtered list must not pull the list from under the
    // pointer either.
    if (frozen) height = Math.max(height, this.el.offsetHeight);
    if (this.el.style.height !== height + "px") this.el.style.height = height + "px";
    this.paint();
  }
  places() {
    if (!this.pos) this.pos = new Map(this.rows.map((r, i) => [this.key(r), i]));
    return this.pos;
  }
  paint() {
    const R = rowH();
    const top = this.el.scrollTop;
    const h = this.el.clientHeight || 800;
    const first = Math.max(0, Math.floor(top / R) - 8);
    const last = Math.min(this.rows.length, Math.ceil((top + h) / R) + 8);
    let html = "";
    for (let i = first; i < last; i++) {
      const r = this.rows[i];
      const k = this.key(r);
      const sel = this.selected && this.selected.has(k) ? " sel" : "";
      html += `<div class="vrow ${this.cls} ${this.rowClass(r)}${sel}" data-key="${esc(k)}" tabindex="-1">${this.row(r)}</div>`;
    }
    const tr = `translateY(${first * R}px)`;
    if (this.win.style.transform !== tr) this.win.style.transform = tr;
    // Patch rows in place (matched by data-key): a focused button, a
    // ticked box or an open <select> in a row outlives any update.
    if (html !== this.last) {
      morphHTML(this.win, html);
      this.last = html;
    }
  }
}

export function list(id) {
  let l = S.lists.get(id);
  if (!l) {
    l = new VList(id);
    l.el.dataset.mount = id;
    l.el._kept = true;
    S.lists.set(id, l);
  }
  return l;
}

// Put list `id` where its placeholder is, keeping its scroll position.
export function mountList(id) {
  const l = list(id);
  const ph = document.querySelector(`[data-mount="${id}"]`);
  if (ph && ph !== l.el) {
    ph.replaceWith(l.el);
    l.el.scrollTop = l.scrollTop;
  }
  return l;
}
