//! The `[console]` section: where the console listens (and with which
//! certificate), where it keeps its data, and its timings and limits.

use serde::Deserialize;
use std::net::SocketAddr;
use std::path::PathBuf;

use super::validate::Ctx;

/// Hosts a parallel operation acts on at once unless the request or
/// `[console] concurrency` says otherwise. Each is one connection beside
/// the one per agent the console always holds (its fd limit is raised to
/// the hard one at start); a restart waits for `startsecs`, so at 512 a
/// 5,000-host restart took ten waves of at least a second (BOUNDS.md).
pub const DEFAULT_CONCURRENCY: usize = 2048;

pub const DEFAULT_LISTEN: &str = "127.0.0.1:9700";

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawConsole {
    listen: Option<String>,
    data_dir: Option<PathBuf>,
    tls_cert: Option<PathBuf>,
    tls_key: Option<PathBuf>,
    heartbeat_secs: Option<u64>,
    stale_after_secs: Option<u64>,
    concurrency: Option<usize>,
    host_timeout_secs: Option<u64>,
    insecure_no_auth: Option<bool>,
}

/// `[console]`, checked (defaults filled in).
pub(super) struct Console {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    pub tls: Option<(PathBuf, PathBuf)>,
    pub heartbeat_secs: u64,
    pub stale_after_secs: u64,
    pub concurrency: usize,
    pub host_timeout_secs: u64,
    /// Checked with the tokens (`auth.rs`): it depends on them.
    pub insecure_no_auth: bool,
}

pub(super) fn console(cx: &mut Ctx, c: RawConsole) -> Console {
    let listen_text = c.listen.unwrap_or_else(|| DEFAULT_LISTEN.into());
    let listen = listen_text.parse::<SocketAddr>().unwrap_or_else(|_| {
        cx.error(format!(
            "console.listen: expected IP:PORT such as \"127.0.0.1:9700\", found {listen_text:?}"
        ));
        DEFAULT_LISTEN.parse().unwrap()
    });
    let tls = match (c.tls_cert, c.tls_key) {
        (Some(cert), Some(key)) => Some((cx.path(&cert), cx.path(&key))),
        (None, None) => None,
        _ => {
            cx.error("console.tls_cert and console.tls_key: set both or neither");
            None
        }
    };
    let heartbeat_secs = c.heartbeat_secs.unwrap_or(10);
    if heartbeat_secs == 0 {
        cx.error("console.heartbeat_secs must be at least 1");
    }
    // A parallel operation reaches a few hundred hosts in one wave; each
    // in-flight host is one idle HTTP request, cheap for the console (whose
    // fd limit is raised at start). Lower it, or use --rolling, to spread load.
    let concurrency = c.concurrency.unwrap_or(DEFAULT_CONCURRENCY);
    if concurrency == 0 {
        cx.error("console.concurrency must be at least 1");
    }
    Console {
        listen,
        data_dir: c
            .data_dir
            .map(|d| cx.path(&d))
            .unwrap_or_else(default_data_dir),
        tls,
        heartbeat_secs,
        stale_after_secs: c.stale_after_secs.unwrap_or(heartbeat_secs * 3),
        concurrency,
        host_timeout_secs: c.host_timeout_secs.unwrap_or(60),
        insecure_no_auth: c.insecure_no_auth.unwrap_or(false),
    }
}

/// `/var/lib/fleet` for root, the XDG data directory for anyone else.
fn default_data_dir() -> PathBuf {
    if is_root() {
        return PathBuf::from("/var/lib/fleet");
    }
    match std::env::var_os("XDG_DATA_HOME") {
        Some(d) if !d.is_empty() => PathBuf::from(d).join("fleet"),
        _ => std::env::var_os("HOME")
            .map(|h| PathBuf::from(h).join(".local/share/fleet"))
            .unwrap_or_else(|| PathBuf::from("fleet-data")),
    }
}

fn is_root() -> bool {
    std::fs::metadata("/proc/self")
        .map(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0)
        .unwrap_or(false)
}
