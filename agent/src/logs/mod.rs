//! Log capture. Each output pipe of a program is drained by a pump task
//! (`pump`) that hands every chunk to a [`LogStream`], which writes it to a
//! size-rotated file (`file`), keeps the last bytes in memory (`ring`) and
//! broadcasts it to followers. A busy pump's file writes happen on the log
//! writer thread (`writer`), in parallel with its next read.
//!
//! Order: chunks reach the tail, the followers and the writer's queue under
//! the tail lock, so all three see a stream's chunks in one order (with
//! `redirect_stderr` two pumps share one stream). An inline write happens
//! only while none of the stream's chunks is queued, holding
//! `LogStream::file` across the disk write; the writer thread holds it for
//! each queued chunk. `LogStream::tail` is held only for a memcpy and a
//! broadcast send, and it is the only lock readers (`tail`, `follow`) take:
//! a reader never waits for the disk, and `reopen` never waits for a write
//! in progress.
//!
//! A file that cannot be written (full disk, `/dev/full`) costs the file
//! those bytes only: the program keeps running, the tail and followers get
//! everything, and the stream's [`LogStream::error`] says why until a write
//! succeeds again (the same file stays open, so capture resumes by itself
//! when space returns). A refused `reopen` (the path is now a symlink) is
//! kept the same way until a reopen succeeds. Each time a stream starts or
//! stops failing, [`fault_changes`] ticks, so the supervisor can report it
//! as an event.

pub mod carry;
mod chunk;
mod file;
mod follow;
pub mod forward;
pub mod handoff;
mod pump;
pub mod read;
mod ring;
pub mod tap;
mod tick;
mod writer;

#[cfg(test)]
mod carry_tests;
#[cfg(test)]
mod tests;

use crate::config::LogSpec;
use bytes::Bytes;
use chunk::Chunk;
use file::RotatingFile;
use ring::Ring;
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{
    AtomicU64, AtomicUsize, Ordering::AcqRel, Ordering::Acquire, Ordering::Relaxed,
};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError, TryLockError};
use tokio::sync::{broadcast, watch};

pub use follow::{follow_body, stamped, stamped_follow_body};
pub use pump::{spawn_pump, spawn_tagged_pump};

/// In-memory tail kept per stream.
pub const TAIL_BYTES: usize = 64 * 1024;

/// Chunks a follower may fall behind before it gets `Lagged`. Times the
/// pump's largest chunk, this bounds what one slow follower pins in memory.
const FOLLOW_CHUNKS: usize = 64;

/// One output stream of a process (stdout or stderr, or both when
/// redirected).
pub struct LogStream {
    path: Option<PathBuf>,
    /// The file's `maxbytes` (0: never rotated).
    maxbytes: u64,
    file: Mutex<FileState>,
    /// A file `reopen` opened while a write held `file`; the next write
    /// switches to it.
    reopened: Mutex<Option<(File, u64, bool)>>,
    tail: Mutex<Ring>,
    /// Created by the first `follow`: a stream nobody follows costs nothing.
    tx: OnceLock<broadcast::Sender<Bytes>>,
    written: AtomicU64,
    write_errors: AtomicU64,
    /// Why the file is not being written, while it is not; its own lock so
    /// a status never waits for a disk write.
    error: Mutex<Option<String>>,
    /// Why the last `reopen` was refused (a symlink swapped in), until one
    /// succeeds: output still goes to the file opened before, not to the
    /// path an operator looks at, so the status must say so.
    reopen_error: Mutex<Option<String>>,
    /// Chunks waiting for the writer thread; while any do, a write that
    /// would overtake them goes behind them instead.
    queued: AtomicUsize,
    /// Told when `queued` drops to 0.
    drained: tokio::sync::Notify,
    /// Set by `forward_as`: the name `forward_output` gives its lines.
    forward: OnceLock<forward::Label>,
    /// Set by `tap` (`*_events_enabled`): chunks also go to listeners.
    tap: OnceLock<tap::Tap>,
}

struct FileState {
    file: Option<RotatingFile>,
    /// A write failed and was reported; the next failures are only counted.
    failing: bool,
}

/// (offset in the bytes returned, unix ms) pairs, each covering the bytes
/// up to the next.
pub type Stamps = Vec<(u64, u64)>;

/// Which bytes of the tail a read wants: the last N, or those from a
/// stream offset on (what a follower whose connection broke — the agent
/// re-executing — asks, to go on with no gap and no repeat). Offsets count
/// every byte since the stream began, across re-execs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Span {
    Last(usize),
    From(u64),
}

impl Span {
    /// How many of the last bytes, with the stream at offset `end`.
    fn len(self, end: u64) -> usize {
        match self {
            Span::Last(n) => n,
            Span::From(at) => usize::try_from(end.saturating_sub(at)).unwrap_or(usize::MAX),
        }
    }
}

impl LogStream {
    /// Open (append, creating parent directories) the stream's file, if it
    /// has one, and keep a tail of `cap` bytes.
    pub fn open(spec: &LogSpec, cap: usize) -> io::Result<Arc<LogStream>> {
        let file = match &spec.path {
            Some(p) => Some(RotatingFile::open(p, spec.maxbytes, spec.backups)?),
            None => None,
        };
        Ok(Arc::new(LogStream {
            path: spec.path.clone(),
            maxbytes: spec.maxbytes,
            file: Mutex::new(FileState {
                file,
                failing: false,
            }),
            reopened: Mutex::new(None),
            tail: Mutex::new(Ring::new(cap)),
            tx: OnceLock::new(),
            written: AtomicU64::new(0),
            write_errors: AtomicU64::new(0),
            error: Mutex::new(None),
            reopen_error: Mutex::new(None),
            queued: AtomicUsize::new(0),
            drained: tokio::sync::Notify::new(),
            forward: OnceLock::new(),
            tap: OnceLock::new(),
        }))
    }

    /// Send this stream's chunks to the owner as `PROCESS_LOG_*` material
    /// from now on, as spawn `pid` (the first tap sticks, as `forward_as`;
    /// each spawn updates the pid).
    pub fn tap(&self, make: impl FnOnce() -> tap::Tap, pid: u32) {
        self.tap.get_or_init(make).set_pid(pid);
    }

    /// Name this stream's lines for `[agent] forward_output` (the first
    /// name given sticks: a redirected stderr shares stdout's stream).
    pub fn forward_as(&self, name: &str, stderr: bool) {
        let _ = self.forward.set(forward::Label {
            name: name.into(),
            stderr,
        });
    }

    /// Take one chunk of program output. A failed file write is reported
    /// once (until writes succeed again) and counted; the tail and the
    /// followers get the bytes regardless. Written to the file before this
    /// returns, unless earlier chunks of the stream still wait for the
    /// writer thread: then it queues behind them, or, if the queue is full,
    /// is written at once, out of order in the file rather than lost.
    pub fn write(self: &Arc<Self>, data: &[u8]) {
        self.put(data, None);
    }

    /// `write`, for `data` that `chunk` (if any) holds.
    fn put(self: &Arc<Self>, data: &[u8], chunk: Option<Chunk>) {
        if data.is_empty() || self.write_inline(data, chunk.clone()) {
            return;
        }
        match writer::sender().and_then(|tx| tx.try_reserve().ok()) {
            Some(permit) => self.enqueue(chunk.unwrap_or_else(|| Chunk::copy_of(data)), permit),
            None => self.write_now(data, chunk),
        }
    }

    /// Tail, followers and file, here and now, if no chunk of the stream is
    /// queued (else nothing is done: false).
    fn write_inline(&self, data: &[u8], chunk: Option<Chunk>) -> bool {
        // Lock order: file, then tail (as `write_now`). Holding `file`, no
        // queued chunk is being written; holding `tail`, none is queued.
        let mut file = lock(&self.file);
        {
            let mut tail = lock(&self.tail);
            if self.queued.load(Acquire) > 0 {
                return false;
            }
            self.to_tail(&mut tail, data, chunk);
        }
        self.to_file(&mut file, data);
        true
    }

    fn write_now(&self, data: &[u8], chunk: Option<Chunk>) {
        let mut file = lock(&self.file);
        self.to_tail(&mut lock(&self.tail), data, chunk);
        self.to_file(&mut file, data);
    }

    /// A pump's chunk: to the tail (by reference) and followers now, to the
    /// file on the writer thread if `permit`, else as `write`.
    fn write_chunk(self: &Arc<Self>, chunk: Chunk, permit: Option<writer::Permit<'_>>) {
        match permit {
            Some(permit) => self.enqueue(chunk, permit),
            None => {
                // The slice borrows the chunk's buffer, which the tail shares.
                let data = chunk.clone();
                self.put(data.as_slice(), Some(chunk));
            }
        }
    }

    fn enqueue(self: &Arc<Self>, chunk: Chunk, permit: writer::Permit<'_>) {
        // Under the tail lock, so the queue (and so the file) has the
        // stream's chunks in the tail's order.
        let mut tail = lock(&self.tail);
        self.to_tail(&mut tail, chunk.as_slice(), Some(chunk.clone()));
        self.queued.fetch_add(1, AcqRel);
        permit.send(writer::Job::new(self.clone(), chunk));
    }

    fn is_queued(&self) -> bool {
        self.queued.load(Acquire) > 0
    }

    /// Wait until the writer thread has written every queued chunk of the
    /// stream.
    async fn flushed(&self) {
        loop {
            let drained = self.drained.notified();
            tokio::pin!(drained);
            drained.as_mut().enable();
            if self.queued.load(Acquire) == 0 {
                return;
            }
            drained.await;
        }
    }

    fn to_tail(&self, tail: &mut Ring, data: &[u8], chunk: Option<Chunk>) {
        let start = self.written.load(Relaxed);
        let end = start + data.len() as u64;
        tail.stamps.note(
            start,
            fleet_daemon::time::now_ms(),
            end.saturating_sub(tail.cap() as u64),
        );
        match chunk {
            Some(c) => tail.push_chunk(c),
            None => tail.push(data),
        }
        // Under the tail lock, so `follow` sees each chunk exactly once:
        // in its snapshot or on its receiver.
        if let Some(tx) = self.tx.get().filter(|tx| tx.receiver_count() > 0) {
            let _ = tx.send(Bytes::copy_from_slice(data));
        }
        // In order too, and never blocking (see `forward`).
        if let Some(label) = self.forward.get() {
            forward::send(label, data);
        }
        if let Some(tap) = self.tap.get() {
            tap.send(data);
        }
        self.written.fetch_add(data.len() as u64, Relaxed);
    }

    fn to_file(&self, state: &mut FileState, data: &[u8]) {
        let FileState { file, failing } = state;
        let Some(file) = file else { return };
        if let Some(new) = lock(&self.reopened).take() {
            file.replace(new);
        }
        match file.write(data) {
            Ok(()) if *failing => {
                *failing = false;
                *lock(&self.error) = None;
                fault_changed();
                tracing::info!(path = %file.path().display(), "log file writable again");
            }
            Ok(()) => {}
            Err(e) => {
                self.write_errors.fetch_add(1, Relaxed);
                if !*failing {
                    *failing = true;
                    *lock(&self.error) = Some(format!(
                        "cannot write log file {}: {e}; output is kept in memory only",
                        file.path().display()
                    ));
                    fault_changed();
                    tracing::warn!(
                        path = %file.path().display(),
                        error = %e,
                        "cannot write or rotate the log file; output is still kept in the tail and streamed"
                    );
                }
            }
        }
    }

    /// Copy a held chunk into the tail's own buffer: a pump going quiet or
    /// ending gives its buffers back.
    fn settle_tail(&self) {
        lock(&self.tail).settle();
    }

    /// Empty the in-memory tail (followers and the byte count go on).
    pub fn clear_tail(&self) {
        lock(&self.tail).clear();
    }

    /// The last `max` bytes (at most the tail's capacity).
    pub fn tail(&self, max: usize) -> Vec<u8> {
        lock(&self.tail).last(max)
    }

    /// `tail(max)`, with when its bytes were read from the pipe: (offset in
    /// the returned bytes, unix ms) pairs, each covering the bytes up to the
    /// next; bytes before the first pair have no known time.
    pub fn tail_stamped(&self, max: usize) -> (Vec<u8>, Stamps) {
        let (bytes, stamps, _, _) = self.stamped(Span::Last(max), false);
        (bytes, stamps)
    }

    /// `tail_stamped` of `span`, and the stream offset of its first byte.
    pub fn tail_stamped_span(&self, span: Span) -> (Vec<u8>, Stamps, u64) {
        let (bytes, stamps, _, start) = self.stamped(span, false);
        (bytes, stamps, start)
    }

    /// `tail_stamped` of `span`, as `follow` gives, a receiver of every
    /// chunk written after it (no gap, no duplicate), and the stream offset
    /// of its first byte.
    pub fn follow_stamped(&self, span: Span) -> (Vec<u8>, Stamps, broadcast::Receiver<Bytes>, u64) {
        let (bytes, stamps, rx, start) = self.stamped(span, true);
        (bytes, stamps, rx.expect("asked for"), start)
    }

    fn stamped(
        &self,
        span: Span,
        follow: bool,
    ) -> (Vec<u8>, Stamps, Option<broadcast::Receiver<Bytes>>, u64) {
        let tail = lock(&self.tail);
        let (bytes, start, end) = self.span_of(&tail, span);
        let stamps = tail.stamps.between(start, end);
        let rx = follow.then(|| {
            self.tx
                .get_or_init(|| broadcast::channel(FOLLOW_CHUNKS).0)
                .subscribe()
        });
        (bytes, stamps, rx, start)
    }

    /// The bytes of `span` (at most the tail's capacity) and the stream
    /// offset of the first.
    pub fn tail_span(&self, span: Span) -> (Vec<u8>, u64) {
        let (bytes, start, _) = self.span_of(&lock(&self.tail), span);
        (bytes, start)
    }

    /// `span`'s bytes of `tail` (held locked: `written` moves only under
    /// the tail lock), the stream offset of the first and of the end.
    fn span_of(&self, tail: &Ring, span: Span) -> (Vec<u8>, u64, u64) {
        let end = self.written.load(Relaxed);
        let bytes = tail.last(span.len(end));
        let start = end - bytes.len() as u64;
        (bytes, start, end)
    }

    /// The bytes of `span`, a receiver of every chunk written after them
    /// (no gap, no duplicate), and the stream offset of the first byte.
    pub fn follow(&self, span: Span) -> (Vec<u8>, broadcast::Receiver<Bytes>, u64) {
        let tail = lock(&self.tail);
        let (bytes, start, _) = self.span_of(&tail, span);
        let tx = self.tx.get_or_init(|| broadcast::channel(FOLLOW_CHUNKS).0);
        (bytes, tx.subscribe(), start)
    }

    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// The current log file for reading, never through a symlink, and how
    /// many of its last bytes a download sends: its size, at most
    /// `maxbytes` plus one pump chunk (a write is never split, so a file
    /// may pass `maxbytes` by that much) and at most [`LOG_FILE_MAX`].
    pub fn open_current(&self) -> io::Result<(File, u64, u64)> {
        let path = self
            .path
            .as_deref()
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no log file"))?;
        let file = read::open(path, false)?;
        let meta = file.metadata()?;
        let mut limit = fleet_api::LOG_FILE_MAX;
        if self.maxbytes > 0 {
            limit = limit.min(self.maxbytes + pump::BIG as u64);
        }
        let size = meta.len();
        let send = size.min(limit);
        Ok((file, size - send, send))
    }

    /// Bytes received from the program, whether or not they reached the file.
    pub fn bytes_written(&self) -> u64 {
        self.written.load(Relaxed)
    }

    /// File writes (or rotations) that failed.
    pub fn write_errors(&self) -> u64 {
        self.write_errors.load(Relaxed)
    }

    /// Why the file is not being written (the first error since the last
    /// successful write) or not reopened (since the last successful
    /// reopen), or `None` while it is fine.
    pub fn error(&self) -> Option<String> {
        let write = lock(&self.error).clone();
        let reopen = lock(&self.reopen_error).clone();
        match (write, reopen) {
            (Some(w), Some(r)) => Some(format!("{w}; {r}")),
            (w, r) => w.or(r),
        }
    }

    /// Reopen the file at its path (SIGUSR2, after an external logrotate
    /// moved it). On error the current file stays in use and
    /// [`LogStream::error`] says so until a reopen succeeds; each change
    /// ticks [`fault_changes`].
    pub fn reopen(&self) -> io::Result<()> {
        let Some(path) = &self.path else {
            return Ok(());
        };
        let new = match file::open_append(path) {
            Ok(new) => new,
            Err(e) => {
                self.set_reopen_error(Some(format!(
                    "cannot reopen log file {}: {e}; output still goes to the file opened before",
                    path.display()
                )));
                return Err(e);
            }
        };
        self.set_reopen_error(None);
        let mut guard = match self.file.try_lock() {
            Ok(g) => g,
            Err(TryLockError::Poisoned(p)) => p.into_inner(),
            // A write is in progress (maybe stuck on a slow disk): hand the
            // file over rather than wait.
            Err(TryLockError::WouldBlock) => {
                *lock(&self.reopened) = Some(new);
                return Ok(());
            }
        };
        // An older handover is superseded by this newer file.
        lock(&self.reopened).take();
        if let Some(file) = &mut guard.file {
            file.replace(new);
        }
        Ok(())
    }

    fn set_reopen_error(&self, error: Option<String>) {
        let mut held = lock(&self.reopen_error);
        if *held != error {
            *held = error;
            fault_changed();
        }
    }
}

/// Ticks whenever some stream of this process starts or stops failing.
fn faults() -> &'static watch::Sender<u64> {
    static FAULTS: OnceLock<watch::Sender<u64>> = OnceLock::new();
    FAULTS.get_or_init(|| watch::channel(0).0)
}

fn fault_changed() {
    faults().send_modify(|n| *n += 1);
}

/// "Clear log", the one rule for every face (the JSON API, supervisord's
/// `clearProcessLogs`): empty each stream's file (through
/// `read::clear`: a regular file only, never through a link) and its
/// in-memory tail, so what a reader sees next is what comes next. A
/// redirected stderr is stdout's stream, cleared once.
pub async fn clear(stdout: &Arc<LogStream>, stderr: &Arc<LogStream>) -> io::Result<()> {
    let streams: &[&Arc<LogStream>] = if Arc::ptr_eq(stdout, stderr) {
        &[stdout]
    } else {
        &[stdout, stderr]
    };
    for s in streams {
        if let Some(path) = s.path() {
            read::clear(path.to_path_buf()).await?;
        }
        s.clear_tail();
    }
    Ok(())
}

/// A receiver that is told each time a stream's [`LogStream::error`]
/// changes (any stream's: the caller re-reads the ones it knows).
pub fn fault_changes() -> watch::Receiver<u64> {
    faults().subscribe()
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}
