//! The owner's side of an in-place re-exec (`crate::reexec`): [`Table`]
//! is the process table as the old image hands it over — every field a
//! program's supervision depends on, instants as time elapsed or left —
//! and `Owner::adopt` makes it the new image's table without spawning or
//! signalling anything. Health verdicts and their counts are carried (the
//! next probe runs within a second), and so are event listeners
//! (`listeners_handoff.rs`). What is not carried starts afresh: a leftover
//! hunt (the next exit starts one).

use super::listeners_handoff::Listening;
use super::table::unix_ms;
use super::Owner;
use crate::logs::handoff::Tag;
use crate::logs::spawn_tagged_pump;
use crate::state::{AfterStop, State};
use fleet_api::{ExitInfo, Wanted};
use serde::{Deserialize, Serialize};
use std::os::fd::OwnedFd;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The owner's table in the hand-off (unknown fields are ignored when
/// read, so a newer image's additions do not stop an older one).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Table {
    pub agent_id: String,
    /// Spawns so far (the last part of each spawn's mark).
    pub spawn_seq: u64,
    pub started_at: u64,
    pub next_event_seq: u64,
    pub events: Vec<fleet_api::Event>,
    /// Starts held for their dependencies.
    pub waiting: Vec<String>,
    pub processes: Vec<ProcRecord>,
    /// Event listeners: pools, serials, each link's pipes and state
    /// (format 1.1; absent from 1.0).
    #[serde(default)]
    pub listening: Option<Listening>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ProcRecord {
    pub name: String,
    pub state: StateRecord,
    pub wanted: Wanted,
    pub attempts: u64,
    pub spawns: u64,
    pub started_at: Option<u64>,
    pub state_since: u64,
    pub last_pid: Option<u32>,
    pub mark: String,
    pub last_exit: Option<ExitInfo>,
    pub exits: Vec<ExitInfo>,
    pub exits_unasked: u32,
    pub exits_by_minute: Vec<(u64, u32)>,
    pub spawn_error: Option<String>,
    pub leftovers: u32,
    pub restart_reason: Option<String>,
    pub waiting_for: Option<String>,
    #[serde(default)]
    pub removing: bool,
    /// The health check's verdict for the running spawn (an older
    /// hand-off has none: the checks start over).
    #[serde(default)]
    pub health: Option<crate::health::Carried>,
}

/// `State` with its instants as milliseconds elapsed (`since`) or left
/// (`until`, `deadline`): monotonic clocks survive an exec, but a record
/// that reads the same on any clock is easier to check.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "name", rename_all = "SCREAMING_SNAKE_CASE")]
pub enum StateRecord {
    Stopped,
    Starting {
        pid: u32,
        elapsed_ms: u64,
        retries: u32,
    },
    Running {
        pid: u32,
        elapsed_ms: u64,
    },
    Backoff {
        retries: u32,
        remaining_ms: u64,
    },
    Stopping {
        pid: Option<u32>,
        remaining_ms: u64,
        then_start: bool,
    },
    Exited,
    Fatal,
}

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

impl StateRecord {
    fn of(s: &State, now: Instant) -> StateRecord {
        let left = |t: &Instant| ms(t.saturating_duration_since(now));
        match s {
            State::Stopped => Self::Stopped,
            State::Starting {
                pid,
                since,
                retries,
            } => Self::Starting {
                pid: *pid,
                elapsed_ms: ms(now.saturating_duration_since(*since)),
                retries: *retries,
            },
            State::Running { pid, since } => Self::Running {
                pid: *pid,
                elapsed_ms: ms(now.saturating_duration_since(*since)),
            },
            State::Backoff { retries, until } => Self::Backoff {
                retries: *retries,
                remaining_ms: left(until),
            },
            State::Stopping {
                pid,
                deadline,
                then,
            } => Self::Stopping {
                pid: *pid,
                remaining_ms: left(deadline),
                then_start: *then == AfterStop::Start,
            },
            State::Exited => Self::Exited,
            State::Fatal => Self::Fatal,
        }
    }

    fn state(&self, now: Instant) -> State {
        let ago = |ms: u64| now.checked_sub(Duration::from_millis(ms)).unwrap_or(now);
        let ahead = |ms: u64| now + Duration::from_millis(ms);
        match *self {
            Self::Stopped => State::Stopped,
            Self::Starting {
                pid,
                elapsed_ms,
                retries,
            } => State::Starting {
                pid,
                since: ago(elapsed_ms),
                retries,
            },
            Self::Running { pid, elapsed_ms } => State::Running {
                pid,
                since: ago(elapsed_ms),
            },
            Self::Backoff {
                retries,
                remaining_ms,
            } => State::Backoff {
                retries,
                until: ahead(remaining_ms),
            },
            Self::Stopping {
                pid,
                remaining_ms,
                then_start,
            } => State::Stopping {
                pid,
                deadline: ahead(remaining_ms),
                then: if then_start {
                    AfterStop::Start
                } else {
                    AfterStop::Stay
                },
            },
            Self::Exited => State::Exited,
            Self::Fatal => State::Fatal,
        }
    }
}

fn time(ms: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(ms)
}

impl Owner {
    /// Why the table cannot be handed over now, if it cannot.
    /// (step, why): the step is `config`, `freeze`, or `check-resume`
    /// (the new image would not carry the listeners: `!listeners`).
    pub(super) fn unfit_for_handoff(
        &self,
        fresh: &crate::config::Config,
        listeners: bool,
    ) -> Option<(&'static str, String)> {
        if self.shutdown.levels.is_some() {
            return Some(("freeze", "the agent is shutting down".into()));
        }
        // The new image reads the file: it must be what this image runs.
        if *fresh != self.config {
            return Some((
                "config",
                format!(
                    "{} differs from the config the agent runs; reload it (or put it back) first",
                    fresh.source.display()
                ),
            ));
        }
        if listeners {
            return None;
        }
        self.procs
            .iter()
            .find(|p| p.spec.listener.is_some() && p.state.pid().is_some())
            .map(|p| {
                let why = format!(
                    "the new binary's state format does not carry event listeners, and {} is running; stop it first",
                    p.full_name()
                );
                ("check-resume", why)
            })
    }

    /// The table as it stands, for the new image, with `listening` (what
    /// `hand_off_listeners` recorded).
    pub(super) fn table(&self, started_at: u64, listening: Listening) -> Table {
        let now = Instant::now();
        let (next_event_seq, events) = self.events.export();
        Table {
            agent_id: self.agent_id.clone(),
            spawn_seq: self.spawning.seq,
            started_at,
            next_event_seq,
            events,
            waiting: self.order.waiting.iter().cloned().collect(),
            processes: self
                .procs
                .iter()
                .map(|p| ProcRecord {
                    name: p.full_name(),
                    state: StateRecord::of(&p.state, now),
                    wanted: p.wanted,
                    attempts: p.attempts,
                    spawns: p.spawns,
                    started_at: p.started_at.map(unix_ms),
                    state_since: unix_ms(p.state_since),
                    last_pid: p.last_pid,
                    mark: p.mark.clone(),
                    last_exit: p.last_exit.clone(),
                    exits: p.exits.iter().cloned().collect(),
                    exits_unasked: p.exits_unasked,
                    exits_by_minute: p.exits_by_minute.clone(),
                    spawn_error: p.spawn_error.clone(),
                    leftovers: p.leftovers,
                    restart_reason: p.restart_reason.clone(),
                    waiting_for: p.waiting_for.clone(),
                    removing: p.removing,
                    health: p.health.as_ref().map(|h| h.tracker.carry()),
                })
                .collect(),
            listening: Some(listening),
        }
    }

    /// Take over `table` and the pipes of its programs: pids registered,
    /// states with their deadlines, pumps on the same pipes. A process the
    /// config no longer has cannot be in the table (the old image refuses
    /// a re-exec while its config file differs from what it runs).
    pub(super) fn adopt(&mut self, table: Table, pipes: Vec<(Tag, OwnedFd)>) {
        let now = Instant::now();
        self.agent_id = table.agent_id;
        self.spawning.seq = table.spawn_seq;
        for r in table.processes {
            let Some(&i) = self.index.get(&r.name) else {
                tracing::error!(process = %r.name, pid = ?r.last_pid, "a handed-over process is not in the config; it is no longer supervised");
                continue;
            };
            let p = &mut self.procs[i];
            p.state = r.state.state(now);
            p.wanted = r.wanted;
            p.attempts = r.attempts;
            p.spawns = r.spawns;
            p.started_at = r.started_at.map(time);
            p.state_since = time(r.state_since);
            p.last_pid = r.last_pid;
            p.mark = r.mark;
            p.last_exit = r.last_exit;
            p.exits = r.exits.into_iter().collect();
            p.exits_unasked = r.exits_unasked;
            p.exits_by_minute = r.exits_by_minute;
            p.spawn_error = r.spawn_error;
            p.leftovers = r.leftovers;
            p.restart_reason = r.restart_reason;
            p.waiting_for = r.waiting_for;
            p.removing = r.removing;
            if let Some(pid) = p.state.pid() {
                self.pids.insert(pid, r.name.clone());
                let name = r.name.clone();
                p.stdout.forward_as(&name, false);
                p.stderr.forward_as(&name, true);
                Owner::tap_output(p, pid, &self.listening.taps);
            }
            self.health_follow(i);
            let p = &mut self.procs[i];
            if let (Some(c), Some(run)) = (r.health, p.health.as_mut()) {
                run.tracker.resume(c);
            }
        }
        self.order.waiting = table.waiting.into_iter().collect();
        self.repump(pipes);
        self.publishing.dirty = true;
    }

    /// A pump again on each pipe, into its process's stream.
    pub(super) fn repump(&mut self, pipes: super::Pipes) {
        let _g = self.spawning.io.enter();
        for (tag, fd) in pipes {
            let Some(&i) = self.index.get(&tag.name) else {
                continue; // dropped: the pipe closes, its writer sees EPIPE
            };
            let p = &self.procs[i];
            let stream = if tag.stderr { &p.stderr } else { &p.stdout };
            let pump = spawn_tagged_pump(fd, stream.clone(), tag);
            self.spawning.pumps.push(pump);
        }
    }
}
