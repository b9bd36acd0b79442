//! Start order (`depends_on`): a process asked to start while what it
//! waits for is not ready is held, and started the moment it is; it is
//! refused when what it waits for will not come (FATAL, or stopped and
//! not wanted). Autostart, `start`, reload and `--with-deps` go through
//! [`Owner::start_ordered`]; shutdown stops by rank in reverse
//! (`shutdown.rs`). Restarts after a crash are not held: the process was
//! started once in order, and holding it would turn a dependency's blip
//! into an outage.

use super::Owner;
use crate::state::{Event, State};
use fleet_api::{Health, Wanted};
use std::collections::{BTreeSet, HashMap};

/// The owner's part for start order.
#[derive(Default)]
pub(super) struct Parts {
    /// Processes held until what they wait for is ready.
    pub waiting: BTreeSet<String>,
    /// Full name → start rank (`config::ranks`).
    pub ranks: HashMap<String, u32>,
}

/// Where one dependency stands for a process that waits for it.
enum Dep {
    Ready,
    Pending(String),
    Never(String),
}

impl Owner {
    /// Recompute ranks from the table's specs (at start and each reload).
    pub(super) fn rerank(&mut self) {
        self.order.ranks = crate::config::ranks(self.procs.iter().map(|p| &p.spec));
    }

    /// (rank, priority): starts go up this key, stops down it.
    pub(super) fn start_key(&self, name: &str) -> (u32, i32) {
        let rank = self.order.ranks.get(name).copied().unwrap_or(0);
        let priority = self
            .index
            .get(name)
            .map_or(0, |&i| self.procs[i].spec.priority);
        (rank, priority)
    }

    fn dep(&self, name: &str) -> Dep {
        let Some(&i) = self.index.get(name) else {
            return Dep::Never(format!("{name}, which is not configured"));
        };
        let p = &self.procs[i];
        let state = p.state.name();
        match &p.state {
            State::Running { .. } => match (&p.spec.health, &p.health) {
                (None, _) => Dep::Ready,
                (Some(_), Some(r)) if r.tracker.status == Health::Healthy => Dep::Ready,
                (Some(_), _) => Dep::Pending(format!("{name} (RUNNING, not yet healthy)")),
            },
            // A clean exit counts as done: one-shot setup (migrations).
            State::Exited if p.last_exit.as_ref().is_some_and(|x| x.expected) => Dep::Ready,
            State::Fatal => Dep::Never(format!("{name}, which is FATAL")),
            _ if p.removing => Dep::Never(format!("{name}, which was removed")),
            _ if p.wanted == Wanted::Stopped && !self.order.waiting.contains(name) => {
                Dep::Never(format!("{name}, which is {state} and not asked to start"))
            }
            _ => Dep::Pending(format!("{name} ({state})")),
        }
    }

    /// Start `name` now (with `event`, `Start` or `Restart`) if what it
    /// waits for is ready, else hold it; `Err` when that will never be.
    pub(super) fn start_ordered(&mut self, name: &str, event: Event) -> Result<(), String> {
        let Some(&i) = self.index.get(name) else {
            return Ok(());
        };
        let deps = self.procs[i].spec.depends_on.clone();
        let mut pending = Vec::new();
        for d in &deps {
            match self.dep(d) {
                Dep::Ready => {}
                Dep::Pending(why) => pending.push(why),
                Dep::Never(why) => {
                    self.order.waiting.remove(name);
                    let msg = format!(
                        "not started: it waits for {why} (start that first, or use --with-deps)"
                    );
                    self.set_waiting(i, Some(msg.clone()));
                    return Err(msg);
                }
            }
        }
        if pending.is_empty() {
            self.order.waiting.remove(name);
            self.set_waiting(i, None);
            self.apply(name, event);
        } else {
            self.order.waiting.insert(name.to_owned());
            self.set_waiting(i, Some(format!("waiting for {}", pending.join(", "))));
        }
        Ok(())
    }

    fn set_waiting(&mut self, i: usize, why: Option<String>) {
        if self.procs[i].waiting_for != why {
            self.procs[i].waiting_for = why;
            self.publishing.dirty = true;
        }
    }

    /// Start the held processes whose dependencies became ready; drop
    /// those whose dependencies never will. Lowest rank first, so a chain
    /// starts link by link.
    pub(super) fn release_waiting(&mut self) {
        if self.order.waiting.is_empty() {
            return;
        }
        let mut held: Vec<String> = self.order.waiting.iter().cloned().collect();
        held.sort_by_key(|n| self.start_key(n));
        for name in held {
            let still = self.index.get(&name).is_some_and(|&i| {
                let p = &self.procs[i];
                p.wanted == Wanted::Running && !p.removing && p.state.name().is_stopped()
            });
            if !still {
                self.order.waiting.remove(&name);
                if let Some(&i) = self.index.get(&name) {
                    self.set_waiting(i, None);
                }
                continue;
            }
            if let Err(why) = self.start_ordered(&name, Event::Start) {
                tracing::warn!(process = %name, "{why}");
            }
        }
    }

    /// `names` and everything they wait for, transitively.
    pub(super) fn with_deps(&self, names: Vec<String>) -> Vec<String> {
        let mut all: BTreeSet<String> = names.iter().cloned().collect();
        let mut todo = names;
        while let Some(n) = todo.pop() {
            let Some(&i) = self.index.get(&n) else {
                continue;
            };
            for d in &self.procs[i].spec.depends_on {
                if all.insert(d.clone()) {
                    todo.push(d.clone());
                }
            }
        }
        all.into_iter().collect()
    }
}
