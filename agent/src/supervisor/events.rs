//! State-change events: a bounded history for clients that resume
//! (`Last-Event-ID`) and a broadcast for live followers. Recording and
//! subscribing happen under one lock, so a resuming client sees no gap and
//! no duplicate.

use fleet_api::Event;
use std::collections::VecDeque;
use std::sync::Mutex;
use tokio::sync::broadcast;

/// Events kept for resuming clients.
const HISTORY: usize = 4096;

pub struct EventLog {
    inner: Mutex<Inner>,
}

struct Inner {
    next_seq: u64,
    history: VecDeque<Event>,
    /// `None` once closed: followers then drain what is buffered and end.
    tx: Option<broadcast::Sender<Event>>,
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
            inner.history.pop_front();
        }
        inner.history.push_back(event.clone());
        // No receivers is fine.
        if let Some(tx) = &inner.tx {
            let _ = tx.send(event);
        }
    }

    /// Events after `after` still in history (and whether some were already
    /// dropped), plus a receiver for everything that follows.
    pub fn resume(&self, after: Option<u64>) -> (Vec<Event>, bool, broadcast::Receiver<Event>) {
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
            .is_some_and(|first| first.seq > after + 1);
        let past = inner
            .history
            .iter()
            .filter(|e| e.seq > after)
            .cloned()
            .collect();
        (past, missed, rx)
    }

    /// End every follower's stream once it has received all events so far
    /// (the supervisor is done).
    pub fn close(&self) {
        self.inner.lock().unwrap_or_else(|e| e.into_inner()).tx = None;
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
    use fleet_api::ProcessState;

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
        assert_eq!(rx.try_recv().unwrap().seq, 4);
        assert_eq!(log.last_seq(), 4);
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
