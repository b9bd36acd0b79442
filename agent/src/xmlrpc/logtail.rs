//! Logs as supervisord serves them: `readProcess*Log` (a byte range of the
//! log file; fleet adds the in-memory tail for a `NONE` log),
//! `tailProcess*Log` (`[bytes, offset, overflow]`), `clearProcessLogs`, and
//! `GET /logtail/NAMESPEC[/stdout|/stderr]` (the last 1024 bytes, then new
//! output as it comes, chunked). The agent keeps no log file of its own, so
//! `/mainlogtail` is 404 and `readLog` a `NO_FILE` fault.

use super::info::{log_paths, lookup};
use super::wire::{Code, Fault};
use crate::logs::LogStream;
use crate::supervisor::{Handle, ProcSnap};
use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::header::CONTENT_TYPE;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use std::convert::Infallible;
use std::io::{Read, Seek, SeekFrom};
use std::sync::Arc;
use tokio_stream::wrappers::errors::BroadcastStreamRecvError;
use tokio_stream::wrappers::BroadcastStream;

pub const NO_MAIN_LOG: &str =
    "fleet-agent keeps no log file: its log goes to stderr (the journal under systemd)";

/// `stdout` or `stderr` of a process: its stream and its file, if any.
/// `None` for stderr sent to stdout (`redirect_stderr`), as supervisord.
pub fn channel(p: &ProcSnap, stderr: bool) -> Option<(Arc<LogStream>, Option<String>)> {
    let (out, err) = log_paths(p);
    let file = |s: String| (!s.is_empty()).then_some(s);
    if !stderr {
        Some((p.stdout.clone(), file(out)))
    } else if Arc::ptr_eq(&p.stdout, &p.stderr) {
        None
    } else {
        Some((p.stderr.clone(), file(err)))
    }
}

/// supervisord's `readFile`: a negative offset with length 0 is "the last
/// -offset bytes"; else `length` bytes from `offset` (0 = to the end).
pub fn read_log(
    stream: &LogStream,
    file: Option<&str>,
    what: &str,
    offset: i64,
    length: i64,
) -> Result<String, Fault> {
    if (offset < 0 && length != 0) || length < 0 {
        return Err(Fault::new(Code::BadArguments));
    }
    let Some(path) = file else {
        // No file (`NONE`): the in-memory tail still answers "the last N".
        if offset < 0 {
            return Ok(
                String::from_utf8_lossy(&stream.tail(offset.unsigned_abs() as usize)).into_owned(),
            );
        }
        return Err(Fault::with(Code::NoFile, format!("{what}: no log file")));
    };
    let read = || -> std::io::Result<Vec<u8>> {
        let mut f = std::fs::File::open(path)?;
        let size = f.seek(SeekFrom::End(0))?;
        let (from, len) = if offset < 0 {
            let n = offset.unsigned_abs();
            (size.saturating_sub(n), n)
        } else if length == 0 {
            (offset as u64, u64::MAX)
        } else {
            (offset as u64, length as u64)
        };
        f.seek(SeekFrom::Start(from))?;
        let mut buf = Vec::new();
        f.take(len).read_to_end(&mut buf)?;
        Ok(buf)
    };
    match read() {
        Ok(b) => Ok(String::from_utf8_lossy(&b).into_owned()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(Fault::with(Code::NoFile, path)),
        Err(_) => Err(Fault::new(Code::Failed)),
    }
}

/// supervisord's `tailFile`: `[bytes, new offset, overflow]`.
pub fn tail_log(file: Option<&str>, offset: i64, length: i64) -> (String, i64, bool) {
    let Some(path) = file else {
        return (String::new(), 0, false);
    };
    let tail = || -> std::io::Result<(String, i64, bool)> {
        let mut f = std::fs::File::open(path)?;
        let sz = f.seek(SeekFrom::End(0))? as i64;
        let (mut offset, mut length) = (offset, length);
        let mut overflow = false;
        if sz > offset + length {
            overflow = true;
            offset = sz - 1;
        }
        if offset + length > sz {
            if offset > sz - 1 {
                length = 0;
            }
            offset = (sz - length).max(0);
            length = length.max(0);
        }
        let mut data = Vec::new();
        if length > 0 {
            f.seek(SeekFrom::Start(offset as u64))?;
            f.take(length as u64).read_to_end(&mut data)?;
        }
        Ok((String::from_utf8_lossy(&data).into_owned(), sz, overflow))
    };
    tail().unwrap_or((String::new(), offset, false))
}

/// Empty a process's log files (supervisord's `clearProcessLogs`). The
/// in-memory tail is not the file and stays.
pub fn clear_logs(p: &ProcSnap) -> Result<(), Fault> {
    let (out, err) = log_paths(p);
    for path in [out, err].into_iter().filter(|s| !s.is_empty()) {
        let cleared = std::fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .and_then(|f| f.set_len(0));
        match cleared {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(Fault::with(Code::Failed, format!("{path}: {e}"))),
        }
    }
    Ok(())
}

fn not_found(why: impl Into<String>) -> Response {
    (StatusCode::NOT_FOUND, format!("{}\n", why.into())).into_response()
}

/// `GET /logtail/NAMESPEC[/stdout|/stderr]`: 404 for an unknown process or
/// channel; else 200, chunked, the last 1024 bytes then live output until
/// the agent stops.
pub async fn logtail(State(h): State<Handle>, Path(rest): Path<String>) -> Response {
    let (spec, chan) = match rest.split_once('/') {
        Some((s, c)) => (s, c),
        None => (rest.as_str(), "stdout"),
    };
    let snap = h.snapshot();
    let p = match lookup(&snap, spec) {
        Ok((_, Some(p))) => p,
        _ => return not_found(format!("no such process: {spec}")),
    };
    let stream = match chan {
        "stdout" => channel(p, false),
        "stderr" => channel(p, true),
        _ => return not_found(format!("no such channel: {chan}")),
    };
    let Some((stream, _)) = stream else {
        return not_found(format!("{spec}: stderr goes to stdout"));
    };
    let (first, rx) = stream.follow(1024);
    let live = BroadcastStream::new(rx).map(|item| {
        Ok::<Bytes, Infallible>(match item {
            Ok(b) => b,
            Err(BroadcastStreamRecvError::Lagged(n)) => Bytes::from(format!(
                "\n[fleet-agent: {n} chunks skipped, this reader fell behind]\n"
            )),
        })
    });
    let body = futures_util::stream::once(async move { Ok(Bytes::from(first)) })
        .chain(live)
        .take_until(h.finished());
    (
        [
            (CONTENT_TYPE, "text/plain;charset=utf-8"),
            (
                axum::http::HeaderName::from_static("x-accel-buffering"),
                "no",
            ),
        ],
        Body::from_stream(body),
    )
        .into_response()
}

/// `GET /mainlogtail`: the agent keeps no log file.
pub async fn mainlogtail() -> Response {
    not_found(NO_MAIN_LOG)
}
