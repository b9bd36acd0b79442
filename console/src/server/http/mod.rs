//! The console's HTTP API (axum): an explicit route table ([`ROUTES`], each
//! route with who may call it; the router and its per-route auth layers are
//! built from it with the kit's `fleet_daemon::routes::mount`), one JSON
//! error shape, bearer-token roles checked on every route but `/healthz`, agent registration (which takes the enrollment token), the
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
pub mod refusals;
mod register;
pub use register::audit_refusals;
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
use axum::routing::on;
use axum::Router;
use fleet_api::{ErrorCode, Role};
use fleet_daemon::routes::{mount, route};
use std::sync::Arc;

/// Request bodies are small JSON objects; anything bigger is a 413.
const BODY_LIMIT: usize = 64 * 1024;

/// The header a cookie-authenticated state-changing request must carry.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// Who may call a route. The auth matrix test (tests/auth_matrix.rs)
/// derives each credential's expected answer from this alone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Anyone: `/healthz` and the page's static assets.
    Public,
    /// A viewer or operator token, or a session cookie.
    Viewer,
    /// An operator token, or an operator's session cookie (with its CSRF
    /// token, the method being a state-changing one).
    Operator,
    /// `POST /v1/session`: the console token is in the body.
    Login,
    /// The session itself (`GET`/`DELETE /v1/session`): the cookie, and on
    /// `DELETE` its CSRF token.
    Session,
    /// Agent registration: the enrollment token or the credential the
    /// console issued to that agent.
    Enrollment,
}

/// One API route: what it answers, who may call it, and its handler (the
/// kit's route shape, shared with the agent).
pub type Route = fleet_daemon::routes::Route<Arc<App>, Access>;

/// Every API route: [`router`] mounts these and the page's assets
/// (`web::paths`), nothing else, and puts the token check (`Viewer`) and
/// the role check (`Operator`) in front of them from the access named
/// here; [`routes`] lists the same for the auth matrix test.
pub static ROUTES: &[Route] = {
    use Access::*;
    &[
        route(Method::GET, "/healthz", Public, |m| {
            on(m, || async { "ok\n" })
        }),
        route(Method::GET, "/v1/hosts", Viewer, |m| on(m, hosts::hosts)),
        route(Method::DELETE, "/v1/hosts/{host}", Operator, |m| {
            on(m, hosts::remove)
        }),
        route(Method::GET, "/v1/status", Viewer, |m| on(m, status::status)),
        route(Method::GET, "/v1/status/summary", Viewer, |m| {
            on(m, status::summary)
        }),
        route(Method::POST, "/v1/ops", Operator, |m| on(m, ops::create)),
        route(Method::GET, "/v1/ops", Viewer, |m| on(m, ops::list)),
        route(Method::GET, "/v1/ops/{id}", Viewer, |m| on(m, ops::get)),
        route(Method::GET, "/v1/events", Viewer, |m| on(m, events::events)),
        route(
            Method::GET,
            "/v1/hosts/{host}/processes/{name}/log",
            Viewer,
            |m| on(m, logs::log),
        ),
        route(
            Method::GET,
            "/v1/hosts/{host}/processes/{name}/log/file",
            Viewer,
            |m| on(m, logs::file),
        ),
        route(
            Method::POST,
            "/v1/hosts/{host}/processes/{name}/log/clear",
            Operator,
            |m| on(m, logs::clear),
        ),
        route(Method::GET, "/metrics", Viewer, |m| on(m, metrics::metrics)),
        route(Method::POST, "/v1/session", Login, |m| {
            on(m, session::login)
        }),
        route(Method::GET, "/v1/session", Session, |m| {
            on(m, session::whoami)
        }),
        route(Method::DELETE, "/v1/session", Session, |m| {
            on(m, session::logout)
        }),
        route(Method::POST, "/v1/agents/register", Enrollment, |m| {
            on(m, register::register)
        }),
    ]
};

/// Every route the console serves, with its access: [`ROUTES`] and the
/// page's static assets (public).
pub fn routes() -> Vec<(Method, &'static str, Access)> {
    ROUTES
        .iter()
        .map(|r| (r.method.clone(), r.path, r.access))
        .chain(crate::server::web::paths().map(|p| (Method::GET, p, Access::Public)))
        .collect()
}

pub fn router(app: Arc<App>) -> Router {
    let api = mount(ROUTES, |access, _, mut handler| {
        // Layers run outside in: the token check, then the role check.
        if access == Access::Operator {
            handler = handler.route_layer(middleware::from_fn(require_operator));
        }
        if matches!(access, Access::Viewer | Access::Operator) {
            handler =
                handler.route_layer(middleware::from_fn_with_state(app.clone(), require_token));
        }
        handler
    });
    api.merge(crate::server::web::router())
        .fallback(|| async { ApiError::not_found("no such endpoint") })
        .method_not_allowed_fallback(|| async { ApiError::method_not_allowed() })
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(app)
}

/// 403 unless `require_token` found an operator.
async fn require_operator(req: Request, next: Next) -> Response {
    match req.extensions().get::<Caller>().map(operator) {
        Some(Ok(())) => next.run(req).await,
        Some(Err(e)) => e.into_response(),
        None => ApiError::internal("role check without a token check").into_response(),
    }
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

/// One [`RateLimit`]-like bucket per source address: logins, so one
/// attacker hammering `POST /v1/session` exhausts only their own bucket and
/// never locks everyone else out. IPv6 sources are keyed by their /64 (what
/// one host usually holds). At most `MAX_SOURCES` buckets are kept: first
/// the full ones go (equal to a new one), then the least recently used, so
/// cycling addresses only ever hands out fresh bursts, never a lockout.
pub struct PerSource {
    buckets:
        std::sync::Mutex<std::collections::HashMap<std::net::IpAddr, (f64, std::time::Instant)>>,
    burst: f64,
    per_sec: f64,
}

const MAX_SOURCES: usize = 4096;

impl PerSource {
    pub fn new(burst: u32, per_sec: f64) -> Self {
        PerSource {
            buckets: Default::default(),
            burst: burst as f64,
            per_sec,
        }
    }

    fn key(ip: std::net::IpAddr) -> std::net::IpAddr {
        match ip {
            std::net::IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => v4.into(),
                None => {
                    let bits = u128::from(v6) & !((1u128 << 64) - 1);
                    std::net::IpAddr::V6(bits.into())
                }
            },
            v4 => v4,
        }
    }

    /// Take one token from `source`'s bucket; false when it is empty. A
    /// request without a known source shares one bucket (unspecified).
    pub fn take(&self, source: Option<std::net::IpAddr>) -> bool {
        let key = Self::key(source.unwrap_or(std::net::Ipv4Addr::UNSPECIFIED.into()));
        let now = std::time::Instant::now();
        let mut map = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        let level = |(tokens, at): (f64, std::time::Instant)| {
            (tokens + now.duration_since(at).as_secs_f64() * self.per_sec).min(self.burst)
        };
        if !map.contains_key(&key) && map.len() >= MAX_SOURCES {
            map.retain(|_, b| level(*b) < self.burst);
            if map.len() >= MAX_SOURCES {
                if let Some(oldest) = map.iter().min_by_key(|(_, b)| b.1).map(|(k, _)| *k) {
                    map.remove(&oldest);
                }
            }
        }
        let b = map.entry(key).or_insert((self.burst, now));
        let tokens = level(*b);
        if tokens >= 1.0 {
            *b = (tokens - 1.0, now);
            true
        } else {
            *b = (tokens, now);
            false
        }
    }
}

/// The caller's IP address (for per-source limits).
pub struct SourceIp(pub Option<std::net::IpAddr>);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for SourceIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _: &S,
    ) -> Result<Self, Self::Rejection> {
        Ok(SourceIp(
            parts
                .extensions
                .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
                .map(|c| c.0.ip()),
        ))
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::IpAddr;

    #[test]
    fn one_source_exhausting_its_logins_leaves_the_others_theirs() {
        let l = PerSource::new(3, 0.001);
        let attacker: IpAddr = "10.0.0.66".parse().unwrap();
        let other: IpAddr = "10.0.0.7".parse().unwrap();
        assert_eq!((0..5).filter(|_| l.take(Some(attacker))).count(), 3);
        assert!(l.take(Some(other)));
        // One IPv6 host's /64 is one source.
        let a: IpAddr = "2001:db8::1".parse().unwrap();
        let b: IpAddr = "2001:db8::ffff:2".parse().unwrap();
        let c: IpAddr = "2001:db8:0:1::1".parse().unwrap();
        assert_eq!((0..5).filter(|_| l.take(Some(a))).count(), 3);
        assert!(!l.take(Some(b)));
        assert!(l.take(Some(c)));
    }

    #[test]
    fn cycling_addresses_never_grows_the_map_past_its_cap() {
        let l = PerSource::new(2, 0.001);
        for i in 0..(MAX_SOURCES as u32 + 100) {
            assert!(l.take(Some(IpAddr::from(i.to_be_bytes()))));
        }
        assert!(l.buckets.lock().unwrap().len() <= MAX_SOURCES);
    }
}
