//! `GET /v1/processes/{name}/log?stream=stdout|stderr&tail=N&follow=true`:
//! the in-memory tail, then (with follow) new bytes as they arrive; with
//! `timestamps=true` each line is `MS\tLINE`, MS the time the agent read
//! it from the pipe (a follower's: when the agent passed it on, within
//! milliseconds of that), or empty when it no longer knows. One clock, the
//! agent's, for history and live lines alike.
//! `GET /v1/processes/{name}/log/file?stream=`: the current log file
//! (its last `LOG_FILE_MAX` bytes at most), streamed from disk.
//! Addressed by process name only; no file path crosses the API.

use super::ApiError;
use crate::logs::{LogStream, Span};
use crate::supervisor::Handle;
use axum::body::{Body, Bytes};
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::header::{HeaderName, CONTENT_LENGTH, CONTENT_TYPE};
use axum::response::{IntoResponse, Response};
use fleet_api::{FileQuery, LogQuery, Stream};
use std::sync::Arc;

/// Default tail, as supervisorctl's.
const DEFAULT_TAIL: usize = 1600;

pub async fn log(
    State(h): State<Handle>,
    path: Result<Path<String>, PathRejection>,
    query: Result<Query<LogQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Path(name) = path?;
    let Query(q) = query?;
    let stream = stream_of(&h, &name, q.stream.as_deref())?;
    // With `from`, the bytes from that stream offset on (a follower
    // going on after its connection broke); the answer says where its
    // first byte is in `x-log-offset` either way.
    let span = match q.from {
        Some(at) => Span::From(at),
        None => Span::Last(q.tail.unwrap_or(DEFAULT_TAIL)),
    };
    let follow = q.follow == Some(true);
    let (kind, (body, start)) = match (q.timestamps == Some(true), follow) {
        (true, true) => (
            "text/plain; charset=utf-8",
            crate::logs::stamped_follow_body(&stream, span, h.finished()),
        ),
        (true, false) => {
            let (bytes, stamps, start) = stream.tail_stamped_span(span);
            let text = crate::logs::stamped(&bytes, &stamps);
            ("text/plain; charset=utf-8", (Body::from(text), start))
        }
        (false, true) => (
            "application/octet-stream",
            crate::logs::follow_body(&stream, span, h.finished()),
        ),
        (false, false) => {
            let (bytes, start) = stream.tail_span(span);
            ("application/octet-stream", (Body::from(bytes), start))
        }
    };
    let offset = HeaderName::from_static(fleet_api::LOG_OFFSET_HEADER);
    Ok((
        [(CONTENT_TYPE, kind.to_owned()), (offset, start.to_string())],
        body,
    )
        .into_response())
}

/// `POST /v1/processes/{name}/log/clear`: empty the process's log files
/// and its in-memory tail (`logs::clear`, the rule supervisord's
/// `clearProcessLogs` follows too). 204.
pub async fn clear(
    State(h): State<Handle>,
    path: Result<Path<String>, PathRejection>,
) -> Result<axum::http::StatusCode, ApiError> {
    let Path(name) = path?;
    let out = stream_of(&h, &name, Some("stdout"))?;
    let err = stream_of(&h, &name, Some("stderr"))?;
    crate::logs::clear(&out, &err)
        .await
        .map_err(|e| ApiError::internal(format!("cannot clear the log of {name:?}: {e}")))?;
    tracing::info!(process = %name, "log cleared");
    Ok(axum::http::StatusCode::NO_CONTENT)
}

/// The stream `stream` (default stdout) of the process `name` (a full name,
/// or a process name that is unique).
fn stream_of(h: &Handle, name: &str, stream: Option<&str>) -> Result<Arc<LogStream>, ApiError> {
    let snap = h.snapshot();
    let proc = match snap.get(name) {
        Some(p) => p,
        None => {
            let mut by_process = snap.procs.iter().filter(|p| p.info.process == name);
            match (by_process.next(), by_process.next()) {
                (Some(p), None) => p,
                (Some(_), Some(_)) => {
                    return Err(ApiError::bad_request(format!(
                        "{name:?} is ambiguous: use GROUP:PROCESS"
                    )))
                }
                _ => return Err(ApiError::not_found(format!("no process named {name:?}"))),
            }
        }
    };
    match Stream::parse(stream).map_err(ApiError::bad_request)? {
        Stream::Stdout => Ok(proc.stdout.clone()),
        Stream::Stderr => Ok(proc.stderr.clone()),
    }
}

/// `GET /v1/processes/{name}/log/file?stream=`: the current log file as it
/// is on disk (its last `LOG_FILE_MAX` bytes, or `maxbytes` and one chunk),
/// read in pieces, never whole into memory; opened without following a
/// symlink.
pub async fn file(
    State(h): State<Handle>,
    path: Result<Path<String>, PathRejection>,
    query: Result<Query<FileQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    use tokio::io::{AsyncReadExt, AsyncSeekExt};
    let Path(name) = path?;
    let Query(q) = query?;
    let stream = stream_of(&h, &name, q.stream.as_deref())?;
    let which = q.stream.as_deref().unwrap_or("stdout");
    if stream.path().is_none() {
        return Err(ApiError::not_found(format!(
            "the {which} of {name:?} has no log file"
        )));
    }
    // Off the runtime thread, like every log file access (`logs::read`).
    let opened = tokio::task::spawn_blocking(move || stream.open_current())
        .await
        .unwrap_or_else(|e| Err(std::io::Error::other(e.to_string())));
    let (file, from, len) = opened.map_err(|e| {
        ApiError::internal(format!("cannot read the {which} log file of {name:?}: {e}"))
    })?;
    let mut file = tokio::fs::File::from_std(file);
    file.seek(std::io::SeekFrom::Start(from))
        .await
        .map_err(|e| ApiError::internal(format!("cannot read the log file: {e}")))?;
    // The size at open: bytes written since are not sent (the length is
    // declared up front).
    let reader = file.take(len);
    let body = futures_util::stream::unfold(reader, |mut r| async move {
        let mut buf = vec![0u8; 64 * 1024];
        match r.read(&mut buf).await {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((Ok::<Bytes, std::io::Error>(Bytes::from(buf)), r))
            }
            Err(e) => Some((Err(e), r)),
        }
    });
    Ok((
        [
            (CONTENT_TYPE, "application/octet-stream".to_owned()),
            (CONTENT_LENGTH, len.to_string()),
        ],
        Body::from_stream(body),
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    #[test]
    fn stamped_lines_take_their_first_bytes_time_or_none() {
        // Bytes 0..4 have no time; 4.. read at 7, 9.. at 8: "cd" began
        // at 7, in the chunk read at 7.
        let s = crate::logs::stamped(b"old\nab\ncd\nef", &[(4, 7), (9, 8)]);
        assert_eq!(s, "\told\n7\tab\n7\tcd\n8\tef");
        assert_eq!(crate::logs::stamped(b"", &[(0, 1)]), "");
    }
}
