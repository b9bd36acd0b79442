//! Route tables, one shape for both daemons: each daemon lists every route
//! it serves once — method, path, who may call it (the daemon's own access
//! enum) and handler — and builds its router from that list alone with
//! [`mount`], which wraps each route in the layers its access level
//! chooses. Auth is per route, never a global middleware that looks the
//! path up again, so the table that is walked by the auth matrix test is
//! the one that is enforced.

use axum::http::Method;
use axum::routing::{MethodFilter, MethodRouter};
use axum::Router;

/// One route: what it answers, who may call it (`A`, the daemon's access
/// levels), and its handler over the daemon's state `S`.
pub struct Route<S, A> {
    pub method: Method,
    /// axum's pattern: `{name}` one segment, `{*rest}` the rest.
    pub path: &'static str,
    pub access: A,
    pub handler: fn(MethodFilter) -> MethodRouter<S>,
}

/// A [`Route`], for `static` tables.
pub const fn route<S, A>(
    method: Method,
    path: &'static str,
    access: A,
    handler: fn(MethodFilter) -> MethodRouter<S>,
) -> Route<S, A> {
    Route {
        method,
        path,
        access,
        handler,
    }
}

/// A router serving `routes` and nothing else, each handler passed
/// through `layer(access, handler)` first, where the daemon adds the
/// route's checks (`MethodRouter::route_layer`) from its access level.
pub fn mount<S, A: Copy>(
    routes: &[Route<S, A>],
    mut layer: impl FnMut(A, &Method, MethodRouter<S>) -> MethodRouter<S>,
) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    routes.iter().fold(Router::new(), |router, r| {
        let filter = MethodFilter::try_from(r.method.clone())
            .expect("every route's method is a standard one");
        router.route(r.path, layer(r.access, &r.method, (r.handler)(filter)))
    })
}
