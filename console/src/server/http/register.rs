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
//!
//! The credential is checked first: a caller without one never touches the
//! fleet-wide budget (a flood of anonymous registrations cannot starve real
//! enrollments and heartbeats); it is limited per source address and its
//! refusals are audited as a per-source summary (`refusals.rs`).

use super::error::json_body;
use super::{ApiError, Source, SourceIp};
use crate::server::auth::{bearer_is, bearer_token};
use crate::server::config::EnrollmentToken;
use crate::server::inventory::{RegisterError, Registered};
use crate::server::picture::now_ms;
use crate::server::store::StoreError;
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
    SourceIp(ip): SourceIp,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<RegistrationResponse>, ApiError> {
    if app.config.enrollment.is_empty() {
        return Err(ApiError::not_found(
            "registration is disabled: console.toml has no [enrollment] token",
        ));
    }
    let header = headers.get(AUTHORIZATION).and_then(|v| v.to_str().ok());
    let reg: Registration = json_body(&body?)?;
    let source = source.as_deref();
    let enrolling = identify(&app, header, &reg, ip, source)?;
    // Only callers holding a credential spend the fleet-wide budget.
    if !app.register_limit.take() {
        return Err(super::throttled("registrations"));
    }
    let changed = admit(&app, enrolling, &reg, source)?;
    let credential = record(
        &app,
        &reg,
        changed == Registered::Changed,
        enrolling.is_some(),
        source,
    )?;
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

/// Who is calling: an enrollment token (a new agent, or one that lost its
/// credential: `Some`, the token) or the credential this console issued
/// to that name (heartbeats: `None`). Every token is compared (no early
/// exit), as for console tokens. Neither: refused, per source.
fn identify<'a>(
    app: &'a App,
    header: Option<&str>,
    reg: &Registration,
    ip: Option<std::net::IpAddr>,
    source: Option<&str>,
) -> Result<Option<&'a EnrollmentToken>, ApiError> {
    let mut matched = None;
    for t in &app.config.enrollment {
        if bearer_is(header, t.secret.expose()) {
            matched = Some(t);
        }
    }
    let identified = matched.is_none()
        && header
            .and_then(bearer_token)
            .is_some_and(|c| app.store.credential_ok(&reg.name, c.trim()));
    if matched.is_none() && !identified {
        return Err(refuse_anonymous(app, ip, source));
    }
    Ok(matched)
}

/// Whether the inventory takes `reg`: not with an expired enrollment
/// token, not past `max_agents`, not over a configured host or another
/// agent's URL. Each refusal is audited.
fn admit(
    app: &App,
    enrolling: Option<&EnrollmentToken>,
    reg: &Registration,
    source: Option<&str>,
) -> Result<Registered, ApiError> {
    let refuse = |e: ApiError| refuse(app, &reg.name, source, e);
    if let Some(t) = enrolling.filter(|t| t.expired(now_ms())) {
        let at = t.expires.as_ref().map_or("", |(_, text)| text.as_str());
        return Err(refuse(ApiError::new(
            ErrorCode::Unauthorized,
            format!(
                "enrollment token {:?} expired at {at}: enroll with a current one (console.toml [enrollment])",
                t.name
            ),
        )));
    }
    let known = app.inventory.get(&reg.name).is_some();
    if !known && app.inventory.registered() >= app.config.max_registered {
        return Err(refuse(ApiError::new(
            ErrorCode::TooManyRequests,
            format!(
                "the console holds {} registered agents ([enrollment] max_agents); refusing {:?}",
                app.config.max_registered, reg.name
            ),
        )));
    }
    match app.inventory.register(reg, enrolling.is_none()) {
        Ok(c) => Ok(c),
        Err(RegisterError::Bad(m)) => Err(refuse(ApiError::bad_request(m))),
        Err(RegisterError::Conflict(m)) => {
            tracing::warn!("registration refused: {m}");
            Err(refuse(ApiError::new(ErrorCode::Conflict, m)))
        }
    }
}

/// Audit a changed registration, then store it; an agent that enrolled
/// with the shared token gets its own credential (returned to send it).
fn record(
    app: &App,
    reg: &Registration,
    changed: bool,
    enrolling: bool,
    source: Option<&str>,
) -> Result<Option<String>, ApiError> {
    let internal = |e: StoreError| ApiError::internal(e.to_string());
    if changed {
        // Audited before it is stored or followed: nothing unaudited.
        let detail = json!({ "url": reg.url, "tags": reg.tags, "version": reg.version });
        app.store
            .event("register", &reg.name, source, &detail, now_ms())
            .map_err(internal)?;
    }
    app.store.upsert_agent(reg, now_ms()).map_err(internal)?;
    if !enrolling {
        return Ok(None);
    }
    let c = random_credential().map_err(ApiError::internal)?;
    app.store.set_credential(&reg.name, &c).map_err(internal)?;
    Ok(Some(c))
}

/// A refused registration by a caller with a credential, audited (the
/// audit's own failure is the answer then).
fn refuse(app: &App, name: &str, source: Option<&str>, e: ApiError) -> ApiError {
    let detail = json!({ "status": e.code.http_status(), "reason": e.message });
    match app
        .store
        .event("register_refused", name, source, &detail, now_ms())
    {
        Ok(()) => e,
        Err(w) => ApiError::internal(w.to_string()),
    }
}

const ANONYMOUS: &str = "invalid enrollment token (or agent credential)";

/// A registration without a valid credential: 401, or 429 once its source
/// has spent its own bucket; audited as a per-source summary.
fn refuse_anonymous(app: &App, ip: Option<std::net::IpAddr>, source: Option<&str>) -> ApiError {
    let throttled = !app.register_refused_limit.take(ip);
    if let Some(s) = app.register_refusals.note(ip, now_ms()) {
        if let Err(e) = audit_refusals(app, &s, source) {
            return ApiError::internal(e.to_string());
        }
    }
    if throttled {
        super::throttled("registrations from this address")
    } else {
        ApiError::new(ErrorCode::Unauthorized, ANONYMOUS)
    }
}

/// One summary row of refused anonymous registrations. `source` is the
/// caller's address and port when the row is written for a request.
pub fn audit_refusals(
    app: &App,
    s: &super::refusals::Summary,
    source: Option<&str>,
) -> Result<(), StoreError> {
    let addr = s.source.to_string();
    let reason = if s.count == 1 {
        format!("{ANONYMOUS}: 1 refused from {addr}")
    } else {
        format!(
            "{ANONYMOUS}: {} refused from {addr} in the last minute",
            s.count
        )
    };
    let detail = json!({ "status": 401, "reason": reason, "refused": s.count, "since": s.since });
    app.store.event(
        "register_refused",
        "-",
        Some(source.unwrap_or(&addr)),
        &detail,
        now_ms(),
    )
}

/// 256 random bits, hex.
fn random_credential() -> Result<String, String> {
    let mut b = [0u8; 32];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut b)
        .map_err(|_| "the system random generator failed".to_string())?;
    Ok(fleet_daemon::hex::encode(&b))
}
