//! `stdout_events_enabled` / `stderr_events_enabled`: a stream's output
//! also goes to the owner, chunk by chunk as read (supervisord sends one
//! `PROCESS_LOG_*` event per read), to become events for listeners. The
//! channel is bounded and never waited on: when the owner is behind, a
//! chunk is left out of the events (counted), never out of the log.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::Relaxed};
use tokio::sync::mpsc;

/// Chunks in flight to the owner, all taps together.
pub const DEPTH: usize = 256;

/// One chunk for the owner.
#[derive(Debug)]
pub struct Tapped {
    /// The process's full name.
    pub name: String,
    pub pid: u32,
    pub stderr: bool,
    pub data: Vec<u8>,
}

pub struct Tap {
    name: String,
    stderr: bool,
    /// The current spawn's pid (the payload's `pid:`).
    pid: AtomicU32,
    tx: mpsc::Sender<Tapped>,
}

/// Chunks left out of events because the owner was behind.
pub static MISSED: AtomicU64 = AtomicU64::new(0);

impl Tap {
    pub fn new(name: &str, stderr: bool, tx: mpsc::Sender<Tapped>) -> Tap {
        Tap {
            name: name.to_owned(),
            stderr,
            pid: AtomicU32::new(0),
            tx,
        }
    }

    pub fn set_pid(&self, pid: u32) {
        self.pid.store(pid, Relaxed);
    }

    pub fn send(&self, data: &[u8]) {
        let t = Tapped {
            name: self.name.clone(),
            pid: self.pid.load(Relaxed),
            stderr: self.stderr,
            data: data.to_vec(),
        };
        if self.tx.try_send(t).is_err() {
            MISSED.fetch_add(1, Relaxed);
        }
    }
}
