//! Bearer-token check for the TCP listener, compared in constant time.

use super::ApiError;
use axum::extract::{Request, State};
use axum::http::header::AUTHORIZATION;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use fleet_api::ErrorCode;
use std::sync::Arc;
use subtle::ConstantTimeEq;

/// axum middleware: 401 unless `Authorization: Bearer <token>` matches.
pub async fn require_token(State(token): State<Arc<String>>, req: Request, next: Next) -> Response {
    let given = req
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    match given {
        Some(t) if bool::from(t.as_bytes().ct_eq(token.as_bytes())) => next.run(req).await,
        Some(_) => ApiError::new(ErrorCode::Unauthorized, "invalid token").into_response(),
        None => ApiError::new(
            ErrorCode::Unauthorized,
            "missing token: send Authorization: Bearer <token>",
        )
        .into_response(),
    }
}
