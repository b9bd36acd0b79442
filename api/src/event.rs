use crate::process::{ExitInfo, ProcessInfo, ProcessState};
use serde::{Deserialize, Serialize};

/// A state change, as streamed by `GET /v1/events` (server-sent events whose
/// `id` is `seq`, so a client resumes with `Last-Event-ID`). An event with
/// `from == to` (a note) changes no state: it reports something else about
/// the process in `description` (its log file started or stopped failing,
/// leftovers stopped, `wanted` changed, a reload added it or, with
/// `removed`, dropped it).
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
    /// The process as it stands after this change: what `GET /v1/status`
    /// shows for it, except the live CPU/memory figures and a live
    /// process's timing description (both derived at read time). A follower
    /// replaces its copy with this, so restarts, exits and timing never
    /// drift from the agent's. Absent from agents older than this field.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    // Boxed: it is most of the event, and only agents send it.
    pub process: Option<Box<ProcessInfo>>,
    /// A reload removed this process and it has now stopped: it leaves the
    /// agent's table with this event.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub removed: bool,
}
