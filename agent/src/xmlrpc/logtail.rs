//! Logs as supervisord serves them: `readProcess*Log` (a byte range of the
//! log file; fleet adds the in-memory tail for a `NONE` log),
//! `tailProcess*Log` (`[bytes, offset, overflow]`), `clearProcessLogs`, and
//! `GET /logtail/NAMESPEC[/stdout|/stderr]` (the last 1024 bytes, then new
//! output as it comes, chunked). The agent keeps no log file of its own, so
//! `/mainlogtail` is 404 and `readLog` a `NO_FILE` fault.

use super::info::{log_paths, lookup};
use super::wire::{Code, Fault};
use crate::logs::read::{self, Budget, Range};
use crate::logs::LogStream;
use crate::supervisor::{Handle, ProcSnap};
use axum::extract::{Path, State};
use axum::http::header::CONTENT_TYPE;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use std::sync::Arc;

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
/// -offset bytes"; else `length` bytes from `offset` (0 = to the end). At
/// most the request's [`Budget`] allows (`read::CALL_MAX` a call): a larger
/// range answers its first bytes (a "last N", its last bytes), as a short
/// `read` does; the caller continues from where it ends.
pub async fn read_log(
    stream: &LogStream,
    file: Option<&str>,
    what: &str,
    (offset, length): (i64, i64),
    budget: &Budget,
) -> Result<String, Fault> {
    if (offset < 0 && length != 0) || length < 0 {
        return Err(Fault::new(Code::BadArguments));
    }
    let cap = budget_cap(budget)?;
    let Some(path) = file else {
        // No file (`NONE`): the in-memory tail still answers "the last N".
        if offset < 0 {
            let n = offset.unsigned_abs().min(cap) as usize;
            let tail = stream.tail(n);
            budget.spend(tail.len() as u64);
            return Ok(String::from_utf8_lossy(&tail).into_owned());
        }
        return Err(Fault::with(Code::NoFile, format!("{what}: no log file")));
    };
    let range = if offset < 0 {
        Range::Last(offset.unsigned_abs())
    } else {
        Range::From(offset as u64, (length > 0).then_some(length as u64))
    };
    match read::read(path.into(), range, cap).await {
        Ok(r) => {
            budget.spend(r.bytes.len() as u64);
            Ok(String::from_utf8_lossy(&r.bytes).into_owned())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(Fault::with(Code::NoFile, path)),
        Err(e) => Err(Fault::with(Code::Failed, e.to_string())),
    }
}

/// supervisord's `tailFile`: `[bytes, new offset, overflow]`, at most the
/// request's [`Budget`] allows. A file that cannot be read (missing, not a
/// regular file) answers nothing from the offset given, as supervisord does
/// for a missing one.
pub async fn tail_log(
    file: Option<&str>,
    (offset, length): (i64, i64),
    budget: &Budget,
) -> Result<(String, i64, bool), Fault> {
    let cap = budget_cap(budget)?;
    let Some(path) = file else {
        return Ok((String::new(), 0, false));
    };
    match read::read(path.into(), Range::Tail(offset, length), cap).await {
        Ok(r) => {
            budget.spend(r.bytes.len() as u64);
            let size = i64::try_from(r.size).unwrap_or(i64::MAX);
            Ok((
                String::from_utf8_lossy(&r.bytes).into_owned(),
                size,
                r.overflow,
            ))
        }
        Err(_) => Ok((String::new(), offset, false)),
    }
}

fn budget_cap(budget: &Budget) -> Result<u64, Fault> {
    budget.cap().ok_or_else(|| {
        Fault::with(
            Code::Failed,
            format!(
                "this request has read its {} MiB of logs; read the rest in another request",
                read::REQUEST_MAX >> 20
            ),
        )
    })
}

/// Empty a process's log files and tail (supervisord's
/// `clearProcessLogs`): the JSON API's rule, `logs::clear`.
pub async fn clear_logs(p: &ProcSnap) -> Result<(), Fault> {
    crate::logs::clear(&p.stdout, &p.stderr)
        .await
        .map_err(|e| Fault::with(Code::Failed, e.to_string()))
}

fn not_found(why: impl Into<String>) -> Response {
    (StatusCode::NOT_FOUND, format!("{}\n", why.into())).into_response()
}

/// `GET /logtail/NAMESPEC[/stdout|/stderr]`: 404 for an unknown process or
/// channel; else 200, chunked, the last 1024 bytes then live output until
/// the agent stops.
pub async fn logtail(State(h): State<Handle>, Path(rest): Path<String>) -> Response {
    let (spec, chan) = match rest.split_once('/') {
        Some((s, c)) => (s, Some(c)),
        None => (rest.as_str(), None),
    };
    let snap = h.snapshot();
    let p = match lookup(&snap, spec) {
        Ok((_, Some(p))) => p,
        _ => return not_found(format!("no such process: {spec}")),
    };
    let stream = match fleet_api::Stream::parse(chan) {
        Ok(s) => channel(p, s == fleet_api::Stream::Stderr),
        Err(_) => return not_found(format!("no such channel: {}", chan.unwrap_or(""))),
    };
    let Some((stream, _)) = stream else {
        return not_found(format!("{spec}: stderr goes to stdout"));
    };
    let (body, _) = crate::logs::follow_body(&stream, crate::logs::Span::Last(1024), h.finished());
    (
        [
            (CONTENT_TYPE, "text/plain;charset=utf-8"),
            (
                axum::http::HeaderName::from_static("x-accel-buffering"),
                "no",
            ),
        ],
        body,
    )
        .into_response()
}

/// `GET /mainlogtail`: the agent keeps no log file.
pub async fn mainlogtail() -> Response {
    not_found(NO_MAIN_LOG)
}
