//! `fleet-console`: the central server.
//!
//! Theory of operation: the inventory (console.toml + registrations in the
//! store) names the agents. For each, one follower task (`follow`) holds
//! the agent's event stream and writes the live `picture`; status, hosts
//! and metrics are read from that picture and never wait on an agent. Bulk
//! operations (`ops`) resolve their hosts (`select`), are written to the
//! audit log (`store`) before they start, and run in the background with
//! one `agent_client` call per host under a semaphore and a timeout.
//! A host that still runs supervisord (`supervisord`) is polled instead of
//! followed, and its calls go over XML-RPC; everything else treats both
//! kinds alike.

pub mod agent_client;
pub mod auth;
pub mod config;
pub mod follow;
pub mod http;
pub mod inventory;
pub mod ops;
pub mod picture;
pub mod registrations;
pub mod select;
pub mod store;
pub mod supervisord;
pub mod web;

use auth::Auth;
use axum::body::{Body, HttpBody};
use axum::extract::State;
use axum::response::Response;
use config::Config;
use fleet_daemon::serve::{serve, Limits};
use fleet_daemon::tls::TlsListener;
use futures_util::StreamExt;
use inventory::Inventory;
use picture::Picture;
use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use store::{Store, StoreError};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub struct App {
    pub config: Config,
    pub inventory: Inventory,
    pub picture: Arc<Picture>,
    /// Shared with `auth` when it is PostgreSQL (sessions live there).
    pub store: Arc<Store>,
    pub clients: agent_client::ClientFactory,
    pub ops: ops::Ops,
    pub auth: Auth,
    /// Registrations and heartbeats that carry a valid credential,
    /// fleet-wide.
    pub register_limit: http::RateLimit,
    /// Registrations without one, per source address: a flood spends only
    /// its own bucket, never the fleet-wide one.
    pub register_refused_limit: http::PerSource,
    /// Those refusals, audited as one summary row per source a minute.
    pub register_refusals: http::refusals::Refusals,
    /// Logins (`POST /v1/session`), per source address: guessing is slow
    /// and one source cannot lock the others out.
    pub login_limit: http::PerSource,
    /// Open `/v1/events` streams (`http::events::MAX_SUBSCRIBERS`).
    pub event_streams: Arc<tokio::sync::Semaphore>,
    /// Interrupted ops with hosts in flight, resolved once `run` follows
    /// the agents.
    unresolved: Mutex<Vec<ops::Unresolved>>,
    followers: Mutex<HashMap<String, JoinHandle<()>>>,
}

impl App {
    /// Open the store and build the inventory; no task is started yet.
    pub fn new(config: Config) -> Result<Arc<App>, StoreError> {
        let store = Arc::new(Store::connect(config.store.as_ref(), &config.data_dir)?);
        // A shared store's ops may be running on another console right
        // now: those are taken over only once their lease expires
        // (`take_over_expired`).
        let (closed, unresolved) = match store.shared() {
            false => ops::close_interrupted(&store, picture::now_ms())?,
            true => (0, vec![]),
        };
        if closed > 0 {
            tracing::warn!(
                "{closed} operation(s) were interrupted by the last shutdown; marked interrupted, {} with hosts in flight to resolve",
                unresolved.len()
            );
        }
        let registered = store.agents()?;
        let inventory = Inventory::new(&config.agents, &registered, config.host_groups.clone());
        let picture = Arc::new(Picture::new(config.stale_after_secs * 1000));
        for r in &registered {
            if config.agents.iter().all(|a| a.name != r.reg.name) {
                picture.track(&r.reg.name, Some(r.last_heartbeat));
            }
        }
        for a in &config.agents {
            if a.insecure {
                tracing::warn!(
                    host = %a.name,
                    "plain http:// to a non-loopback {} host ({}): its credentials cross the network in clear (allow_insecure_http = true)",
                    a.kind.name(),
                    a.url
                );
            }
        }
        let ops = ops::Ops::default();
        for _ in 0..closed {
            ops.count("interrupted");
        }
        let auth = match &*store {
            Store::Pg(_) => Auth::with_shared(config.tokens.clone(), store.clone()),
            Store::Lite(_) => Auth::new(config.tokens.clone()),
        };
        Ok(Arc::new(App {
            auth,
            register_limit: http::RateLimit::new(
                config.enrollment_rate.saturating_mul(4),
                config.enrollment_rate as f64,
            ),
            login_limit: http::PerSource::new(20, 2.0),
            register_refused_limit: http::PerSource::new(20, 2.0),
            register_refusals: Default::default(),
            event_streams: Arc::new(tokio::sync::Semaphore::new(http::events::MAX_SUBSCRIBERS)),
            config,
            inventory,
            picture,
            store,
            clients: Default::default(),
            ops,
            unresolved: Mutex::new(unresolved),
            followers: Mutex::new(HashMap::new()),
        }))
    }

    /// (Re)start the follower task of `name`.
    pub fn follow(&self, name: &str, heartbeat: Option<u64>) {
        let Some(entry) = self.inventory.get(name) else {
            return;
        };
        self.picture.track(name, heartbeat);
        self.picture.set_kind(name, entry.kind.host_kind());
        let task = match self.clients.for_proving(&entry) {
            Ok(client) if client.supervisord().is_some() => {
                let every = match &entry.kind {
                    config::AgentKind::Supervisord(c) => c.poll,
                    config::AgentKind::Fleet => config::DEFAULT_POLL,
                };
                let sv = client.supervisord().cloned().expect("checked");
                tokio::spawn(supervisord::poll(
                    name.to_string(),
                    sv,
                    self.picture.clone(),
                    every,
                ))
            }
            Ok(client) if entry.is_proven() => {
                tokio::spawn(follow::follow(client, self.picture.clone()))
            }
            // Prove first: nothing else goes to an unproven URL.
            Ok(client) => tokio::spawn(prove_then_follow(client, self.picture.clone())),
            Err(e) => {
                self.picture.set_down(name, e);
                return;
            }
        };
        let mut f = self.followers.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(old) = f.insert(name.to_string(), task) {
            old.abort();
        }
    }

    /// Challenge an unproven registered host again, unless a challenge
    /// (or its follower) is still running.
    pub fn reprove(&self, name: &str) {
        let running = self
            .followers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(name)
            .is_some_and(|t| !t.is_finished());
        if !running {
            self.follow(name, None);
        }
    }

    /// Stop following `name` (it left the inventory).
    pub fn unfollow(&self, name: &str) {
        let mut f = self.followers.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(task) = f.remove(name) {
            task.abort();
        }
    }

    pub fn follow_all(&self) {
        for h in self.inventory.all() {
            self.follow(&h.name, None);
        }
    }
}

/// Challenge a registered agent at its URL; follow it once it answered.
/// A failure marks it down with a fixed reason (the agent's heartbeat
/// triggers the next try).
async fn prove_then_follow(client: agent_client::AgentClient, picture: Arc<Picture>) {
    let host = client.host.clone();
    match client.prove().await {
        Ok(()) => {
            host.proven
                .store(true, std::sync::atomic::Ordering::Release);
            tracing::info!(host = %host.name, url = %host.url, "registered agent proved itself");
            follow::follow(client, picture).await
        }
        Err(e) => {
            tracing::warn!(host = %host.name, url = %host.url, "registered agent not verified: {e}");
            picture.set_down(&host.name, format!("not verified: {e}"));
        }
    }
}

/// Serve until `shutdown` resolves, then drain: stop accepting, let every
/// in-flight response finish (responses that stream without end, event
/// streams and followed logs, end first) and return. Plain TCP and TLS
/// (the daemons' kit listener) drain alike. Tests pass their own listener.
pub async fn run(
    app: Arc<App>,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    app.follow_all();
    let unresolved = std::mem::take(&mut *app.unresolved.lock().unwrap_or_else(|e| e.into_inner()));
    ops::resolve_interrupted(&app, unresolved);
    let (closing_tx, closing) = watch::channel(false);
    let flusher = tokio::spawn(flush_refusals(app.clone()));
    let taker = tokio::spawn(take_over_expired(app.clone()));
    let remote = tokio::spawn(ops::follow_remote_ops(app.clone()));
    let registrations = tokio::spawn(registrations::follow_shared(app.clone()));
    let own = http::guard::Listener {
        addr: listener.local_addr()?,
        tls: app.config.tls.is_some(),
    };
    let router = http::router(app.clone())
        .layer(axum::middleware::from_fn_with_state(
            own,
            http::guard::guard,
        ))
        .layer(axum::middleware::map_response_with_state(
            closing,
            end_at_shutdown,
        ));
    let shutdown = async move {
        shutdown.await;
        let _ = closing_tx.send(true);
    };
    match &app.config.tls {
        None => serve(listener, router, shutdown, LIMITS).await,
        Some((cert, key)) => {
            let acceptor = fleet_daemon::tls::acceptor(cert, key)
                .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
            serve(
                TlsListener::new(listener, acceptor)?,
                router,
                shutdown,
                LIMITS,
            )
            .await
        }
    }
    flusher.abort();
    taker.abort();
    remote.abort();
    registrations.abort();
    write_refusals(&app, true);
    app.store.log_head("closed");
    Ok(())
}

/// With a shared store, every 2 s: take the ops whose console stopped
/// renewing their lease (`store::LEASE`, 10 s): a takeover within 12 s.
async fn take_over_expired(app: Arc<App>) {
    if !app.store.shared() {
        return;
    }
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(2));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let a = app.clone();
        let claimed = tokio::task::spawn_blocking(move || a.store.claim_expired()).await;
        let ids: Vec<(String, u64)> = match claimed {
            Ok(Ok(c)) => c,
            Ok(Err(e)) => {
                tracing::warn!("cannot look for ops to take over: {e}");
                continue;
            }
            Err(_) => return,
        };
        if ids.is_empty() {
            continue;
        }
        let a = app.clone();
        match tokio::task::spawn_blocking(move || ops::take_over(&a, &ids)).await {
            Ok(Ok(n)) => {
                for _ in 0..n {
                    app.ops.count("interrupted");
                }
            }
            Ok(Err(e)) => tracing::error!("taking over ops: {e}"),
            Err(_) => return,
        }
    }
}

/// Every minute, the refused registrations counted since their source's
/// last summary row (`http::refusals`): no count is left unwritten.
async fn flush_refusals(app: Arc<App>) {
    let period = std::time::Duration::from_millis(http::refusals::WINDOW_MS);
    let mut tick = tokio::time::interval(period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        write_refusals(&app, false);
    }
}

fn write_refusals(app: &App, all: bool) {
    for s in app.register_refusals.flush(picture::now_ms(), all) {
        if let Err(e) = http::audit_refusals(app, &s, None) {
            tracing::error!("cannot audit {} refused registration(s): {e}", s.count);
        }
    }
}

/// Browsers hold an event stream each, fleetctl a few calls: 1,024 open
/// connections (the fd limit is raised at start) with the kit's header
/// timeout.
const LIMITS: Limits = Limits {
    max_connections: 1024,
    header_read_timeout: std::time::Duration::from_secs(10),
};

/// A body of unknown length (an event stream, a followed log) ends once
/// shutdown starts; the drain would wait for it forever otherwise.
async fn end_at_shutdown(
    State(mut closing): State<watch::Receiver<bool>>,
    resp: Response,
) -> Response {
    if resp.body().size_hint().exact().is_some() {
        return resp;
    }
    resp.map(|body| {
        let stop = async move {
            let _ = closing.wait_for(|c| *c).await;
        };
        Body::from_stream(body.into_data_stream().take_until(stop))
    })
}
