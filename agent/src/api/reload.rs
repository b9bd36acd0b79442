//! `POST /v1/reload`: re-read the config; refused with its errors (and
//! nothing touched) when it is invalid.

use super::ApiError;
use crate::supervisor::{Handle, ReloadError};
use axum::extract::State;
use axum::Json;
use fleet_api::{ErrorCode, ReloadResponse};

pub async fn reload(State(h): State<Handle>) -> Result<Json<ReloadResponse>, ApiError> {
    match h.reload(None).await {
        Ok(r) => Ok(Json(r)),
        Err(e @ ReloadError::Invalid(_)) => {
            Err(ApiError::new(ErrorCode::ConfigInvalid, e.to_string()))
        }
        Err(e @ ReloadError::ShuttingDown) => {
            Err(ApiError::new(ErrorCode::ShuttingDown, e.to_string()))
        }
    }
}
