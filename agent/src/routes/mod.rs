//! Every route the agent serves, both faces (`api/`, the JSON API, and
//! `xmlrpc/`, supervisord's), in one table: [`ROUTES`], each route with
//! who may call it. The router is built from it alone through the kit's
//! `fleet_daemon::routes::mount`, each route wrapped in the checks its
//! access level names (the token on TCP, `auth.rs`; the browser guard on
//! supervisord's POSTs, `guard.rs`), so the table the auth matrix test
//! walks (tests/auth_matrix.rs) is the one enforced. The verbs here are
//! the whole security boundary (no "run this command", no file paths).

mod auth;
mod guard;

use crate::api::{self, ApiError};
use crate::supervisor::Handle;
use crate::xmlrpc;
use auth::Auth;
use axum::extract::DefaultBodyLimit;
use axum::handler::Handler;
use axum::http::Method;
use axum::middleware::{from_fn, from_fn_with_state};
use axum::routing::{on, MethodRouter};
use axum::Router;
use fleet_daemon::routes::{mount, route};
use std::sync::Arc;

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

/// One route of the agent.
pub type Route = fleet_daemon::routes::Route<Handle, Access>;

/// Every route the agent serves: [`router`] is built from this table and
/// nothing else, so the auth matrix test (tests/auth_matrix.rs), which
/// walks it, cannot miss a route.
pub static ROUTES: &[Route] = {
    use Access::{Public, Token, TokenOrBasic};
    &[
        route(Method::GET, "/healthz", Public, |m| {
            on(m, || async { "ok\n" })
        }),
        route(Method::GET, "/metrics", Token, |m| on(m, api::metrics)),
        route(Method::GET, "/v1/status", Token, |m| on(m, api::status)),
        route(Method::GET, "/v1/events", Token, |m| on(m, api::events)),
        route(Method::POST, "/v1/reload", Token, |m| on(m, api::reload)),
        route(Method::POST, "/v1/agent/reexec", Token, |m| {
            on(m, api::reexec)
        }),
        route(Method::GET, "/v1/agent/reexec", Token, |m| {
            on(m, api::reexec_outcome)
        }),
        route(Method::POST, "/v1/processes/{target}/{verb}", Token, |m| {
            on(m, api::act)
        }),
        route(Method::GET, "/v1/processes/{name}/log", Token, |m| {
            on(m, api::log)
        }),
        route(Method::GET, "/v1/processes/{name}/log/file", Token, |m| {
            on(m, api::log_file)
        }),
        route(Method::POST, "/v1/processes/{name}/log/clear", Token, |m| {
            on(m, api::clear_log)
        }),
        // The registration challenge: answered on TCP only, where the
        // token is (see `api::prove`).
        route(Method::POST, "/v1/enroll/proof", Token, |m| {
            on(m, api::prove)
        }),
        route(Method::POST, "/RPC2", TokenOrBasic, |m| on(m, xmlrpc::rpc2)),
        route(Method::POST, "/RPC2/{*rest}", TokenOrBasic, |m| {
            on(m, xmlrpc::rpc2)
        }),
        route(Method::GET, "/logtail/{*rest}", TokenOrBasic, |m| {
            on(m, xmlrpc::logtail)
        }),
        route(Method::GET, "/mainlogtail", TokenOrBasic, |m| {
            on(m, xmlrpc::mainlogtail)
        }),
    ]
};

/// The routes of [`ROUTES`]. `token` is the TCP listener's: with it, every
/// route but the public ones requires it (and so does an unknown path or
/// method, as before: no route is revealed without the token); without it
/// (the unix socket, guarded by its file permissions) none does.
pub fn router(handle: Handle, token: Option<Arc<String>>) -> Router {
    let auth = |basic| token.clone().map(|token| Auth { token, basic });
    let routes = mount(
        ROUTES,
        |access, method, mut handler: MethodRouter<Handle>| {
            // Layers run outside in: the token check, then the browser guard.
            if access == Access::TokenOrBasic && method == Method::POST {
                handler = handler.route_layer(from_fn(guard::browser_guard));
            }
            let basic = match access {
                Access::Public => return handler,
                Access::Token => false,
                Access::TokenOrBasic => true,
            };
            match auth(basic) {
                Some(a) => handler.route_layer(from_fn_with_state(a, auth::require_token)),
                None => handler,
            }
        },
    );
    let not_found = || async { ApiError::not_found("no such endpoint") };
    let not_allowed = || async { ApiError::method_not_allowed() };
    let routes = match auth(false) {
        Some(a) => routes
            .fallback(not_found.layer(from_fn_with_state(a.clone(), auth::require_token)))
            .method_not_allowed_fallback(
                not_allowed.layer(from_fn_with_state(a, auth::require_token)),
            ),
        None => routes
            .fallback(not_found)
            .method_not_allowed_fallback(not_allowed),
    };
    routes
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(handle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_route_is_listed_once() {
        for (i, a) in ROUTES.iter().enumerate() {
            for b in &ROUTES[i + 1..] {
                assert!(a.method != b.method || a.path != b.path, "{}", a.path);
            }
        }
    }
}
