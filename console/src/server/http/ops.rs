//! `POST /v1/ops` (201 at once; work continues in the background),
//! `GET /v1/ops` (newest first, each host's verdict without its
//! per-process results: a page of 1,000 ops over 5,000 hosts × 20
//! processes would be hundreds of MB), `GET /v1/ops/{id}?after=N` (the
//! whole op, per-process results included; long-poll).

use super::error::json_body;
use super::{operator, ApiError, Source};
use crate::server::auth::Caller;
use crate::server::ops::{OpFilter, Ops};
use crate::server::App;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::header::CONTENT_TYPE;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use fleet_api::{Op, OpRequest, OpsResponse};
use serde::Deserialize;
use std::sync::Arc;

pub async fn create(
    State(app): State<Arc<App>>,
    Extension(caller): Extension<Caller>,
    Source(source): Source,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<Op>), ApiError> {
    operator(&caller)?;
    let req: OpRequest = json_body(&body?)?;
    let op = Ops::create(&app, &caller.name, source, req)?;
    tracing::info!(
        op = %op.id,
        who = %caller.name,
        "{} {} on {} host(s)",
        op.request.action,
        op.request.target,
        op.hosts.len()
    );
    Ok((StatusCode::CREATED, Json(op)))
}

#[derive(Deserialize)]
pub struct ListQuery {
    limit: Option<usize>,
    offset: Option<usize>,
    #[serde(flatten)]
    filter: OpFilter,
}

/// List reads at once: each holds a page of ops read from the store and
/// its JSON until sent, so a viewer sending many waits its turn instead
/// of multiplying the console's memory.
static LIST_READS: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(4);

/// `GET /v1/ops?limit=&offset=&action=&target=&who=&result=`.
pub async fn list(
    State(app): State<Arc<App>>,
    q: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(q) = q?;
    q.filter.check().map_err(ApiError::bad_request)?;
    let offset = q.offset.unwrap_or(0);
    let limit = q.limit.unwrap_or(100).min(1000);
    // Never closed: acquiring only waits.
    let _turn = LIST_READS
        .acquire()
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?;
    let (mut ops, more) =
        Ops::list(&app, &q.filter, offset, limit).map_err(|e| ApiError::internal(e.to_string()))?;
    for h in ops.iter_mut().flat_map(|o| o.hosts.iter_mut()) {
        h.processes = Vec::new();
    }
    let next_offset = more.then_some(offset + ops.len());
    // Serialised under the turn, so the page's memory is bounded too.
    let body = serde_json::to_vec(&OpsResponse { ops, next_offset })
        .map_err(|e| ApiError::internal(e.to_string()))?;
    Ok(([(CONTENT_TYPE, "application/json")], body).into_response())
}

#[derive(Deserialize)]
pub struct GetQuery {
    after: Option<usize>,
}

pub async fn get(
    State(app): State<Arc<App>>,
    path: Result<Path<String>, PathRejection>,
    q: Result<Query<GetQuery>, QueryRejection>,
) -> Result<Json<Op>, ApiError> {
    let Path(id) = path?;
    let Query(q) = q?;
    match Ops::get(&app, &id, q.after).await {
        Ok(Some(op)) => Ok(Json(op)),
        Ok(None) => Err(ApiError::not_found(format!("no operation {id:?}"))),
        Err(e) => Err(ApiError::internal(e.to_string())),
    }
}
