//! `POST /v1/agents/register`: an agent announces itself with the
//! enrollment token; re-sent as its heartbeat.

use super::error::json_body;
use super::ApiError;
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
use std::sync::Arc;

pub async fn register(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<RegistrationResponse>, ApiError> {
    let Some(secret) = &app.config.enrollment else {
        return Err(ApiError::not_found(
            "registration is disabled: console.toml has no [enrollment] token",
        ));
    };
    let header = headers.get(AUTHORIZATION).and_then(|v| v.to_str().ok());
    if !bearer_is(header, secret.expose()) {
        return Err(ApiError::new(
            ErrorCode::Unauthorized,
            "invalid enrollment token",
        ));
    }
    let reg: Registration = json_body(&body?)?;
    let changed = match app.inventory.register(&reg) {
        Ok(c) => c,
        Err(RegisterError::Bad(m)) => return Err(ApiError::bad_request(m)),
        Err(RegisterError::Conflict(m)) => {
            tracing::warn!("registration refused: {m}");
            return Err(ApiError::new(ErrorCode::Conflict, m));
        }
    };
    app.store
        .upsert_agent(&reg, now_ms())
        .map_err(ApiError::internal)?;
    if changed == Registered::Changed {
        tracing::info!(host = %reg.name, url = %reg.url, "agent registered");
        app.follow(&reg.name, Some(now_ms()));
    }
    app.picture.heartbeat(&reg.name, &reg.version);
    Ok(Json(RegistrationResponse {
        heartbeat_secs: app.config.heartbeat_secs,
    }))
}
