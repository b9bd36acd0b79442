//! The owner loop: applies events to the table through the pure state
//! machine and performs the resulting actions (spawn, signal, kill). The
//! only place that spawns and reaps, so a pid is registered before its exit
//! can be seen.

use super::table::{open_logs, unix_ms, Proc};
use super::{diff, ActError, Command, EventLog, Handle, ReloadError, Snapshot, Touched};
use crate::config::Config;
use crate::logs::spawn_pump;
use crate::spawn::{self, MARK_VAR};
use crate::state::{self, transition, Action, Event, Exit as RawExit, State};
use crate::sys;
use fleet_api::{
    ExitInfo, ExitKind, Outcome, ProcessState, ReloadResponse, Selector, Verb, Wanted,
};
use std::collections::{HashMap, HashSet};
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

struct Owner {
    config: Config,
    procs: Vec<Proc>,
    /// Full name → index in `procs`.
    index: HashMap<String, usize>,
    /// Main pid → full name.
    pids: HashMap<u32, String>,
    events: Arc<EventLog>,
    snapshot: watch::Sender<Arc<Snapshot>>,
    dirty: bool,
    devnull: OwnedFd,
    /// The main runtime, where log pumps run.
    io: tokio::runtime::Handle,
    pumps: Vec<JoinHandle<()>>,
    spawn_seq: u64,
    agent_pid: u32,
    /// Priorities still to stop, highest last; `Some` once shutting down.
    shutdown: Option<Vec<i32>>,
    shutdown_level_started: bool,
}

/// Start the supervisor on its own thread. `io` is the runtime that runs
/// log pumps. The returned receiver yields once every process is stopped
/// after a shutdown (SIGTERM, SIGINT or [`Command::Shutdown`]).
pub fn start(
    config: Config,
    io: tokio::runtime::Handle,
) -> std::io::Result<(Handle, tokio::sync::oneshot::Receiver<Exit>)> {
    let (tx, rx) = mpsc::channel(256);
    let (snap_tx, snap_rx) = watch::channel(Arc::new(Snapshot::default()));
    let events = Arc::new(EventLog::new());
    let handle = Handle {
        commands: tx,
        snapshot: snap_rx,
        events: events.clone(),
        host: config.agent.host.clone(),
        started_at: unix_ms(SystemTime::now()),
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
    let (done_tx, done_rx) = tokio::sync::oneshot::channel();
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
    let mut owner = Owner {
        config,
        procs,
        index: HashMap::new(),
        pids: HashMap::new(),
        events,
        snapshot: snap_tx,
        dirty: true,
        devnull,
        io,
        pumps: Vec::new(),
        spawn_seq: 0,
        agent_pid: std::process::id(),
        shutdown: None,
        shutdown_level_started: false,
    };
    owner.reindex();
    // Autostart before returning, so the first status anyone can read
    // already shows every process and no API call races the first spawns.
    owner.autostart();
    owner.publish();
    std::thread::Builder::new()
        .name("supervisor".into())
        .spawn(move || {
            let exit = rt.block_on(owner.run(rx, signals));
            let _ = done_tx.send(exit);
        })?;
    Ok((handle, done_rx))
}

struct Signals {
    chld: tokio::signal::unix::Signal,
    hup: tokio::signal::unix::Signal,
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
    usr2: tokio::signal::unix::Signal,
}

impl Signals {
    fn new() -> std::io::Result<Signals> {
        Ok(Signals {
            chld: signal(SignalKind::child())?,
            hup: signal(SignalKind::hangup())?,
            term: signal(SignalKind::terminate())?,
            int: signal(SignalKind::interrupt())?,
            usr2: signal(SignalKind::user_defined2())?,
        })
    }
}

impl Owner {
    /// Start what is wanted running, lowest priority number first.
    fn autostart(&mut self) {
        let mut order: Vec<(i32, String)> = self
            .procs
            .iter()
            .filter(|p| p.wanted == Wanted::Running)
            .map(|p| (p.spec.priority, p.full_name()))
            .collect();
        order.sort();
        for (_, name) in order {
            self.apply(&name, Event::Start);
        }
    }

    async fn run(mut self, mut rx: mpsc::Receiver<Command>, mut sig: Signals) -> Exit {
        loop {
            self.fire_deadlines();
            self.sweep();
            if self.advance_shutdown() {
                self.publish();
                break;
            }
            self.publish();
            let next = self.next_deadline();
            tokio::select! {
                biased;
                _ = sig.chld.recv() => self.reap(),
                _ = sig.term.recv() => self.begin_shutdown("SIGTERM"),
                _ = sig.int.recv() => self.begin_shutdown("SIGINT"),
                _ = sig.hup.recv() => {
                    match self.reload(None) {
                        Ok(r) => tracing::info!(added = ?r.added, changed = ?r.changed, removed = ?r.removed, "reloaded on SIGHUP"),
                        Err(e) => tracing::error!("reload on SIGHUP refused: {e}"),
                    }
                }
                _ = sig.usr2.recv() => self.reopen_logs(),
                cmd = rx.recv() => match cmd {
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
            pumps: std::mem::take(&mut self.pumps),
        }
    }

    fn reindex(&mut self) {
        self.procs.sort_by_key(|p| p.full_name());
        self.index = self
            .procs
            .iter()
            .enumerate()
            .map(|(i, p)| (p.full_name(), i))
            .collect();
    }

    fn publish(&mut self) {
        if !self.dirty {
            return;
        }
        self.dirty = false;
        let snap = Snapshot {
            procs: self.procs.iter().map(Proc::snap).collect(),
            shutting_down: self.shutdown.is_some(),
        };
        self.snapshot.send_replace(Arc::new(snap));
    }

    fn next_deadline(&self) -> Option<Instant> {
        self.procs
            .iter()
            .filter_map(|p| p.state.deadline(&p.spec))
            .min()
    }

    fn fire_deadlines(&mut self) {
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
    }

    /// Feed one event to one process's state machine and perform the
    /// actions it returns.
    fn apply(&mut self, name: &str, event: Event) {
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
            self.dirty = true;
        }
        if p.state.name() != from {
            let p = &self.procs[i];
            let desc = p.snap().info.description;
            let span = tracing::info_span!("process", name = %name);
            let _g = span.enter();
            tracing::info!(from = %from, to = %p.state.name(), pid = ?p.state.pid(), "{desc}");
            self.events.record(fleet_api::Event {
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
            });
        }
        for action in actions {
            self.perform(name, action);
        }
    }

    fn perform(&mut self, name: &str, action: Action) {
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

    fn family(&self, i: usize) -> Vec<u32> {
        let p = &self.procs[i];
        let Some(pid) = p.last_pid else {
            return Vec::new();
        };
        let marker = format!("{MARK_VAR}={}", p.mark);
        let exclude: HashSet<u32> = self.pids.keys().copied().collect();
        sys::proc::family(&sys::proc::FamilyKey {
            pid,
            pgid: pid,
            marker: marker.as_bytes(),
            agent_pid: self.agent_pid,
            exclude: &exclude,
        })
    }

    /// SIGKILL every live member of the family; returns how many there were.
    fn kill_family(&mut self, i: usize) -> usize {
        let members = self.family(i);
        if let Some(pgid) = self.procs[i].last_pid {
            let _ = sys::signal::send_group(pgid, libc::SIGKILL);
        }
        for &m in &members {
            let _ = sys::signal::send(m, libc::SIGKILL);
        }
        if !members.is_empty() {
            tracing::debug!(process = %self.procs[i].full_name(), ?members, "killing family");
        }
        members.len()
    }

    /// Send a signal to the main pid, or to its group and to family members
    /// that left the group.
    fn deliver(&mut self, i: usize, signal: i32, group: bool) {
        let p = &self.procs[i];
        let Some(pid) = p.state.pid().or(p.last_pid) else {
            return;
        };
        let name = p.full_name();
        let result = if group {
            let outside: Vec<u32> = self
                .family(i)
                .into_iter()
                .filter(|&m| sys::proc::stat(m).is_some_and(|s| s.pgid != pid))
                .collect();
            for m in outside {
                let _ = sys::signal::send(m, signal);
            }
            sys::signal::send_group(pid, signal)
        } else {
            sys::signal::send(pid, signal)
        };
        if let Err(e) = result {
            tracing::warn!(process = %name, signal = %sys::signal::name(signal), "cannot signal: {e}");
        }
    }

    fn spawn(&mut self, name: &str) {
        if self.shutdown.is_some() {
            return;
        }
        let Some(&i) = self.index.get(name) else {
            return;
        };
        self.swap_pending(i);
        self.spawn_seq += 1;
        let mark = format!("{}-{}", self.agent_pid, self.spawn_seq);
        let p = &mut self.procs[i];
        p.attempts += 1;
        self.dirty = true;
        let spawned = match p.retry_logs() {
            true => spawn::spawn(&p.spec, &mark, &self.devnull).map_err(|e| e.to_string()),
            false => Err(p.log_error.clone().unwrap_or_default()),
        };
        match spawned {
            Ok(child) => {
                p.spawns += 1;
                p.spawn_error = None;
                p.mark = mark;
                p.last_pid = Some(child.pid);
                p.started_at = Some(SystemTime::now());
                self.pids.insert(child.pid, name.to_owned());
                let _g = self.io.enter();
                self.pumps.retain(|h| !h.is_finished());
                self.pumps.push(spawn_pump(child.stdout, p.stdout.clone()));
                if let Some(err) = child.stderr {
                    self.pumps.push(spawn_pump(err, p.stderr.clone()));
                }
                self.apply(name, Event::Spawned { pid: child.pid });
            }
            Err(msg) => {
                tracing::warn!(process = %name, "spawn failed: {msg}");
                p.stderr
                    .write(format!("fleet-agent: spawn failed: {msg}\n").as_bytes());
                p.record_exit(ExitInfo {
                    kind: ExitKind::SpawnFailed,
                    code: None,
                    signal: None,
                    core_dumped: false,
                    stopped_by_us: false,
                    expected: false,
                    message: Some(msg.clone()),
                    at: unix_ms(SystemTime::now()),
                });
                p.spawn_error = Some(msg);
                self.apply(name, Event::SpawnFailed);
            }
        }
    }

    /// Apply a reloaded spec held back until the old instance is gone.
    fn swap_pending(&mut self, i: usize) {
        let p = &mut self.procs[i];
        let Some(new) = p.pending.take() else {
            return;
        };
        if new.stdout != p.spec.stdout
            || new.stderr != p.spec.stderr
            || new.redirect_stderr != p.spec.redirect_stderr
        {
            match open_logs(&new) {
                Ok((o, e)) => {
                    p.stdout = o;
                    p.stderr = e;
                }
                Err(e) => {
                    tracing::error!(process = %p.full_name(), "cannot open new log files, keeping the old ones: {e}")
                }
            }
        }
        p.spec = new;
        self.dirty = true;
    }

    fn reap(&mut self) {
        let reaped = sys::wait::reap_all();
        for (pid, exit) in reaped {
            let Some(name) = self.pids.remove(&pid) else {
                // An adopted descendant or a child whose exec failed.
                tracing::debug!(pid, ?exit, "reaped unmanaged child");
                continue;
            };
            let Some(&i) = self.index.get(&name) else {
                continue;
            };
            let p = &mut self.procs[i];
            let info = exit_info(exit, p.state.name() == ProcessState::Stopping, &p.spec);
            p.record_exit(info);
            self.apply(&name, Event::Exited { pid, exit });
        }
        // Families being killed may be gone now.
        let waiting: Vec<String> = self
            .procs
            .iter()
            .filter(|p| matches!(p.state, State::Stopping { pid: None, .. }))
            .map(Proc::full_name)
            .collect();
        for name in waiting {
            self.perform(&name, Action::KillFamily);
        }
    }

    /// Drop processes a reload removed once they are stopped, and apply
    /// held-back specs to processes that are not running.
    fn sweep(&mut self) {
        let before = self.procs.len();
        self.procs.retain(|p| {
            !(p.removing
                && p.state.name().is_stopped()
                && !matches!(p.state, State::Stopping { .. }))
        });
        if self.procs.len() != before {
            self.reindex();
            self.dirty = true;
        }
        for i in 0..self.procs.len() {
            if self.procs[i].pending.is_some() && self.procs[i].state.name().is_stopped() {
                self.swap_pending(i);
            }
        }
    }

    fn command(&mut self, cmd: Command) {
        match cmd {
            Command::Act {
                selector,
                verb,
                signal,
                reply,
            } => {
                let result = self.act(&selector, verb, signal);
                // Publish before replying: the caller judges the outcome
                // from snapshots and must never see one older than its
                // own command (a start right after a stop would read the
                // stop's `wanted` and report a failure).
                self.publish();
                let _ = reply.send(result);
            }
            Command::Reload { config, reply } => {
                let result = self.reload(config.map(|c| *c));
                self.publish();
                let _ = reply.send(result);
            }
            Command::Shutdown => self.begin_shutdown("shutdown requested"),
        }
    }

    fn select(&self, selector: &Selector) -> Result<Vec<String>, ActError> {
        let live = self.procs.iter().filter(|p| !p.removing);
        let matched: Vec<String> = selector
            .select(live)
            .into_iter()
            .map(Proc::full_name)
            .collect();
        if matched.is_empty() {
            let what = match selector {
                Selector::All => "no processes are configured".to_owned(),
                Selector::Group(g) => format!("no group named {g:?}"),
                Selector::Name(n) => format!("no program, process or group named {n:?}"),
                Selector::Process { group, process } => {
                    format!("no process {process:?} in group {group:?}")
                }
            };
            return Err(ActError::NoMatch(what));
        }
        Ok(matched)
    }

    fn act(
        &mut self,
        selector: &Selector,
        verb: Verb,
        signal: Option<i32>,
    ) -> Result<Vec<Touched>, ActError> {
        if self.shutdown.is_some() {
            return Err(ActError::ShuttingDown);
        }
        let names = self.select(selector)?;
        let mut out = Vec::with_capacity(names.len());
        // Start in priority order, stop in reverse.
        let mut order = names.clone();
        order.sort_by_key(|n| {
            let pr = self.procs[self.index[n]].spec.priority;
            if verb == Verb::Stop {
                -pr
            } else {
                pr
            }
        });
        for name in order {
            let i = self.index[&name];
            let attempts_before = self.procs[i].attempts;
            let state = self.procs[i].state.name();
            let mut done = None;
            match verb {
                Verb::Start => {
                    self.procs[i].wanted = Wanted::Running;
                    match state {
                        ProcessState::Running | ProcessState::Starting => {
                            done = Some((Outcome::Already, "already started".to_owned()))
                        }
                        // An operator start does not wait out the backoff.
                        ProcessState::Backoff => self.apply(&name, Event::Restart),
                        _ => self.apply(&name, Event::Start),
                    }
                }
                Verb::Stop => {
                    self.procs[i].wanted = Wanted::Stopped;
                    if state.is_stopped() {
                        done = Some((Outcome::Already, "not running".to_owned()));
                    } else {
                        self.apply(&name, Event::Stop);
                    }
                }
                Verb::Restart => {
                    self.procs[i].wanted = Wanted::Running;
                    self.apply(&name, Event::Restart);
                }
                Verb::Signal => {
                    let sig = signal.unwrap_or(libc::SIGHUP);
                    done = Some(match self.procs[i].state.pid() {
                        Some(pid) if state.has_pid() => match sys::signal::send(pid, sig) {
                            Ok(()) => (Outcome::Ok, String::new()),
                            Err(e) => (Outcome::Failed, format!("cannot signal pid {pid}: {e}")),
                        },
                        _ => (Outcome::Failed, format!("not running ({state})")),
                    });
                }
            }
            self.dirty = true;
            out.push(Touched {
                name,
                attempts_before,
                done,
            });
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    fn reload(&mut self, config: Option<Config>) -> Result<ReloadResponse, ReloadError> {
        if self.shutdown.is_some() {
            return Err(ReloadError::ShuttingDown);
        }
        let config = match config {
            Some(c) => c,
            None => Config::load(&self.config.source)
                .map_err(|e| ReloadError::Invalid(e.to_string()))?,
        };
        let old: Vec<_> = self
            .procs
            .iter()
            .filter(|p| !p.removing)
            .map(|p| p.spec.clone())
            .collect();
        let d = diff(&old, &config.processes);
        // Open every new log file first, so a failure changes nothing.
        let mut added = Vec::new();
        for spec in &d.added {
            let p = Proc::new(spec.clone());
            if let Some(e) = &p.log_error {
                return Err(ReloadError::Invalid(format!("{}: {e}", spec.full_name())));
            }
            added.push(p);
        }
        let mut report = d.report.clone();
        if config.agent != self.config.agent {
            report
                .warnings
                .push("[agent] settings changed; restart fleet-agent to apply them".to_owned());
        }
        for name in &d.removed {
            let i = self.index[name];
            self.procs[i].removing = true;
            self.procs[i].wanted = Wanted::Stopped;
            self.apply(name, Event::Stop);
        }
        for spec in d.changed {
            let name = spec.full_name();
            let i = self.index[&name];
            let p = &mut self.procs[i];
            p.pending = Some(spec);
            if p.wanted == Wanted::Running {
                // Stops with the old spec, starts with the new one.
                self.apply(&name, Event::Restart);
            }
        }
        let starts: Vec<String> = added
            .iter()
            .filter(|p| p.wanted == Wanted::Running)
            .map(Proc::full_name)
            .collect();
        self.procs.extend(added);
        self.reindex();
        for name in starts {
            self.apply(&name, Event::Start);
        }
        self.config = config;
        self.dirty = true;
        Ok(report)
    }

    fn reopen_logs(&mut self) {
        for p in &self.procs {
            for s in [&p.stdout, &p.stderr] {
                if let Err(e) = s.reopen() {
                    tracing::warn!(process = %p.full_name(), "cannot reopen log file: {e}");
                }
            }
        }
        tracing::info!("log files reopened (SIGUSR2)");
    }

    fn begin_shutdown(&mut self, why: &str) {
        if self.shutdown.is_some() {
            return;
        }
        tracing::info!("{why}: stopping all programs in reverse priority order");
        let mut levels: Vec<i32> = self.procs.iter().map(|p| p.spec.priority).collect();
        levels.sort_unstable();
        levels.dedup();
        self.shutdown = Some(levels);
        self.shutdown_level_started = false;
        self.dirty = true;
    }

    /// Stop one priority level at a time, highest first; true when all done.
    fn advance_shutdown(&mut self) -> bool {
        loop {
            let Some(levels) = &self.shutdown else {
                return false;
            };
            let Some(&level) = levels.last() else {
                return true;
            };
            let names: Vec<String> = self
                .procs
                .iter()
                .filter(|p| p.spec.priority == level)
                .map(Proc::full_name)
                .collect();
            if !self.shutdown_level_started {
                self.shutdown_level_started = true;
                for name in &names {
                    let i = self.index[name];
                    self.procs[i].wanted = Wanted::Stopped;
                    self.apply(name, Event::Stop);
                }
            }
            let done = names.iter().all(|n| {
                let s = &self.procs[self.index[n]].state;
                s.name().is_stopped() || matches!(s, State::Backoff { .. })
            });
            if !done {
                return false;
            }
            if let Some(levels) = &mut self.shutdown {
                levels.pop();
            }
            self.shutdown_level_started = false;
        }
    }
}

fn exit_info(exit: RawExit, stopping: bool, spec: &crate::config::ProcessSpec) -> ExitInfo {
    let at = unix_ms(SystemTime::now());
    let expected = state::is_expected(exit, spec);
    match exit {
        RawExit::Code(code) => ExitInfo {
            kind: ExitKind::Exited,
            code: Some(code),
            signal: None,
            core_dumped: false,
            stopped_by_us: stopping,
            expected,
            message: None,
            at,
        },
        RawExit::Signal {
            signal,
            core_dumped,
        } => ExitInfo {
            kind: ExitKind::Signaled,
            code: None,
            signal: Some(sys::signal::name(signal)),
            core_dumped,
            stopped_by_us: stopping,
            expected,
            message: None,
            at,
        },
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d.into()).await,
        None => std::future::pending().await,
    }
}
