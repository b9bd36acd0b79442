//! `POST /v1/enroll/proof`: answer the console's registration challenge
//! (it only trusts this agent's URL once the answer checks out).

use super::ApiError;
use std::sync::Arc;

/// The agent's token, for handlers that answer with it (the registration
/// challenge): the TCP listener's token check (`routes/auth.rs`) puts it
/// on every request it lets through, so it is present on TCP only.
#[derive(Clone)]
pub struct TcpToken(pub Arc<String>);

/// The console's way in is TCP, and the answer is made with the token, so
/// it exists on TCP only: the unix socket (no token check, no
/// [`TcpToken`]) answers 404.
pub async fn prove(
    token: Option<axum::Extension<TcpToken>>,
    body: Result<axum::body::Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<axum::Json<fleet_api::ProofResponse>, ApiError> {
    let Some(axum::Extension(TcpToken(token))) = token else {
        return Err(ApiError::not_found(
            "the registration challenge is answered on the TCP listener only",
        ));
    };
    let req: fleet_api::ProofRequest = super::error::json_body(&body?)?;
    Ok(axum::Json(fleet_api::ProofResponse {
        proof: fleet_daemon::proof::answer(&token, &req.name, &req.nonce),
    }))
}
