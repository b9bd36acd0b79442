import { api } from "./api.js";
import { dialogOp } from "./dialogs.js";
import { render } from "./render.js";
import { OPS_PAGE, S } from "./state.js";
import { $, enc } from "./util.js";

export async function loadOps() {
  const q = new URLSearchParams();
  for (const k of ["action", "result", "who", "target", "offset"]) if (S.route.params.get(k)) q.set(k, S.route.params.get(k));
  q.set("limit", OPS_PAGE);
  try {
    const r = await api("GET", "/v1/ops?" + q);
    S.ops = r.ops;
    S.opsNext = r.next_offset == null ? null : r.next_offset;
    S.opsLoaded = true;
  } catch (e) {
    S.ops = [];
    S.opsLoaded = true;
    $("#banner").hidden = false;
    $("#banner").textContent = "Could not read operations: " + e.message;
  }
  render();
}

export async function loadOp(id) {
  S.opError = null;
  try {
    let op = await api("GET", "/v1/ops/" + enc(id));
    S.opDetail = op;
    render();
    // Long-poll while it runs and the page still shows it.
    while (op.state === "running" && S.route.view === "op" && S.route.args[0] === id) {
      const after = op.hosts.filter((h) => h.verdict !== "pending").length;
      op = await api("GET", `/v1/ops/${enc(id)}?after=${after}`);
      S.opDetail = op;
      render();
    }
  } catch (e) {
    S.opError = e.message;
    render();
  }
}

export function opEvent(op) {
  const i = S.ops.findIndex((o) => o.id === op.id);
  if (i >= 0) S.ops[i] = op;
  else if (S.opsLoaded) S.ops.unshift(op);
  if (S.opDetail && S.opDetail.id === op.id) S.opDetail = op;
  if (S.dialog.ops && S.dialog.ops.some((o) => o.id === op.id)) dialogOp(op);
}
