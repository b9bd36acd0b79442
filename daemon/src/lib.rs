//! Pieces `fleet-agent` and `fleet-console` both need as daemons, kept once:
//! `notify` (systemd `Type=notify` readiness), `docs` (man pages and
//! shell completions generated from their clap definitions) and `log`
//! (stderr diagnostics filtered by `FLEET_LOG`).
#![forbid(unsafe_code)]

pub mod docs;
pub mod log;
pub mod notify;
