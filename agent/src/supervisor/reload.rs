//! Reload: a pure diff of two process lists by full name, and the owner
//! applying it. Finer than supervisord's (which restarts a whole group when
//! one member changes): only processes whose spec differs are touched.

use super::table::Proc;
use super::Owner;
use super::ReloadError;
use crate::config::{Config, ProcessSpec};
use crate::state::Event;
use fleet_api::{ReloadResponse, Wanted};
use std::collections::{BTreeMap, BTreeSet};

#[derive(Debug, Default, PartialEq)]
pub struct Diff {
    pub added: Vec<ProcessSpec>,
    pub changed: Vec<ProcessSpec>,
    /// Changed only in what a running process takes as is (its health
    /// check, its start order): updated in place, never restarted.
    pub retuned: Vec<ProcessSpec>,
    /// Full names.
    pub removed: Vec<String>,
    /// Full names.
    pub unchanged: Vec<String>,
    /// The answer, by program name.
    pub report: ReloadResponse,
}

pub fn diff(old: &[ProcessSpec], new: &[ProcessSpec]) -> Diff {
    let old_by: BTreeMap<String, &ProcessSpec> = old.iter().map(|s| (s.full_name(), s)).collect();
    let new_by: BTreeMap<String, &ProcessSpec> = new.iter().map(|s| (s.full_name(), s)).collect();
    let mut d = Diff::default();
    let mut touched: BTreeSet<&str> = BTreeSet::new();
    for (name, spec) in &new_by {
        match old_by.get(name) {
            None => {
                d.added.push((*spec).clone());
                touched.insert(&spec.program);
            }
            Some(o) if !o.same_process(spec) => {
                d.changed.push((*spec).clone());
                touched.insert(&spec.program);
                touched.insert(&o.program);
            }
            Some(o) if *o != *spec => {
                d.retuned.push((*spec).clone());
                touched.insert(&spec.program);
            }
            Some(_) => d.unchanged.push(name.clone()),
        }
    }
    for (name, spec) in &old_by {
        if !new_by.contains_key(name) {
            d.removed.push(name.clone());
            touched.insert(&spec.program);
        }
    }
    let old_programs: BTreeSet<&str> = old.iter().map(|s| s.program.as_str()).collect();
    let new_programs: BTreeSet<&str> = new.iter().map(|s| s.program.as_str()).collect();
    for p in new_programs.union(&old_programs) {
        let list = match (old_programs.contains(p), new_programs.contains(p)) {
            (false, true) => &mut d.report.added,
            (true, false) => &mut d.report.removed,
            _ if touched.contains(p) => &mut d.report.changed,
            _ => &mut d.report.unchanged,
        };
        list.push((*p).to_owned());
    }
    d
}

impl Owner {
    pub(super) fn reload(&mut self, config: Option<Config>) -> Result<ReloadResponse, ReloadError> {
        if self.shutdown.levels.is_some() {
            return Err(ReloadError::ShuttingDown);
        }
        let config = match config {
            Some(c) => c,
            None => Config::load(&self.config.source)
                .map_err(|e| ReloadError::Invalid(e.to_string()))?,
        };
        let old: Vec<_> = self
            .procs
            .iter()
            .filter(|p| !p.removing)
            .map(|p| p.spec.clone())
            .collect();
        let d = diff(&old, &config.processes);
        // Open every new log file first, so a failure changes nothing. A
        // name an earlier reload removed may still be in the table, its
        // process stopping: that row is revived below rather than joined by
        // a second one, so a name never has two rows (nor two processes).
        let mut added = Vec::new();
        let mut revived = Vec::new();
        for spec in &d.added {
            if self.index.contains_key(&spec.full_name()) {
                revived.push(spec.clone());
                continue;
            }
            let p = Proc::new(spec.clone());
            if let Some(e) = &p.log_error {
                return Err(ReloadError::Invalid(format!("{}: {e}", spec.full_name())));
            }
            added.push(p);
        }
        let mut report = d.report.clone();
        if config.agent != self.config.agent {
            report
                .warnings
                .push("[agent] settings changed; restart fleet-agent to apply them".to_owned());
        }
        for name in &d.removed {
            self.order.waiting.remove(name);
            let i = self.index[name];
            self.procs[i].removing = true;
            self.procs[i].wanted = Wanted::Stopped;
            self.apply(name, Event::Stop);
        }
        for spec in d.changed {
            let name = spec.full_name();
            let i = self.index[&name];
            let p = &mut self.procs[i];
            p.pending = Some(spec);
            if p.wanted == Wanted::Running {
                // Stops with the old spec, starts with the new one.
                self.apply(&name, Event::Restart);
            }
        }
        for spec in d.retuned {
            let name = spec.full_name();
            let i = self.index[&name];
            let p = &mut self.procs[i];
            p.spec.health = spec.health.clone();
            p.spec.depends_on = spec.depends_on.clone();
            if let Some(pending) = &mut p.pending {
                pending.health = spec.health;
                pending.depends_on = spec.depends_on;
            }
            // A new check starts over from unknown.
            if let Some(mut run) = p.health.take() {
                run.cancel();
            }
            self.health_follow(i);
        }
        let mut starts: Vec<String> = added
            .iter()
            .filter(|p| p.wanted == Wanted::Running)
            .map(Proc::full_name)
            .collect();
        for spec in revived {
            let name = spec.full_name();
            let p = &mut self.procs[self.index[&name]];
            p.removing = false;
            p.wanted = if spec.autostart {
                Wanted::Running
            } else {
                Wanted::Stopped
            };
            // Like a changed spec: the old instance finishes stopping with
            // the spec it started with, the next spawn takes this one.
            p.pending = (spec != p.spec).then_some(spec);
            if p.wanted == Wanted::Running {
                starts.push(name);
            }
        }
        self.procs.extend(added);
        self.reindex();
        starts.sort_by_key(|n| (self.start_key(n), n.clone()));
        for name in starts {
            if let Err(why) = self.start_ordered(&name, Event::Start) {
                tracing::warn!(process = %name, "{why}");
            }
        }
        self.config = config;
        self.publishing.dirty = true;
        Ok(report)
    }

    pub(super) fn reopen_logs(&mut self) {
        for p in &self.procs {
            for s in [&p.stdout, &p.stderr] {
                if let Err(e) = s.reopen() {
                    tracing::warn!(process = %p.full_name(), "cannot reopen log file: {e}");
                }
            }
        }
        tracing::info!("log files reopened (SIGUSR2)");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(super) fn spec(program: &str, name: &str, cmd: &str) -> ProcessSpec {
        ProcessSpec::example(program, name, &[cmd])
    }

    #[test]
    pub(super) fn classifies_processes_and_programs() {
        let old = vec![
            spec("a", "a", "x"),
            spec("b", "b_0", "x"),
            spec("b", "b_1", "x"),
            spec("gone", "gone", "x"),
        ];
        let new = vec![
            spec("a", "a", "x"),
            spec("b", "b_0", "x"),
            spec("b", "b_1", "y"),
            spec("b", "b_2", "y"),
            spec("new", "new", "x"),
        ];
        let d = diff(&old, &new);
        let names = |v: &[ProcessSpec]| v.iter().map(|s| s.full_name()).collect::<Vec<_>>();
        assert_eq!(names(&d.added), vec!["b:b_2", "new:new"]);
        assert_eq!(names(&d.changed), vec!["b:b_1"]);
        assert_eq!(d.removed, vec!["gone:gone"]);
        assert_eq!(d.unchanged, vec!["a:a", "b:b_0"]);
        assert_eq!(d.report.added, vec!["new"]);
        assert_eq!(d.report.changed, vec!["b"]);
        assert_eq!(d.report.removed, vec!["gone"]);
        assert_eq!(d.report.unchanged, vec!["a"]);
    }

    #[test]
    pub(super) fn identical_lists_change_nothing() {
        let l = vec![spec("a", "a", "x")];
        let d = diff(&l, &l);
        assert!(d.added.is_empty() && d.changed.is_empty() && d.removed.is_empty());
        assert_eq!(d.report.unchanged, vec!["a"]);
    }
}
