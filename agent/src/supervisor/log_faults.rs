//! Log file faults as events: a write failure (full disk) happens on a log
//! pump or the writer thread, and a refused reopen (a symlink swapped in,
//! SIGUSR2) in the owner's log handling; neither changes process state. This task wakes when any stream starts or stops failing
//! (`logs::fault_changes`), compares each published process's streams with
//! what it last reported, and records an event per change: `from` and `to`
//! are the process's current state, the description says what happened.

use super::table::{log_write_error, unix_ms};
use super::Handle;
use std::collections::HashMap;
use std::time::SystemTime;

/// Runs until the supervisor has finished.
pub async fn report(handle: Handle) {
    // Subscribed before the first look, so no change falls in between.
    let mut changes = crate::logs::fault_changes();
    let finished = handle.finished();
    tokio::pin!(finished);
    let mut known: HashMap<String, String> = HashMap::new();
    loop {
        let snap = handle.snapshot();
        let mut now = HashMap::new();
        for p in &snap.procs {
            let name = &p.info.name;
            let error = log_write_error(p);
            let description = match (known.get(name), &error) {
                (None, Some(e)) => e.clone(),
                (Some(_), None) => "log file writable again; capture resumed".to_owned(),
                (Some(was), Some(e)) if was != e => e.clone(),
                _ => String::new(),
            };
            if !description.is_empty() {
                let state = p.info.state;
                tracing::info!(process = %name, "{description}");
                handle.events.record(fleet_api::Event {
                    process: None,
                    removed: false,
                    seq: 0,
                    time: unix_ms(SystemTime::now()),
                    name: name.clone(),
                    group: p.info.group.clone(),
                    from: state,
                    to: state,
                    pid: p.info.pid,
                    exit_status: None,
                    description,
                });
            }
            if let Some(e) = error {
                now.insert(name.clone(), e);
            }
        }
        known = now;
        tokio::select! {
            changed = changes.changed() => if changed.is_err() { return },
            _ = &mut finished => return,
        }
    }
}
