//! fleet-console: the central server (`server`) and the `fleetctl` CLI
//! (`cli`). Both speak the wire types of `fleet-api`, and both call agents
//! (fleetctl also the console) through one HTTP client (the `fleet-client`
//! crate, which the agent's enrollment uses too).
pub mod cli;
pub mod demo;
pub mod server;

pub use fleet_daemon::{docs, notify};
