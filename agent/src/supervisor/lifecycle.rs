//! The owner's process lifecycle: spawn, reap, signal and kill a
//! process's family, and drop what a reload removed. Runs on the owner
//! thread only (see `run.rs`), so a pid is in the table before its exit
//! can be seen.

use super::table::{open_logs, unix_ms, Proc};
use super::Owner;
use crate::logs::handoff::Tag;
use crate::logs::spawn_tagged_pump;
use crate::spawn::{self, MARK_VAR};
use crate::state::{self, Action, Event, Exit as RawExit, State};
use crate::sys;
use fleet_api::{ExitInfo, ExitKind, ProcessState};
use std::collections::HashSet;
use std::os::fd::OwnedFd;
use std::time::SystemTime;
use tokio::task::JoinHandle;

/// The owner's part for spawning.
pub(super) struct Parts {
    /// Every program's stdin.
    pub devnull: OwnedFd,
    /// The main runtime, where log pumps run.
    pub io: tokio::runtime::Handle,
    /// The log pumps still running.
    pub pumps: Vec<JoinHandle<()>>,
    /// Spawns so far, the last part of each spawn's mark.
    pub seq: u64,
}

impl Owner {
    pub(super) fn family(&self, i: usize) -> Vec<u32> {
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
    pub(super) fn kill_family(&mut self, i: usize) -> usize {
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
    pub(super) fn deliver(&mut self, i: usize, signal: i32, group: bool) {
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

    pub(super) fn spawn(&mut self, name: &str) {
        if self.shutdown.levels.is_some() {
            return;
        }
        let Some(&i) = self.index.get(name) else {
            return;
        };
        self.swap_pending(i);
        self.spawning.seq += 1;
        // Agent identity, agent pid, spawn number: `previous.rs` reads it.
        let mark = format!("{}-{}-{}", self.agent_id, self.agent_pid, self.spawning.seq);
        let p = &mut self.procs[i];
        p.attempts += 1;
        self.publishing.dirty = true;
        let spawned = match p.retry_logs() {
            true => spawn::spawn(&p.spec, &mark, &self.spawning.devnull).map_err(|e| e.to_string()),
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
                let _g = self.spawning.io.enter();
                self.spawning.pumps.retain(|h| !h.is_finished());
                // What `[agent] forward_output` names the lines.
                p.stdout.forward_as(name, false);
                p.stderr.forward_as(name, true);
                Owner::tap_output(p, child.pid, &self.listening.taps);
                if let Some(err) = child.stderr {
                    let tag = Tag {
                        name: name.to_owned(),
                        stderr: true,
                    };
                    let pump = spawn_tagged_pump(err, p.stderr.clone(), tag);
                    self.spawning.pumps.push(pump);
                }
                drop(_g);
                // A listener's stdout is its protocol channel, never a log.
                match child.stdin {
                    None => {
                        let _g = self.spawning.io.enter();
                        let tag = Tag {
                            name: name.to_owned(),
                            stderr: false,
                        };
                        let pump = spawn_tagged_pump(child.stdout, p.stdout.clone(), tag);
                        self.spawning.pumps.push(pump);
                    }
                    Some(stdin) => self.link(name, child.pid, stdin, child.stdout),
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
    pub(super) fn swap_pending(&mut self, i: usize) {
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
        self.publishing.dirty = true;
    }

    pub(super) fn reap(&mut self) {
        let reaped = sys::wait::reap_all();
        self.leftovers.reaped_since_look |= !reaped.is_empty();
        for (pid, exit) in reaped {
            if self.reaped_check(pid, exit) {
                continue;
            }
            let Some(name) = self.pids.remove(&pid) else {
                // An adopted descendant or a child whose exec failed.
                tracing::debug!(pid, ?exit, "reaped unmanaged child");
                continue;
            };
            let Some(&i) = self.index.get(&name) else {
                continue;
            };
            self.note_exited(i, pid);
            self.unlink(&name, pid);
            let p = &mut self.procs[i];
            let stopping = p.state.name() == ProcessState::Stopping;
            let mut info = exit_info(exit, stopping, &p.spec);
            // Why fleet stopped it, when it was not asked to (a failed
            // health check).
            if let Some(why) = p.restart_reason.take() {
                info.message = stopping.then_some(why);
            }
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
        // After the restarts: leftovers never delay one.
        self.hunt();
    }

    /// Drop processes a reload removed once they are stopped, and apply
    /// held-back specs to processes that are not running.
    pub(super) fn sweep(&mut self) {
        let before = self.procs.len();
        self.procs.retain(|p| {
            !(p.removing
                && p.state.name().is_stopped()
                && !matches!(p.state, State::Stopping { .. }))
        });
        if self.procs.len() != before {
            self.reindex();
            self.publishing.dirty = true;
        }
        for i in 0..self.procs.len() {
            if self.procs[i].pending.is_some() && self.procs[i].state.name().is_stopped() {
                self.swap_pending(i);
            }
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
