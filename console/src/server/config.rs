//! console.toml: the raw serde shape (unknown keys are errors) and a
//! `validate` step that collects every problem at once and resolves token
//! files relative to the config file.

use fleet_api::Role;
use fleet_daemon::secret::Source;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// Hosts a parallel operation acts on at once unless the request or
/// `[console] concurrency` says otherwise.
pub const DEFAULT_CONCURRENCY: usize = 512;

/// A secret that never shows up in `Debug` output or logs.
pub use fleet_daemon::Secret;

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    console: RawConsole,
    #[serde(default)]
    tokens: Vec<RawToken>,
    #[serde(default)]
    agent: Vec<RawAgent>,
    #[serde(default)]
    host_groups: BTreeMap<String, Vec<String>>,
    enrollment: Option<RawEnrollment>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawConsole {
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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawToken {
    name: String,
    token: Option<String>,
    token_file: Option<PathBuf>,
    role: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAgent {
    name: String,
    url: String,
    token: Option<String>,
    token_file: Option<PathBuf>,
    #[serde(default)]
    tags: BTreeMap<String, String>,
    ca_file: Option<PathBuf>,
    fingerprint: Option<String>,
    #[serde(default)]
    allow_insecure_http: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEnrollment {
    name: Option<String>,
    token: Option<String>,
    token_file: Option<PathBuf>,
    expires: Option<toml::value::Datetime>,
    rate_per_sec: Option<u32>,
    max_agents: Option<usize>,
    /// More enrollment tokens, valid at the same time as `token`: a new
    /// one is added before the old one expires (rotation without a gap).
    #[serde(default)]
    tokens: Vec<RawEnrollmentToken>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEnrollmentToken {
    name: Option<String>,
    token: Option<String>,
    token_file: Option<PathBuf>,
    expires: Option<toml::value::Datetime>,
}

/// One enrollment token: it only bootstraps (a registration with it gets
/// the agent its own credential), and stops enrolling at `expires`.
#[derive(Clone, Debug)]
pub struct EnrollmentToken {
    /// For messages and the audit log (never the value).
    pub name: String,
    pub secret: Secret,
    /// Unix ms from which it is refused, and the config's text for it.
    pub expires: Option<(u64, String)>,
}

impl EnrollmentToken {
    pub fn expired(&self, now_ms: u64) -> bool {
        self.expires.as_ref().is_some_and(|(at, _)| now_ms >= *at)
    }
}

/// A TOML date (midnight UTC) or date-time with an offset, in unix ms.
fn datetime_ms(d: &toml::value::Datetime) -> Result<u64, String> {
    let Some(date) = d.date else {
        return Err(format!(
            "{d}: expected a date, e.g. 2027-01-31 or 2027-01-31T12:00:00Z"
        ));
    };
    let offset_min: i64 = match (d.time, d.offset) {
        (None, None) => 0,
        (Some(_), Some(toml::value::Offset::Z)) => 0,
        (Some(_), Some(toml::value::Offset::Custom { minutes })) => minutes as i64,
        _ => {
            return Err(format!(
                "{d}: a time needs a UTC offset, e.g. 2027-01-31T12:00:00Z"
            ))
        }
    };
    // Days from the civil date (Howard Hinnant's algorithm).
    let (y, m, day) = (date.year as i64, date.month as i64, date.day as i64);
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * ((m + 9) % 12) + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = d
        .time
        .map(|t| t.hour as i64 * 3600 + t.minute as i64 * 60 + t.second as i64)
        .unwrap_or(0);
    let ms = (days * 86_400 + secs - offset_min * 60) * 1000;
    u64::try_from(ms).map_err(|_| format!("{d}: before 1970"))
}

/// How the console checks an agent's TLS certificate: the kit's one trust
/// type (`System` for plain http and the system roots, `CaFile`, or
/// `Fingerprint`).
pub use fleet_daemon::trust::Trust;

#[derive(Clone, Debug)]
pub struct AgentConfig {
    pub name: String,
    pub url: String,
    pub token: Option<Secret>,
    pub tags: BTreeMap<String, String>,
    pub trust: Trust,
    /// Plain HTTP to a non-loopback address (warned about at start).
    pub insecure: bool,
}

#[derive(Clone, Debug)]
pub struct TokenConfig {
    pub name: String,
    pub secret: Secret,
    pub role: Role,
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
}

pub const DEFAULT_LISTEN: &str = "127.0.0.1:9700";

/// Refuse a guessable token, saying how to make a good one (the rule is
/// `fleet_daemon::secret::too_weak`, the agent's too).
fn strong_enough(what: &str, s: &Secret, errs: &mut Vec<String>) {
    if let Some(e) = fleet_daemon::secret::too_weak(s.expose()) {
        errs.push(format!("{what}: {e}"));
    }
}

fn default_data_dir() -> PathBuf {
    if nix_is_root() {
        return PathBuf::from("/var/lib/fleet");
    }
    match std::env::var_os("XDG_DATA_HOME") {
        Some(d) if !d.is_empty() => PathBuf::from(d).join("fleet"),
        _ => std::env::var_os("HOME")
            .map(|h| PathBuf::from(h).join(".local/share/fleet"))
            .unwrap_or_else(|| PathBuf::from("fleet-data")),
    }
}

fn nix_is_root() -> bool {
    std::fs::metadata("/proc/self")
        .map(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0)
        .unwrap_or(false)
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

pub fn parse(text: &str, path: &Path) -> Result<Config, String> {
    let raw: RawFile = toml::from_str(text).map_err(|e| toml_error(text, path, &e))?;
    let base = path.parent().unwrap_or(Path::new("."));
    let mut errs = Vec::new();
    let resolve = |p: &Path| -> PathBuf {
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            base.join(p)
        }
    };
    let secret = |what: &str,
                  inline: Option<String>,
                  file: Option<PathBuf>,
                  errs: &mut Vec<String>| match (inline, file) {
        (Some(_), Some(_)) => {
            errs.push(format!("{what}: set token or token_file, not both"));
            None
        }
        (Some(t), None) => fleet_daemon::secret::resolve(Source::Inline(&t), |_| None)
            .map_err(|e| errs.push(format!("{what}: {e}")))
            .ok(),
        (None, Some(f)) => fleet_daemon::secret::resolve(Source::File(&resolve(&f)), |_| None)
            .map_err(|e| errs.push(format!("{what}: {e}")))
            .ok(),
        (None, None) => None,
    };

    let c = raw.console;
    let listen_text = c.listen.unwrap_or_else(|| DEFAULT_LISTEN.into());
    let listen = listen_text.parse::<SocketAddr>().unwrap_or_else(|_| {
        errs.push(format!(
            "console.listen: expected IP:PORT such as \"127.0.0.1:9700\", found {listen_text:?}"
        ));
        DEFAULT_LISTEN.parse().unwrap()
    });
    let tls = match (c.tls_cert, c.tls_key) {
        (Some(cert), Some(key)) => Some((resolve(&cert), resolve(&key))),
        (None, None) => None,
        _ => {
            errs.push("console.tls_cert and console.tls_key: set both or neither".into());
            None
        }
    };

    let mut tokens = Vec::new();
    for (i, t) in raw.tokens.into_iter().enumerate() {
        let what = format!("tokens[{i}] ({:?})", t.name);
        if t.name.is_empty() {
            errs.push(format!("{what}: name is empty"));
        }
        if tokens.iter().any(|o: &TokenConfig| o.name == t.name) {
            errs.push(format!("{what}: duplicate token name"));
        }
        let role = match t.role.as_str() {
            "viewer" => Some(Role::Viewer),
            "operator" => Some(Role::Operator),
            other => {
                errs.push(format!(
                    "{what}: role {other:?} (expected \"viewer\" or \"operator\")"
                ));
                None
            }
        };
        let s = secret(&what, t.token, t.token_file, &mut errs);
        if let Some(s) = &s {
            strong_enough(&what, s, &mut errs);
        }
        if s.is_none() && !errs.iter().any(|e| e.starts_with(&what)) {
            errs.push(format!("{what}: set token or token_file"));
        }
        if let (Some(secret), Some(role)) = (s, role) {
            tokens.push(TokenConfig {
                name: t.name,
                secret,
                role,
            });
        }
    }
    let insecure_no_auth = c.insecure_no_auth.unwrap_or(false);
    if !listen.ip().is_loopback() && tokens.is_empty() {
        errs.push(format!(
            "console.listen: refusing non-loopback address {listen} without [[tokens]]"
        ));
    } else if tokens.is_empty() && !insecure_no_auth {
        errs.push(
            "no [[tokens]]: add an operator token, e.g.\n  \
             head -c 32 /dev/urandom | base64 > /etc/fleet/secrets/ops.token\n  \
             [[tokens]]\n  name = \"ops\"\n  token_file = \"secrets/ops.token\"\n  role = \"operator\"\n\
             (or, for a loopback-only console without authentication, set [console] insecure_no_auth = true)"
                .into(),
        );
    } else if !tokens.is_empty() && insecure_no_auth {
        errs.push(
            "console.insecure_no_auth = true with [[tokens]]: remove one (tokens are enforced)"
                .into(),
        );
    }

    let mut agents: Vec<AgentConfig> = Vec::new();
    for a in raw.agent {
        let what = format!("agent {:?}", a.name);
        if !valid_host_name(&a.name) {
            errs.push(format!(
                "{what}: names use letters, digits and _ - . (no spaces, no glob characters)"
            ));
        }
        if agents.iter().any(|o| o.name == a.name) {
            errs.push(format!("{what}: duplicate agent name"));
        }
        let token = secret(&what, a.token, a.token_file, &mut errs);
        // The agent refuses a shorter token, so it could never match.
        if let Some(t) = &token {
            strong_enough(&what, t, &mut errs);
        }
        let trust = match (a.ca_file, a.fingerprint) {
            (Some(_), Some(_)) => {
                errs.push(format!("{what}: set ca_file or fingerprint, not both"));
                Trust::System
            }
            (Some(f), None) => Trust::CaFile(resolve(&f)),
            (None, Some(fp)) => match fleet_daemon::pin::parse_fingerprint(&fp) {
                Some(b) => Trust::Fingerprint(b),
                None => {
                    errs.push(format!(
                        "{what}: fingerprint must be a SHA-256 in hex (64 digits, colons allowed, optional \"sha256:\" prefix)"
                    ));
                    Trust::System
                }
            },
            (None, None) => Trust::System,
        };
        let mut insecure = false;
        match check_agent_url(&a.url) {
            Err(e) => errs.push(format!("{what}: url: {e}")),
            Ok(UrlKind::Https) => {}
            Ok(UrlKind::Http { loopback }) => {
                if trust != Trust::System {
                    errs.push(format!("{what}: ca_file/fingerprint need an https:// url"));
                }
                if !loopback {
                    if a.allow_insecure_http {
                        insecure = true;
                    } else {
                        errs.push(format!(
                            "{what}: plain http:// to a non-loopback address sends the token in clear; use https:// or set allow_insecure_http = true"
                        ));
                    }
                }
            }
        }
        agents.push(AgentConfig {
            name: a.name,
            url: a.url.trim_end_matches('/').to_string(),
            token,
            tags: a.tags,
            trust,
            insecure,
        });
    }
    for (g, globs) in &raw.host_groups {
        for pat in globs {
            if glob::Pattern::new(pat).is_err() {
                errs.push(format!("host_groups.{g}: bad pattern {pat:?}"));
            }
        }
    }
    let (enrollment_rate, max_registered) = raw
        .enrollment
        .as_ref()
        .map(|e| (e.rate_per_sec.unwrap_or(50), e.max_agents.unwrap_or(10_000)))
        .unwrap_or((50, 10_000));
    if enrollment_rate == 0 {
        errs.push("enrollment.rate_per_sec must be at least 1".into());
    }
    let mut enrollment: Vec<EnrollmentToken> = Vec::new();
    if let Some(e) = raw.enrollment {
        let main = RawEnrollmentToken {
            name: e.name,
            token: e.token,
            token_file: e.token_file,
            expires: e.expires,
        };
        let main_set = main.token.is_some() || main.token_file.is_some();
        if !main_set && (main.expires.is_some() || main.name.is_some()) {
            errs.push("enrollment: expires/name without token or token_file".into());
        }
        let entries = std::iter::once(("enrollment".to_string(), "enrollment", main))
            .filter(|_| main_set)
            .chain(
                e.tokens
                    .into_iter()
                    .enumerate()
                    .map(|(i, t)| (format!("enrollment.tokens[{i}]"), "", t)),
            );
        for (what, default_name, t) in entries {
            let name = t.name.clone().unwrap_or_else(|| {
                if default_name.is_empty() {
                    what.clone()
                } else {
                    default_name.to_string()
                }
            });
            let Some(s) = secret(&what, t.token, t.token_file, &mut errs) else {
                if !errs.iter().any(|e| e.starts_with(&what)) {
                    errs.push(format!("{what}: set token or token_file"));
                }
                continue;
            };
            strong_enough(&what, &s, &mut errs);
            let expires = match t.expires.as_ref().map(datetime_ms) {
                None => None,
                Some(Ok(ms)) => t.expires.as_ref().map(|d| (ms, d.to_string())),
                Some(Err(e)) => {
                    errs.push(format!("{what}: expires = {e}"));
                    None
                }
            };
            if enrollment.iter().any(|o| o.name == name) {
                errs.push(format!("{what}: duplicate enrollment token name {name:?}"));
            }
            if enrollment.iter().any(|o| o.secret == s) {
                errs.push(format!("{what}: the same token is listed twice"));
            }
            enrollment.push(EnrollmentToken {
                name,
                secret: s,
                expires,
            });
        }
    }
    let heartbeat_secs = c.heartbeat_secs.unwrap_or(10);
    if heartbeat_secs == 0 {
        errs.push("console.heartbeat_secs must be at least 1".into());
    }
    // A parallel operation reaches a few hundred hosts in one wave; each
    // in-flight host is one idle HTTP request, cheap for the console (whose
    // fd limit is raised at start). Lower it, or use --rolling, to spread load.
    let concurrency = c.concurrency.unwrap_or(DEFAULT_CONCURRENCY);
    if concurrency == 0 {
        errs.push("console.concurrency must be at least 1".into());
    }
    if !errs.is_empty() {
        return Err(errs
            .into_iter()
            .map(|e| format!("{}: {e}", path.display()))
            .collect::<Vec<_>>()
            .join("\n"));
    }
    Ok(Config {
        listen,
        data_dir: c
            .data_dir
            .map(|d| resolve(&d))
            .unwrap_or_else(default_data_dir),
        tls,
        heartbeat_secs,
        stale_after_secs: c.stale_after_secs.unwrap_or(heartbeat_secs * 3),
        concurrency,
        host_timeout_secs: c.host_timeout_secs.unwrap_or(60),
        tokens,
        agents,
        host_groups: raw.host_groups,
        enrollment,
        insecure_no_auth,
        enrollment_rate,
        max_registered,
    })
}

pub fn valid_host_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

pub enum UrlKind {
    Https,
    Http { loopback: bool },
}

/// Accept `http(s)://HOST[:PORT]` with nothing after the authority.
pub fn check_agent_url(url: &str) -> Result<UrlKind, String> {
    let (https, rest) = if let Some(r) = url.strip_prefix("https://") {
        (true, r)
    } else if let Some(r) = url.strip_prefix("http://") {
        (false, r)
    } else {
        return Err(format!("{url:?} must start with http:// or https://"));
    };
    let authority = rest.trim_end_matches('/');
    // A backslash is a path separator to WHATWG parsers (reqwest's `url`):
    // `http://h:1\admin\x` would send the challenge to `/admin/x/…`.
    if authority.is_empty()
        || authority.contains(['/', '?', '#', '@', ' ', '\\'])
        || authority.chars().any(|c| c.is_control())
    {
        return Err(format!(
            "{url:?}: expected scheme://host:port and nothing else"
        ));
    }
    // And the real parser must agree: exactly scheme://host[:port], nothing
    // after it.
    match reqwest::Url::parse(url) {
        Ok(u)
            if u.path() == "/"
                && u.query().is_none()
                && u.fragment().is_none()
                && u.username().is_empty()
                && u.password().is_none()
                && u.host().is_some() => {}
        _ => {
            return Err(format!(
                "{url:?}: expected scheme://host:port and nothing else"
            ))
        }
    }
    if https {
        return Ok(UrlKind::Https);
    }
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => authority.rsplit_once(':').map_or(authority, |(h, _)| h),
    };
    let loopback = host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    Ok(UrlKind::Http { loopback })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(text: &str) -> Result<Config, String> {
        parse(text, Path::new("/etc/fleet/console.toml"))
    }

    #[test]
    fn agent_urls_are_scheme_host_port_and_nothing_else() {
        for ok in [
            "http://127.0.0.1:9",
            "https://agent.internal:443/",
            "http://[::1]:5",
        ] {
            assert!(check_agent_url(ok).is_ok(), "{ok}");
        }
        for bad in [
            "http://127.0.0.1:9\\admin\\x",
            "http://127.0.0.1:9\\",
            "http://u:p@h:1",
            "http://h:1/x",
            "http://h:1?x",
            "http://h:1#x",
            "http://h:1\tx",
            "http://h:99999",
            "ftp://h:1",
            "http://",
        ] {
            assert!(check_agent_url(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn minimal_loopback_config_is_fine() {
        let c = p("[console]\ndata_dir = \"d\"\ninsecure_no_auth = true\n").unwrap();
        assert_eq!(c.listen.to_string(), DEFAULT_LISTEN);
        assert_eq!(c.data_dir, PathBuf::from("/etc/fleet/d"));
        assert_eq!(c.concurrency, DEFAULT_CONCURRENCY);
    }

    #[test]
    fn no_tokens_needs_insecure_no_auth_on_loopback() {
        let e = p("[console]\ndata_dir = \"d\"\n").unwrap_err();
        assert!(e.contains("no [[tokens]]: add an operator token"), "{e}");
        assert!(e.contains("insecure_no_auth = true"), "{e}");
        let e = p("[console]\nlisten = \"0.0.0.0:9700\"\ninsecure_no_auth = true\n").unwrap_err();
        assert!(e.contains("without [[tokens]]"), "{e}");
    }

    #[test]
    fn unknown_keys_are_errors() {
        let e = p("[console]\nlisten = \"127.0.0.1:1\"\nlistne = 1\n").unwrap_err();
        assert!(e.contains("unknown field `listne`"), "{e}");
    }

    #[test]
    fn non_loopback_without_tokens_is_refused() {
        let e = p("[console]\nlisten = \"0.0.0.0:9700\"\n").unwrap_err();
        assert!(e.contains("without [[tokens]]"), "{e}");
    }

    #[test]
    fn collects_every_error() {
        let e = p(r#"
[[tokens]]
name = "ops"
role = "admin"
token = "x"

[[agent]]
name = "w 1"
url = "http://10.0.0.1:9701"

[[agent]]
name = "w2"
url = "ftp://x"
"#)
        .unwrap_err();
        assert!(e.contains("role \"admin\""), "{e}");
        assert!(e.contains("names use letters"), "{e}");
        assert!(e.contains("allow_insecure_http"), "{e}");
        assert!(e.contains("must start with http"), "{e}");
    }

    #[test]
    fn full_example_parses() {
        let c = p(r#"
[console]
listen = "0.0.0.0:9700"
[[tokens]]
name = "ops"
token = "t0k-0123456789abcdefghijkl"
role = "operator"
[[agent]]
name = "w-01"
url = "https://10.0.0.11:9701"
token = "agent-0123456789abcdefghijkl"
tags = { role = "worker" }
fingerprint = "sha256:00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
[[agent]]
name = "w-02"
url = "http://10.0.0.12:9701"
allow_insecure_http = true
[host_groups]
workers = ["w-*"]
[enrollment]
token = "enroll-0123456789abcdefghijkl"
"#)
        .unwrap();
        assert_eq!(c.agents.len(), 2);
        assert!(matches!(c.agents[0].trust, Trust::Fingerprint(b) if b[1] == 0x11));
        assert!(c.agents[1].insecure);
        assert_eq!(c.tokens[0].role, Role::Operator);
        assert!(format!("{c:?}").contains("Secret(…)"));
        assert!(!format!("{c:?}").contains("t0k"));
        let e = p("[[tokens]]\nname = \"ops\"\ntoken = \"a\"\nrole = \"viewer\"\n").unwrap_err();
        assert!(e.contains("shorter than 22 characters"), "{e}");
        assert!(e.contains("head -c 32 /dev/urandom | base64"), "{e}");
    }

    const OPS: &str =
        "[[tokens]]\nname = \"ops\"\ntoken = \"t0k-0123456789abcdefghijkl\"\nrole = \"operator\"\n";

    /// The kit's one token rule: an inline token's padding is dropped (it
    /// used to be kept, so `token = "T "` never matched `Bearer T`), as is a
    /// file's; a token of two words is refused without being quoted.
    #[test]
    fn tokens_follow_the_kits_one_trimming_rule() {
        let token = "q83vEjRWeJq83vEjRWeJq80=";
        let head =
            "[console]\nlisten = \"0.0.0.0:9700\"\n[[tokens]]\nname = \"ops\"\nrole = \"viewer\"\n";
        let c = p(&format!("{head}token = \" {token}\\n\"\n")).unwrap();
        assert_eq!(c.tokens[0].secret.expose(), token);
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("ops.token");
        std::fs::write(&file, format!("{token}\r\n")).unwrap();
        let c = p(&format!("{head}token_file = {file:?}\n")).unwrap();
        assert_eq!(c.tokens[0].secret.expose(), token);
        std::fs::write(&file, format!("{token}\n{token}\n")).unwrap();
        let e = p(&format!("{head}token_file = {file:?}\n")).unwrap_err();
        assert!(e.contains("holds a space, line break"), "{e}");
        assert!(!e.contains(token), "{e}");
        let e = p(&format!("{head}token = \"{token} {token}\"\n")).unwrap_err();
        assert!(e.contains("the token holds a space"), "{e}");
        assert!(!e.contains(token), "{e}");
    }

    #[test]
    fn enrollment_tokens_rotate_and_expire() {
        let c = p(&format!(
            "{OPS}[enrollment]\ntoken = \"new-0123456789abcdefghijkl\"\nrate_per_sec = 5\n\
             [[enrollment.tokens]]\nname = \"2026\"\ntoken = \"old-0123456789abcdefghijkl\"\n\
             expires = 2027-01-31T12:00:00Z\n\
             [[enrollment.tokens]]\ntoken = \"day-0123456789abcdefghijkl\"\nexpires = 1970-01-02\n\
             [[enrollment.tokens]]\ntoken = \"off-0123456789abcdefghijkl\"\nexpires = 1970-01-01T02:00:00+01:00\n"
        ))
        .unwrap();
        let e = &c.enrollment;
        assert_eq!(e.len(), 4);
        assert_eq!(
            (e[0].name.as_str(), e[0].expires.is_none()),
            ("enrollment", true)
        );
        assert_eq!(e[1].name, "2026");
        assert_eq!(
            e[1].expires,
            Some((1_801_396_800_000, "2027-01-31T12:00:00Z".to_string()))
        );
        assert_eq!(e[2].name, "enrollment.tokens[1]");
        assert_eq!(e[2].expires.as_ref().unwrap().0, 86_400_000);
        assert_eq!(e[3].expires.as_ref().unwrap().0, 3_600_000);
        assert!(e[1].expired(1_801_396_800_000) && !e[1].expired(1_801_396_799_999));
        assert!(!e[0].expired(u64::MAX));
        assert_eq!(c.enrollment_rate, 5);

        // Only the extra tokens: fine. Bad ones: every problem named.
        let c = p(&format!(
            "{OPS}[enrollment]\n[[enrollment.tokens]]\ntoken = \"x-0123456789abcdefghijklm\"\n"
        ))
        .unwrap();
        assert_eq!(c.enrollment.len(), 1);
        let e = p(&format!(
            "{OPS}[enrollment]\ntoken = \"x-0123456789abcdefghijklm\"\nexpires = 2027-01-31T12:00:00\n\
             [[enrollment.tokens]]\ntoken = \"x-0123456789abcdefghijklm\"\n\
             [[enrollment.tokens]]\ntoken = \"short\"\n[[enrollment.tokens]]\nexpires = 2027-01-01\n"
        ))
        .unwrap_err();
        for want in [
            "enrollment: expires = 2027-01-31T12:00:00: a time needs a UTC offset",
            "enrollment.tokens[0]: the same token is listed twice",
            "enrollment.tokens[1]: token is shorter than 22 characters",
            "enrollment.tokens[2]: set token or token_file",
        ] {
            assert!(e.contains(want), "{want}\n{e}");
        }
    }
}
