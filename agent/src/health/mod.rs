//! Health checks: the verdict as a pure tracker (this file: no I/O, no
//! clock, `now` is a parameter) and the probes that run a check
//! (`probe.rs`). The supervisor owns one tracker per checked process and
//! drives it (`supervisor/health.rs`).
//!
//! | status | result | becomes |
//! |---|---|---|
//! | any | success, `successes` in a row | Healthy |
//! | Unknown, within `start_period` of the spawn | failure | Unknown (not counted) |
//! | any other | failure, `failures` in a row | Unhealthy |

pub mod probe;

use crate::config::HealthSpec;
use fleet_api::Health;
use serde::{Deserialize, Serialize};
use std::time::{Duration, Instant};

/// A tracker's verdict and counts as an in-place re-exec hands them over
/// (`supervisor/adopt.rs`): a healthy program stays healthy through an
/// upgrade, and an unhealthy one keeps its count towards a restart.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Carried {
    pub status: Health,
    pub message: Option<String>,
    pub fails: u32,
    pub oks: u32,
}

/// One process's health since its last spawn.
#[derive(Clone, Debug, PartialEq)]
pub struct Tracker {
    pub status: Health,
    /// The last result in words.
    pub message: Option<String>,
    /// The spawn these checks belong to.
    pub spawned_pid: Option<u32>,
    spawned: Instant,
    fails: u32,
    oks: u32,
}

impl Tracker {
    /// A fresh verdict for a process spawned at `spawned`.
    pub fn new(spawned: Instant) -> Tracker {
        Tracker {
            status: Health::Unknown,
            message: None,
            spawned_pid: None,
            spawned,
            fails: 0,
            oks: 0,
        }
    }

    pub fn carry(&self) -> Carried {
        Carried {
            status: self.status,
            message: self.message.clone(),
            fails: self.fails,
            oks: self.oks,
        }
    }

    /// Go on from a verdict the previous image handed over.
    pub fn resume(&mut self, c: Carried) {
        self.status = c.status;
        self.message = c.message;
        self.fails = c.fails;
        self.oks = c.oks;
    }

    /// Take one check's result; returns the new status when it changed.
    pub fn observe(
        &mut self,
        ok: bool,
        message: String,
        now: Instant,
        spec: &HealthSpec,
    ) -> Option<Health> {
        self.message = Some(message);
        let before = self.status;
        if ok {
            self.fails = 0;
            self.oks = self.oks.saturating_add(1);
            if self.oks >= spec.successes {
                self.status = Health::Healthy;
            }
        } else {
            self.oks = 0;
            if self.starting(now, spec) {
                return None;
            }
            self.fails = self.fails.saturating_add(1);
            if self.fails >= spec.failures {
                self.status = Health::Unhealthy;
            }
        }
        (self.status != before).then_some(self.status)
    }

    /// Within the start period and never yet decided: failures do not
    /// count, and checks run more often so a quick start shows quickly.
    fn starting(&self, now: Instant, spec: &HealthSpec) -> bool {
        self.status == Health::Unknown && now < self.spawned + spec.start_period
    }

    /// How long after a check ends the next one starts.
    pub fn next_delay(&self, now: Instant, spec: &HealthSpec) -> Duration {
        match self.starting(now, spec) {
            true => spec.interval.min(FAST),
            false => spec.interval,
        }
    }

    /// When the first check of a fresh spawn runs.
    pub fn first_delay(spec: &HealthSpec) -> Duration {
        spec.interval.min(FAST)
    }
}

/// The check period while a process is starting.
const FAST: Duration = Duration::from_secs(1);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{HealthCheck, OnUnhealthy};

    fn spec(failures: u32, successes: u32, start_period: u64) -> HealthSpec {
        HealthSpec {
            check: HealthCheck::Tcp {
                addr: "127.0.0.1:1".into(),
            },
            interval: Duration::from_secs(5),
            timeout: Duration::from_secs(2),
            start_period: Duration::from_secs(start_period),
            failures,
            successes,
            on_unhealthy: OnUnhealthy::None,
        }
    }

    #[test]
    fn healthy_after_successes_unhealthy_after_failures_in_a_row() {
        let s = spec(3, 2, 0);
        let t0 = Instant::now();
        let mut t = Tracker::new(t0);
        assert_eq!(t.observe(true, "ok".into(), t0, &s), None);
        assert_eq!(t.observe(true, "ok".into(), t0, &s), Some(Health::Healthy));
        assert_eq!(t.observe(false, "503".into(), t0, &s), None);
        assert_eq!(t.observe(false, "503".into(), t0, &s), None);
        // A success in between starts the count again.
        assert_eq!(t.observe(true, "ok".into(), t0, &s), None);
        assert_eq!(t.status, Health::Healthy);
        for _ in 0..2 {
            assert_eq!(t.observe(false, "503".into(), t0, &s), None);
        }
        assert_eq!(
            t.observe(false, "HTTP 503".into(), t0, &s),
            Some(Health::Unhealthy)
        );
        assert_eq!(t.message.as_deref(), Some("HTTP 503"));
        assert_eq!(t.observe(true, "ok".into(), t0, &s), None);
        assert_eq!(t.observe(true, "ok".into(), t0, &s), Some(Health::Healthy));
    }

    #[test]
    fn start_period_failures_do_not_count_until_first_healthy() {
        let s = spec(1, 1, 10);
        let t0 = Instant::now();
        let mut t = Tracker::new(t0);
        for i in 0..9 {
            let now = t0 + Duration::from_secs(i);
            assert_eq!(t.observe(false, "refused".into(), now, &s), None);
            assert_eq!(t.next_delay(now, &s), Duration::from_secs(1));
        }
        assert_eq!(t.status, Health::Unknown);
        // Past the window a failure counts.
        let late = t0 + Duration::from_secs(10);
        assert_eq!(t.next_delay(late, &s), Duration::from_secs(5));
        assert_eq!(
            t.observe(false, "refused".into(), late, &s),
            Some(Health::Unhealthy)
        );
        // Healthy within the window ends it: the next failure counts.
        let mut t = Tracker::new(t0);
        assert_eq!(t.observe(true, "ok".into(), t0, &s), Some(Health::Healthy));
        assert_eq!(
            t.observe(false, "refused".into(), t0, &s),
            Some(Health::Unhealthy)
        );
    }

    #[test]
    fn first_check_comes_quickly() {
        let mut s = spec(1, 1, 0);
        assert_eq!(Tracker::first_delay(&s), Duration::from_secs(1));
        s.interval = Duration::from_millis(200);
        assert_eq!(Tracker::first_delay(&s), Duration::from_millis(200));
    }
}
