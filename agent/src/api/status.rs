//! `GET /v1/status`: answered from the published snapshot, plus live
//! CPU/memory figures read from /proc.

use crate::supervisor::Handle;
use axum::extract::State;
use axum::Json;
use fleet_api::AgentStatus;

pub use fleet_daemon::time::now_ms;

pub async fn status(State(h): State<Handle>) -> Json<AgentStatus> {
    let snap = h.snapshot();
    let now = now_ms();
    Json(AgentStatus {
        host: h.host.clone(),
        version: crate::reexec::state::version(),
        pid: std::process::id(),
        started_at: h.started_at,
        listen: h.listen.map(|a| a.to_string()),
        processes: snap
            .procs
            .iter()
            .map(|p| crate::supervisor::describe(p, now))
            .collect(),
    })
}
