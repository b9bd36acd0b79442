//! The one way the agent reads (or empties) a program's log file, for
//! every face: the JSON API's download, and supervisord's
//! `readProcess*Log`, `tailProcess*Log` and `clearProcessLogs`.
//!
//! Architecture Invariant: no other code opens a log path for reading. A
//! log file belongs to a program that may run as another user in a
//! directory it owns, so it may have swapped the file for a symlink to a
//! root-only file, a FIFO, or `/dev/zero`. Therefore:
//!
//! - the open is `O_NOFOLLOW | O_NONBLOCK` (a symlink fails, a FIFO does
//!   not block the open) and `fstat` on the opened fd must say "regular
//!   file" (a FIFO, a device or a directory is refused); the writer side
//!   (`file.rs`) opens with `O_NOFOLLOW` too, so neither side ever follows
//!   a link the program planted (the writer's one exception, paths under
//!   `/dev/` the operator configured, does not apply here: reading a device
//!   is never an answer);
//! - every read and truncate runs on the blocking pool, never the runtime
//!   thread that serves both listeners and every program's output capture;
//! - every answer is capped: [`CALL_MAX`] per call, and [`Budget`] across
//!   the calls of one request (`system.multicall`);
//! - `clear` truncates the regular file it opened itself (`ftruncate` on
//!   its fd), never a path looked up again.

use std::fs::File;
use std::io;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// The most one XML-RPC log call answers: supervisorctl reads in small
/// pieces (`tail` 1,600 bytes, `tail -f` 1,024 at a time); a larger read
/// gets the first 1 MiB of its range (or the last 1 MiB of a "last N").
pub const CALL_MAX: u64 = 1 << 20;

/// The most the log calls of one request answer together (`system.multicall`
/// of many reads); past it, a call is a fault.
pub const REQUEST_MAX: u64 = 4 << 20;

/// What the log calls of one request may still read.
pub struct Budget(AtomicU64);

impl Default for Budget {
    fn default() -> Self {
        Budget(AtomicU64::new(REQUEST_MAX))
    }
}

impl Budget {
    /// The cap for the next call: at most [`CALL_MAX`], at most what is
    /// left; `None` once the budget is spent.
    pub fn cap(&self) -> Option<u64> {
        let left = self.0.load(Ordering::Relaxed);
        (left > 0).then(|| left.min(CALL_MAX))
    }

    /// `n` bytes were answered.
    pub fn spend(&self, n: u64) {
        let left = self.0.load(Ordering::Relaxed);
        self.0.store(left.saturating_sub(n), Ordering::Relaxed);
    }
}

/// Open a log file to read (or, with `write`, to truncate): never through
/// a symlink, never blocking, regular files only.
pub fn open(path: &Path, write: bool) -> io::Result<File> {
    let file = std::fs::OpenOptions::new()
        .read(!write)
        .write(write)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)
        .map_err(|e| {
            if e.raw_os_error() == Some(libc::ELOOP) {
                io::Error::other(format!(
                    "{} is a symbolic link; log files are never opened through one",
                    path.display()
                ))
            } else {
                e
            }
        })?;
    if !file.metadata()?.is_file() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{} is not a regular file", path.display()),
        ));
    }
    Ok(file)
}

/// Which bytes of a file a read wants.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Range {
    /// The last N bytes.
    Last(u64),
    /// From an offset, this many bytes (`None`: to the end).
    From(u64, Option<u64>),
    /// supervisord's `tailFile(offset, length)`.
    Tail(i64, i64),
}

/// What a read answered: the bytes, the file's size when read, and (for
/// [`Range::Tail`]) whether the reader fell behind.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Read {
    pub bytes: Vec<u8>,
    pub size: u64,
    pub overflow: bool,
}

/// Where a range starts and how much of it to read, in a file of `size`
/// bytes, at most `cap`.
pub fn window(range: Range, size: u64, cap: u64) -> (u64, u64, bool) {
    match range {
        Range::Last(n) => {
            let n = n.min(size).min(cap);
            (size - n, n, false)
        }
        Range::From(off, len) => {
            let avail = size.saturating_sub(off);
            (off, len.unwrap_or(avail).min(avail).min(cap), false)
        }
        Range::Tail(offset, length) => tail_window(size, offset, length, cap),
    }
}

/// supervisord's `tailFile`, in saturating arithmetic (any i64 in, no
/// overflow), with the length capped first.
fn tail_window(size: u64, offset: i64, length: i64, cap: u64) -> (u64, u64, bool) {
    let sz = i64::try_from(size).unwrap_or(i64::MAX);
    let mut length = length.clamp(0, i64::try_from(cap).unwrap_or(i64::MAX));
    let mut offset = offset;
    let mut overflow = false;
    if sz > offset.saturating_add(length) {
        overflow = true;
        offset = sz - 1;
    }
    if offset.saturating_add(length) > sz {
        if offset > sz - 1 {
            length = 0;
        }
        offset = (sz - length).max(0);
    }
    let offset = offset.max(0) as u64;
    let length = (length.max(0) as u64).min(size.saturating_sub(offset));
    (offset, length, overflow)
}

/// Read `range` of the log file at `path`, at most `cap` bytes, off the
/// runtime thread.
pub async fn read(path: PathBuf, range: Range, cap: u64) -> io::Result<Read> {
    blocking(move || {
        let file = open(&path, false)?;
        let size = file.metadata()?.len();
        let (from, len, overflow) = window(range, size, cap);
        let mut bytes = vec![0u8; len as usize];
        let mut got = 0;
        while got < bytes.len() {
            match file.read_at(&mut bytes[got..], from + got as u64)? {
                0 => break,
                n => got += n,
            }
        }
        bytes.truncate(got);
        Ok(Read {
            bytes,
            size,
            overflow,
        })
    })
    .await
}

/// Empty the log file at `path` (a missing file is fine: nothing to empty).
pub async fn clear(path: PathBuf) -> io::Result<()> {
    blocking(move || match open(&path, true) {
        Ok(f) => f.set_len(0),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    })
    .await
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> io::Result<T> + Send + 'static,
) -> io::Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .unwrap_or_else(|e| Err(io::Error::other(format!("log read failed: {e}"))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_are_capped_and_never_overflow() {
        assert_eq!(window(Range::Last(10), 100, 1 << 20), (90, 10, false));
        assert_eq!(window(Range::Last(1 << 30), 100, 1 << 20), (0, 100, false));
        assert_eq!(
            window(Range::Last(1 << 30), 20 << 20, 1 << 20),
            ((19 << 20), 1 << 20, false)
        );
        assert_eq!(
            window(Range::From(0, None), 20 << 20, 1 << 20),
            (0, 1 << 20, false)
        );
        assert_eq!(
            window(Range::From(50, Some(10)), 100, 1 << 20),
            (50, 10, false)
        );
        assert_eq!(
            window(Range::From(500, Some(10)), 100, 1 << 20),
            (500, 0, false)
        );
        // supervisord's tailFile: behind → overflow, the last `length`.
        assert_eq!(window(Range::Tail(0, 10), 100, 1 << 20), (90, 10, true));
        assert_eq!(window(Range::Tail(95, 10), 100, 1 << 20), (90, 10, false));
        assert_eq!(window(Range::Tail(100, 10), 100, 1 << 20), (100, 0, false));
        for (o, l) in [
            (i64::MAX, i64::MAX),
            (i64::MIN, i64::MIN),
            (i64::MAX, 1),
            (-1, i64::MAX),
            (0, -5),
        ] {
            let (from, len, _) = window(Range::Tail(o, l), 100, 1 << 20);
            assert!(from + len <= 100, "{o} {l}: {from} {len}");
        }
        let (_, len, _) = window(Range::Tail(0, i64::MAX), 20 << 20, 1 << 20);
        assert_eq!(len, 1 << 20);
    }

    #[test]
    fn the_budget_caps_a_request() {
        let b = Budget::default();
        for _ in 0..4 {
            assert_eq!(b.cap(), Some(CALL_MAX));
            b.spend(CALL_MAX);
        }
        assert_eq!(b.cap(), None);
    }

    #[tokio::test]
    async fn symlinks_fifos_and_devices_are_refused_and_their_targets_untouched() {
        let d = tempfile::tempdir().unwrap();
        let secret = d.path().join("secret");
        std::fs::write(&secret, "root only").unwrap();
        let link = d.path().join("out.log");
        std::os::unix::fs::symlink(&secret, &link).unwrap();
        assert!(read(link.clone(), Range::From(0, None), CALL_MAX)
            .await
            .is_err());
        assert!(clear(link.clone()).await.is_err());
        assert_eq!(std::fs::read_to_string(&secret).unwrap(), "root only");
        let fifo = d.path().join("fifo.log");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
        let e = read(fifo, Range::Last(10), CALL_MAX).await.unwrap_err();
        assert!(e.to_string().contains("not a regular file"), "{e}");
        assert!(read("/dev/zero".into(), Range::From(0, None), CALL_MAX)
            .await
            .is_err());
        let real = d.path().join("real.log");
        std::fs::write(&real, "hello world").unwrap();
        let r = read(real.clone(), Range::Last(5), CALL_MAX).await.unwrap();
        assert_eq!((r.bytes.as_slice(), r.size), (&b"world"[..], 11));
        clear(real.clone()).await.unwrap();
        assert_eq!(std::fs::metadata(&real).unwrap().len(), 0);
        clear(d.path().join("missing.log")).await.unwrap();
    }
}
