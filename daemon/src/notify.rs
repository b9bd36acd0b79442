//! systemd readiness notification (`sd_notify(3)`), without libsystemd.
//!
//! `take_socket` must run while the process is still single-threaded: it
//! reads `NOTIFY_SOCKET` and removes it from the environment, so the
//! programs the daemon spawns (which inherit its environment) cannot talk to
//! systemd in its name. `ready` and `stopping` then send one datagram each.
//! Everything here is a no-op when the daemon was not started by systemd
//! with `Type=notify`.

use std::path::PathBuf;
use std::sync::OnceLock;

static SOCKET: OnceLock<Option<PathBuf>> = OnceLock::new();

/// Read and unset `NOTIFY_SOCKET`. Call early in `main`, before any thread.
pub fn take_socket() {
    SOCKET.get_or_init(|| {
        let path = std::env::var_os("NOTIFY_SOCKET").filter(|p| !p.is_empty())?;
        std::env::remove_var("NOTIFY_SOCKET");
        Some(PathBuf::from(path))
    });
}

/// Tell systemd the service is up (`READY=1`).
pub fn ready() {
    send(&format!("READY=1\nMAINPID={}", std::process::id()));
}

/// Tell systemd the service is reloading (`RELOADING=1`): sent before an
/// in-place re-exec, whose new image then sends `READY=1` from the same pid.
pub fn reloading() {
    send("RELOADING=1");
}

/// The socket `take_socket` took, for a re-exec to hand to its new image
/// (which no longer finds it in its environment).
pub fn socket() -> Option<PathBuf> {
    SOCKET.get().cloned().flatten()
}

/// A re-executed image's notify socket, as the old image handed it over;
/// call instead of `take_socket`, before any thread.
pub fn set_socket(path: Option<PathBuf>) {
    let _ = SOCKET.set(path);
}

/// Tell systemd the service is shutting down (`STOPPING=1`).
pub fn stopping() {
    send("STOPPING=1");
}

fn send(state: &str) {
    let Some(Some(path)) = SOCKET.get() else {
        return;
    };
    if let Err(e) = send_to(path, state) {
        tracing::warn!(socket = %path.display(), "cannot notify systemd: {e}");
    }
}

fn send_to(path: &std::path::Path, state: &str) -> std::io::Result<()> {
    use std::os::linux::net::SocketAddrExt;
    use std::os::unix::ffi::OsStrExt;
    use std::os::unix::net::{SocketAddr, UnixDatagram};
    let sock = UnixDatagram::unbound()?;
    let bytes = path.as_os_str().as_bytes();
    // A leading '@' names a socket in the abstract namespace.
    let addr = match bytes.strip_prefix(b"@") {
        Some(name) => SocketAddr::from_abstract_name(name)?,
        None => SocketAddr::from_pathname(path)?,
    };
    sock.send_to_addr(state.as_bytes(), &addr)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sends_the_state_as_one_datagram() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify");
        let server = std::os::unix::net::UnixDatagram::bind(&path).unwrap();
        send_to(&path, "READY=1").unwrap();
        let mut buf = [0u8; 64];
        let n = server.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"READY=1");
    }

    #[test]
    fn without_a_socket_nothing_happens() {
        // SOCKET is unset in tests unless take_socket ran: a no-op.
        ready();
        stopping();
    }
}
