//! One listener process's two pipes, carried by a task on the main
//! runtime: events go to its stdin, its stdout goes through the protocol
//! parser, and only what it *said* reaches the owner (a message per READY
//! or RESULT). A listener that never reads its stdin leaves a write
//! pending here, one that floods its stdout is parsed into UNKNOWN and
//! discarded here: neither ever waits in the owner.

use super::protocol::{Parser, Said};
use std::os::fd::OwnedFd;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::unix::pipe;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// What a listener did, for the owner.
#[derive(Debug)]
pub struct Heard {
    /// Its full name and the pid of the spawn it was heard from: a
    /// message from an earlier spawn is ignored.
    pub name: String,
    pub pid: u32,
    pub what: What,
}

#[derive(Debug)]
pub enum What {
    Said(Said),
    /// Its stdin is closed (it closed it, or is exiting): the event that
    /// was going to it goes back to the pool.
    WriteFailed(String),
}

/// Start the task for a listener just spawned. Send it an envelope only
/// when the owner has heard READY; returns the sender and the task.
pub fn start(
    name: String,
    pid: u32,
    stdin: OwnedFd,
    stdout: OwnedFd,
    heard: mpsc::UnboundedSender<Heard>,
) -> (mpsc::UnboundedSender<Vec<u8>>, JoinHandle<()>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let task = tokio::spawn(run(name, pid, stdin, stdout, rx, heard));
    (tx, task)
}

async fn run(
    name: String,
    pid: u32,
    stdin: OwnedFd,
    stdout: OwnedFd,
    mut envelopes: mpsc::UnboundedReceiver<Vec<u8>>,
    heard: mpsc::UnboundedSender<Heard>,
) {
    let tell = |what| {
        let _ = heard.send(Heard {
            name: name.clone(),
            pid,
            what,
        });
    };
    let mut out = match pipe::Receiver::from_owned_fd(stdout) {
        Ok(r) => r,
        Err(e) => {
            tell(What::Said(Said::Violation(format!(
                "cannot read its stdout: {e}"
            ))));
            return;
        }
    };
    let mut stdin = match pipe::Sender::from_owned_fd(stdin) {
        Ok(s) => Some(s),
        Err(e) => {
            tell(What::WriteFailed(format!("cannot write its stdin: {e}")));
            None
        }
    };
    let mut parser = Parser::default();
    let mut pending: Vec<u8> = Vec::new();
    let mut off = 0;
    let mut open = true;
    let mut buf = vec![0u8; 8192];
    loop {
        let writing = off < pending.len() && stdin.is_some();
        tokio::select! {
            r = out.read(&mut buf) => match r {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    for said in parser.feed(&buf[..n]) {
                        tell(What::Said(said));
                    }
                }
            },
            r = async { stdin.as_mut().expect("writing").write(&pending[off..]).await }, if writing => match r {
                Ok(n) => off += n,
                Err(e) => {
                    stdin = None;
                    pending.clear();
                    off = 0;
                    tell(What::WriteFailed(e.to_string()));
                }
            },
            m = envelopes.recv(), if open && !writing => match m {
                Some(envelope) => {
                    // Not READY any more: it broke the protocol meanwhile,
                    // and the owner has taken the event back on hearing so.
                    if !parser.sent() {
                        continue;
                    }
                    if stdin.is_none() {
                        tell(What::WriteFailed("its stdin is closed".into()));
                        continue;
                    }
                    pending = envelope;
                    off = 0;
                }
                None => {
                    // The owner forgot this spawn: close its stdin (EOF
                    // tells a well-behaved listener to finish).
                    open = false;
                    stdin = None;
                }
            },
        }
    }
    if let Some(mut s) = stdin {
        let _ = s.shutdown().await;
    }
}
