//! The JSON error shape (`{"error": {"code", "message"}}`, body type in
//! fleet-api) as an axum response, for both daemons: [`ApiError`], the
//! conversions from axum's extractor rejections, and [`json_body`], which
//! turns a malformed request body into the same shape.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use fleet_api::{ErrorBody, ErrorCode};

#[derive(Debug)]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
    /// Overrides the code's usual status (405 has no code of its own).
    pub status: Option<StatusCode>,
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            status: None,
        }
    }
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::BadRequest, message)
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::NotFound, message)
    }
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Internal, message)
    }
    pub fn with_status(mut self, status: StatusCode) -> Self {
        self.status = Some(status);
        self
    }
    pub fn method_not_allowed() -> Self {
        Self::bad_request("method not allowed on this endpoint")
            .with_status(StatusCode::METHOD_NOT_ALLOWED)
    }
    /// From any axum extractor rejection, keeping its status and text.
    pub fn rejection(status: StatusCode, text: String) -> Self {
        let code = match status {
            StatusCode::PAYLOAD_TOO_LARGE => ErrorCode::PayloadTooLarge,
            StatusCode::NOT_FOUND => ErrorCode::NotFound,
            _ => ErrorCode::BadRequest,
        };
        Self::new(code, text).with_status(status)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status.unwrap_or_else(|| {
            StatusCode::from_u16(self.code.http_status())
                .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
        });
        (status, Json(ErrorBody::new(self.code, self.message))).into_response()
    }
}

impl From<axum::extract::rejection::BytesRejection> for ApiError {
    fn from(r: axum::extract::rejection::BytesRejection) -> Self {
        Self::rejection(r.status(), r.body_text())
    }
}

impl From<axum::extract::rejection::QueryRejection> for ApiError {
    fn from(r: axum::extract::rejection::QueryRejection) -> Self {
        Self::rejection(r.status(), r.body_text())
    }
}

impl From<axum::extract::rejection::PathRejection> for ApiError {
    fn from(r: axum::extract::rejection::PathRejection) -> Self {
        Self::rejection(r.status(), r.body_text())
    }
}

/// Parse a JSON request body; malformed input is a 400 in our error shape
/// (axum's own `Json` would answer in plain text).
pub fn json_body<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("invalid JSON body: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn body_of(e: ApiError) -> (u16, serde_json::Value) {
        let r = e.into_response();
        let status = r.status().as_u16();
        let bytes = axum::body::to_bytes(r.into_body(), 1 << 16).await.unwrap();
        (status, serde_json::from_slice(&bytes).unwrap())
    }

    #[tokio::test(flavor = "current_thread")]
    async fn errors_answer_in_the_wire_shape() {
        let cases = [
            (ApiError::not_found("no x"), 404, "not_found", "no x"),
            (
                ApiError::method_not_allowed(),
                405,
                "bad_request",
                "method not allowed on this endpoint",
            ),
            (
                ApiError::rejection(StatusCode::PAYLOAD_TOO_LARGE, "big".into()),
                413,
                "payload_too_large",
                "big",
            ),
            (
                ApiError::internal("boom").with_status(StatusCode::BAD_GATEWAY),
                502,
                "internal",
                "boom",
            ),
        ];
        for (err, status, code, message) in cases {
            let (s, v) = body_of(err).await;
            assert_eq!(s, status, "{v}");
            assert_eq!(v["error"]["code"], code, "{v}");
            assert_eq!(v["error"]["message"], message, "{v}");
        }
    }

    #[test]
    fn malformed_bodies_are_bad_requests() {
        let e = json_body::<serde_json::Value>(b"{nope").unwrap_err();
        assert_eq!(e.code, ErrorCode::BadRequest);
        assert!(
            e.message.starts_with("invalid JSON body: "),
            "{}",
            e.message
        );
        let v: serde_json::Value = json_body(b"{\"a\": 1}").unwrap();
        assert_eq!(v["a"], 1);
    }
}

/// The credentials of an `Authorization` header value for `scheme`
/// (`"Bearer"`, `"Basic"`), trimmed; `None` for another scheme. The scheme
/// is case-insensitive (RFC 9110 §11.1), so `bearer x` and `BASIC x` are
/// what they say: one rule for both daemons.
pub fn credentials<'a>(value: &'a str, scheme: &str) -> Option<&'a str> {
    let (given, rest) = value.split_once(' ')?;
    given
        .eq_ignore_ascii_case(scheme)
        .then(|| rest.trim_matches(|c| c == ' ' || c == '\t'))
}

#[cfg(test)]
mod scheme_tests {
    use super::credentials;

    #[test]
    fn schemes_are_case_insensitive_and_exact() {
        for v in ["Bearer tok", "bearer tok", "BEARER  tok ", "bEaReR\ttok"] {
            let want = if v.contains('\t') { None } else { Some("tok") };
            assert_eq!(credentials(v, "Bearer"), want, "{v:?}");
        }
        assert_eq!(
            credentials("Basic dXNlcjpwdw==", "basic"),
            Some("dXNlcjpwdw==")
        );
        assert_eq!(credentials("Bearertok", "Bearer"), None);
        assert_eq!(credentials("Token tok", "Bearer"), None);
        assert_eq!(credentials("", "Bearer"), None);
    }
}
