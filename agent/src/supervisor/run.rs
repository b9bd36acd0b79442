//! The owner loop: waits on its closed set of inputs, applies events to
//! the table through the pure state machine and performs the resulting
//! actions. The owner's other rooms: `lifecycle.rs` (spawn, reap, kill the
//! family), `verbs.rs`, `reload.rs`, `shutdown.rs`. The only place that
//! spawns and reaps, so a pid is registered before its exit can be seen.

use super::table::{unix_ms, Proc};
use super::Owner;
use super::{Command, EventLog, Handle, Snapshot};
use crate::config::Config;
use crate::state::{transition, Action, Event};
use fleet_api::{ProcessState, Wanted};
use std::collections::HashMap;
use std::os::fd::OwnedFd;
use std::sync::Arc;
use std::time::{Instant, SystemTime};
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

/// What the owner hands back when it is done: the log pumps still draining.
pub struct Exit {
    pub pumps: Vec<JoinHandle<()>>,
}

/// Start the supervisor on its own thread. `io` is the runtime that runs
/// log pumps. The returned receiver yields once every process is stopped
/// after a shutdown ([`Command::Shutdown`], which the caller sends on
/// SIGTERM/SIGINT, or the command channel closing).
pub fn start(
    config: Config,
    io: tokio::runtime::Handle,
) -> std::io::Result<(Handle, tokio::sync::oneshot::Receiver<Exit>)> {
    launch(config, io, None)
}

/// What a re-executed image takes over (`adopt.rs`).
pub struct Adopted {
    pub table: super::adopt::Table,
    /// The log tails, restored before any pump runs (`logs/carry.rs`).
    pub tails: crate::logs::carry::Received,
    pub pipes: Vec<(crate::logs::handoff::Tag, OwnedFd)>,
    /// The listeners' pipes the table names, by number
    /// (`listeners_handoff.rs`).
    pub listener_fds: HashMap<std::os::fd::RawFd, OwnedFd>,
}

/// As [`start`], taking over a previous image's table and pipes instead of
/// starting anything: nothing is spawned or signalled, what exited during
/// the re-exec is reaped at once.
pub fn start_adopting(
    config: Config,
    io: tokio::runtime::Handle,
    adopted: Adopted,
) -> std::io::Result<(Handle, tokio::sync::oneshot::Receiver<Exit>)> {
    launch(config, io, Some(adopted))
}

fn launch(
    config: Config,
    io: tokio::runtime::Handle,
    mut adopted: Option<Adopted>,
) -> std::io::Result<(Handle, tokio::sync::oneshot::Receiver<Exit>)> {
    let (tx, rx) = mpsc::channel(256);
    let (snap_tx, snap_rx) = watch::channel(Arc::new(Snapshot::default()));
    let events = Arc::new(match &adopted {
        Some(a) => EventLog::restore(a.table.next_event_seq, a.table.events.clone()),
        None => EventLog::new(),
    });
    let handle = Handle {
        commands: tx,
        snapshot: snap_rx,
        events: events.clone(),
        host: config.agent.host.clone(),
        started_at: adopted
            .as_ref()
            .map_or_else(|| unix_ms(SystemTime::now()), |a| a.table.started_at),
        listen: None,
    };
    let devnull: OwnedFd = std::fs::File::open("/dev/null")?.into();
    let mut procs = Vec::new();
    for spec in &config.processes {
        let p = Proc::new(spec.clone());
        if let Some(e) = &p.log_error {
            tracing::error!(process = %p.full_name(), "{e}");
        }
        procs.push(p);
    }
    if let Some(a) = adopted.as_mut() {
        let names: Vec<String> = procs.iter().map(Proc::full_name).collect();
        let streams = procs.iter().zip(&names);
        a.tails
            .restore(streams.map(|(p, n)| (n.as_str(), &p.stdout, &p.stderr)));
    }
    let (done_tx, done_rx) = tokio::sync::oneshot::channel();
    let (health, checks) = super::health::Parts::new();
    let (listening, heard) = super::listeners::Parts::new();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    // Signal handlers are installed before the first spawn so no SIGCHLD is
    // missed.
    // `enter`, not `block_on`: the caller may itself be inside a runtime.
    let signals = {
        let _ctx = rt.enter();
        Signals::new()?
    };
    // Beside tokio's handler: when each SIGCHLD arrived (`crate::lag`).
    crate::sys::signal::stamp_sigchld()?;
    let agent_id = super::previous::identity(&config.agent.socket);
    let mut owner = Owner {
        config,
        procs,
        index: HashMap::new(),
        pids: HashMap::new(),
        events,
        spawning: super::lifecycle::Parts {
            devnull,
            io,
            pumps: Vec::new(),
            seq: 0,
        },
        agent_pid: std::process::id(),
        agent_id,
        shutdown: super::shutdown::Parts::default(),
        leftovers: super::leftovers::Parts::default(),
        publishing: super::publish::Parts::new(snap_tx),
        health,
        order: super::order::Parts::default(),
        listening,
    };
    owner.reindex();
    let started_at = handle.started_at;
    match adopted {
        Some(mut a) => {
            let listening = a.table.listening.take();
            if let Some(l) = &listening {
                owner.resume_listening(l);
            }
            owner.listeners_configured();
            owner.adopt(a.table, a.pipes);
            let links = listening.map(|l| l.links).unwrap_or_default();
            owner.relink(links, a.listener_fds);
            // Children that exited while no image was reaping are zombies
            // until now: each exit is seen here, once.
            owner.reap();
        }
        None => {
            // Never twice: what a previous incarnation left running goes first.
            owner.stop_previous();
            // Pools before the first spawn, so listeners hear every start (and
            // supervisord's PROCESS_GROUP_ADDED for each group).
            owner.listeners_configured();
            // Autostart before returning, so the first status anyone can read
            // already shows every process and no API call races the first spawns.
            owner.autostart();
            owner.notify(crate::listener::event::Event::supervisor(
                crate::listener::event::Kind::SupervisorStateChangeRunning,
            ));
        }
    }
    owner.publish();
    std::thread::Builder::new()
        .name("supervisor".into())
        .spawn(move || {
            // The one thread that takes TERM/INT/HUP/USR2/CHLD: `main`
            // blocked them before any thread existed, so every other
            // thread inherits the block; every handler is in place by
            // now. A re-exec's freeze blocks them here too
            // (`Command::Freeze`), so one arriving in the window waits,
            // pending, through `execve` for the next image.
            crate::sys::exec::unblock_window_signals();
            let exit = rt.block_on(owner.run(rx, checks, heard, signals, started_at));
            let _ = done_tx.send(exit);
        })?;
    Ok((handle, done_rx))
}

struct Signals {
    chld: tokio::signal::unix::Signal,
    hup: tokio::signal::unix::Signal,
    usr2: tokio::signal::unix::Signal,
}

impl Signals {
    pub(super) fn new() -> std::io::Result<Signals> {
        Ok(Signals {
            chld: signal(SignalKind::child())?,
            hup: signal(SignalKind::hangup())?,
            usr2: signal(SignalKind::user_defined2())?,
        })
    }
}

impl Owner {
    /// Start what is wanted running, lowest priority number first.
    pub(super) fn autostart(&mut self) {
        let mut order: Vec<String> = self
            .procs
            .iter()
            .filter(|p| p.wanted == Wanted::Running)
            .map(|p| p.full_name())
            .collect();
        order.sort_by_key(|n| (self.start_key(n), n.clone()));
        for name in order {
            if let Err(why) = self.start_ordered(&name, Event::Start) {
                tracing::warn!(process = %name, "{why}");
            }
        }
    }

    async fn run(
        mut self,
        mut rx: mpsc::Receiver<Command>,
        mut checks: mpsc::UnboundedReceiver<super::health::Done>,
        mut heard: super::listeners::Inputs,
        mut sig: Signals,
        started_at: u64,
    ) -> Exit {
        loop {
            self.fire_deadlines();
            self.sweep();
            self.release_waiting();
            self.dispatch();
            if self.advance_shutdown() {
                self.publish();
                break;
            }
            self.publish();
            let next = self.next_deadline();
            // Not `biased`: under a crash storm SIGCHLD is always ready, and
            // polling it first starved commands (stop, SIGTERM's Shutdown),
            // reloads and deadlines. Each ready input gets its turn at
            // random; a restart still happens in the wake-up that reaps.
            tokio::select! {
                _ = sig.chld.recv() => {
                    let arrived = crate::sys::signal::take_sigchld_stamp();
                    self.reap();
                    crate::lag::sigchld_handled(arrived);
                }
                _ = sig.hup.recv() => {
                    match self.reload(None) {
                        Ok(r) => tracing::info!(added = ?r.added, changed = ?r.changed, removed = ?r.removed, "reloaded on SIGHUP"),
                        Err(e) => tracing::error!("reload on SIGHUP refused: {e}"),
                    }
                    self.listeners_configured();
                }
                _ = sig.usr2.recv() => self.reopen_logs(),
                Some(done) = checks.recv() => {
                    // Every answer already in: one pass of the loop for a
                    // burst of checks.
                    self.health_result(done);
                    while let Ok(done) = checks.try_recv() {
                        self.health_result(done);
                    }
                }
                Some(h) = heard.heard.recv() => {
                    self.heard(h);
                    while let Ok(h) = heard.heard.try_recv() {
                        self.heard(h);
                    }
                }
                Some(t) = heard.tapped.recv() => {
                    self.tapped(t);
                    while let Ok(t) = heard.tapped.try_recv() {
                        self.tapped(t);
                    }
                }
                cmd = rx.recv() => match cmd {
                    Some(Command::Freeze { config, listeners, reply, thaw }) => {
                        let carried = match self.unfit_for_handoff(&config, listeners) {
                            Some(why) => Err(why),
                            None => self.hand_off_listeners(&mut heard.heard).await,
                        };
                        match carried {
                            Err(why) => {
                                let _ = reply.send(Err(why));
                            }
                            Ok((listening, fds)) => {
                                let links = listening.links.clone();
                                // No thread takes a signal from here on: one
                                // sent in the window waits for the next image
                                // (or for the thaw, if the exec fails).
                                let mask = crate::sys::exec::block_window_signals();
                                if reply.send(Ok(self.table(started_at, listening))).is_ok() {
                                    // Nothing is reaped, spawned or signalled
                                    // until the exec replaces this image or
                                    // fails.
                                    if let Ok(pipes) = thaw.await {
                                        self.repump(pipes);
                                    }
                                }
                                if let Ok(old) = &mask {
                                    crate::sys::exec::restore_signals(old);
                                }
                                self.relink(links, fds);
                                self.reap();
                            }
                        }
                    }
                    Some(cmd) => self.command(cmd),
                    None => self.begin_shutdown("control channel closed"),
                },
                _ = sleep_until(next) => {}
            }
        }
        tracing::info!("all programs stopped");
        self.publish();
        self.events.close();
        Exit {
            pumps: std::mem::take(&mut self.spawning.pumps),
        }
    }

    pub(super) fn reindex(&mut self) {
        self.procs.sort_by_key(|p| p.full_name());
        self.index = self
            .procs
            .iter()
            .enumerate()
            .map(|(i, p)| (p.full_name(), i))
            .collect();
        self.rerank();
    }

    pub(super) fn next_deadline(&self) -> Option<Instant> {
        self.procs
            .iter()
            .filter_map(|p| p.state.deadline(&p.spec))
            .chain(self.hunt_deadline())
            .chain(self.health_deadline())
            .chain(self.listeners_deadline())
            .min()
    }

    pub(super) fn fire_deadlines(&mut self) {
        let now = Instant::now();
        let due: Vec<String> = self
            .procs
            .iter()
            .filter(|p| p.state.deadline(&p.spec).is_some_and(|d| d <= now))
            .map(Proc::full_name)
            .collect();
        for name in due {
            self.apply(&name, Event::Deadline);
        }
        if self.hunt_deadline().is_some_and(|d| d <= now) {
            self.hunt();
        }
        self.fire_health(now);
        self.fire_listeners(now);
    }

    /// Feed one event to one process's state machine and perform the
    /// actions it returns.
    pub(super) fn apply(&mut self, name: &str, event: Event) {
        let Some(&i) = self.index.get(name) else {
            return;
        };
        let now = Instant::now();
        let p = &mut self.procs[i];
        let (next, actions) = transition(&p.state, event, &p.spec, now);
        let from = p.state.name();
        let old_pid = p.state.pid();
        p.state = next;
        if p.state.name() != from || p.state.pid() != old_pid {
            p.state_since = SystemTime::now();
            self.publishing.dirty = true;
            self.health_follow(i);
        }
        let p = &self.procs[i];
        if p.state.name() != from {
            self.notify_state(i, from, old_pid);
            let p = &self.procs[i];
            let info = p.snap().info;
            let desc = info.description.clone();
            let span = tracing::info_span!("process", name = %name);
            let _g = span.enter();
            tracing::info!(from = %from, to = %p.state.name(), pid = ?p.state.pid(), "{desc}");
            self.record(fleet_api::Event {
                seq: 0,
                time: unix_ms(SystemTime::now()),
                name: name.to_owned(),
                group: p.spec.group.clone(),
                from,
                to: p.state.name(),
                pid: p.state.pid().or(old_pid),
                exit_status: match p.state.name() {
                    ProcessState::Exited
                    | ProcessState::Backoff
                    | ProcessState::Fatal
                    | ProcessState::Stopped => p.last_exit.clone(),
                    _ => None,
                },
                description: desc,
                process: Some(Box::new(info)),
                // As `sweep` decides: stopped, not waiting on a family.
                removed: p.removing
                    && p.state.name().is_stopped()
                    && !matches!(p.state, crate::state::State::Stopping { .. }),
            });
        }
        for action in actions {
            self.perform(name, action);
        }
    }

    pub(super) fn perform(&mut self, name: &str, action: Action) {
        let Some(&i) = self.index.get(name) else {
            return;
        };
        match action {
            Action::Spawn => self.spawn(name),
            Action::Signal { signal, group } => self.deliver(i, signal, group),
            Action::Kill { group } => self.deliver(i, libc::SIGKILL, group),
            Action::KillFamily => {
                if self.kill_family(i) == 0 {
                    self.apply(name, Event::FamilyGone);
                }
            }
        }
    }

    pub(super) fn command(&mut self, cmd: Command) {
        match cmd {
            Command::Act {
                selector,
                verb,
                signal,
                with_deps,
                reply,
            } => {
                let result = self.act(&selector, verb, signal, with_deps);
                // Publish before replying: the caller judges the outcome
                // from snapshots and must never see one older than its
                // own command (a start right after a stop would read the
                // stop's `wanted` and report a failure).
                self.publish();
                let _ = reply.send(result);
            }
            Command::Reload { config, reply } => {
                let result = self.reload(config.map(|c| *c));
                self.listeners_configured();
                self.publish();
                let _ = reply.send(result);
            }
            Command::Groups { op, reply } => {
                let result = self.groups(op);
                self.listeners_configured();
                self.publish();
                let _ = reply.send(result);
            }
            Command::Remote { kind, data } => {
                self.notify(crate::listener::event::Event::remote(&kind, &data));
            }
            Command::Shutdown => self.begin_shutdown("shutdown"),
            // Handled in `run`, which can wait for the thaw.
            Command::Freeze { .. } => {}
        }
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d.into()).await,
        None => std::future::pending().await,
    }
}
