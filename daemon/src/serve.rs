//! Serving a router with bounds, for both daemons (instead of
//! `axum::serve`, which sets no header-read timeout and accepts without
//! limit): at most `max_connections` connections per listener (a
//! semaphore, as in mini-redis: the accept loop waits for a permit, so a
//! flood waits in the kernel's backlog and costs no fd), a request's
//! headers must arrive within `header_read_timeout` (hyper's timer; it also
//! bounds how long an idle keep-alive connection is kept), and headers are
//! capped in number (64) and, by hyper's read buffer, in size (~400 KiB;
//! a smaller buffer would also cut request bodies short). Shutdown drains like `axum::serve`: stop
//! accepting, let every connection finish its response, return once the
//! last one closed (every permit is back).
//!
//! Every request carries the peer's address as `ConnectInfo<L::Addr>`.

use axum::extract::ConnectInfo;
use axum::serve::Listener;
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{watch, Semaphore};
use tower::ServiceExt as _;

/// Per-listener bounds.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Open connections at once; more wait in the kernel's backlog.
    pub max_connections: usize,
    /// A request's headers (and an idle keep-alive connection's next
    /// request) must arrive within this.
    pub header_read_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_connections: 256,
            header_read_timeout: Duration::from_secs(10),
        }
    }
}

/// At most this many header lines per request.
const MAX_HEADERS: usize = 64;

/// Serve `router` on `listener` until `shutdown` resolves, then drain.
pub async fn serve<L>(
    mut listener: L,
    router: Router,
    shutdown: impl Future<Output = ()> + Send,
    limits: Limits,
) where
    L: Listener,
    L::Addr: Clone + Send + Sync + 'static,
{
    let max = limits.max_connections.max(1);
    let permits = Arc::new(Semaphore::new(max));
    let (closing_tx, closing) = watch::channel(false);
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            p = permits.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => break,
            },
            _ = &mut shutdown => break,
        };
        let (io, peer) = tokio::select! {
            c = listener.accept() => c,
            _ = &mut shutdown => break,
        };
        let router = router.clone();
        let mut closing = closing.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let service = TowerToHyperService::new(router.map_request(
                move |mut req: hyper::Request<Incoming>| {
                    req.extensions_mut().insert(ConnectInfo(peer.clone()));
                    req.map(axum::body::Body::new)
                },
            ));
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(limits.header_read_timeout)
                .max_headers(MAX_HEADERS);
            let conn = builder
                .serve_connection(TokioIo::new(io), service)
                .with_upgrades();
            tokio::pin!(conn);
            tokio::select! {
                _ = conn.as_mut() => return,
                _ = closing.wait_for(|c| *c) => {}
            }
            conn.as_mut().graceful_shutdown();
            let _ = conn.await;
        });
    }
    // Stop accepting (closes the port), then wait for every connection.
    drop(listener);
    let _ = closing_tx.send(true);
    let _ = permits.acquire_many(max as u32).await;
}
