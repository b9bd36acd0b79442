//! `GET /v1/hosts/{host}/processes/{name}/log?stream=&tail=&follow=&timestamps=`:
//! streamed through from the agent (only those parameters pass); on a
//! supervisord host, its `tailProcess*Log` (followed by polling it).
//! `GET /v1/hosts/{host}/processes/{name}/log/file?stream=`: the agent's
//! current log file as a download, streamed through and cut off past
//! `LOG_FILE_MAX`.
//! `POST /v1/hosts/{host}/processes/{name}/log/clear` (operator, audited):
//! empty the process's log files and tail on its agent.

use super::{operator, ApiError, Source};
use crate::server::agent_client::CallError;
use crate::server::auth::Caller;
use crate::server::picture::now_ms;
use crate::server::App;
use axum::body::Body;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::header::{CONTENT_DISPOSITION, CONTENT_TYPE};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Extension;
use fleet_api::ErrorCode;
use fleet_api::{FileQuery, LogQuery, Stream};
use futures_util::StreamExt;
use std::sync::Arc;

/// The host's inventory entry and the stream asked for (stdout by default).
fn target(
    app: &App,
    host: &str,
    stream: Option<&str>,
) -> Result<(Arc<crate::server::inventory::HostEntry>, Stream), ApiError> {
    let entry = app
        .inventory
        .get(host)
        .ok_or_else(|| ApiError::not_found(format!("no host named {host:?}")))?;
    let stream = Stream::parse(stream).map_err(ApiError::bad_request)?;
    Ok((entry, stream))
}

pub async fn log(
    State(app): State<Arc<App>>,
    path: Result<Path<(String, String)>, PathRejection>,
    q: Result<Query<LogQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Path((host, name)) = path?;
    let Query(q) = q?;
    let (entry, stream) = target(&app, &host, q.stream.as_deref())?;
    let query = q.to_query(stream);
    let client = app.clients.for_host(&entry).map_err(ApiError::internal)?;
    if let Some(sv) = client.supervisord() {
        // supervisord's tail, capped (`supervisord::TAIL_MAX`); followed
        // by polling it.
        let stamped = q.timestamps == Some(true);
        if q.follow == Some(true) {
            let body = sv.clone().follow(name, stream, q.tail, stamped);
            return Ok((
                [(CONTENT_TYPE, "application/octet-stream")],
                Body::from_stream(body),
            )
                .into_response());
        }
        let tail = tokio::time::timeout(
            crate::server::agent_client::STATUS_TIMEOUT,
            sv.tail(&name, stream, q.tail, stamped),
        )
        .await
        .map_err(|_| {
            failed(
                &host,
                CallError::Unreachable("timed out waiting for the log".into()),
            )
        })?
        .map_err(|e| failed(&host, e.into()))?;
        return Ok(([(CONTENT_TYPE, "application/octet-stream")], tail).into_response());
    }
    let (resp, offset) = client
        .log(&name, &query)
        .await
        .map_err(|e| failed(&host, e))?;
    let mut r = (
        [(CONTENT_TYPE, "application/octet-stream")],
        Body::from_stream(resp.into_stream()),
    )
        .into_response();
    if let Some(at) = offset {
        r.headers_mut().insert(
            fleet_api::LOG_OFFSET_HEADER,
            axum::http::HeaderValue::from(at),
        );
    }
    Ok(r)
}

pub async fn file(
    State(app): State<Arc<App>>,
    path: Result<Path<(String, String)>, PathRejection>,
    q: Result<Query<FileQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Path((host, name)) = path?;
    let Query(q) = q?;
    let (entry, stream) = target(&app, &host, q.stream.as_deref())?;
    let client = app.clients.for_host(&entry).map_err(ApiError::internal)?;
    let pieces = match client.supervisord() {
        // supervisord: read in pieces (`supervisord::log`), at most as much.
        Some(sv) => sv.clone().file(name.clone(), stream).boxed(),
        None => client
            .log_file(&name, stream.as_str())
            .await
            .map_err(|e| failed(&host, e))?
            .into_stream()
            .boxed(),
    };
    // An agent never sends more than LOG_FILE_MAX; one that does is cut
    // off there (the download then fails rather than filling a disk).
    let mut left = fleet_api::LOG_FILE_MAX;
    let body = pieces.map(move |piece| {
        let piece = piece?;
        left = left.checked_sub(piece.len() as u64).ok_or_else(|| {
            std::io::Error::other("the agent sent more than a log file download may hold")
        })?;
        Ok::<_, std::io::Error>(piece)
    });
    let file = format!("{host}_{name}_{stream}.log")
        .chars()
        .map(|c| match c.is_ascii_alphanumeric() || "._-".contains(c) {
            true => c,
            false => '_',
        })
        .collect::<String>();
    Ok((
        [
            (CONTENT_TYPE, "application/octet-stream".to_owned()),
            (
                CONTENT_DISPOSITION,
                format!("attachment; filename=\"{file}\""),
            ),
        ],
        Body::from_stream(body),
    )
        .into_response())
}

/// An agent's refusal in fleet's error shape, with the host named.
pub async fn clear(
    State(app): State<Arc<App>>,
    Extension(caller): Extension<Caller>,
    Source(source): Source,
    path: Result<Path<(String, String)>, PathRejection>,
) -> Result<StatusCode, ApiError> {
    operator(&caller)?;
    let Path((host, name)) = path?;
    let (entry, _) = target(&app, &host, None)?;
    // Audited before it happens (a log is evidence): nothing unaudited.
    let detail = serde_json::json!({ "host": host, "process": name });
    app.store
        .event(
            "clear_log",
            &caller.name,
            source.as_deref(),
            &detail,
            now_ms(),
        )
        .map_err(|e| ApiError::internal(e.to_string()))?;
    let client = app.clients.for_host(&entry).map_err(ApiError::internal)?;
    client
        .clear_log(&name)
        .await
        .map_err(|e| failed(&host, e))?;
    tracing::info!(%host, process = %name, who = %caller.name, "log cleared");
    Ok(StatusCode::NO_CONTENT)
}

fn failed(host: &str, e: CallError) -> ApiError {
    match e {
        CallError::Agent { status, message } => {
            let code = match status {
                404 => ErrorCode::NotFound,
                400 => ErrorCode::BadRequest,
                _ => ErrorCode::Internal,
            };
            ApiError::new(code, format!("{host}: {message}"))
        }
        CallError::Unreachable(m) => ApiError::internal(format!("{host} unreachable: {m}"))
            .with_status(StatusCode::BAD_GATEWAY),
    }
}
