use serde::{Deserialize, Serialize};

/// Body of `POST /v1/agent/reexec` (every field optional).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReexecRequest {
    /// The binary to execute; default: the path the agent was started from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub binary: Option<String>,
    /// The caller's name for this re-exec, echoed by `GET /v1/agent/reexec`
    /// so a caller whose connection the exec closed finds its own outcome.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
}

/// A re-exec that worked: the new image serves, from the same pid.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReexecResponse {
    pub pid: u32,
    pub binary: String,
    pub version: String,
    pub previous_version: String,
    /// From the request's arrival to the new image serving.
    pub took_ms: u64,
}

/// Answer of `GET /v1/agent/reexec`: the outcome of the last re-exec this
/// agent went through (`ok` or `error`, never both), or neither when there
/// was none since it started.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReexecOutcome {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ok: Option<ReexecResponse>,
    /// What failed ("resume: ..."); the image that answers is the old one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}
