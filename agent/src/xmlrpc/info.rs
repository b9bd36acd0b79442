//! fleet's processes as supervisord names and describes them: namespecs
//! (`group:name`, or `name` when a program's group is itself), state codes
//! and the process-info struct with its `description`.

use super::wire::{Code, Fault, Value};
use crate::supervisor::{ProcSnap, Snapshot};
use fleet_api::{ExitKind, ProcessState};

/// supervisord's state codes.
pub fn state_code(s: ProcessState) -> i64 {
    match s {
        ProcessState::Stopped => 0,
        ProcessState::Starting => 10,
        ProcessState::Running => 20,
        ProcessState::Backoff => 30,
        ProcessState::Stopping => 40,
        ProcessState::Exited => 100,
        ProcessState::Fatal => 200,
        ProcessState::Unknown => 1000,
    }
}

/// supervisord's RUNNING_STATES: what `start` skips and `stop` covers.
pub fn is_running(s: ProcessState) -> bool {
    matches!(
        s,
        ProcessState::Running | ProcessState::Backoff | ProcessState::Starting
    )
}

pub fn namespec(group: &str, name: &str) -> String {
    if group == name {
        name.to_owned()
    } else {
        format!("{group}:{name}")
    }
}

pub fn spec_of(p: &ProcSnap) -> String {
    namespec(&p.info.group, &p.info.process)
}

/// supervisord's `split_namespec`: `group:name`, `group:` / `group:*` (the
/// whole group) or `name` (group and process both `name`).
pub fn split_namespec(spec: &str) -> (&str, Option<&str>) {
    match spec.split_once(':') {
        Some((g, "" | "*")) => (g, None),
        Some((g, p)) => (g, Some(p)),
        None => (spec, Some(spec)),
    }
}

/// A group's processes in start order (priority, then name).
pub fn group_members<'a>(snap: &'a Snapshot, group: &str) -> Vec<&'a ProcSnap> {
    let mut v: Vec<&ProcSnap> = snap
        .procs
        .iter()
        .filter(|p| p.info.group == group)
        .collect();
    v.sort_by(|a, b| {
        (a.rank, a.priority, &a.info.process).cmp(&(b.rank, b.priority, &b.info.process))
    });
    v
}

/// Every process in start order.
pub fn all_members(snap: &Snapshot) -> Vec<&ProcSnap> {
    let mut v: Vec<&ProcSnap> = snap.procs.iter().collect();
    v.sort_by(|a, b| {
        (a.rank, a.priority, &a.info.group, &a.info.process).cmp(&(
            b.rank,
            b.priority,
            &b.info.group,
            &b.info.process,
        ))
    });
    v
}

/// What a namespec names: a group (`None`) or one of its processes;
/// `BAD_NAME: spec` when neither exists (supervisord's
/// `_getGroupAndProcess`).
pub fn lookup<'a>(snap: &'a Snapshot, spec: &str) -> Result<(String, Option<&'a ProcSnap>), Fault> {
    let (group, process) = split_namespec(spec);
    if !snap.procs.iter().any(|p| p.info.group == group) {
        return Err(Fault::with(Code::BadName, spec));
    }
    match process {
        None => Ok((group.to_owned(), None)),
        Some(name) => snap
            .procs
            .iter()
            .find(|p| p.info.group == group && p.info.process == name)
            .map(|p| (group.to_owned(), Some(p)))
            .ok_or_else(|| Fault::with(Code::BadName, spec)),
    }
}

/// The stdout log path, and the stderr one unless it goes to stdout.
pub fn log_paths(p: &ProcSnap) -> (String, String) {
    let path = |s: &crate::logs::LogStream| {
        s.path()
            .map(|p| p.display().to_string())
            .unwrap_or_default()
    };
    let stderr = if std::sync::Arc::ptr_eq(&p.stdout, &p.stderr) {
        String::new()
    } else {
        path(&p.stderr)
    };
    (path(&p.stdout), stderr)
}

/// supervisord's `spawnerr` for a process that is backing off or gave up.
fn spawnerr(p: &ProcSnap) -> String {
    if !matches!(p.info.state, ProcessState::Backoff | ProcessState::Fatal) {
        return String::new();
    }
    match &p.info.exit_status {
        Some(x) if x.kind == ExitKind::SpawnFailed => x.message.clone().unwrap_or_default(),
        // supervisord's words for an exit before startsecs.
        Some(_) => "Exited too quickly (process log may have details)".to_owned(),
        None => String::new(),
    }
}

/// supervisord's `getProcessInfo` struct, fields in its order, at `now_ms`.
pub fn process_info(p: &ProcSnap, now_ms: u64) -> Value {
    let i = &p.info;
    let secs = |ms: u64| (ms / 1000) as i64;
    let start = i.started_at.map_or(0, secs);
    let stop = i.exit_status.as_ref().map_or(0, |x| secs(x.at));
    let now = secs(now_ms);
    let spawnerr = spawnerr(p);
    let exitstatus = match &i.exit_status {
        Some(x) if x.kind == ExitKind::Exited => x.code.unwrap_or(0) as i64,
        // supervisord's decode_wait_status: a signal death is -1.
        Some(x) if x.kind == ExitKind::Signaled => -1,
        _ => 0,
    };
    let pid = if i.state.has_pid() {
        i.pid.unwrap_or(0) as i64
    } else {
        0
    };
    let description = match i.state {
        ProcessState::Running => {
            let up = (now - start).max(0) as u64;
            let timing = format!("pid {pid}, uptime {}", fleet_api::format_timedelta(up));
            // Health rides in the text: supervisord's states stay the
            // only states its clients see.
            match i.health {
                Some(h @ (fleet_api::Health::Healthy | fleet_api::Health::Unhealthy)) => {
                    format!("{timing}, {h}")
                }
                _ => timing,
            }
        }
        ProcessState::Backoff | ProcessState::Fatal if spawnerr.is_empty() => {
            format!("unknown error (try \"tail {}\")", i.process)
        }
        ProcessState::Backoff | ProcessState::Fatal => spawnerr.clone(),
        ProcessState::Stopped | ProcessState::Exited if start == 0 => "Not started".to_owned(),
        ProcessState::Stopped | ProcessState::Exited => crate::sys::time::local_stop_time(stop),
        ProcessState::Starting | ProcessState::Stopping | ProcessState::Unknown => String::new(),
    };
    let (stdout, stderr) = log_paths(p);
    Value::record([
        ("name", Value::str(&i.process)),
        ("group", Value::str(&i.group)),
        ("start", Value::Int(start)),
        ("stop", Value::Int(stop)),
        ("now", Value::Int(now)),
        ("state", Value::Int(state_code(i.state))),
        ("statename", Value::str(i.state.as_str())),
        ("spawnerr", Value::str(spawnerr)),
        ("exitstatus", Value::Int(exitstatus)),
        ("logfile", Value::str(&stdout)),
        ("stdout_logfile", Value::str(stdout)),
        ("stderr_logfile", Value::str(stderr)),
        ("pid", Value::Int(pid)),
        ("description", Value::str(description)),
    ])
}

/// One entry of a group or "all" call's answer.
pub fn result(p: &ProcSnap, outcome: Result<(), Fault>) -> Value {
    let (status, description) = match outcome {
        Ok(()) => (Code::Success as i64, "OK".to_owned()),
        Err(f) => (f.code as i64, f.text),
    };
    Value::record([
        ("name", Value::str(&p.info.process)),
        ("group", Value::str(&p.info.group)),
        ("status", Value::Int(status)),
        ("description", Value::str(description)),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespecs_split_like_supervisord() {
        assert_eq!(split_namespec("web"), ("web", Some("web")));
        assert_eq!(split_namespec("web:web_0"), ("web", Some("web_0")));
        assert_eq!(split_namespec("web:*"), ("web", None));
        assert_eq!(split_namespec("web:"), ("web", None));
        assert_eq!(namespec("web", "web"), "web");
        assert_eq!(namespec("web", "web_0"), "web:web_0");
    }
}
