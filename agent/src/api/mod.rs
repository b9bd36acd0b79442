//! The agent's JSON API (axum handlers), one file per endpoint group.
//! Handlers hold a `supervisor::Handle` — a command channel, a watch of
//! the snapshot and the event log — never the process table itself. Which
//! path each handler answers and who may call it is `crate::routes`.

mod enroll;
mod error;
mod events;
mod idempotency;
mod logs;
mod metrics;
mod processes;
mod reexec;
mod reload;
mod status;

pub use enroll::{prove, TcpToken};
pub use error::ApiError;
pub use events::events;
pub use logs::{clear as clear_log, file as log_file, log};
pub use metrics::metrics;
pub use processes::act;
pub use reexec::{last as reexec_outcome, reexec};
pub use reload::reload;
pub use status::status;
