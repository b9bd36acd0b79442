//! Leftovers: what remains of a process's family once its main process has
//! exited (stopped by us, crashed, or exited on its own) — pool children,
//! task subprocesses, daemonized helpers. With `leftovers = "stop"` (the
//! default) each gets the program's stop signal, then SIGKILL after its
//! stopwaitsecs.
//!
//! This is the owner's job, outside the pure state machine: a small table
//! of hunts (one per exited instance that left something), each with the
//! time its SIGKILL is due, feeding `next_deadline`. The process's state
//! never waits for it, so a crash is restarted at once (with
//! killasgroup the state machine's own KillFamily still applies).
//!
//! Exact membership: the first look (in the wake-up that reaped the main,
//! so its group id cannot have been reused) takes the old process group and
//! the agent's adopted children that carry the instance's spawn marker,
//! plus their descendants. Later looks take only what the first one found
//! (pid and start time), marked adoptees, and their descendants: the group
//! id alone could by then name somebody else's group.

use super::Owner;
use crate::config::Leftovers;
use crate::spawn::MARK_VAR;
use crate::sys;
use crate::sys::proc::Stat;
use std::collections::HashSet;
use std::time::{Duration, Instant, SystemTime};

/// The owner's part for leftovers and strays.
#[derive(Default)]
pub(super) struct Parts {
    /// Instances whose main was reaped in this wake-up.
    pub exited: Vec<Exited>,
    /// Leftover families being stopped.
    pub hunts: Vec<Hunt>,
    /// Something was reaped since the last look: a hunt may be over.
    pub reaped_since_look: bool,
    /// Stray children sent SIGTERM at shutdown, and when SIGKILL follows.
    pub swept: std::collections::HashSet<(u32, u64)>,
    pub sweep_kill_at: Option<std::time::Instant>,
}

/// An instance whose main has exited, to look for leftovers of.
pub(super) struct Exited {
    pub name: String,
    pub mark: String,
    pub pid: u32,
    pub signal: i32,
    pub stopwaitsecs: Duration,
    /// When to look (`FIRST_LOOK` after the exit).
    pub due: Instant,
}

/// How long after a main's exit its family is first looked for: not in the
/// wake-up that restarts it, so the /proc scan never competes with the new
/// instance's start (crash→restart latency), and one scan serves a burst
/// of exits. The group id cannot be reused this soon: only once the group
/// is empty and the pid space has wrapped.
const FIRST_LOOK: Duration = Duration::from_millis(50);

/// Leftovers of one instance being stopped.
pub(super) struct Hunt {
    name: String,
    mark: String,
    pid: u32,
    stopwaitsecs: Duration,
    /// (pid, start time) of every member last seen.
    members: Vec<(u32, u64)>,
    /// When SIGKILL goes out (again, every stopwaitsecs, while any is left).
    kill_at: Instant,
}

/// How long a stray child of the agent gets between the stop signal and
/// SIGKILL at shutdown, at least (see `Owner::final_sweep`).
const STRAY_GRACE: Duration = Duration::from_millis(500);

impl Owner {
    /// Note an instance whose main was just reaped, if its leftovers are to
    /// be stopped. Call before the exit is applied (a restart replaces the
    /// mark and may swap in a reloaded spec).
    pub(super) fn note_exited(&mut self, i: usize, pid: u32) {
        let p = &self.procs[i];
        // killasgroup already SIGKILLs the family through the state machine.
        if p.spec.leftovers == Leftovers::Keep || p.spec.killasgroup || p.mark.is_empty() {
            return;
        }
        self.leftovers.exited.push(Exited {
            name: p.full_name(),
            mark: p.mark.clone(),
            pid,
            signal: p.spec.stopsignal,
            stopwaitsecs: p.spec.stopwaitsecs,
            due: Instant::now() + FIRST_LOOK,
        });
    }

    /// Look for leftovers of every noted instance and of every hunt under
    /// way, with one /proc scan: new ones get the stop signal, hunts whose
    /// families are gone end, due ones get SIGKILL.
    pub(super) fn hunt(&mut self) {
        let now = Instant::now();
        let due_now = |e: &Exited| e.due <= now;
        if !self.leftovers.exited.iter().any(due_now)
            && !self.leftovers.hunts.iter().any(|h| h.kill_at <= now)
        {
            // Nothing due; hunts still running end when a look finds them
            // gone (at their SIGKILL time, or on a reap below).
            if self.leftovers.hunts.is_empty() || !self.leftovers.reaped_since_look {
                return;
            }
        }
        self.leftovers.reaped_since_look = false;
        let all = self.below_agent();
        let (due, later): (Vec<Exited>, Vec<Exited>) = std::mem::take(&mut self.leftovers.exited)
            .into_iter()
            .partition(due_now);
        self.leftovers.exited = later;
        for e in due {
            let marker = format!("{MARK_VAR}={}", e.mark);
            let found = self.members(&all, &marker, |s| s.pgid == e.pid);
            if found.is_empty() {
                continue;
            }
            for s in &found {
                let _ = sys::signal::send(s.pid, e.signal);
            }
            let mut kill_at = now + e.stopwaitsecs;
            if let Some(d) = self.shutdown.deadline {
                // Shutdown is bounded by the largest stopwaitsecs.
                kill_at = kill_at.min(d.max(now + STRAY_GRACE));
            }
            let pids: Vec<u32> = found.iter().map(|s| s.pid).collect();
            let desc = format!(
                "{} leftover process{} of pid {} ({}) sent {}; SIGKILL after {:?} if still running",
                pids.len(),
                if pids.len() == 1 { "" } else { "es" },
                e.pid,
                list(&pids),
                sys::signal::name(e.signal),
                kill_at.saturating_duration_since(now),
            );
            tracing::info!(process = %e.name, leftovers = ?pids, "{desc}");
            if let Some(&i) = self.index.get(&e.name) {
                self.procs[i].leftovers += pids.len() as u32;
                self.publishing.dirty = true;
            }
            self.note(&e.name, e.pid, desc);
            self.leftovers.hunts.push(Hunt {
                name: e.name,
                mark: e.mark,
                pid: e.pid,
                stopwaitsecs: e.stopwaitsecs,
                members: found.iter().map(|s| (s.pid, s.start)).collect(),
                kill_at,
            });
        }
        let mut hunts = std::mem::take(&mut self.leftovers.hunts);
        hunts.retain_mut(|h| {
            let marker = format!("{MARK_VAR}={}", h.mark);
            let known: HashSet<(u32, u64)> = h.members.iter().copied().collect();
            let found = self.members(&all, &marker, |s| known.contains(&(s.pid, s.start)));
            if found.is_empty() {
                return false;
            }
            h.members = found.iter().map(|s| (s.pid, s.start)).collect();
            if now >= h.kill_at {
                let pids: Vec<u32> = found.iter().map(|s| s.pid).collect();
                for &m in &pids {
                    let _ = sys::signal::send(m, libc::SIGKILL);
                }
                let desc = format!(
                    "{} leftover process{} of pid {} still running after the stop signal ({}) sent KILL",
                    pids.len(),
                    if pids.len() == 1 { "" } else { "es" },
                    h.pid,
                    list(&pids),
                );
                tracing::warn!(process = %h.name, leftovers = ?pids, "{desc}");
                self.note(&h.name, h.pid, desc);
                h.kill_at = now + h.stopwaitsecs.max(STRAY_GRACE);
            }
            true
        });
        self.leftovers.hunts = hunts;
    }

    /// The earliest SIGKILL due among hunts (and the shutdown sweep).
    pub(super) fn hunt_deadline(&self) -> Option<Instant> {
        self.leftovers
            .hunts
            .iter()
            .map(|h| h.kill_at)
            .chain(self.leftovers.exited.iter().map(|e| e.due))
            .chain(self.leftovers.sweep_kill_at)
            .min()
    }

    /// Leftover families still to look for or being stopped.
    pub(super) fn hunting(&self) -> bool {
        !self.leftovers.hunts.is_empty() || !self.leftovers.exited.is_empty()
    }

    /// What a family can be among: the agent is the child subreaper, so
    /// whatever a program leaves behind is below the agent, and not below
    /// another program's main. Walking that subtree costs O(the agent's
    /// children and what they left), not O(every process on the host) (a
    /// big Celery host runs thousands); a full scan only where the kernel
    /// keeps no child lists.
    fn below_agent(&self) -> Vec<Stat> {
        let pids = &self.pids;
        sys::proc::scan_below(self.agent_pid, |pid| pids.contains_key(&pid))
            .unwrap_or_else(sys::proc::scan)
    }

    /// Family members in `all`: seeds chosen by `seed`, the agent's adopted
    /// children that carry `marker`, and their descendants; never the
    /// agent or a managed main process.
    fn members(&self, all: &[Stat], marker: &str, seed: impl Fn(&Stat) -> bool) -> Vec<Stat> {
        let agent = self.agent_pid;
        sys::proc::closure(
            all,
            |s| {
                seed(s)
                    || (s.ppid == agent
                        && s.state != b'Z'
                        && sys::proc::environ_has(s.pid, marker.as_bytes()))
            },
            |pid| pid == agent || self.pids.contains_key(&pid),
        )
    }

    /// Once every program has stopped and every hunt is over: stop any
    /// child the agent still has (an orphan from elsewhere, or what a
    /// `leftovers = "keep"` program left), with SIGTERM, then SIGKILL at the
    /// shutdown deadline (or `STRAY_GRACE` after its SIGTERM). True when no
    /// child is left.
    pub(super) fn final_sweep(&mut self) -> bool {
        // Collect what already exited, so "no child" means none at all.
        self.reap();
        if self.hunting() {
            return false;
        }
        let agent = self.agent_pid;
        let all = sys::proc::scan_below(agent, |_| false).unwrap_or_else(sys::proc::scan);
        let left = sys::proc::closure(&all, |s| s.ppid == agent, |pid| pid == agent);
        if left.is_empty() {
            return true;
        }
        let now = Instant::now();
        let deadline = self.shutdown.deadline;
        let kill_at = *self
            .leftovers
            .sweep_kill_at
            .get_or_insert_with(|| deadline.unwrap_or(now).max(now + STRAY_GRACE));
        let kill = now >= kill_at;
        for s in &left {
            if kill {
                let _ = sys::signal::send(s.pid, libc::SIGKILL);
            } else if self.leftovers.swept.insert((s.pid, s.start)) {
                tracing::info!(pid = s.pid, "stopping a leftover child of the agent");
                let _ = sys::signal::send(s.pid, libc::SIGTERM);
            }
        }
        if kill {
            tracing::warn!(pids = ?left.iter().map(|s| s.pid).collect::<Vec<_>>(), "leftover children still running at shutdown: SIGKILL");
            self.leftovers.sweep_kill_at = Some(now + STRAY_GRACE);
        }
        false
    }

    /// An event for a process that does not change its state.
    pub(super) fn note(&mut self, name: &str, pid: u32, description: String) {
        let Some(&i) = self.index.get(name) else {
            return;
        };
        let p = &self.procs[i];
        let state = p.state.name();
        // Carries the process: its `leftovers` count just changed.
        self.record(fleet_api::Event {
            process: Some(Box::new(p.snap().info)),
            removed: false,
            seq: 0,
            time: super::table::unix_ms(SystemTime::now()),
            name: name.to_owned(),
            group: p.spec.group.clone(),
            from: state,
            to: state,
            pid: Some(pid),
            exit_status: None,
            description,
        });
    }
}

fn list(pids: &[u32]) -> String {
    pids.iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}
