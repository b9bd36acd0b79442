//! `POST /v1/agents/register`: an agent announces itself with the
//! enrollment token; re-sent as its heartbeat. Rate-limited fleet-wide
//! (`[enrollment] rate_per_sec`), capped (`max_agents`); every new or
//! changed registration and every refusal is audited with the source
//! address (heartbeats that change nothing are not).

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
    let Some(secret) = &app.config.enrollment else {
        return Err(ApiError::not_found(
            "registration is disabled: console.toml has no [enrollment] token",
        ));
    };
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
    if !bearer_is(header, secret.expose()) {
        return Err(refuse(
            "-",
            ApiError::new(ErrorCode::Unauthorized, "invalid enrollment token"),
        ));
    }
    let reg: Registration = json_body(&body?)?;
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
    let changed = match app.inventory.register(&reg) {
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
    if changed == Registered::Changed {
        tracing::info!(host = %reg.name, url = %reg.url, "agent registered");
        app.follow(&reg.name, Some(now_ms()));
    } else if app.inventory.get(&reg.name).is_some_and(|h| !h.is_proven()) {
        // Not verified yet: the heartbeat paces the next challenge.
        app.reprove(&reg.name);
    }
    app.picture.heartbeat(&reg.name, &reg.version);
    Ok(Json(RegistrationResponse {
        heartbeat_secs: app.config.heartbeat_secs,
    }))
}
