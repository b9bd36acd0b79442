//! `POST /v1/processes/{target}/{verb}`: start, stop, restart or signal the
//! processes a selector names, then (unless `wait=false`) wait until each
//! reaches the verb's end state or fails, and report each one
//! (`Handle::act_and_wait`, the rule in `supervisor/wait.rs`). With an
//! `Idempotency-Key`, a repeat gets the first answer (`idempotency.rs`).

use super::ApiError;
use crate::supervisor::{ActError, Handle};
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::Json;
use fleet_api::{ActionRequest, ActionResponse, ErrorCode};
use serde::Deserialize;

#[derive(Deserialize)]
pub struct ActQuery {
    wait: Option<bool>,
    with_deps: Option<bool>,
}

pub async fn act(
    State(h): State<Handle>,
    headers: axum::http::HeaderMap,
    path: Result<Path<(String, String)>, PathRejection>,
    query: Result<Query<ActQuery>, QueryRejection>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<ActionResponse>, ApiError> {
    let key = super::idempotency::key(&headers)?;
    let Path((target, verb)) = path?;
    let Query(query) = query?;
    let body = body?;
    let refused = |(code, message)| ApiError::new(code, message);
    let (verb, selector) = fleet_api::parse_process_verb(&target, &verb).map_err(refused)?;
    let req: ActionRequest = if body.iter().all(u8::is_ascii_whitespace) {
        ActionRequest::default()
    } else {
        super::error::json_body(&body)?
    };
    let checked = req
        .check(verb, query.wait, query.with_deps)
        .map_err(refused)?;
    let signal = checked.signal.map(|s| crate::sys::signal::to_nix(s) as i32);
    let (wait, with_deps) = (checked.wait, checked.with_deps);
    let run = move || async move {
        let results = h
            .act_and_wait(selector, verb, signal, with_deps, wait)
            .await
            .map_err(|e| match e {
                ActError::NoMatch(m) => ApiError::not_found(m),
                ActError::ShuttingDown => ApiError::new(ErrorCode::ShuttingDown, e.to_string()),
            })?;
        Ok::<_, ApiError>(ActionResponse {
            verb,
            target,
            results,
        })
    };
    match key {
        None => run().await.map(Json),
        // A task of its own: a caller that hangs up mid-call (a console
        // killed while the verb waits) must not cancel the slot's filling,
        // or its repeat would act a second time.
        Some(k) => {
            let slot = super::idempotency::slot(&k);
            let filled = tokio::spawn(async move { slot.get_or_try_init(run).await.cloned() });
            match filled.await {
                Ok(r) => r.map(Json),
                Err(e) => Err(ApiError::internal(format!("the call's task ended: {e}"))),
            }
        }
    }
}
