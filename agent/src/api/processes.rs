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
use fleet_api::{ActionRequest, ActionResponse, ErrorCode, Selector, Signal, SignalError, Verb};
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
    let verb: Verb = verb.parse().map_err(ApiError::not_found)?;
    if verb == Verb::Reexec {
        return Err(ApiError::not_found(
            "reexec is the agent's, not a process's: POST /v1/agent/reexec".to_owned(),
        ));
    }
    let selector: Selector = target
        .parse()
        .map_err(|e: fleet_api::SelectorError| ApiError::new(ErrorCode::BadSelector, e.0))?;
    let req: ActionRequest = if body.iter().all(u8::is_ascii_whitespace) {
        ActionRequest::default()
    } else {
        super::error::json_body(&body)?
    };
    let signal = match (verb, &req.signal) {
        (Verb::Signal, Some(name)) => {
            let sig: Signal = name
                .parse()
                .map_err(|e: SignalError| ApiError::new(ErrorCode::BadSignal, e.0))?;
            Some(crate::sys::signal::to_nix(sig) as i32)
        }
        (Verb::Signal, None) => {
            return Err(ApiError::new(
                ErrorCode::BadSignal,
                "signal needs a body like {\"signal\": \"HUP\"}",
            ))
        }
        (_, Some(_)) => return Err(ApiError::bad_request(format!("{verb} takes no signal"))),
        (_, None) => None,
    };
    let wait = query.wait.or(req.wait).unwrap_or(true);
    let with_deps = query.with_deps.or(req.with_deps).unwrap_or(false);
    if with_deps && !matches!(verb, Verb::Start | Verb::Restart) {
        return Err(ApiError::bad_request(format!(
            "with_deps applies to start and restart, not {verb}"
        )));
    }
    let run = || async {
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
        Some(k) => super::idempotency::slot(&k)
            .get_or_try_init(run)
            .await
            .map(|r| Json(r.clone())),
    }
}
