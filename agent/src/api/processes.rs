//! `POST /v1/processes/{target}/{verb}`: start, stop, restart or signal the
//! processes a selector names, then (unless `wait=false`) wait until each
//! reaches the verb's end state or fails, and report each one.

use super::ApiError;
use crate::supervisor::{settled, ActError, Handle, Snapshot, Touched};
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::Json;
use fleet_api::{
    ActionRequest, ActionResponse, ActionResult, ErrorCode, Outcome, ProcessState, Selector,
    Signal, SignalError, Verb, Wanted,
};
use serde::Deserialize;
use std::collections::HashMap;
use std::time::Duration;
use tokio::time::Instant;

#[derive(Deserialize)]
pub struct ActQuery {
    wait: Option<bool>,
}

/// Extra time allowed beyond a process's own start/stop timeouts.
const WAIT_SLACK: Duration = Duration::from_secs(5);

pub async fn act(
    State(h): State<Handle>,
    path: Result<Path<(String, String)>, PathRejection>,
    query: Result<Query<ActQuery>, QueryRejection>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<ActionResponse>, ApiError> {
    let Path((target, verb)) = path?;
    let Query(query) = query?;
    let body = body?;
    let verb: Verb = verb.parse().map_err(ApiError::not_found)?;
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
    let mut watch = h.snapshot.clone();
    let touched = h.act(selector, verb, signal).await.map_err(|e| match e {
        ActError::NoMatch(m) => ApiError::not_found(m),
        ActError::ShuttingDown => ApiError::new(ErrorCode::ShuttingDown, e.to_string()),
    })?;
    let wait = query.wait.or(req.wait).unwrap_or(true);
    let results = wait_for(&mut watch, verb, touched, wait).await;
    Ok(Json(ActionResponse {
        verb,
        target,
        results,
    }))
}

/// Judge one process against the latest snapshot: `Some` once settled.
fn judge(snap: &Snapshot, verb: Verb, t: &Touched) -> Option<ActionResult> {
    let Some(p) = snap.get(&t.name) else {
        return Some(ActionResult {
            name: t.name.clone(),
            outcome: Outcome::Failed,
            state: ProcessState::Stopped,
            pid: None,
            message: "removed by a reload".into(),
        });
    };
    let result = |outcome, message: String| ActionResult {
        name: t.name.clone(),
        outcome,
        state: p.info.state,
        pid: p.info.pid,
        message,
    };
    if let Some((outcome, msg)) = &t.done {
        return Some(result(*outcome, msg.clone()));
    }
    let fresh = p.attempts > t.attempts_before;
    match verb {
        Verb::Start | Verb::Restart if p.info.wanted == Wanted::Stopped => {
            Some(result(Outcome::Failed, "stopped by another request".into()))
        }
        Verb::Start | Verb::Restart if !fresh => None,
        _ => match settled(verb, p.info.state)? {
            true => Some(result(Outcome::Ok, String::new())),
            false => Some(result(Outcome::Failed, p.info.description.clone())),
        },
    }
}

pub(crate) async fn wait_for(
    watch: &mut tokio::sync::watch::Receiver<std::sync::Arc<Snapshot>>,
    verb: Verb,
    touched: Vec<Touched>,
    wait: bool,
) -> Vec<ActionResult> {
    let mut done: HashMap<String, ActionResult> = HashMap::new();
    let deadline = {
        let snap = watch.borrow().clone();
        let longest = touched
            .iter()
            .filter_map(|t| snap.get(&t.name))
            .map(|p| match verb {
                Verb::Start => p.startsecs,
                Verb::Stop => p.stopwaitsecs * 2,
                Verb::Restart => p.stopwaitsecs * 2 + p.startsecs,
                Verb::Signal => Duration::ZERO,
            })
            .max()
            .unwrap_or_default();
        Instant::now() + longest + WAIT_SLACK
    };
    loop {
        let snap = watch.borrow_and_update().clone();
        for t in &touched {
            if done.contains_key(&t.name) {
                continue;
            }
            let verdict = if wait || t.done.is_some() {
                judge(&snap, verb, t)
            } else {
                // Not waiting: report the state right now.
                snap.get(&t.name).map(|p| ActionResult {
                    name: t.name.clone(),
                    outcome: Outcome::Ok,
                    state: p.info.state,
                    pid: p.info.pid,
                    message: "not waited for".into(),
                })
            };
            if let Some(v) = verdict {
                done.insert(t.name.clone(), v);
            }
        }
        if done.len() == touched.len() {
            break;
        }
        let timed_out = tokio::time::timeout_at(deadline, watch.changed()).await;
        if !matches!(timed_out, Ok(Ok(()))) {
            break;
        }
    }
    let snap = watch.borrow().clone();
    touched
        .iter()
        .map(|t| {
            done.remove(&t.name).unwrap_or_else(|| {
                let (state, pid) = snap
                    .get(&t.name)
                    .map_or((ProcessState::Stopped, None), |p| {
                        (p.info.state, p.info.pid)
                    });
                ActionResult {
                    name: t.name.clone(),
                    outcome: Outcome::Failed,
                    state,
                    pid,
                    message: format!("timed out waiting ({state})"),
                }
            })
        })
        .collect()
}
