//! Bulk operations: validate and resolve a request, refuse overlaps, write
//! the intent to the audit log, then run it in the background — parallel
//! (bounded concurrency, per-host timeout) or rolling (health-gated batches,
//! abort after `max_failures`) — and record the result.
//!
//! Imports go one way: plan ← journal ← registry ← run, plan, journal,
//! classify ← interrupted ← run, and everything ← resume.
//! - `plan.rs` reads a request once into typed `Rules` (or refuses it) and
//!   resolves its hosts and the processes it touches: a `Plan`;
//! - `journal.rs` is the op's records in the audit log (intent, per-host
//!   `Record`s, results), written by the runner and read by recovery;
//! - `registry.rs` holds the running operations: refuses overlaps, audits
//!   the intent, previews dry runs, the one `finish()`, answers reads;
//! - `run.rs` creates an op (plan, admit, spawn) and drives its hosts;
//! - `interrupted.rs` tells, after a restart, what each host of an
//!   operation the console stopped under went through (`classify.rs`
//!   judges an in-flight host).
//! - `resume.rs` finishes an op taken over from a console that stopped
//!   (shared store): done hosts kept, in-flight ones resolved or repeated
//!   under their idempotency key, the rest run under the new lease.
//!
//! Architecture Invariants: a request is parsed once (`Rules::read`);
//! nothing downstream re-reads it. An operation the audit log did not
//! accept is never started. Restart is one agent call, never
//! stop-then-start.

mod classify;
mod interrupted;
mod journal;
mod plan;
mod reexec;
mod registry;
mod resume;
mod run;

pub use interrupted::{close as close_interrupted, resolve as resolve_interrupted, Unresolved};
pub use registry::{follow_remote_ops, OpFilter, Ops, LONG_POLL};
pub use resume::take_over;

use fleet_api::ErrorCode;
use std::sync::Mutex;

/// Why an operation was refused before it started (status from the code).
#[derive(Debug)]
pub struct Refused(pub ErrorCode, pub String);

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A running `restart all` over `hosts`, each pending (the tests' op).
#[cfg(test)]
fn test_op(hosts: &[&str], batch: Option<usize>, source: Option<&str>) -> fleet_api::Op {
    fleet_api::Op {
        id: "op-1".into(),
        who: "ops".into(),
        request: serde_json::from_str(r#"{"action":"restart","target":"all"}"#).unwrap(),
        state: fleet_api::OpState::Running,
        created_at: 1,
        finished_at: None,
        hosts: hosts
            .iter()
            .map(|h| fleet_api::HostResult {
                batch,
                ..fleet_api::HostResult::new(h, fleet_api::Verdict::Pending, String::new(), vec![])
            })
            .collect(),
        source: source.map(str::to_string),
    }
}
