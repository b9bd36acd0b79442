//! Never twice: before its first spawn the agent stops whatever a previous
//! incarnation of itself left running (one that was SIGKILLed, or crashed:
//! its programs were reparented to init or a subreaper and still run).
//!
//! Which processes: those whose spawn marker (`FLEET_SPAWN_ID`, inherited
//! by every descendant) starts with this agent's identity — a hash of its
//! unix socket path, which only one live agent can hold (binding refuses a
//! socket that answers) — and names an agent pid other than ours, plus
//! their descendants. The program comes from `FLEET_PROCESS_NAME`.
//!
//! Stopped, not adopted: adopted processes would not be the agent's
//! children, so their exits could not be reaped or seen by the one
//! `waitpid` (only watched through pidfds), their output pipes are gone
//! with the old agent, and their state (STARTING or RUNNING, retries) is
//! unknown. Stopping them with their program's stop signal and
//! stopwaitsecs, then SIGKILL, and starting fresh is exact and keeps one
//! way of owning a process.

use super::table::unix_ms;
use super::Owner;
use crate::spawn::MARK_VAR;
use crate::sys;
use fleet_api::ProcessState;
use std::collections::BTreeMap;
use std::time::{Duration, Instant, SystemTime};

/// Stop signal and wait for a process whose program is no longer in the
/// config (supervisord's defaults).
const DEFAULT_WAIT: Duration = Duration::from_secs(10);
/// How long SIGKILLed processes get to disappear before we give up on them.
const KILL_WAIT: Duration = Duration::from_secs(5);

/// This agent's identity in spawn markers: FNV-1a of its socket path.
pub(super) fn identity(socket: &std::path::Path) -> String {
    use std::os::unix::ffi::OsStrExt;
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in socket.as_os_str().as_bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}")
}

/// What a previous incarnation left of one process.
struct Left {
    /// The old agent's pid, from the marker.
    agent: u32,
    pids: Vec<u32>,
}

impl Owner {
    /// Find and stop what a previous incarnation left running; blocks
    /// until it is gone (at most the largest stopwaitsecs involved, plus
    /// `KILL_WAIT`). Logs and records an event per process.
    pub(super) fn stop_previous(&mut self) {
        let left = self.find_previous();
        if left.is_empty() {
            return;
        }
        let killed = self.stop_left(&left);
        for (name, l) in left {
            self.note_previous(name, l, &killed);
        }
    }

    /// What previous incarnations of this agent left running, by full name:
    /// the processes marked by one of them, with descendants that cleared
    /// their environment.
    fn find_previous(&self) -> BTreeMap<String, Left> {
        let prefix = format!("{}-", self.agent_id);
        let me = self.agent_pid;
        let all = sys::proc::scan();
        let mut left: BTreeMap<String, Left> = BTreeMap::new();
        let mut marked = std::collections::HashSet::new();
        for s in &all {
            if s.pid == me || s.state == b'Z' {
                continue;
            }
            let Some(mark) = sys::proc::environ_var(s.pid, MARK_VAR) else {
                continue;
            };
            let Some(rest) = std::str::from_utf8(&mark)
                .ok()
                .and_then(|m| m.strip_prefix(&prefix))
            else {
                continue;
            };
            let Some(agent) = rest.split('-').next().and_then(|p| p.parse::<u32>().ok()) else {
                continue;
            };
            if agent == me {
                continue;
            }
            let name = sys::proc::environ_var(s.pid, "FLEET_PROCESS_NAME")
                .map(|n| String::from_utf8_lossy(&n).into_owned())
                .unwrap_or_default();
            marked.insert(s.pid);
            left.entry(name)
                .or_insert(Left {
                    agent,
                    pids: Vec::new(),
                })
                .pids
                .push(s.pid);
        }
        // Descendants that cleared their environment belong with their parent.
        for l in left.values_mut() {
            let seeds: std::collections::HashSet<u32> = l.pids.iter().copied().collect();
            let more = sys::proc::closure(&all, |s| seeds.contains(&s.pid), |pid| pid == me);
            for s in more {
                if !marked.contains(&s.pid) && !l.pids.contains(&s.pid) {
                    l.pids.push(s.pid);
                }
            }
            l.pids.sort_unstable();
        }
        left
    }

    /// Each process's stop signal, then SIGKILL after its stopwaitsecs:
    /// the names that needed the KILL.
    fn stop_left(&self, left: &BTreeMap<String, Left>) -> Vec<String> {
        let started = Instant::now();
        let mut deadline = started;
        for (name, l) in left {
            let (signal, wait) = match self.index.get(name) {
                Some(&i) => (
                    self.procs[i].spec.stopsignal,
                    self.procs[i].spec.stopwaitsecs,
                ),
                None => (libc::SIGTERM, DEFAULT_WAIT),
            };
            for &pid in &l.pids {
                let _ = sys::signal::send(pid, signal);
            }
            deadline = deadline.max(started + wait);
            tracing::warn!(process = %name, old_agent = l.agent, pids = ?l.pids, "a previous agent left this running: sent {}", sys::signal::name(signal));
        }
        let gone = |pids: &[u32]| pids.iter().all(|&p| !alive(p));
        let all_gone = |left: &BTreeMap<String, Left>| left.values().all(|l| gone(&l.pids));
        let mut killed = Vec::new();
        if !wait_until(deadline, || all_gone(left)) {
            for (name, l) in left {
                let survivors: Vec<u32> = l.pids.iter().copied().filter(|&p| alive(p)).collect();
                for &pid in &survivors {
                    let _ = sys::signal::send(pid, libc::SIGKILL);
                }
                if !survivors.is_empty() {
                    tracing::warn!(process = %name, pids = ?survivors, "still running after the stop signal: sent KILL");
                    killed.push(name.clone());
                }
            }
            if !wait_until(Instant::now() + KILL_WAIT, || all_gone(left)) {
                tracing::error!("processes left by a previous agent survive SIGKILL");
            }
        }
        killed
    }

    /// A note event (and a log line) for one process's leftovers stopped.
    fn note_previous(&mut self, name: String, l: Left, killed: &[String]) {
        let how = if killed.contains(&name) {
            "stop signal, then KILL"
        } else {
            "stop signal"
        };
        let desc = format!(
            "stopped {} process{} left running by a previous agent (pid {}) before starting fresh ({how}): {}",
            l.pids.len(),
            if l.pids.len() == 1 { "" } else { "es" },
            l.agent,
            l.pids
                .iter()
                .map(u32::to_string)
                .collect::<Vec<_>>()
                .join(", "),
        );
        tracing::info!(process = %name, "{desc}");
        let group = self
            .index
            .get(&name)
            .map(|&i| self.procs[i].spec.group.clone())
            .unwrap_or_default();
        self.events.record(fleet_api::Event {
            process: None,
            removed: false,
            seq: 0,
            time: unix_ms(SystemTime::now()),
            name,
            group,
            from: ProcessState::Stopped,
            to: ProcessState::Stopped,
            pid: l.pids.first().copied(),
            exit_status: None,
            description: desc,
        });
    }
}

/// Alive: exists and is not a zombie (they are not our children: their
/// reaper collects them).
fn alive(pid: u32) -> bool {
    sys::proc::stat(pid).is_some_and(|s| s.state != b'Z' && s.state != b'X')
}

/// Poll `done` every few ms until it holds or `deadline` passes. The owner
/// has not started its loop yet, so there is nothing else to serve.
fn wait_until(deadline: Instant, mut done: impl FnMut() -> bool) -> bool {
    loop {
        if done() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}
