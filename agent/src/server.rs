//! Listeners: the unix control socket (guarded by file permissions) and the
//! optional TCP listener (bearer token required; TLS when configured).

use crate::config::{AgentSettings, TlsFiles};
use axum::Router;
use std::io;
use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::Arc;
use tokio::net::{TcpListener, TcpStream, UnixListener};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_rustls::rustls;
use tokio_rustls::server::TlsStream;
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

pub fn tls_acceptor(files: &TlsFiles) -> Result<TlsAcceptor, ListenError> {
    let read = |p: &Path| {
        std::fs::read(p).map_err(|e| ListenError::Tls(format!("cannot read {}: {e}", p.display())))
    };
    let cert_pem = read(&files.cert)?;
    let key_pem = read(&files.key)?;
    let certs = rustls_pemfile::certs(&mut cert_pem.as_slice())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| ListenError::Tls(format!("{}: {e}", files.cert.display())))?;
    if certs.is_empty() {
        return Err(ListenError::Tls(format!(
            "{}: no certificate found",
            files.cert.display()
        )));
    }
    let key = rustls_pemfile::private_key(&mut key_pem.as_slice())
        .map_err(|e| ListenError::Tls(format!("{}: {e}", files.key.display())))?
        .ok_or_else(|| {
            ListenError::Tls(format!("{}: no private key found", files.key.display()))
        })?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ListenError::Tls(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| ListenError::Tls(e.to_string()))?;
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// A listener that yields TLS streams; handshakes run in their own tasks so
/// a slow client cannot hold up the others.
pub struct TlsListener {
    rx: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
    local: SocketAddr,
}

impl TlsListener {
    pub fn new(tcp: TcpListener, acceptor: TlsAcceptor) -> io::Result<TlsListener> {
        let local = tcp.local_addr()?;
        let (tx, rx) = mpsc::channel(64);
        tokio::spawn(async move {
            loop {
                let (stream, peer) = match tcp.accept().await {
                    Ok(x) => x,
                    Err(e) => {
                        tracing::warn!("accept failed: {e}");
                        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let acceptor = acceptor.clone();
                let tx = tx.clone();
                tokio::spawn(async move {
                    let hs = tokio::time::timeout(
                        std::time::Duration::from_secs(10),
                        acceptor.accept(stream),
                    );
                    match hs.await {
                        Ok(Ok(tls)) => {
                            let _ = tx.send((tls, peer)).await;
                        }
                        Ok(Err(e)) => tracing::debug!(%peer, "TLS handshake failed: {e}"),
                        Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                    }
                });
            }
        });
        Ok(TlsListener { rx, local })
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.rx.recv().await {
            Some(x) => x,
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.local)
    }
}

/// Serve the TCP listener with the token check in front of every route.
pub fn serve_tcp(
    tcp: TcpListener,
    tls: Option<TlsAcceptor>,
    router: Router,
    token: String,
    stop: Stop,
) -> io::Result<JoinHandle<()>> {
    let router = router.layer(axum::middleware::from_fn_with_state(
        Arc::new(token),
        crate::api::require_token,
    ));
    Ok(match tls {
        Some(acceptor) => {
            let l = TlsListener::new(tcp, acceptor)?;
            tokio::spawn(async move {
                let _ = axum::serve(l, router).with_graceful_shutdown(stop).await;
            })
        }
        None => tokio::spawn(async move {
            let _ = axum::serve(tcp, router).with_graceful_shutdown(stop).await;
        }),
    })
}

pub fn serve_unix(unix: UnixListener, router: Router, stop: Stop) -> JoinHandle<()> {
    tokio::spawn(async move {
        let _ = axum::serve(unix, router).with_graceful_shutdown(stop).await;
    })
}

/// Resolves when the servers should stop accepting and finish in-flight
/// responses (after the supervisor is done).
pub type Stop = std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>;
