//! Checking helpers shared by every section (`agent.rs`, `program.rs`,
//! `group.rs`): the load context, one table being checked, typed fields,
//! unknown keys with a "did you mean". Every check records its error in the
//! [`Sink`] and carries on with a default, so one load reports every problem.

use std::path::PathBuf;

use toml::Spanned;

use super::error::{FileId, Loc, Sink};
use super::expand::{expand_secret, expand_vars};
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

    /// `string_value` for a secret: its errors name what is wrong but
    /// quote no part of the value (they reach `POST /v1/reload`'s answer
    /// and the agent's log).
    pub fn secret_value(&mut self, file: FileId, label: &str, v: &Spanned<Raw>) -> Option<String> {
        let loc = Loc::new(file, v.span());
        let Raw::String(s) = v.get_ref() else {
            let found = v.get_ref().kind();
            self.error(&loc, format!("{label}: expected a string, found {found}"));
            return None;
        };
        match expand_secret(s, &self.env.vars) {
            Ok(s) => Some(s),
            Err(e) => {
                self.error(&loc, format!("{label}: {e}"));
                None
            }
        }
    }

    /// `t[key]` as an expanded secret string (`None` when absent or bad).
    pub fn secret(&mut self, t: &Table, key: &str) -> Option<String> {
        let v = t.get(key)?;
        self.secret_value(t.file, &format!("{}.{key}", t.label), v)
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
