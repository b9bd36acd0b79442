//! Listeners: binding and serving the unix control socket (guarded by file
//! permissions) and the optional TCP listener (bearer token required; TLS
//! when configured, through the daemons' kit). Both drain in-flight
//! responses on shutdown. What they serve is `crate::routes`.

use crate::config::{AgentSettings, TlsFiles};
use axum::Router;
use fleet_daemon::serve::{serve, Limits};
use fleet_daemon::tls::TlsListener;
use std::io;
use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use tokio::net::{TcpListener, UnixListener};
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;

#[derive(Debug, thiserror::Error)]
pub enum ListenError {
    #[error("another process is already serving {0}")]
    SocketInUse(String),
    #[error("cannot listen on {what}: {source}")]
    Io {
        what: String,
        #[source]
        source: io::Error,
    },
    #[error(
        "refusing to listen on {0} without a token: set [agent] token, token_file or token_env"
    )]
    NoToken(SocketAddr),
    #[error("TLS set-up failed: {0}")]
    Tls(String),
}

/// The unix control socket, bound under a staging name beside its final
/// path. It appears at the path only when [`SocketName::publish`] is called,
/// once every listener is serving: scripts and tests take the socket's
/// existence as "the agent is up", on all its listeners.
pub struct UnixSocket {
    pub listener: UnixListener,
    pub name: SocketName,
}

/// Where a staged socket is and where it goes; a socket never published is
/// removed on drop.
pub struct SocketName {
    staged: std::path::PathBuf,
    path: std::path::PathBuf,
    published: bool,
}

impl SocketName {
    /// Move the socket to its final path (atomically replacing a stale one).
    pub fn publish(&mut self) -> Result<(), ListenError> {
        std::fs::rename(&self.staged, &self.path).map_err(|source| ListenError::Io {
            what: self.path.display().to_string(),
            source,
        })?;
        self.published = true;
        Ok(())
    }

    /// A socket already at its path (handed over by a re-exec).
    pub fn adopted(path: &Path) -> SocketName {
        SocketName {
            staged: path.to_owned(),
            path: path.to_owned(),
            published: true,
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for SocketName {
    fn drop(&mut self) {
        if !self.published {
            let _ = std::fs::remove_file(&self.staged);
        }
    }
}

/// Bind the unix socket (staged, see [`UnixSocket`]), refusing to replace
/// a live one, and make it accessible to its owner only.
pub fn bind_unix(path: &Path) -> Result<UnixSocket, ListenError> {
    let io_err = |source| ListenError::Io {
        what: path.display().to_string(),
        source,
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io_err)?;
    }
    if path.exists() && std::os::unix::net::UnixStream::connect(path).is_ok() {
        return Err(ListenError::SocketInUse(path.display().to_string()));
    }
    let mut staged = std::ffi::OsString::from(".");
    staged.push(path.file_name().unwrap_or_default());
    staged.push(format!(".{}.new", std::process::id()));
    let name = SocketName {
        staged: path.with_file_name(staged),
        path: path.to_owned(),
        published: false,
    };
    let _ = std::fs::remove_file(&name.staged);
    let listener = UnixListener::bind(&name.staged).map_err(io_err)?;
    std::fs::set_permissions(&name.staged, std::fs::Permissions::from_mode(0o600))
        .map_err(io_err)?;
    Ok(UnixSocket { listener, name })
}

/// Bind the TCP listener. A token is required on any address: the agent
/// usually runs as root.
pub async fn bind_tcp(settings: &AgentSettings) -> Result<Option<TcpListener>, ListenError> {
    let Some(addr) = settings.listen else {
        return Ok(None);
    };
    if settings.token.is_none() {
        return Err(ListenError::NoToken(addr));
    }
    let l = TcpListener::bind(addr)
        .await
        .map_err(|source| ListenError::Io {
            what: addr.to_string(),
            source,
        })?;
    Ok(Some(l))
}

/// The TLS config for the TCP listener (the kit's, shared with the console).
pub fn tls_acceptor(files: &TlsFiles) -> Result<TlsAcceptor, ListenError> {
    fleet_daemon::tls::acceptor(&files.cert, &files.key).map_err(ListenError::Tls)
}

/// Serve the TCP listener (its router built with the token check on every
/// route that needs it, `crate::routes::router`).
pub fn serve_tcp(
    tcp: TcpListener,
    tls: Option<TlsAcceptor>,
    router: Router,
    stop: Stop,
) -> io::Result<JoinHandle<()>> {
    let limits = Limits::default();
    Ok(match tls {
        Some(acceptor) => {
            let l = TlsListener::new(tcp, acceptor)?;
            tokio::spawn(serve(l, router, stop, limits))
        }
        None => tokio::spawn(serve(tcp, router, stop, limits)),
    })
}

/// The unix socket has its own connection cap, so a flood on TCP never
/// locks root out of the local socket.
pub fn serve_unix(unix: UnixListener, router: Router, stop: Stop) -> JoinHandle<()> {
    tokio::spawn(serve(unix, router, stop, Limits::default()))
}

/// Resolves when the servers should stop accepting and finish in-flight
/// responses (after the supervisor is done).
pub type Stop = std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>;
