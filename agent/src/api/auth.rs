//! Token check for the TCP listener, compared in constant time: `Bearer
//! <token>` everywhere but the public routes of the table (`/healthz`), and on supervisord's routes (`/RPC2`, `/logtail`,
//! `/mainlogtail`) also HTTP Basic with the token as the password (any user
//! name), answered as supervisord does: 401 with
//! `WWW-Authenticate: Basic realm="default"`.

use super::ApiError;
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

/// The agent's token, for handlers that answer with it (the registration
/// challenge): present only on requests that came through [`require_token`],
/// i.e. on TCP.
#[derive(Clone)]
pub struct TcpToken(pub Arc<String>);

/// axum middleware: 401 unless the request carries the token. Which routes
/// also take HTTP Basic comes from the route table (`super::ROUTES`).
pub async fn require_token(
    State(token): State<Arc<String>>,
    mut req: Request,
    next: Next,
) -> Response {
    let access = super::access_of(req.uri().path());
    if access == Some(super::Access::Public) {
        return next.run(req).await;
    }
    let supervisord = access == Some(super::Access::TokenOrBasic);
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
