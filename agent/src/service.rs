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
use std::os::fd::OwnedFd;
use std::sync::{Arc, Mutex};
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
    /// The sockets a previous image handed over (`crate::reexec`), bound
    /// and listening all along.
    pub fn adopt(
        settings: &AgentSettings,
        unix: OwnedFd,
        tcp: Option<OwnedFd>,
    ) -> Result<Listeners, ListenError> {
        let io_err = |source| ListenError::Io {
            what: "a handed-over listener".into(),
            source,
        };
        let u = std::os::unix::net::UnixListener::from(unix);
        u.set_nonblocking(true).map_err(io_err)?;
        let unix = UnixSocket {
            listener: tokio::net::UnixListener::from_std(u).map_err(io_err)?,
            name: server::SocketName::adopted(&settings.socket),
        };
        let tcp = match tcp {
            Some(fd) => {
                let t = std::net::TcpListener::from(fd);
                t.set_nonblocking(true).map_err(io_err)?;
                Some(Tcp {
                    listener: TcpListener::from_std(t).map_err(io_err)?,
                    tls: settings
                        .tls
                        .as_ref()
                        .map(server::tls_acceptor)
                        .transpose()?,
                })
            }
            None => None,
        };
        Ok(Listeners { unix, tcp })
    }

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
    run_with(config, listeners, shutdown, None).await
}

/// How the `fleet-agent` binary runs: it can re-exec itself
/// (`crate::reexec`), and may be the new image of a re-exec.
pub struct Boot {
    /// The binary it runs as, and that image opened.
    pub binary: std::path::PathBuf,
    pub image: OwnedFd,
    pub resumed: Option<crate::reexec::resume::Carried>,
}

/// [`run`], as the binary: with what a re-exec needs, or taking over a
/// previous image's table (`boot.resumed`).
pub async fn run_with(
    config: Config,
    listeners: Listeners,
    shutdown: impl Future<Output = ()> + Send + 'static,
    mut boot: Option<Boot>,
) -> Result<(), RunError> {
    let config_path = config.source.clone();
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
    let (adopted, carried) = match boot.as_mut().and_then(|b| b.resumed.take()) {
        Some(r) => (Some(r.adopted), Some((r.handoff, r.failed))),
        None => (None, None),
    };
    let io = tokio::runtime::Handle::current();
    let started = match adopted {
        Some(a) => supervisor::start_adopting(config, io, a),
        None => supervisor::start(config, io),
    };
    let (mut handle, done) = started.map_err(RunError::Supervisor)?;
    handle.listen = listen;
    // Log write failures (full disk) become events, off the owner thread.
    tokio::spawn(supervisor::report_log_faults(handle.clone()));
    let finished: std::pin::Pin<Box<dyn Future<Output = ()> + Send>> = Box::pin(handle.finished());
    let finished = futures_util::future::FutureExt::shared(finished);
    let (pause, _) = tokio::sync::watch::channel(false);
    let server::UnixSocket {
        listener: unix,
        name: mut socket,
    } = listeners.unix;
    let io_err = |what: String| move |source| ListenError::Io { what, source };
    let unix: OwnedFd = unix
        .into_std()
        .map_err(io_err(socket.path().display().to_string()))?
        .into();
    let serving = Arc::new(Serving {
        tcp: match (listeners.tcp, token) {
            (Some(tcp), Some(token)) => Some((
                tcp.listener
                    .into_std()
                    .map_err(io_err(listen.map(|a| a.to_string()).unwrap_or_default()))?
                    .into(),
                tcp.tls,
                routes::router(handle.clone(), Some(Arc::new(token))),
            )),
            _ => None,
        },
        unix,
        unix_router: routes::router(handle.clone(), None),
        finished: finished.clone(),
        pause: pause.clone(),
        servers: Mutex::new(Vec::new()),
    });
    serving.start()?;
    if let Some(b) = boot {
        let dup = |fd: &OwnedFd| fd.try_clone().map_err(io_err("a listener".into()));
        let tcp = serving.tcp.as_ref().map(|t| dup(&t.0)).transpose()?;
        let again = serving.clone();
        let serve_again = Box::new(move || {
            if let Err(e) = again.start() {
                tracing::error!("cannot serve again after a failed re-exec: {e}");
            }
        });
        crate::reexec::install(crate::reexec::Context::new(
            b.binary,
            config_path.clone(),
            b.image,
            dup(&serving.unix)?,
            tcp,
            pause,
            serve_again,
        ));
    }
    // A handed-over socket has been at its path all along.
    if carried.is_none() {
        socket.publish()?;
    }
    if let Some((mut e, token)) = enroll {
        if let Some(addr) = listen {
            e.advertise_url = advertised(&e.advertise_url, addr);
        }
        tokio::spawn(crate::enroll::run(e, host, token));
    }
    tracing::info!(
        version = %crate::reexec::state::version(),
        socket = %socket.path().display(),
        listen = ?listen,
        tls,
        resumed = carried.is_some(),
        "fleet-agent started"
    );
    crate::notify::ready();
    if let Some((handoff, failed)) = carried {
        crate::reexec::resume::served(&handoff, failed);
    }
    let commands = handle.clone();
    let stopper = tokio::spawn(async move {
        shutdown.await;
        crate::reexec::shutting_down();
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
    let servers = std::mem::take(&mut *serving.servers.lock().unwrap_or_else(|e| e.into_inner()));
    let servers = futures_util::future::join_all(servers);
    let _ = tokio::time::timeout(Duration::from_secs(2), servers).await;
    let _ = std::fs::remove_file(socket.path());
    tracing::info!("fleet-agent stopped");
    Ok(())
}

/// The listeners and what serves them; served again after a failed
/// re-exec (whose pause ended the servers' accept loops), from duplicates
/// of the same sockets.
struct Serving {
    unix: OwnedFd,
    tcp: Option<(OwnedFd, Option<TlsAcceptor>, axum::Router)>,
    unix_router: axum::Router,
    finished: futures_util::future::Shared<std::pin::Pin<Box<dyn Future<Output = ()> + Send>>>,
    pause: tokio::sync::watch::Sender<bool>,
    servers: Mutex<Vec<tokio::task::JoinHandle<()>>>,
}

impl Serving {
    /// Serve TCP, then the unix socket, until the agent finishes or a
    /// re-exec pauses them.
    fn start(&self) -> Result<(), ListenError> {
        let stop = || -> server::Stop {
            let finished = self.finished.clone();
            let mut pause = self.pause.subscribe();
            Box::pin(async move {
                tokio::select! {
                    _ = finished => {}
                    _ = pause.wait_for(|p| *p) => {}
                }
            })
        };
        let io_err = |source| ListenError::Io {
            what: "a listener".into(),
            source,
        };
        let mut servers = self.servers.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((fd, tls, router)) = &self.tcp {
            let l = std::net::TcpListener::from(fd.try_clone().map_err(io_err)?);
            l.set_nonblocking(true).map_err(io_err)?;
            let l = TcpListener::from_std(l).map_err(io_err)?;
            servers
                .push(server::serve_tcp(l, tls.clone(), router.clone(), stop()).map_err(io_err)?);
        }
        let l = std::os::unix::net::UnixListener::from(self.unix.try_clone().map_err(io_err)?);
        l.set_nonblocking(true).map_err(io_err)?;
        let l = tokio::net::UnixListener::from_std(l).map_err(io_err)?;
        servers.push(server::serve_unix(l, self.unix_router.clone(), stop()));
        Ok(())
    }
}

/// The default advertised URL is built from `listen`; with port 0 it names
/// port 0, so put the port the listener really got in its place.
fn advertised(url: &str, bound: SocketAddr) -> String {
    match url.strip_suffix(":0") {
        Some(base) => format!("{base}:{}", bound.port()),
        None => url.to_owned(),
    }
}
