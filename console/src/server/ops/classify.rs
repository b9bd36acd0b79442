//! Judging a host whose call was in flight when the console stopped: what
//! its agent shows now against the journal's copy from when the call
//! started.

use super::journal::Seen;
use fleet_api::{ActionResult, HostResult, Outcome, ProcessInfo, ProcessState, Verb, Verdict};

pub(super) const IN_FLIGHT: &str = "in flight when the console stopped";

/// The true outcome of a host whose call was in flight: what its agent
/// shows (`now`, the processes the op selects there) against their copy
/// from when the call started (`before`; a process missing from it is
/// judged by its start time against `started`). A process is done when a
/// restart left it RUNNING as another instance (pid, start time), a start
/// left it RUNNING, a stop left it stopped. Every one done: ok; every one
/// exactly as before: skipped (the call never took effect); else failed,
/// naming the rest. A signal leaves no trace: failed, "unknown".
pub(super) fn classify(
    host: &str,
    verb: Verb,
    now: &[&ProcessInfo],
    started: u64,
    before: &[Seen],
) -> HostResult {
    let result =
        |verdict, message: String, processes| HostResult::new(host, verdict, message, processes);
    if now.is_empty() {
        return result(
            Verdict::Skipped,
            format!("{IN_FLIGHT}; its agent now shows none of the processes the operation selects"),
            vec![],
        );
    }
    let word = match verb {
        Verb::Restart => "restarted",
        Verb::Start => "running",
        Verb::Stop => "stopped",
        Verb::Reexec => {
            return result(
                Verdict::Failed,
                format!("{IN_FLIGHT}; whether the agent re-executed is unknown: its version in the host list tells"),
                vec![],
            )
        }
        Verb::Signal => {
            return result(
                Verdict::Failed,
                format!("{IN_FLIGHT}; a signal leaves no trace, so whether the agent sent it is unknown: check the processes"),
                vec![],
            )
        }
    };
    let was = |p: &ProcessInfo| before.iter().find(|b| b.name == p.name);
    // The instance the call found (same pid and start time), or, with no
    // copy from then, one that started before the call.
    let same_instance = |p: &ProcessInfo| match was(p) {
        Some(b) => p.pid == b.pid && p.started_at == b.started_at,
        None => p.started_at.is_some_and(|t| t < started),
    };
    let untouched = |p: &ProcessInfo| match was(p) {
        Some(b) => p.state == b.state && same_instance(p),
        None => p.state.has_pid() && same_instance(p),
    };
    let done = |p: &ProcessInfo| match verb {
        Verb::Restart => p.state == ProcessState::Running && !same_instance(p),
        Verb::Start => p.state == ProcessState::Running,
        _ => p.state.is_stopped(),
    };
    let processes: Vec<ActionResult> = now
        .iter()
        .map(|p| ActionResult {
            name: p.name.clone(),
            outcome: if done(p) {
                Outcome::Ok
            } else {
                Outcome::Failed
            },
            state: p.state,
            pid: p.pid,
            message: if done(p) {
                String::new()
            } else if untouched(p) {
                format!("not {word} since the call: still {}", p.state)
            } else {
                format!("{} since the call", p.state)
            },
        })
        .collect();
    let (m, n) = (now.len(), now.iter().filter(|p| done(p)).count());
    let shows = format!("{IN_FLIGHT}; its agent shows {n} of {m} process(es) {word} since");
    if n == m {
        return result(Verdict::Ok, shows, processes);
    }
    if now.iter().all(|p| untouched(p)) {
        return result(
            Verdict::Skipped,
            format!("{shows}: the call never took effect (untouched)"),
            processes,
        );
    }
    let rest: Vec<String> = processes
        .iter()
        .filter(|r| r.outcome != Outcome::Ok)
        .map(|r| format!("{} is {}", r.name, r.state))
        .collect();
    result(
        Verdict::Failed,
        format!("{shows}; not: {}", rest.join(", ")),
        processes,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proc(name: &str, state: ProcessState, pid: Option<u32>, started_at: u64) -> ProcessInfo {
        ProcessInfo {
            pid,
            started_at: Some(started_at),
            state_since: started_at,
            ..ProcessInfo::new("celery", "worker", name, state)
        }
    }

    const RUN: ProcessState = ProcessState::Running;

    fn verdict(verb: Verb, before: &[ProcessInfo], now: &[ProcessInfo]) -> (Verdict, String) {
        let seen: Vec<Seen> = before.iter().map(Seen::of).collect();
        let now: Vec<&ProcessInfo> = now.iter().collect();
        let r = classify("h", verb, &now, 1_000, &seen);
        if verb != Verb::Signal {
            assert_eq!(r.processes.len(), now.len(), "one entry per process");
        }
        (r.verdict, r.message)
    }

    #[test]
    fn restart_in_flight_is_judged_by_instance() {
        let before = [proc("a", RUN, Some(10), 500), proc("b", RUN, Some(11), 500)];
        // Both restarted: ok, and says so.
        let (v, m) = verdict(
            Verb::Restart,
            &before,
            &[
                proc("a", RUN, Some(20), 1_100),
                proc("b", RUN, Some(21), 1_200),
            ],
        );
        assert_eq!(v, Verdict::Ok);
        assert!(m.contains("in flight when the console stopped"), "{m}");
        assert!(m.contains("2 of 2 process(es) restarted since"), "{m}");
        // Neither touched: skipped, untouched.
        let (v, m) = verdict(Verb::Restart, &before, &before);
        assert_eq!(v, Verdict::Skipped);
        assert!(m.contains("0 of 2") && m.contains("untouched"), "{m}");
        // One restarted, one still the old instance: failed, naming it.
        let (v, m) = verdict(
            Verb::Restart,
            &before,
            &[proc("a", RUN, Some(20), 1_100), before[1].clone()],
        );
        assert_eq!(v, Verdict::Failed);
        assert!(
            m.contains("1 of 2") && m.contains("celery:b is RUNNING"),
            "{m}"
        );
        // Restarted but did not come up: failed.
        let (v, m) = verdict(
            Verb::Restart,
            &before,
            &[
                proc("a", RUN, Some(20), 1_100),
                proc("b", ProcessState::Fatal, None, 1_100),
            ],
        );
        assert_eq!(v, Verdict::Failed);
        assert!(m.contains("celery:b is FATAL"), "{m}");
        // No copy from the call's start: judged by start time.
        let (v, _) = verdict(Verb::Restart, &[], &[proc("a", RUN, Some(20), 1_100)]);
        assert_eq!(v, Verdict::Ok);
        let (v, _) = verdict(Verb::Restart, &[], &[proc("a", RUN, Some(10), 500)]);
        assert_eq!(v, Verdict::Skipped);
    }

    #[test]
    fn stop_start_signal_and_nothing_selected() {
        let running = [proc("a", RUN, Some(10), 500)];
        let stopped = [proc("a", ProcessState::Stopped, None, 500)];
        assert_eq!(verdict(Verb::Stop, &running, &stopped).0, Verdict::Ok);
        assert_eq!(verdict(Verb::Stop, &running, &running).0, Verdict::Skipped);
        assert_eq!(verdict(Verb::Start, &stopped, &running).0, Verdict::Ok);
        assert_eq!(verdict(Verb::Start, &stopped, &stopped).0, Verdict::Skipped);
        // Already running before a start: done all the same.
        assert_eq!(verdict(Verb::Start, &running, &running).0, Verdict::Ok);
        let (v, m) = verdict(Verb::Signal, &running, &running);
        assert_eq!(v, Verdict::Failed);
        assert!(m.contains("unknown"), "{m}");
        let r = classify("h", Verb::Restart, &[], 1_000, &[]);
        assert_eq!(r.verdict, Verdict::Skipped);
        assert!(r.message.contains("none of the processes"), "{}", r.message);
    }
}
