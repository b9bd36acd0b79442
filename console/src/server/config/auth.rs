//! `[[tokens]]`: who may call the console, and with which role; and
//! `[console] insecure_no_auth`, the loopback-only way to run without.

use fleet_api::Role;
use fleet_daemon::Secret;
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::PathBuf;

use super::validate::Ctx;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawToken {
    name: String,
    token: Option<String>,
    token_file: Option<PathBuf>,
    role: String,
}

#[derive(Clone, Debug)]
pub struct TokenConfig {
    pub name: String,
    pub secret: Secret,
    pub role: Role,
}

/// Every `[[tokens]]` entry that checks out.
pub(super) fn tokens(cx: &mut Ctx, raw: Vec<RawToken>) -> Vec<TokenConfig> {
    let mut tokens: Vec<TokenConfig> = Vec::new();
    for (i, t) in raw.into_iter().enumerate() {
        let what = format!("tokens[{i}] ({:?})", t.name);
        if t.name.is_empty() {
            cx.error(format!("{what}: name is empty"));
        }
        if tokens.iter().any(|o| o.name == t.name) {
            cx.error(format!("{what}: duplicate token name"));
        }
        let role = match t.role.as_str() {
            "viewer" => Some(Role::Viewer),
            "operator" => Some(Role::Operator),
            other => {
                cx.error(format!(
                    "{what}: role {other:?} (expected \"viewer\" or \"operator\")"
                ));
                None
            }
        };
        let s = cx.secret(&what, t.token, t.token_file);
        if let Some(s) = &s {
            cx.strong_enough(&what, s);
        }
        if s.is_none() && !cx.named(&what) {
            cx.error(format!("{what}: set token or token_file"));
        }
        if let (Some(secret), Some(role)) = (s, role) {
            tokens.push(TokenConfig {
                name: t.name,
                secret,
                role,
            });
        }
    }
    tokens
}

/// No tokens is only for a loopback console that says so; tokens and
/// `insecure_no_auth` together are a contradiction.
pub(super) fn check_open(
    cx: &mut Ctx,
    listen: SocketAddr,
    tokens: &[TokenConfig],
    insecure_no_auth: bool,
) {
    if !listen.ip().is_loopback() && tokens.is_empty() {
        cx.error(format!(
            "console.listen: refusing non-loopback address {listen} without [[tokens]]"
        ));
    } else if tokens.is_empty() && !insecure_no_auth {
        cx.error(
            "no [[tokens]]: add an operator token, e.g.\n  \
             head -c 32 /dev/urandom | base64 > /etc/fleet/secrets/ops.token\n  \
             [[tokens]]\n  name = \"ops\"\n  token_file = \"secrets/ops.token\"\n  role = \"operator\"\n\
             (or, for a loopback-only console without authentication, set [console] insecure_no_auth = true)",
        );
    } else if !tokens.is_empty() && insecure_no_auth {
        cx.error(
            "console.insecure_no_auth = true with [[tokens]]: remove one (tokens are enforced)",
        );
    }
}
