//! `POST /v1/session` (a console token in the body → session cookie and
//! CSRF token), `GET /v1/session` (who am I), `DELETE /v1/session`
//! (logout: the server forgets the session). Logins are rate-limited per
//! source address (`PerSource`).

use super::error::json_body;
use super::{ApiError, Source, SourceIp};
use crate::server::auth::{self, Caller, Login};
use crate::server::App;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::header::{CACHE_CONTROL, COOKIE, SET_COOKIE};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use fleet_api::{ErrorCode, Role};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

#[derive(Deserialize)]
pub struct LoginRequest {
    token: String,
}

/// The login answer; `csrf` goes in `X-CSRF-Token` on POST/DELETE.
#[derive(Serialize)]
pub struct SessionInfo {
    name: String,
    role: Role,
    csrf: String,
}

impl SessionInfo {
    fn of(l: &Login) -> Self {
        SessionInfo {
            name: l.caller.name.clone(),
            role: l.caller.role,
            csrf: l.csrf.clone(),
        }
    }
}

fn secure(app: &App) -> bool {
    app.config.tls.is_some()
}

/// The session named by the request's cookie, if it is live.
pub fn from_headers(app: &App, headers: &HeaderMap) -> Option<Login> {
    let id = headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| auth::cookie(v, auth::SESSION_COOKIE))?;
    app.auth.sessions.get(id)
}

pub async fn login(
    State(app): State<Arc<App>>,
    Source(source): Source,
    SourceIp(ip): SourceIp,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    // Per source address: a flood from one place cannot lock out the rest.
    if !app.login_limit.take(ip) {
        return Err(super::throttled("logins"));
    }
    let req: LoginRequest = json_body(&body?)?;
    let caller = if app.auth.open() {
        Caller {
            name: "anonymous".into(),
            role: Role::Operator,
        }
    } else {
        match app.auth.check_token(req.token.trim()) {
            Ok(c) => c,
            Err(_) => {
                audit(&app, "login_refused", "-", &source)?;
                return Err(ApiError::new(ErrorCode::Unauthorized, "invalid token"));
            }
        }
    };
    // Logged in only once the audit log has it.
    audit(&app, "login", &caller.name, &source)?;
    let l = app.auth.sessions.open(caller).map_err(ApiError::internal)?;
    tracing::info!(who = %l.caller.name, "web session opened");
    Ok((
        [
            (SET_COOKIE, auth::session_cookie(&l.id, secure(&app))),
            (CACHE_CONTROL, "no-store".to_string()),
        ],
        Json(SessionInfo::of(&l)),
    )
        .into_response())
}

fn audit(app: &App, kind: &str, who: &str, source: &Option<String>) -> Result<(), ApiError> {
    app.store
        .event(
            kind,
            who,
            source.as_deref(),
            &serde_json::json!({ "via": "POST /v1/session" }),
            crate::server::picture::now_ms(),
        )
        .map_err(|e| ApiError::internal(e.to_string()))
}

pub async fn whoami(State(app): State<Arc<App>>, headers: HeaderMap) -> Result<Response, ApiError> {
    let l = from_headers(&app, &headers).ok_or_else(|| {
        ApiError::new(
            ErrorCode::Unauthorized,
            "no session: log in with POST /v1/session",
        )
    })?;
    Ok(([(CACHE_CONTROL, "no-store")], Json(SessionInfo::of(&l))).into_response())
}

pub async fn logout(State(app): State<Arc<App>>, headers: HeaderMap) -> Result<Response, ApiError> {
    if let Some(l) = from_headers(&app, &headers) {
        let given = headers
            .get(super::CSRF_HEADER)
            .and_then(|v| v.to_str().ok());
        if !auth::csrf_ok(given, &l.csrf) {
            return Err(super::csrf_refused());
        }
        app.auth.sessions.close(&l.id);
        tracing::info!(who = %l.caller.name, "web session closed");
    }
    Ok((
        StatusCode::NO_CONTENT,
        [(SET_COOKIE, auth::clear_cookie(secure(&app)))],
    )
        .into_response())
}
