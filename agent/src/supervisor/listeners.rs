//! Event listeners, the owner's side: the pools (`listener::pool`), one
//! link per running listener process (`listener::link`, a task on the
//! main runtime), events raised where they happen (`notify`), handed to
//! READY listeners in RUNNING processes (`dispatch`), answers applied as
//! they come (`heard`), ticks only while some pool subscribes to one.
//! Nothing here waits on a listener.

use super::table::{unix_ms, Proc};
use super::Owner;
use crate::listener::event::{envelope, Event, Kind, Subs, Who};
use crate::listener::link::{self, Carried, Heard, Linked, What};
use crate::listener::pool::{Pool, Queued};
use crate::listener::protocol::{Said, State};
use crate::logs::tap::{self, Tap, Tapped};
use fleet_api::{ListenerInfo, ProcessState};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::os::fd::OwnedFd;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};
use tokio::sync::mpsc;

/// How long listener counters may lag in the published snapshot: a busy
/// pool republishes at most this often, not once per event.
const FLUSH: Duration = Duration::from_secs(1);

/// The owner's part for listeners.
/// (`listeners_handoff.rs` carries what a re-exec must not lose.)
pub(super) struct Parts {
    /// By pool name (the `[eventlistener.X]` section).
    pub(super) pools: BTreeMap<String, Pool>,
    /// Every pool's subscriptions: an event no pool wants costs a test.
    subs: Subs,
    /// The last agent-wide serial given.
    pub(super) serial: Option<u64>,
    /// Running listener processes by full name.
    pub(super) links: HashMap<String, Link>,
    heard: mpsc::UnboundedSender<Heard>,
    /// The period each subscribed tick last fired for (supervisord's
    /// `ticks`: start of the period, unix seconds).
    pub(super) ticks: [Option<u64>; 3],
    /// Groups as of the last `PROCESS_GROUP_*` events.
    pub(super) groups: BTreeSet<String>,
    /// Counters changed since the last publish; publish by then.
    flush_at: Option<Instant>,
    /// Where `*_events_enabled` streams send their chunks.
    pub taps: mpsc::Sender<Tapped>,
}

pub(super) struct Link {
    pub(super) pool: String,
    pub(super) pid: u32,
    pub(super) state: State,
    /// The event out with it while BUSY.
    pub(super) busy: Option<Queued>,
    /// Its task; None once stopped for a re-exec, or when there was none
    /// to restart (its stdout had closed: it is exiting).
    pub(super) task: Option<Linked>,
}

impl Parts {
    pub fn new() -> (Parts, Inputs) {
        let (tx, rx) = mpsc::unbounded_channel();
        let (taps, tapped) = mpsc::channel(tap::DEPTH);
        let parts = Parts {
            pools: BTreeMap::new(),
            subs: Subs::default(),
            serial: None,
            links: HashMap::new(),
            heard: tx,
            ticks: [None; 3],
            groups: BTreeSet::new(),
            flush_at: None,
            taps,
        };
        (parts, Inputs { heard: rx, tapped })
    }
}

/// What the owner loop waits on for listeners: what they said, and the
/// output of programs with `*_events_enabled`.
pub(super) struct Inputs {
    pub heard: mpsc::UnboundedReceiver<Heard>,
    pub tapped: mpsc::Receiver<Tapped>,
}

impl Owner {
    /// Pools from the table's specs: new ones created, gone ones dropped
    /// (with what they held, as supervisord), kept ones retuned. Then the
    /// group events since the last call. Run at start and after every
    /// reload or group change.
    pub(super) fn listeners_configured(&mut self) {
        let mut want: BTreeMap<String, (Subs, usize)> = BTreeMap::new();
        for p in self.procs.iter().filter(|p| !p.removing) {
            let spec = p.pending.as_ref().unwrap_or(&p.spec);
            if let Some(l) = &spec.listener {
                want.insert(spec.program.clone(), (l.subs, l.buffer_size));
            }
        }
        let l = &mut self.listening;
        l.pools.retain(|name, _| want.contains_key(name));
        for (name, (subs, size)) in &want {
            let pool = l
                .pools
                .entry(name.clone())
                .or_insert_with(|| Pool::new(name, *subs, *size));
            pool.subs = *subs;
            pool.buffer_size = (*size).max(1);
        }
        l.subs = l
            .pools
            .values()
            .fold(Subs::default(), |s, p| s.union(p.subs));
        let now_secs = unix_ms(SystemTime::now()) / 1000;
        for (i, (kind, period)) in Kind::TICKS.iter().enumerate() {
            match l.subs.has(*kind) {
                true => {
                    l.ticks[i].get_or_insert(now_secs - now_secs % period);
                }
                false => l.ticks[i] = None,
            }
        }
        let groups: BTreeSet<String> = self
            .procs
            .iter()
            .filter(|p| !p.removing)
            .map(|p| p.spec.group.clone())
            .collect();
        let before = std::mem::take(&mut self.listening.groups);
        for g in before.difference(&groups) {
            self.notify(Event::group(Kind::ProcessGroupRemoved, g));
        }
        for g in groups.difference(&before) {
            self.notify(Event::group(Kind::ProcessGroupAdded, g));
        }
        self.listening.groups = groups;
        self.publishing.dirty = true;
    }

    /// Offer an event to every pool subscribed to its type.
    pub(super) fn notify(&mut self, event: Event) {
        let l = &mut self.listening;
        if !l.subs.has(event.kind) {
            return;
        }
        let serial = l.serial.map_or(0, |s| s.wrapping_add(1));
        l.serial = Some(serial);
        let event = Arc::new(event);
        for pool in l.pools.values_mut().filter(|p| p.subs.has(event.kind)) {
            if let Some(gone) = pool.accept(event.clone(), serial) {
                overflowed(pool, &gone);
                self.publishing.dirty = true;
            }
        }
        l.flush_at.get_or_insert_with(|| Instant::now() + FLUSH);
    }

    /// A process state change, as supervisord reports it.
    pub(super) fn notify_state(&mut self, i: usize, from: ProcessState, old_pid: Option<u32>) {
        let p = &self.procs[i];
        let to = p.state.name();
        if !self.listening.subs.has(Kind::of_state(to)) {
            return;
        }
        let tries = match p.state {
            crate::state::State::Starting { retries, .. }
            | crate::state::State::Backoff { retries, .. } => retries,
            _ => 0,
        };
        let expected = p.last_exit.as_ref().is_some_and(|x| x.expected);
        let pid = p.state.pid().or(old_pid);
        let who = Who {
            process: &p.spec.name,
            group: &p.spec.group,
        };
        let event = Event::state(&who, from, to, tries, expected, pid);
        self.notify(event);
    }

    /// A program was just spawned, its pumps not started yet: its
    /// streams with `*_events_enabled` send their chunks (as this pid) for
    /// `PROCESS_LOG_*` events.
    pub(super) fn tap_output(p: &Proc, pid: u32, tx: &mpsc::Sender<Tapped>) {
        let name = p.full_name();
        if p.spec.stdout_events {
            p.stdout.tap(|| Tap::new(&name, false, tx.clone()), pid);
        }
        if p.spec.stderr_events && !p.spec.redirect_stderr {
            p.stderr.tap(|| Tap::new(&name, true, tx.clone()), pid);
        }
    }

    /// A chunk of a tapped stream: a `PROCESS_LOG_*` event, if the
    /// process still asks for them.
    pub(super) fn tapped(&mut self, t: Tapped) {
        let Some(&i) = self.index.get(&t.name) else {
            return;
        };
        let spec = &self.procs[i].spec;
        let on = match t.stderr {
            false => spec.stdout_events,
            true => spec.stderr_events,
        };
        if !on {
            return;
        }
        let who = Who {
            process: &spec.name,
            group: &spec.group,
        };
        let event = Event::log(&who, t.pid, t.stderr, &t.data);
        self.notify(event);
    }

    /// A listener was just spawned: start its link.
    pub(super) fn link(&mut self, name: &str, pid: u32, stdin: OwnedFd, stdout: OwnedFd) {
        let from = Some(Carried::fresh(stdin, stdout));
        self.link_as(name, pid, from, State::Acknowledged, None);
    }

    /// Start a link from where a conversation stands (`from`: its pipes,
    /// or None for a listener whose link had ended), the owner's view of it
    /// being `state` with `busy` out.
    pub(super) fn link_as(
        &mut self,
        name: &str,
        pid: u32,
        from: Option<Carried>,
        state: State,
        busy: Option<Queued>,
    ) {
        let Some(&i) = self.index.get(name) else {
            return;
        };
        let pool = self.procs[i].spec.program.clone();
        let _g = self.spawning.io.enter();
        let heard = self.listening.heard.clone();
        let task = from.map(|from| link::start(name.to_owned(), pid, from, heard));
        let link = Link {
            pool,
            pid,
            state,
            busy,
            task,
        };
        self.listening.links.insert(name.to_owned(), link);
        self.publishing.dirty = true;
    }

    /// A listener process exited: the event it held goes back to the head
    /// of its pool (supervisord's `EventRejectedEvent` from `finish`).
    pub(super) fn unlink(&mut self, name: &str, pid: u32) {
        let l = &mut self.listening;
        if l.links.get(name).is_none_or(|k| k.pid != pid) {
            return;
        }
        let link = l.links.remove(name).expect("just found");
        if let Some(q) = link.busy {
            tracing::warn!(process = %name, serial = q.serial, "listener exited with an event out: buffered again");
            requeue(l, &link.pool, q);
        }
        self.publishing.dirty = true;
    }

    /// Apply what a listener said.
    pub(super) fn heard(&mut self, h: Heard) {
        let l = &mut self.listening;
        let Some(link) = l.links.get_mut(&h.name).filter(|k| k.pid == h.pid) else {
            return;
        };
        let pool = link.pool.clone();
        match h.what {
            What::Said(Said::Ready) => link.state = State::Ready,
            What::Said(Said::Result(result)) => {
                link.state = State::Acknowledged;
                let q = link.busy.take();
                match (q, result == b"OK") {
                    (Some(_), true) => {
                        if let Some(p) = l.pools.get_mut(&pool) {
                            p.handled += 1;
                        }
                    }
                    (Some(q), false) => {
                        tracing::warn!(process = %h.name, serial = q.serial, "event was rejected: buffered again");
                        requeue(l, &pool, q);
                    }
                    (None, _) => {}
                }
            }
            What::Said(Said::Violation(why)) => {
                tracing::warn!(process = %h.name, "has entered the UNKNOWN state and will no longer receive events ({why}); this usually means it broke the eventlistener protocol");
                link.state = State::Unknown;
                if let Some(q) = link.busy.take() {
                    requeue(l, &pool, q);
                }
                self.publishing.dirty = true;
            }
            What::WriteFailed(why) => {
                tracing::warn!(process = %h.name, "cannot send it events: {why}");
                link.state = State::Unknown;
                if let Some(q) = link.busy.take() {
                    if let Some(p) = l.pools.get_mut(&pool) {
                        p.unpop(q);
                    }
                }
                self.publishing.dirty = true;
            }
        }
        self.listening
            .flush_at
            .get_or_insert_with(|| Instant::now() + FLUSH);
    }

    /// Hand buffered events to READY listeners of RUNNING processes, the
    /// oldest first, one event per listener at a time.
    pub(super) fn dispatch(&mut self) {
        if self.listening.pools.values().all(Pool::is_empty) {
            return;
        }
        let mut ready: Vec<&String> = self
            .listening
            .links
            .iter()
            .filter(|(_, k)| k.state == State::Ready)
            .map(|(name, _)| name)
            .filter(|name| {
                self.index
                    .get(*name)
                    .is_some_and(|&i| self.procs[i].state.name() == ProcessState::Running)
            })
            .collect();
        ready.sort();
        let ready: Vec<String> = ready.into_iter().cloned().collect();
        let l = &mut self.listening;
        for name in ready {
            let link = l.links.get_mut(&name).expect("listed");
            let Some(pool) = l.pools.get_mut(&link.pool) else {
                continue;
            };
            let Some(q) = pool.pop() else {
                continue;
            };
            let env = envelope(q.serial, &pool.name, q.pool_serial, &q.event);
            let sent = link.task.as_ref().map(|t| t.envelopes.send(env));
            if !matches!(sent, Some(Ok(()))) {
                // Its task has ended (stdout closed): it is exiting.
                pool.unpop(q);
                link.state = State::Unknown;
                continue;
            }
            link.state = State::Busy;
            link.busy = Some(q);
        }
        l.flush_at.get_or_insert_with(|| Instant::now() + FLUSH);
    }

    /// The next tick or counter flush.
    pub(super) fn listeners_deadline(&self) -> Option<Instant> {
        let l = &self.listening;
        let now_ms = unix_ms(SystemTime::now());
        let ticks = Kind::TICKS
            .iter()
            .zip(&l.ticks)
            .filter_map(|((_, period), last)| {
                let due_ms = (last.as_ref()? + period) * 1000;
                Some(Instant::now() + Duration::from_millis(due_ms.saturating_sub(now_ms)))
            });
        ticks.chain(l.flush_at).min()
    }

    pub(super) fn fire_listeners(&mut self, now: Instant) {
        if self.listening.flush_at.is_some_and(|t| t <= now) {
            self.listening.flush_at = None;
            self.publishing.dirty = true;
        }
        let secs = unix_ms(SystemTime::now()) / 1000;
        for (i, (kind, period)) in Kind::TICKS.iter().enumerate() {
            let Some(last) = self.listening.ticks[i] else {
                continue;
            };
            let slice = secs - secs % period;
            if slice != last {
                self.listening.ticks[i] = Some(slice);
                self.notify(Event::tick(*kind, slice));
            }
        }
    }

    /// What the API shows of listener `name` (of pool `pool`).
    pub(super) fn listener_info(&self, name: &str, pool: &str, events: &[String]) -> ListenerInfo {
        let l = &self.listening;
        let p = l.pools.get(pool);
        ListenerInfo {
            pool: pool.to_owned(),
            state: l.links.get(name).map(|k| k.state.as_str().to_owned()),
            events: events.to_vec(),
            handled: p.map_or(0, |p| p.handled),
            rejected: p.map_or(0, |p| p.rejected),
            dropped: p.map_or(0, |p| p.dropped),
            buffered: p.map_or(0, |p| p.len() as u32),
        }
    }
}

fn overflowed(pool: &Pool, gone: &Queued) {
    tracing::error!(
        pool = %pool.name,
        serial = gone.serial,
        "pool {} event buffer overflowed, discarding event {}",
        pool.name,
        gone.serial
    );
}

fn requeue(l: &mut Parts, pool: &str, q: Queued) {
    if let Some(p) = l.pools.get_mut(pool) {
        if let Some(gone) = p.requeue(q) {
            overflowed(p, &gone);
        }
    }
}
