//! State-change events: a bounded history for clients that resume
//! (`Last-Event-ID`) and a broadcast for live followers. Recording and
//! subscribing happen under one lock, so a resuming client sees no gap and
//! no duplicate.
//!
//! In the history only the newest event of each process keeps its whole
//! `process` copy: an older copy is superseded by the newer one a resuming
//! client also receives, and keeping 4096 of them (each with its exit list)
//! cost a crash-looping agent ~5 MiB. The broadcast carries sequence
//! numbers only and live followers read the event from the history, so its
//! ring holds no second set of copies.

use fleet_api::Event;
use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use tokio::sync::broadcast;

/// Events kept for resuming clients: a console that reconnects within a
/// few hundred changes resumes; one further behind gets a `gap` and re-reads
/// the status. Each costs ~270 bytes for the agent's whole life.
const HISTORY: usize = 1024;

pub struct EventLog {
    inner: Mutex<Inner>,
}

struct Inner {
    next_seq: u64,
    history: VecDeque<Event>,
    /// Process name → seq of the one history event still carrying its copy.
    carrier: HashMap<String, u64>,
    /// Sequence numbers of new events. `None` once closed: followers then
    /// drain what is buffered and end.
    tx: Option<broadcast::Sender<u64>>,
}

impl Default for EventLog {
    fn default() -> Self {
        Self::new()
    }
}

impl EventLog {
    pub fn new() -> Self {
        Self {
            inner: Mutex::new(Inner {
                next_seq: 1,
                history: VecDeque::new(),
                carrier: HashMap::new(),
                tx: Some(broadcast::channel(1024).0),
            }),
        }
    }

    /// Assign the next sequence number and publish.
    pub fn record(&self, mut event: Event) {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        event.seq = inner.next_seq;
        inner.next_seq += 1;
        if inner.history.len() == HISTORY {
            if let Some(gone) = inner.history.pop_front() {
                if inner.carrier.get(&gone.name) == Some(&gone.seq) {
                    inner.carrier.remove(&gone.name);
                }
            }
        }
        if event.process.is_some() {
            if let Some(older) = inner.carrier.insert(event.name.clone(), event.seq) {
                let first = inner.history.front().map_or(event.seq, |e| e.seq);
                if let Some(e) = older
                    .checked_sub(first)
                    .and_then(|i| inner.history.get_mut(i as usize))
                {
                    e.process = None;
                }
            }
        }
        let seq = event.seq;
        inner.history.push_back(event);
        // No receivers is fine.
        if let Some(tx) = &inner.tx {
            let _ = tx.send(seq);
        }
    }

    /// Events after `after` still in history (and whether some were already
    /// dropped), plus a receiver of the sequence numbers of everything that
    /// follows (read each with [`EventLog::get`]).
    pub fn resume(&self, after: Option<u64>) -> (Vec<Event>, bool, broadcast::Receiver<u64>) {
        let inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let rx = match &inner.tx {
            Some(tx) => tx.subscribe(),
            // Closed: a receiver that ends after the history.
            None => broadcast::channel(1).1,
        };
        let Some(after) = after else {
            return (Vec::new(), false, rx);
        };
        let missed = inner
            .history
            .front()
            .is_some_and(|first| first.seq > after.saturating_add(1));
        let past = inner
            .history
            .iter()
            .filter(|e| e.seq > after)
            .cloned()
            .collect();
        (past, missed, rx)
    }

    /// Event `seq`, if the history still has it.
    pub fn get(&self, seq: u64) -> Option<Event> {
        let inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let first = inner.history.front()?.seq;
        inner
            .history
            .get(usize::try_from(seq.checked_sub(first)?).ok()?)
            .cloned()
    }

    /// End every follower's stream once it has received all events so far
    /// (the supervisor is done).
    pub fn close(&self) {
        self.inner.lock().unwrap_or_else(|e| e.into_inner()).tx = None;
    }

    /// The history and the next sequence number, for a re-exec's hand-off.
    pub fn export(&self) -> (u64, Vec<Event>) {
        let inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        (inner.next_seq, inner.history.iter().cloned().collect())
    }

    /// A re-executed image's log: numbering continues where the old image
    /// stopped, so a follower resuming by `Last-Event-ID` sees no gap.
    pub fn restore(next_seq: u64, history: Vec<Event>) -> Self {
        let log = Self::new();
        {
            let mut inner = log.inner.lock().unwrap_or_else(|e| e.into_inner());
            for e in history.iter().filter(|e| e.process.is_some()) {
                inner.carrier.insert(e.name.clone(), e.seq);
            }
            let keep = history.len().saturating_sub(HISTORY);
            inner.history = history.into_iter().skip(keep).collect();
            inner.next_seq = next_seq.max(1);
        }
        log
    }

    pub fn last_seq(&self) -> u64 {
        self.inner
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .next_seq
            - 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fleet_api::{ProcessInfo, ProcessState};

    fn ev(name: &str) -> Event {
        Event {
            seq: 0,
            time: 0,
            name: name.into(),
            group: "g".into(),
            from: ProcessState::Stopped,
            to: ProcessState::Starting,
            pid: None,
            exit_status: None,
            description: String::new(),
            process: None,
            removed: false,
        }
    }

    #[test]
    fn resume_returns_what_followed_and_then_live_events() {
        let log = EventLog::new();
        log.record(ev("a"));
        log.record(ev("b"));
        log.record(ev("c"));
        let (past, missed, mut rx) = log.resume(Some(1));
        assert!(!missed);
        assert_eq!(past.iter().map(|e| e.seq).collect::<Vec<_>>(), vec![2, 3]);
        log.record(ev("d"));
        let seq = rx.try_recv().unwrap();
        assert_eq!(log.get(seq).map(|e| (e.seq, e.name)), Some((4, "d".into())));
        assert!(log.get(5).is_none());
        assert_eq!(log.last_seq(), 4);
    }

    #[test]
    fn only_the_newest_event_of_a_process_keeps_its_copy() {
        let log = EventLog::new();
        let with = |name: &str| {
            let mut e = ev(name);
            e.process = Some(Box::new(ProcessInfo {
                name: name.into(),
                ..ProcessInfo::new("g", name, name, ProcessState::Starting)
            }));

            e
        };
        for _ in 0..3 {
            log.record(with("a"));
            log.record(with("b"));
        }
        log.record(ev("a"));
        let (past, _, _) = log.resume(Some(0));
        let carrying: Vec<(u64, &str)> = past
            .iter()
            .filter(|e| e.process.is_some())
            .map(|e| (e.seq, e.name.as_str()))
            .collect();
        // A process-less event (a note) leaves the last copy in place.
        assert_eq!(carrying, vec![(5, "a"), (6, "b")]);
        // Dropped from history: the map forgets it too.
        for _ in 0..HISTORY {
            log.record(with("c"));
        }
        let inner = log.inner.lock().unwrap();
        assert_eq!(inner.carrier.len(), 1);
        assert_eq!(
            inner.history.iter().filter(|e| e.process.is_some()).count(),
            1
        );
    }

    #[test]
    fn resume_reports_a_gap_when_history_was_dropped() {
        let log = EventLog::new();
        for _ in 0..HISTORY + 10 {
            log.record(ev("x"));
        }
        let (past, missed, _) = log.resume(Some(3));
        assert!(missed);
        assert_eq!(past.len(), HISTORY);
    }
}
