//! The console's HTTP API (axum): an explicit route table, one JSON error
//! shape, bearer-token roles applied by one middleware on every route but
//! `/healthz`, agent registration (which takes the enrollment token), the
//! web page's static assets and the session login.
//!
//! A request authenticates with `Authorization: Bearer` (CLI, scripts) or
//! with the web page's session cookie; with the cookie, every method but
//! GET/HEAD must also carry the session's `X-CSRF-Token`, else 403.
//! In front of all of it, `guard` checks Host, Origin and Content-Type for
//! every caller (see there).

mod error;
pub mod events;
pub mod guard;
mod hosts;
mod logs;
mod metrics;
mod ops;
mod register;
mod session;
mod status;

pub use error::ApiError;

use super::auth::{Caller, Denied};
use super::App;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::header::AUTHORIZATION;
use axum::http::Method;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use fleet_api::{ErrorCode, Role};
use std::sync::Arc;

/// Request bodies are small JSON objects; anything bigger is a 413.
const BODY_LIMIT: usize = 64 * 1024;

/// The header a cookie-authenticated state-changing request must carry.
pub const CSRF_HEADER: &str = "x-csrf-token";

pub fn router(app: Arc<App>) -> Router {
    let authed = Router::new()
        .route("/v1/hosts", get(hosts::hosts))
        .route("/v1/hosts/{host}", axum::routing::delete(hosts::remove))
        .route("/v1/status", get(status::status))
        .route("/v1/ops", post(ops::create).get(ops::list))
        .route("/v1/ops/{id}", get(ops::get))
        .route("/v1/events", get(events::events))
        .route("/v1/hosts/{host}/processes/{name}/log", get(logs::log))
        .route(
            "/v1/hosts/{host}/processes/{name}/log/file",
            get(logs::file),
        )
        .route("/metrics", get(metrics::metrics))
        .route_layer(middleware::from_fn_with_state(app.clone(), require_token));
    Router::new()
        .merge(authed)
        .merge(crate::server::web::router())
        .route(
            "/v1/session",
            post(session::login)
                .get(session::whoami)
                .delete(session::logout),
        )
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
    if header.is_none() && !app.auth.open() {
        if let Some(login) = session::from_headers(&app, req.headers()) {
            let safe = matches!(*req.method(), Method::GET | Method::HEAD);
            let given = req.headers().get(CSRF_HEADER).and_then(|v| v.to_str().ok());
            if !safe && !super::auth::csrf_ok(given, &login.csrf) {
                return csrf_refused().into_response();
            }
            req.extensions_mut().insert(login.caller);
            return next.run(req).await;
        }
    }
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

/// The caller's address (`IP:port`) for the audit log, when the console
/// serves through the kit's `serve` (which records it on every request).
pub struct Source(pub Option<String>);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for Source {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _: &S,
    ) -> Result<Self, Self::Rejection> {
        Ok(Source(
            parts
                .extensions
                .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
                .map(|c| c.0.to_string()),
        ))
    }
}

/// At most `burst` events, refilled at `per_sec` a second: registrations
/// and logins, so a flood is refused cheaply (and audited only while the
/// bucket lets events through).
pub struct RateLimit {
    state: std::sync::Mutex<(f64, std::time::Instant)>,
    burst: f64,
    per_sec: f64,
}

impl RateLimit {
    pub fn new(burst: u32, per_sec: f64) -> Self {
        RateLimit {
            state: std::sync::Mutex::new((burst as f64, std::time::Instant::now())),
            burst: burst as f64,
            per_sec,
        }
    }

    /// Take one token; false when the bucket is empty.
    pub fn take(&self) -> bool {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let now = std::time::Instant::now();
        s.0 = (s.0 + now.duration_since(s.1).as_secs_f64() * self.per_sec).min(self.burst);
        s.1 = now;
        if s.0 >= 1.0 {
            s.0 -= 1.0;
            true
        } else {
            false
        }
    }
}

/// 429: a rate limit said no.
fn throttled(what: &str) -> ApiError {
    ApiError::new(
        ErrorCode::TooManyRequests,
        format!("too many {what}; try again in a few seconds"),
    )
}

/// A cookie-authenticated change without the session's CSRF token.
fn csrf_refused() -> ApiError {
    ApiError::new(
        ErrorCode::Forbidden,
        "missing or wrong X-CSRF-Token for this session",
    )
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
