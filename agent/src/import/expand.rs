//! supervisord's `%(name)s` expansions, converted to fleet's templates.
//!
//! supervisord runs every option value through Python's `value % expansions`,
//! so `%%` is a literal `%` and any other lone `%` is an error. The names:
//!
//! | supervisord | fleet |
//! |---|---|
//! | `%(program_name)s` | `{program}` |
//! | `%(group_name)s` | `{group}` |
//! | `%(host_node_name)s` | `{host}` |
//! | `%(process_num)d`, `%(process_num)02d` | `{num}`, `{num:02}` |
//! | `%(numprocs)d` | the number, written out |
//! | `%(here)s` | the directory of the file that defines the value |
//! | `%(ENV_X)s` | `${X}` (expanded by the agent at load, as supervisord does at start), or the value when `X` is set by a `environment=` option |
//!
//! In [`Mode::Template`] the result is a fleet string: literal `$` that fleet
//! would take for `${...}` is doubled. [`Mode::Static`] resolves everything
//! now (for options fleet does not template, such as `user` or numbers).

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use crate::config::is_env_name;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Template,
    Static,
}

/// What the names expand to where a value is read.
#[derive(Clone, Debug)]
pub struct Scope<'a> {
    /// Directory of the file defining the value.
    pub here: &'a Path,
    /// Set in `[program:x]`-like sections.
    pub program: Option<&'a str>,
    pub group: Option<&'a str>,
    /// Set for the per-process options (`process_num`, `numprocs` available).
    pub numprocs: Option<u32>,
    /// The importing process's environment (for [`Mode::Static`]).
    pub env: &'a HashMap<String, String>,
    /// Variables set by `[supervisord] environment` and the program's own
    /// `environment`: supervisord adds them to the `ENV_` names.
    pub conf_env: &'a BTreeMap<String, String>,
    pub host: &'a str,
}

/// A converted value and anything the reader should know about it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Expanded {
    pub text: String,
    pub notes: Vec<String>,
}

enum Piece {
    Literal(String),
    /// Already fleet syntax (`{num:02}`, `${X}`).
    Template(String),
}

/// Fleet template fields that a literal brace text would trigger.
fn has_fleet_field(s: &str) -> Option<String> {
    let mut rest = s;
    while let Some(open) = rest.find('{') {
        let body = &rest[open + 1..];
        if let Some(close) = body.find('}') {
            let inner = &body[..close];
            let is_field = matches!(inner, "program" | "group" | "host" | "num" | "process")
                || inner
                    .strip_prefix("num:0")
                    .is_some_and(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()));
            if is_field {
                return Some(format!("{{{inner}}}"));
            }
        }
        rest = body;
    }
    None
}

/// Doubles each `$` that fleet's `${VAR}` expansion would otherwise consume:
/// one followed by `{` or `$`, or (`before_template`) ending the literal.
pub fn escape_dollars(s: &str, before_template: bool) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        out.push(c);
        if c == '$' {
            match chars.peek() {
                Some('{') | Some('$') => out.push('$'),
                None if before_template => out.push('$'),
                _ => {}
            }
        }
    }
    out
}

/// Expands `s` as supervisord would, into fleet syntax (`Template`) or a
/// final value (`Static`). The error says what supervisord would say.
pub fn expand(s: &str, scope: &Scope, mode: Mode) -> Result<Expanded, String> {
    let mut pieces: Vec<Piece> = Vec::new();
    let mut notes = Vec::new();
    let mut lit = String::new();
    let mut chars = s.char_indices().peekable();
    while let Some((_, c)) = chars.next() {
        if c != '%' {
            lit.push(c);
            continue;
        }
        match chars.next() {
            Some((_, '%')) => lit.push('%'),
            Some((_, '(')) => {
                // Python allows nested parentheses in the key.
                let mut depth = 1;
                let mut name = String::new();
                for (_, c) in chars.by_ref() {
                    match c {
                        '(' => depth += 1,
                        ')' => {
                            depth -= 1;
                            if depth == 0 {
                                break;
                            }
                        }
                        _ => {}
                    }
                    name.push(c);
                }
                if depth != 0 {
                    return Err(format!("badly formatted {s:?}: incomplete format key"));
                }
                let mut flags = String::new();
                while let Some(&(_, f)) = chars.peek() {
                    if "#0- +".contains(f) {
                        flags.push(f);
                        chars.next();
                    } else {
                        break;
                    }
                }
                let mut width = String::new();
                while let Some(&(_, d)) = chars.peek().filter(|(_, d)| d.is_ascii_digit()) {
                    width.push(d);
                    chars.next();
                }
                let mut precision = None;
                if chars.peek().is_some_and(|&(_, c)| c == '.') {
                    chars.next();
                    let mut p = String::new();
                    while let Some(&(_, d)) = chars.peek().filter(|(_, d)| d.is_ascii_digit()) {
                        p.push(d);
                        chars.next();
                    }
                    precision = Some(p.parse::<usize>().unwrap_or(0));
                }
                while chars.peek().is_some_and(|&(_, c)| matches!(c, 'h' | 'l' | 'L')) {
                    chars.next();
                }
                let Some((_, conv)) = chars.next() else {
                    return Err(format!("badly formatted {s:?}: incomplete format"));
                };
                let width: usize = width.parse().unwrap_or(0);
                let spec = Spec {
                    zero: flags.contains('0') && !flags.contains('-'),
                    width,
                    precision,
                    conv,
                };
                let piece = field(&name, &spec, s, scope, mode, &mut notes)?;
                match piece {
                    Piece::Literal(t) => lit.push_str(&t),
                    Piece::Template(t) => {
                        pieces.push(Piece::Literal(std::mem::take(&mut lit)));
                        pieces.push(Piece::Template(t));
                    }
                }
            }
            Some((_, other)) => {
                return Err(format!(
                    "badly formatted {s:?}: \"%{other}\" is not an expansion (write %% for a literal %)"
                ))
            }
            None => {
                return Err(format!(
                    "badly formatted {s:?}: a lone % at the end (write %% for a literal %)"
                ))
            }
        }
    }
    pieces.push(Piece::Literal(lit));

    let mut text = String::new();
    let n = pieces.len();
    for (i, p) in pieces.iter().enumerate() {
        match p {
            Piece::Literal(l) if mode == Mode::Template => {
                if let Some(f) = has_fleet_field(l) {
                    notes.push(format!(
                        "the literal text {f} would be expanded by fleet (fleet has no escape \
                         for it); rewrite the value"
                    ));
                }
                text.push_str(&escape_dollars(l, i + 1 < n));
            }
            Piece::Literal(l) | Piece::Template(l) => text.push_str(l),
        }
    }
    Ok(Expanded { text, notes })
}

struct Spec {
    zero: bool,
    width: usize,
    precision: Option<usize>,
    conv: char,
}

enum Value<'a> {
    Str(&'a str, &'static str),
    /// process_num: a per-instance number.
    Num,
    Int(u32),
    Env(String),
}

fn field(
    name: &str,
    spec: &Spec,
    s: &str,
    scope: &Scope,
    mode: Mode,
    notes: &mut Vec<String>,
) -> Result<Piece, String> {
    let unavailable = || {
        let mut names = vec!["ENV_*", "here"];
        if scope.program.is_some() {
            names.extend(["group_name", "host_node_name", "program_name"]);
        }
        if scope.numprocs.is_some() {
            names.extend(["numprocs", "process_num"]);
        }
        names.sort();
        format!(
            "{s:?} contains %({name}), which supervisord cannot expand here (available: {})",
            names.join(", ")
        )
    };
    let value = match name {
        "here" => Value::Str(scope.here.to_str().unwrap_or_default(), "here"),
        "program_name" => Value::Str(scope.program.ok_or_else(unavailable)?, "{program}"),
        "group_name" => Value::Str(scope.group.ok_or_else(unavailable)?, "{group}"),
        "host_node_name" if scope.program.is_some() => Value::Str(scope.host, "{host}"),
        "process_num" if scope.numprocs.is_some() => Value::Num,
        "numprocs" => Value::Int(scope.numprocs.ok_or_else(unavailable)?),
        _ => match name.strip_prefix("ENV_") {
            Some(var) if !var.is_empty() => Value::Env(var.to_string()),
            _ => return Err(unavailable()),
        },
    };
    let is_int_conv = matches!(spec.conv, 'd' | 'i' | 'u');
    if !(spec.conv == 's' || is_int_conv) {
        return Err(format!(
            "{s:?}: %({name}){} is not supported (use s or d)",
            spec.conv
        ));
    }
    let padded = spec.width > 1 || spec.precision.is_some();
    match value {
        Value::Str(v, template) => {
            if is_int_conv {
                return Err(format!(
                    "badly formatted {s:?}: %({name}) is text and needs the s conversion"
                ));
            }
            if padded {
                notes.push(format!("the width/precision of %({name}) is ignored"));
            }
            match (mode, template) {
                (Mode::Template, "here") | (Mode::Static, _) => Ok(Piece::Literal(v.to_string())),
                (Mode::Template, t) => Ok(Piece::Template(t.to_string())),
            }
        }
        Value::Int(n) => Ok(Piece::Literal(python_int(n, spec))),
        Value::Num => {
            if mode == Mode::Static {
                return Err(unavailable());
            }
            let zero_width = match (spec.zero, spec.precision) {
                (true, p) => spec.width.max(p.unwrap_or(0)),
                (false, Some(p)) => p,
                (false, None) => 0,
            };
            if !spec.zero && spec.width > zero_width.max(1) {
                notes.push(format!(
                    "%(process_num) padded with spaces (width {}) has no fleet equivalent; \
                     written as {{num}}",
                    spec.width
                ));
            }
            Ok(Piece::Template(if zero_width > 1 {
                format!("{{num:0{zero_width}}}")
            } else {
                "{num}".to_string()
            }))
        }
        Value::Env(var) => {
            if padded {
                notes.push(format!("the width/precision of %({name}) is ignored"));
            }
            // Values from `environment=` options are already fleet syntax.
            if let Some(v) = scope.conf_env.get(&var) {
                return Ok(match mode {
                    Mode::Template => Piece::Template(v.clone()),
                    Mode::Static => Piece::Literal(v.clone()),
                });
            }
            match mode {
                Mode::Template if is_env_name(&var) => Ok(Piece::Template(format!("${{{var}}}"))),
                _ => match scope.env.get(&var) {
                    Some(v) => Ok(Piece::Literal(v.clone())),
                    None => Err(format!(
                        "{s:?} uses %({name})s but {var} is not set in this environment"
                    )),
                },
            }
        }
    }
}

/// `%d` of a number with Python's flags.
fn python_int(n: u32, spec: &Spec) -> String {
    let digits = match spec.precision {
        Some(p) => format!("{n:0p$}"),
        None => n.to_string(),
    };
    if spec.zero {
        format!("{digits:0>w$}", w = spec.width)
    } else {
        format!("{digits:>w$}", w = spec.width)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Env {
        env: HashMap<String, String>,
        conf: BTreeMap<String, String>,
    }

    fn env() -> Env {
        Env {
            env: [("HOME", "/root"), ("APP", "/srv/app")]
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            conf: [("VENV".to_string(), "/opt/venv".to_string())].into(),
        }
    }

    fn scope(e: &Env) -> Scope<'_> {
        Scope {
            here: Path::new("/etc/supervisor"),
            program: Some("celery"),
            group: Some("workers"),
            numprocs: Some(4),
            env: &e.env,
            conf_env: &e.conf,
            host: "w1",
        }
    }

    fn t(s: &str) -> String {
        let e = env();
        let x = expand(s, &scope(&e), Mode::Template).unwrap();
        assert!(x.notes.is_empty(), "{:?}", x.notes);
        x.text
    }

    #[test]
    fn names_to_templates() {
        assert_eq!(t("%(program_name)s"), "{program}");
        assert_eq!(
            t("%(program_name)s_%(process_num)02d"),
            "{program}_{num:02}"
        );
        assert_eq!(
            t("%(process_num)d %(process_num)s %(process_num)i"),
            "{num} {num} {num}"
        );
        assert_eq!(t("w%(process_num)03d"), "w{num:03}");
        assert_eq!(t("w%(process_num).2d"), "w{num:02}");
        assert_eq!(t("%(group_name)s@%(host_node_name)s"), "{group}@{host}");
        assert_eq!(t("%(here)s/../app"), "/etc/supervisor/../app");
        assert_eq!(t("%(ENV_HOME)s/x"), "${HOME}/x");
        assert_eq!(t("%(ENV_VENV)s/bin"), "/opt/venv/bin");
        assert_eq!(t("of %(numprocs)d, %(numprocs)03d"), "of 4, 004");
    }

    #[test]
    fn percent_and_dollar_escapes() {
        assert_eq!(t("celery -n w%%h"), "celery -n w%h");
        assert_eq!(t("100%% sure"), "100% sure");
        assert_eq!(t("echo $HOME $"), "echo $HOME $");
        assert_eq!(t("sh -c 'echo ${HOME}'"), "sh -c 'echo $${HOME}'");
        assert_eq!(t("a$$b"), "a$$$b");
        // A literal "$" right before a converted field must not fuse with it.
        assert_eq!(t("x$%(ENV_HOME)s"), "x$$${HOME}");
        assert_eq!(t("x$%(process_num)d"), "x$${num}");
    }

    #[test]
    fn static_mode() {
        let e = env();
        let s = scope(&e);
        let x = |v: &str| expand(v, &s, Mode::Static).map(|e| e.text);
        assert_eq!(
            x("%(program_name)s-%(group_name)s").unwrap(),
            "celery-workers"
        );
        assert_eq!(x("%(ENV_HOME)s").unwrap(), "/root");
        assert_eq!(x("%(host_node_name)s").unwrap(), "w1");
        assert!(x("%(process_num)d").is_err());
        assert!(x("%(ENV_NOPE_XYZ)s")
            .unwrap_err()
            .contains("NOPE_XYZ is not set"));
    }

    #[test]
    fn errors_like_supervisord() {
        let e = env();
        let s = scope(&e);
        let err = |v: &str| expand(v, &s, Mode::Template).unwrap_err();
        assert!(err("50%").contains("lone %"));
        assert!(err("-n w%h").contains("\"%h\""));
        assert!(err("%(nope)s").contains("cannot expand"));
        assert!(err("%(program_name)d").contains("needs the s"));
        assert!(err("%(program_name").contains("incomplete"));
        let mut outside = scope(&e);
        outside.program = None;
        outside.numprocs = None;
        let err = expand("%(program_name)s", &outside, Mode::Template).unwrap_err();
        assert!(err.contains("available: ENV_*, here"), "{err}");
        assert!(expand("%(process_num)d", &outside, Mode::Template).is_err());
    }

    #[test]
    fn notes_for_what_fleet_cannot_say() {
        let e = env();
        let s = scope(&e);
        let x = expand("%(process_num)3d", &s, Mode::Template).unwrap();
        assert_eq!(x.text, "{num}");
        assert_eq!(x.notes.len(), 1);
        let x = expand("awk '{print}' {num}", &s, Mode::Template).unwrap();
        assert_eq!(x.notes.len(), 1, "{:?}", x.notes);
        assert!(x.notes[0].contains("{num}"));
        assert!(expand("awk '{print $1}'", &s, Mode::Template)
            .unwrap()
            .notes
            .is_empty());
    }
}
