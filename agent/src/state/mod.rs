//! The process state machine: supervisord's states and transitions as a pure
//! function. No I/O, no clock: `now` is a parameter and effects come back as
//! [`Action`]s for the supervisor loop to perform.
//!
//! | from | event | to | actions |
//! |---|---|---|---|
//! | STOPPED/EXITED/FATAL | Start, Restart | (same) | Spawn |
//! | BACKOFF | Restart | STOPPED | Spawn (fresh retry count) |
//! | BACKOFF | deadline (`until`) | (same) | Spawn |
//! | any | Spawned | STARTING | — |
//! | any | SpawnFailed | BACKOFF, or FATAL after `startretries` | — |
//! | STARTING | deadline (`since + startsecs`) | RUNNING | — |
//! | STARTING | Exited before `startsecs` | BACKOFF / FATAL | — |
//! | STARTING/RUNNING | Exited after `startsecs` | EXITED | Spawn if `autorestart` says so; KillFamily with killasgroup |
//! | STARTING/RUNNING | Stop, Restart | STOPPING | Signal(stopsignal, stopasgroup) |
//! | BACKOFF | Stop | STOPPED | — |
//! | STOPPING | deadline (`stopwaitsecs`) | STOPPING | Kill(killasgroup), deadline re-armed |
//! | STOPPING | Exited, killasgroup | STOPPING (no pid) | KillFamily |
//! | STOPPING (no pid) | FamilyGone | STOPPED | Spawn if a restart is pending |
//! | STOPPING | Exited | STOPPED | Spawn if a restart is pending |
//!
//! The backoff delay before retry k is k seconds, as in supervisord
//! (`backoff = "linear"`), or 2^(k-1) seconds less up to 20 % of jitter
//! (`"exponential"`), at most `backoff_max`; `startretries = "infinite"`
//! never reaches FATAL.

use crate::config::{AutoRestart, Backoff, ProcessSpec};
use fleet_api::ProcessState;
use std::time::{Duration, Instant};

/// What happens once a stop completes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AfterStop {
    Stay,
    Start,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum State {
    Stopped,
    Starting {
        pid: u32,
        since: Instant,
        /// Failed attempts before this one (supervisord's `backoff`).
        retries: u32,
    },
    Running {
        pid: u32,
        since: Instant,
    },
    Backoff {
        retries: u32,
        until: Instant,
    },
    Stopping {
        /// `None` once the main process is gone and only its family is
        /// being killed (killasgroup).
        pid: Option<u32>,
        deadline: Instant,
        then: AfterStop,
    },
    Exited,
    Fatal,
}

/// How a process ended, as the reaper saw it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    Code(i32),
    Signal { signal: i32, core_dumped: bool },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    /// Operator start, or autostart.
    Start,
    Stop,
    /// One verb: stop if running, then start.
    Restart,
    Spawned {
        pid: u32,
    },
    SpawnFailed,
    Exited {
        pid: u32,
        exit: Exit,
    },
    /// No member of a stopped process's family is left (killasgroup).
    FamilyGone,
    /// The state's deadline has passed.
    Deadline,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Spawn,
    /// Send `signal` to the pid, or to its group and family when `group`.
    Signal {
        signal: i32,
        group: bool,
    },
    /// SIGKILL to the pid, or to its group and family when `group`.
    Kill {
        group: bool,
    },
    /// SIGKILL every remaining member of the process's family; feed
    /// `FamilyGone` when none is left.
    KillFamily,
}

impl State {
    pub fn name(&self) -> ProcessState {
        match self {
            Self::Stopped => ProcessState::Stopped,
            Self::Starting { .. } => ProcessState::Starting,
            Self::Running { .. } => ProcessState::Running,
            Self::Backoff { .. } => ProcessState::Backoff,
            Self::Stopping { .. } => ProcessState::Stopping,
            Self::Exited => ProcessState::Exited,
            Self::Fatal => ProcessState::Fatal,
        }
    }

    pub fn pid(&self) -> Option<u32> {
        match *self {
            Self::Starting { pid, .. } | Self::Running { pid, .. } => Some(pid),
            Self::Stopping { pid, .. } => pid,
            _ => None,
        }
    }

    /// When this state next needs attention without any outside event.
    pub fn deadline(&self, spec: &ProcessSpec) -> Option<Instant> {
        match *self {
            Self::Starting { since, .. } => Some(since + spec.startsecs),
            Self::Backoff { until, .. } => Some(until),
            Self::Stopping { deadline, .. } => Some(deadline),
            _ => None,
        }
    }
}

/// `salt` is the failed attempt's pid (0 when the spawn itself failed):
/// it spreads exponential delays (see [`backoff_delay`]).
fn backoff_or_fatal(retries: u32, spec: &ProcessSpec, now: Instant, salt: u32) -> State {
    let retries = retries.saturating_add(1);
    if retries > spec.startretries {
        State::Fatal
    } else {
        State::Backoff {
            retries,
            until: now + backoff_delay(retries, spec, salt),
        }
    }
}

/// The delay before retry `k` (1-based). Linear is supervisord's, exact.
/// Exponential takes up to 20 % off (never more than `backoff_max`), by a
/// hash of the process, the retry and `salt` (the failed attempt's pid):
/// processes (and hosts) that failed together do not all retry together,
/// and the function stays pure.
pub fn backoff_delay(k: u32, spec: &ProcessSpec, salt: u32) -> Duration {
    let nominal = match spec.backoff {
        Backoff::Linear => return Duration::from_secs(u64::from(k)).min(spec.backoff_max),
        Backoff::Exponential => {
            Duration::from_secs(1u64 << (k.saturating_sub(1)).min(40)).min(spec.backoff_max)
        }
    };
    use std::hash::{Hash, Hasher};
    let mut h = std::hash::DefaultHasher::new();
    (&spec.group, &spec.name, k, salt).hash(&mut h);
    // u in [0, 1): the top 24 bits of the hash.
    let u = (h.finish() >> 40) as f64 / (1u64 << 24) as f64;
    nominal.mul_f64(1.0 - 0.2 * u)
}

/// Whether an exit code counts as expected (`exitcodes`); a signal death never does.
pub fn is_expected(exit: Exit, spec: &ProcessSpec) -> bool {
    matches!(exit, Exit::Code(c) if spec.exitcodes.contains(&c))
}

fn exited_from_running(exit: Exit, spec: &ProcessSpec) -> (State, Vec<Action>) {
    let mut actions = Vec::new();
    if spec.killasgroup {
        actions.push(Action::KillFamily);
    }
    let restart = match spec.autorestart {
        AutoRestart::Always => true,
        AutoRestart::Never => false,
        AutoRestart::Unexpected => !is_expected(exit, spec),
    };
    if restart {
        actions.push(Action::Spawn);
    }
    (State::Exited, actions)
}

fn begin_stop(pid: u32, spec: &ProcessSpec, now: Instant, then: AfterStop) -> (State, Vec<Action>) {
    (
        State::Stopping {
            pid: Some(pid),
            deadline: now + spec.stopwaitsecs,
            then,
        },
        vec![Action::Signal {
            signal: spec.stopsignal,
            group: spec.stopasgroup,
        }],
    )
}

fn after_stop(then: AfterStop) -> (State, Vec<Action>) {
    match then {
        AfterStop::Stay => (State::Stopped, vec![]),
        AfterStop::Start => (State::Stopped, vec![Action::Spawn]),
    }
}

/// The transition function. Events that do not apply to a state leave it
/// unchanged with no action (e.g. an exit of a pid that is not ours).
// One match over (state, event), the table in this file's header arm by
// arm: longer than ~120 lines on purpose, so the whole machine reads in
// one place.
pub fn transition(
    state: &State,
    event: Event,
    spec: &ProcessSpec,
    now: Instant,
) -> (State, Vec<Action>) {
    use Event as E;
    use State as S;
    let same = || (state.clone(), vec![]);
    match (state, event) {
        // Starting.
        (S::Stopped | S::Exited | S::Fatal, E::Start | E::Restart) => {
            (state.clone(), vec![Action::Spawn])
        }
        (S::Backoff { .. }, E::Restart) => (S::Stopped, vec![Action::Spawn]),
        (S::Backoff { until, .. }, E::Deadline) if now >= *until => {
            (state.clone(), vec![Action::Spawn])
        }
        (_, E::Spawned { pid }) => {
            let retries = match state {
                S::Backoff { retries, .. } => *retries,
                _ => 0,
            };
            (
                S::Starting {
                    pid,
                    since: now,
                    retries,
                },
                vec![],
            )
        }
        (_, E::SpawnFailed) => {
            let retries = match state {
                S::Backoff { retries, .. } => *retries,
                _ => 0,
            };
            (backoff_or_fatal(retries, spec, now, 0), vec![])
        }
        (S::Starting { pid, since, .. }, E::Deadline) if now >= *since + spec.startsecs => (
            S::Running {
                pid: *pid,
                since: *since,
            },
            vec![],
        ),

        // Exits.
        (
            S::Starting {
                pid,
                since,
                retries,
            },
            E::Exited { pid: p, exit },
        ) if *pid == p => {
            if now.duration_since(*since) >= spec.startsecs {
                // Up long enough; the promotion just had not run yet (T8).
                exited_from_running(exit, spec)
            } else {
                let next = backoff_or_fatal(*retries, spec, now, *pid);
                let actions = if spec.killasgroup {
                    vec![Action::KillFamily]
                } else {
                    vec![]
                };
                (next, actions)
            }
        }
        (S::Running { pid, .. }, E::Exited { pid: p, exit }) if *pid == p => {
            exited_from_running(exit, spec)
        }
        (
            S::Stopping {
                pid: Some(pid),
                then,
                ..
            },
            E::Exited { pid: p, .. },
        ) if *pid == p => {
            if spec.killasgroup {
                (
                    S::Stopping {
                        pid: None,
                        deadline: now + spec.stopwaitsecs,
                        then: *then,
                    },
                    vec![Action::KillFamily],
                )
            } else {
                after_stop(*then)
            }
        }
        (
            S::Stopping {
                pid: None, then, ..
            },
            E::FamilyGone,
        ) => after_stop(*then),

        // Stopping.
        (S::Starting { pid, .. } | S::Running { pid, .. }, E::Stop) => {
            begin_stop(*pid, spec, now, AfterStop::Stay)
        }
        (S::Starting { pid, .. } | S::Running { pid, .. }, E::Restart) => {
            begin_stop(*pid, spec, now, AfterStop::Start)
        }
        (S::Backoff { .. }, E::Stop) => (S::Stopped, vec![]),
        (S::Stopping { pid, deadline, .. }, E::Stop) => (
            S::Stopping {
                pid: *pid,
                deadline: *deadline,
                then: AfterStop::Stay,
            },
            vec![],
        ),
        (S::Stopping { pid, deadline, .. }, E::Start | E::Restart) => (
            S::Stopping {
                pid: *pid,
                deadline: *deadline,
                then: AfterStop::Start,
            },
            vec![],
        ),
        (
            S::Stopping {
                pid,
                deadline,
                then,
            },
            E::Deadline,
        ) if now >= *deadline => {
            // SIGKILL, repeated every stopwaitsecs while anything survives.
            let action = match pid {
                Some(_) => Action::Kill {
                    group: spec.killasgroup,
                },
                None => Action::KillFamily,
            };
            (
                S::Stopping {
                    pid: *pid,
                    deadline: now + spec.stopwaitsecs,
                    then: *then,
                },
                vec![action],
            )
        }
        _ => same(),
    }
}

#[cfg(test)]
mod tests;
