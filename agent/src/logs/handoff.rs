//! The pumps' side of an in-place re-exec (`crate::reexec`): on
//! [`freeze`], every tagged pump stops reading at its next turn, waits
//! until what it read is in its file, and hands its pipe back (still open)
//! instead of closing it. Bytes a program writes meanwhile wait in the
//! kernel's pipe buffer for the next pump on the same pipe — the new
//! image's, or this one's again after a failed exec ([`thaw`]).

use std::os::fd::OwnedFd;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;
use tokio::sync::{watch, Notify};

/// Which process and stream a pipe feeds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tag {
    pub name: String,
    pub stderr: bool,
}

struct Shared {
    frozen: watch::Sender<bool>,
    /// Tagged pumps still reading, and the pipes given back.
    state: Mutex<(usize, Vec<(Tag, OwnedFd)>)>,
    gone: Notify,
}

fn shared() -> &'static Shared {
    static S: OnceLock<Shared> = OnceLock::new();
    S.get_or_init(|| Shared {
        frozen: watch::channel(false).0,
        state: Mutex::new((0, Vec::new())),
        gone: Notify::new(),
    })
}

/// A tagged pump's registration; dropped when the pump ends.
pub(super) struct Live;

impl Live {
    pub(super) fn new() -> (Live, watch::Receiver<bool>) {
        let s = shared();
        s.state.lock().unwrap_or_else(|e| e.into_inner()).0 += 1;
        (Live, s.frozen.subscribe())
    }

    /// Give the pipe back for the re-exec (before the registration ends).
    pub(super) fn hand_back(&self, tag: Tag, fd: OwnedFd) {
        let s = shared();
        s.state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .1
            .push((tag, fd));
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        let s = shared();
        s.state.lock().unwrap_or_else(|e| e.into_inner()).0 -= 1;
        s.gone.notify_waiters();
    }
}

/// Stop every tagged pump and take their pipes, each flushed to its file.
/// Gives up after `within` (a pump stuck behind a full disk): the pipes
/// given back so far are returned in the error, for [`thaw`]'s caller.
pub async fn freeze(within: Duration) -> Result<Vec<(Tag, OwnedFd)>, Vec<(Tag, OwnedFd)>> {
    let s = shared();
    s.frozen.send_replace(true);
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let gone = s.gone.notified();
        let live = s.state.lock().unwrap_or_else(|e| e.into_inner()).0;
        if live == 0 {
            break;
        }
        if tokio::time::timeout_at(deadline, gone).await.is_err() {
            return Err(take());
        }
    }
    Ok(take())
}

fn take() -> Vec<(Tag, OwnedFd)> {
    std::mem::take(&mut shared().state.lock().unwrap_or_else(|e| e.into_inner()).1)
}

/// Let pumps run again (after a failed exec); the caller restarts pumps on
/// the pipes [`freeze`] returned.
pub fn thaw() {
    shared().frozen.send_replace(false);
}
