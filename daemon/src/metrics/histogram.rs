//! A histogram of durations recorded with relaxed atomic adds (no lock, no
//! allocation), so a hot path can afford it; read only at scrape time.

use super::{Kind, Labels, Text};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

/// The most upper bounds a histogram has (`+Inf` aside).
const MAX_BOUNDS: usize = 16;

/// Sub-millisecond to seconds: the owner loop's lag.
pub const LATENCY_BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];

/// A tenth of a second to half an hour: fleet operations.
pub const OP_BUCKETS: &[f64] = &[
    0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0,
];

pub struct Histogram {
    /// Upper bounds in seconds, ascending.
    bounds: &'static [f64],
    /// Observations per bucket (not cumulative); the last used slot is
    /// `+Inf`'s.
    counts: [AtomicU64; MAX_BOUNDS + 1],
    sum_ns: AtomicU64,
    max_ns: AtomicU64,
}

impl Histogram {
    /// `bounds`: at most 16, ascending, in seconds.
    pub const fn new(bounds: &'static [f64]) -> Histogram {
        assert!(bounds.len() <= MAX_BOUNDS);
        Histogram {
            bounds,
            counts: [const { AtomicU64::new(0) }; MAX_BOUNDS + 1],
            sum_ns: AtomicU64::new(0),
            max_ns: AtomicU64::new(0),
        }
    }

    pub fn observe(&self, d: Duration) {
        let secs = d.as_secs_f64();
        let i = self
            .bounds
            .iter()
            .position(|&b| secs <= b)
            .unwrap_or(self.bounds.len());
        let ns = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        self.counts[i].fetch_add(1, Relaxed);
        self.sum_ns.fetch_add(ns, Relaxed);
        self.max_ns.fetch_max(ns, Relaxed);
    }

    /// The longest observation so far, in seconds.
    pub fn max_seconds(&self) -> f64 {
        self.max_ns.load(Relaxed) as f64 / 1e9
    }

    pub fn count(&self) -> u64 {
        self.counts[..=self.bounds.len()]
            .iter()
            .map(|c| c.load(Relaxed))
            .sum()
    }

    /// `name_bucket` (cumulative, `le` added to `labels`), `name_sum` and
    /// `name_count`; the family's header is the caller's.
    pub fn write(&self, t: &mut Text, name: &str, labels: &Labels) {
        let mut total = 0u64;
        let bucket = format!("{name}_bucket");
        for (i, b) in self.bounds.iter().enumerate() {
            total += self.counts[i].load(Relaxed);
            t.sample(&bucket, &labels.with("le", &b.to_string()), total);
        }
        total += self.counts[self.bounds.len()].load(Relaxed);
        t.sample(&bucket, &labels.with("le", "+Inf"), total);
        let sum = self.sum_ns.load(Relaxed) as f64 / 1e9;
        t.sample(&format!("{name}_sum"), labels, sum);
        t.sample(&format!("{name}_count"), labels, total);
    }

    /// A whole family holding this one histogram.
    pub fn write_family(&self, t: &mut Text, name: &str, help: &str) {
        t.family(name, Kind::Histogram, help);
        self.write(t, name, &Labels::default());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_cumulative_and_count_matches_inf() {
        static H: Histogram = Histogram::new(&[0.001, 0.01]);
        H.observe(Duration::from_micros(500));
        H.observe(Duration::from_millis(5));
        H.observe(Duration::from_secs(2));
        let mut t = Text::new();
        H.write_family(&mut t, "lag_seconds", "Lag.");
        let text = t.finish();
        assert!(
            text.contains("lag_seconds_bucket{le=\"0.001\"} 1\n"),
            "{text}"
        );
        assert!(
            text.contains("lag_seconds_bucket{le=\"0.01\"} 2\n"),
            "{text}"
        );
        assert!(
            text.contains("lag_seconds_bucket{le=\"+Inf\"} 3\n"),
            "{text}"
        );
        assert!(text.contains("lag_seconds_count 3\n"), "{text}");
        assert!(text.contains("lag_seconds_sum 2.0055\n"), "{text}");
        assert_eq!(H.max_seconds(), 2.0);
    }
}
