//! The `[store]` section: where the console keeps its state. Absent, the
//! embedded SQLite file in `data_dir` (as always); with `url`, a
//! PostgreSQL database that several consoles share (README, "High
//! availability"). The URL and the password are [`Secret`]s: a URL may
//! carry a password, and neither is ever logged or shown by `Debug`.

use serde::Deserialize;
use std::path::PathBuf;

use super::validate::Ctx;
use super::Secret;

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawStore {
    url: Option<String>,
    password_file: Option<PathBuf>,
    tls: Option<String>,
    ca_file: Option<PathBuf>,
}

/// A PostgreSQL store, checked.
#[derive(Clone, Debug)]
pub struct PgConfig {
    /// `postgres://USER@HOST[:PORT]/DB` or a libpq key=value string.
    pub url: Secret,
    /// From `password_file`; none: the URL's own (or none).
    pub password: Option<Secret>,
    pub tls: PgTls,
}

/// `[store] tls`: how the connection to PostgreSQL is protected.
#[derive(Clone, Debug, Default, PartialEq)]
pub enum PgTls {
    /// Plain TCP (a unix socket or a private network).
    #[default]
    Disable,
    /// Encrypted; the server's certificate is not checked.
    Require,
    /// Encrypted; the server's certificate checked against `ca_file`, its
    /// name against the URL's host.
    VerifyFull(PathBuf),
}

pub(super) fn store(cx: &mut Ctx, raw: Option<RawStore>) -> Option<PgConfig> {
    let raw = raw?;
    let Some(url) = raw.url else {
        if raw.password_file.is_some() || raw.tls.is_some() || raw.ca_file.is_some() {
            cx.error("store: url is required with password_file, tls or ca_file");
        }
        return None;
    };
    // The parser's own message never quotes the string (it may hold a
    // password); ours names only the expected form.
    if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
        cx.error("store.url: expected postgres://USER@HOST/DB");
    } else if let Err(e) = url.parse::<tokio_postgres::Config>() {
        cx.error(format!(
            "store.url: not a PostgreSQL connection string (postgres://USER@HOST/DB): {e}"
        ));
    }
    let password = raw.password_file.and_then(|f| {
        let src = fleet_daemon::secret::Source::File(&cx.path(&f));
        fleet_daemon::secret::resolve(src, |_| None)
            .map_err(|e| cx.error(format!("store.password_file: {e}")))
            .ok()
    });
    let tls = match (raw.tls.as_deref(), raw.ca_file) {
        (None | Some("disable"), None) => PgTls::Disable,
        (Some("require"), None) => PgTls::Require,
        (Some("verify-full"), Some(ca)) => {
            let ca = cx.path(&ca);
            if let Err(e) = std::fs::metadata(&ca) {
                cx.error(format!("store.ca_file: cannot read {}: {e}", ca.display()));
            }
            PgTls::VerifyFull(ca)
        }
        (Some("verify-full"), None) => {
            cx.error("store.tls = \"verify-full\" needs ca_file (the CA that signed the server's certificate)");
            PgTls::Disable
        }
        (None | Some("disable" | "require"), Some(_)) => {
            cx.error("store.ca_file: only with tls = \"verify-full\"");
            PgTls::Disable
        }
        (Some(other), _) => {
            cx.error(format!(
                "store.tls: expected \"disable\", \"require\" or \"verify-full\", found {other:?}"
            ));
            PgTls::Disable
        }
    };
    Some(PgConfig {
        url: Secret::new(url),
        password,
        tls,
    })
}
