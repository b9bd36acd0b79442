use crate::process::ProcessState;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// Lifecycle verbs the agent performs on processes. This closed set is the
/// security boundary: there is no "run this command".
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verb {
    Start,
    Stop,
    Restart,
    Signal,
    /// Re-execute the agent in place (`POST /v1/agent/reexec`): a console
    /// op over hosts; it names no process and restarts none.
    Reexec,
}

impl Verb {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Start => "start",
            Self::Stop => "stop",
            Self::Restart => "restart",
            Self::Signal => "signal",
            Self::Reexec => "reexec",
        }
    }
}

impl fmt::Display for Verb {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Verb {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "start" => Ok(Self::Start),
            "stop" => Ok(Self::Stop),
            "restart" => Ok(Self::Restart),
            "signal" => Ok(Self::Signal),
            "reexec" => Ok(Self::Reexec),
            other => Err(format!(
                "unknown action {other:?} (expected start, stop, restart, signal or reexec)"
            )),
        }
    }
}

/// Optional body of `POST /v1/processes/{target}/{verb}`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActionRequest {
    /// Signal name for `signal` (`"HUP"`, `"SIGUSR1"`, `"15"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signal: Option<String>,
    /// Wait until every process reaches the verb's end state (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wait: Option<bool>,
    /// start/restart: also start what the processes wait for
    /// (`depends_on`), in order; default false.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub with_deps: Option<bool>,
}

/// A process verb as the agent's API takes it (`POST
/// /v1/processes/{target}/{verb}`), checked once for every server of that
/// route (the agent, fleet-sim), so they refuse the same requests alike.
/// Errors are (code, message) for the server's own error type.
pub fn parse_process_verb(
    target: &str,
    verb: &str,
) -> Result<(Verb, crate::Selector), (crate::ErrorCode, String)> {
    use crate::ErrorCode;
    let verb: Verb = verb.parse().map_err(|e| (ErrorCode::NotFound, e))?;
    if verb == Verb::Reexec {
        return Err((
            ErrorCode::NotFound,
            "reexec is the agent's, not a process's: POST /v1/agent/reexec".to_owned(),
        ));
    }
    let selector = target
        .parse()
        .map_err(|e: crate::SelectorError| (ErrorCode::BadSelector, e.0))?;
    Ok((verb, selector))
}

/// What a checked [`ActionRequest`] asks, with the query's `wait` and
/// `with_deps` taking precedence over the body's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Checked {
    pub signal: Option<crate::Signal>,
    pub wait: bool,
    pub with_deps: bool,
}

impl ActionRequest {
    /// The request's rules for `verb`: a signal for `signal` only (and a
    /// known one), `with_deps` for start and restart only.
    pub fn check(
        &self,
        verb: Verb,
        query_wait: Option<bool>,
        query_with_deps: Option<bool>,
    ) -> Result<Checked, (crate::ErrorCode, String)> {
        use crate::ErrorCode;
        let signal = match (verb, &self.signal) {
            (Verb::Signal, Some(name)) => Some(
                name.parse()
                    .map_err(|e: crate::SignalError| (ErrorCode::BadSignal, e.0))?,
            ),
            (Verb::Signal, None) => {
                return Err((
                    ErrorCode::BadSignal,
                    "signal needs a body like {\"signal\": \"HUP\"}".to_owned(),
                ))
            }
            (_, Some(_)) => return Err((ErrorCode::BadRequest, format!("{verb} takes no signal"))),
            (_, None) => None,
        };
        let with_deps = query_with_deps.or(self.with_deps).unwrap_or(false);
        if with_deps && !matches!(verb, Verb::Start | Verb::Restart) {
            return Err((
                ErrorCode::BadRequest,
                format!("with_deps applies to start and restart, not {verb}"),
            ));
        }
        Ok(Checked {
            signal,
            wait: query_wait.or(self.wait).unwrap_or(true),
            with_deps,
        })
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Done: the process reached the verb's end state.
    Ok,
    /// Nothing to do (start of a running process, stop of a stopped one).
    Already,
    /// It did not reach the end state; `message` says why.
    Failed,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ActionResult {
    pub name: String,
    pub outcome: Outcome,
    pub state: ProcessState,
    pub pid: Option<u32>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
}

/// Answer of `POST /v1/processes/{target}/{verb}`: one entry per process
/// touched.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ActionResponse {
    pub verb: Verb,
    pub target: String,
    pub results: Vec<ActionResult>,
}

impl ActionResponse {
    pub fn all_ok(&self) -> bool {
        self.results.iter().all(|r| r.outcome != Outcome::Failed)
    }
}
