//! String expansion, in two independent passes (pure functions):
//!
//! 1. `${VAR}` from the agent's environment, on each parsed string value:
//!    `${VAR}`, `${VAR:-default}` (default when unset *or empty*), `$$` for a
//!    literal `$`. Any other `$` is literal, so `$HOME` reaches the program
//!    untouched. The default is literal text up to the first `}`.
//! 2. Per-instance templates: `{program}`, `{group}`, `{host}`, `{num}`,
//!    `{num:0N}` (zero-padded to width N) and, outside `process_name`,
//!    `{process}`. Outside `process_name` an unknown `{...}` is kept as is
//!    (commands contain braces); `%` sequences such as celery's `%h` are
//!    never touched. `{{` and `}}` are *not* escapes: a brace that does not
//!    start a known field is just a brace.

use std::collections::HashMap;

/// The values templates expand to for one process instance.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Instance<'a> {
    pub program: &'a str,
    pub group: &'a str,
    pub host: &'a str,
    pub num: u32,
    /// The expanded process name; `None` while expanding `process_name` itself.
    pub process: Option<&'a str>,
}

/// Expands `${VAR}` forms; the error is the message for the value's location.
pub(crate) fn expand_vars(s: &str, vars: &HashMap<String, String>) -> Result<String, String> {
    expand(s, vars, true)
}

/// `expand_vars` for a secret (a program's `environment` value, a token):
/// the error names what is wrong but quotes no part of the value, since
/// config errors reach `POST /v1/reload`'s answer and the agent's log.
pub(crate) fn expand_secret(s: &str, vars: &HashMap<String, String>) -> Result<String, String> {
    expand(s, vars, false)
}

fn expand(s: &str, vars: &HashMap<String, String>, show: bool) -> Result<String, String> {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
        } else if let Some(body) = after.strip_prefix('{') {
            let Some(end) = body.find('}') else {
                let inside = if show {
                    format!(" in {s:?}")
                } else {
                    String::new()
                };
                return Err(format!(
                    "unterminated \"${{\"{inside} (write \"$$\" for a literal \"$\")"
                ));
            };
            let inner = &body[..end];
            let (name, default) = match inner.split_once(":-") {
                Some((n, d)) => (n, Some(d)),
                None => (inner, None),
            };
            if !is_env_name(name) {
                let what = if show { inner } else { "..." };
                return Err(format!(
                    "invalid variable name in ${{{what}}} (expected letters, digits and _, \
                     not starting with a digit)"
                ));
            }
            match (vars.get(name).filter(|v| !v.is_empty()), default) {
                (Some(v), _) => out.push_str(v),
                (None, Some(d)) => out.push_str(d),
                (None, None) if vars.contains_key(name) => {}
                (None, None) => {
                    return Err(format!(
                        "undefined variable ${{{name}}} (set it in the agent's environment \
                         or use ${{{name}:-default}})"
                    ))
                }
            }
            rest = &body[end + 1..];
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    Ok(out)
}

/// `[A-Za-z_][A-Za-z0-9_]*`: a name a shell would accept.
pub(crate) fn is_env_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Field {
    Program,
    Group,
    Host,
    /// Zero-padded to this width (0 or 1 = no padding).
    Num(usize),
    Process,
}

/// The widest `{num:0N}` accepted; anything wider is surely a typo.
const MAX_NUM_WIDTH: usize = 20;

fn parse_field(inner: &str) -> Option<Field> {
    match inner {
        "program" => Some(Field::Program),
        "group" => Some(Field::Group),
        "host" => Some(Field::Host),
        "num" => Some(Field::Num(0)),
        "process" => Some(Field::Process),
        _ => {
            let digits = inner.strip_prefix("num:0")?;
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            let width: usize = digits.parse().ok()?;
            (1..=MAX_NUM_WIDTH)
                .contains(&width)
                .then_some(Field::Num(width))
        }
    }
}

/// Calls `f` with each `{...}` (inner text, byte range) in `s`, left to right.
/// A `{` that is not closed before the next `{` or the end is skipped.
fn for_each_brace(s: &str, mut f: impl FnMut(&str, std::ops::Range<usize>)) {
    let mut pos = 0;
    while let Some(open) = s[pos..].find('{').map(|i| pos + i) {
        let body = &s[open + 1..];
        match body.find(['{', '}']) {
            Some(close) if body.as_bytes()[close] == b'}' => {
                let end = open + 1 + close + 1;
                f(&body[..close], open..end);
                pos = end;
            }
            _ => pos = open + 1,
        }
    }
}

/// Expands the per-instance templates; unknown `{...}` stays as written.
pub(crate) fn expand_template(s: &str, inst: &Instance) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    let mut last = 0;
    for_each_brace(s, |inner, range| {
        let value = match parse_field(inner) {
            Some(Field::Program) => inst.program.to_string(),
            Some(Field::Group) => inst.group.to_string(),
            Some(Field::Host) => inst.host.to_string(),
            Some(Field::Num(width)) => format!("{:0width$}", inst.num),
            Some(Field::Process) => match inst.process {
                Some(p) => p.to_string(),
                None => return,
            },
            None => return,
        };
        out.push_str(&s[last..range.start]);
        out.push_str(&value);
        last = range.end;
    });
    out.push_str(&s[last..]);
    out
}

/// Checks a `process_name` template, where unknown fields are errors (a typo
/// there would silently give every instance the same name). Returns whether
/// it contains `{num}` / `{num:0N}`.
pub(crate) fn check_process_name(s: &str) -> Result<bool, String> {
    let mut has_num = false;
    let mut bad = None;
    for_each_brace(s, |inner, _| match parse_field(inner) {
        Some(Field::Num(_)) => has_num = true,
        Some(Field::Process) | None => {
            bad.get_or_insert_with(|| inner.to_string());
        }
        Some(_) => {}
    });
    match bad {
        Some(inner) => Err(format!(
            "unknown field {{{inner}}} in process_name (expected {{program}}, {{group}}, \
             {{host}}, {{num}} or {{num:0N}})"
        )),
        None => Ok(has_num),
    }
}

/// Process names end up in URLs, file names and `group:name`.
pub(crate) fn is_process_name(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '@' | '-'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn var_forms() {
        let v = vars(&[("A", "alpha"), ("EMPTY", "")]);
        assert_eq!(expand_vars("x${A}y", &v).unwrap(), "xalphay");
        assert_eq!(expand_vars("${A}${A}", &v).unwrap(), "alphaalpha");
        assert_eq!(expand_vars("${B:-dflt}", &v).unwrap(), "dflt");
        assert_eq!(expand_vars("${EMPTY:-dflt}", &v).unwrap(), "dflt");
        assert_eq!(expand_vars("${A:-dflt}", &v).unwrap(), "alpha");
        assert_eq!(expand_vars("${B:-}", &v).unwrap(), "");
        // Set but empty, no default: expands to nothing (not an error).
        assert_eq!(expand_vars("[${EMPTY}]", &v).unwrap(), "[]");
        assert_eq!(expand_vars("$$", &v).unwrap(), "$");
        assert_eq!(expand_vars("$${A}", &v).unwrap(), "${A}");
        assert_eq!(expand_vars("$HOME and $", &v).unwrap(), "$HOME and $");
        assert_eq!(expand_vars("cost: 5$", &v).unwrap(), "cost: 5$");
        assert_eq!(expand_vars("no vars {num}", &v).unwrap(), "no vars {num}");
        assert_eq!(expand_vars("é${A}é", &v).unwrap(), "éalphaé");
    }

    #[test]
    fn var_errors() {
        let v = vars(&[]);
        assert_eq!(
            expand_vars("a ${FOO} b", &v).unwrap_err(),
            "undefined variable ${FOO} (set it in the agent's environment or use ${FOO:-default})"
        );
        assert!(expand_vars("${FOO", &v)
            .unwrap_err()
            .starts_with("unterminated \"${\""));
        assert!(expand_vars("${1X}", &v)
            .unwrap_err()
            .starts_with("invalid variable name in ${1X}"));
        assert!(expand_vars("${}", &v).is_err());
    }

    #[test]
    fn secret_errors_quote_no_part_of_the_value() {
        let v = vars(&[]);
        for (value, want) in [
            ("hunter2${oops", "unterminated \"${\" (write"),
            ("hunter2${1hunter2}", "invalid variable name in ${...}"),
        ] {
            let e = expand_secret(value, &v).unwrap_err();
            assert!(e.starts_with(want), "{e}");
            assert!(!e.contains("hunter2"), "{e}");
        }
        // An undefined variable's name is the agent's, not the secret.
        assert!(expand_secret("${NOPE}", &v)
            .unwrap_err()
            .contains("${NOPE}"));
        assert_eq!(
            expand_secret("a${B:-b}$$", &v).unwrap(),
            expand_vars("a${B:-b}$$", &v).unwrap()
        );
    }

    fn inst(num: u32, process: Option<&str>) -> Instance<'_> {
        Instance {
            program: "prog",
            group: "grp",
            host: "h1",
            num,
            process,
        }
    }

    #[test]
    fn templates() {
        let i = inst(3, Some("p_03"));
        assert_eq!(
            expand_template("{program}/{group}/{host}/{num}", &i),
            "prog/grp/h1/3"
        );
        assert_eq!(expand_template("w{num:02}", &i), "w03");
        assert_eq!(expand_template("w{num:04}", &inst(12, None)), "w0012");
        assert_eq!(expand_template("w{num:02}", &inst(123, None)), "w123");
        assert_eq!(expand_template("{process}.log", &i), "p_03.log");
        assert_eq!(expand_template("{process}", &inst(0, None)), "{process}");
    }

    #[test]
    fn templates_leave_other_things_alone() {
        let i = inst(1, Some("p"));
        assert_eq!(expand_template("w{num}@%h", &i), "w1@%h");
        assert_eq!(
            expand_template("%(program_name)s %%", &i),
            "%(program_name)s %%"
        );
        assert_eq!(
            expand_template("awk '{print $1}' {num}", &i),
            "awk '{print $1}' 1"
        );
        assert_eq!(
            expand_template("{}{num:2}{num:0}{num:0x}", &i),
            "{}{num:2}{num:0}{num:0x}"
        );
        // `{{` is not an escape: the inner `{num}` still expands.
        assert_eq!(expand_template("{{num}}", &i), "{1}");
        assert_eq!(expand_template("{ {num", &i), "{ {num");
        assert_eq!(expand_template("x{", &i), "x{");
    }

    #[test]
    fn process_name_checks() {
        assert_eq!(check_process_name("{program}"), Ok(false));
        assert_eq!(check_process_name("w_{num:02}"), Ok(true));
        assert_eq!(check_process_name("{program}-{num}"), Ok(true));
        assert_eq!(
            check_process_name("{prog}_{num}").unwrap_err(),
            "unknown field {prog} in process_name (expected {program}, {group}, {host}, \
             {num} or {num:0N})"
        );
        assert!(check_process_name("{process}").is_err());
        assert!(check_process_name("{num:2}").is_err());
    }

    #[test]
    fn names() {
        assert!(is_process_name("worker_00@h.x-1"));
        assert!(!is_process_name(""));
        assert!(!is_process_name("a b"));
        assert!(!is_process_name("a:b"));
        assert!(!is_process_name("a/b"));
        assert!(is_env_name("_A1"));
        assert!(!is_env_name("1A"));
        assert!(!is_env_name("A-B"));
        assert!(!is_env_name(""));
    }
}
