//! What `[eventlistener.NAME]` adds to a program's keys: `events`,
//! `buffer_size`, `result_handler`, and what it may not have (a stdout
//! log: its stdout is the protocol; `redirect_stderr`; a health check).
//! Everything else is read by `program.rs` as for any program.

use super::error::Loc;
use super::model::ListenerSpec;
use super::raw::Raw;
use super::validate::{Ctx, Table};
use super::values;
use crate::listener::event::{self, Subs};

/// The keys a listener has beyond a program's.
pub const LISTENER_KEYS: &[&str] = &["events", "buffer_size", "result_handler"];

/// A program key a listener may not use, and why.
pub const NOT_FOR_LISTENERS: &[(&str, &str)] = &[
    ("stdout_logfile", "a listener's stdout is its protocol channel, never a log (its stderr is logged: stderr_logfile)"),
    ("stdout_logfile_maxbytes", "a listener's stdout is its protocol channel, never a log"),
    ("stdout_logfile_backups", "a listener's stdout is its protocol channel, never a log"),
    ("stdout_events_enabled", "a listener's stdout is its protocol channel"),
    ("health", "a listener has no health check (its protocol state shows whether it works)"),
];

/// supervisord's one result handler, the only one fleet has (import
/// reads it too).
pub const DEFAULT_HANDLER: &str = "supervisor.dispatchers:default_handler";

/// Checks the listener keys of `t`; `None` after reporting an error.
pub(crate) fn listener(cx: &mut Ctx, t: &Table, section: &Loc) -> Option<ListenerSpec> {
    let before = cx.sink.len();
    for (key, why) in NOT_FOR_LISTENERS {
        if let Some(v) = t.get(key) {
            cx.error(&t.loc(v), format!("{}.{key}: {why}", t.label));
        }
    }
    if let Some(v) = t.get("redirect_stderr") {
        if matches!(v.get_ref(), Raw::Boolean(true)) {
            cx.error(
                &t.loc(v),
                format!(
                    "{}.redirect_stderr: not allowed for a listener: its stderr would \
                     interfere with the protocol on its stdout",
                    t.label
                ),
            );
        }
    }
    if let Some(h) = cx.string(t, "result_handler") {
        if h != DEFAULT_HANDLER {
            let loc = t.loc(t.get("result_handler").expect("just read"));
            cx.error(
                &loc,
                format!(
                    "{}.result_handler: only supervisord's default {DEFAULT_HANDLER:?} \
                     (OK accepts an event, anything else hands it back) is supported",
                    t.label
                ),
            );
        }
    }
    let buffer_size = cx.field(t, "buffer_size", 10, |v| values::int_in(v, 1, 1 << 20)) as usize;
    let events = events(cx, t, section);
    if cx.sink.len() != before {
        return None;
    }
    let (names, subs) = events?;
    Some(ListenerSpec {
        events: names,
        subs,
        buffer_size,
    })
}

/// `events = ["PROCESS_STATE", "TICK_60"]` (or supervisord's
/// comma-separated string): at least one, every name known.
fn events(cx: &mut Ctx, t: &Table, section: &Loc) -> Option<(Vec<String>, Subs)> {
    let label = format!("{}.events", t.label);
    let Some(v) = t.get("events") else {
        let msg = format!(
            "{}: missing required key \"events\" (the event types it listens to, \
             e.g. events = [\"PROCESS_STATE\"])",
            t.label
        );
        cx.error(section, msg);
        return None;
    };
    let raw: Vec<String> = match v.get_ref() {
        Raw::String(s) => s.split(',').map(|s| s.trim().to_owned()).collect(),
        Raw::Array(items) => {
            let mut names = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                // Each name as any string value: `${VAR}` expanded, and a
                // number or a table is an error at its place, not dropped.
                names.push(cx.string_value(t.file, &format!("{label}[{i}]"), item)?);
            }
            names.into_iter().map(|n| n.trim().to_owned()).collect()
        }
        other => {
            let msg = format!(
                "{label}: expected an array of event type names, found {}",
                other.describe()
            );
            cx.error(&t.loc(v), msg);
            return None;
        }
    };
    let mut names: Vec<String> = Vec::new();
    let mut subs = Subs::default();
    for name in raw.into_iter().filter(|n| !n.is_empty()) {
        match Subs::parse(&name) {
            Some(s) => {
                subs = subs.union(s);
                let upper = name.to_ascii_uppercase();
                if !names.contains(&upper) {
                    names.push(upper);
                }
            }
            None => {
                let known: Vec<&str> = event::names().collect();
                let msg = format!(
                    "{label}: unknown event type {name:?} (expected one of: {})",
                    known.join(", ")
                );
                cx.error(&t.loc(v), msg);
                return None;
            }
        }
    }
    if names.is_empty() {
        cx.error(
            &t.loc(v),
            format!("{label}: expected at least one event type name"),
        );
        return None;
    }
    Some((names, subs))
}

/// `stdout_capture_maxbytes` / `stderr_capture_maxbytes`: supervisord's
/// capture mode (`PROCESS_COMMUNICATION` events) is not supported; 0 (its
/// default, off) is accepted so imported files load.
pub(crate) fn capture_mode(cx: &mut Ctx, t: &Table) {
    for key in ["stdout_capture_maxbytes", "stderr_capture_maxbytes"] {
        let Some(v) = t.get(key) else { continue };
        if matches!(values::bytes(v.get_ref()), Ok(0)) {
            continue;
        }
        cx.error(
            &t.loc(v),
            format!(
                "{}.{key}: capture mode (PROCESS_COMMUNICATION events) is not supported; \
                 use stdout_events_enabled / stderr_events_enabled (PROCESS_LOG events), \
                 or remove the key",
                t.label
            ),
        );
    }
}

/// Which kind of section a program comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Program,
    Listener,
}

impl Kind {
    pub fn section(self) -> &'static str {
        match self {
            Kind::Program => "program",
            Kind::Listener => "eventlistener",
        }
    }
}
