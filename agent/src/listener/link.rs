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
use tokio::sync::{mpsc, oneshot};
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

/// A listener's pipes and where its conversation stands: what a link
/// starts from (a fresh spawn: a new parser, nothing pending) and what a
/// link stopped for a re-exec hands back, its pipes still open.
#[derive(Debug)]
pub struct Carried {
    /// None once a write failed (its stdin is closed).
    pub stdin: Option<OwnedFd>,
    pub stdout: OwnedFd,
    pub parser: Parser,
    /// Envelope bytes not yet written to its stdin: carried, never waited
    /// for (a listener that does not read must not hold a re-exec).
    pub pending: Vec<u8>,
}

impl Carried {
    pub fn fresh(stdin: OwnedFd, stdout: OwnedFd) -> Carried {
        Carried {
            stdin: Some(stdin),
            stdout,
            parser: Parser::default(),
            pending: Vec::new(),
        }
    }
}

/// A running link: where envelopes go, and how to stop it.
pub struct Linked {
    pub envelopes: mpsc::UnboundedSender<Vec<u8>>,
    stop: oneshot::Sender<()>,
    task: JoinHandle<Option<Carried>>,
}

impl Linked {
    /// Stop the task at once (nothing is waited for) and take back its
    /// pipes and state; None if it had already ended (its stdout closed:
    /// the listener is exiting). Envelopes sent before are in what comes
    /// back, and what it heard before is in the owner's channel.
    pub async fn stop(self) -> Option<Carried> {
        let _ = self.stop.send(());
        self.task.await.ok().flatten()
    }
}

/// Start the task for a listener. Send it an envelope only when the owner
/// has heard READY.
pub fn start(name: String, pid: u32, from: Carried, heard: mpsc::UnboundedSender<Heard>) -> Linked {
    let (tx, rx) = mpsc::unbounded_channel();
    let (stop, stopped) = oneshot::channel();
    let task = tokio::spawn(run(name, pid, from, rx, stopped, heard));
    Linked {
        envelopes: tx,
        stop,
        task,
    }
}

async fn run(
    name: String,
    pid: u32,
    from: Carried,
    mut envelopes: mpsc::UnboundedReceiver<Vec<u8>>,
    mut stopped: oneshot::Receiver<()>,
    heard: mpsc::UnboundedSender<Heard>,
) -> Option<Carried> {
    let tell = |what| {
        let _ = heard.send(Heard {
            name: name.clone(),
            pid,
            what,
        });
    };
    let mut out = match pipe::Receiver::from_owned_fd(from.stdout) {
        Ok(r) => r,
        Err(e) => {
            tell(What::Said(Said::Violation(format!(
                "cannot read its stdout: {e}"
            ))));
            return None;
        }
    };
    let mut stdin = match from.stdin.map(pipe::Sender::from_owned_fd) {
        Some(Ok(s)) => Some(s),
        Some(Err(e)) => {
            tell(What::WriteFailed(format!("cannot write its stdin: {e}")));
            None
        }
        None => None,
    };
    let mut parser = from.parser;
    let mut pending = from.pending;
    let mut off = 0;
    let mut open = true;
    // Set once the owner has dropped the stop sender (it forgot this
    // spawn): no stop can come any more.
    let mut stoppable = true;
    let mut buf = vec![0u8; 8192];
    // An envelope from the owner: pending, if the listener is still READY.
    let take = |envelope: Vec<u8>,
                parser: &mut Parser,
                stdin: &Option<pipe::Sender>,
                pending: &mut Vec<u8>,
                off: &mut usize| {
        // Not READY any more: it broke the protocol meanwhile, and the
        // owner has taken the event back on hearing so.
        if !parser.sent() {
            return;
        }
        if stdin.is_none() {
            tell(What::WriteFailed("its stdin is closed".into()));
            return;
        }
        pending.drain(..*off);
        pending.extend_from_slice(&envelope);
        *off = 0;
    };
    loop {
        let writing = off < pending.len() && stdin.is_some();
        tokio::select! {
            r = &mut stopped, if stoppable => match r {
                Ok(()) => {
                    while let Ok(envelope) = envelopes.try_recv() {
                        take(envelope, &mut parser, &stdin, &mut pending, &mut off);
                    }
                    pending.drain(..off);
                    let stdout = out.into_nonblocking_fd().ok()?;
                    let stdin = stdin.and_then(|s| s.into_nonblocking_fd().ok());
                    return Some(Carried { stdin, stdout, parser, pending });
                }
                Err(_) => stoppable = false,
            },
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
                Some(envelope) => take(envelope, &mut parser, &stdin, &mut pending, &mut off),
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
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::listener::protocol::State;
    use std::io::{Read, Write};
    use std::time::Duration;

    /// A listener that reads none of a 300 kB envelope (more than a pipe
    /// holds) does not hold a stop: the link hands back at once with the
    /// unwritten rest, and a link started from that writes it, then
    /// hears the RESULT.
    #[tokio::test]
    async fn a_stop_hands_back_at_once_with_what_was_not_written() {
        let (stdin_r, stdin_w) = nix::unistd::pipe().unwrap();
        let (stdout_r, stdout_w) = nix::unistd::pipe().unwrap();
        let mut says = std::fs::File::from(stdout_w);
        let (tx, mut heard) = mpsc::unbounded_channel();
        let linked = start("l".into(), 1, Carried::fresh(stdin_w, stdout_r), tx.clone());
        says.write_all(b"READY\n").unwrap();
        let h = heard.recv().await.unwrap();
        assert!(matches!(h.what, What::Said(Said::Ready)), "{h:?}");
        let envelope: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
        linked.envelopes.send(envelope.clone()).unwrap();
        let back = tokio::time::timeout(Duration::from_secs(5), linked.stop())
            .await
            .expect("a stop waits for nothing")
            .expect("the pipes come back");
        assert!(!back.pending.is_empty() && envelope.ends_with(&back.pending));
        assert_eq!(back.parser.state(), State::Busy);
        assert!(back.stdin.is_some());

        let linked = start("l".into(), 1, back, tx);
        let len = envelope.len();
        let read = tokio::task::spawn_blocking(move || {
            let mut all = vec![0u8; len];
            std::fs::File::from(stdin_r)
                .read_exact(&mut all)
                .map(|_| all)
        });
        assert_eq!(read.await.unwrap().unwrap(), envelope, "every byte once");
        says.write_all(b"RESULT 2\nOK").unwrap();
        let h = heard.recv().await.unwrap();
        assert!(
            matches!(h.what, What::Said(Said::Result(ref r)) if r == b"OK"),
            "{h:?}"
        );
        let back = linked.stop().await.expect("the pipes come back again");
        assert_eq!(back.parser.state(), State::Acknowledged);
        assert!(back.pending.is_empty());
    }
}
