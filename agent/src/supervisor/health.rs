//! The owner's side of health checks: one timer per checked process (its
//! next check or its running check's deadline) in an ordered set, so the
//! loop finds the next one without a scan and checks due within 20 ms of
//! each other share a wake-up; network probes run as tasks on the owner's
//! own runtime (no wake-up of another thread per check; each awaits only
//! I/O and ends by its own timeout), answering over a channel drained in
//! one pass; exec probes are spawned and reaped here like every child.
//! Nothing here waits: a hung target costs a pending task, never a delay
//! of the loop. Costs nothing when no program has a check.

use super::Owner;
use crate::config::{HealthCheck, OnUnhealthy};
use crate::health::probe::{self, Verdict};
use crate::health::Tracker;
use crate::state::{Event, State};
use fleet_api::Health;
use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tokio::sync::mpsc;

/// What the I/O runtime tells the owner about checks.
pub(super) enum Done {
    /// A network probe's answer.
    Probe {
        name: String,
        gen: u64,
        verdict: Verdict,
    },
    /// An exec probe's output reached its end.
    Drained { pid: u32 },
}

/// An exec probe: its verdict needs both its exit and all its output.
struct Exec {
    name: String,
    gen: u64,
    tail: Tail,
    exit: Option<crate::state::Exit>,
    drained: bool,
}

/// The owner's part for health checks.
pub(super) struct Parts {
    pub tx: mpsc::UnboundedSender<Done>,
    /// Built at the first http check.
    client: Option<reqwest::Client>,
    /// Exec probes running: pid → (process, probe generation, output tail).
    execs: HashMap<u32, Exec>,
    gen: u64,
    /// Every armed time (a check due, a running check's deadline) with its
    /// process, earliest first: the loop's next health deadline is the
    /// first entry, found without a scan. An entry is not removed when its
    /// time changes; one that no longer matches the process's run is
    /// dropped when it comes up.
    timers: BTreeSet<(Instant, String)>,
}

type Tail = Arc<Mutex<Vec<u8>>>;

impl Parts {
    pub fn new() -> (Parts, mpsc::UnboundedReceiver<Done>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let parts = Parts {
            tx,
            client: None,
            execs: HashMap::new(),
            gen: 0,
            timers: BTreeSet::new(),
        };
        (parts, rx)
    }
}

/// One checked process's checks since its last spawn.
pub struct Run {
    pub tracker: Tracker,
    /// When the next check starts (none while one runs).
    due: Option<Instant>,
    probe: Option<Probe>,
}

struct Probe {
    gen: u64,
    /// Past it the check failed (a task past its own timeout, or an exec
    /// probe, which is then killed).
    deadline: Instant,
    exec_pid: Option<u32>,
    task: Option<tokio::task::AbortHandle>,
}

impl Run {
    pub(super) fn cancel(&mut self) {
        if let Some(p) = self.probe.take() {
            if let Some(t) = p.task {
                t.abort();
            }
            if let Some(pid) = p.exec_pid {
                kill_group(pid);
            }
        }
    }
}

fn kill_group(pid: u32) {
    let pid = nix::unistd::Pid::from_raw(pid as i32);
    let _ = nix::sys::signal::killpg(pid, nix::sys::signal::Signal::SIGKILL);
}

impl Owner {
    /// Keep a process's checks in step with its state: a fresh run at
    /// each spawn, none while it is stopping or gone.
    pub(super) fn health_follow(&mut self, i: usize) {
        let p = &mut self.procs[i];
        let Some(spec) = &p.spec.health else {
            if let Some(mut r) = p.health.take() {
                r.cancel();
            }
            return;
        };
        match (&p.state, &mut p.health) {
            (State::Starting { pid, since, .. } | State::Running { pid, since }, run) => {
                if run
                    .as_ref()
                    .is_some_and(|r| r.tracker.spawned_pid == Some(*pid))
                {
                    return;
                }
                if let Some(r) = run {
                    r.cancel();
                }
                let mut tracker = Tracker::new(*since);
                tracker.spawned_pid = Some(*pid);
                let due = Instant::now() + spread(Tracker::first_delay(spec), 0.5);
                *run = Some(Run {
                    tracker,
                    due: Some(due),
                    probe: None,
                });
                let name = p.full_name();
                self.health.timers.insert((due, name));
            }
            (_, run) => {
                if let Some(mut r) = run.take() {
                    r.cancel();
                    self.publishing.dirty = true;
                }
            }
        }
    }

    /// The earliest check or check deadline.
    pub(super) fn health_deadline(&self) -> Option<Instant> {
        self.health.timers.first().map(|(at, _)| *at)
    }

    /// Start the checks that are due (or nearly: within [`COALESCE`], so
    /// checks close in time share one wake-up); fail the running ones past
    /// their deadline (exactly: a timeout is never cut short).
    pub(super) fn fire_health(&mut self, now: Instant) {
        let horizon = now + COALESCE;
        let up: Vec<(Instant, String)> = self
            .health
            .timers
            .iter()
            .take_while(|(at, _)| *at <= horizon)
            .cloned()
            .collect();
        for (at, name) in up {
            let Some(&i) = self.index.get(&name) else {
                self.health.timers.remove(&(at, name));
                continue;
            };
            let Some(run) = &self.procs[i].health else {
                self.health.timers.remove(&(at, name));
                continue;
            };
            match &run.probe {
                Some(p) if p.deadline == at && at <= now => {
                    self.health.timers.remove(&(at, name.clone()));
                    let gen = p.gen;
                    let timeout = self.procs[i].spec.health.as_ref().map(|h| h.timeout);
                    let why = probe::timed_out(timeout.unwrap_or_default());
                    let (pid, task) = (p.exec_pid, p.task.clone());
                    self.health_verdict(&name, gen, (false, why));
                    // After the verdict, which needs the probe in place.
                    if let Some(t) = task {
                        t.abort();
                    }
                    if let Some(pid) = pid {
                        kill_group(pid);
                    }
                }
                // Its deadline, not yet come: it stays armed.
                Some(p) if p.deadline == at => {}
                None if run.due == Some(at) => {
                    self.health.timers.remove(&(at, name));
                    self.start_probe(i, now);
                }
                // Stale: the run's time moved on.
                _ => {
                    self.health.timers.remove(&(at, name));
                }
            }
        }
    }

    fn start_probe(&mut self, i: usize, now: Instant) {
        self.health.gen += 1;
        let gen = self.health.gen;
        let name = self.procs[i].full_name();
        let Some(spec) = self.procs[i].spec.health.clone() else {
            return;
        };
        let mut probe = Probe {
            gen,
            // A task ends by its own timeout; this is the backstop.
            deadline: now + spec.timeout + std::time::Duration::from_millis(500),
            exec_pid: None,
            task: None,
        };
        let tx = self.health.tx.clone();
        match &spec.check {
            HealthCheck::Http {
                url,
                expect_status,
                expect_body,
            } => {
                // The full client only for https, built once.
                let client = url.starts_with("https://").then(|| {
                    self.health
                        .client
                        .get_or_insert_with(probe::http_client)
                        .clone()
                });
                let (url, expect, body) = (url.clone(), expect_status.clone(), expect_body.clone());
                let n = name.clone();
                let t = tokio::spawn(async move {
                    let verdict = probe::http(
                        move || client.unwrap_or_else(probe::http_client),
                        &url,
                        &expect,
                        body.as_deref(),
                        spec.timeout,
                    )
                    .await;
                    let _ = tx.send(Done::Probe {
                        name: n,
                        gen,
                        verdict,
                    });
                });
                probe.task = Some(t.abort_handle());
            }
            HealthCheck::Tcp { addr } => {
                let addr = addr.clone();
                let n = name.clone();
                let t = tokio::spawn(async move {
                    let verdict = probe::tcp(&addr, spec.timeout).await;
                    let _ = tx.send(Done::Probe {
                        name: n,
                        gen,
                        verdict,
                    });
                });
                probe.task = Some(t.abort_handle());
            }
            HealthCheck::Exec { argv } => {
                probe.deadline = now + spec.timeout;
                match self.spawn_check(i, argv) {
                    Ok((pid, tail)) => {
                        probe.exec_pid = Some(pid);
                        let exec = Exec {
                            name: name.clone(),
                            gen,
                            tail,
                            exit: None,
                            drained: false,
                        };
                        self.health.execs.insert(pid, exec);
                    }
                    Err(e) => {
                        if let Some(r) = &mut self.procs[i].health {
                            r.due = None;
                            r.probe = Some(probe);
                        }
                        self.health_verdict(
                            &name,
                            gen,
                            (false, format!("cannot run the check: {e}")),
                        );
                        return;
                    }
                }
            }
        }
        let deadline = probe.deadline;
        if let Some(r) = &mut self.procs[i].health {
            r.due = None;
            r.probe = Some(probe);
            self.health.timers.insert((deadline, name));
        }
    }

    /// An exec probe: the program's user, directory and environment, its
    /// output (both streams) drained into a short tail for the message.
    fn spawn_check(&mut self, i: usize, argv: &[String]) -> Result<(u32, Tail), String> {
        self.spawning.seq += 1;
        let mark = format!(
            "{}-{}-check-{}",
            self.agent_id, self.agent_pid, self.spawning.seq
        );
        let spec = crate::config::ProcessSpec {
            argv: argv.to_vec(),
            redirect_stderr: true,
            ..self.procs[i].spec.clone()
        };
        let child =
            crate::spawn::spawn(&spec, &mark, &self.spawning.devnull).map_err(|e| e.to_string())?;
        let tail: Tail = Arc::default();
        let keep = tail.clone();
        let out = child.stdout;
        let (tx, pid) = (self.health.tx.clone(), child.pid);
        tokio::spawn(async move {
            use tokio::io::AsyncReadExt;
            // Drained to the end, so a chatty check never blocks on a
            // full pipe; only the tail is kept.
            let Ok(mut rx) = tokio::net::unix::pipe::Receiver::from_owned_fd(out) else {
                return;
            };
            let mut buf = [0u8; 4096];
            while let Ok(n) = rx.read(&mut buf).await {
                if n == 0 {
                    break;
                }
                let mut t = keep.lock().unwrap_or_else(|e| e.into_inner());
                t.extend_from_slice(&buf[..n]);
                let excess = t.len().saturating_sub(TAIL);
                t.drain(..excess);
            }
            let _ = tx.send(Done::Drained { pid });
        });
        Ok((child.pid, tail))
    }

    /// A child was reaped; true when it was an exec probe.
    pub(super) fn reaped_check(&mut self, pid: u32, exit: crate::state::Exit) -> bool {
        let Some(e) = self.health.execs.get_mut(&pid) else {
            return false;
        };
        e.exit = Some(exit);
        self.exec_done(pid);
        true
    }

    /// An exec probe's verdict, once it has exited and its output ended
    /// (a check that leaves a process holding its output open runs into
    /// its timeout).
    fn exec_done(&mut self, pid: u32) {
        let Some(e) = self.health.execs.get(&pid) else {
            return;
        };
        let (Some(exit), true) = (e.exit, e.drained) else {
            return;
        };
        let e = self.health.execs.remove(&pid).expect("just read");
        let out = String::from_utf8_lossy(&e.tail.lock().unwrap_or_else(|e| e.into_inner()))
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            // The program's own words: shown by fleetctl in a terminal and
            // by the page, so no control characters (escape sequences).
            .map(|l| {
                l.trim()
                    .chars()
                    .filter(|c| !c.is_control())
                    .take(200)
                    .collect::<String>()
            });
        let (ok, what) = match exit {
            crate::state::Exit::Code(0) => (true, "exit 0".to_owned()),
            crate::state::Exit::Code(c) => (false, format!("exit {c}")),
            crate::state::Exit::Signal { signal, .. } => (
                false,
                format!("killed by {}", crate::sys::signal::name(signal)),
            ),
        };
        let message = match out {
            Some(line) => format!("{what}: {line}"),
            None => what,
        };
        self.health_verdict(&e.name, e.gen, (ok, message));
    }

    /// A message from a probe task.
    pub(super) fn health_result(&mut self, done: Done) {
        match done {
            Done::Probe { name, gen, verdict } => self.health_verdict(&name, gen, verdict),
            Done::Drained { pid } => {
                if let Some(e) = self.health.execs.get_mut(&pid) {
                    e.drained = true;
                    self.exec_done(pid);
                }
            }
        }
    }

    /// A check finished: update the verdict, report a change, act on it.
    fn health_verdict(&mut self, name: &str, gen: u64, verdict: Verdict) {
        let Some(&i) = self.index.get(name) else {
            return;
        };
        let p = &mut self.procs[i];
        let (Some(spec), Some(run)) = (&p.spec.health, &mut p.health) else {
            return;
        };
        if run.probe.as_ref().is_none_or(|pr| pr.gen != gen) {
            // A cancelled or timed-out check answering late.
            return;
        }
        run.probe = None;
        let now = Instant::now();
        let (ok, message) = verdict;
        let before = run.tracker.message.clone();
        let changed = run.tracker.observe(ok, message.clone(), now, spec);
        let due = now + spread(run.tracker.next_delay(now, spec), 0.1);
        run.due = Some(due);
        self.health.timers.insert((due, name.to_owned()));
        if before.as_deref() != Some(message.as_str()) || changed.is_some() {
            self.publishing.dirty = true;
        }
        let Some(health) = changed else {
            return;
        };
        let restart = health == Health::Unhealthy
            && spec.on_unhealthy == OnUnhealthy::Restart
            && matches!(p.state, State::Running { .. });
        let failures = spec.failures;
        let span = tracing::info_span!("process", name = %name);
        let _g = span.enter();
        let what = format!("health: {health} ({message})");
        match health {
            Health::Unhealthy => tracing::warn!("{what}"),
            _ => tracing::info!("{what}"),
        }
        let pid = p.state.pid().unwrap_or_default();
        self.note(name, pid, what);
        if restart {
            let why = format!(
                "restarted by fleet: unhealthy after {failures} failed check{} ({message})",
                if failures == 1 { "" } else { "s" }
            );
            tracing::warn!("{why}");
            self.procs[i].restart_reason = Some(why);
            self.apply(name, Event::Restart);
        }
    }
}

/// How close two checks' times must be to share a wake-up of the loop.
const COALESCE: std::time::Duration = std::time::Duration::from_millis(20);

/// `d` less a random share up to `part` of it: processes started together
/// (500 workers of one program) do not check together, so no burst of
/// connections and no burst of work for the loop.
fn spread(d: std::time::Duration, part: f64) -> std::time::Duration {
    d.mul_f64(1.0 - part * fastrand::f64())
}

/// Bytes of an exec check's output kept for its message.
const TAIL: usize = 512;
