//! supervisord's group-level config changes on top of the process table,
//! for the XML-RPC face (`reloadConfig`, `addProcessGroup`,
//! `removeProcessGroup`, which supervisorctl's `reread`/`update`/`add`/
//! `remove` drive): compare the config file's groups with the table's, add
//! one group from the file, remove one stopped group. Unlike supervisord,
//! nothing is kept between a reread and an add: each reads the file as it
//! is then. `/v1/reload` stays finer (only changed processes are touched).

use super::table::Proc;
use super::Owner;
use crate::config::{Config, ProcessSpec};
use crate::state::Event;
use fleet_api::Wanted;
use std::collections::{BTreeMap, BTreeSet};

/// One group-level operation.
#[derive(Clone, Debug)]
pub enum GroupOp {
    /// Read the config file and compare its groups with the running ones.
    Reread,
    /// Add (and autostart) one group from the config file.
    Add(String),
    /// Remove one group whose processes are all stopped.
    Remove(String),
}

/// The config file compared with the table, by group name.
#[derive(Clone, Debug)]
pub struct Reread {
    pub added: Vec<String>,
    pub changed: Vec<String>,
    pub removed: Vec<String>,
    /// Groups in the table now.
    pub in_use: BTreeSet<String>,
    /// The config as read.
    pub config: Box<Config>,
}

#[derive(Debug)]
pub enum GroupReply {
    Reread(Reread),
    Done,
}

#[derive(Debug, thiserror::Error)]
pub enum GroupError {
    #[error("{0}")]
    CantReread(String),
    #[error("{0}")]
    BadName(String),
    #[error("{0}")]
    AlreadyAdded(String),
    #[error("{0}")]
    StillRunning(String),
    #[error("{0}")]
    Failed(String),
    #[error("the agent is shutting down")]
    ShuttingDown,
}

impl Owner {
    pub(super) fn groups(&mut self, op: GroupOp) -> Result<GroupReply, GroupError> {
        if self.shutdown.levels.is_some() {
            return Err(GroupError::ShuttingDown);
        }
        match op {
            GroupOp::Reread => self.reread().map(GroupReply::Reread),
            GroupOp::Add(g) => self.add_group(&g).map(|()| GroupReply::Done),
            GroupOp::Remove(g) => self.remove_group(&g).map(|()| GroupReply::Done),
        }
    }

    fn read_config(&self) -> Result<Config, GroupError> {
        Config::load(&self.config.source).map_err(|e| GroupError::CantReread(e.to_string()))
    }

    /// Live (not being removed) specs by group, as they will run next.
    fn live_groups(&self) -> BTreeMap<String, BTreeMap<String, &ProcessSpec>> {
        let mut by: BTreeMap<String, BTreeMap<String, &ProcessSpec>> = BTreeMap::new();
        for p in self.procs.iter().filter(|p| !p.removing) {
            let spec = p.pending.as_ref().unwrap_or(&p.spec);
            by.entry(spec.group.clone())
                .or_default()
                .insert(spec.full_name(), spec);
        }
        by
    }

    fn reread(&self) -> Result<Reread, GroupError> {
        let config = self.read_config()?;
        let live = self.live_groups();
        let mut new: BTreeMap<String, BTreeMap<String, &ProcessSpec>> = BTreeMap::new();
        for s in &config.processes {
            new.entry(s.group.clone())
                .or_default()
                .insert(s.full_name(), s);
        }
        let mut r = Reread {
            added: Vec::new(),
            changed: Vec::new(),
            removed: Vec::new(),
            in_use: live.keys().cloned().collect(),
            config: Box::new(config.clone()),
        };
        for (g, specs) in &new {
            match live.get(g) {
                None => r.added.push(g.clone()),
                Some(old) if old != specs => r.changed.push(g.clone()),
                Some(_) => {}
            }
        }
        r.removed = live
            .keys()
            .filter(|g| !new.contains_key(*g))
            .cloned()
            .collect();
        Ok(r)
    }

    fn add_group(&mut self, group: &str) -> Result<(), GroupError> {
        let config = self.read_config()?;
        let specs: Vec<&ProcessSpec> = config
            .processes
            .iter()
            .filter(|s| s.group == group)
            .collect();
        if specs.is_empty() {
            return Err(GroupError::BadName(group.to_owned()));
        }
        if self.live_groups().contains_key(group) {
            return Err(GroupError::AlreadyAdded(group.to_owned()));
        }
        // A process of the same name still stopping after a reload removed
        // it would share its table key.
        if let Some(p) = specs
            .iter()
            .find(|s| self.index.contains_key(&s.full_name()))
        {
            return Err(GroupError::StillRunning(format!(
                "{}: still being removed",
                p.full_name()
            )));
        }
        // Open every log file first, so a failure changes nothing.
        let mut added = Vec::with_capacity(specs.len());
        for spec in specs {
            let p = Proc::new(spec.clone());
            if let Some(e) = &p.log_error {
                return Err(GroupError::Failed(format!("{}: {e}", spec.full_name())));
            }
            added.push(p);
        }
        let mut starts: Vec<String> = added
            .iter()
            .filter(|p| p.wanted == Wanted::Running)
            .map(|p| p.full_name())
            .collect();
        self.procs.extend(added);
        self.reindex();
        starts.sort_by_key(|n| (self.start_key(n), n.clone()));
        for name in starts {
            if let Err(why) = self.start_ordered(&name, Event::Start) {
                tracing::warn!(process = %name, "{why}");
            }
        }
        self.publishing.dirty = true;
        Ok(())
    }

    fn remove_group(&mut self, group: &str) -> Result<(), GroupError> {
        let members: Vec<&Proc> = self
            .procs
            .iter()
            .filter(|p| !p.removing && p.spec.group == group)
            .collect();
        if members.is_empty() {
            return Err(GroupError::BadName(group.to_owned()));
        }
        if let Some(p) = members.iter().find(|p| !p.state.name().is_stopped()) {
            return Err(GroupError::StillRunning(format!(
                "{} is {}",
                p.full_name(),
                p.state.name()
            )));
        }
        self.procs.retain(|p| p.removing || p.spec.group != group);
        self.reindex();
        self.publishing.dirty = true;
        Ok(())
    }
}
