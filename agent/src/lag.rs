//! The owner loop's lag: from a SIGCHLD's arrival (stamped by a signal
//! action, `sys::signal::stamp_sigchld`) to the exits it announced being
//! handled — reaped, applied, restarts spawned. Recorded by the owner with
//! a few atomic adds per SIGCHLD; read only by `/metrics`.

use fleet_daemon::metrics::{Histogram, LATENCY_BUCKETS};
use std::time::Duration;

/// Every SIGCHLD the owner has handled since the agent started.
pub static OWNER_LAG: Histogram = Histogram::new(LATENCY_BUCKETS);

/// The owner has handled the SIGCHLD stamped `arrived` (a
/// `sys::signal::monotonic_ns` reading; `None`: no stamp, nothing to
/// record).
pub fn sigchld_handled(arrived: Option<u64>) {
    if let Some(at) = arrived {
        let now = crate::sys::signal::monotonic_ns();
        OWNER_LAG.observe(Duration::from_nanos(now.saturating_sub(at)));
    }
}
