//! `GET /v1/processes/{name}/log?stream=stdout|stderr&tail=N&follow=true`:
//! the in-memory tail, then (with follow) new bytes as they arrive.
//! Addressed by process name only; no file path crosses the API.

use super::ApiError;
use crate::supervisor::Handle;
use axum::body::{Body, Bytes};
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use serde::Deserialize;
use std::convert::Infallible;
use tokio_stream::wrappers::errors::BroadcastStreamRecvError;
use tokio_stream::wrappers::BroadcastStream;

#[derive(Deserialize)]
pub struct LogQuery {
    stream: Option<String>,
    tail: Option<usize>,
    follow: Option<bool>,
}

/// Default tail, as supervisorctl's.
const DEFAULT_TAIL: usize = 1600;

pub async fn log(
    State(h): State<Handle>,
    path: Result<Path<String>, PathRejection>,
    query: Result<Query<LogQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Path(name) = path?;
    let Query(q) = query?;
    let snap = h.snapshot();
    let proc = match snap.get(&name) {
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
    let stream = match q.stream.as_deref().unwrap_or("stdout") {
        "stdout" => proc.stdout.clone(),
        "stderr" => proc.stderr.clone(),
        other => {
            return Err(ApiError::bad_request(format!(
                "unknown stream {other:?} (expected stdout or stderr)"
            )))
        }
    };
    let tail = q.tail.unwrap_or(DEFAULT_TAIL);
    let headers = [(CONTENT_TYPE, "application/octet-stream")];
    if !q.follow.unwrap_or(false) {
        return Ok((headers, stream.tail(tail)).into_response());
    }
    let (first, rx) = stream.follow(tail);
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
    Ok((headers, Body::from_stream(body)).into_response())
}
