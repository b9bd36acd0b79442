//! Token check for the TCP listener, compared in constant time, a layer
//! on each route whose access needs it (see `super::router`): `Bearer
//! <token>` everywhere but the public routes of the table (`/healthz`), and
//! on supervisord's routes (`/RPC2`, `/logtail`, `/mainlogtail`) also HTTP
//! Basic with the token as the password (any user name), answered as
//! supervisord does: 401 with `WWW-Authenticate: Basic realm="default"`.

use crate::api::{ApiError, TcpToken};
use axum::extract::{Request, State};
use axum::http::header::{AUTHORIZATION, WWW_AUTHENTICATE};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use fleet_api::ErrorCode;
use std::sync::Arc;
use subtle::ConstantTimeEq;

enum Given {
    Bearer(String),
    Basic(Vec<u8>),
    Nothing,
}

fn given(req: &Request) -> Given {
    let Some(v) = req
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    else {
        return Given::Nothing;
    };
    use fleet_daemon::http::credentials;
    if let Some(t) = credentials(v, "Bearer") {
        return Given::Bearer(t.to_owned());
    }
    if let Some(b) = credentials(v, "Basic") {
        // `user:password`; a header that does not decode is a wrong login.
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(b.trim())
            .unwrap_or_default();
        let password = match decoded.iter().position(|&c| c == b':') {
            Some(i) => decoded[i + 1..].to_vec(),
            None => Vec::new(),
        };
        return Given::Basic(password);
    }
    Given::Nothing
}

/// What a route's token check compares with.
#[derive(Clone)]
pub struct Auth {
    pub token: Arc<String>,
    /// HTTP Basic accepted too (access `TokenOrBasic`: supervisord's
    /// routes).
    pub basic: bool,
}

/// axum middleware: 401 unless the request carries the token; on success
/// the request carries [`TcpToken`] for the handlers that answer with it.
pub async fn require_token(
    State(Auth { token, basic }): State<Auth>,
    mut req: Request,
    next: Next,
) -> Response {
    let supervisord = basic;
    let ok = |t: &[u8]| bool::from(t.ct_eq(token.as_bytes())) && !t.is_empty();
    let authorised = match given(&req) {
        Given::Bearer(t) => ok(t.as_bytes()),
        Given::Basic(p) => supervisord && ok(&p),
        Given::Nothing => false,
    };
    if authorised {
        req.extensions_mut().insert(TcpToken(token));
        return next.run(req).await;
    }
    match given(&req) {
        _ if supervisord => (
            StatusCode::UNAUTHORIZED,
            [(WWW_AUTHENTICATE, r#"Basic realm="default""#)],
            "401 Unauthorized: log in with any user name and the agent token as password\n",
        )
            .into_response(),
        Given::Bearer(_) | Given::Basic(_) => {
            ApiError::new(ErrorCode::Unauthorized, "invalid token").into_response()
        }
        Given::Nothing => ApiError::new(
            ErrorCode::Unauthorized,
            "missing token: send Authorization: Bearer <token>",
        )
        .into_response(),
    }
}
