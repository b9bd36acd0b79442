//! fleet-agent: the per-host daemon. See ARCHITECTURE.md for the map.
//!
//! Theory of operation: `config` turns TOML into a list of `ProcessSpec`s.
//! `supervisor` owns the process table on its own thread and drives each
//! process through the pure `state` machine, spawning with `spawn` and
//! reaping with `sys::wait`. `logs` pumps child output to files, a tail and
//! followers on the main runtime. `api` serves HTTP on a unix socket and
//! optionally TCP (+TLS), holding only a `supervisor::Handle`; `xmlrpc` is
//! its supervisord-compatible face (`/RPC2`, `/logtail`) on the same listeners.
#![deny(unsafe_code)]

pub mod api;
pub mod config;
pub mod enroll;
pub mod health;
pub mod import;
pub mod lag;
pub mod listener;
pub mod logs;
pub mod reexec;
pub mod routes;
pub mod server;
pub mod service;
pub mod spawn;
pub mod state;
pub mod supervisor;
#[allow(unsafe_code)]
pub mod sys;
pub mod xmlrpc;

pub use fleet_daemon::{docs, notify};
pub use service::{run, Listeners};
