//! `POST /v1/agent/reexec` as a caller sees it: the agent answers only a
//! refusal (the step that failed); when the exec happens the connection
//! ends unanswered, and the outcome is read from `GET /v1/agent/reexec`
//! (matched by the request's `id`) once the new image serves — or, when
//! it could not resume, the old image again, which says why.

use crate::{Client, ClientError};
use fleet_api::{ReexecOutcome, ReexecRequest, ReexecResponse};
use std::time::{Duration, Instant};

#[derive(Debug, thiserror::Error)]
pub enum ReexecError {
    /// Refused before the exec (the old image answered); or unreachable.
    #[error(transparent)]
    Refused(#[from] ClientError),
    /// The new image could not resume: the old one carries on.
    #[error("{0}")]
    Failed(String),
    /// No outcome within the deadline.
    #[error("{endpoint}: no answer from the re-executed agent within {within:?}")]
    Lost { endpoint: String, within: Duration },
}

/// Re-exec the agent behind `client` into `binary` (default: its own
/// binary), waiting up to `within` for the new image to serve.
pub async fn reexec(
    client: &Client,
    binary: Option<String>,
    within: Duration,
) -> Result<ReexecResponse, ReexecError> {
    let id = format!(
        "{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos()
    );
    let req = ReexecRequest {
        binary,
        id: Some(id.clone()),
    };
    let deadline = Instant::now() + within;
    // Only a refusal is answered; the exec ends the connection.
    let sent = client
        .post_json::<_, serde_json::Value>("/v1/agent/reexec", &req)
        .await;
    if let Err(e @ ClientError::Api { .. }) = sent {
        return Err(e.into());
    }
    loop {
        if let Ok(o) = client.get_json::<ReexecOutcome>("/v1/agent/reexec").await {
            if o.data.id.as_deref() == Some(id.as_str()) {
                return match (o.data.ok, o.data.error) {
                    (Some(ok), _) => Ok(ok),
                    (None, e) => Err(ReexecError::Failed(e.unwrap_or_default())),
                };
            }
        }
        if Instant::now() >= deadline {
            return Err(ReexecError::Lost {
                endpoint: client.endpoint().to_owned(),
                within,
            });
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
