use crate::process::{ExitInfo, ProcessState};
use serde::{Deserialize, Serialize};

/// A state change, as streamed by `GET /v1/events` (server-sent events whose
/// `id` is `seq`, so a client resumes with `Last-Event-ID`). An event with
/// `from == to` changes no state: it reports something else about the
/// process in `description` (its log file started or stopped failing).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Strictly increasing per agent run.
    pub seq: u64,
    /// Unix ms.
    pub time: u64,
    pub name: String,
    pub group: String,
    pub from: ProcessState,
    pub to: ProcessState,
    pub pid: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_status: Option<ExitInfo>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
}
