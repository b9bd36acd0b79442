//! Wire types for fleet: the JSON that crosses between `fleet-agent`,
//! `fleet-console` and `fleetctl`, and the rules every reader of it must
//! apply alike (which signals exist, which processes a selector names, how
//! big a rolling batch is, how long a process has been up). Defined once
//! here and used by all three.
//!
//! Rules: every type here is a promise to scripts and to mixed-version
//! fleets, so wire types *accept* unknown fields (no `deny_unknown_fields`),
//! states and signals travel as names (`"RUNNING"`, `"TERM"`), and times are
//! unix milliseconds. Nothing here depends on tokio, axum or reqwest.

mod action;
mod batch;
mod console;
mod error;
mod event;
mod log;
mod process;
mod reexec;
mod reload;
mod selector;
mod signal;

pub use action::{
    parse_process_verb, ActionRequest, ActionResponse, ActionResult, Checked, Outcome, Verb,
};
pub use batch::{Batch, BatchError};
pub use console::{
    FleetEvent, FleetProcess, FleetStatus, FleetSummary, HostCounts, HostInfo, HostKind,
    HostResult, HostSource, HostsResponse, Op, OpRequest, OpState, OpsResponse, ProofRequest,
    ProofResponse, Registration, RegistrationResponse, Role, StateCount, StrategyKind, Verdict,
};
pub use error::{ErrorBody, ErrorCode, ErrorDetail};
pub use event::Event;
pub use log::{FileQuery, LogQuery, Stream, LOG_FILE_MAX, LOG_OFFSET_HEADER};
pub use process::{
    count_exit, format_timedelta, format_uptime, AgentStatus, ExitInfo, ExitKind, Health,
    ListenerInfo, ProcessInfo, ProcessState, Wanted, EXIT_WINDOW_MS,
};
pub use reexec::{ReexecOutcome, ReexecRequest, ReexecResponse};
pub use reload::ReloadResponse;
pub use selector::{Selectable, Selector, SelectorError};
pub use signal::{Signal, SignalError};

/// Header that carries the bearer token on TCP (`Authorization: Bearer …`).
pub const AUTH_HEADER: &str = "authorization";
