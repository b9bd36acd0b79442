//! The agent's HTTP API as one virtual host serves it: the same paths,
//! token check, error shape (fleet-daemon's `ApiError`), SSE framing and
//! JSON types (fleet-api) as `agent/src/api/` and `agent/src/routes/`.
//! One router is built per host over that host's state.

use crate::host::Host;
use axum::body::{Body, Bytes};
use axum::extract::rejection::{BytesRejection, PathRejection, QueryRejection};
use axum::extract::{DefaultBodyLimit, Path, Query, Request, State};
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE};
use axum::http::HeaderMap;
use axum::middleware::{from_fn_with_state, Next};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use fleet_api::{
    ActionRequest, ActionResponse, ErrorCode, LogQuery, ProofRequest, ProofResponse, Stream,
};
use fleet_daemon::http::{credentials, json_body, ApiError};
use futures_util::StreamExt;
use serde::Deserialize;
use std::sync::Arc;
use std::time::Duration;
use subtle::ConstantTimeEq;
use tokio_stream::wrappers::errors::BroadcastStreamRecvError;
use tokio_stream::wrappers::BroadcastStream;

/// As the agent: request bodies are tiny JSON objects.
const BODY_LIMIT: usize = 64 * 1024;
/// Lines a simulated process has printed, for tails.
const LOG_LINES: u64 = 200;

pub fn router(host: Arc<Host>) -> Router {
    let not_found = || async { ApiError::not_found("no such endpoint") };
    let private = Router::new()
        .route("/v1/status", get(status))
        .route("/v1/events", get(events))
        .route("/v1/processes/{target}/{verb}", post(act))
        .route("/v1/processes/{name}/log", get(log))
        .route("/v1/enroll/proof", post(prove))
        .fallback(not_found)
        .method_not_allowed_fallback(|| async { ApiError::method_not_allowed() })
        .layer(from_fn_with_state(host.clone(), require_token));
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .merge(private)
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(host)
}

/// The agent's TCP token check (`routes/auth.rs`): Bearer, compared in
/// constant time; the same 401 answers.
async fn require_token(State(h): State<Arc<Host>>, req: Request, next: Next) -> Response {
    let given = req
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| credentials(v, "Bearer"));
    match given {
        Some(t) if !t.is_empty() && bool::from(t.as_bytes().ct_eq(h.token.as_bytes())) => {
            next.run(req).await
        }
        Some(_) => ApiError::new(ErrorCode::Unauthorized, "invalid token").into_response(),
        None => ApiError::new(
            ErrorCode::Unauthorized,
            "missing token: send Authorization: Bearer <token>",
        )
        .into_response(),
    }
}

async fn status(State(h): State<Arc<Host>>) -> Json<fleet_api::AgentStatus> {
    Json(h.status())
}

fn sse(f: &crate::host::Frame) -> SseEvent {
    SseEvent::default()
        .id(f.seq.to_string())
        .event("state")
        .data(f.json.as_str())
}

/// `GET /v1/events`, framed as the agent frames it (`api/events.rs`).
async fn events(State(h): State<Arc<Host>>, headers: HeaderMap) -> Response {
    let last = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    let (past, missed, rx) = h.resume(last);
    let gap = missed.then(|| {
        SseEvent::default()
            .event("gap")
            .data("some events were dropped; re-read /v1/status")
    });
    let head: Vec<_> = gap
        .into_iter()
        .chain(past.iter().map(|f| sse(f)))
        .map(Ok::<_, std::convert::Infallible>)
        .collect();
    let live = BroadcastStream::new(rx).map(|item| {
        Ok(match item {
            Ok(f) => sse(&f),
            Err(BroadcastStreamRecvError::Lagged(n)) => SseEvent::default()
                .event("gap")
                .data(format!("{n} events dropped; re-read /v1/status")),
        })
    });
    Sse::new(futures_util::stream::iter(head).chain(live))
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response()
}

#[derive(Deserialize)]
struct ActQuery {
    wait: Option<bool>,
    with_deps: Option<bool>,
}

/// `POST /v1/processes/{target}/{verb}`: the agent's checks in the
/// agent's order (`api/processes.rs`), then the host's transitions.
async fn act(
    State(h): State<Arc<Host>>,
    path: Result<Path<(String, String)>, PathRejection>,
    query: Result<Query<ActQuery>, QueryRejection>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<ActionResponse>, ApiError> {
    let Path((target, verb)) = path?;
    let Query(query) = query?;
    let body = body?;
    let refused = |(code, message)| ApiError::new(code, message);
    let (verb, selector) = fleet_api::parse_process_verb(&target, &verb).map_err(refused)?;
    let req: ActionRequest = if body.iter().all(u8::is_ascii_whitespace) {
        ActionRequest::default()
    } else {
        json_body(&body)?
    };
    // The simulator does not follow `depends_on`; the request is checked
    // all the same.
    let wait = req
        .check(verb, query.wait, query.with_deps)
        .map_err(refused)?
        .wait;
    let results = h
        .act(verb, &selector, wait)
        .await
        .ok_or_else(|| ApiError::not_found(format!("no process matches {target:?}")))?;
    Ok(Json(ActionResponse {
        verb,
        target,
        results,
    }))
}

/// `GET /v1/processes/{name}/log`: a made-up tail (numbered lines), as
/// raw bytes or `MS\tLINE`; with `follow`, a line a second after it.
async fn log(
    State(h): State<Arc<Host>>,
    path: Result<Path<String>, PathRejection>,
    query: Result<Query<LogQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Path(name) = path?;
    let Query(q) = query?;
    let name = h.find(&name).map_err(|ambiguous| {
        if ambiguous {
            ApiError::bad_request(format!("{name:?} is ambiguous: use GROUP:PROCESS"))
        } else {
            ApiError::not_found(format!("no process named {name:?}"))
        }
    })?;
    let stream = Stream::parse(q.stream.as_deref()).map_err(ApiError::bad_request)?;
    let stamped = q.timestamps == Some(true);
    let now = fleet_daemon::time::now_ms();
    let line = move |n: u64| {
        let text = format!("{} {name} {stream} line {n}\n", h.name);
        match stamped {
            true => format!("{}\t{text}", now.saturating_sub((LOG_LINES - n) * 1000)),
            false => text,
        }
    };
    let all: String = (0..LOG_LINES).map(&line).collect();
    let tail = q.tail.unwrap_or(1600).min(all.len());
    let head = all[all.len() - tail..].to_owned();
    let ty = match stamped {
        true => "text/plain; charset=utf-8",
        false => "application/octet-stream",
    };
    if q.follow != Some(true) {
        return Ok(([(CONTENT_TYPE, ty)], head).into_response());
    }
    let first = futures_util::stream::once(async move { Ok::<_, std::io::Error>(head) });
    let more = futures_util::stream::unfold(LOG_LINES, move |n| {
        let line = line.clone();
        async move {
            tokio::time::sleep(Duration::from_secs(1)).await;
            Some((Ok(line(n)), n + 1))
        }
    });
    Ok(([(CONTENT_TYPE, ty)], Body::from_stream(first.chain(more))).into_response())
}

/// `POST /v1/enroll/proof`: the registration challenge, answered with the
/// host's token by the kit's rule (`fleet_daemon::proof`).
async fn prove(
    State(h): State<Arc<Host>>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<ProofResponse>, ApiError> {
    let req: ProofRequest = json_body(&body?)?;
    Ok(Json(ProofResponse {
        proof: fleet_daemon::proof::answer(&h.token, &req.name, &req.nonce),
    }))
}
