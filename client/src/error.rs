//! What a call can fail with, and how an answer that is not the one asked
//! for becomes a [`ClientError`]: fleet's shared error body
//! (`fleet_api::ErrorBody`) is decoded into its code and message (the
//! message capped); anything else — a proxy's page, a service that is no
//! fleet daemon — is described by its status, size and where it stopped
//! making sense, and never quoted, so no caller (the console above all)
//! can be used to read other services' answers.

use fleet_api::{ErrorBody, ErrorCode};
use std::path::PathBuf;

/// The most characters of a fleet error message passed on.
const MESSAGE_MAX_CHARS: usize = 500;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("cannot connect to {endpoint}: {reason}{hint}")]
    Connect {
        endpoint: String,
        reason: String,
        hint: &'static str,
    },
    /// A status outside 2xx. `code` is set when the body was fleet's error
    /// shape (then `message` is its message); otherwise `message` only
    /// names the status.
    #[error("{message} (from {endpoint}, HTTP {status}){hint}")]
    Api {
        endpoint: String,
        status: u16,
        code: Option<ErrorCode>,
        message: String,
        hint: &'static str,
    },
    #[error("{endpoint}: request failed: {reason}")]
    Transport { endpoint: String, reason: String },
    #[error("{endpoint}: unexpected answer to {path}: {reason}")]
    Decode {
        endpoint: String,
        path: String,
        reason: String,
    },
    #[error("cannot use CA certificate {}: {reason}", path.display())]
    CaCert { path: PathBuf, reason: String },
}

impl ClientError {
    /// A non-2xx answer with body `raw` (already capped by the reader).
    pub(crate) fn from_answer(
        endpoint: &str,
        status: u16,
        raw: &[u8],
        hint: &'static str,
    ) -> ClientError {
        let (code, message) = match serde_json::from_slice::<ErrorBody>(raw) {
            Ok(b) => (
                Some(b.error.code),
                b.error.message.chars().take(MESSAGE_MAX_CHARS).collect(),
            ),
            Err(_) => (
                None,
                format!("HTTP status {status} (not a fleet error answer)"),
            ),
        };
        ClientError::Api {
            endpoint: endpoint.to_owned(),
            status,
            code,
            message,
            hint,
        }
    }

    /// A 2xx body of `len` bytes that is not the JSON asked for. serde's
    /// messages quote the offending value ("invalid type: string \"…\""),
    /// so only the size and the position are kept.
    pub(crate) fn unexpected(
        endpoint: &str,
        path: &str,
        len: usize,
        e: &serde_json::Error,
    ) -> ClientError {
        let at = if e.line() > 0 {
            format!(", at line {} column {}", e.line(), e.column())
        } else {
            String::new()
        };
        ClientError::Decode {
            endpoint: endpoint.to_owned(),
            path: path.to_owned(),
            reason: format!("not a fleet answer: unexpected answer ({len} bytes{at})"),
        }
    }
}
