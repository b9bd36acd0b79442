//! Bulk operations: validate and resolve a request, refuse overlaps, write
//! the intent to the audit log, then run it in the background — parallel
//! (bounded concurrency, per-host timeout) or rolling (health-gated batches,
//! abort after `max_failures`) — and record the result.
//!
//! `plan.rs` validates and resolves a request (hosts, processes, batch);
//! `registry.rs` holds the running operations, refuses overlaps, audits and
//! starts them, and answers reads; `run.rs` drives one operation's hosts;
//! `interrupted.rs` tells, after a restart, what each host of an operation
//! the console stopped under went through.
//!
//! Architecture Invariant: an operation the audit log did not accept is
//! never started. Restart is one agent call, never stop-then-start.

mod interrupted;
mod plan;
mod registry;
mod run;

pub use interrupted::{close as close_interrupted, resolve as resolve_interrupted, Unresolved};
pub use registry::{OpFilter, Ops, LONG_POLL};

use fleet_api::ErrorCode;
use std::sync::Mutex;

/// Why an operation was refused before it started (status from the code).
#[derive(Debug)]
pub struct Refused(pub ErrorCode, pub String);

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
