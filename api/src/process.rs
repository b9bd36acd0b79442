use serde::{Deserialize, Serialize};
use std::fmt;

/// supervisord's process states, with the same names and meanings.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ProcessState {
    /// Never started, or stopped by an operator.
    Stopped,
    /// Spawned; waiting for `startsecs` to elapse.
    Starting,
    /// Stayed up longer than `startsecs`.
    Running,
    /// Died (or failed to spawn) while STARTING; will retry after a delay.
    Backoff,
    /// Stop signal sent; waiting for the exit.
    Stopping,
    /// Exited from RUNNING (expected or not).
    Exited,
    /// Retries exhausted; only a manual start leaves this state.
    Fatal,
    /// supervisord's UNKNOWN: the console's answer for a process on a host
    /// it cannot reach. An agent never reports it; the state last reported
    /// is in `FleetProcess::last_known`.
    Unknown,
}

impl ProcessState {
    pub const ALL: [ProcessState; 8] = [
        Self::Stopped,
        Self::Starting,
        Self::Running,
        Self::Backoff,
        Self::Stopping,
        Self::Exited,
        Self::Fatal,
        Self::Unknown,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Stopped => "STOPPED",
            Self::Starting => "STARTING",
            Self::Running => "RUNNING",
            Self::Backoff => "BACKOFF",
            Self::Stopping => "STOPPING",
            Self::Exited => "EXITED",
            Self::Fatal => "FATAL",
            Self::Unknown => "UNKNOWN",
        }
    }

    /// supervisord's STOPPED_STATES: nothing is running and nothing will be
    /// started without an order.
    pub fn is_stopped(self) -> bool {
        matches!(self, Self::Stopped | Self::Exited | Self::Fatal)
    }

    /// A pid exists for this process.
    pub fn has_pid(self) -> bool {
        matches!(self, Self::Starting | Self::Running | Self::Stopping)
    }
}

impl fmt::Display for ProcessState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What the operator (or the config's `autostart`) wants, kept apart from the
/// observed state so that a stopped process stays stopped across a reload.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Wanted {
    Running,
    Stopped,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExitKind {
    /// The process called exit; `code` holds the status.
    Exited,
    /// The process died from a signal; `signal` holds its name.
    Signaled,
    /// The process could not be started; `message` says why.
    SpawnFailed,
}

/// How a process ended. Unlike supervisord (every signal death is -1) this
/// keeps the signal, the core dump flag and whether fleet stopped it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExitInfo {
    pub kind: ExitKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signal: Option<String>,
    #[serde(default)]
    pub core_dumped: bool,
    /// fleet asked it to stop (stop, restart, reload, shutdown).
    #[serde(default)]
    pub stopped_by_us: bool,
    /// The exit code is one of the program's `exitcodes`.
    #[serde(default)]
    pub expected: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Unix milliseconds.
    pub at: u64,
}

impl fmt::Display for ExitInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            ExitKind::Exited => write!(f, "exit code {}", self.code.unwrap_or_default())?,
            ExitKind::Signaled => {
                write!(f, "killed by SIG{}", self.signal.as_deref().unwrap_or("?"))?;
                if self.core_dumped {
                    f.write_str(" (core dumped)")?;
                }
            }
            ExitKind::SpawnFailed => write!(
                f,
                "spawn failed: {}",
                self.message.as_deref().unwrap_or("?")
            )?,
        }
        if self.stopped_by_us {
            f.write_str(", stopped by fleet")?;
        }
        Ok(())
    }
}

/// One managed process, as `GET /v1/status` reports it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ProcessInfo {
    /// `group:process`, unique on the host.
    pub name: String,
    pub group: String,
    pub program: String,
    /// The process name alone (from `process_name`).
    pub process: String,
    pub state: ProcessState,
    pub wanted: Wanted,
    pub pid: Option<u32>,
    /// Unix ms of the current (or last) spawn. Whoever shows uptime
    /// computes it from this ([`ProcessInfo::uptime_ms`]), never from
    /// `description`.
    #[serde(default)]
    pub started_at: Option<u64>,
    /// Unix ms when the current state was entered.
    #[serde(default)]
    pub state_since: u64,
    pub exit_status: Option<ExitInfo>,
    /// Spawns after the first one (automatic and manual).
    pub restarts: u32,
    /// Human summary like supervisord's: "pid 12, uptime 0:01:02"
    /// ([`ProcessInfo::timing`], true when it was made) or the spawn
    /// error. For people: programs read the fields.
    pub description: String,
    /// Recent exits, newest last (bounded).
    #[serde(default)]
    pub exits: Vec<ExitInfo>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_seconds: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rss_bytes: Option<u64>,
    /// Why the process's output is not reaching its log file (it cannot be
    /// opened, or writes fail: a full disk), while that lasts. The output
    /// is still kept in the in-memory tail and streamed to followers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_error: Option<String>,
    /// Processes of this process's family that were still running after
    /// its main process had exited and that the agent stopped (stop
    /// signal, then SIGKILL after stopwaitsecs), over the agent's life.
    #[serde(default)]
    pub leftovers: u32,
    /// Exits fleet did not ask for (crashes, and exits the program chose),
    /// over the agent's life: `restarts` less these were asked for.
    #[serde(default)]
    pub exits_unasked: u32,
    /// The same exits in the last [`EXIT_WINDOW_MS`], per minute: (unix
    /// ms of the minute's start, count), oldest first, at most ten pairs.
    /// How often it really exits, however many (`exits` keeps the last
    /// few only); a reader sums the minutes still in its window.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exits_by_minute: Vec<(u64, u32)>,
    /// In BACKOFF: when the next start attempt is due (unix ms).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_attempt_at: Option<u64>,
    /// Its health check's verdict; absent when it has no check.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health: Option<Health>,
    /// The last check's result in words ("HTTP 503", "connection
    /// refused", "timed out after 2s"), while it has a check and has run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_message: Option<String>,
    /// Present for an event listener (`[eventlistener.X]`): its pool and
    /// where it stands in supervisord's listener protocol.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub listener: Option<ListenerInfo>,
}

/// An event listener process as the agent sees it. The counters are its
/// pool's (every process of a pool shares one buffer), over the agent's
/// life; they may lag the truth by up to a second (the agent publishes
/// them at most once a second, so a busy pool does not flood followers).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListenerInfo {
    /// The pool: the `[eventlistener.X]` section's name.
    pub pool: String,
    /// supervisord's listener state while the process runs:
    /// `ACKNOWLEDGED` (waiting for its READY), `READY`, `BUSY` (an event
    /// is out), `UNKNOWN` (it broke the protocol and gets no more events
    /// until it restarts); absent while it is not running.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// The event types it subscribed to, as written (`PROCESS_STATE`).
    pub events: Vec<String>,
    /// Events the pool's listeners answered OK.
    pub handled: u64,
    /// Events answered FAIL, or lost with a listener that died on them
    /// (each was buffered again).
    pub rejected: u64,
    /// Events the pool discarded because its buffer was full.
    pub dropped: u64,
    /// Events waiting in the pool's buffer now.
    pub buffered: u32,
}

impl ListenerInfo {
    /// "listener READY, 12 handled, 3 dropped": its state and the counts
    /// that are not zero (handled always), for tables.
    pub fn summary(&self) -> String {
        let mut s = match &self.state {
            Some(st) => format!("listener {st}, {} handled", self.handled),
            None => format!("listener, {} handled", self.handled),
        };
        for (n, what) in [
            (self.rejected, "rejected"),
            (self.dropped, "dropped"),
            (u64::from(self.buffered), "buffered"),
        ] {
            if n > 0 {
                s.push_str(&format!(", {n} {what}"));
            }
        }
        s
    }
}

/// A health check's verdict on a process (`[program.X.health]`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Health {
    /// Not decided yet (just started, or not running).
    Unknown,
    Healthy,
    Unhealthy,
}

impl Health {
    pub fn as_str(self) -> &'static str {
        match self {
            Health::Unknown => "unknown",
            Health::Healthy => "healthy",
            Health::Unhealthy => "unhealthy",
        }
    }
}

impl fmt::Display for Health {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The window of `exits_by_minute`: ten minutes, the page's flapping rule.
pub const EXIT_WINDOW_MS: u64 = 10 * 60 * 1000;

/// Count one exit at `at` (unix ms) into `minutes`, dropping minutes that
/// left the window: the agent's bookkeeping for `exits_by_minute`.
pub fn count_exit(minutes: &mut Vec<(u64, u32)>, at: u64) {
    let minute = at - at % 60_000;
    minutes.retain(|&(m, _)| m + EXIT_WINDOW_MS > minute);
    match minutes.last_mut() {
        Some((m, n)) if *m == minute => *n = n.saturating_add(1),
        _ => minutes.push((minute, 1)),
    }
}

impl ProcessInfo {
    /// `GROUP:PROCESS` in `state`, wanted running, with no pid, times,
    /// exits or notes yet: the base the rest is set on (struct update
    /// syntax), so a new field has one default.
    pub fn new(group: &str, program: &str, process: &str, state: ProcessState) -> ProcessInfo {
        ProcessInfo {
            name: format!("{group}:{process}"),
            group: group.into(),
            program: program.into(),
            process: process.into(),
            state,
            wanted: Wanted::Running,
            pid: None,
            started_at: None,
            state_since: 0,
            exit_status: None,
            restarts: 0,
            description: String::new(),
            exits: vec![],
            cpu_seconds: None,
            rss_bytes: None,
            log_error: None,
            leftovers: 0,
            exits_unasked: 0,
            exits_by_minute: vec![],
            next_attempt_at: None,
            health: None,
            health_message: None,
            listener: None,
        }
    }

    /// How long the current run has lasted at `now_ms`, for a process that
    /// has a pid (and a known start).
    pub fn uptime_ms(&self, now_ms: u64) -> Option<u64> {
        match (self.state.has_pid(), self.started_at) {
            (true, Some(at)) => Some(now_ms.saturating_sub(at)),
            _ => None,
        }
    }

    /// supervisord's description of a live process at `now_ms`:
    /// `"pid 12, uptime 0:01:02"`; `None` when it has no pid.
    pub fn timing(&self, now_ms: u64) -> Option<String> {
        let pid = self.pid?;
        let up = self.uptime_ms(now_ms)?;
        Some(format!("pid {pid}, uptime {}", format_uptime(up / 1000)))
    }
}

/// `H:MM:SS`, hours unbounded, as supervisorctl shows uptime.
pub fn format_uptime(secs: u64) -> String {
    format!("{}:{:02}:{:02}", secs / 3600, secs / 60 % 60, secs % 60)
}

/// Python's `str(timedelta(seconds=secs))`, which supervisord's XML-RPC
/// `description` shows: `0:01:02`, `1 day, 2:03:04`, `3 days, 0:00:00`.
pub fn format_timedelta(secs: u64) -> String {
    let (days, rest) = (secs / 86400, secs % 86400);
    let hms = format!("{}:{:02}:{:02}", rest / 3600, rest / 60 % 60, rest % 60);
    match days {
        0 => hms,
        1 => format!("1 day, {hms}"),
        d => format!("{d} days, {hms}"),
    }
}

/// `GET /v1/status`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AgentStatus {
    pub host: String,
    pub version: String,
    pub pid: u32,
    /// Unix ms when the agent started.
    pub started_at: u64,
    /// The TCP address the agent serves its API on (the bound port, also
    /// when the config says port 0); absent without a TCP listener.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub listen: Option<String>,
    pub processes: Vec<ProcessInfo>,
}

#[cfg(test)]
mod tests {

    #[test]
    fn exits_by_minute_keep_ten_minutes() {
        let mut m = vec![];
        let t0 = 1_000_000_040_000; // 20 s into a minute
        assert_eq!(t0 % 60_000, 20_000);
        for k in 0..500 {
            count_exit(&mut m, t0 + k * 100); // 500 exits in 50 s
        }
        assert_eq!(m.iter().map(|x| x.1).sum::<u32>(), 500);
        assert!(m.len() <= 2, "{m:?}");
        count_exit(&mut m, t0 + 9 * 60_000);
        assert_eq!(m.iter().map(|x| x.1).sum::<u32>(), 501);
        // Eleven minutes on, only the new minute is left.
        count_exit(&mut m, t0 + 20 * 60_000);
        assert_eq!(m, vec![(t0 - 20_000 + 20 * 60_000, 1)]);
    }

    use super::*;

    fn info(state: ProcessState, pid: Option<u32>, started_at: Option<u64>) -> ProcessInfo {
        ProcessInfo {
            pid,
            started_at,
            ..ProcessInfo::new("web", "web", "web_00", state)
        }
    }

    #[test]
    fn uptime_formats_like_supervisorctl() {
        for (secs, want) in [
            (0, "0:00:00"),
            (59, "0:00:59"),
            (62, "0:01:02"),
            (3600, "1:00:00"),
            (3 * 86400 + 3723, "73:02:03"),
        ] {
            assert_eq!(format_uptime(secs), want, "{secs}");
        }
    }

    #[test]
    fn timedelta_formats_like_python() {
        for (secs, want) in [
            (0, "0:00:00"),
            (62, "0:01:02"),
            (86399, "23:59:59"),
            (86400 + 7384, "1 day, 2:03:04"),
            (3 * 86400, "3 days, 0:00:00"),
        ] {
            assert_eq!(format_timedelta(secs), want, "{secs}");
        }
    }

    #[test]
    fn timing_comes_from_the_fields() {
        let now = 10_000_000;
        let table = [
            (
                ProcessState::Running,
                Some(12),
                Some(now - 62_500),
                Some("pid 12, uptime 0:01:02"),
            ),
            (
                ProcessState::Starting,
                Some(12),
                Some(now),
                Some("pid 12, uptime 0:00:00"),
            ),
            (
                ProcessState::Stopping,
                Some(9),
                Some(now - 3_600_000),
                Some("pid 9, uptime 1:00:00"),
            ),
            // A clock step back shows zero, not a wrap.
            (
                ProcessState::Running,
                Some(12),
                Some(now + 5_000),
                Some("pid 12, uptime 0:00:00"),
            ),
            (ProcessState::Exited, None, Some(now - 1_000), None),
            (ProcessState::Stopped, None, None, None),
            // An agent that did not send started_at: no made-up uptime.
            (ProcessState::Running, Some(12), None, None),
        ];
        for (state, pid, at, want) in table {
            let p = info(state, pid, at);
            assert_eq!(p.timing(now).as_deref(), want, "{state} {pid:?} {at:?}");
            assert_eq!(p.uptime_ms(now).is_some(), state.has_pid() && at.is_some());
        }
    }

    #[test]
    fn timing_fields_may_be_absent() {
        let json = r#"{"name":"a:a","group":"a","program":"a","process":"a",
            "state":"RUNNING","wanted":"running","pid":3,"exit_status":null,
            "restarts":0,"description":"pid 3, uptime 0:00:01","future":1}"#;
        let p: ProcessInfo = serde_json::from_str(json).unwrap();
        assert_eq!((p.started_at, p.state_since), (None, 0));
    }
}
