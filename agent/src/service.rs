//! The agent as a library: [`Listeners::bind`] then [`run`] until the
//! shutdown future resolves, in the shape of mini-redis's `server::run`.
//! `main` only parses arguments, loads the config and wires signals to the
//! shutdown future; tests call the same two functions in-process.
//!
//! Readiness order: the TCP (and TLS) listener is bound first, the unix
//! socket is bound under a staging name, every server is started, and only
//! then does the socket appear at its path and READY=1 go to systemd. Whoever
//! sees the socket can rely on every listener answering.

use crate::config::{AgentSettings, Config};
use crate::server::{self, ListenError, UnixSocket};
use crate::{routes, supervisor, sys};
use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

/// How long to let log pumps drain after the last program stopped.
const DRAIN: Duration = Duration::from_secs(3);

/// Every socket the agent serves, bound but not yet served.
pub struct Listeners {
    pub unix: UnixSocket,
    pub tcp: Option<Tcp>,
}

/// The TCP listener, with its TLS acceptor when configured.
pub struct Tcp {
    pub listener: TcpListener,
    pub tls: Option<TlsAcceptor>,
}

impl Listeners {
    /// Bind TCP (and load TLS) first, then the unix socket (staged).
    pub async fn bind(settings: &AgentSettings) -> Result<Listeners, ListenError> {
        let tcp = match server::bind_tcp(settings).await? {
            Some(listener) => Some(Tcp {
                listener,
                tls: settings
                    .tls
                    .as_ref()
                    .map(server::tls_acceptor)
                    .transpose()?,
            }),
            None => None,
        };
        let unix = server::bind_unix(&settings.socket)?;
        Ok(Listeners { unix, tcp })
    }

    /// The address the TCP listener is bound to (the real port when the
    /// config said port 0).
    pub fn tcp_addr(&self) -> Option<SocketAddr> {
        self.tcp.as_ref().and_then(|t| t.listener.local_addr().ok())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("cannot become child subreaper: {0}")]
    Subreaper(std::io::Error),
    #[error("cannot start the supervisor: {0}")]
    Supervisor(std::io::Error),
    #[error("cannot serve: {0}")]
    Serve(#[from] ListenError),
    #[error("supervisor thread died")]
    SupervisorDied,
}

/// Supervise `config`'s programs and serve the API on `listeners` until
/// `shutdown` resolves (or a `Shutdown` command arrives); then stop every
/// program with its own stop semantics, let the log pumps drain, and return.
/// Must run inside a tokio runtime: log pumps and the API run on it.
pub async fn run(
    config: Config,
    listeners: Listeners,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), RunError> {
    sys::set_child_subreaper().map_err(RunError::Subreaper)?;
    if !sys::is_root() {
        for p in config.processes.iter().filter(|p| p.user.is_some()) {
            tracing::warn!(process = %p.full_name(), "user is set but fleet-agent is not root: it will fail to start unless the user is the agent's own");
        }
    }
    let listen = listeners.tcp_addr();
    let tls = listeners.tcp.as_ref().is_some_and(|t| t.tls.is_some());
    if let (Some(addr), false) = (listen, tls) {
        if !addr.ip().is_loopback() {
            tracing::warn!(%addr, "TCP listener without TLS on a non-loopback address: the token crosses the network in clear");
        }
    }
    crate::spawn::hide_env(&config.agent.secret_env);
    crate::spawn::set_server_socket(&config.agent.socket);
    crate::logs::forward::set_enabled(config.agent.forward_output);
    let token = config.agent.token.as_ref().map(|t| t.expose().to_owned());
    let enroll = config.agent.enroll.clone().zip(config.agent.token.clone());
    let host = config.agent.host.clone();
    let (mut handle, done) = supervisor::start(config, tokio::runtime::Handle::current())
        .map_err(RunError::Supervisor)?;
    handle.listen = listen;
    // Log write failures (full disk) become events, off the owner thread.
    tokio::spawn(supervisor::report_log_faults(handle.clone()));
    let finished = futures_util::future::FutureExt::shared(handle.finished());
    let mut servers = Vec::new();
    if let (Some(tcp), Some(token)) = (listeners.tcp, token) {
        servers.push(
            server::serve_tcp(
                tcp.listener,
                tcp.tls,
                routes::router(handle.clone(), Some(std::sync::Arc::new(token))),
                Box::pin(finished.clone()),
            )
            .map_err(|source| ListenError::Io {
                what: listen.map(|a| a.to_string()).unwrap_or_default(),
                source,
            })?,
        );
    }
    let server::UnixSocket {
        listener: unix,
        name: mut socket,
    } = listeners.unix;
    let router = routes::router(handle.clone(), None);
    servers.push(server::serve_unix(unix, router, Box::pin(finished)));
    socket.publish()?;
    if let Some((mut e, token)) = enroll {
        if let Some(addr) = listen {
            e.advertise_url = advertised(&e.advertise_url, addr);
        }
        tokio::spawn(crate::enroll::run(e, host, token));
    }
    tracing::info!(
        version = env!("CARGO_PKG_VERSION"),
        socket = %socket.path().display(),
        listen = ?listen,
        tls,
        "fleet-agent started"
    );
    crate::notify::ready();
    let commands = handle.clone();
    let stopper = tokio::spawn(async move {
        shutdown.await;
        commands.shutdown().await;
    });
    let exit = done.await.map_err(|_| RunError::SupervisorDied)?;
    stopper.abort();
    // Every program has stopped; let the pumps write their last bytes.
    let drain = futures_util::future::join_all(exit.pumps);
    if tokio::time::timeout(DRAIN, drain).await.is_err() {
        tracing::warn!(
            "some output pipes are still open (a descendant holds them); not waiting longer"
        );
    }
    // Streams (events, log follow) have ended; let their last bytes out.
    let servers = futures_util::future::join_all(servers);
    let _ = tokio::time::timeout(Duration::from_secs(2), servers).await;
    let _ = std::fs::remove_file(socket.path());
    tracing::info!("fleet-agent stopped");
    Ok(())
}

/// The default advertised URL is built from `listen`; with port 0 it names
/// port 0, so put the port the listener really got in its place.
fn advertised(url: &str, bound: SocketAddr) -> String {
    match url.strip_suffix(":0") {
        Some(base) => format!("{base}:{}", bound.port()),
        None => url.to_owned(),
    }
}
