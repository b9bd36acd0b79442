//! supervisord's process struct (`getAllProcessInfo`) → fleet-api's
//! `ProcessInfo`, and the restarts the console can see between polls.
//!
//! | supervisord              | fleet                                     |
//! |--------------------------|-------------------------------------------|
//! | `group`, `name`          | `group`, `process`; `name` = group:name    |
//! | (none)                   | `program`: the name less a `_N` suffix     |
//! | `statename`              | `state` (same names)                       |
//! | `pid` (0 = none)         | `pid`, while the state has one             |
//! | `start` (unix s)         | `started_at` (ms)                          |
//! | `stop`, `exitstatus`     | `exit_status` (exited after the last start)|
//! | `spawnerr`               | `exit_status` kind spawn_failed            |
//! | `description`            | `description`                              |
//! | pid/start changed        | `restarts` (+1 per change seen)            |

use super::odd;
use super::SvError;
use fleet_api::{ExitInfo, ExitKind, ProcessInfo, ProcessState, Wanted};
use fleet_client::xmlrpc::Value;
use std::collections::HashMap;

/// Per process: the last pid and start seen (each kept while the other
/// is absent: a poll that lands between a stop and a start shows neither)
/// and the restarts counted.
#[derive(Default)]
pub struct Restarts {
    seen: HashMap<String, Seen>,
}

#[derive(Clone, Copy, Default)]
struct Seen {
    pid: i64,
    start: i64,
    restarts: u32,
}

impl Restarts {
    /// Count a restart when `name` shows a start time or a pid other than
    /// the last ones seen (its first spawn is not one); what restarted
    /// twice between two looks counts once (a count of what the console
    /// saw, not supervisord's).
    fn count(&mut self, name: &str, pid: i64, start: i64) -> u32 {
        let s = self.seen.entry(name.to_owned()).or_insert(Seen {
            pid,
            start,
            restarts: 0,
        });
        let new_start = start > 0 && s.start > 0 && start != s.start;
        let new_pid = pid > 0 && s.pid > 0 && pid != s.pid;
        if new_start || new_pid {
            s.restarts += 1;
        }
        if start > 0 {
            s.start = start;
        }
        if pid > 0 {
            s.pid = pid;
        }
        s.restarts
    }

    /// Forget processes that are gone (a reread dropped them).
    fn keep_only(&mut self, names: &[String]) {
        self.seen.retain(|k, _| names.contains(k));
    }
}

fn int(v: &Value, key: &str) -> i64 {
    match v.member(key) {
        Some(Value::Int(i)) => *i,
        _ => 0,
    }
}

fn text(v: &Value, key: &str) -> String {
    match v.member(key) {
        Some(Value::Str(s)) => s.clone(),
        _ => String::new(),
    }
}

/// supervisord names instances `PROGRAM_N` (`%(program_name)s_%(process_num)02d`);
/// a program alone in its group is named as the group.
fn program_of(group: &str, name: &str) -> String {
    if name == group {
        return group.to_owned();
    }
    match name.rsplit_once('_') {
        Some((p, n)) if !p.is_empty() && !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) => {
            p.to_owned()
        }
        _ => name.to_owned(),
    }
}

/// One process struct.
pub fn process(v: &Value, restarts: Option<&mut Restarts>) -> Result<ProcessInfo, SvError> {
    let group = text(v, "group");
    let process = text(v, "name");
    if group.is_empty() || process.is_empty() {
        return Err(odd("a process without group or name"));
    }
    let state: ProcessState =
        serde_json::from_value(serde_json::Value::String(text(v, "statename")))
            .unwrap_or(ProcessState::Unknown);
    let (pid, start, stop) = (int(v, "pid"), int(v, "start"), int(v, "stop"));
    let ms = |s: i64| u64::try_from(s).ok().filter(|s| *s > 0).map(|s| s * 1000);
    let mut p = ProcessInfo::new(&group, &program_of(&group, &process), &process, state);
    p.wanted = match state {
        ProcessState::Starting | ProcessState::Running | ProcessState::Backoff => Wanted::Running,
        _ => Wanted::Stopped,
    };
    p.pid = u32::try_from(pid)
        .ok()
        .filter(|p| *p > 0 && state.has_pid());
    p.started_at = ms(start);
    p.state_since = match state.has_pid() || state == ProcessState::Backoff {
        true => ms(start),
        false => ms(stop),
    }
    .unwrap_or(0);
    let spawnerr = text(v, "spawnerr");
    p.exit_status =
        if !spawnerr.is_empty() && matches!(state, ProcessState::Backoff | ProcessState::Fatal) {
            Some(ExitInfo {
                kind: ExitKind::SpawnFailed,
                code: None,
                signal: None,
                core_dumped: false,
                stopped_by_us: false,
                expected: false,
                message: Some(spawnerr),
                at: ms(stop).or(ms(start)).unwrap_or(0),
            })
        } else if stop > 0 && start > 0 && stop >= start {
            Some(ExitInfo {
                kind: ExitKind::Exited,
                code: i32::try_from(int(v, "exitstatus")).ok(),
                signal: None,
                core_dumped: false,
                stopped_by_us: state == ProcessState::Stopped,
                expected: false,
                message: None,
                at: ms(stop).unwrap_or(0),
            })
        } else {
            None
        };
    p.description = text(v, "description");
    if let Some(r) = restarts {
        p.restarts = r.count(&p.name, pid, start);
    }
    Ok(p)
}

/// `getAllProcessInfo`'s answer, sorted by name.
pub fn processes(
    v: &Value,
    mut restarts: Option<&mut Restarts>,
) -> Result<Vec<ProcessInfo>, SvError> {
    let Value::Array(items) = v else {
        return Err(odd("getAllProcessInfo did not answer an array"));
    };
    let mut out = items
        .iter()
        .map(|i| process(i, restarts.as_deref_mut()))
        .collect::<Result<Vec<_>, _>>()?;
    out.sort_by(|a, b| a.name.cmp(&b.name));
    if let Some(r) = restarts {
        r.keep_only(&out.iter().map(|p| p.name.clone()).collect::<Vec<_>>());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sv(name: &str, state: &str, pid: i64, start: i64, stop: i64) -> Value {
        Value::record([
            ("name", Value::str(name)),
            ("group", Value::str("celery")),
            ("statename", Value::str(state)),
            ("pid", Value::Int(pid)),
            ("start", Value::Int(start)),
            ("stop", Value::Int(stop)),
            ("exitstatus", Value::Int(3)),
            ("spawnerr", Value::str("")),
            ("description", Value::str("pid 12, uptime 0:00:05")),
        ])
    }

    #[test]
    fn maps_fields_and_counts_what_it_sees() {
        let mut r = Restarts::default();
        let p = process(&sv("worker_00", "RUNNING", 12, 100, 0), Some(&mut r)).unwrap();
        assert_eq!(
            (p.name.as_str(), p.program.as_str()),
            ("celery:worker_00", "worker")
        );
        assert_eq!(
            (p.state, p.pid, p.started_at),
            (ProcessState::Running, Some(12), Some(100_000))
        );
        assert_eq!((p.exit_status, p.restarts), (None, 0));
        // Same pid and start: no restart.
        let p = process(&sv("worker_00", "RUNNING", 12, 100, 0), Some(&mut r)).unwrap();
        assert_eq!(p.restarts, 0);
        // A new start: one.
        let p = process(&sv("worker_00", "RUNNING", 13, 105, 104), Some(&mut r)).unwrap();
        assert_eq!(p.restarts, 1);
        assert_eq!(p.exit_status, None);
        // Stopped: exit status from the last stop, no pid.
        let p = process(&sv("worker_00", "STOPPED", 0, 105, 110), Some(&mut r)).unwrap();
        assert_eq!((p.pid, p.restarts), (None, 1));
        let e = p.exit_status.unwrap();
        assert_eq!((e.code, e.at, e.stopped_by_us), (Some(3), 110_000, true));
        // Started again within the same second: the pid tells.
        let p = process(&sv("worker_00", "RUNNING", 14, 105, 110), Some(&mut r)).unwrap();
        assert_eq!(p.restarts, 2);
        // A process first seen never started: its first spawn is no restart.
        let p = process(&sv("worker_01", "STOPPED", 0, 0, 0), Some(&mut r)).unwrap();
        assert_eq!(p.restarts, 0);
        let p = process(&sv("worker_01", "RUNNING", 20, 120, 0), Some(&mut r)).unwrap();
        assert_eq!(p.restarts, 0);
    }

    #[test]
    fn programs_from_instance_names() {
        assert_eq!(program_of("web", "web"), "web");
        assert_eq!(program_of("celery", "worker_01"), "worker");
        assert_eq!(program_of("g", "a_b"), "a_b");
    }
}
