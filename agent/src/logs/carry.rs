//! Log tails across an in-place re-exec (`crate::reexec`): the in-memory
//! tail of every stream (its bytes, receive-time stamps, `written` and
//! `write_errors`) goes to the new image, so a tail, a follower and the
//! log byte counters carry on where they were instead of starting empty.
//!
//! The old image, at the `state` step (the pumps have handed their pipes
//! back, so no program byte reaches a stream meanwhile), copies each
//! stream's tail into a second sealed memfd, one after another, each
//! followed by its stamps (as offsets into its own bytes; binary, 16 bytes
//! each: a chatty stream has hundreds, too many for the JSON hand-off
//! across hundreds of streams), with an [`Index`] in the JSON hand-off:
//! per stream its process, which stream, where it is in the memfd and its
//! counters. Only copies: an exec that fails leaves the old image's
//! streams as they were. The new image, once its streams exist and
//! before any pump runs again, fills each stream from its range
//! ([`Received::restore`]) and closes the memfd. A stream whose tail is now
//! smaller keeps the last `cap` bytes (only those are read); a process no
//! longer in the config, a range that does not fit the memfd or stamps
//! that do not fit their bytes are skipped (that stream starts empty);
//! a hand-off without an index (an older image) leaves every tail empty.
//! A memfd that cannot be written or read costs the tails, with a warning,
//! never the re-exec.
//!
//! Memory: the memfd holds the sum of the tails, each at most its stream's
//! cap ([`super::TAIL_BYTES`]) plus its stamps (at most
//! [`MAX_STAMPS`] × 16 bytes); the old image adds one tail's copy at a
//! time. In the new image the memfd and the refilled rings coexist until
//! the memfd is closed, right after the restore: a peak of twice the sum
//! of the tails, transient, bounded by the caps.

use super::ring::MAX_STAMPS;
use super::{lock, LogStream};
use serde::{Deserialize, Serialize};
use std::fs::File;
use std::io::{self, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::FileExt;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

/// The hand-off's description of the tails memfd.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Index {
    /// The memfd (inherited across the exec).
    pub fd: i32,
    pub streams: Vec<Entry>,
}

/// One stream's tail in the memfd.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Entry {
    /// The process's full name.
    pub name: String,
    /// Its stderr stream (never for a stream shared with stdout).
    pub stderr: bool,
    /// Where its bytes are in the memfd: `len` bytes at `at`, then
    /// `stamps` pairs (offset in its bytes, unix ms) as `LogStream::
    /// tail_stamped` gives them, each number 8 bytes little-endian.
    pub at: u64,
    pub len: u64,
    pub stamps: u64,
    /// The stream's counters (`LogStream::bytes_written`, `write_errors`).
    pub written: u64,
    pub write_errors: u64,
}

/// Bytes per stamp in the memfd.
const STAMP: u64 = 16;

/// A process's streams: (full name, stdout, stderr), stderr the same
/// stream as stdout when redirected.
pub type Streams<'a> = (&'a str, &'a Arc<LogStream>, &'a Arc<LogStream>);

/// Each stream once, with whether it is a separate stderr.
fn each<'a>(procs: impl IntoIterator<Item = Streams<'a>>) -> Vec<(&'a str, bool, &'a LogStream)> {
    let mut out = Vec::new();
    for (name, stdout, stderr) in procs {
        out.push((name, false, &**stdout));
        if !Arc::ptr_eq(stdout, stderr) {
            out.push((name, true, &**stderr));
        }
    }
    out
}

/// Old image: every stream's tail in a new sealed memfd (close-on-exec;
/// the caller lets the exec inherit it) and its index. `None`, with a
/// warning, when the memfd cannot be made: the tails then start empty.
pub fn export<'a>(procs: impl IntoIterator<Item = Streams<'a>>) -> Option<(OwnedFd, Index)> {
    match write_all(procs) {
        Ok(done) => Some(done),
        Err(e) => {
            tracing::warn!(
                "cannot hand the log tails over ({e}); they start empty after the re-exec"
            );
            None
        }
    }
}

fn write_all<'a>(procs: impl IntoIterator<Item = Streams<'a>>) -> io::Result<(OwnedFd, Index)> {
    use nix::sys::memfd::{memfd_create, MemFdCreateFlag};
    let fd = memfd_create(
        c"fleet-agent-tails",
        MemFdCreateFlag::MFD_CLOEXEC | MemFdCreateFlag::MFD_ALLOW_SEALING,
    )?;
    let mut file = File::from(fd);
    let mut streams = Vec::new();
    let mut at = 0;
    for (name, stderr, s) in each(procs) {
        let (bytes, stamps, written) = {
            // `written` moves only under the tail lock: one consistent view.
            let tail = lock(&s.tail);
            let bytes = tail.last(tail.cap());
            let written = s.written.load(Relaxed);
            let stamps = tail.stamps.between(written - bytes.len() as u64, written);
            (bytes, stamps, written)
        };
        file.write_all(&bytes)?;
        let pairs: Vec<u8> = stamps
            .iter()
            .flat_map(|&(off, ms)| [off.to_le_bytes(), ms.to_le_bytes()])
            .flatten()
            .collect();
        file.write_all(&pairs)?;
        let len = bytes.len() as u64;
        streams.push(Entry {
            name: name.to_owned(),
            stderr,
            at,
            len,
            stamps: stamps.len() as u64,
            written,
            write_errors: s.write_errors.load(Relaxed),
        });
        at += len + pairs.len() as u64;
    }
    let seals = nix::fcntl::SealFlag::F_SEAL_WRITE
        | nix::fcntl::SealFlag::F_SEAL_GROW
        | nix::fcntl::SealFlag::F_SEAL_SHRINK
        | nix::fcntl::SealFlag::F_SEAL_SEAL;
    nix::fcntl::fcntl(file.as_raw_fd(), nix::fcntl::FcntlArg::F_ADD_SEALS(seals))?;
    let fd = OwnedFd::from(file);
    let index = Index {
        fd: fd.as_raw_fd(),
        streams,
    };
    Ok((fd, index))
}

/// New image: the memfd taken over and its index, until [`restore`]
/// fills the streams (dropping it closes the memfd).
///
/// [`restore`]: Received::restore
#[derive(Default)]
pub struct Received {
    from: Option<(File, Vec<Entry>)>,
}

impl Received {
    /// The tails the hand-off describes; `fd` the memfd taken over (`None`:
    /// it was not handed over, and the tails start empty).
    pub fn new(index: Option<Index>, fd: Option<OwnedFd>) -> Received {
        match (index, fd) {
            (Some(i), Some(fd)) => Received {
                from: Some((File::from(fd), i.streams)),
            },
            (Some(_), None) => {
                tracing::warn!("the log tails' memfd was not handed over; tails start empty");
                Received::default()
            }
            _ => Received::default(),
        }
    }

    /// Fill each stream still configured from its tail, then close the
    /// memfd. Call before any pump writes to the streams.
    pub fn restore<'a>(&mut self, procs: impl IntoIterator<Item = Streams<'a>>) {
        let Some((file, entries)) = self.from.take() else {
            return;
        };
        let size = match file.metadata() {
            Ok(m) => m.len(),
            Err(e) => {
                tracing::warn!("cannot read the log tails' memfd ({e}); tails start empty");
                return;
            }
        };
        let streams = each(procs);
        let (mut filled, mut skipped) = (0, 0);
        for e in &entries {
            let Some(&(_, _, s)) = streams
                .iter()
                .find(|(n, stderr, _)| *n == e.name && *stderr == e.stderr)
            else {
                skipped += 1;
                continue;
            };
            match fill(s, &file, size, e) {
                Ok(()) => filled += 1,
                Err(why) => {
                    skipped += 1;
                    tracing::warn!(process = %e.name, stderr = e.stderr, "log tail not carried over: {why}");
                }
            }
        }
        tracing::info!(filled, skipped, bytes = size, "log tails carried over");
    }
}

/// Put `e`'s tail (its last `cap` bytes) and counters into the fresh
/// stream `s`.
fn fill(s: &LogStream, file: &File, size: u64, e: &Entry) -> Result<(), String> {
    let end = (e.stamps <= MAX_STAMPS as u64)
        .then(|| e.at.checked_add(e.len)?.checked_add(e.stamps * STAMP))
        .flatten()
        .filter(|&end| end <= size);
    if end.is_none() || e.len > e.written {
        return Err(format!(
            "{}+{} with {} stamps does not fit",
            e.at, e.len, e.stamps
        ));
    }
    let mut raw = vec![0; (e.stamps * STAMP) as usize];
    file.read_exact_at(&mut raw, e.at + e.len)
        .map_err(|err| err.to_string())?;
    let num = |b: &[u8]| u64::from_le_bytes(b.try_into().expect("8 bytes"));
    let stamps: Vec<(u64, u64)> = raw
        .chunks_exact(STAMP as usize)
        .map(|p| (num(&p[..8]), num(&p[8..])))
        .collect();
    if stamps.windows(2).any(|w| w[0].0 >= w[1].0) || stamps.iter().any(|st| st.0 >= e.len) {
        return Err("its stamps do not fit its bytes".into());
    }
    let mut tail = lock(&s.tail);
    let keep = e.len.min(tail.cap() as u64);
    let mut bytes = vec![0; keep as usize];
    file.read_exact_at(&mut bytes, e.at + e.len - keep)
        .map_err(|err| err.to_string())?;
    tail.clear();
    tail.push(&bytes);
    // Stream offsets again: the bytes end at `written`.
    let start = e.written - e.len;
    let tail_start = e.written - keep;
    for (off, ms) in stamps {
        tail.stamps.note(start + off, ms, tail_start);
    }
    s.written.store(e.written, Relaxed);
    s.write_errors.store(e.write_errors, Relaxed);
    Ok(())
}
