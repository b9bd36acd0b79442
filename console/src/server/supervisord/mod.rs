//! Hosts that still run supervisord (`kind = "supervisord"`): the
//! console's XML-RPC client for one of them, over fleet-client's transport
//! (unix socket or http(s) with the console's trust rules, HTTP Basic,
//! every answer capped in size and bounded in time) and fleet-client's
//! hardened codec (`fleet_client::xmlrpc`: no entities, bounded depth).
//!
//! supervisord has no event stream, so the picture comes from polling:
//! `poll.rs` one task per host reads version, pid and `getAllProcessInfo`
//! (one `system.multicall`) every `poll` and hands them to the picture as
//! a fleet agent's status re-read would be (changes published as process
//! events); `map.rs` turns supervisord's process struct into fleet-api's
//! `ProcessInfo` and counts the restarts it can see between polls (pid or
//! start time changed); `act.rs` the verbs (start/stop/restart/signal over
//! a selector, fault codes turned into per-process outcomes); `log.rs`
//! tails, follows (polled) and clearing.

mod act;
mod log;
mod map;
mod poll;

pub use log::TAIL_MAX;
pub use map::Restarts;
pub use poll::poll;

use super::config::{Endpoint, SupervisordConfig, Trust};
use fleet_api::{AgentStatus, ProcessInfo};
use fleet_client::xmlrpc::{encode_call, parse_response, RemoteFault, Value};
use fleet_client::{Client, ClientError};
use std::time::Duration;

/// The largest answer read from supervisord: `getAllProcessInfo` of a
/// thousand processes is about 1 MiB.
const ANSWER_MAX: usize = 8 << 20;
/// A piece of an answer that takes longer than this ends the call (a
/// start with `wait` sends nothing until its process is RUNNING, so calls
/// that act are bounded by the op's per-host timeout instead).
const READ_TIMEOUT: Duration = Duration::from_secs(60);

/// The most characters of a parser's reason or a fault's text kept: what
/// a hostile supervisord writes there is shown on the page.
const REASON_MAX: usize = 300;

/// `s`, cut at `max` characters (marked with `…`).
pub(crate) fn capped(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        None => s.to_owned(),
        Some((at, _)) => format!("{}…", &s[..at]),
    }
}

/// One supervisord's XML-RPC endpoint.
pub struct SupervisordClient {
    client: Client,
    path: String,
}

impl SupervisordClient {
    /// A client for `cfg` (http(s) through `http`, the console's shared
    /// client for the host's trust setting).
    pub fn new(
        cfg: &SupervisordConfig,
        http: impl FnOnce(&Trust) -> Result<reqwest::Client, String>,
        trust: &Trust,
    ) -> Result<SupervisordClient, String> {
        let (client, path) = match &cfg.endpoint {
            Endpoint::Unix(p) => (Client::unix(p.clone()), "/RPC2".to_owned()),
            Endpoint::Http { base, path } => {
                (Client::http(base, http(trust)?, None, false), path.clone())
            }
        };
        let client = match &cfg.credentials {
            Some((user, pass)) => client.with_basic(user.clone(), pass.clone()),
            None => client,
        };
        Ok(SupervisordClient { client, path })
    }

    /// Call `method`; a fault is `Ok(Err(..))`, anything that is not an
    /// answer (no connection, an HTTP error, not XML-RPC) `Err`.
    pub async fn call(
        &self,
        method: &str,
        params: &[Value],
    ) -> Result<Result<Value, RemoteFault>, SvError> {
        let body = encode_call(method, params);
        let raw = self
            .client
            .post_xml(&self.path, body, ANSWER_MAX, READ_TIMEOUT)
            .await
            .map_err(unreachable)?;
        let answer = parse_response(&raw).map_err(|e| {
            SvError::Unreachable(format!(
                "supervisord sent an unreadable answer ({} bytes): {}",
                raw.len(),
                capped(&e, REASON_MAX)
            ))
        })?;
        Ok(answer.map_err(|f| RemoteFault {
            code: f.code,
            text: capped(&f.text, REASON_MAX),
        }))
    }

    /// Call `method`, a fault being an error (the host's own answer).
    pub async fn value(&self, method: &str, params: &[Value]) -> Result<Value, SvError> {
        self.call(method, params)
            .await?
            .map_err(|f| SvError::Refused {
                status: if f.name() == Some("BAD_NAME") {
                    404
                } else {
                    400
                },
                message: f.text,
            })
    }

    /// Every process, as supervisord reports it (restarts not counted).
    pub async fn processes(&self) -> Result<Vec<ProcessInfo>, SvError> {
        let v = self.value("supervisor.getAllProcessInfo", &[]).await?;
        map::processes(&v, None)
    }

    /// The host's status in fleet's shape, read with one request
    /// (`system.multicall`: version, pid, every process); `restarts`
    /// counts what it has seen across reads.
    pub async fn status(&self, restarts: Option<&mut Restarts>) -> Result<AgentStatus, SvError> {
        let calls = [
            "supervisor.getSupervisorVersion",
            "supervisor.getPID",
            "supervisor.getAllProcessInfo",
        ]
        .map(|m| {
            Value::record([
                ("methodName", Value::str(m)),
                ("params", Value::Array(vec![])),
            ])
        });
        let v = self
            .value("system.multicall", &[Value::Array(calls.to_vec())])
            .await?;
        let Value::Array(answers) = v else {
            return Err(odd("system.multicall did not answer an array"));
        };
        // supervisord answers each call's value as is; the XML-RPC
        // multicall convention wraps it in a one-element array. The
        // version (a string) tells which.
        let wrapped = matches!(answers.first(), Some(Value::Array(_)));
        let one = |i: usize| match answers.get(i) {
            Some(f @ Value::Struct(m)) if m.iter().any(|(k, _)| k == "faultCode") => {
                Err(SvError::Refused {
                    status: 500,
                    message: match f.member("faultString") {
                        Some(Value::Str(s)) => s.clone(),
                        _ => "a fault".into(),
                    },
                })
            }
            Some(Value::Array(a)) if wrapped && a.len() == 1 => Ok(&a[0]),
            Some(v) if !wrapped => Ok(v),
            _ => Err(odd("system.multicall answered the wrong shape")),
        };
        let version = match one(0)? {
            Value::Str(s) => format!("supervisord {s}"),
            _ => "supervisord".into(),
        };
        let pid = match one(1)? {
            Value::Int(p) => u32::try_from(*p).unwrap_or(0),
            _ => 0,
        };
        let processes = map::processes(one(2)?, restarts)?;
        Ok(AgentStatus {
            host: String::new(),
            version,
            pid,
            started_at: 0,
            listen: None,
            processes,
        })
    }
}

/// Why a call to supervisord did not give its value: no usable answer
/// (connect, TLS, timeout, HTTP error, not XML-RPC), or supervisord's own
/// refusal (a fault: `status` 404 for `BAD_NAME`, else 400). The op runner
/// reads them as a fleet agent's `CallError` (`unreachable`, `failed`).
#[derive(Debug)]
pub enum SvError {
    Unreachable(String),
    Refused { status: u16, message: String },
}

impl std::fmt::Display for SvError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Unreachable(m) => f.write_str(m),
            Self::Refused { status, message } => {
                write!(f, "supervisord answered {status}: {message}")
            }
        }
    }
}

fn odd(what: &str) -> SvError {
    SvError::Unreachable(format!("supervisord sent an unexpected answer: {what}"))
}

/// A transport failure, or an HTTP error (supervisord's 401 for a wrong
/// password): the host cannot be used as configured. Never quotes a body.
fn unreachable(e: ClientError) -> SvError {
    match e {
        ClientError::Api { status: 401, .. } => SvError::Unreachable(
            "supervisord refused the credentials (HTTP 401): check username and password_file"
                .into(),
        ),
        ClientError::Api { status, .. } => {
            SvError::Unreachable(format!("supervisord answered HTTP {status}"))
        }
        ClientError::Connect { reason, .. } => {
            SvError::Unreachable(format!("cannot connect: {reason}"))
        }
        ClientError::Transport { reason, .. } => {
            SvError::Unreachable(format!("request failed: {reason}"))
        }
        ClientError::Decode { reason, .. } => {
            SvError::Unreachable(format!("supervisord sent an unreadable answer: {reason}"))
        }
        ClientError::CaCert { path, reason } => {
            SvError::Unreachable(format!("ca_file {}: {reason}", path.display()))
        }
    }
}
