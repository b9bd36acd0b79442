//! The console's HTTP API (axum): an explicit route table, one JSON error
//! shape, bearer-token roles applied by one middleware on every route but
//! `/healthz` and agent registration (which takes the enrollment token).

mod error;
mod events;
mod hosts;
mod logs;
mod metrics;
mod ops;
mod register;
mod status;

pub use error::ApiError;

use super::auth::{Caller, Denied};
use super::App;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::header::AUTHORIZATION;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use fleet_api::{ErrorCode, Role};
use std::sync::Arc;

/// Request bodies are small JSON objects; anything bigger is a 413.
const BODY_LIMIT: usize = 64 * 1024;

pub fn router(app: Arc<App>) -> Router {
    let authed = Router::new()
        .route("/v1/hosts", get(hosts::hosts))
        .route("/v1/status", get(status::status))
        .route("/v1/ops", post(ops::create).get(ops::list))
        .route("/v1/ops/{id}", get(ops::get))
        .route("/v1/events", get(events::events))
        .route("/v1/hosts/{host}/processes/{name}/log", get(logs::log))
        .route("/metrics", get(metrics::metrics))
        .route_layer(middleware::from_fn_with_state(app.clone(), require_token));
    Router::new()
        .merge(authed)
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/v1/agents/register", post(register::register))
        .fallback(|| async { ApiError::not_found("no such endpoint") })
        .method_not_allowed_fallback(|| async { ApiError::method_not_allowed() })
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(app)
}

async fn require_token(State(app): State<Arc<App>>, mut req: Request, next: Next) -> Response {
    let header = req
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    match app.auth.check(header) {
        Ok(caller) => {
            req.extensions_mut().insert(caller);
            next.run(req).await
        }
        Err(Denied::Missing) => ApiError::new(
            ErrorCode::Unauthorized,
            "missing token: send Authorization: Bearer <token>",
        )
        .into_response(),
        Err(Denied::Wrong) => {
            ApiError::new(ErrorCode::Unauthorized, "invalid token").into_response()
        }
    }
}

/// 403 unless the caller may act.
fn operator(c: &Caller) -> Result<(), ApiError> {
    if c.role == Role::Operator {
        Ok(())
    } else {
        Err(ApiError::new(
            ErrorCode::Forbidden,
            format!(
                "token {:?} is a viewer; this needs an operator token",
                c.name
            ),
        ))
    }
}
