//! fleet-console: the central server (`server`) and the `fleetctl` CLI
//! (`cli`). Both speak the wire types of `fleet-api`.
pub mod cli;
pub mod demo;
pub mod docs;
pub mod notify;
pub mod server;
