//! The console's calls to one agent over the crate's HTTP client
//! (`fleet_client`): status, the event stream, actions and logs, each
//! with connect and read deadlines so a black-holed agent costs a timer,
//! never a stuck task. TLS is verified against the system roots, a CA
//! file, or a pinned certificate fingerprint. A supervisord host's calls
//! go to `super::supervisord` instead (XML-RPC): status and actions alike,
//! so the op runner and its health gate treat both kinds the same.

use super::config::AgentKind;
use super::inventory::HostEntry;
use super::supervisord::{SupervisordClient, SvError};
use fleet_api::{ActionRequest, ActionResponse, AgentStatus, Verb};
use fleet_client::{encode, http_client, ByteStream, Client, ClientError, Options, Trust};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// The agent sends an SSE keep-alive every 15 s.
pub const STREAM_READ_TIMEOUT: Duration = Duration::from_secs(40);
pub const STATUS_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug)]
pub enum CallError {
    /// Could not talk to the agent (connect, TLS, timeout, broken stream).
    Unreachable(String),
    /// The agent answered with an error.
    Agent { status: u16, message: String },
}

impl std::fmt::Display for CallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Unreachable(m) => f.write_str(m),
            Self::Agent { status, message } => write!(f, "agent answered {status}: {message}"),
        }
    }
}

/// The host is named wherever this is shown, so the reasons leave out the
/// URL and fleetctl's hints.
impl From<ClientError> for CallError {
    fn from(e: ClientError) -> Self {
        match e {
            ClientError::Api {
                status, message, ..
            } => Self::Agent { status, message },
            ClientError::Connect { reason, .. } => {
                Self::Unreachable(format!("cannot connect: {reason}"))
            }
            ClientError::Transport { reason, .. } => {
                Self::Unreachable(format!("request failed: {reason}"))
            }
            ClientError::Decode { reason, .. } => {
                Self::Unreachable(format!("agent sent an unreadable answer: {reason}"))
            }
            ClientError::CaCert { path, reason } => {
                Self::Unreachable(format!("ca_file {}: {reason}", path.display()))
            }
        }
    }
}

/// A supervisord host's failures read as a fleet agent's: no answer is
/// `Unreachable`, a fault is the host's own refusal.
impl From<SvError> for CallError {
    fn from(e: SvError) -> Self {
        match e {
            SvError::Unreachable(m) => Self::Unreachable(m),
            SvError::Refused { status, message } => Self::Agent { status, message },
        }
    }
}

/// Shown as the host's error: say what went unanswered and for how long
/// (a black-holed agent is told from a slow one by this alone).
fn timed_out(what: &str) -> CallError {
    CallError::Unreachable(format!(
        "no answer to {what} within {} s",
        STATUS_TIMEOUT.as_secs()
    ))
}

/// Builds (and shares) HTTP clients per trust setting, so 500 plain agents
/// share one connection pool.
#[derive(Default)]
pub struct ClientFactory {
    cache: Mutex<HashMap<Trust, reqwest::Client>>,
}

impl ClientFactory {
    fn http(&self, trust: &Trust) -> Result<reqwest::Client, String> {
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(c) = cache.get(trust) {
            return Ok(c.clone());
        }
        let opts = Options {
            user_agent: concat!("fleet-console/", env!("CARGO_PKG_VERSION")),
            connect_timeout: CONNECT_TIMEOUT,
            follow_redirects: false,
        };
        let c = http_client(&opts, trust).map_err(|e| CallError::from(e).to_string())?;
        cache.insert(trust.clone(), c.clone());
        Ok(c)
    }

    /// A client for a host the console trusts (console.toml, or a
    /// registered agent that proved itself at its URL).
    pub fn for_host(&self, h: &Arc<HostEntry>) -> Result<AgentClient, String> {
        if !h.is_proven() {
            return Err(format!(
                "not verified yet: the agent has not answered the console's challenge at {}",
                h.url
            ));
        }
        self.for_proving(h)
    }

    /// A client for the challenge itself (`AgentClient::prove`).
    pub fn for_proving(&self, h: &Arc<HostEntry>) -> Result<AgentClient, String> {
        let backend =
            match &h.kind {
                AgentKind::Fleet => {
                    let http = self.http(&h.trust)?;
                    Backend::Fleet(Arc::new(Client::http(&h.url, http, h.token.clone(), false)))
                }
                AgentKind::Supervisord(cfg) => Backend::Supervisord(Arc::new(
                    SupervisordClient::new(cfg, |t| self.http(t), &h.trust)?,
                )),
            };
        Ok(AgentClient {
            host: h.clone(),
            backend,
        })
    }
}

/// Who answers for the host: a fleet agent's JSON API, or supervisord's
/// XML-RPC (`super::supervisord`).
#[derive(Clone)]
enum Backend {
    Fleet(Arc<Client>),
    Supervisord(Arc<SupervisordClient>),
}

/// One agent's API, with the token the console holds for it.
#[derive(Clone)]
pub struct AgentClient {
    pub host: Arc<HostEntry>,
    backend: Backend,
}

/// What a supervisord host cannot do that a fleet agent can.
fn not_on_supervisord(what: &str) -> CallError {
    CallError::Agent {
        status: 400,
        message: format!("{what} is not available on a supervisord host"),
    }
}

impl AgentClient {
    /// The host's supervisord client, when it is one.
    pub fn supervisord(&self) -> Option<&Arc<SupervisordClient>> {
        match &self.backend {
            Backend::Supervisord(s) => Some(s),
            Backend::Fleet(_) => None,
        }
    }

    fn fleet(&self, what: &str) -> Result<&Client, CallError> {
        match &self.backend {
            Backend::Fleet(c) => Ok(c),
            Backend::Supervisord(_) => Err(not_on_supervisord(what)),
        }
    }

    /// Re-execute the agent in place and wait (up to `within`) for the new
    /// image to serve (`fleet_client::reexec`); the agent's default binary.
    pub async fn reexec(&self, within: Duration) -> Result<fleet_api::ReexecResponse, CallError> {
        use fleet_client::reexec::{reexec, ReexecError};
        let client = match &self.backend {
            Backend::Fleet(c) => c,
            Backend::Supervisord(_) => {
                return Err(CallError::Agent {
                    status: 400,
                    message: "supervisord cannot re-execute in place: its upgrade (a restart of supervisord) restarts every program".into(),
                })
            }
        };
        match reexec(client, None, within).await {
            Ok(r) => Ok(r),
            Err(ReexecError::Refused(e)) => Err(e.into()),
            Err(ReexecError::Failed(message)) => Err(CallError::Agent {
                status: 500,
                message,
            }),
            Err(e @ ReexecError::Lost { .. }) => Err(CallError::Unreachable(e.to_string())),
        }
    }

    pub async fn status(&self) -> Result<AgentStatus, CallError> {
        let client = match &self.backend {
            Backend::Fleet(c) => c,
            Backend::Supervisord(s) => {
                return match tokio::time::timeout(STATUS_TIMEOUT, s.status(None)).await {
                    Ok(r) => r.map_err(CallError::from),
                    Err(_) => Err(timed_out("a status request")),
                }
            }
        };
        let call = client.get_json::<AgentStatus>("/v1/status");
        match tokio::time::timeout(STATUS_TIMEOUT, call).await {
            Ok(r) => Ok(r?.data),
            Err(_) => Err(timed_out("a status request")),
        }
    }

    /// Open the event stream (headers received) after event `last`; the
    /// caller reads the body, which fails after [`STREAM_READ_TIMEOUT`]
    /// without a byte.
    pub async fn events(&self, last: Option<u64>) -> Result<ByteStream, CallError> {
        let last = last.map(|l| l.to_string());
        let open = self
            .fleet("an event stream")?
            .events("/v1/events", last.as_deref());
        let body = tokio::time::timeout(STATUS_TIMEOUT, open)
            .await
            .map_err(|_| {
                CallError::Unreachable("timed out waiting for the event stream".into())
            })??;
        Ok(body.with_read_timeout(STREAM_READ_TIMEOUT))
    }

    /// Challenge the agent behind a registered URL: it must answer the
    /// console's random nonce with the HMAC of the token it registered
    /// with. Nothing of the answer is kept or shown but pass or fail.
    pub async fn prove(&self) -> Result<(), CallError> {
        let token =
            self.host.token.as_ref().ok_or_else(|| {
                CallError::Unreachable("registered without an agent token".into())
            })?;
        let mut n = [0u8; 16];
        ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut n)
            .map_err(|_| CallError::Unreachable("the random generator failed".into()))?;
        let nonce = fleet_daemon::hex::encode(&n);
        let req = fleet_api::ProofRequest {
            name: self.host.name.clone(),
            nonce: nonce.clone(),
        };
        let call = self
            .fleet("the challenge")?
            .post_json::<_, fleet_api::ProofResponse>("/v1/enroll/proof", &req);
        let answer = match tokio::time::timeout(STATUS_TIMEOUT, call).await {
            Ok(r) => r?.data,
            Err(_) => return Err(timed_out("the console's challenge")),
        };
        if fleet_daemon::proof::check(token.expose(), &self.host.name, &nonce, &answer.proof) {
            Ok(())
        } else {
            Err(CallError::Unreachable(
                "the answer to the console's challenge is wrong".into(),
            ))
        }
    }

    pub async fn act(
        &self,
        target: &str,
        verb: Verb,
        signal: Option<String>,
        with_deps: bool,
        idempotency_key: &str,
    ) -> Result<ActionResponse, CallError> {
        let client = match &self.backend {
            Backend::Fleet(c) => c,
            // supervisord has no dependencies to start first.
            Backend::Supervisord(s) => return Ok(s.act(target, verb, signal).await?),
        };
        let body = ActionRequest {
            signal,
            wait: None,
            with_deps: with_deps.then_some(true),
        };
        let path = format!(
            "/v1/processes/{}/{}",
            encode::segment(target),
            verb.as_str()
        );
        // The op runner puts its own per-host deadline around this; the
        // body is capped by the client. The key (`OP/HOST/FENCE`) lets a
        // console that took the op over repeat the call without a second
        // restart (`agent/src/api/idempotency.rs`).
        let headers = [("idempotency-key", idempotency_key)];
        Ok(client.post_json_with(&path, &body, &headers).await?.data)
    }

    /// Open a log (headers within [`STATUS_TIMEOUT`]). A tail (not
    /// followed) also fails after [`STREAM_READ_TIMEOUT`] without a byte;
    /// a followed log may be quiet for hours, and ends when its reader goes.
    /// A log tail or follow, and the stream offset of its first byte (the
    /// agent's `x-log-offset`, passed on so a follower can go on `from`
    /// it after a break).
    pub async fn log(
        &self,
        name: &str,
        query: &str,
    ) -> Result<(ByteStream, Option<u64>), CallError> {
        let path = format!("/v1/processes/{}/log?{query}", encode::segment(name));
        let asked = self.fleet("a log")?.request("GET", &path, None, &[]);
        let resp = tokio::time::timeout(STATUS_TIMEOUT, asked)
            .await
            .map_err(|_| CallError::Unreachable("timed out waiting for the log".into()))??;
        let offset = resp.log_offset();
        let body = resp.body;
        Ok((
            if query.contains("follow=true") {
                body
            } else {
                body.with_read_timeout(STREAM_READ_TIMEOUT)
            },
            offset,
        ))
    }

    /// Empty a process's log files and tail on the agent (a supervisord
    /// host: its log files).
    pub async fn clear_log(&self, name: &str) -> Result<(), CallError> {
        if let Backend::Supervisord(s) = &self.backend {
            return Ok(s.clear_log(name).await?);
        }
        let path = format!("/v1/processes/{}/log/clear", encode::segment(name));
        tokio::time::timeout(
            STATUS_TIMEOUT,
            self.fleet("clearing a log")?
                .request("POST", &path, None, &[]),
        )
        .await
        .map_err(|_| CallError::Unreachable("timed out clearing the log".into()))??;
        Ok(())
    }

    /// Open the current log file of `stream` (a download; each piece within
    /// [`STREAM_READ_TIMEOUT`]).
    pub async fn log_file(&self, name: &str, stream: &str) -> Result<ByteStream, CallError> {
        let path = format!(
            "/v1/processes/{}/log/file?stream={stream}",
            encode::segment(name)
        );
        let client = self.fleet("a log file download")?;
        let body = tokio::time::timeout(STATUS_TIMEOUT, client.stream(&path, &[]))
            .await
            .map_err(|_| CallError::Unreachable("timed out waiting for the log file".into()))??;
        Ok(body.with_read_timeout(STREAM_READ_TIMEOUT))
    }
}
