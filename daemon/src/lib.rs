//! Pieces `fleet-agent` and `fleet-console` both need as daemons, kept once:
//! `notify` (systemd `Type=notify` readiness) and `docs` (man pages and
//! shell completions generated from their clap definitions).
#![forbid(unsafe_code)]

pub mod docs;
pub mod notify;
