//! `kind = "supervisord"` in `[[agent]]`: a host still running supervisord,
//! polled over XML-RPC (`url` = `http(s)://HOST:PORT/RPC2` or
//! `unix:///path.sock`), with optional `username` + `password_file`
//! (supervisord's `[inet_http_server]`/`[unix_http_server]` credentials;
//! the password is a `Secret`: never logged, never in an answer) and how
//! often to poll (`poll = "2s"`). A fleet agent's keys are refused on it,
//! and its keys on a fleet agent.

use fleet_daemon::Secret;
use std::path::PathBuf;
use std::time::Duration;

use super::validate::Ctx;

/// The default `poll`.
pub const DEFAULT_POLL: Duration = Duration::from_secs(2);
const POLL_MIN: Duration = Duration::from_millis(500);
const POLL_MAX: Duration = Duration::from_secs(300);

/// Which daemon answers at an agent's URL.
#[derive(Clone, Debug)]
pub enum AgentKind {
    Fleet,
    Supervisord(SupervisordConfig),
}

impl AgentKind {
    pub fn name(&self) -> &'static str {
        match self {
            AgentKind::Fleet => "fleet",
            AgentKind::Supervisord(_) => "supervisord",
        }
    }

    /// As the wire shows it (`HostInfo::kind`).
    pub fn host_kind(&self) -> fleet_api::HostKind {
        match self {
            AgentKind::Fleet => fleet_api::HostKind::Fleet,
            AgentKind::Supervisord(_) => fleet_api::HostKind::Supervisord,
        }
    }
}

#[derive(Clone, Debug)]
pub struct SupervisordConfig {
    pub endpoint: Endpoint,
    /// HTTP Basic credentials, both or neither.
    pub credentials: Option<(String, Secret)>,
    pub poll: Duration,
}

/// Where supervisord's XML-RPC answers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Endpoint {
    Unix(PathBuf),
    /// `base` is `http(s)://HOST:PORT`, `path` the RPC path (`/RPC2`).
    Http {
        base: String,
        path: String,
    },
}

/// The keys only a supervisord host takes, as read.
pub(super) struct Keys {
    pub username: Option<String>,
    pub password_file: Option<PathBuf>,
    pub poll: Option<String>,
}

impl Keys {
    /// The names of the keys that are set (for a fleet agent's refusal).
    pub fn set(&self) -> Vec<&'static str> {
        let mut v = vec![];
        if self.username.is_some() {
            v.push("username");
        }
        if self.password_file.is_some() {
            v.push("password_file");
        }
        if self.poll.is_some() {
            v.push("poll");
        }
        v
    }
}

/// Check a supervisord host's url and keys (whether its password may
/// cross plain http is `agents.rs`'s rule, as a token's).
pub(super) fn check(cx: &mut Ctx, what: &str, url: &str, keys: Keys) -> SupervisordConfig {
    let endpoint = match endpoint(url) {
        Ok(e) => e,
        Err(e) => {
            cx.error(format!("{what}: url: {e}"));
            Endpoint::Unix(PathBuf::new())
        }
    };
    let credentials = match (keys.username, keys.password_file) {
        (None, None) => None,
        (Some(u), Some(f)) => {
            if u.is_empty() || u.contains(':') || u.chars().any(char::is_control) {
                cx.error(format!(
                    "{what}: username must be non-empty, without ':' or control characters"
                ));
            }
            let src = fleet_daemon::secret::Source::File(&cx.path(&f));
            match fleet_daemon::secret::resolve(src, |_| None) {
                Ok(p) => Some((u, p)),
                Err(e) => {
                    cx.error(format!("{what}: password_file: {e}"));
                    None
                }
            }
        }
        _ => {
            cx.error(format!("{what}: set username and password_file together"));
            None
        }
    };
    let poll = match keys.poll.as_deref().map(parse_duration) {
        None => DEFAULT_POLL,
        Some(Some(d)) if (POLL_MIN..=POLL_MAX).contains(&d) => d,
        Some(_) => {
            cx.error(format!(
                "{what}: poll must be a duration like \"2s\" or \"500ms\", from 500ms to 5m"
            ));
            DEFAULT_POLL
        }
    };
    SupervisordConfig {
        endpoint,
        credentials,
        poll,
    }
}

/// `unix:///abs/path.sock`, or `http(s)://HOST:PORT/PATH` (no query, no
/// fragment, no credentials in the URL).
pub fn endpoint(url: &str) -> Result<Endpoint, String> {
    if let Some(path) = url.strip_prefix("unix://") {
        if !path.starts_with('/') || path.chars().any(char::is_control) {
            return Err(format!(
                "{url:?}: expected unix:///absolute/path/to/supervisor.sock"
            ));
        }
        return Ok(Endpoint::Unix(PathBuf::from(path)));
    }
    if !url.starts_with("http://") && !url.starts_with("https://") {
        return Err(format!(
            "{url:?} must start with http://, https:// or unix://"
        ));
    }
    let bad = || format!("{url:?}: expected http(s)://HOST:PORT/RPC2 and nothing else");
    let u = reqwest::Url::parse(url).map_err(|_| bad())?;
    if u.query().is_some()
        || u.fragment().is_some()
        || !u.username().is_empty()
        || u.password().is_some()
        || u.host().is_none()
        || url.contains(['\\', ' ', '@', '?', '#'])
    {
        return Err(bad());
    }
    let path = match u.path() {
        "" | "/" => "/RPC2".to_owned(),
        p => p.to_owned(),
    };
    let mut base = format!("{}://{}", u.scheme(), u.host_str().unwrap_or_default());
    if let Some(port) = u.port() {
        base.push_str(&format!(":{port}"));
    }
    Ok(Endpoint::Http { base, path })
}

/// `"2s"`, `"500ms"`, `"1m"`.
pub fn parse_duration(s: &str) -> Option<Duration> {
    let s = s.trim();
    let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit())?);
    let n: u64 = num.parse().ok()?;
    match unit {
        "ms" => Some(Duration::from_millis(n)),
        "s" => Some(Duration::from_secs(n)),
        "m" => Some(Duration::from_secs(n.checked_mul(60)?)),
        _ => None,
    }
}
