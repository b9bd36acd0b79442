//! Publishing: the snapshot handlers read and the events followers get,
//! in that order. Each cycle `publish` sends the table as a new
//! [`Snapshot`] when something changed, then records the cycle's events
//! (queued by `record`) and notes for the changes no event reported
//! (`quiet_changes`), so an event is never older than the status that
//! shows it.

use super::table::unix_ms;
use super::{Owner, Snapshot};
use fleet_api::{ProcessState, Wanted};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::SystemTime;
use tokio::sync::watch;

/// The owner's part for publishing.
pub(super) struct Parts {
    /// Where handlers read the table as last published.
    pub snapshot: watch::Sender<Arc<Snapshot>>,
    /// The table changed since the last publish.
    pub dirty: bool,
    /// Events of this cycle, recorded by `publish` right after the
    /// snapshot: a follower that re-reads the status because of an event
    /// must find a status at least as new as the event (recorded before
    /// it, a re-read could bring back what the event had changed).
    pub unsent: Vec<fleet_api::Event>,
    /// Processes whose removal was reported while their row waits for
    /// `sweep`: no "added" note for them.
    pub gone: HashSet<String>,
    /// The first publish reports nothing: readers start from a status.
    pub published: bool,
}

impl Parts {
    pub fn new(snapshot: watch::Sender<Arc<Snapshot>>) -> Parts {
        Parts {
            snapshot,
            dirty: true,
            unsent: Vec::new(),
            gone: HashSet::new(),
            published: false,
        }
    }
}

impl Owner {
    pub(super) fn publish(&mut self) {
        if !self.publishing.dirty {
            self.send_events(Vec::new());
            return;
        }
        self.publishing.dirty = false;
        let snap = Snapshot {
            procs: self
                .procs
                .iter()
                .map(|p| {
                    let mut s = p.snap();
                    s.rank = self.order.ranks.get(&s.info.name).copied().unwrap_or(0);
                    s.waiting = self.order.waiting.contains(&s.info.name);
                    if let Some(l) = &p.spec.listener {
                        s.info.listener =
                            Some(self.listener_info(&s.info.name, &p.spec.program, &l.events));
                    }
                    s
                })
                .collect(),
            shutting_down: self.shutdown.levels.is_some(),
        };
        let notes = match std::mem::replace(&mut self.publishing.published, true) {
            true => self.quiet_changes(&snap),
            false => Vec::new(),
        };
        let procs = &self.procs;
        let index = &self.index;
        self.publishing
            .gone
            .retain(|name| index.get(name).is_some_and(|&i| procs[i].removing));
        self.publishing.snapshot.send_replace(Arc::new(snap));
        self.send_events(notes);
    }

    /// Record this cycle's events, then `notes`, after the snapshot.
    fn send_events(&mut self, notes: Vec<fleet_api::Event>) {
        for e in self.publishing.unsent.drain(..) {
            self.events.record(e);
        }
        for n in notes {
            tracing::debug!(process = %n.name, "{}", n.description);
            self.events.record(n);
        }
    }

    /// Queue an event for followers; `publish` records it after the
    /// snapshot that shows it.
    pub(super) fn record(&mut self, event: fleet_api::Event) {
        if event.removed {
            self.publishing.gone.insert(event.name.clone());
        }
        self.publishing.unsent.push(event);
    }

    /// A change no event reported (a `wanted` flip of a stopped process, a
    /// process a reload added without starting or dropped while stopped, a
    /// field that changed without a state change) becomes a note carrying
    /// the process, so a follower's copy never waits for a re-read. What a
    /// follower holds is the last snapshot, updated by this cycle's events.
    fn quiet_changes(&self, snap: &Snapshot) -> Vec<fleet_api::Event> {
        let before = self.publishing.snapshot.borrow().clone();
        let mut known: HashMap<&str, Option<&fleet_api::ProcessInfo>> = before
            .procs
            .iter()
            .map(|p| (p.info.name.as_str(), Some(&p.info)))
            .collect();
        for name in &self.publishing.gone {
            known.insert(name.as_str(), None);
        }
        for e in &self.publishing.unsent {
            if e.removed {
                known.insert(e.name.as_str(), None);
            } else if let Some(p) = &e.process {
                known.insert(e.name.as_str(), Some(p));
            }
        }
        let mut notes = Vec::new();
        for p in &snap.procs {
            let now = &p.info;
            let desc = match known.remove(now.name.as_str()) {
                Some(Some(was)) if was == now => continue,
                Some(Some(was)) => changed_fields(was, now),
                // Its removal was reported; the row leaves at the next sweep.
                Some(None) if self.removing(&now.name) => continue,
                // New, or revived after its removal was reported.
                Some(None) | None => "added".to_owned(),
            };
            notes.push(note(now.state, now, desc, false));
        }
        // Gone from the table without a removal event (a stopped process
        // a reload or removeProcessGroup dropped).
        for was in known.into_values().flatten() {
            notes.push(note(was.state, was, "removed".to_owned(), true));
        }
        notes
    }

    fn removing(&self, name: &str) -> bool {
        self.index
            .get(name)
            .is_some_and(|&i| self.procs[i].removing)
    }
}

/// A note (`from == to`) carrying `p` whole.
fn note(
    state: ProcessState,
    p: &fleet_api::ProcessInfo,
    description: String,
    removed: bool,
) -> fleet_api::Event {
    fleet_api::Event {
        seq: 0,
        time: unix_ms(SystemTime::now()),
        name: p.name.clone(),
        group: p.group.clone(),
        from: state,
        to: state,
        pid: p.pid,
        exit_status: None,
        description,
        process: Some(Box::new(p.clone())),
        removed,
    }
}

/// Which fields differ, for the note's description: "wanted running".
fn changed_fields(was: &fleet_api::ProcessInfo, now: &fleet_api::ProcessInfo) -> String {
    let mut what = Vec::new();
    if was.wanted != now.wanted {
        what.push(match now.wanted {
            Wanted::Running => "wanted running".to_owned(),
            Wanted::Stopped => "wanted stopped".to_owned(),
        });
    }
    let others = [
        ("pid", was.pid != now.pid),
        ("started_at", was.started_at != now.started_at),
        ("state_since", was.state_since != now.state_since),
        ("exit_status", was.exit_status != now.exit_status),
        ("exits", was.exits != now.exits),
        ("restarts", was.restarts != now.restarts),
        ("log_error", was.log_error != now.log_error),
        ("health", was.health != now.health),
        ("health_message", was.health_message != now.health_message),
        ("listener", was.listener != now.listener),
        ("leftovers", was.leftovers != now.leftovers),
        ("description", was.description != now.description),
    ];
    let rest: Vec<&str> = others.iter().filter(|c| c.1).map(|c| c.0).collect();
    if !rest.is_empty() {
        what.push(format!("changed: {}", rest.join(", ")));
    }
    if what.is_empty() {
        what.push("changed".to_owned());
    }
    what.join("; ")
}
