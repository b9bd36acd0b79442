//! Log capture against real pipes and real files.

use super::{spawn_pump, LogStream, Span};
use crate::config::LogSpec;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

fn spec(path: Option<PathBuf>, maxbytes: u64, backups: u32) -> LogSpec {
    LogSpec {
        path,
        maxbytes,
        backups,
    }
}

fn read(p: impl AsRef<Path>) -> Vec<u8> {
    std::fs::read(p).unwrap()
}

fn numbered(p: &Path, i: u32) -> PathBuf {
    PathBuf::from(format!("{}.{i}", p.display()))
}

/// Oldest first: `path.N` … `path.1`, `path`.
fn all_files(p: &Path, backups: u32) -> Vec<u8> {
    let mut out = Vec::new();
    for i in (1..=backups).rev() {
        if let Ok(b) = std::fs::read(numbered(p, i)) {
            out.extend(b);
        }
    }
    out.extend(read(p));
    out
}

/// Bytes that are easy to tell apart at any offset.
fn pattern(len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (i % 251) as u8 ^ (i / 251) as u8)
        .collect()
}

/// Feed `data` into a real pipe from a thread, pump it into `stream`, and
/// wait (bounded) for the pump to finish at EOF.
async fn pump_through(data: Vec<u8>, stream: &Arc<LogStream>) {
    // Odd-sized writes, so chunks do not line up with anything.
    pump_fed(stream, move |mut w| {
        for piece in data.chunks(7919) {
            w.write_all(piece).unwrap();
        }
    })
    .await
}

/// Pump what `feed` writes into a real pipe (from a thread) into `stream`
/// and wait (bounded) for the pump to finish at EOF.
async fn pump_fed(stream: &Arc<LogStream>, feed: impl FnOnce(std::fs::File) + Send + 'static) {
    let (r, w) = nix::unistd::pipe().unwrap();
    let writer = std::thread::spawn(move || feed(std::fs::File::from(w)));
    let pump = spawn_pump(r, stream.clone());
    tokio::time::timeout(Duration::from_secs(60), pump)
        .await
        .expect("the pump did not finish at EOF")
        .unwrap();
    writer.join().unwrap();
}

#[test]
fn rotates_with_supervisords_naming_and_count() {
    rotation_case();
}

#[tokio::test]
async fn rotates_the_same_inside_a_runtime() {
    // There the replaced oldest backup is closed on the blocking pool.
    rotation_case();
}

fn rotation_case() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sub/dir/out.log");
    let s = LogStream::open(&spec(Some(path.clone()), 10, 2), 100).unwrap();
    // Checked after each write, never split: "aaaabbbbcccc" is 12 >= 10.
    for chunk in [
        "aaaa",
        "bbbb",
        "cccc",
        "dd",
        "eeeeeeee",
        "ff",
        "gggggggggg",
        "h",
    ] {
        s.write(chunk.as_bytes());
    }
    assert_eq!(read(&path), b"h");
    assert_eq!(read(numbered(&path, 1)), b"ffgggggggggg");
    assert_eq!(read(numbered(&path, 2)), b"ddeeeeeeee");
    // "aaaabbbbcccc" fell off the end: only 2 backups.
    assert!(!numbered(&path, 3).exists());
    assert_eq!(s.bytes_written(), 35);
}

/// A missing backup (deleted by hand) is a gap that moves up, as with
/// supervisord's `doRollover`: only a backup that exists moves, and only
/// the one that falls off the end is lost.
#[test]
fn a_gap_in_the_backups_moves_up_as_supervisords_does() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("out.log");
    std::fs::write(numbered(&path, 2), b"two").unwrap();
    std::fs::write(numbered(&path, 3), b"three").unwrap();
    let s = LogStream::open(&spec(Some(path.clone()), 4, 3), 100).unwrap();
    s.write(b"now!");
    assert_eq!(read(&path), b"");
    assert_eq!(read(numbered(&path, 1)), b"now!");
    assert!(!numbered(&path, 2).exists());
    assert_eq!(read(numbered(&path, 3)), b"two");
    assert!(!numbered(&path, 4).exists());
}

#[test]
fn existing_file_counts_towards_maxbytes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("out.log");
    std::fs::write(&path, b"123456789").unwrap();
    let s = LogStream::open(&spec(Some(path.clone()), 10, 1), 100).unwrap();
    s.write(b"x");
    assert_eq!(read(numbered(&path, 1)), b"123456789x");
    assert_eq!(read(&path), b"");
    // Appending, not overwriting, and only what the program wrote counts.
    assert_eq!(s.bytes_written(), 1);
}

#[test]
fn zero_backups_truncates_in_place() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("out.log");
    let s = LogStream::open(&spec(Some(path.clone()), 10, 0), 100).unwrap();
    s.write(b"123456");
    assert_eq!(read(&path), b"123456");
    s.write(b"789abc");
    assert_eq!(read(&path), b"");
    s.write(b"x");
    assert_eq!(read(&path), b"x");
    assert!(!numbered(&path, 1).exists());
    assert_eq!(s.bytes_written(), 13);
    assert_eq!(s.tail(100), b"123456789abcx");
}

#[test]
fn zero_maxbytes_never_rotates() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("out.log");
    let s = LogStream::open(&spec(Some(path.clone()), 0, 3), 16).unwrap();
    let data = pattern(100_000);
    for piece in data.chunks(1000) {
        s.write(piece);
    }
    assert_eq!(read(&path), data);
    assert!(!numbered(&path, 1).exists());
}

#[test]
fn no_file_keeps_only_the_tail() {
    let s = LogStream::open(&spec(None, 10, 3), 4).unwrap();
    s.write(b"hello");
    assert_eq!(s.path(), None);
    assert_eq!(s.tail(10), b"ello");
    assert_eq!(s.bytes_written(), 5);
    s.reopen().unwrap();
}

#[test]
fn tail_is_bounded_and_correct_after_wrap() {
    let s = LogStream::open(&spec(None, 0, 0), 100).unwrap();
    let data = pattern(10_000);
    let mut at = 0;
    for (i, n) in [1, 99, 3, 250, 0, 64, 100, 7].iter().cycle().enumerate() {
        if at >= data.len() || i > 10_000 {
            break;
        }
        let end = (at + n).min(data.len());
        s.write(&data[at..end]);
        at = end;
        assert_eq!(s.tail(usize::MAX), data[at.saturating_sub(100)..at]);
        assert_eq!(s.tail(30), data[at.saturating_sub(30)..at]);
    }
    assert_eq!(at, data.len());
    assert!(s.tail.lock().unwrap().len() <= 100);
}

#[test]
fn follow_sees_later_bytes_once() {
    let s = LogStream::open(&spec(None, 0, 0), 100).unwrap();
    s.write(b"abc");
    let (snap, mut rx, _) = s.follow(Span::Last(2));
    assert_eq!(snap, b"bc");
    s.write(b"def");
    assert_eq!(&rx.try_recv().unwrap()[..], b"def");
    assert!(rx.try_recv().is_err());
}

/// A follower whose connection broke goes on from the stream offset it
/// reached: what the tail still holds from there, never a byte twice.
#[test]
fn a_span_from_an_offset_is_what_the_tail_holds_from_there() {
    let s = LogStream::open(&spec(None, 0, 0), 4).unwrap();
    s.write(b"abcdef");
    assert_eq!(s.tail_span(Span::Last(3)), (b"def".to_vec(), 3));
    assert_eq!(s.tail_span(Span::From(3)), (b"def".to_vec(), 3));
    assert_eq!(s.tail_span(Span::From(6)), (vec![], 6));
    assert_eq!(s.tail_span(Span::From(9)), (vec![], 6), "past the end");
    // Older than the tail: the tail's first byte, and it says so.
    assert_eq!(s.tail_span(Span::From(0)), (b"cdef".to_vec(), 2));
    let (first, mut rx, start) = s.follow(Span::From(5));
    assert_eq!((first, start), (b"f".to_vec(), 5));
    s.write(b"g");
    assert_eq!(&rx.try_recv().unwrap()[..], b"g");
    let (bytes, stamps, at) = s.tail_stamped_span(Span::From(4));
    assert_eq!((bytes, at), (b"efg".to_vec(), 4));
    assert!(!stamps.is_empty());
}

#[test]
fn follow_during_concurrent_writes_has_no_gap_or_duplicate() {
    // Fewer chunks than the broadcast holds, so the follower cannot lag.
    let chunks: Vec<Vec<u8>> = (0..super::FOLLOW_CHUNKS - 1)
        .map(|i| format!("<{i}>").into_bytes())
        .collect();
    let all: Vec<u8> = chunks.concat();
    for split in [0, 1, 30, chunks.len()] {
        let s = LogStream::open(&spec(None, 0, 0), all.len()).unwrap();
        for c in &chunks[..split] {
            s.write(c);
        }
        let writer = {
            let s = s.clone();
            let rest = chunks[split..].to_vec();
            std::thread::spawn(move || rest.iter().for_each(|c| s.write(c)))
        };
        // Subscribe while the writer may be running.
        let (mut got, mut rx, _) = s.follow(Span::Last(usize::MAX));
        writer.join().unwrap();
        while let Ok(b) = rx.try_recv() {
            got.extend_from_slice(&b);
        }
        assert_eq!(got, all, "split {split}");
    }
}

#[test]
fn reopen_follows_an_external_rename() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("out.log");
    let moved = dir.path().join("out.log.old");
    let s = LogStream::open(&spec(Some(path.clone()), 0, 0), 100).unwrap();
    s.write(b"one ");
    std::fs::rename(&path, &moved).unwrap();
    s.write(b"two ");
    s.reopen().unwrap();
    s.write(b"three");
    assert_eq!(read(&moved), b"one two ");
    assert_eq!(read(&path), b"three");
}

#[test]
fn reopen_during_a_write_is_handed_over() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("out.log");
    let moved = dir.path().join("out.log.old");
    let s = LogStream::open(&spec(Some(path.clone()), 0, 0), 100).unwrap();
    s.write(b"one ");
    std::fs::rename(&path, &moved).unwrap();
    {
        // As if a pump were stuck in a write: reopen must not wait.
        let _busy = s.file.lock().unwrap();
        s.reopen().unwrap();
    }
    s.write(b"two");
    assert_eq!(read(&moved), b"one ");
    assert_eq!(read(&path), b"two");
}

#[test]
fn write_errors_are_counted_and_bytes_still_reach_the_tail() {
    let s = LogStream::open(&spec(Some("/dev/full".into()), 0, 0), 100).unwrap();
    s.write(b"lost ");
    s.write(b"on disk");
    assert_eq!(s.write_errors(), 2);
    assert_eq!(s.bytes_written(), 12);
    assert_eq!(s.tail(100), b"lost on disk");
}

/// The error shows while writes fail (recovery once space returns is
/// tested end to end on a full tmpfs, tests/agent_faults_disk.rs: log
/// paths may not be symlinks, so a unit test cannot swap the target).
#[test]
fn a_failing_file_reports_its_error_while_writes_fail() {
    let dev = PathBuf::from("/dev/full");
    let s = LogStream::open(&spec(Some(dev.clone()), 0, 0), 100).unwrap();
    let mut changes = super::fault_changes();
    changes.mark_unchanged();
    assert_eq!(s.error(), None);
    s.write(b"a");
    let e = s.error().expect("an error while the file is full");
    assert!(e.contains("No space left on device"), "{e}");
    assert!(e.contains("/dev/full"), "{e}");
    assert!(changes.has_changed().unwrap());
    s.write(b"b");
    assert!(s.error().is_some());
    assert_eq!(s.tail(100), b"ab");
}

#[test]
fn a_device_is_never_rotated() {
    let dev = PathBuf::from("/dev/full");
    let s = LogStream::open(&spec(Some(dev.clone()), 4, 2), 100).unwrap();
    s.write(b"0123456789");
    s.write(b"0123456789");
    assert!(!numbered(&dev, 1).exists());
    assert_eq!(s.write_errors(), 2);
}

#[test]
fn a_symlinked_log_file_is_refused_at_open_and_at_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("secret");
    std::fs::write(&secret, "untouched").unwrap();
    let link = dir.path().join("out.log");
    std::os::unix::fs::symlink(&secret, &link).unwrap();
    let e = LogStream::open(&spec(Some(link.clone()), 0, 0), 100)
        .err()
        .expect("a symlink must be refused");
    assert!(e.to_string().contains("is a symbolic link"), "{e}");

    // Opened as a regular file, then swapped for a link: reopen refuses and
    // keeps writing to the file it has.
    std::fs::remove_file(&link).unwrap();
    let s = LogStream::open(&spec(Some(link.clone()), 0, 0), 100).unwrap();
    std::fs::rename(&link, dir.path().join("moved")).unwrap();
    std::os::unix::fs::symlink(&secret, &link).unwrap();
    let e = s.reopen().unwrap_err();
    assert!(e.to_string().contains("is a symbolic link"), "{e}");
    s.write(b"more\n");
    assert_eq!(std::fs::read_to_string(&secret).unwrap(), "untouched");
    assert_eq!(
        std::fs::read_to_string(dir.path().join("moved")).unwrap(),
        "more\n"
    );
}

/// A refused reopen shows in `error` (naming the path) and ticks
/// `fault_changes` until a reopen succeeds; a second refusal with the same
/// cause is no new change.
#[test]
fn a_refused_reopen_is_the_stream_error_until_a_reopen_succeeds() {
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("secret");
    std::fs::write(&secret, "untouched").unwrap();
    let link = dir.path().join("out.log");
    let s = LogStream::open(&spec(Some(link.clone()), 0, 0), 100).unwrap();
    std::fs::rename(&link, dir.path().join("moved")).unwrap();
    std::os::unix::fs::symlink(&secret, &link).unwrap();
    let mut changes = super::fault_changes();
    changes.mark_unchanged();

    s.reopen().unwrap_err();
    let e = s.error().expect("the refusal is the stream's error");
    assert!(e.contains("cannot reopen log file"), "{e}");
    assert!(e.contains(&link.display().to_string()), "{e}");
    assert!(e.contains("is a symbolic link"), "{e}");
    assert!(changes.has_changed().unwrap());
    changes.mark_unchanged();
    // Writes to the file still open succeed, and do not hide the refusal.
    s.write(b"kept\n");
    assert_eq!(s.error().as_deref(), Some(e.as_str()));
    s.reopen().unwrap_err();
    assert_eq!(s.error().as_deref(), Some(e.as_str()));

    std::fs::remove_file(&link).unwrap();
    s.reopen().unwrap();
    assert_eq!(s.error(), None);
    assert!(changes.has_changed().unwrap());
    s.write(b"fresh\n");
    assert_eq!(std::fs::read_to_string(&link).unwrap(), "fresh\n");
    assert_eq!(std::fs::read_to_string(&secret).unwrap(), "untouched");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pump_accounts_for_every_byte_across_rotations() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("out.log");
    let backups = 200;
    let s = LogStream::open(&spec(Some(path.clone()), 64 * 1024, backups), 1000).unwrap();
    let data = pattern(8 << 20);
    pump_through(data.clone(), &s).await;
    assert_eq!(s.bytes_written(), data.len() as u64);
    assert!(numbered(&path, 2).exists());
    assert!(!numbered(&path, backups).exists(), "enough backups");
    assert_eq!(all_files(&path, backups), data);
    assert_eq!(s.tail(usize::MAX), data[data.len() - 1000..]);
    assert_eq!(s.write_errors(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pump_drains_small_writes_to_eof() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("out.log");
    let s = LogStream::open(&spec(Some(path.clone()), 0, 0), 100).unwrap();
    let (r, w) = nix::unistd::pipe().unwrap();
    let pump = spawn_pump(r, s.clone());
    let mut w = std::fs::File::from(w);
    let mut want = Vec::new();
    for i in 0..100 {
        let line = format!("line {i}\n");
        w.write_all(line.as_bytes()).unwrap();
        want.extend_from_slice(line.as_bytes());
    }
    drop(w);
    tokio::time::timeout(Duration::from_secs(30), pump)
        .await
        .expect("the pump did not finish at EOF")
        .unwrap();
    assert_eq!(read(&path), want);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pump_keeps_draining_when_the_file_cannot_be_written() {
    let s = LogStream::open(&spec(Some("/dev/full".into()), 0, 0), 1000).unwrap();
    let data = pattern(4 << 20);
    pump_through(data.clone(), &s).await;
    assert_eq!(s.bytes_written(), data.len() as u64);
    assert!(s.write_errors() > 0);
    assert_eq!(s.tail(usize::MAX), data[data.len() - 1000..]);
}

#[test]
fn a_slow_follower_lags_without_slowing_the_writer() {
    use tokio::sync::broadcast::error::TryRecvError;
    let n = super::FOLLOW_CHUNKS;
    let s = LogStream::open(&spec(None, 0, 0), 100).unwrap();
    let (_, mut rx, _) = s.follow(Span::Last(0));
    // The follower never reads: writes must not block.
    for i in 0..3 * n {
        s.write(format!("{i},").as_bytes());
    }
    assert_eq!(rx.try_recv(), Err(TryRecvError::Lagged(2 * n as u64)));
    assert_eq!(rx.try_recv().unwrap(), format!("{},", 2 * n).as_bytes());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_pumps_can_share_a_stream() {
    // As with redirect_stderr: stdout and stderr into one stream.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("out.log");
    let s = LogStream::open(&spec(Some(path.clone()), 100_000, 100), 100).unwrap();
    tokio::join!(
        pump_through(vec![b'o'; 1 << 20], &s),
        pump_through(vec![b'e'; 1 << 20], &s)
    );
    assert_eq!(s.bytes_written(), 2 << 20);
    let all = all_files(&path, 100);
    assert_eq!(all.len(), 2 << 20);
    assert_eq!(all.iter().filter(|&&b| b == b'o').count(), 1 << 20);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_leaves_a_settled_exact_tail() {
    // Big reads reach the tail by reference; at EOF the stream must have
    // copied the tail out so the pump's buffers are freed.
    let s = LogStream::open(&spec(None, 0, 0), super::TAIL_BYTES).unwrap();
    let data = pattern(16 << 20);
    pump_through(data.clone(), &s).await;
    assert_eq!(s.bytes_written(), data.len() as u64);
    assert!(!super::lock(&s.tail).holds_a_chunk());
    assert_eq!(s.tail(usize::MAX), data[data.len() - super::TAIL_BYTES..]);
    assert_eq!(s.tail(10), data[data.len() - 10..]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pump_keeps_order_across_busy_and_quiet_spells() {
    // Bursts (queued for the writer thread) alternate with trickles (written
    // inline once the queue is empty, else queued behind it): the file must
    // still be the stream, byte for byte.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("out.log");
    let s = LogStream::open(&spec(Some(path.clone()), 1 << 20, 100), 1000).unwrap();
    let data = pattern(24 << 20);
    let feed = data.clone();
    pump_fed(&s, move |mut w| {
        let (mut at, mut i) = (0, 0usize);
        while at < feed.len() {
            // 1 MiB bursts, then 64 lines of 1..100 bytes.
            let len = if i % 65 == 0 {
                1 << 20
            } else {
                1 + i * 37 % 100
            };
            let end = (at + len).min(feed.len());
            w.write_all(&feed[at..end]).unwrap();
            at = end;
            i += 1;
        }
    })
    .await;
    assert_eq!(s.bytes_written(), data.len() as u64);
    assert_eq!(all_files(&path, 100), data);
    assert_eq!(s.tail(usize::MAX), data[data.len() - 1000..]);
}

#[tokio::test]
async fn a_job_dropped_unwritten_does_not_leave_its_stream_waiting() {
    // If the writer thread dies, its jobs are dropped unwritten. They must
    // stop counting as queued, or a pump would wait at EOF forever and
    // later writes would queue behind nothing.
    use std::sync::atomic::Ordering::AcqRel;
    let s = LogStream::open(&spec(None, 0, 0), 100).unwrap();
    s.queued.fetch_add(1, AcqRel);
    let job = super::writer::Job::new(s.clone(), super::chunk::Chunk::copy_of(b"lost"));
    let (flushed, ()) = tokio::join!(
        tokio::time::timeout(Duration::from_secs(10), s.flushed()),
        async {
            tokio::task::yield_now().await;
            drop(job);
        }
    );
    flushed.expect("flushed() still waits after the job was dropped");
    assert!(!s.is_queued());
}
