//! console.toml → [`Config`]: the raw serde shape (unknown keys are
//! errors), then one check per section that collects every problem at once
//! and resolves paths relative to the config file. One file per section:
//! `console.rs` `[console]` (listen, TLS, data dir, timings), `auth.rs`
//! `[[tokens]]` and `insecure_no_auth`, `agents.rs` `[[agent]]` (URL and
//! TLS trust; also the host-name and URL rules registrations use),
//! `supervisord.rs` what `kind = "supervisord"` adds to `[[agent]]` (its
//! url forms, `username`/`password_file`, `poll`), `enrollment.rs`
//! `[enrollment]`, `store.rs` `[store]` (SQLite or PostgreSQL); `validate.rs` what they share (the
//! problems so far, paths, secrets through `fleet_daemon::secret`).

mod agents;
mod auth;
mod console;
mod enrollment;
mod store;
mod supervisord;
mod validate;

#[cfg(test)]
mod tests;

use serde::Deserialize;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

pub use agents::{check_agent_url, valid_host_name, AgentConfig, UrlKind};
pub use auth::TokenConfig;
pub use console::{DEFAULT_CONCURRENCY, DEFAULT_LISTEN};
pub use enrollment::EnrollmentToken;
/// How the console checks an agent's TLS certificate: the kit's one trust
/// type (`System` for plain http and the system roots, `CaFile`, or
/// `Fingerprint`).
pub use fleet_daemon::trust::Trust;
/// A secret that never shows up in `Debug` output or logs.
pub use fleet_daemon::Secret;
pub use store::{PgConfig, PgTls};
pub use supervisord::{AgentKind, Endpoint, SupervisordConfig, DEFAULT_POLL};

use validate::Ctx;

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    console: console::RawConsole,
    #[serde(default)]
    tokens: Vec<auth::RawToken>,
    #[serde(default)]
    agent: Vec<agents::RawAgent>,
    #[serde(default)]
    host_groups: BTreeMap<String, Vec<String>>,
    enrollment: Option<enrollment::RawEnrollment>,
    store: Option<store::RawStore>,
}

#[derive(Clone, Debug)]
pub struct Config {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    pub tls: Option<(PathBuf, PathBuf)>,
    pub heartbeat_secs: u64,
    pub stale_after_secs: u64,
    pub concurrency: usize,
    pub host_timeout_secs: u64,
    pub tokens: Vec<TokenConfig>,
    pub agents: Vec<AgentConfig>,
    pub host_groups: BTreeMap<String, Vec<String>>,
    /// Every enrollment token (`[enrollment] token` and
    /// `[[enrollment.tokens]]`); none: registration is off.
    pub enrollment: Vec<EnrollmentToken>,
    /// No `[[tokens]]`: every caller is an operator. Loopback only, and
    /// only when `[console] insecure_no_auth = true` says so.
    pub insecure_no_auth: bool,
    /// Registrations (and heartbeats) accepted per second, fleet-wide
    /// (`[enrollment] rate_per_sec`, default 50; bursts of 4× that).
    pub enrollment_rate: u32,
    /// Registered agents the console keeps at most (`[enrollment]
    /// max_agents`, default 10,000): a leaked enrollment token cannot fill
    /// the inventory.
    pub max_registered: usize,
    /// `[store] url`: PostgreSQL; none: SQLite in `data_dir`.
    pub store: Option<PgConfig>,
}

/// Load and validate; the error lists every problem, one per line.
pub fn load(path: &Path) -> Result<Config, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    parse(&text, path)
}

/// A TOML error as `FILE:LINE:COL: message`, without toml's copy of the
/// offending line: that line may hold a token, and this message goes to
/// the journal.
fn toml_error(text: &str, path: &Path, e: &toml::de::Error) -> String {
    let msg = e.message().trim_end().replace('\n', "; ");
    let before = e.span().and_then(|s| text.get(..s.start));
    match before {
        Some(before) => {
            let line = before.matches('\n').count() + 1;
            let col = before.rsplit('\n').next().unwrap_or("").chars().count() + 1;
            format!("{}:{line}:{col}: {msg}", path.display())
        }
        None => format!("{}: {msg}", path.display()),
    }
}

/// Check `text` (read from `path`) section by section; every problem is
/// reported, each prefixed with `path`.
pub fn parse(text: &str, path: &Path) -> Result<Config, String> {
    let raw: RawFile = toml::from_str(text).map_err(|e| toml_error(text, path, &e))?;
    let mut cx = Ctx::new(path);
    let c = console::console(&mut cx, raw.console);
    let tokens = auth::tokens(&mut cx, raw.tokens);
    auth::check_open(&mut cx, c.listen, &tokens, c.insecure_no_auth);
    let agents = agents::agents(&mut cx, raw.agent);
    host_groups(&mut cx, &raw.host_groups);
    let enrollment = enrollment::enrollment(&mut cx, raw.enrollment);
    let store = store::store(&mut cx, raw.store);
    if let Some(e) = cx.into_error(path) {
        return Err(e);
    }
    Ok(Config {
        listen: c.listen,
        data_dir: c.data_dir,
        tls: c.tls,
        heartbeat_secs: c.heartbeat_secs,
        stale_after_secs: c.stale_after_secs,
        concurrency: c.concurrency,
        host_timeout_secs: c.host_timeout_secs,
        tokens,
        agents,
        host_groups: raw.host_groups,
        enrollment: enrollment.tokens,
        insecure_no_auth: c.insecure_no_auth,
        enrollment_rate: enrollment.rate,
        max_registered: enrollment.max_registered,
        store,
    })
}

/// `[host_groups]`: each group's patterns must be globs.
fn host_groups(cx: &mut Ctx, groups: &BTreeMap<String, Vec<String>>) {
    for (g, globs) in groups {
        for pat in globs {
            if glob::Pattern::new(pat).is_err() {
                cx.error(format!("host_groups.{g}: bad pattern {pat:?}"));
            }
        }
    }
}
