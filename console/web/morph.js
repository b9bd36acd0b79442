// Make `el`'s children look like `html` while keeping every element that
// can stay: same tag and same key (data-key, id or data-mount) ⇒ the same
// node, attributes and text patched. Elements marked `_kept` (mounted
// lists, the log) are left alone.
export function morphHTML(el, html) {
  const t = document.createElement("template");
  t.innerHTML = html;
  morphChildren(el, t.content);
}

export const keyOf = (n) => (n.nodeType === 1 ? n.getAttribute("data-key") || n.id || n.getAttribute("data-mount") || null : null);

export function sameKind(a, b) {
  return a.nodeType === b.nodeType && a.nodeName === b.nodeName && keyOf(a) === keyOf(b);
}

export function morphChildren(old, neu) {
  const keyed = new Map();
  for (let c = old.firstChild; c; c = c.nextSibling) {
    const k = keyOf(c);
    if (k) keyed.set(k, c);
  }
  let cur = old.firstChild;
  for (const n of [...neu.childNodes]) {
    const k = keyOf(n);
    let match = null;
    if (k) {
      match = keyed.get(k) || null;
      if (match && match.nodeName !== n.nodeName) match = null;
      if (match) keyed.delete(k);
    } else if (cur && !keyOf(cur) && sameKind(cur, n)) match = cur;
    if (match) {
      if (match === cur) cur = cur.nextSibling;
      else if (match._kept || match.contains(document.activeElement)) {
        // Moving a node drops focus and resets a kept element's scroll
        // (the log): move what lies before it instead.
        const after = match.nextSibling;
        while (cur !== match) {
          const next = cur.nextSibling;
          old.insertBefore(cur, after);
          cur = next;
        }
        cur = match.nextSibling;
      } else old.insertBefore(match, cur);
      morphNode(match, n);
    } else old.insertBefore(n, cur);
  }
  while (cur) {
    const next = cur.nextSibling;
    old.removeChild(cur);
    cur = next;
  }
}

export function morphNode(old, neu) {
  if (old.nodeType !== 1) {
    if (old.nodeValue !== neu.nodeValue) old.nodeValue = neu.nodeValue;
    return;
  }
  if (old._kept) return;
  // A mount placeholder whose kept element is already in place.
  for (const a of [...old.attributes]) if (!neu.hasAttribute(a.name) && a.name !== "style") old.removeAttribute(a.name);
  for (const a of neu.attributes) if (old.getAttribute(a.name) !== a.value) old.setAttribute(a.name, a.value);
  if (old.nodeName === "INPUT" && old.type === "checkbox") old.checked = neu.hasAttribute("checked");
  morphChildren(old, neu);
}
