//! Logs of a supervisord host's processes: clearing them
//! (`clearProcessLogs`), the file as a download (`readProcess*Log` in
//! pieces) and tails:
//! `supervisor.tailProcessStdoutLog` / `tailProcessStderrLog` (name,
//! offset, length), the length capped. supervisord has no follow: a
//! followed log is the same call every [`FOLLOW_POLL`] from the offset the
//! last one ended at (supervisord's `tailFile` rules: a log that grew past
//! the length gives its last bytes, one that shrank starts again at its
//! end).

use super::{SupervisordClient, SvError};
use axum::body::Bytes;
use fleet_api::Stream;
use fleet_client::xmlrpc::Value;
use std::sync::Arc;
use std::time::Duration;

/// The most bytes a tail asks supervisord for.
pub const TAIL_MAX: usize = 1 << 20;
/// A tail without `tail=` (supervisorctl's and the agent's default).
const DEFAULT_TAIL: usize = 1600;
/// How often a followed log asks for more.
const FOLLOW_POLL: Duration = Duration::from_secs(1);
/// The most bytes one follow poll asks for.
const FOLLOW_MAX: i64 = 64 << 10;
/// One call's deadline.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);
/// One read of a log file download (well under an answer's cap, 8 MiB).
const FILE_CHUNK: i64 = 1 << 20;

impl SupervisordClient {
    /// `length` bytes from `offset`: (bytes, the log's size).
    async fn read_log(
        &self,
        name: &str,
        stream: Stream,
        offset: i64,
        length: i64,
    ) -> Result<(String, i64), SvError> {
        let method = match stream {
            Stream::Stdout => "supervisor.tailProcessStdoutLog",
            Stream::Stderr => "supervisor.tailProcessStderrLog",
        };
        let params = [Value::str(name), Value::Int(offset), Value::Int(length)];
        let call = self.value(method, &params);
        let v = tokio::time::timeout(CALL_TIMEOUT, call)
            .await
            .map_err(|_| SvError::Unreachable("timed out waiting for the log".into()))??;
        match &v {
            Value::Array(a) => match (a.first(), a.get(1)) {
                (Some(Value::Str(s)), Some(Value::Int(end))) => {
                    let mut s = s.clone();
                    if s.len() > TAIL_MAX {
                        let mut cut = s.len() - TAIL_MAX;
                        while !s.is_char_boundary(cut) {
                            cut += 1;
                        }
                        s.drain(..cut);
                    }
                    Ok((s, *end))
                }
                _ => Err(super::odd(
                    "a log tail that is not [bytes, offset, overflow]",
                )),
            },
            _ => Err(super::odd(
                "a log tail that is not [bytes, offset, overflow]",
            )),
        }
    }

    /// `length` bytes of the log file from `offset`
    /// (`readProcessStdoutLog` / `readProcessStderrLog`).
    async fn read_range(
        &self,
        name: &str,
        stream: Stream,
        offset: i64,
        length: i64,
    ) -> Result<String, SvError> {
        let method = match stream {
            Stream::Stdout => "supervisor.readProcessStdoutLog",
            Stream::Stderr => "supervisor.readProcessStderrLog",
        };
        let params = [Value::str(name), Value::Int(offset), Value::Int(length)];
        let call = self.value(method, &params);
        let v = tokio::time::timeout(CALL_TIMEOUT, call)
            .await
            .map_err(|_| SvError::Unreachable("timed out waiting for the log".into()))??;
        match v {
            Value::Str(s) => Ok(s),
            _ => Err(super::odd("a log read that is not a string")),
        }
    }

    /// The log file as a download: its last [`fleet_api::LOG_FILE_MAX`]
    /// bytes as of the first call (what a fleet agent's download holds),
    /// read in [`FILE_CHUNK`] pieces: supervisord has no download, and one
    /// answer is capped. A failed read ends the body with the error.
    pub fn file(
        self: Arc<Self>,
        name: String,
        stream: Stream,
    ) -> impl futures_util::Stream<Item = Result<Bytes, std::io::Error>> + Send {
        futures_util::stream::unfold(None::<(i64, i64)>, move |state| {
            let me = self.clone();
            let name = name.clone();
            async move {
                let (at, end) = match state {
                    Some(range) => range,
                    // Its size: a tail of nothing answers with the end.
                    None => match me.read_log(&name, stream, 0, 0).await {
                        Ok((_, size)) => {
                            let max = fleet_api::LOG_FILE_MAX as i64;
                            (size.saturating_sub(max).max(0), size)
                        }
                        Err(e) => return Some((Err(std::io::Error::other(e.to_string())), None)),
                    },
                };
                if at >= end {
                    return None;
                }
                let want = (end - at).min(FILE_CHUNK);
                match me.read_range(&name, stream, at, want).await {
                    // Cut short since (cleared or rotated): what was there.
                    Ok(text) if text.is_empty() => None,
                    // By the bytes asked for: supervisord's text may hold
                    // replacement characters for bytes that were not UTF-8.
                    Ok(text) => Some((Ok(Bytes::from(text)), Some((at + want, end)))),
                    Err(e) => Some((Err(std::io::Error::other(e.to_string())), Some((end, end)))),
                }
            }
        })
    }

    /// Empty `name`'s log files (`supervisor.clearProcessLogs`).
    pub async fn clear_log(&self, name: &str) -> Result<(), SvError> {
        let params = [Value::str(name)];
        let call = self.value("supervisor.clearProcessLogs", &params);
        tokio::time::timeout(CALL_TIMEOUT, call)
            .await
            .map_err(|_| SvError::Unreachable("timed out clearing the log".into()))??;
        Ok(())
    }

    /// The last `tail` bytes (at most [`TAIL_MAX`]) of `name`'s `stream`.
    /// With `stamped`, lines as `\tLINE`: supervisord keeps no read times,
    /// and an empty time is how fleet's stamped tail says "not known".
    pub async fn tail(
        &self,
        name: &str,
        stream: Stream,
        tail: Option<usize>,
        stamped: bool,
    ) -> Result<Vec<u8>, SvError> {
        let len = tail.unwrap_or(DEFAULT_TAIL).min(TAIL_MAX) as i64;
        let (text, _) = self.read_log(name, stream, 0, len).await?;
        Ok(stamp(text.as_bytes(), stamped.then_some(""), &mut false))
    }

    /// The tail, then what is written after it, polled every
    /// [`FOLLOW_POLL`] until the reader goes (or a call fails: the body
    /// ends with the error). Followed lines are stamped with the time the
    /// console read them.
    pub fn follow(
        self: Arc<Self>,
        name: String,
        stream: Stream,
        tail: Option<usize>,
        stamped: bool,
    ) -> impl futures_util::Stream<Item = Result<Bytes, std::io::Error>> + Send {
        let len = tail.unwrap_or(DEFAULT_TAIL).min(TAIL_MAX) as i64;
        let start = Follow {
            offset: None,
            mid_line: false,
        };
        futures_util::stream::unfold(Some(start), move |state| {
            let me = self.clone();
            let name = name.clone();
            async move {
                let mut f = state?;
                loop {
                    let (at, want, stampt) = match f.offset {
                        None => (0, len, stamped.then(String::new)),
                        Some(o) => {
                            tokio::time::sleep(FOLLOW_POLL).await;
                            let now = fleet_daemon::time::now_ms().to_string();
                            (o, FOLLOW_MAX, stamped.then_some(now))
                        }
                    };
                    match me.read_log(&name, stream, at, want).await {
                        Err(e) => return Some((Err(std::io::Error::other(e.to_string())), None)),
                        Ok((text, end)) => {
                            f.offset = Some(end);
                            if text.is_empty() {
                                continue;
                            }
                            let out = stamp(text.as_bytes(), stampt.as_deref(), &mut f.mid_line);
                            return Some((Ok(Bytes::from(out)), Some(f)));
                        }
                    }
                }
            }
        })
    }
}

struct Follow {
    /// Where the next read starts (`None`: the tail is still to read).
    offset: Option<i64>,
    /// The last piece ended inside a line.
    mid_line: bool,
}

/// Lines as `TIME\tLINE` when `time` is given (a piece that continues a
/// line gets no prefix); `mid_line` carries whether it ended inside one.
fn stamp(raw: &[u8], time: Option<&str>, mid_line: &mut bool) -> Vec<u8> {
    let Some(time) = time else {
        return raw.to_vec();
    };
    let mut out = Vec::with_capacity(raw.len() + raw.len() / 8);
    for piece in raw.split_inclusive(|b| *b == b'\n') {
        if !*mid_line {
            out.extend_from_slice(time.as_bytes());
            out.push(b'\t');
        }
        out.extend_from_slice(piece);
        *mid_line = !piece.ends_with(b"\n");
    }
    out
}

#[cfg(test)]
#[test]
fn stamps_lines_not_pieces() {
    let mut mid = false;
    assert_eq!(stamp(b"a\nb", Some("7"), &mut mid), b"7\ta\n7\tb");
    assert!(mid);
    assert_eq!(stamp(b"c\nd\n", Some("8"), &mut mid), b"c\n8\td\n");
    assert!(!mid);
    assert_eq!(stamp(b"x\n", None, &mut mid), b"x\n");
}
