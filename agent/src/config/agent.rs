//! The `[agent]` section: listeners, token, TLS, log directory and
//! enrollment with a console. Secrets are read now, so a bad one fails the
//! load rather than the first request.

use super::error::Loc;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;

use fleet_daemon::secret::{resolve, Source};

use super::model::{AgentSettings, Enrollment, Secret, TlsFiles, Trust};
use super::raw::Raw;
use super::validate::{Ctx, Table};

/// Every key of `[agent]` (also what the property tests draw from).
pub const AGENT_KEYS: &[&str] = &[
    "name",
    "socket",
    "listen",
    "token",
    "token_file",
    "token_env",
    "tls_cert",
    "tls_key",
    "log_dir",
    "console",
    "enrollment_token",
    "enrollment_token_file",
    "enrollment_token_env",
    "advertise_url",
    "tags",
    "console_ca_file",
    "console_fingerprint",
    "allow_insecure_console",
    "credential_file",
    "forward_output",
];

pub(crate) const DEFAULT_SOCKET: &str = "/run/fleet/agent.sock";
pub(crate) const DEFAULT_LOG_DIR: &str = "/var/log/fleet";

/// The `[agent]` table (`None`: absent, all defaults).
pub(crate) fn agent(cx: &mut Ctx, t: Option<Table>) -> AgentSettings {
    let mut out = AgentSettings {
        host: cx.env.hostname.clone(),
        socket: PathBuf::from(DEFAULT_SOCKET),
        listen: None,
        token: None,
        tls: None,
        log_dir: PathBuf::from(DEFAULT_LOG_DIR),
        enroll: None,
        secret_env: Vec::new(),
        forward_output: false,
    };
    let Some(t) = t else { return out };
    cx.check_keys(&t, "[agent]", AGENT_KEYS);

    if let Some(name) = cx.string(&t, "name") {
        if name.trim().is_empty() {
            let loc = t.loc(t.get("name").expect("just read"));
            cx.error(&loc, "agent.name: expected a host name, found \"\"");
        } else {
            out.host = name;
        }
    }
    if let Some(p) = cx.path(&t, "socket") {
        out.socket = p;
    }
    if let Some(p) = cx.path(&t, "log_dir") {
        out.log_dir = p;
    }
    if let Some(s) = cx.string(&t, "listen") {
        match s.parse::<SocketAddr>() {
            Ok(a) => out.listen = Some(a),
            Err(_) => {
                let loc = t.loc(t.get("listen").expect("just read"));
                cx.error(
                    &loc,
                    format!(
                        "agent.listen: expected IP:PORT such as \"127.0.0.1:9701\" or \
                         \"[::1]:9701\", found {s:?}"
                    ),
                );
            }
        }
    }
    out.token = secret(cx, &t, "token", &mut out.secret_env);

    let cert = cx.path(&t, "tls_cert");
    let key = cx.path(&t, "tls_key");
    match (t.get("tls_cert").is_some(), t.get("tls_key").is_some()) {
        (true, false) => cx.error(
            &t.key_loc("tls_cert"),
            "agent.tls_cert is set but agent.tls_key is not (set both or neither)",
        ),
        (false, true) => cx.error(
            &t.key_loc("tls_key"),
            "agent.tls_key is set but agent.tls_cert is not (set both or neither)",
        ),
        _ => {}
    }
    if let (Some(cert), Some(key)) = (cert, key) {
        out.tls = Some(TlsFiles { cert, key });
    }
    let mut secret_env = std::mem::take(&mut out.secret_env);
    out.enroll = enrollment(cx, &t, &out, &mut secret_env);
    out.secret_env = secret_env;
    out.forward_output = cx.field(&t, "forward_output", false, super::values::boolean);
    out
}

/// `console` and what goes with it; `None` without `console` (then the
/// other enrollment keys are errors: they would be silently unused).
fn enrollment(
    cx: &mut Ctx,
    t: &Table,
    agent: &AgentSettings,
    secret_env: &mut Vec<String>,
) -> Option<Enrollment> {
    let token = secret(cx, t, "enrollment_token", secret_env);
    let advertise = cx.string(t, "advertise_url");
    let tags = tags(cx, t);
    let Some(console) = cx.string(t, "console") else {
        if t.get("console").is_none() {
            keys_without_console(cx, t);
        }
        return None;
    };
    let console_loc = t.loc(t.get("console").expect("just read"));
    let mut ok = true;
    if let Err(e) = http_url(&console) {
        cx.error(&console_loc, format!("agent.console: {e}"));
        ok = false;
    }
    let credential_file = cx.path(t, "credential_file");
    let trust = console_trust(cx, t);
    let insecure = plain_http(cx, t, &console, &console_loc, trust.as_ref());
    // A token that is set but refused (too short, unreadable) has its own
    // error already; this one is for a token not set at all.
    let token_set = ["token", "token_file", "token_env"]
        .iter()
        .any(|k| t.get(k).is_some());
    if agent.listen.is_none() || (agent.token.is_none() && !token_set) {
        cx.error(
            &console_loc,
            "agent.console needs agent.listen and agent.token: the console calls the agent back over TCP with that token",
        );
        ok = false;
    }
    if token.is_none()
        && ![
            "enrollment_token",
            "enrollment_token_file",
            "enrollment_token_env",
        ]
        .iter()
        .any(|k| t.get(k).is_some())
    {
        cx.error(
            &console_loc,
            "agent.console needs one of enrollment_token, enrollment_token_file and enrollment_token_env",
        );
    }
    let advertise_url = advertise_url(cx, t, agent, advertise, &console_loc);
    let (Some(trust), Some(insecure), Some(advertise_url), true) =
        (trust, insecure, advertise_url, ok)
    else {
        return None;
    };
    Some(Enrollment {
        console: console.trim_end_matches('/').to_string(),
        token: token?,
        advertise_url,
        tags,
        trust,
        insecure,
        credential_file,
    })
}

/// Enrollment keys without `console`: each is an error (they do nothing).
fn keys_without_console(cx: &mut Ctx, t: &Table) {
    for k in [
        "enrollment_token",
        "enrollment_token_file",
        "enrollment_token_env",
        "advertise_url",
        "tags",
        "console_ca_file",
        "console_fingerprint",
        "allow_insecure_console",
        "credential_file",
    ] {
        if t.get(k).is_some() {
            cx.error(
                &t.key_loc(k),
                format!("agent.{k} is set but agent.console is not (it is only used to register with a console)"),
            );
        }
    }
}

/// `console_ca_file` or `console_fingerprint` (not both), else the system
/// roots; `None` after an error.
fn console_trust(cx: &mut Ctx, t: &Table) -> Option<Trust> {
    let ca = cx.path(t, "console_ca_file");
    let fp = cx.string(t, "console_fingerprint");
    match (ca, fp) {
        (Some(_), Some(_)) => {
            cx.error(
                &t.key_loc("console_fingerprint"),
                "agent.console_fingerprint: set console_ca_file or console_fingerprint, not both",
            );
            None
        }
        (Some(f), None) => Some(Trust::CaFile(f)),
        (None, Some(f)) => match fleet_daemon::pin::parse_fingerprint(&f) {
            Some(b) => Some(Trust::Fingerprint(b)),
            None => {
                cx.error(
                    &t.key_loc("console_fingerprint"),
                    "agent.console_fingerprint: expected a SHA-256 in hex (64 digits, colons allowed, optional \"sha256:\" prefix)",
                );
                None
            }
        },
        (None, None) => Some(Trust::System),
    }
}

/// A plain `http://` console: no CA or pin (there is no TLS to check),
/// and not off loopback unless `allow_insecure_console` (then `true`,
/// warned about at every start). `None` after an error.
fn plain_http(
    cx: &mut Ctx,
    t: &Table,
    console: &str,
    console_loc: &Loc,
    trust: Option<&Trust>,
) -> Option<bool> {
    let allow_insecure = match t.get("allow_insecure_console") {
        Some(v) => match super::values::boolean(v.get_ref()) {
            Ok(b) => b,
            Err(e) => {
                cx.error(&t.loc(v), format!("agent.allow_insecure_console: {e}"));
                false
            }
        },
        None => false,
    };
    let Some(host) = console.strip_prefix("http://") else {
        return Some(false);
    };
    let mut ok = true;
    if trust.is_some_and(|t| *t != Trust::System) {
        cx.error(
            console_loc,
            "agent.console: console_ca_file/console_fingerprint need an https:// console",
        );
        ok = false;
    }
    if loopback_authority(host.trim_end_matches('/')) {
        return ok.then_some(false);
    }
    if !allow_insecure {
        cx.error(
            console_loc,
            "agent.console: plain http:// to a non-loopback console sends the enrollment token and this agent's token in clear; use https:// or set allow_insecure_console = true",
        );
        return None;
    }
    ok.then_some(true)
}

/// Where the console reaches this agent: `advertise_url`, else from
/// `listen` (which must then name one address). `None` after an error.
fn advertise_url(
    cx: &mut Ctx,
    t: &Table,
    agent: &AgentSettings,
    advertise: Option<String>,
    console_loc: &Loc,
) -> Option<String> {
    match advertise {
        Some(u) => {
            if let Err(e) = http_url(&u) {
                let loc = t.loc(t.get("advertise_url").expect("just read"));
                cx.error(&loc, format!("agent.advertise_url: {e}"));
                return None;
            }
            Some(u.trim_end_matches('/').to_string())
        }
        None => match agent.listen {
            Some(a) if a.ip().is_unspecified() => {
                cx.error(
                    console_loc,
                    format!("agent.console: set agent.advertise_url: the console cannot reach {a}, which listens on every address"),
                );
                None
            }
            Some(a) => {
                let scheme = if agent.tls.is_some() { "https" } else { "http" };
                Some(format!("{scheme}://{a}"))
            }
            None => Some(String::new()),
        },
    }
}

/// `HOST[:PORT]` naming localhost or a loopback address.
fn loopback_authority(a: &str) -> bool {
    let host = match a.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => a.rsplit_once(':').map_or(a, |(h, _)| h),
    };
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// `http://HOST[:PORT]` or `https://…`, nothing after the authority.
fn http_url(u: &str) -> Result<(), String> {
    let rest = u
        .strip_prefix("https://")
        .or_else(|| u.strip_prefix("http://"))
        .ok_or_else(|| format!("expected a URL such as \"https://console:9700\", found {u:?}"))?;
    let authority = rest.trim_end_matches('/');
    if authority.is_empty() || authority.contains(['/', '?', '#', '@', ' ']) {
        return Err(format!(
            "expected scheme://host:port and nothing else, found {u:?}"
        ));
    }
    Ok(())
}

/// `tags = { role = "worker" }`: strings only.
fn tags(cx: &mut Ctx, t: &Table) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let Some(v) = t.get("tags") else { return out };
    let Raw::Table(entries) = v.get_ref() else {
        let msg = format!(
            "agent.tags: expected a table of strings such as {{ role = \"worker\" }}, found {}",
            v.get_ref().describe()
        );
        cx.error(&t.loc(v), msg);
        return out;
    };
    for (key, value) in entries {
        let label = format!("agent.tags.{}", key.name);
        if let Some(s) = cx.string_value(t.file, &label, value) {
            out.insert(key.name.clone(), s);
        }
    }
    out
}

/// At most one of `BASE`, `BASE_file`, `BASE_env` (`base` is `token` or
/// `enrollment_token`), read now by the kit's one `secret::resolve` so a bad
/// secret fails the load rather than the first request. The variable named
/// by `base_env` is added to `secret_env` (programs must not inherit it).
fn secret(cx: &mut Ctx, t: &Table, base: &str, secret_env: &mut Vec<String>) -> Option<Secret> {
    let keys = [
        base.to_string(),
        format!("{base}_file"),
        format!("{base}_env"),
    ];
    let sources: Vec<&str> = keys
        .iter()
        .map(String::as_str)
        .filter(|k| t.get(k).is_some())
        .collect();
    if let [_, extra @ ..] = sources.as_slice() {
        for k in extra {
            cx.error(
                &t.key_loc(k),
                format!(
                    "agent.{k}: set at most one of {base}, {base}_file and {base}_env (found {})",
                    sources.join(" and ")
                ),
            );
        }
        if !extra.is_empty() {
            return None;
        }
    }
    let source = *sources.first()?;
    let loc = t.loc(t.get(source).expect("present"));
    let secret = match source.strip_prefix(base) {
        Some("") => {
            let s = cx.secret(t, source)?;
            resolve(Source::Inline(&s), |_| None)
        }
        Some("_file") => {
            let path = cx.path(t, source)?;
            resolve(Source::File(&path), |_| None)
        }
        _ => {
            let name = cx.string(t, source)?;
            secret_env.push(name.clone());
            resolve(Source::Env(&name), |n| cx.env.vars.get(n).cloned())
        }
    };
    let secret = match secret {
        Ok(s) => s,
        Err(e) => {
            cx.error(&loc, format!("agent.{source}: {e}"));
            return None;
        }
    };
    // Guessable tokens are refused here, by the rule the console applies.
    if let Some(e) = fleet_daemon::secret::too_weak(secret.expose()) {
        cx.error(&loc, format!("agent.{source}: {e}"));
        return None;
    }
    Some(secret)
}
