//! The verbs (start, stop, restart, signal) applied to the processes a
//! selector matches, in start order (`depends_on`, then priority);
//! stops in reverse.

use super::table::Proc;
use super::Owner;
use super::{ActError, Touched};
use crate::state::Event;
use crate::sys;
use fleet_api::{Outcome, ProcessState, Selector, Verb, Wanted};

impl Owner {
    pub(super) fn select(&self, selector: &Selector) -> Result<Vec<String>, ActError> {
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

    pub(super) fn act(
        &mut self,
        selector: &Selector,
        verb: Verb,
        signal: Option<i32>,
        with_deps: bool,
    ) -> Result<Vec<Touched>, ActError> {
        if self.shutdown.levels.is_some() {
            return Err(ActError::ShuttingDown);
        }
        let mut names = self.select(selector)?;
        if with_deps && matches!(verb, Verb::Start | Verb::Restart) {
            names = self.with_deps(names);
        }
        let asked: std::collections::HashSet<String> = self.select(selector)?.into_iter().collect();
        let mut out = Vec::with_capacity(names.len());
        // Start in order, stop in reverse.
        let mut order = names.clone();
        order.sort_by_key(|n| (self.start_key(n), n.clone()));
        if verb == Verb::Stop {
            order.reverse();
        }
        for name in order {
            let i = self.index[&name];
            let attempts_before = self.procs[i].attempts;
            let state = self.procs[i].state.name();
            let mut done = None;
            // A dependency pulled in by --with-deps is started, never
            // restarted.
            let verb = match verb {
                Verb::Restart if !asked.contains(&name) => Verb::Start,
                v => v,
            };
            match verb {
                Verb::Start => {
                    self.procs[i].wanted = Wanted::Running;
                    let started = match state {
                        ProcessState::Running | ProcessState::Starting => {
                            done = Some((Outcome::Already, "already started".to_owned()));
                            Ok(())
                        }
                        // An operator start does not wait out the backoff.
                        ProcessState::Backoff => self.start_ordered(&name, Event::Restart),
                        _ => self.start_ordered(&name, Event::Start),
                    };
                    if let Err(why) = started {
                        done = Some((Outcome::Failed, why));
                    }
                }
                Verb::Stop => {
                    self.order.waiting.remove(&name);
                    self.procs[i].waiting_for = None;
                    self.procs[i].wanted = Wanted::Stopped;
                    if state.is_stopped() {
                        done = Some((Outcome::Already, "not running".to_owned()));
                    } else {
                        self.apply(&name, Event::Stop);
                    }
                }
                Verb::Restart => {
                    self.procs[i].wanted = Wanted::Running;
                    let started = match state.has_pid() {
                        true => {
                            self.apply(&name, Event::Restart);
                            Ok(())
                        }
                        false => self.start_ordered(&name, Event::Restart),
                    };
                    if let Err(why) = started {
                        done = Some((Outcome::Failed, why));
                    }
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
                // Not a process verb (the API refuses it before here).
                Verb::Reexec => {
                    done = Some((Outcome::Failed, "reexec is POST /v1/agent/reexec".into()));
                }
            }
            self.publishing.dirty = true;
            out.push(Touched {
                name,
                attempts_before,
                done,
            });
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }
}
