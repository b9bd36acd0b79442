//! A listener pool's buffer, as supervisord's `EventListenerPool`: events
//! wait in order, each numbered for the pool when first accepted; a full
//! buffer discards its oldest event; an event a listener rejected or died
//! on goes back to the head with its numbers.

use super::event::{Event, Subs};
use std::collections::VecDeque;
use std::sync::Arc;

/// An event waiting in (or out from) a pool.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Queued {
    pub event: Arc<Event>,
    /// The agent-wide serial (supervisord's `serial`).
    pub serial: u64,
    /// The pool's own (`poolserial`).
    pub pool_serial: u64,
}

#[derive(Debug)]
pub struct Pool {
    pub name: String,
    pub subs: Subs,
    /// At least 1 (checked at load).
    pub buffer_size: usize,
    buffer: VecDeque<Queued>,
    /// The last pool serial given; the first event gets 0.
    serial: Option<u64>,
    pub handled: u64,
    pub rejected: u64,
    pub dropped: u64,
}

impl Pool {
    pub fn new(name: &str, subs: Subs, buffer_size: usize) -> Pool {
        Pool {
            name: name.to_owned(),
            subs,
            buffer_size: buffer_size.max(1),
            buffer: VecDeque::new(),
            serial: None,
            handled: 0,
            rejected: 0,
            dropped: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.buffer.len()
    }

    pub fn is_empty(&self) -> bool {
        self.buffer.is_empty()
    }

    /// Take a new event at the tail; returns the one discarded to make
    /// room, if any.
    pub fn accept(&mut self, event: Arc<Event>, serial: u64) -> Option<Queued> {
        let pool_serial = self.serial.map_or(0, |s| s.wrapping_add(1));
        self.serial = Some(pool_serial);
        let dropped = self.make_room();
        self.buffer.push_back(Queued {
            event,
            serial,
            pool_serial,
        });
        dropped
    }

    /// Put back an event a listener did not take (FAIL, a protocol
    /// violation, its death), at the head; returns what was discarded.
    pub fn requeue(&mut self, q: Queued) -> Option<Queued> {
        self.rejected += 1;
        let dropped = self.make_room();
        self.buffer.push_front(q);
        dropped
    }

    fn make_room(&mut self) -> Option<Queued> {
        if self.buffer.len() < self.buffer_size {
            return None;
        }
        self.dropped += 1;
        self.buffer.pop_front()
    }

    /// The oldest event, to hand to a ready listener.
    pub fn pop(&mut self) -> Option<Queued> {
        self.buffer.pop_front()
    }

    /// The last pool serial given, and what waits, oldest first: what a
    /// re-exec carries.
    pub fn carried(&self) -> (Option<u64>, impl Iterator<Item = &Queued>) {
        (self.serial, self.buffer.iter())
    }

    /// Take over what [`Pool::carried`] gave (a re-exec): the numbering
    /// goes on from `serial`.
    pub fn resume(&mut self, serial: Option<u64>, buffer: Vec<Queued>) {
        self.serial = serial;
        self.buffer = buffer.into();
    }

    /// An event that could not be handed out after all, back where it was
    /// (no count: nobody rejected it).
    pub fn unpop(&mut self, q: Queued) {
        self.buffer.push_front(q);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::listener::event::Kind;

    fn ev(n: u64) -> Arc<Event> {
        Arc::new(Event::tick(Kind::Tick5, n))
    }

    #[test]
    fn overflow_discards_the_oldest_and_counts_it() {
        let mut p = Pool::new("mon", Subs::default(), 2);
        assert!(p.accept(ev(1), 10).is_none());
        assert!(p.accept(ev(2), 11).is_none());
        let gone = p.accept(ev(3), 12).unwrap();
        assert_eq!((gone.serial, gone.pool_serial), (10, 0));
        assert_eq!(p.dropped, 1);
        let first = p.pop().unwrap();
        assert_eq!((first.serial, first.pool_serial), (11, 1));
        // Rejected: back at the head, with its numbers.
        p.requeue(first);
        assert_eq!(p.rejected, 1);
        assert_eq!(p.pop().unwrap().pool_serial, 1);
        assert_eq!(p.pop().unwrap().pool_serial, 2);
        assert!(p.pop().is_none());
    }
}
