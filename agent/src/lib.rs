//! fleet-agent: the per-host daemon.
#![forbid(unsafe_code)]

pub mod config;
pub mod logs;
