//! fleet-console: the central server (`server`) and the `fleetctl` CLI
//! (`cli`). Both speak the wire types of `fleet-api`.
pub mod cli;
pub mod demo;
pub mod server;

pub use fleet_daemon::{docs, notify};
