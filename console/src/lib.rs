//! fleet-console
pub mod server;
