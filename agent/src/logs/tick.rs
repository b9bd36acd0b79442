//! The pumps' shared tick: a quiet stream that just read waits for it
//! before it looks at its pipe again (see `pump.rs`). One timer serves
//! every waiting pump, so a tick wakes the runtime once, however many
//! pumps wait; a timer per pump would wake it per pump. The ticker runs
//! only while someone waits: an idle agent has no periodic wake-up.

use std::sync::Mutex;
use std::time::Duration;
use tokio::sync::Notify;
use tokio::time::Instant;

/// How often a quiet stream's pipe is read, at most.
pub const TICK: Duration = Duration::from_millis(10);

static PUMPS: Ticker = Ticker::new(TICK);

/// Wait for the pumps' next tick.
pub async fn next() {
    PUMPS.next().await
}

pub struct Ticker {
    every: Duration,
    notify: Notify,
    /// (waiters counted for the next tick, ticker running)
    state: Mutex<(usize, bool)>,
}

impl Ticker {
    pub const fn new(every: Duration) -> Ticker {
        Ticker {
            every,
            notify: Notify::const_new(),
            state: Mutex::new((0, false)),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, (usize, bool)> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub async fn next(&'static self) {
        let notified = self.notify.notified();
        tokio::pin!(notified);
        // Registered before it is counted, so the ticker that sees the
        // count cannot notify before this waits.
        notified.as_mut().enable();
        {
            let mut state = self.state();
            state.0 += 1;
            if !state.1 {
                state.1 = true;
                tokio::spawn(self.run());
            }
        }
        notified.await;
    }

    async fn run(&'static self) {
        // However it ends (nobody waits, or its runtime shuts down while
        // tasks of another runtime wait, as in tests), the next waiter
        // starts one.
        let _stopped = Stopped(self);
        let mut at = Instant::now() + self.every;
        loop {
            tokio::time::sleep_until(at).await;
            at = Instant::now().max(at) + self.every;
            let mut state = self.state();
            if state.0 == 0 {
                return;
            }
            state.0 = 0;
            self.notify.notify_waiters();
        }
    }

    #[cfg(test)]
    fn running(&self) -> bool {
        self.state().1
    }
}

struct Stopped(&'static Ticker);

impl Drop for Stopped {
    fn drop(&mut self) {
        *self.0.state() = (0, false);
        // Whoever still waits counted on this ticker: a tick now (early,
        // which only means one more read).
        self.0.notify.notify_waiters();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "current_thread")]
    async fn many_waiters_one_tick_and_the_ticker_stops_when_nobody_waits() {
        static T: Ticker = Ticker::new(TICK);
        let t0 = Instant::now();
        let waiters: Vec<_> = (0..50).map(|_| tokio::spawn(T.next())).collect();
        for w in waiters {
            w.await.unwrap();
        }
        assert!(t0.elapsed() >= TICK, "woken before the tick");
        // With nobody counted, the ticker ends within a tick or two.
        let deadline = Instant::now() + Duration::from_secs(5);
        while T.running() {
            assert!(Instant::now() < deadline, "the ticker still runs");
            tokio::time::sleep(TICK).await;
        }
        // And it comes back for the next waiter.
        tokio::time::timeout(Duration::from_secs(5), T.next())
            .await
            .expect("a tick after the ticker stopped");
    }

    #[test]
    fn a_ticker_whose_runtime_ends_hands_over_to_the_next_waiter() {
        static T: Ticker = Ticker::new(Duration::from_secs(3600));
        let first = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        // The ticker starts on `first` and is dropped with it, hours
        // before its tick.
        first.block_on(async {
            let _ = tokio::time::timeout(Duration::from_millis(1), T.next()).await;
        });
        drop(first);
        assert!(!T.running());
        let second = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        second.block_on(async {
            let waiter = tokio::spawn(T.next());
            tokio::task::yield_now().await;
            assert!(T.running(), "a new ticker for the new waiter");
            waiter.abort();
        });
    }
}
