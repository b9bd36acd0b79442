//! `[agent] forward_output`: every program's output also goes to the
//! agent's own stdout (a program's stdout) or stderr (its stderr), line by
//! line, each line led by the process name — what a container runtime or
//! journald collects. The log files, the tail and followers are untouched.
//!
//! Best effort by design: a stream is handed over under its tail lock, so
//! handing over never blocks. A thread of its own writes; when the agent's
//! stdout does not keep up (a full pipe), what passes `QUEUE_MAX` queued
//! bytes is dropped, counted, and said once writing catches up. A line
//! longer than `LINE_MAX` is cut into pieces, each marked.

use bytes::Bytes;
use std::collections::HashMap;
use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Arc, Mutex, OnceLock};

/// Bytes handed over and not yet written, at most.
pub const QUEUE_MAX: usize = 4 << 20;
/// The longest line held back waiting for its end.
pub const LINE_MAX: usize = 64 << 10;

/// Where a stream's lines go and under which name.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Label {
    pub name: Arc<str>,
    pub stderr: bool,
}

struct Forwarder {
    tx: Mutex<Sender<(Label, Bytes)>>,
    queued: AtomicUsize,
    dropped: AtomicU64,
}

static ON: AtomicBool = AtomicBool::new(false);
static FORWARDER: OnceLock<Forwarder> = OnceLock::new();

/// Turn forwarding on (at start, from the config) or off.
pub fn set_enabled(on: bool) {
    if on {
        forwarder();
    }
    ON.store(on, Relaxed);
}

fn forwarder() -> &'static Forwarder {
    FORWARDER.get_or_init(|| {
        let (tx, rx) = channel();
        std::thread::Builder::new()
            .name("forward-output".into())
            .spawn(move || run(rx, &mut std::io::stdout(), &mut std::io::stderr()))
            .expect("start the output forwarding thread");
        Forwarder {
            tx: Mutex::new(tx),
            queued: AtomicUsize::new(0),
            dropped: AtomicU64::new(0),
        }
    })
}

/// Hand `data` of the stream `label` over, if forwarding is on. Never
/// blocks: past `QUEUE_MAX` the bytes are counted as dropped.
pub fn send(label: &Label, data: &[u8]) {
    if !ON.load(Relaxed) {
        return;
    }
    let f = forwarder();
    if f.queued.load(Relaxed) + data.len() > QUEUE_MAX {
        f.dropped.fetch_add(data.len() as u64, Relaxed);
        return;
    }
    f.queued.fetch_add(data.len(), Relaxed);
    let tx = f.tx.lock().unwrap_or_else(|e| e.into_inner());
    let _ = tx.send((label.clone(), Bytes::copy_from_slice(data)));
}

/// The writer: whole lines as `NAME | LINE`, a stream's partial line kept
/// until its end comes.
fn run(rx: Receiver<(Label, Bytes)>, out: &mut dyn Write, err: &mut dyn Write) {
    let mut partial: HashMap<Label, Vec<u8>> = HashMap::new();
    while let Ok((label, data)) = rx.recv() {
        let f = FORWARDER.get();
        let mut text = Vec::with_capacity(data.len() + 64);
        format_lines(&label, &data, &mut partial, &mut text);
        let w: &mut dyn Write = if label.stderr { &mut *err } else { &mut *out };
        let _ = w.write_all(&text).and_then(|()| w.flush());
        if let Some(f) = f {
            f.queued.fetch_sub(data.len(), Relaxed);
            let lost = f.dropped.swap(0, Relaxed);
            if lost > 0 {
                let _ = writeln!(
                    err,
                    "fleet-agent: {lost} bytes of program output were not forwarded \
                     (the agent's output did not keep up; the log files have them)"
                );
            }
        }
    }
}

/// `data` of `label` appended to its partial line; each complete line
/// (or `LINE_MAX` piece) written to `text` as `NAME | LINE\n`.
fn format_lines(
    label: &Label,
    data: &[u8],
    partial: &mut HashMap<Label, Vec<u8>>,
    text: &mut Vec<u8>,
) {
    let buf = partial.entry(label.clone()).or_default();
    for piece in data.split_inclusive(|&b| b == b'\n') {
        buf.extend_from_slice(piece);
        let whole = buf.ends_with(b"\n");
        if whole || buf.len() >= LINE_MAX {
            text.extend_from_slice(label.name.as_bytes());
            text.extend_from_slice(b" | ");
            text.extend_from_slice(buf);
            if !whole {
                text.extend_from_slice(" […]\n".as_bytes());
            }
            buf.clear();
        }
    }
    if buf.is_empty() {
        partial.remove(label);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn label(name: &str, stderr: bool) -> Label {
        Label {
            name: name.into(),
            stderr,
        }
    }

    #[test]
    fn lines_are_prefixed_and_partial_lines_wait_for_their_end() {
        let mut partial = HashMap::new();
        let mut text = vec![];
        let (web, db) = (label("web:web_00", false), label("db:db", false));
        format_lines(&web, b"one\ntw", &mut partial, &mut text);
        format_lines(&db, b"x\n", &mut partial, &mut text);
        format_lines(&web, b"o\nthree\n", &mut partial, &mut text);
        assert_eq!(
            String::from_utf8(text).unwrap(),
            "web:web_00 | one\ndb:db | x\nweb:web_00 | two\nweb:web_00 | three\n"
        );
        assert!(partial.is_empty());
    }

    #[test]
    fn an_endless_line_is_cut_and_marked() {
        let mut partial = HashMap::new();
        let mut text = vec![];
        let l = label("p:p", true);
        // Held while short; out, marked, once it passes LINE_MAX.
        format_lines(&l, &vec![b'a'; LINE_MAX - 10], &mut partial, &mut text);
        assert!(text.is_empty());
        assert_eq!(partial[&l].len(), LINE_MAX - 10);
        format_lines(&l, &[b'a'; 20], &mut partial, &mut text);
        let s = String::from_utf8(text).unwrap();
        assert!(s.starts_with("p:p | aaa") && s.ends_with(" […]\n"));
        assert_eq!(s.len(), "p:p | ".len() + LINE_MAX + 10 + " […]\n".len());
        assert!(partial.is_empty());
    }
}
