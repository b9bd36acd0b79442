//! Shutdown: stop every program one level at a time, highest first (a
//! level is a start rank from `depends_on` and a priority: what waits for
//! a process stops before it), each with its own stop semantics; then wait for leftovers being
//! stopped and stop any other child, so the agent exits with none left.

use super::table::Proc;
use super::Owner;
use crate::state::{Event, State};
use fleet_api::Wanted;
use std::time::Instant;

/// The owner's part for a shutdown in progress.
#[derive(Default)]
pub(super) struct Parts {
    /// (rank, priority) levels still to stop, highest last; `Some` once
    /// shutting down.
    pub levels: Option<Vec<(u32, i32)>>,
    pub level_started: bool,
    /// When a shutdown must be over: its start plus the largest
    /// stopwaitsecs (leftovers and strays are SIGKILLed by then).
    pub deadline: Option<std::time::Instant>,
}

impl Owner {
    pub(super) fn begin_shutdown(&mut self, why: &str) {
        if self.shutdown.levels.is_some() {
            return;
        }
        tracing::info!("{why}: stopping all programs in reverse priority order");
        self.notify(crate::listener::event::Event::supervisor(
            crate::listener::event::Kind::SupervisorStateChangeStopping,
        ));
        self.order.waiting.clear();
        let mut levels: Vec<(u32, i32)> = self
            .procs
            .iter()
            .map(|p| self.start_key(&p.full_name()))
            .collect();
        levels.sort_unstable();
        levels.dedup();
        self.shutdown.levels = Some(levels);
        let longest = self.procs.iter().map(|p| p.spec.stopwaitsecs).max();
        self.shutdown.deadline = Some(Instant::now() + longest.unwrap_or_default());
        self.shutdown.level_started = false;
        self.publishing.dirty = true;
    }

    /// Stop one priority level at a time, highest first; true when all done.
    pub(super) fn advance_shutdown(&mut self) -> bool {
        loop {
            let Some(levels) = &self.shutdown.levels else {
                return false;
            };
            let Some(&level) = levels.last() else {
                // Programs are stopped; the agent leaves no child behind.
                return self.final_sweep();
            };
            let names: Vec<String> = self
                .procs
                .iter()
                .filter(|p| self.start_key(&p.full_name()) == level)
                .map(Proc::full_name)
                .collect();
            if !self.shutdown.level_started {
                self.shutdown.level_started = true;
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
            if let Some(levels) = &mut self.shutdown.levels {
                levels.pop();
            }
            self.shutdown.level_started = false;
        }
    }
}
