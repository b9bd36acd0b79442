//! fleet-console: the central server (`server`) and the `fleetctl` CLI
//! (`cli`). Both speak the wire types of `fleet-api`, and both call agents
//! (fleetctl also the console) through one HTTP client (`client`).
pub mod cli;
pub mod client;
pub mod demo;
pub mod server;

pub use fleet_daemon::{docs, notify};
