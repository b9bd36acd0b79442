//! `GET /v1/hosts/{host}/processes/{name}/log?stream=&tail=&follow=`:
//! streamed through from the agent (only those three parameters pass).

use super::ApiError;
use crate::server::agent_client::CallError;
use crate::server::App;
use axum::body::Body;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::header::CONTENT_TYPE;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use fleet_api::ErrorCode;
use serde::Deserialize;
use std::sync::Arc;

#[derive(Deserialize)]
pub struct LogQuery {
    stream: Option<String>,
    tail: Option<usize>,
    follow: Option<bool>,
}

pub async fn log(
    State(app): State<Arc<App>>,
    path: Result<Path<(String, String)>, PathRejection>,
    q: Result<Query<LogQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Path((host, name)) = path?;
    let Query(q) = q?;
    let entry = app
        .inventory
        .get(&host)
        .ok_or_else(|| ApiError::not_found(format!("no host named {host:?}")))?;
    let stream = q.stream.unwrap_or_else(|| "stdout".into());
    if stream != "stdout" && stream != "stderr" {
        return Err(ApiError::bad_request(format!(
            "unknown stream {stream:?} (expected stdout or stderr)"
        )));
    }
    let mut query = format!("stream={stream}");
    if let Some(t) = q.tail {
        query.push_str(&format!("&tail={t}"));
    }
    if q.follow == Some(true) {
        query.push_str("&follow=true");
    }
    let client = app.clients.for_host(&entry).map_err(ApiError::internal)?;
    match client.log(&name, &query).await {
        Ok(resp) => Ok((
            [(CONTENT_TYPE, "application/octet-stream")],
            Body::from_stream(resp.into_stream()),
        )
            .into_response()),
        Err(CallError::Agent { status, message }) => {
            let code = match status {
                404 => ErrorCode::NotFound,
                400 => ErrorCode::BadRequest,
                _ => ErrorCode::Internal,
            };
            Err(ApiError::new(code, format!("{host}: {message}")))
        }
        Err(CallError::Unreachable(m)) => {
            Err(ApiError::internal(format!("{host} unreachable: {m}"))
                .with_status(StatusCode::BAD_GATEWAY))
        }
    }
}
