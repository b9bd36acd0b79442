//! One virtual host: its process table (fleet-api's `ProcessInfo`, as an
//! agent reports it), its event history with sequence numbers, and the
//! state transitions verbs and crash loops make. Everything a host holds
//! sits behind one short-held mutex; nothing here has a thread or a task
//! of its own (a verb's delays are awaited by the request that asked).

use fleet_api::{
    ActionResult, AgentStatus, Event, ExitInfo, ExitKind, Outcome, ProcessInfo, ProcessState,
    Selector, Verb, Wanted,
};
use fleet_daemon::time::now_ms;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::broadcast;

/// How long a start stays STARTING before RUNNING (a program's
/// `startsecs`, the same for every simulated process).
pub const STARTSECS: Duration = Duration::from_millis(1000);
/// How long a stop stays STOPPING (a program that exits on SIGTERM at once).
pub const STOP_DELAY: Duration = Duration::from_millis(5);
/// Events a host keeps for `Last-Event-ID` resume. The agent keeps 1,024;
/// 5,000 hosts with that many would cost the simulator gigabytes, and a
/// console that follows live only ever resumes a few back.
const HISTORY: usize = 64;
/// Live events a slow follower may fall behind before it gets a `gap`.
const LIVE: usize = 256;
/// A BACKOFF's wait before the next attempt, as reported.
const BACKOFF_MS: u64 = 1000;
/// The steps of a crash loop, starting from RUNNING.
const CYCLE: [ProcessState; 5] = [
    ProcessState::Exited,
    ProcessState::Starting,
    ProcessState::Backoff,
    ProcessState::Starting,
    ProcessState::Running,
];

/// One event as it goes on the wire: its id and its JSON (made once, sent
/// to every follower and kept for resume).
pub struct Frame {
    pub seq: u64,
    pub json: String,
}

struct Proc {
    info: ProcessInfo,
    /// One of the share that crash-loops (`--crashing`).
    crashing: bool,
    /// Where it stands in [`CYCLE`].
    step: usize,
    /// Bumped by every verb: a verb's later step applies only while no
    /// newer verb took the process over, and a crash loop leaves a
    /// process alone while a verb holds it.
    gen: u64,
    busy: bool,
}

struct Inner {
    procs: Vec<Proc>,
    seq: u64,
    history: VecDeque<Arc<Frame>>,
    next_pid: u32,
}

pub struct Host {
    pub name: String,
    pub token: String,
    pub listen: String,
    pub started_at: u64,
    inner: Mutex<Inner>,
    tx: broadcast::Sender<Arc<Frame>>,
}

/// The table of a host with `m` processes: half of them (rounded up) a
/// `celery` group of `worker_NN`, the rest a `web` group of `web_NN`;
/// `crashing(i)` says which crash-loop. All start RUNNING.
fn table(m: usize, crashing: impl Fn(usize) -> bool, now: u64) -> Vec<Proc> {
    let celery = m.div_ceil(2);
    (0..m)
        .map(|i| {
            let (group, program, num) = if i < celery {
                ("celery", "worker", i)
            } else {
                ("web", "web", i - celery)
            };
            let process = format!("{program}_{num:02}");
            Proc {
                info: ProcessInfo {
                    pid: Some(1000 + i as u32),
                    started_at: Some(now),
                    state_since: now,
                    rss_bytes: Some(24 << 20),
                    cpu_seconds: Some(0.0),
                    ..ProcessInfo::new(group, program, &process, ProcessState::Running)
                },
                crashing: crashing(i),
                step: 0,
                gen: 0,
                busy: false,
            }
        })
        .collect()
}

impl Host {
    pub fn new(
        name: String,
        token: String,
        listen: String,
        m: usize,
        crashing: impl Fn(usize) -> bool,
    ) -> Host {
        let now = now_ms();
        Host {
            name,
            token,
            listen,
            started_at: now,
            inner: Mutex::new(Inner {
                procs: table(m, crashing, now),
                seq: 0,
                history: VecDeque::with_capacity(HISTORY),
                next_pid: 1000 + m as u32,
            }),
            tx: broadcast::channel(LIVE).0,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Indexes of the processes that crash-loop.
    pub fn crashing(&self) -> Vec<usize> {
        let g = self.lock();
        (0..g.procs.len())
            .filter(|&i| g.procs[i].crashing)
            .collect()
    }

    pub fn status(&self) -> AgentStatus {
        let now = now_ms();
        let g = self.lock();
        AgentStatus {
            host: self.name.clone(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            pid: std::process::id(),
            started_at: self.started_at,
            listen: Some(self.listen.clone()),
            processes: g.procs.iter().map(|p| described(&p.info, now)).collect(),
        }
    }

    /// What `GET /v1/events` with `Last-Event-ID: after` sends first (and
    /// whether history had already dropped some of it), then the receiver
    /// of what follows: the agent's rule (`supervisor/events.rs`).
    pub fn resume(
        &self,
        after: Option<u64>,
    ) -> (Vec<Arc<Frame>>, bool, broadcast::Receiver<Arc<Frame>>) {
        let g = self.lock();
        let rx = self.tx.subscribe();
        let Some(after) = after else {
            return (Vec::new(), false, rx);
        };
        let missed = g
            .history
            .front()
            .is_some_and(|first| first.seq > after.saturating_add(1));
        let past = g
            .history
            .iter()
            .filter(|f| f.seq > after)
            .cloned()
            .collect();
        (past, missed, rx)
    }

    /// A process by full name, or by process name when that is unique:
    /// the agent's rule for log addresses. `Err(true)`: ambiguous.
    pub fn find(&self, name: &str) -> Result<String, bool> {
        let g = self.lock();
        if let Some(p) = g.procs.iter().find(|p| p.info.name == name) {
            return Ok(p.info.name.clone());
        }
        let mut by = g.procs.iter().filter(|p| p.info.process == name);
        match (by.next(), by.next()) {
            (Some(p), None) => Ok(p.info.name.clone()),
            (Some(_), Some(_)) => Err(true),
            _ => Err(false),
        }
    }

    /// The next step of crash-looping process `i` (one event), unless a
    /// verb holds it or an operator stopped it.
    pub fn crash_step(&self, i: usize) {
        let now = now_ms();
        let mut g = self.lock();
        let p = &mut g.procs[i];
        if p.busy || p.info.wanted == Wanted::Stopped {
            return;
        }
        // From RUNNING a cycle begins; elsewhere only the state the cycle
        // left it in goes on (a verb may have moved it meanwhile).
        if p.info.state == ProcessState::Running {
            p.step = 0;
        } else if p.info.state != CYCLE[(p.step + CYCLE.len() - 1) % CYCLE.len()] {
            return;
        }
        let to = CYCLE[p.step];
        p.step = (p.step + 1) % CYCLE.len();
        let died = |code| ExitInfo {
            kind: ExitKind::Exited,
            code: Some(code),
            signal: None,
            core_dumped: false,
            stopped_by_us: false,
            expected: false,
            message: None,
            at: now,
        };
        let exit = matches!(to, ProcessState::Exited | ProcessState::Backoff).then(|| died(1));
        self.apply(&mut g, i, to, exit, now);
    }

    /// Set process `i` to `to` and record the event (`exit`: how it ended,
    /// for a change to a state without a pid).
    fn apply(&self, g: &mut Inner, i: usize, to: ProcessState, exit: Option<ExitInfo>, now: u64) {
        let pid = if to == ProcessState::Starting {
            g.next_pid = g.next_pid.wrapping_add(1).max(1000);
            Some(g.next_pid)
        } else {
            None
        };
        let p = &mut g.procs[i].info;
        let from = p.state;
        p.state = to;
        p.state_since = now;
        p.next_attempt_at = None;
        if let Some(pid) = pid {
            if p.started_at.is_some() {
                p.restarts += 1;
            }
            p.pid = Some(pid);
            p.started_at = Some(now);
        }
        if let Some(e) = &exit {
            if !e.stopped_by_us {
                p.exits_unasked += 1;
                fleet_api::count_exit(&mut p.exits_by_minute, now);
            }
            p.exits.push(e.clone());
            if p.exits.len() > 10 {
                p.exits.remove(0);
            }
            p.exit_status = Some(e.clone());
        }
        if !to.has_pid() {
            p.pid = None;
        }
        if to == ProcessState::Backoff {
            p.next_attempt_at = Some(now + BACKOFF_MS);
        }
        let info = described(p, now);
        g.seq += 1;
        let event = Event {
            seq: g.seq,
            time: now,
            name: info.name.clone(),
            group: info.group.clone(),
            from,
            to,
            pid: info.pid,
            exit_status: exit,
            description: String::new(),
            process: Some(Box::new(info)),
            removed: false,
        };
        let json = serde_json::to_string(&event).unwrap_or_default();
        let frame = Arc::new(Frame { seq: g.seq, json });
        if g.history.len() == HISTORY {
            g.history.pop_front();
        }
        g.history.push_back(frame.clone());
        // No follower is no error: the event is in history.
        let _ = self.tx.send(frame);
    }

    /// Perform `verb` on the processes `sel` names and (with `wait`) wait
    /// for each to reach the verb's end state: stops take
    /// [`STOP_DELAY`], starts [`STARTSECS`], processes of one call in
    /// parallel. `None`: the selector names nothing here.
    pub async fn act(
        self: &Arc<Self>,
        verb: Verb,
        sel: &Selector,
        wait: bool,
    ) -> Option<Vec<ActionResult>> {
        let (idx, gen) = {
            let mut g = self.lock();
            let idx: Vec<usize> = {
                let infos: Vec<&ProcessInfo> = g.procs.iter().map(|p| &p.info).collect();
                let chosen = sel.select(infos.iter().copied());
                (0..g.procs.len())
                    .filter(|&i| chosen.iter().any(|c| std::ptr::eq(*c, &g.procs[i].info)))
                    .collect()
            };
            if idx.is_empty() {
                return None;
            }
            let mut gen = Vec::with_capacity(idx.len());
            for &i in &idx {
                let p = &mut g.procs[i];
                p.gen += 1;
                p.busy = verb != Verb::Signal;
                gen.push(p.gen);
            }
            (idx, gen)
        };
        let before: Vec<ProcessState> = {
            let g = self.lock();
            idx.iter().map(|&i| g.procs[i].info.state).collect()
        };
        let this = self.clone();
        let plan = {
            let idx = idx.clone();
            let gen = gen.clone();
            async move { this.perform(verb, &idx, &gen).await }
        };
        if wait {
            plan.await;
        } else {
            tokio::spawn(plan);
        }
        let g = self.lock();
        Some(
            idx.iter()
                .zip(&before)
                .map(|(&i, &was)| verdict(verb, &g.procs[i].info, was, wait))
                .collect(),
        )
    }

    async fn perform(&self, verb: Verb, idx: &[usize], gen: &[u64]) {
        if verb == Verb::Signal {
            return;
        }
        let mine = |g: &Inner, k: usize| g.procs[idx[k]].gen == gen[k];
        if matches!(verb, Verb::Stop | Verb::Restart) {
            let mut stopping = Vec::new();
            {
                let now = now_ms();
                let mut g = self.lock();
                for (k, &i) in idx.iter().enumerate() {
                    if verb == Verb::Stop {
                        g.procs[i].info.wanted = Wanted::Stopped;
                    }
                    match g.procs[i].info.state {
                        s if s.has_pid() => {
                            self.apply(&mut g, i, ProcessState::Stopping, None, now);
                            stopping.push(k);
                        }
                        ProcessState::Backoff => {
                            self.apply(&mut g, i, ProcessState::Stopped, None, now)
                        }
                        _ => {}
                    }
                }
            }
            if !stopping.is_empty() {
                tokio::time::sleep(STOP_DELAY).await;
                let now = now_ms();
                let mut g = self.lock();
                for k in stopping {
                    if mine(&g, k) && g.procs[idx[k]].info.state == ProcessState::Stopping {
                        let exit = stopped(now);
                        self.apply(&mut g, idx[k], ProcessState::Stopped, Some(exit), now);
                    }
                }
            }
        }
        if matches!(verb, Verb::Start | Verb::Restart) {
            let mut starting = Vec::new();
            {
                let now = now_ms();
                let mut g = self.lock();
                for (k, &i) in idx.iter().enumerate() {
                    if !mine(&g, k) {
                        continue;
                    }
                    g.procs[i].info.wanted = Wanted::Running;
                    match g.procs[i].info.state {
                        ProcessState::Running => {}
                        ProcessState::Starting => starting.push(k),
                        _ => {
                            self.apply(&mut g, i, ProcessState::Starting, None, now);
                            starting.push(k);
                        }
                    }
                }
            }
            if !starting.is_empty() {
                tokio::time::sleep(STARTSECS).await;
                let now = now_ms();
                let mut g = self.lock();
                for k in starting {
                    if mine(&g, k) && g.procs[idx[k]].info.state == ProcessState::Starting {
                        self.apply(&mut g, idx[k], ProcessState::Running, None, now);
                        g.procs[idx[k]].step = 0;
                    }
                }
            }
        }
        let mut g = self.lock();
        for (k, &i) in idx.iter().enumerate() {
            if mine(&g, k) {
                g.procs[i].busy = false;
            }
        }
    }
}

/// How a stop by fleet ends: killed by SIGTERM, asked for.
fn stopped(now: u64) -> ExitInfo {
    ExitInfo {
        kind: ExitKind::Signaled,
        code: None,
        signal: Some("TERM".into()),
        core_dumped: false,
        stopped_by_us: true,
        expected: false,
        message: None,
        at: now,
    }
}

/// A process as status shows it at `now`: supervisord's description.
fn described(p: &ProcessInfo, now: u64) -> ProcessInfo {
    let mut p = p.clone();
    p.description = match (p.timing(now), &p.exit_status) {
        (Some(t), _) => t,
        (None, Some(e)) if p.state != ProcessState::Stopped || e.stopped_by_us => e.to_string(),
        _ => "Not started".into(),
    };
    p
}

/// One process's line of a verb's answer: the agent's outcomes (`ok`,
/// `already`, `failed`) by the state it was in and the state it reached.
fn verdict(verb: Verb, p: &ProcessInfo, was: ProcessState, waited: bool) -> ActionResult {
    let (outcome, message) = match verb {
        Verb::Start if was == ProcessState::Running => (Outcome::Already, String::new()),
        Verb::Stop if was.is_stopped() => (Outcome::Already, String::new()),
        Verb::Signal if !was.has_pid() => (
            Outcome::Failed,
            format!("{} is not running ({was})", p.name),
        ),
        Verb::Start | Verb::Restart if waited && p.state != ProcessState::Running => (
            Outcome::Failed,
            format!("{} did not reach RUNNING ({})", p.name, p.state),
        ),
        Verb::Stop if waited && !p.state.is_stopped() => (
            Outcome::Failed,
            format!("{} did not stop ({})", p.name, p.state),
        ),
        _ => (Outcome::Ok, String::new()),
    };
    ActionResult {
        name: p.name.clone(),
        outcome,
        state: p.state,
        pid: p.pid,
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(m: usize, crash: bool) -> Arc<Host> {
        Arc::new(Host::new("h".into(), "t".into(), "x".into(), m, |_| crash))
    }

    #[test]
    fn a_crash_loop_walks_the_cycle_and_records_each_step() {
        let h = host(1, true);
        let states: Vec<ProcessState> = (0..5)
            .map(|_| {
                h.crash_step(0);
                h.status().processes[0].state
            })
            .collect();
        assert_eq!(states, CYCLE);
        let (past, missed, _) = h.resume(Some(0));
        assert!(!missed);
        assert_eq!(
            past.iter().map(|f| f.seq).collect::<Vec<_>>(),
            [1, 2, 3, 4, 5]
        );
        assert_eq!(h.status().processes[0].restarts, 2);
    }

    #[test]
    fn history_keeps_the_newest_and_reports_the_gap() {
        let h = host(1, true);
        for _ in 0..HISTORY + 5 {
            h.crash_step(0);
        }
        let (past, missed, _) = h.resume(Some(1));
        assert!(missed);
        assert_eq!(past.len(), HISTORY);
    }

    #[tokio::test]
    async fn stop_then_start_reach_their_end_states() {
        let h = host(4, false);
        let sel: Selector = "group:celery".parse().unwrap();
        let r = h.act(Verb::Stop, &sel, true).await.unwrap();
        assert_eq!(r.len(), 2);
        assert!(r
            .iter()
            .all(|r| r.outcome == Outcome::Ok && r.state == ProcessState::Stopped));
        let r = h.act(Verb::Stop, &sel, true).await.unwrap();
        assert!(r.iter().all(|r| r.outcome == Outcome::Already));
        let r = h.act(Verb::Start, &sel, true).await.unwrap();
        assert!(r
            .iter()
            .all(|r| r.outcome == Outcome::Ok && r.state == ProcessState::Running));
        assert!(h
            .act(Verb::Stop, &"nope".parse().unwrap(), true)
            .await
            .is_none());
    }
}
