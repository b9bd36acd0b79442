//! `[[agent]]`: the agents console.toml names (registered ones come
//! from the store), each with its URL, token, tags and how its TLS
//! certificate is trusted. `valid_host_name` and `check_agent_url` are
//! also the rules registrations and fleetctl apply.

use fleet_daemon::trust::Trust;
use fleet_daemon::Secret;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::PathBuf;

use super::supervisord::{self, AgentKind, Endpoint, SupervisordConfig};
use super::validate::Ctx;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawAgent {
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
    /// `"fleet"` (the default) or `"supervisord"`.
    kind: Option<String>,
    username: Option<String>,
    password_file: Option<PathBuf>,
    poll: Option<String>,
}

#[derive(Clone, Debug)]
pub struct AgentConfig {
    pub name: String,
    pub url: String,
    pub token: Option<Secret>,
    pub tags: BTreeMap<String, String>,
    pub trust: Trust,
    /// Plain HTTP to a non-loopback address (warned about at start).
    pub insecure: bool,
    /// A fleet agent, or a supervisord host the console polls.
    pub kind: AgentKind,
}

/// Every `[[agent]]` entry (with its problems named, it is still listed:
/// the caller refuses the file anyway).
pub(super) fn agents(cx: &mut Ctx, raw: Vec<RawAgent>) -> Vec<AgentConfig> {
    let mut agents: Vec<AgentConfig> = Vec::new();
    for a in raw {
        let what = format!("agent {:?}", a.name);
        if !valid_host_name(&a.name) {
            cx.error(format!(
                "{what}: names use letters, digits and _ - . (no spaces, no glob characters)"
            ));
        }
        if agents.iter().any(|o| o.name == a.name) {
            cx.error(format!("{what}: duplicate agent name"));
        }
        let trust = trust(cx, &what, a.ca_file, a.fingerprint);
        let keys = supervisord::Keys {
            username: a.username,
            password_file: a.password_file,
            poll: a.poll,
        };
        let (token, insecure, kind) = match a.kind.as_deref().unwrap_or("fleet") {
            "supervisord" => {
                for (set, key) in [
                    (a.token.is_some(), "token"),
                    (a.token_file.is_some(), "token_file"),
                ] {
                    if set {
                        cx.error(format!(
                            "{what}: {key} is for fleet agents; a supervisord host takes username and password_file"
                        ));
                    }
                }
                if trust != Trust::System && !a.url.starts_with("https://") {
                    cx.error(format!("{what}: ca_file/fingerprint need an https:// url"));
                }
                let sv = supervisord::check(cx, &what, &a.url, keys);
                let insecure = password_in_clear(cx, &what, &sv, a.allow_insecure_http);
                (None, insecure, AgentKind::Supervisord(sv))
            }
            kind => {
                if kind != "fleet" {
                    cx.error(format!(
                        "{what}: kind must be \"fleet\" or \"supervisord\", not {kind:?}"
                    ));
                }
                for key in keys.set() {
                    cx.error(format!(
                        "{what}: {key} is for kind = \"supervisord\" hosts; a fleet agent takes token or token_file"
                    ));
                }
                let token = cx.secret(&what, a.token, a.token_file);
                // The agent refuses a shorter token, so it could never match.
                if let Some(t) = &token {
                    cx.strong_enough(&what, t);
                }
                let insecure = url_insecure(cx, &what, &a.url, &trust, a.allow_insecure_http);
                (token, insecure, AgentKind::Fleet)
            }
        };
        agents.push(AgentConfig {
            name: a.name,
            url: a.url.trim_end_matches('/').to_string(),
            token,
            tags: a.tags,
            trust,
            insecure,
            kind,
        });
    }
    agents
}

/// `ca_file` or `fingerprint` (or neither: the system roots).
fn trust(cx: &mut Ctx, what: &str, ca_file: Option<PathBuf>, fp: Option<String>) -> Trust {
    match (ca_file, fp) {
        (Some(_), Some(_)) => {
            cx.error(format!("{what}: set ca_file or fingerprint, not both"));
            Trust::System
        }
        (Some(f), None) => Trust::CaFile(cx.path(&f)),
        (None, Some(fp)) => match fleet_daemon::pin::parse_fingerprint(&fp) {
            Some(b) => Trust::Fingerprint(b),
            None => {
                cx.error(format!(
                    "{what}: fingerprint must be a SHA-256 in hex (64 digits, colons allowed, optional \"sha256:\" prefix)"
                ));
                Trust::System
            }
        },
        (None, None) => Trust::System,
    }
}

/// Check the url against its trust; whether it is plain http:// to a
/// non-loopback address the config allowed.
fn url_insecure(cx: &mut Ctx, what: &str, url: &str, trust: &Trust, allow: bool) -> bool {
    match check_agent_url(url) {
        Err(e) => cx.error(format!("{what}: url: {e}")),
        Ok(UrlKind::Https) => {}
        Ok(UrlKind::Http { loopback }) => {
            if *trust != Trust::System {
                cx.error(format!("{what}: ca_file/fingerprint need an https:// url"));
            }
            if !loopback {
                if allow {
                    return true;
                }
                cx.error(format!(
                    "{what}: plain http:// to a non-loopback address sends the token in clear; use https:// or set allow_insecure_http = true"
                ));
            }
        }
    }
    false
}

/// A supervisord password over plain http to a non-loopback address:
/// refused unless the config allows it (then true: warned about at start).
fn password_in_clear(cx: &mut Ctx, what: &str, sv: &SupervisordConfig, allow: bool) -> bool {
    let Endpoint::Http { base, .. } = &sv.endpoint else {
        return false;
    };
    let remote_plain = matches!(check_agent_url(base), Ok(UrlKind::Http { loopback: false }));
    if !remote_plain || sv.credentials.is_none() {
        return false;
    }
    if !allow {
        cx.error(format!(
            "{what}: plain http:// to a non-loopback address sends the password in clear; use https:// or set allow_insecure_http = true"
        ));
    }
    allow
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
        || !parses_as_authority_only(url)
    {
        return Err(format!(
            "{url:?}: expected scheme://host:port and nothing else"
        ));
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

/// The real parser must agree: exactly scheme://host[:port], nothing
/// after it.
fn parses_as_authority_only(url: &str) -> bool {
    reqwest::Url::parse(url).is_ok_and(|u| {
        u.path() == "/"
            && u.query().is_none()
            && u.fragment().is_none()
            && u.username().is_empty()
            && u.password().is_none()
            && u.host().is_some()
    })
}
