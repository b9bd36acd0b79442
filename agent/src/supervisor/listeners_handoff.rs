//! Event listeners across an in-place re-exec (`crate::reexec`): each
//! link task stops at once and hands back its two pipes (still open), its
//! parser's state and the envelope bytes it had not written yet (a
//! listener that does not read holds nothing up); with the pools'
//! buffers, counters and serials that is [`Listening`], part of the
//! hand-off's table. The new image — or this one, when the exec fails —
//! starts a link on the same pipes from the same point: the event a
//! listener was BUSY with is answered to it, queued events go out in
//! order, serials go on with no gap and no repeat.

use super::Owner;
use crate::listener::event::{Event, Subs};
use crate::listener::link::{Carried, Heard};
use crate::listener::pool::{Pool, Queued};
use crate::listener::protocol::{Parser, State};
use crate::sys::exec;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::sync::Arc;
use tokio::sync::mpsc;

/// What the hand-off carries of listeners (absent from an older image's
/// hand-off: pools start empty then, as before listeners were carried).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Listening {
    /// The last agent-wide serial given.
    pub serial: Option<u64>,
    /// The period TICK_5, TICK_60 and TICK_3600 last fired for.
    pub ticks: [Option<u64>; 3],
    /// Groups as of the last `PROCESS_GROUP_*` events (none is raised
    /// again for a group that was there).
    pub groups: Vec<String>,
    pub pools: Vec<PoolRecord>,
    pub links: Vec<LinkRecord>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PoolRecord {
    pub name: String,
    /// The last pool serial given.
    pub serial: Option<u64>,
    /// What waits, oldest first.
    pub buffer: Vec<QueuedRecord>,
    pub handled: u64,
    pub rejected: u64,
    pub dropped: u64,
}

/// An event with its numbers; the event by its type's name and payload.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct QueuedRecord {
    pub serial: u64,
    pub pool_serial: u64,
    pub event: Event,
}

/// One running listener process.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct LinkRecord {
    pub name: String,
    pub pid: u32,
    /// The owner's view of it (READY: it may be sent an event).
    pub state: State,
    /// The event out with it while BUSY.
    pub busy: Option<QueuedRecord>,
    /// None: its link had ended (its stdout closed; it is exiting).
    pub conversation: Option<Conversation>,
}

/// A link's pipes, by descriptor number (kept open across the exec), and
/// where the protocol stands.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Conversation {
    /// Its stdin's write end; None once a write to it failed.
    pub stdin_fd: Option<RawFd>,
    /// Its stdout's read end.
    pub stdout_fd: RawFd,
    pub parser: Parser,
    /// Envelope bytes not yet written to its stdin.
    #[serde(default)]
    pub pending: Vec<u8>,
}

/// The descriptors a [`Listening`] names, by number.
pub(super) type LinkFds = HashMap<RawFd, OwnedFd>;

impl Conversation {
    /// The descriptor numbers it names.
    pub fn fds(&self) -> impl Iterator<Item = RawFd> {
        self.stdin_fd.into_iter().chain([self.stdout_fd])
    }
}

fn record(q: &Queued) -> QueuedRecord {
    QueuedRecord {
        serial: q.serial,
        pool_serial: q.pool_serial,
        event: (*q.event).clone(),
    }
}

fn queued(r: QueuedRecord) -> Queued {
    Queued {
        event: Arc::new(r.event),
        serial: r.serial,
        pool_serial: r.pool_serial,
    }
}

/// Let the descriptors survive an exec (`on`), or not again.
fn inherit(fds: &LinkFds, on: bool) -> std::io::Result<()> {
    fds.values()
        .try_for_each(|fd| exec::set_inherit(fd.as_fd(), on))
}

impl Owner {
    /// Stop every link and record where listeners stand; the descriptors
    /// are made inheritable and stay with the owner (frozen: it spawns
    /// nothing that could inherit them) until [`Owner::relink`]. What the
    /// links said before they stopped (`heard`) is applied first.
    pub(super) async fn hand_off_listeners(
        &mut self,
        heard: &mut mpsc::UnboundedReceiver<Heard>,
    ) -> Result<(Listening, LinkFds), (&'static str, String)> {
        let mut stopped = Vec::new();
        let names: Vec<String> = self.listening.links.keys().cloned().collect();
        for name in names {
            let task = self
                .listening
                .links
                .get_mut(&name)
                .and_then(|k| k.task.take());
            let carried = match task {
                Some(task) => task.stop().await,
                None => None,
            };
            stopped.push((name, carried));
        }
        while let Ok(h) = heard.try_recv() {
            self.heard(h);
        }
        let mut fds = LinkFds::new();
        let mut keep = |fd: OwnedFd| {
            let n = fd.as_raw_fd();
            fds.insert(n, fd);
            n
        };
        let l = &self.listening;
        let mut links = Vec::new();
        for (name, carried) in stopped {
            let Some(k) = l.links.get(&name) else {
                continue;
            };
            let conversation = carried.map(|c| Conversation {
                stdin_fd: c.stdin.map(&mut keep),
                stdout_fd: keep(c.stdout),
                parser: c.parser,
                pending: c.pending,
            });
            links.push(LinkRecord {
                name,
                pid: k.pid,
                state: k.state,
                busy: k.busy.as_ref().map(record),
                conversation,
            });
        }
        let pools = l
            .pools
            .values()
            .map(|p| {
                let (serial, buffer) = p.carried();
                PoolRecord {
                    name: p.name.clone(),
                    serial,
                    buffer: buffer.map(record).collect(),
                    handled: p.handled,
                    rejected: p.rejected,
                    dropped: p.dropped,
                }
            })
            .collect();
        let listening = Listening {
            serial: l.serial,
            ticks: l.ticks,
            groups: l.groups.iter().cloned().collect(),
            pools,
            links,
        };
        if let Err(e) = inherit(&fds, true) {
            self.relink(listening.links, fds);
            return Err(("freeze", format!("cannot keep a listener's pipe: {e}")));
        }
        Ok((listening, fds))
    }

    /// The new image, before its pools are configured: the pools,
    /// serials, ticks and groups as the old image left them.
    pub(super) fn resume_listening(&mut self, r: &Listening) {
        let l = &mut self.listening;
        l.serial = r.serial;
        l.ticks = r.ticks;
        l.groups = r.groups.iter().cloned().collect();
        for p in &r.pools {
            // Subscriptions and size come from the config, next.
            let mut pool = Pool::new(&p.name, Subs::default(), 1);
            pool.resume(p.serial, p.buffer.iter().cloned().map(queued).collect());
            pool.handled = p.handled;
            pool.rejected = p.rejected;
            pool.dropped = p.dropped;
            l.pools.insert(p.name.clone(), pool);
        }
    }

    /// A link again on each carried pipe pair, from where it stood: in the
    /// new image once the table is adopted, or in this one after a failed
    /// exec (its descriptors close-on-exec again). A listener that exited
    /// meanwhile is reaped next, and the event it held goes back.
    pub(super) fn relink(&mut self, links: Vec<LinkRecord>, mut fds: LinkFds) {
        let _ = inherit(&fds, false);
        for r in links {
            let from = r.conversation.and_then(|c| {
                let stdin = c.stdin_fd.and_then(|n| fds.remove(&n));
                Some(Carried {
                    stdin,
                    stdout: fds.remove(&c.stdout_fd)?,
                    parser: c.parser,
                    pending: c.pending,
                })
            });
            self.link_as(&r.name, r.pid, from, r.state, r.busy.map(queued));
        }
    }
}
