//! The log writer thread: busy streams' file writes, off the runtime thread.
//!
//! A flood costs two copies per byte, pipe → buffer and buffer → page cache.
//! Done in turn on one thread (as `cat` does), the program waits for both;
//! with the second on this thread, the pump reads the next chunk while the
//! previous one is written, and a flood is captured faster than `cat` copies
//! it. One thread for the agent, started by the first flood and parked on
//! its queue when there is none; the queue is short, so a disk slower than
//! the program makes its pump wait, and the program block on its pipe,
//! instead of output piling up in memory. Quiet streams write inline:
//! a line costs no thread hand-off. Rotation renames here; the dropped
//! backup is freed on a thread of its own (`file.rs`): on ext4 freeing
//! it waits for its writeback, and the flood would wait with it.

use super::chunk::Chunk;
use super::{lock, LogStream};
use std::sync::atomic::Ordering::AcqRel;
use std::sync::{Arc, OnceLock};
use tokio::sync::mpsc;

/// Chunks queued for the thread, all streams together: enough to keep it
/// busy while the pump reads, little enough to bound what waits in memory.
pub const QUEUE: usize = 4;

pub type Permit<'a> = mpsc::Permit<'a, Job>;

/// One chunk for a stream's file. Dropped, written or not (the thread
/// died), it is no longer queued: `LogStream::flushed` cannot hang.
pub struct Job {
    stream: Arc<LogStream>,
    chunk: Chunk,
}

impl Job {
    pub fn new(stream: Arc<LogStream>, chunk: Chunk) -> Job {
        Job { stream, chunk }
    }

    fn run(self) {
        let mut file = lock(&self.stream.file);
        self.stream.to_file(&mut file, self.chunk.as_slice());
    }
}

impl Drop for Job {
    fn drop(&mut self) {
        if self.stream.queued.fetch_sub(1, AcqRel) == 1 {
            self.stream.drained.notify_waiters();
        }
    }
}

/// Wait for room in the queue (starting the thread on first use); `None`
/// if there is no thread: write inline.
pub async fn reserve() -> Option<Permit<'static>> {
    sender()?.reserve().await.ok()
}

/// The queue into the thread, which is started on first use; `None` if it
/// could not be (writes then stay inline).
pub fn sender() -> Option<&'static mpsc::Sender<Job>> {
    static TX: OnceLock<Option<mpsc::Sender<Job>>> = OnceLock::new();
    TX.get_or_init(|| {
        let (tx, mut rx) = mpsc::channel::<Job>(QUEUE);
        let spawned = std::thread::Builder::new()
            .name("fleet-logwrite".into())
            // Rotation and a warning are the deepest it goes.
            .stack_size(256 * 1024)
            .spawn(move || {
                while let Some(job) = rx.blocking_recv() {
                    job.run();
                }
            });
        match spawned {
            Ok(_) => Some(tx),
            Err(e) => {
                tracing::warn!(error = %e, "cannot start the log writer thread; writing logs inline");
                None
            }
        }
    })
    .as_ref()
}
