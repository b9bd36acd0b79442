//! `POST /v1/agents/register`: an agent announces itself with the
//! enrollment token; re-sent as its heartbeat. Rate-limited fleet-wide
//! (`[enrollment] rate_per_sec`), capped (`max_agents`); every new or
//! changed registration and every refusal is audited with the source
//! address (heartbeats that change nothing are not). A registration with
//! the enrollment token gets the agent its own credential; its heartbeats
//! carry that instead, so the enrollment token only bootstraps. Several
//! enrollment tokens may be valid at once, each until its `expires`
//! (rotation without a gap); an expired one is refused, audited, with a
//! message saying so, while enrolled agents go on with their credential.

use super::error::json_body;
use super::{ApiError, Source};
use crate::server::auth::bearer_is;
use crate::server::inventory::{RegisterError, Registered};
use crate::server::picture::now_ms;
use crate::server::App;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::header::AUTHORIZATION;
use axum::http::HeaderMap;
use axum::Json;
use fleet_api::{ErrorCode, Registration, RegistrationResponse};
use serde_json::json;
use std::sync::Arc;

pub async fn register(
    State(app): State<Arc<App>>,
    Source(source): Source,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<RegistrationResponse>, ApiError> {
    if app.config.enrollment.is_empty() {
        return Err(ApiError::not_found(
            "registration is disabled: console.toml has no [enrollment] token",
        ));
    }
    if !app.register_limit.take() {
        return Err(super::throttled("registrations"));
    }
    let refuse = |name: &str, e: ApiError| -> ApiError {
        let detail = json!({ "status": e.code.http_status(), "reason": e.message });
        match app.store.event(
            "register_refused",
            name,
            source.as_deref(),
            &detail,
            now_ms(),
        ) {
            Ok(()) => e,
            Err(w) => ApiError::internal(w),
        }
    };
    let header = headers.get(AUTHORIZATION).and_then(|v| v.to_str().ok());
    let reg: Registration = json_body(&body?)?;
    // An enrollment token (a new agent, or one that lost its credential)
    // or the credential this console issued to that name (heartbeats).
    // Every token is compared (no early exit), as for console tokens.
    let mut matched = None;
    for t in &app.config.enrollment {
        if bearer_is(header, t.secret.expose()) {
            matched = Some(t);
        }
    }
    if let Some(t) = matched.filter(|t| t.expired(now_ms())) {
        let at = t.expires.as_ref().map_or("", |(_, text)| text.as_str());
        return Err(refuse(
            &reg.name,
            ApiError::new(
                ErrorCode::Unauthorized,
                format!(
                    "enrollment token {:?} expired at {at}: enroll with a current one (console.toml [enrollment])",
                    t.name
                ),
            ),
        ));
    }
    let enrolling = matched.is_some();
    let identified = !enrolling
        && header
            .and_then(|v| v.strip_prefix("Bearer "))
            .is_some_and(|c| app.store.credential_ok(&reg.name, c.trim()));
    if !enrolling && !identified {
        return Err(refuse(
            "-",
            ApiError::new(
                ErrorCode::Unauthorized,
                "invalid enrollment token (or agent credential)",
            ),
        ));
    }
    let known = app.inventory.get(&reg.name).is_some();
    if !known && app.inventory.registered() >= app.config.max_registered {
        return Err(refuse(
            &reg.name,
            ApiError::new(
                ErrorCode::TooManyRequests,
                format!(
                    "the console holds {} registered agents ([enrollment] max_agents); refusing {:?}",
                    app.config.max_registered, reg.name
                ),
            ),
        ));
    }
    let changed = match app.inventory.register(&reg, identified) {
        Ok(c) => c,
        Err(RegisterError::Bad(m)) => return Err(refuse(&reg.name, ApiError::bad_request(m))),
        Err(RegisterError::Conflict(m)) => {
            tracing::warn!("registration refused: {m}");
            return Err(refuse(&reg.name, ApiError::new(ErrorCode::Conflict, m)));
        }
    };
    if changed == Registered::Changed {
        // Audited before it is stored or followed: nothing unaudited.
        let detail = json!({ "url": reg.url, "tags": reg.tags, "version": reg.version });
        app.store
            .event("register", &reg.name, source.as_deref(), &detail, now_ms())
            .map_err(ApiError::internal)?;
    }
    app.store
        .upsert_agent(&reg, now_ms())
        .map_err(ApiError::internal)?;
    // Enrolled with the shared token: issue the agent its own credential.
    let credential = if enrolling {
        let c = random_credential().map_err(ApiError::internal)?;
        app.store
            .set_credential(&reg.name, &c)
            .map_err(ApiError::internal)?;
        Some(c)
    } else {
        None
    };
    if changed == Registered::Changed {
        tracing::info!(host = %reg.name, url = %reg.url, "agent registered");
        app.follow(&reg.name, Some(now_ms()));
    } else if app.inventory.get(&reg.name).is_some_and(|h| !h.is_proven()) {
        // Not verified yet: the heartbeat paces the next challenge.
        app.reprove(&reg.name);
    }
    app.picture.heartbeat(&reg.name, &reg.version);
    Ok(Json(RegistrationResponse {
        credential,
        heartbeat_secs: app.config.heartbeat_secs,
    }))
}

/// 256 random bits, hex.
fn random_credential() -> Result<String, String> {
    let mut b = [0u8; 32];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut b)
        .map_err(|_| "the system random generator failed".to_string())?;
    Ok(fleet_daemon::hex::encode(&b))
}
