//! The pump: drain one output pipe into a [`LogStream`] until EOF.
//!
//! The pipe is non-blocking and polled by tokio (an `AsyncFd`) on the
//! main runtime, so an idle program costs a parked task, no thread. A read
//! goes into a small reused buffer first; a stream that fills it is busy, so
//! it gets two large page-aligned heap buffers (given back once reads are
//! small again) and a larger pipe, so the program blocks less while the agent
//! writes. A big read goes to the stream as a shared [`Chunk`]: the tail keeps
//! it by reference while the pump reads into the other buffer, so a flood is
//! not copied a second time into the tail. The file is written directly from
//! the task: a page-cache write. The pump reads
//! until EOF whatever happens to the file: a program never stalls on a full
//! pipe because its log disk is full. Readiness waits go through tokio's
//! cooperative budget, so a flood yields to other tasks on the runtime.
//!
//! A quiet stream is read at most once per `tick::TICK`: after a read, the
//! pump takes the pipe out of the reactor and reads it on the next tick
//! (one timer for every pump), and polls it again after a few empty ticks. A hundred
//! workers printing 200 lines a second then cost the agent a wake-up per
//! tick, one read and one write per pipe per tick, instead of a wake-up,
//! two reads and a write per line. A line
//! reaches the file and followers at most a tick later; a program never
//! waits for it (the pipe holds what it writes meanwhile). A read shorter
//! than the buffer emptied the pipe, so the pump does not read again to
//! hear `EAGAIN`.

use super::chunk::{Chunk, PageBuf};
use super::handoff::{Live, Tag};
use super::{writer, LogStream};
use std::cell::RefCell;
use std::io::{self, Read};
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::Arc;
use tokio::io::unix::AsyncFd;
use tokio::task::JoinHandle;
use tracing::Instrument;

/// Stack buffer for quiet streams.
const SMALL: usize = 16 * 1024;
/// Heap buffer for busy streams (also the largest chunk a follower gets).
pub(super) const BIG: usize = 256 * 1024;
thread_local! {
    /// Where quiet reads land before their bytes are handed on: one per
    /// thread, reused, so a read neither zeroes nor allocates a buffer.
    static SCRATCH: RefCell<Box<[u8]>> = RefCell::new(vec![0; SMALL].into_boxed_slice());
}

/// Empty ticks after which a stream that printed is polled again.
const IDLE_TICKS: u8 = 5;

/// Pipe capacity asked for a busy stream (Linux caps it at
/// /proc/sys/fs/pipe-max-size, 1 MiB by default, for non-root users).
#[cfg(target_os = "linux")]
const PIPE_SIZE: i32 = 1 << 20;

/// Drain `pipe` into `stream` on the current runtime. The handle completes
/// at EOF, once every byte has been handed to `stream`.
pub fn spawn_pump(pipe: OwnedFd, stream: Arc<LogStream>) -> JoinHandle<()> {
    // In the caller's span (the process's, if it has one), for the warnings.
    tokio::spawn(pump(pipe, stream, None).instrument(tracing::Span::current()))
}

/// As [`spawn_pump`], for a program's pipe: a re-exec takes it back
/// (`handoff.rs`) instead of letting the pump close it.
pub fn spawn_tagged_pump(pipe: OwnedFd, stream: Arc<LogStream>, tag: Tag) -> JoinHandle<()> {
    tokio::spawn(pump(pipe, stream, Some(tag)).instrument(tracing::Span::current()))
}

async fn pump(fd: OwnedFd, stream: Arc<LogStream>, tag: Option<Tag>) {
    // If the pipe cannot be polled, its output must be drained anyway.
    if let Err(e) = set_nonblocking(&fd, true) {
        return drain_blocking(fd, stream, e).await;
    }
    let mut pipe = match crate::sys::register_readable(fd) {
        Ok(rx) => Pipe::Polled(rx),
        Err((fd, e)) => return drain_blocking(fd, stream, e).await,
    };
    let _settle = Settle(&stream);
    let mut reader = Reader::default();
    let mut live = tag.as_ref().map(|_| Live::new());
    loop {
        // `poll_read_ready`, unlike `readable()`, spends tokio's cooperative
        // budget: a pipe that is always ready still yields the worker.
        let mut ready = tokio::select! {
            biased;
            _ = async {
                match &mut live {
                    Some((_, frozen)) => {
                        let _ = frozen.wait_for(|f| *f).await;
                    }
                    None => std::future::pending().await,
                }
            } => {
                // A re-exec: what was read goes to the file, the pipe (and
                // what is still in it) to the next image.
                stream.flushed().await;
                if let (Some((live, _)), Some(tag)) = (live, tag) {
                    live.hand_back(tag, pipe.into_fd());
                }
                return;
            }
            ready = async {
                match &pipe {
                    Pipe::Polled(rx) => std::future::poll_fn(|cx| rx.poll_read_ready(cx)).await.map(Some),
                    Pipe::Ticked(..) => {
                        super::tick::next().await;
                        Ok(None)
                    }
                }
            } => match ready {
                Ok(guard) => guard,
                Err(_) => return, // the runtime is shutting down
            },
        };
        // A busy stream's chunks go to the writer thread. Waiting here for
        // room in its queue, before reading, is what slows the program down
        // to the disk's pace. A quiet stream never asks: the thread starts
        // with the first flood.
        let permit = if reader.is_busy() || stream.is_queued() {
            writer::reserve().await
        } else {
            None
        };
        let was_busy = reader.is_busy();
        let size = if was_busy { BIG } else { SMALL };
        let read = match &ready {
            Some(guard) => reader.read(guard.get_inner(), &stream, permit),
            None => reader.read(pipe.fd(), &stream, permit),
        };
        if let Some(chunk) = reader.pending.take() {
            stream.write_chunk(chunk, writer::reserve().await);
        }
        let got = match read {
            Ok(0) => break,
            Ok(n) => {
                // Short: the pipe is empty now; no read to hear EAGAIN.
                if let Some(r) = ready.as_mut().filter(|_| n < size) {
                    r.clear_ready();
                }
                true
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                if let Some(r) = ready.as_mut() {
                    r.clear_ready();
                }
                false
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read program output; closing the pipe");
                break;
            }
        };
        pipe = match pipe.next(got, was_busy || reader.is_busy()) {
            Ok(next) => next,
            // The pipe cannot be polled again: drain it from a thread.
            Err((fd, e)) => return drain_blocking(fd, stream.clone(), e).await,
        };
    }
    // Done when every byte is in the file, not just queued.
    stream.flushed().await;
}

/// A pipe waited on for readiness, or, while its program keeps printing,
/// read on the shared tick and out of the reactor: registered, every write
/// of the program would wake the runtime even though nobody waits.
enum Pipe {
    Polled(AsyncFd<OwnedFd>),
    /// With the empty ticks left before it is polled again.
    Ticked(OwnedFd, u8),
}

impl Pipe {
    /// Out of the reactor, still open (for a re-exec).
    fn into_fd(self) -> OwnedFd {
        match self {
            Pipe::Polled(rx) => rx.into_inner(),
            Pipe::Ticked(fd, _) => fd,
        }
    }

    fn fd(&self) -> &OwnedFd {
        match self {
            Pipe::Polled(rx) => rx.get_ref(),
            Pipe::Ticked(fd, _) => fd,
        }
    }

    /// After a read that `got` bytes (or not): a quiet stream that printed
    /// is ticked; a busy one (a flood, through the writer thread and
    /// tokio's budget) or one that stopped printing is polled.
    fn next(self, got: bool, busy: bool) -> Result<Pipe, (OwnedFd, io::Error)> {
        match (self, got && !busy) {
            (Pipe::Polled(rx), true) => Ok(Pipe::Ticked(rx.into_inner(), IDLE_TICKS)),
            (Pipe::Ticked(fd, _), true) => Ok(Pipe::Ticked(fd, IDLE_TICKS)),
            (Pipe::Ticked(fd, left), false) if left > 1 && !busy => Ok(Pipe::Ticked(fd, left - 1)),
            (Pipe::Ticked(fd, _), false) => crate::sys::register_readable(fd).map(Pipe::Polled),
            (polled, false) => Ok(polled),
        }
    }
}

fn read_fd(fd: &OwnedFd, buf: &mut [u8]) -> io::Result<usize> {
    Ok(nix::unistd::read(fd.as_raw_fd(), buf)?)
}

/// However the pump ends, the stream lets go of its buffers.
struct Settle<'a>(&'a LogStream);

impl Drop for Settle<'_> {
    fn drop(&mut self) {
        self.0.settle_tail();
    }
}

#[derive(Default)]
struct Reader {
    /// Empty while the stream is quiet; while busy, at most two: the one
    /// being read into and the one the tail may still hold.
    big: Vec<Arc<PageBuf>>,
    pipe_raised: bool,
    /// A read that must queue behind the stream's queued chunks, for which
    /// the pump has to wait for room.
    pending: Option<Chunk>,
    /// Short reads in a row while busy.
    short: u8,
}

/// Short reads in a row after which a busy stream is quiet again. One is
/// not enough: a flood meets a nearly empty pipe now and then (the writer
/// thread caught up), and dropping to quiet there would hand the pipe to
/// the 10 ms tick and reallocate the buffers on the next read.
const QUIET_AFTER: u8 = 4;

impl Reader {
    fn is_busy(&self) -> bool {
        !self.big.is_empty()
    }

    /// One `read(2)` into the buffer that fits; the bytes go to `stream`,
    /// through the writer thread's queue when there is a `permit`.
    fn read(
        &mut self,
        pipe: &OwnedFd,
        stream: &Arc<LogStream>,
        permit: Option<writer::Permit<'_>>,
    ) -> io::Result<usize> {
        if self.big.is_empty() {
            let n = SCRATCH.with_borrow_mut(|small| -> io::Result<usize> {
                let n = read_fd(pipe, small)?;
                let data = &small[..n];
                if n > 0 {
                    // Earlier chunks may still be queued: then this one goes
                    // behind them, never past them.
                    match permit {
                        Some(p) => stream.write_chunk(Chunk::copy_of(data), Some(p)),
                        None if stream.write_inline(data, None) => {}
                        None => self.pending = Some(Chunk::copy_of(data)),
                    }
                }
                Ok(n)
            })?;
            if n == SMALL {
                self.busy(pipe);
            }
            return Ok(n);
        }
        let i = self.free_buffer();
        let buf = Arc::get_mut(&mut self.big[i]).expect("a buffer nobody else holds");
        let n = read_fd(pipe, buf.get())?;
        if n > 0 {
            stream.write_chunk(Chunk::new(self.big[i].clone(), n), permit);
        }
        self.short = if n < SMALL { self.short + 1 } else { 0 };
        if self.short >= QUIET_AFTER {
            // Quiet again: let the buffers go (once written and out of the
            // tail).
            self.big.clear();
            self.short = 0;
        }
        Ok(n)
    }

    /// The index of a buffer only this reader holds. The others are in the
    /// writer's queue (at most `writer::QUEUE`) or the tail (one), so this
    /// many always leave one free.
    fn free_buffer(&mut self) -> usize {
        const MAX: usize = writer::QUEUE + 2;
        if let Some(i) = self.big.iter_mut().position(|b| Arc::get_mut(b).is_some()) {
            return i;
        }
        let fresh = Arc::new(PageBuf::new(BIG));
        if self.big.len() < MAX {
            self.big.push(fresh);
            self.big.len() - 1
        } else {
            self.big[0] = fresh;
            0
        }
    }

    fn busy(&mut self, _pipe: &OwnedFd) {
        self.big.push(Arc::new(PageBuf::new(BIG)));
        // Only busy pipes get raised: Linux charges pipe capacity per user
        // (pipe-user-pages-soft), and past that limit every new pipe of the
        // user is created tiny. Best effort.
        #[cfg(target_os = "linux")]
        if !self.pipe_raised {
            self.pipe_raised = true;
            let _ = nix::fcntl::fcntl(
                _pipe.as_raw_fd(),
                nix::fcntl::FcntlArg::F_SETPIPE_SZ(PIPE_SIZE),
            );
        }
    }
}

fn set_nonblocking(fd: &OwnedFd, on: bool) -> io::Result<()> {
    use nix::fcntl::{fcntl, FcntlArg, OFlag};
    let flags = OFlag::from_bits_truncate(fcntl(fd.as_raw_fd(), FcntlArg::F_GETFL)?);
    let flags = if on {
        flags | OFlag::O_NONBLOCK
    } else {
        flags - OFlag::O_NONBLOCK
    };
    fcntl(fd.as_raw_fd(), FcntlArg::F_SETFL(flags))?;
    Ok(())
}

/// Fallback when the pipe cannot be polled: a blocking read on the blocking
/// pool, so the program's output is still drained.
async fn drain_blocking(pipe: OwnedFd, stream: Arc<LogStream>, why: io::Error) {
    tracing::warn!(error = %why, "cannot poll an output pipe; draining it from a thread");
    // O_NONBLOCK may be set already (registration failed after it).
    if let Err(e) = set_nonblocking(&pipe, false) {
        tracing::error!(error = %e, "cannot drain an output pipe; the program may block");
        return;
    }
    let drain = tokio::task::spawn_blocking(move || {
        let mut pipe = std::fs::File::from(pipe);
        let mut buf = PageBuf::new(BIG);
        let buf = buf.get();
        loop {
            match pipe.read(buf) {
                Ok(0) => return,
                Ok(n) => stream.write(&buf[..n]),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    tracing::warn!(error = %e, "cannot read program output; closing the pipe");
                    return;
                }
            }
        }
    });
    let _ = drain.await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::LogSpec;

    #[test]
    fn an_idle_pump_is_small() {
        // 500 programs idle in `readable` must not hold 500 big buffers
        // (16 KiB and up). The future itself is a few hundred bytes: the
        // readiness or tick wait beside the re-exec's watch (576 B).
        let (r, _w) = nix::unistd::pipe().unwrap();
        let spec = LogSpec {
            path: None,
            maxbytes: 0,
            backups: 0,
        };
        let pump = pump(r, LogStream::open(&spec, 100).unwrap(), None);
        assert!(
            std::mem::size_of_val(&pump) < 1024,
            "{}",
            std::mem::size_of_val(&pump)
        );
    }
}
