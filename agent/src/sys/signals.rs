//! One thread takes the agent's process-wide signals (TERM, INT, HUP,
//! USR2, CHLD): `fleet-agent` blocks them on its main thread before any
//! other thread exists, so every thread inherits the block, and only
//! `fleet-signals` unblocks them — every handler (tokio's, signal-hook's)
//! runs there. A re-exec [`hold`]s them: with no thread taking them, one
//! that arrives waits pending on the process, survives `execve`, and is
//! delivered once the new image has its handlers and [`release`]s them.
//! Without this, a SIGTERM delivered to another thread between the re-exec's
//! last check and `execve` was handled by the old image and lost with it.

use std::sync::mpsc;
use std::sync::{Mutex, OnceLock};

/// `true`: take the signals; `false`: hold them. Acknowledged once done.
type Command = (bool, mpsc::SyncSender<()>);

static THREAD: OnceLock<Mutex<mpsc::Sender<Command>>> = OnceLock::new();

/// Block the signals on this thread (call while it is the only one) and
/// start `fleet-signals`, holding them until [`release`].
pub fn start_held() -> std::io::Result<()> {
    super::exec::block_window_signals()?;
    let (tx, rx) = mpsc::channel::<Command>();
    std::thread::Builder::new()
        .name("fleet-signals".into())
        // It only sleeps in `recv` and runs handlers that write a byte.
        .stack_size(64 * 1024)
        .spawn(move || {
            for (take, done) in rx {
                match take {
                    true => super::exec::unblock_window_signals(),
                    false => {
                        let _ = super::exec::block_window_signals();
                    }
                }
                let _ = done.send(());
            }
        })?;
    let _ = THREAD.set(Mutex::new(tx));
    Ok(())
}

fn tell(take: bool) -> bool {
    let Some(thread) = THREAD.get() else {
        return false;
    };
    let (done, wait) = mpsc::sync_channel(1);
    let sent = thread
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .send((take, done))
        .is_ok();
    sent && wait.recv().is_ok()
}

/// Every handler is in place: signals are taken from now on (and those
/// held meanwhile delivered). An agent run in-process (tests, no
/// `fleet-signals`) unblocks them on the calling thread instead.
pub fn release() {
    if !tell(true) {
        super::exec::unblock_window_signals();
    }
}

/// No thread takes the signals from now on (the re-exec's window); they
/// wait, pending, for the next image or for [`release`].
pub fn hold() {
    tell(false);
}
