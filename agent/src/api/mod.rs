//! The agent's HTTP API (axum). Handlers hold a `supervisor::Handle` — a
//! command channel, a watch of the snapshot and the event log — never the
//! process table itself. Routes are an explicit table: the verbs here are
//! the whole security boundary (no "run this command", no file paths).

mod auth;
mod error;
mod events;
mod logs;
mod metrics;
mod processes;
mod reload;
mod status;

pub use auth::require_token;
pub use error::ApiError;
pub(crate) use processes::wait_for;

use crate::supervisor::Handle;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use axum::Router;

/// Request bodies are tiny JSON objects; anything bigger is refused (413).
const BODY_LIMIT: usize = 64 * 1024;

/// The routes (with supervisord's, see `crate::xmlrpc`), without authentication (the unix socket is guarded by its
/// file permissions; TCP adds [`require_token`]).
pub fn router(handle: Handle) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/metrics", get(metrics::metrics))
        .route("/v1/status", get(status::status))
        .route("/v1/events", get(events::events))
        .route("/v1/reload", post(reload::reload))
        .route("/v1/processes/{target}/{verb}", post(processes::act))
        .route("/v1/processes/{name}/log", get(logs::log))
        .route("/v1/processes/{name}/log/file", get(logs::file))
        .merge(crate::xmlrpc::routes())
        .fallback(|| async { ApiError::not_found("no such endpoint") })
        .method_not_allowed_fallback(|| async { ApiError::method_not_allowed() })
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(handle)
}
