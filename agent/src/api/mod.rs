//! The agent's HTTP API (axum). Handlers hold a `supervisor::Handle` — a
//! command channel, a watch of the snapshot and the event log — never the
//! process table itself. Routes are an explicit table: the verbs here are
//! the whole security boundary (no "run this command", no file paths).
//! The table is [`ROUTES`], the one list of every route with who may call
//! it; the router is built from it.

mod auth;
mod error;
mod events;
mod guard;
mod logs;
mod metrics;
mod processes;
mod reload;
mod status;

pub use auth::{require_token, TcpToken};
pub use error::ApiError;
pub use logs::follow_body;

use crate::supervisor::Handle;
use axum::extract::DefaultBodyLimit;
use axum::http::Method;
use axum::routing::{on, MethodFilter, MethodRouter};
use axum::Router;

/// Request bodies are tiny JSON objects; anything bigger is refused (413).
const BODY_LIMIT: usize = 64 * 1024;

/// Who may call a route on the TCP listener (the unix socket is guarded by
/// its file permissions and takes no credentials).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Anyone: `/healthz` (a load balancer's probe; it says only "ok").
    Public,
    /// `Authorization: Bearer <token>`.
    Token,
    /// Bearer, or HTTP Basic with the token as the password: supervisord's
    /// routes, for supervisorctl and its kin.
    TokenOrBasic,
}

/// One route: what it answers, who may call it, and its handler.
pub struct Route {
    pub method: Method,
    /// axum's pattern: `{name}` one segment, `{*rest}` the rest.
    pub path: &'static str,
    pub access: Access,
    handler: fn(MethodFilter) -> MethodRouter<Handle>,
}

const fn route(
    method: Method,
    path: &'static str,
    access: Access,
    handler: fn(MethodFilter) -> MethodRouter<Handle>,
) -> Route {
    Route {
        method,
        path,
        access,
        handler,
    }
}

/// Every route the agent serves: [`router`] is built from this table and
/// nothing else, so the auth matrix test (tests/auth_matrix.rs), which
/// walks it, cannot miss a route, and [`require_token`] takes its Basic
/// routes from here.
pub static ROUTES: &[Route] = {
    use Access::{Public, Token, TokenOrBasic};
    &[
        route(Method::GET, "/healthz", Public, |m| {
            on(m, || async { "ok\n" })
        }),
        route(Method::GET, "/metrics", Token, |m| on(m, metrics::metrics)),
        route(Method::GET, "/v1/status", Token, |m| on(m, status::status)),
        route(Method::GET, "/v1/events", Token, |m| on(m, events::events)),
        route(Method::POST, "/v1/reload", Token, |m| on(m, reload::reload)),
        route(Method::POST, "/v1/processes/{target}/{verb}", Token, |m| {
            on(m, processes::act)
        }),
        route(Method::GET, "/v1/processes/{name}/log", Token, |m| {
            on(m, logs::log)
        }),
        route(Method::GET, "/v1/processes/{name}/log/file", Token, |m| {
            on(m, logs::file)
        }),
        // The registration challenge: answered on TCP only, where the
        // token is (see `crate::server::prove`).
        route(Method::POST, "/v1/enroll/proof", Token, |m| {
            on(m, crate::server::prove)
        }),
        route(Method::POST, "/RPC2", TokenOrBasic, |m| {
            on(m, crate::xmlrpc::rpc2)
        }),
        route(Method::POST, "/RPC2/{*rest}", TokenOrBasic, |m| {
            on(m, crate::xmlrpc::rpc2)
        }),
        route(Method::GET, "/logtail/{*rest}", TokenOrBasic, |m| {
            on(m, crate::xmlrpc::logtail)
        }),
        route(Method::GET, "/mainlogtail", TokenOrBasic, |m| {
            on(m, crate::xmlrpc::mainlogtail)
        }),
    ]
};

/// Does `path` match the route pattern `pattern` (`{x}` one non-empty
/// segment, `{*x}` one or more)?
pub fn path_matches(pattern: &str, path: &str) -> bool {
    let mut want = pattern.split('/');
    let mut got = path.split('/');
    loop {
        match (want.next(), got.next()) {
            (None, None) => return true,
            (Some(w), Some(g)) if w.starts_with("{*") => return !g.is_empty(),
            (Some(w), Some(g)) if w.starts_with('{') => {
                if g.is_empty() {
                    return false;
                }
            }
            (Some(w), Some(g)) if w == g => {}
            _ => return false,
        }
    }
}

/// The access of the route `path` belongs to, if any.
pub fn access_of(path: &str) -> Option<Access> {
    ROUTES
        .iter()
        .find(|r| path_matches(r.path, path))
        .map(|r| r.access)
}

/// The routes of [`ROUTES`], without authentication (the unix socket is
/// guarded by its file permissions; TCP adds [`require_token`]).
pub fn router(handle: Handle) -> Router {
    ROUTES
        .iter()
        .fold(Router::new(), |r, route| {
            let filter = MethodFilter::try_from(route.method.clone())
                .expect("every route's method is a standard one");
            r.route(route.path, (route.handler)(filter))
        })
        .fallback(|| async { ApiError::not_found("no such endpoint") })
        .method_not_allowed_fallback(|| async { ApiError::method_not_allowed() })
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(axum::middleware::from_fn(guard::browser_guard))
        .with_state(handle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns() {
        assert!(path_matches("/v1/status", "/v1/status"));
        assert!(!path_matches("/v1/status", "/v1/status/x"));
        assert!(path_matches(
            "/v1/processes/{name}/log",
            "/v1/processes/a/log"
        ));
        assert!(!path_matches(
            "/v1/processes/{name}/log",
            "/v1/processes//log"
        ));
        assert!(path_matches("/logtail/{*rest}", "/logtail/a/stderr"));
        assert!(!path_matches("/logtail/{*rest}", "/logtail/"));
        assert!(!path_matches("/RPC2", "/RPC2x"));
        assert_eq!(access_of("/RPC2/x"), Some(Access::TokenOrBasic));
        assert_eq!(access_of("/mainlogtail"), Some(Access::TokenOrBasic));
        assert_eq!(access_of("/v1/processes/a:b/restart"), Some(Access::Token));
        assert_eq!(access_of("/nope"), None);
    }

    #[test]
    fn each_route_is_listed_once() {
        for (i, a) in ROUTES.iter().enumerate() {
            for b in &ROUTES[i + 1..] {
                assert!(a.method != b.method || a.path != b.path, "{}", a.path);
            }
        }
    }
}
