//! Checking helpers shared by all sections, plus the `[agent]` and
//! `[group.*]` sections. Every check records its error in the [`Sink`] and
//! carries on with a default, so one load reports every problem.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;

use toml::Spanned;

use super::error::{FileId, Loc, Sink};
use super::expand::expand_vars;
use super::model::{AgentSettings, Enrollment, Secret, TlsFiles};
use super::raw::{Key, Raw};
use super::LoadEnv;

pub(crate) type Entries = [(Key, Spanned<Raw>)];

/// State for one load: where errors go and what `${VAR}` expands from.
pub(crate) struct Ctx<'a> {
    pub sink: &'a mut Sink,
    pub env: &'a LoadEnv,
}

/// One TOML table being checked.
#[derive(Clone, Copy)]
pub(crate) struct Table<'t> {
    pub file: FileId,
    /// Dotted path used as the message prefix, e.g. `program.web`.
    pub label: &'t str,
    pub entries: &'t Entries,
}

impl<'t> Table<'t> {
    pub fn get(&self, key: &str) -> Option<&'t Spanned<Raw>> {
        self.entries
            .iter()
            .find(|(k, _)| k.name == key)
            .map(|(_, v)| v)
    }

    pub fn loc(&self, v: &Spanned<Raw>) -> Loc {
        Loc::new(self.file, v.span())
    }

    pub fn key_loc(&self, key: &str) -> Loc {
        let span = self
            .entries
            .iter()
            .find(|(k, _)| k.name == key)
            .and_then(|(k, _)| k.span.clone());
        Loc {
            file: self.file,
            span,
        }
    }
}

/// Location of a key (falls back to the file when the parser gave no span).
pub(crate) fn key_loc(file: FileId, key: &Key) -> Loc {
    Loc {
        file,
        span: key.span.clone(),
    }
}

/// A name for a program or group: it becomes part of `group:process`.
pub(crate) fn is_section_name(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

/// Closest known key within edit distance 2, for "did you mean".
fn suggest<'k>(unknown: &str, known: &[&'k str]) -> Option<&'k str> {
    fn distance(a: &str, b: &str) -> usize {
        let b: Vec<char> = b.chars().collect();
        let mut prev: Vec<usize> = (0..=b.len()).collect();
        for (i, ca) in a.chars().enumerate() {
            let mut cur = vec![i + 1];
            for (j, cb) in b.iter().enumerate() {
                let sub = prev[j] + usize::from(ca != *cb);
                cur.push(sub.min(prev[j + 1] + 1).min(cur[j] + 1));
            }
            prev = cur;
        }
        prev[b.len()]
    }
    known
        .iter()
        .map(|k| (distance(unknown, k), *k))
        .filter(|(d, _)| *d <= 2)
        .min()
        .map(|(_, k)| k)
}

impl Ctx<'_> {
    pub fn error(&mut self, loc: &Loc, message: impl Into<String>) {
        self.sink.error(loc, message);
    }

    /// Reports every key of `t` not in `known`; `where_` is e.g. `[program.web]`.
    pub fn check_keys(&mut self, t: &Table, where_: &str, known: &[&str]) {
        for (key, _) in t.entries {
            if known.contains(&key.name.as_str()) {
                continue;
            }
            let hint = suggest(&key.name, known)
                .map(|k| format!("; did you mean \"{k}\"?"))
                .unwrap_or_default();
            let msg = format!(
                "unknown key \"{}\" in {where_}{hint} (expected one of: {})",
                key.name,
                known.join(", ")
            );
            self.error(&key_loc(t.file, key), msg);
        }
    }

    /// Parses `t[key]` with `parse`, or gives `default` when absent or bad.
    pub fn field<T>(
        &mut self,
        t: &Table,
        key: &str,
        default: T,
        parse: impl FnOnce(&Raw) -> Result<T, String>,
    ) -> T {
        let Some(v) = t.get(key) else {
            return default;
        };
        match parse(v.get_ref()) {
            Ok(x) => x,
            Err(e) => {
                self.error(&t.loc(v), format!("{}.{key}: {e}", t.label));
                default
            }
        }
    }

    /// A string value with `${VAR}` expanded; `label` is the full key path.
    pub fn string_value(&mut self, file: FileId, label: &str, v: &Spanned<Raw>) -> Option<String> {
        let loc = Loc::new(file, v.span());
        let Raw::String(s) = v.get_ref() else {
            let found = v.get_ref().describe();
            self.error(&loc, format!("{label}: expected a string, found {found}"));
            return None;
        };
        match expand_vars(s, &self.env.vars) {
            Ok(s) => Some(s),
            Err(e) => {
                self.error(&loc, format!("{label}: {e}"));
                None
            }
        }
    }

    /// `t[key]` as an expanded string (`None` when absent or bad).
    pub fn string(&mut self, t: &Table, key: &str) -> Option<String> {
        let v = t.get(key)?;
        self.string_value(t.file, &format!("{}.{key}", t.label), v)
    }

    /// `t[key]` as a path; relative paths are taken from the file's directory.
    pub fn path(&mut self, t: &Table, key: &str) -> Option<PathBuf> {
        let s = self.string(t, key)?;
        if s.is_empty() {
            let loc = t.loc(t.get(key)?);
            self.error(
                &loc,
                format!("{}.{key}: expected a path, found \"\"", t.label),
            );
            return None;
        }
        Some(self.sink.file(t.file).dir.join(s))
    }
}

const AGENT_KEYS: &[&str] = &[
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
    out.token = secret(cx, &t, "token");

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
    out.enroll = enrollment(cx, &t, &out);
    out
}

/// `console` and what goes with it; `None` without `console` (then the
/// other enrollment keys are errors: they would be silently unused).
fn enrollment(cx: &mut Ctx, t: &Table, agent: &AgentSettings) -> Option<Enrollment> {
    let token = secret(cx, t, "enrollment_token");
    let advertise = cx.string(t, "advertise_url");
    let tags = tags(cx, t);
    let Some(console) = cx.string(t, "console") else {
        if t.get("console").is_none() {
            for k in [
                "enrollment_token",
                "enrollment_token_file",
                "enrollment_token_env",
                "advertise_url",
                "tags",
            ] {
                if t.get(k).is_some() {
                    cx.error(
                        &t.key_loc(k),
                        format!("agent.{k} is set but agent.console is not (it is only used to register with a console)"),
                    );
                }
            }
        }
        return None;
    };
    let console_loc = t.loc(t.get("console").expect("just read"));
    let mut ok = true;
    if let Err(e) = http_url(&console) {
        cx.error(&console_loc, format!("agent.console: {e}"));
        ok = false;
    }
    if agent.listen.is_none() || agent.token.is_none() {
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
    let advertise_url = match advertise {
        Some(u) => {
            if let Err(e) = http_url(&u) {
                let loc = t.loc(t.get("advertise_url").expect("just read"));
                cx.error(&loc, format!("agent.advertise_url: {e}"));
                ok = false;
            }
            u.trim_end_matches('/').to_string()
        }
        None => match agent.listen {
            Some(a) if a.ip().is_unspecified() => {
                cx.error(
                    &console_loc,
                    format!("agent.console: set agent.advertise_url: the console cannot reach {a}, which listens on every address"),
                );
                ok = false;
                String::new()
            }
            Some(a) => {
                let scheme = if agent.tls.is_some() { "https" } else { "http" };
                format!("{scheme}://{a}")
            }
            None => String::new(),
        },
    };
    if !ok {
        return None;
    }
    Some(Enrollment {
        console: console.trim_end_matches('/').to_string(),
        token: token?,
        advertise_url,
        tags,
    })
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
/// `enrollment_token`); read now so a bad secret fails the load rather than
/// the first request.
fn secret(cx: &mut Ctx, t: &Table, base: &str) -> Option<Secret> {
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
            let s = cx.string(t, source)?;
            if s.is_empty() {
                cx.error(
                    &loc,
                    format!("agent.{base}: expected a non-empty token, found \"\""),
                );
                return None;
            }
            s
        }
        Some("_file") => {
            let path = cx.path(t, source)?;
            match std::fs::read_to_string(&path) {
                Ok(s) if !s.trim_end().is_empty() => s.trim_end().to_string(),
                Ok(_) => {
                    let msg = format!("agent.{source}: {} is empty", path.display());
                    cx.error(&loc, msg);
                    return None;
                }
                Err(e) => {
                    let msg = format!("agent.{source}: cannot read {}: {e}", path.display());
                    cx.error(&loc, msg);
                    return None;
                }
            }
        }
        _ => {
            let name = cx.string(t, source)?;
            match cx.env.vars.get(&name).filter(|v| !v.is_empty()) {
                Some(v) => v.clone(),
                None => {
                    let msg = format!(
                        "agent.{source}: environment variable {name} is not set or is empty"
                    );
                    cx.error(&loc, msg);
                    return None;
                }
            }
        }
    };
    Some(Secret::new(secret))
}

/// A validated `[group.NAME]`: programs with the location of each entry.
#[derive(Debug)]
pub(crate) struct Group {
    pub name: String,
    pub file: FileId,
    pub key: Key,
    pub programs: Vec<(String, Loc)>,
}

/// The `[group.NAME]` table; whether programs exist is checked later, once
/// every file is loaded.
pub(crate) fn group(cx: &mut Ctx, name: &str, file: FileId, key: &Key, v: &Spanned<Raw>) -> Group {
    let mut out = Group {
        name: name.to_string(),
        file,
        key: key.clone(),
        programs: Vec::new(),
    };
    let label = format!("group.{name}");
    let Raw::Table(entries) = v.get_ref() else {
        let msg = format!(
            "{label}: expected a table, found {}",
            v.get_ref().describe()
        );
        cx.error(&Loc::new(file, v.span()), msg);
        return out;
    };
    let t = Table {
        file,
        label: &label,
        entries,
    };
    cx.check_keys(&t, &format!("[{label}]"), &["programs", "priority"]);
    cx.field(&t, "priority", 0, |v| {
        super::values::int_in(v, i32::MIN.into(), i32::MAX.into())
    });
    let expected = "expected a non-empty array of program names";
    match t.get("programs") {
        None => cx.error(
            &key_loc(file, key),
            format!("{label}: missing required key \"programs\" ({expected})"),
        ),
        Some(v) => match v.get_ref() {
            Raw::Array(items) if !items.is_empty() => {
                for (i, item) in items.iter().enumerate() {
                    let loc = Loc::new(file, item.span());
                    match item.get_ref() {
                        Raw::String(p) => out.programs.push((p.clone(), loc)),
                        other => cx.error(
                            &loc,
                            format!(
                                "{label}.programs[{i}]: expected a program name, found {}",
                                other.describe()
                            ),
                        ),
                    }
                }
            }
            other => cx.error(
                &t.loc(v),
                format!("{label}.programs: {expected}, found {}", other.describe()),
            ),
        },
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggestions() {
        let known = ["autostart", "autorestart", "command"];
        assert_eq!(suggest("autostrat", &known), Some("autostart"));
        assert_eq!(suggest("comand", &known), Some("command"));
        assert_eq!(suggest("zzz", &known), None);
    }

    #[test]
    fn section_names() {
        assert!(is_section_name("web-1.a_b"));
        assert!(!is_section_name("web:1"));
        assert!(!is_section_name("a b"));
        assert!(!is_section_name(""));
    }
}
