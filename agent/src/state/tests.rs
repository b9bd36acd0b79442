//! The transition function's cases: each state, each input.
use super::*;
use crate::config::ProcessSpec;

fn spec() -> ProcessSpec {
    ProcessSpec {
        group: "g".into(),
        ..ProcessSpec::example("w", "w", &["sleep", "100"])
    }
}

fn t0() -> Instant {
    Instant::now()
}
const S1: Duration = Duration::from_secs(1);
const TERM: Action = Action::Signal {
    signal: libc::SIGTERM,
    group: false,
};

fn step(state: State, ev: Event, spec: &ProcessSpec, now: Instant) -> (State, Vec<Action>) {
    transition(&state, ev, spec, now)
}

fn starting(pid: u32, since: Instant, retries: u32) -> State {
    State::Starting {
        pid,
        since,
        retries,
    }
}

#[test]
fn start_from_stopped_exited_fatal_spawns() {
    let s = spec();
    let now = t0();
    for st in [State::Stopped, State::Exited, State::Fatal] {
        assert_eq!(
            step(st.clone(), Event::Start, &s, now),
            (st, vec![Action::Spawn])
        );
    }
}

#[test]
fn start_while_up_or_backing_off_is_a_no_op() {
    let s = spec();
    let now = t0();
    for st in [
        starting(5, now, 0),
        State::Running { pid: 5, since: now },
        State::Backoff {
            retries: 1,
            until: now + S1,
        },
    ] {
        assert_eq!(step(st.clone(), Event::Start, &s, now), (st, vec![]));
    }
}

#[test]
fn spawned_enters_starting_keeping_retries_from_backoff() {
    let s = spec();
    let now = t0();
    assert_eq!(
        step(State::Stopped, Event::Spawned { pid: 7 }, &s, now).0,
        starting(7, now, 0)
    );
    let backoff = State::Backoff {
        retries: 2,
        until: now,
    };
    assert_eq!(
        step(backoff, Event::Spawned { pid: 7 }, &s, now).0,
        starting(7, now, 2)
    );
}

#[test]
fn starting_becomes_running_after_startsecs_not_before() {
    let s = spec();
    let now = t0();
    let st = starting(7, now, 2);
    assert_eq!(
        step(st.clone(), Event::Deadline, &s, now + S1 / 2),
        (st.clone(), vec![])
    );
    assert_eq!(
        step(st, Event::Deadline, &s, now + S1).0,
        State::Running { pid: 7, since: now }
    );
}

#[test]
fn startsecs_zero_is_running_at_the_first_deadline() {
    let mut s = spec();
    s.startsecs = Duration::ZERO;
    let now = t0();
    let st = starting(7, now, 0);
    assert_eq!(st.deadline(&s), Some(now));
    assert_eq!(
        step(st, Event::Deadline, &s, now).0,
        State::Running { pid: 7, since: now }
    );
}

#[test]
fn early_exit_backs_off_one_more_second_per_retry() {
    let s = spec();
    let now = t0();
    for (retries, delay) in [(0, 1), (1, 2), (2, 3)] {
        let (next, actions) = step(
            starting(7, now, retries),
            Event::Exited {
                pid: 7,
                exit: Exit::Code(0),
            },
            &s,
            now + S1 / 2,
        );
        assert_eq!(
            next,
            State::Backoff {
                retries: retries + 1,
                until: now + S1 / 2 + Duration::from_secs(delay)
            }
        );
        assert!(actions.is_empty());
    }
}

#[test]
fn early_exit_after_startretries_is_fatal() {
    let s = spec();
    let now = t0();
    let ev = Event::Exited {
        pid: 7,
        exit: Exit::Code(1),
    };
    assert_eq!(step(starting(7, now, 3), ev, &s, now).0, State::Fatal);
}

#[test]
fn backoff_retries_at_its_deadline_only() {
    let s = spec();
    let now = t0();
    let st = State::Backoff {
        retries: 1,
        until: now + S1,
    };
    assert_eq!(
        step(st.clone(), Event::Deadline, &s, now),
        (st.clone(), vec![])
    );
    assert_eq!(
        step(st.clone(), Event::Deadline, &s, now + S1),
        (st, vec![Action::Spawn])
    );
}

#[test]
fn spawn_failure_backs_off_then_gives_up() {
    let mut s = spec();
    s.startretries = 1;
    let now = t0();
    let (st, _) = step(State::Stopped, Event::SpawnFailed, &s, now);
    assert_eq!(
        st,
        State::Backoff {
            retries: 1,
            until: now + S1
        }
    );
    assert_eq!(step(st, Event::SpawnFailed, &s, now).0, State::Fatal);
}

#[test]
fn exit_after_startsecs_but_before_promotion_counts_as_running() {
    let s = spec();
    let now = t0();
    let (st, actions) = step(
        starting(7, now, 2),
        Event::Exited {
            pid: 7,
            exit: Exit::Code(0),
        },
        &s,
        now + S1 * 2,
    );
    assert_eq!((st, actions), (State::Exited, vec![]));
}

#[test]
fn autorestart_unexpected_restarts_only_unexpected_codes_and_signals() {
    let s = spec();
    let now = t0();
    let run = State::Running { pid: 7, since: now };
    let exit = |exit| Event::Exited { pid: 7, exit };
    assert_eq!(
        step(run.clone(), exit(Exit::Code(0)), &s, now),
        (State::Exited, vec![])
    );
    assert_eq!(
        step(run.clone(), exit(Exit::Code(3)), &s, now),
        (State::Exited, vec![Action::Spawn])
    );
    let sig = Exit::Signal {
        signal: libc::SIGSEGV,
        core_dumped: true,
    };
    assert_eq!(
        step(run, exit(sig), &s, now),
        (State::Exited, vec![Action::Spawn])
    );
}

#[test]
fn autorestart_true_and_false() {
    let mut s = spec();
    let now = t0();
    let run = State::Running { pid: 7, since: now };
    let ev = Event::Exited {
        pid: 7,
        exit: Exit::Code(0),
    };
    s.autorestart = AutoRestart::Always;
    assert_eq!(
        step(run.clone(), ev, &s, now),
        (State::Exited, vec![Action::Spawn])
    );
    s.autorestart = AutoRestart::Never;
    s.exitcodes = vec![0];
    let ev = Event::Exited {
        pid: 7,
        exit: Exit::Code(9),
    };
    assert_eq!(step(run, ev, &s, now), (State::Exited, vec![]));
}

#[test]
fn crash_with_killasgroup_kills_the_family_too() {
    let mut s = spec();
    s.killasgroup = true;
    let now = t0();
    let ev = Event::Exited {
        pid: 7,
        exit: Exit::Code(1),
    };
    assert_eq!(
        step(State::Running { pid: 7, since: now }, ev, &s, now),
        (State::Exited, vec![Action::KillFamily, Action::Spawn])
    );
}

#[test]
fn exit_of_another_pid_changes_nothing() {
    let s = spec();
    let now = t0();
    let run = State::Running { pid: 7, since: now };
    let ev = Event::Exited {
        pid: 8,
        exit: Exit::Code(1),
    };
    assert_eq!(step(run.clone(), ev, &s, now), (run, vec![]));
}

#[test]
fn stop_sends_stopsignal_to_pid_or_group() {
    let mut s = spec();
    let now = t0();
    let run = State::Running { pid: 7, since: now };
    let stopping = State::Stopping {
        pid: Some(7),
        deadline: now + Duration::from_secs(10),
        then: AfterStop::Stay,
    };
    assert_eq!(
        step(run.clone(), Event::Stop, &s, now),
        (stopping.clone(), vec![TERM])
    );
    s.stopasgroup = true;
    s.stopsignal = libc::SIGINT;
    assert_eq!(
        step(starting(7, now, 0), Event::Stop, &s, now),
        (
            stopping,
            vec![Action::Signal {
                signal: libc::SIGINT,
                group: true
            }]
        )
    );
}

#[test]
fn stop_in_backoff_is_immediate() {
    let s = spec();
    let now = t0();
    let st = State::Backoff {
        retries: 1,
        until: now + S1,
    };
    assert_eq!(step(st, Event::Stop, &s, now), (State::Stopped, vec![]));
}

#[test]
fn stop_when_stopped_is_a_no_op() {
    let s = spec();
    for st in [State::Stopped, State::Exited, State::Fatal] {
        assert_eq!(step(st.clone(), Event::Stop, &s, t0()), (st, vec![]));
    }
}

#[test]
fn stopwaitsecs_escalates_to_sigkill_and_repeats() {
    let mut s = spec();
    s.stopwaitsecs = Duration::from_secs(2);
    let now = t0();
    let st = State::Stopping {
        pid: Some(7),
        deadline: now + S1 * 2,
        then: AfterStop::Stay,
    };
    assert_eq!(
        step(st.clone(), Event::Deadline, &s, now + S1),
        (st.clone(), vec![])
    );
    let later = now + S1 * 2;
    let (st2, actions) = step(st, Event::Deadline, &s, later);
    assert_eq!(actions, vec![Action::Kill { group: false }]);
    assert_eq!(
        st2,
        State::Stopping {
            pid: Some(7),
            deadline: later + S1 * 2,
            then: AfterStop::Stay
        }
    );
    s.killasgroup = true;
    assert_eq!(
        step(st2, Event::Deadline, &s, later + S1 * 2).1,
        vec![Action::Kill { group: true }]
    );
}

#[test]
fn exit_while_stopping_is_stopped_whatever_the_code() {
    let s = spec();
    let now = t0();
    let st = State::Stopping {
        pid: Some(7),
        deadline: now,
        then: AfterStop::Stay,
    };
    let ev = Event::Exited {
        pid: 7,
        exit: Exit::Signal {
            signal: libc::SIGKILL,
            core_dumped: false,
        },
    };
    assert_eq!(step(st, ev, &s, now), (State::Stopped, vec![]));
}

#[test]
fn killasgroup_waits_for_the_family_before_stopped() {
    let mut s = spec();
    s.killasgroup = true;
    let now = t0();
    let st = State::Stopping {
        pid: Some(7),
        deadline: now,
        then: AfterStop::Start,
    };
    let ev = Event::Exited {
        pid: 7,
        exit: Exit::Code(0),
    };
    let (st, actions) = step(st, ev, &s, now);
    assert_eq!(actions, vec![Action::KillFamily]);
    assert_eq!(st.pid(), None);
    assert_eq!(st.name(), ProcessState::Stopping);
    // Re-kill at the deadline if something is stuck.
    let (st, actions) = step(st, Event::Deadline, &s, now + s.stopwaitsecs);
    assert_eq!(actions, vec![Action::KillFamily]);
    assert_eq!(
        step(st, Event::FamilyGone, &s, now),
        (State::Stopped, vec![Action::Spawn])
    );
}

#[test]
fn restart_stops_then_starts() {
    let s = spec();
    let now = t0();
    let (st, actions) = step(
        State::Running { pid: 7, since: now },
        Event::Restart,
        &s,
        now,
    );
    assert_eq!(actions, vec![TERM]);
    let ev = Event::Exited {
        pid: 7,
        exit: Exit::Code(0),
    };
    assert_eq!(step(st, ev, &s, now), (State::Stopped, vec![Action::Spawn]));
}

#[test]
fn restart_of_a_stopped_or_backing_off_process_spawns_now() {
    let s = spec();
    let now = t0();
    assert_eq!(
        step(State::Fatal, Event::Restart, &s, now),
        (State::Fatal, vec![Action::Spawn])
    );
    let st = State::Backoff {
        retries: 2,
        until: now + S1,
    };
    assert_eq!(
        step(st, Event::Restart, &s, now),
        (State::Stopped, vec![Action::Spawn])
    );
}

#[test]
fn stop_during_a_restart_cancels_the_start_and_vice_versa() {
    let s = spec();
    let now = t0();
    let st = State::Stopping {
        pid: Some(7),
        deadline: now,
        then: AfterStop::Start,
    };
    let (st, _) = step(st, Event::Stop, &s, now);
    assert!(matches!(
        st,
        State::Stopping {
            then: AfterStop::Stay,
            ..
        }
    ));
    let (st, _) = step(st, Event::Start, &s, now);
    assert!(matches!(
        st,
        State::Stopping {
            then: AfterStop::Start,
            ..
        }
    ));
}

#[test]
fn deadlines_per_state() {
    let s = spec();
    let now = t0();
    assert_eq!(State::Stopped.deadline(&s), None);
    assert_eq!(State::Running { pid: 1, since: now }.deadline(&s), None);
    assert_eq!(starting(1, now, 0).deadline(&s), Some(now + S1));
}

#[test]
fn infinite_retries_never_reach_fatal_and_the_delay_is_capped() {
    let mut s = spec();
    s.startretries = crate::config::INFINITE_RETRIES;
    s.backoff_max = Duration::from_secs(30);
    let now = t0();
    let mut st = State::Stopped;
    for k in 1..=200u32 {
        let (next, _) = step(st, Event::SpawnFailed, &s, now);
        match next {
            State::Backoff { retries, until } => {
                assert_eq!(retries, k);
                assert_eq!(until - now, Duration::from_secs(u64::from(k).min(30)));
            }
            ref other => panic!("retry {k}: {other:?}"),
        }
        st = next;
    }
}

#[test]
fn exponential_backoff_doubles_up_to_its_cap() {
    let mut s = spec();
    s.backoff = crate::config::Backoff::Exponential;
    s.backoff_max = Duration::from_secs(60);
    // Nominal 1, 2, 4 ... capped at 60, each less up to 20 % of jitter.
    for (k, nominal) in (1..=9).zip([1u64, 2, 4, 8, 16, 32, 60, 60, 60]) {
        let d = backoff_delay(k, &s, 4242);
        let n = Duration::from_secs(nominal);
        assert!(d <= n && d >= n.mul_f64(0.8), "retry {k}: {d:?}");
        // Pure: the same inputs, the same delay.
        assert_eq!(d, backoff_delay(k, &s, 4242));
    }
    // Different failed attempts (pids) spread their retries.
    let spread: std::collections::BTreeSet<Duration> =
        (0..50).map(|pid| backoff_delay(6, &s, pid)).collect();
    assert!(spread.len() > 40, "{spread:?}");
    assert!(backoff_delay(u32::MAX, &s, 1) <= Duration::from_secs(60));
    // Linear, supervisord's: exactly k seconds; a huge k is capped, never
    // overflows.
    s.backoff = crate::config::Backoff::Linear;
    assert_eq!(backoff_delay(3, &s, 4242), Duration::from_secs(3));
    assert_eq!(backoff_delay(u32::MAX, &s, 1), Duration::from_secs(60));
}
