//! fleet-console
pub mod cli;
