//! `carry`: tails through a real sealed memfd into fresh streams.

use super::carry::{export, Entry, Index, Received, Streams};
use super::LogStream;
use crate::config::LogSpec;
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::Arc;

fn stream(path: Option<&str>, cap: usize) -> Arc<LogStream> {
    let spec = LogSpec {
        path: path.map(Into::into),
        maxbytes: 0,
        backups: 0,
    };
    LogStream::open(&spec, cap).unwrap()
}

/// Write `chunks`, each in a later millisecond than the one before, so
/// each gets a stamp of its own.
fn feed(s: &Arc<LogStream>, chunks: &[&str]) {
    for c in chunks {
        let before = fleet_daemon::time::now_ms();
        // A wait for the clock to move on, not for another thread.
        while fleet_daemon::time::now_ms() == before {
            std::hint::spin_loop();
        }
        s.write(c.as_bytes());
    }
}

/// What a reader sees of a stream: every size of tail, stamped, and the
/// counters.
fn view(s: &LogStream) -> Vec<String> {
    let mut out: Vec<String> = [0, 1, 7, 30, 64, 1000]
        .into_iter()
        .map(|max| format!("{max}: {:?}", s.tail_stamped(max)))
        .collect();
    out.push(format!("{} {}", s.bytes_written(), s.write_errors()));
    out
}

fn procs<'a>(
    list: &'a [(&'a str, Arc<LogStream>, Arc<LogStream>)],
) -> impl Iterator<Item = Streams<'a>> {
    list.iter().map(|(n, o, e)| (*n, o, e))
}

/// The memfd as the exec hands it over: another descriptor, same file.
fn handed(fd: &OwnedFd) -> OwnedFd {
    fd.try_clone().unwrap()
}

#[test]
fn tails_stamps_and_counters_come_back_as_they_were() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("web.log");
    let web_out = stream(Some(file.to_str().unwrap()), 64);
    let web_err = stream(Some("/dev/full"), 64);
    let shared = stream(None, 64);
    feed(
        &web_out,
        &[
            "out 1\n",
            "out 2\nout",
            " 3\n",
            &"x".repeat(50),
            "\nout 4\n",
        ],
    );
    feed(&web_err, &["err 1\n", "err 2\n"]);
    feed(&shared, &["both 1\n", "both 2\n"]);
    assert_eq!(web_err.write_errors(), 2);
    let old = vec![
        ("web", web_out.clone(), web_err.clone()),
        ("db", shared.clone(), shared.clone()),
    ];
    let (fd, index) = export(procs(&old)).expect("a memfd");
    // A redirected stderr is its stdout's stream: carried once.
    assert_eq!(index.streams.len(), 3);
    assert_eq!(index.fd, fd.as_raw_fd());
    // Sealed: nothing can change it on the way.
    let mut f = std::fs::File::from(fd.try_clone().unwrap());
    assert!(std::io::Write::write_all(&mut f, b"more").is_err());

    let shared2 = stream(None, 64);
    let new = vec![
        (
            "web",
            stream(Some(file.to_str().unwrap()), 64),
            stream(None, 64),
        ),
        ("db", shared2.clone(), shared2),
    ];
    let mut got = Received::new(Some(index), Some(handed(&fd)));
    got.restore(procs(&new));
    for ((_, o, e), (_, o2, e2)) in old.iter().zip(&new) {
        assert_eq!(view(o), view(o2));
        assert_eq!(view(e), view(e2));
    }
    // What comes next continues the stream: same offsets, no gap.
    for (_, o, _) in old.iter().chain(&new) {
        feed(o, &["next\n"]);
    }
    let (b1, s1) = web_out.tail_stamped(64);
    let (b2, s2) = new[0].1.tail_stamped(64);
    assert_eq!(b1, b2);
    let offsets = |s: &[(u64, u64)]| s.iter().map(|x| x.0).collect::<Vec<_>>();
    assert_eq!(offsets(&s1), offsets(&s2));
    assert_eq!(web_out.bytes_written(), new[0].1.bytes_written());
}

#[test]
fn a_smaller_tail_keeps_its_last_bytes_and_the_rest_is_skipped() {
    let out = stream(None, 64);
    feed(&out, &["line 1\n", "line 2\n", "line 3\n"]);
    let err = stream(None, 64);
    feed(&err, &["e\n"]);
    let old = vec![
        ("kept", out.clone(), err.clone()),
        ("gone", err.clone(), out.clone()),
    ];
    let (fd, index) = export(procs(&old)).unwrap();
    let small = stream(None, 10);
    let new = vec![("kept", small.clone(), stream(None, 64))];
    Received::new(Some(index), Some(handed(&fd))).restore(procs(&new));
    assert_eq!(small.tail(100), out.tail(10));
    assert_eq!(small.tail_stamped(100), out.tail_stamped(10));
    assert_eq!(small.bytes_written(), out.bytes_written());
}

#[test]
fn a_bad_index_or_no_memfd_starts_empty() {
    let out = stream(None, 64);
    feed(&out, &["hello\n"]);
    let old = vec![("p", out.clone(), out.clone())];
    let (fd, index) = export(procs(&old)).unwrap();
    let fresh = || stream(None, 64);
    // The memfd was not handed over.
    let s = fresh();
    let new = vec![("p", s.clone(), s.clone())];
    Received::new(Some(index.clone()), None).restore(procs(&new));
    assert_eq!((s.tail(100), s.bytes_written()), (vec![], 0));
    // A range past the memfd's end, stamps past the bytes.
    let bad = |f: fn(&mut Entry)| {
        let mut i: Index = index.clone();
        f(&mut i.streams[0]);
        let s = fresh();
        let new = vec![("p", s.clone(), s.clone())];
        Received::new(Some(i), Some(handed(&fd))).restore(procs(&new));
        assert_eq!((s.tail(100), s.bytes_written()), (vec![], 0));
    };
    bad(|e| e.stamps += 1);
    bad(|e| e.stamps = u64::MAX);
    bad(|e| e.at = u64::MAX);
    bad(|e| e.written = 0);
    // The stamps read from the wrong place: they do not fit the bytes.
    bad(|e| e.len -= 1);
    // An older image's hand-off: no index.
    let s = fresh();
    let new = vec![("p", s.clone(), s.clone())];
    Received::new(None, Some(handed(&fd))).restore(procs(&new));
    assert_eq!(s.tail(100), b"");
}
