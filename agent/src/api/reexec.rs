//! `POST /v1/agent/reexec`: re-execute the agent in place (`crate::reexec`).
//! It answers only when it fails (the step that failed, the old image
//! still in charge); when it works, the exec ends the connection and the
//! new image tells the outcome at `GET /v1/agent/reexec`, by the request's
//! `id`.

use super::ApiError;
use crate::supervisor::Handle;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::Json;
use fleet_api::{ErrorCode, ReexecOutcome, ReexecRequest};

pub async fn reexec(State(h): State<Handle>, body: Result<Bytes, BytesRejection>) -> ApiError {
    let body = match body {
        Ok(b) => b,
        Err(e) => return e.into(),
    };
    let req: ReexecRequest = if body.iter().all(u8::is_ascii_whitespace) {
        ReexecRequest::default()
    } else {
        match super::error::json_body(&body) {
            Ok(r) => r,
            Err(e) => return e,
        }
    };
    // A task of its own: a caller that hangs up (or times out) while the
    // pumps are frozen and the servers paused must not cancel the re-exec
    // half-way, which would leave both so.
    let run = tokio::spawn(async move { crate::reexec::reexec(&h, req).await });
    let f = match run.await {
        Ok(f) => f,
        Err(e) => crate::reexec::Failed {
            step: "exec",
            message: format!("the re-exec task ended: {e}"),
        },
    };
    let code = match f.step {
        "binary" | "check-resume" | "config" => ErrorCode::BadRequest,
        "freeze" => ErrorCode::Conflict,
        _ => ErrorCode::Internal,
    };
    ApiError::new(code, f.to_string())
}

pub async fn last() -> Json<ReexecOutcome> {
    Json(crate::reexec::outcome())
}
