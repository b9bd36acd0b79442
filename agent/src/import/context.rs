//! What every section's conversion shares: the [`Cx`] that collects
//! warnings and builds located errors, and the naming and message helpers.

use std::collections::{BTreeMap, HashMap};

use super::expand::Scope;
use super::{Doc, Ent, Error, Sec, Warning};

/// The conversion's state.
pub(super) struct Cx<'a> {
    pub doc: &'a Doc,
    pub env: &'a HashMap<String, String>,
    pub host: &'a str,
    pub warnings: Vec<Warning>,
    /// `[supervisord] environment`, already fleet syntax.
    pub global_env: Vec<(String, String)>,
    /// `[supervisord] umask`.
    pub global_umask: Option<u32>,
}

impl Cx<'_> {
    pub fn warn(&mut self, sec: &Sec, ent: Option<&Ent>, message: impl Into<String>) {
        let (file, line) = match ent {
            Some(e) => (e.file, e.line),
            None => (sec.file, sec.line),
        };
        self.warnings.push(Warning {
            file: self.doc.files[file].clone(),
            line,
            section: sec.name.clone(),
            key: ent.map(|e| e.key.clone()),
            message: message.into(),
        });
    }

    pub fn error(&self, sec: &Sec, ent: Option<&Ent>, message: impl Into<String>) -> Error {
        let (file, line) = match ent {
            Some(e) => (e.file, e.line),
            None => (sec.file, sec.line),
        };
        let what = match ent {
            Some(e) => format!("[{}] {}", sec.name, e.key),
            None => format!("[{}]", sec.name),
        };
        Error {
            file: self.doc.files[file].clone(),
            line,
            message: format!("{what}: {}", message.into()),
        }
    }

    pub fn scope<'s>(
        &'s self,
        ent: &Ent,
        program: Option<(&'s str, &'s str, Option<u32>)>,
        conf_env: &'s BTreeMap<String, String>,
    ) -> Scope<'s> {
        Scope {
            here: self.doc.dir(ent.file),
            program: program.map(|p| p.0),
            group: program.map(|p| p.1),
            numprocs: program.and_then(|p| p.2),
            env: self.env,
            conf_env,
            host: self.host,
        }
    }
}

/// The name after `kind:` in a section name, trimmed.
pub(super) fn raw_name(s: &Sec) -> String {
    s.name
        .split_once(':')
        .map_or("", |(_, n)| n)
        .trim()
        .to_string()
}

/// A program or group name as fleet accepts it.
pub(super) fn fleet_name(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Adds a hint when a bad value spans lines (supervisord's parser joins an
/// indented line to the value above it, a classic trap).
pub(super) fn continued(ent: &Ent, message: String) -> String {
    if ent.value.contains('\n') {
        format!("{message} (the value spans several lines: an indented line continues the one above it)")
    } else {
        message
    }
}

/// The comment above a converted block: which section, from where.
pub(super) fn origin(doc: &Doc, sec: &Sec) -> String {
    format!(
        "from [{}] in {}:{}",
        sec.name,
        doc.files[sec.file].display(),
        sec.line
    )
}

/// supervisord's `process_or_group_name`.
pub(super) fn check_name(cx: &Cx, sec: &Sec, name: &str) -> Result<(), Error> {
    if name.is_empty() {
        return Err(cx.error(sec, None, "empty name"));
    }
    if let Some(c) = name.chars().find(|c| matches!(c, ' ' | ':' | '/')) {
        return Err(cx.error(
            sec,
            None,
            format!("invalid name {name:?} because of character {c:?} (supervisord refuses this)"),
        ));
    }
    Ok(())
}

/// One warning per token `key_value_pairs` skipped (supervisord drops it
/// silently).
pub(super) fn warn_dropped(cx: &mut Cx, sec: &Sec, ent: &Ent, dropped: &[String]) {
    for d in dropped {
        cx.warn(
            sec,
            Some(ent),
            format!(
            "supervisord silently drops {d:?} here (a value with spaces or commas needs quotes); \
             dropped too: quote the value if it was meant to include it"
        ),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(fleet_name("celery-beat.v2"), "celery-beat.v2");
        assert_eq!(fleet_name("a+b@c"), "a_b_c");
    }
}
