//! One row of the process table: the spec, the machine's state, what the
//! operator wants, and the history the API reports.

use crate::config::ProcessSpec;
use crate::logs::{LogStream, TAIL_BYTES};
use crate::state::State;
use crate::supervisor::ProcSnap;
use fleet_api::{ExitInfo, ProcessInfo, Selectable, Wanted};
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::SystemTime;

/// Exits remembered per process.
const EXIT_HISTORY: usize = 10;

pub use fleet_daemon::time::unix_ms;

pub struct Proc {
    pub spec: ProcessSpec,
    /// A changed spec from a reload, applied at the next spawn (so the
    /// running instance stops with the semantics it started with).
    pub pending: Option<ProcessSpec>,
    pub state: State,
    pub wanted: Wanted,
    /// Set by a reload that dropped this process: removed once stopped.
    pub removing: bool,
    pub attempts: u64,
    pub spawns: u64,
    pub started_at: Option<SystemTime>,
    pub state_since: SystemTime,
    /// The last main pid (for family kills after it is gone).
    pub last_pid: Option<u32>,
    /// Value of FLEET_SPAWN_ID for the current instance.
    pub mark: String,
    pub last_exit: Option<ExitInfo>,
    /// Leftovers of its exited instances that the agent stopped.
    pub leftovers: u32,
    pub exits: VecDeque<ExitInfo>,
    /// Exits fleet did not ask for: over its life, and per minute over the
    /// last ten (`fleet_api::count_exit`).
    pub exits_unasked: u32,
    pub exits_by_minute: Vec<(u64, u32)>,
    /// Why the last start failed, if it did.
    pub spawn_error: Option<String>,
    /// The log files could not be opened: spawns fail with this until a
    /// retry opens them (as supervisord, a bad log path fails the process,
    /// not the whole daemon).
    pub log_error: Option<String>,
    /// The log files are opened at the first spawn, not at load: set when
    /// descriptors were short (see `Proc::new`).
    pub logs_deferred: bool,
    pub stdout: Arc<LogStream>,
    pub stderr: Arc<LogStream>,
    /// Its health checks since its last spawn (`health.rs`).
    pub health: Option<super::health::Run>,
    /// Set when fleet restarts it on its own (an unhealthy verdict):
    /// becomes the message of the exit that restart causes.
    pub restart_reason: Option<String>,
    /// Why a start is held or was refused (`order.rs`), for its
    /// description while it is not running.
    pub waiting_for: Option<String>,
}

/// Open the log streams a spec asks for (one shared stream with
/// `redirect_stderr`).
pub fn open_logs(spec: &ProcessSpec) -> std::io::Result<(Arc<LogStream>, Arc<LogStream>)> {
    // Room for the files and the pipes of a spawn after them.
    crate::sys::fd_room(2 + 4).map_err(std::io::Error::other)?;
    let stdout = LogStream::open(&spec.stdout, TAIL_BYTES)?;
    let stderr = if spec.redirect_stderr {
        stdout.clone()
    } else {
        LogStream::open(&spec.stderr, TAIL_BYTES)?
    };
    Ok((stdout, stderr))
}

/// Describe a log-open failure with the path(s) involved.
pub fn log_open_error(spec: &ProcessSpec, e: &std::io::Error) -> String {
    let paths: Vec<String> = [&spec.stdout.path, &spec.stderr.path]
        .into_iter()
        .flatten()
        .map(|p| p.display().to_string())
        .collect();
    format!("cannot open log file ({}): {e}", paths.join(", "))
}

/// Selectors name processes by their spec's names (`Selector::matches`).
impl Selectable for Proc {
    fn group(&self) -> &str {
        &self.spec.group
    }
    fn program(&self) -> &str {
        &self.spec.program
    }
    fn process(&self) -> &str {
        &self.spec.name
    }
}

impl Proc {
    /// A row whose log files could not be opened still exists, with
    /// memory-only tails and `log_error` set.
    pub fn new(spec: ProcessSpec) -> Proc {
        // Past half the descriptor limit, log files wait for their
        // program's first spawn: opened all at load, they would take every
        // descriptor and leave none for any program's pipes.
        let (lowest, limit) = crate::sys::fd_usage();
        let files = spec.stdout.path.is_some() || spec.stderr.path.is_some();
        if files && lowest >= limit / 2 {
            let stdout = LogStream::open(&Default::default(), TAIL_BYTES)
                .expect("a memory-only log stream cannot fail");
            let stderr = stdout.clone();
            let mut p = Self::with_logs(spec, stdout, stderr, None);
            p.logs_deferred = true;
            return p;
        }
        match open_logs(&spec) {
            Ok((stdout, stderr)) => Self::with_logs(spec, stdout, stderr, None),
            Err(e) => {
                let why = log_open_error(&spec, &e);
                let stdout = LogStream::open(&Default::default(), TAIL_BYTES)
                    .expect("a memory-only log stream cannot fail");
                let stderr = stdout.clone();
                Self::with_logs(spec, stdout, stderr, Some(why))
            }
        }
    }

    fn with_logs(
        spec: ProcessSpec,
        stdout: Arc<LogStream>,
        stderr: Arc<LogStream>,
        log_error: Option<String>,
    ) -> Proc {
        Proc {
            wanted: if spec.autostart {
                Wanted::Running
            } else {
                Wanted::Stopped
            },
            spec,
            pending: None,
            state: State::Stopped,
            removing: false,
            attempts: 0,
            spawns: 0,
            started_at: None,
            state_since: SystemTime::now(),
            last_pid: None,
            mark: String::new(),
            last_exit: None,
            leftovers: 0,
            exits: VecDeque::new(),
            exits_unasked: 0,
            exits_by_minute: Vec::new(),
            spawn_error: None,
            log_error,
            logs_deferred: false,
            stdout,
            stderr,
            health: None,
            restart_reason: None,
            waiting_for: None,
        }
    }

    /// Try again to open log files that failed before; true when usable.
    pub fn retry_logs(&mut self) -> bool {
        if self.log_error.is_none() && !self.logs_deferred {
            return true;
        }
        match open_logs(&self.spec) {
            Ok((o, e)) => {
                self.stdout = o;
                self.stderr = e;
                self.log_error = None;
                self.logs_deferred = false;
                true
            }
            Err(e) => {
                self.log_error = Some(log_open_error(&self.spec, &e));
                false
            }
        }
    }

    pub fn full_name(&self) -> String {
        self.spec.full_name()
    }

    pub fn record_exit(&mut self, exit: ExitInfo) {
        if self.exits.len() == EXIT_HISTORY {
            self.exits.pop_front();
        }
        if !exit.stopped_by_us {
            self.exits_unasked = self.exits_unasked.saturating_add(1);
            fleet_api::count_exit(&mut self.exits_by_minute, exit.at);
        }
        self.exits.push_back(exit.clone());
        self.last_exit = Some(exit);
    }

    /// The description, without the live uptime (added by `describe`).
    fn note(&self) -> String {
        use fleet_api::ProcessState as S;
        if let (Some(w), true) = (&self.waiting_for, self.state.name().is_stopped()) {
            return w.clone();
        }
        match self.state.name() {
            S::Backoff | S::Fatal => {
                let why = match (&self.spawn_error, &self.last_exit) {
                    (Some(e), _) => e.clone(),
                    (None, Some(x)) => format!("exited too quickly ({x})"),
                    (None, None) => String::new(),
                };
                if self.state.name() == S::Fatal {
                    format!("gave up: {why}")
                } else {
                    why
                }
            }
            S::Exited => self
                .last_exit
                .as_ref()
                .map(|x| x.to_string())
                .unwrap_or_default(),
            S::Stopped if self.attempts == 0 => "not started".into(),
            S::Stopped => match &self.last_exit {
                Some(x) => format!("stopped ({x})"),
                None => "stopped".into(),
            },
            // Unknown: the console's word for a host it cannot reach.
            S::Starting | S::Running | S::Stopping | S::Unknown => String::new(),
        }
    }

    pub fn snap(&self) -> ProcSnap {
        ProcSnap {
            info: ProcessInfo {
                name: self.full_name(),
                group: self.spec.group.clone(),
                program: self.spec.program.clone(),
                process: self.spec.name.clone(),
                state: self.state.name(),
                wanted: self.wanted,
                pid: self.state.pid(),
                started_at: self.started_at.map(unix_ms),
                state_since: unix_ms(self.state_since),
                exit_status: self.last_exit.clone(),
                restarts: self.spawns.saturating_sub(1) as u32,
                description: self.note(),
                exits: self.exits.iter().cloned().collect(),
                cpu_seconds: None,
                rss_bytes: None,
                log_error: self.log_error.clone(),
                leftovers: self.leftovers,
                exits_unasked: self.exits_unasked,
                exits_by_minute: self.exits_by_minute.clone(),
                health: self.spec.health.as_ref().map(|_| {
                    self.health
                        .as_ref()
                        .map_or(fleet_api::Health::Unknown, |r| r.tracker.status)
                }),
                health_message: self.health.as_ref().and_then(|r| r.tracker.message.clone()),
                // Set by `publish` from the pools (`listeners.rs`).
                listener: None,
                next_attempt_at: match self.state {
                    crate::state::State::Backoff { until, .. } => Some(unix_ms(
                        SystemTime::now()
                            + until.saturating_duration_since(std::time::Instant::now()),
                    )),
                    _ => None,
                },
            },
            attempts: self.attempts,
            startsecs: self.spec.startsecs,
            stopwaitsecs: self.spec.stopwaitsecs,
            priority: self.spec.priority,
            rank: 0,
            // Set by `publish` from the held set (`order.rs`).
            waiting: false,
            stdout: self.stdout.clone(),
            stderr: self.stderr.clone(),
        }
    }
}

/// How long a CPU/memory reading is reused.
const USAGE_TTL: std::time::Duration = std::time::Duration::from_secs(1);

/// CPU seconds and RSS of `pid`, read from /proc at most once per
/// `USAGE_TTL`: reading /proc/PID/stat is most of the cost of a status of
/// hundreds of processes, and figures a second old are fresh enough.
fn usage(pid: u32) -> Option<(f64, u64)> {
    use std::collections::HashMap;
    use std::sync::Mutex;
    use std::time::Instant;
    type Readings = HashMap<u32, (Instant, f64, u64)>;
    static CACHE: Mutex<Option<Readings>> = Mutex::new(None);
    let now = Instant::now();
    let mut guard = CACHE.lock().unwrap_or_else(|e| e.into_inner());
    let cache = guard.get_or_insert_with(HashMap::new);
    if let Some(&(at, cpu, rss)) = cache.get(&pid) {
        if now.duration_since(at) < USAGE_TTL {
            return Some((cpu, rss));
        }
    }
    drop(guard);
    let (cpu, rss) = crate::sys::proc::usage(pid)?;
    let mut guard = CACHE.lock().unwrap_or_else(|e| e.into_inner());
    let cache = guard.get_or_insert_with(HashMap::new);
    cache.insert(pid, (now, cpu, rss));
    // Forget stale entries (exited pids) so the cache stays bounded; the
    // oldest entry decides, so this runs about once per TTL, not per pid.
    let oldest = cache.values().map(|(at, _, _)| *at).min().unwrap_or(now);
    if now.duration_since(oldest) > USAGE_TTL * 4 {
        cache.retain(|_, (at, _, _)| now.duration_since(*at) < USAGE_TTL);
    }
    Some((cpu, rss))
}

/// Fill in the live fields of a snapshot entry: uptime text, CPU, memory,
/// and a log file that cannot be written (read from the streams now: a
/// write failure does not wake the owner).
pub fn describe(snap: &ProcSnap, now_ms: u64) -> ProcessInfo {
    let mut info = snap.info.clone();
    if let Some(timing) = info.timing(now_ms) {
        info.description = match (info.health, &info.health_message) {
            (Some(h @ fleet_api::Health::Unhealthy), Some(m)) => format!("{timing}, {h}: {m}"),
            (Some(h), _) => format!("{timing}, {h}"),
            (None, _) => timing,
        };
        if let Some((cpu, rss)) = info.pid.and_then(usage) {
            info.cpu_seconds = Some(cpu);
            info.rss_bytes = Some(rss);
        }
    }
    if info.log_error.is_none() {
        info.log_error = log_write_error(snap);
        if let Some(e) = &info.log_error {
            info.description = match info.description.is_empty() {
                true => e.clone(),
                false => format!("{}; {e}", info.description),
            };
        }
    }
    info
}

/// Why a process's output is not reaching its file (stdout's, else
/// stderr's), while writes fail or a reopen is refused.
pub fn log_write_error(snap: &ProcSnap) -> Option<String> {
    snap.stdout.error().or_else(|| snap.stderr.error())
}
