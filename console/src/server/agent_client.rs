//! Calls from the console to one agent: status, the event stream, actions
//! and logs, each with connect and read deadlines so a black-holed agent
//! costs a timer, never a stuck task. TLS is verified against the system
//! roots, a CA file, or a pinned certificate fingerprint.

use super::config::AgentTrust;
use super::inventory::HostEntry;
use fleet_api::{ActionRequest, ActionResponse, AgentStatus, ErrorBody, Verb};
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

/// Describe a reqwest error without the URL's query and with its cause.
fn describe(e: &reqwest::Error) -> String {
    let mut s = if e.is_timeout() {
        "timed out".to_string()
    } else if e.is_connect() {
        "cannot connect".to_string()
    } else {
        "request failed".to_string()
    };
    let mut src = std::error::Error::source(e);
    let mut last = None;
    while let Some(c) = src {
        last = Some(c.to_string());
        src = c.source();
    }
    if let Some(l) = last {
        s.push_str(": ");
        s.push_str(&l);
    }
    s
}

pub fn unreachable(e: reqwest::Error) -> CallError {
    CallError::Unreachable(describe(&e))
}

#[derive(Clone)]
struct Clients {
    /// Per-request deadlines only (actions, logs).
    plain: reqwest::Client,
    /// With a read timeout (event streams).
    stream: reqwest::Client,
}

/// Builds (and shares) HTTP clients per trust setting, so 500 plain agents
/// share one connection pool.
#[derive(Default)]
pub struct ClientFactory {
    cache: Mutex<HashMap<AgentTrust, Clients>>,
}

impl ClientFactory {
    fn clients(&self, trust: &AgentTrust) -> Result<Clients, String> {
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(c) = cache.get(trust) {
            return Ok(c.clone());
        }
        let c = Clients {
            plain: build(trust, None)?,
            stream: build(trust, Some(STREAM_READ_TIMEOUT))?,
        };
        cache.insert(trust.clone(), c.clone());
        Ok(c)
    }

    pub fn for_host(&self, h: &Arc<HostEntry>) -> Result<AgentClient, String> {
        let c = self.clients(&h.trust)?;
        Ok(AgentClient {
            host: h.clone(),
            plain: c.plain,
            stream: c.stream,
        })
    }
}

fn build(trust: &AgentTrust, read_timeout: Option<Duration>) -> Result<reqwest::Client, String> {
    let mut b = reqwest::Client::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .pool_idle_timeout(Duration::from_secs(30))
        .pool_max_idle_per_host(4)
        .tcp_nodelay(true)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("fleet-console/", env!("CARGO_PKG_VERSION")));
    if let Some(t) = read_timeout {
        b = b.read_timeout(t);
    }
    match trust {
        AgentTrust::Default => {}
        AgentTrust::CaFile(path) => {
            let pem = std::fs::read(path)
                .map_err(|e| format!("cannot read ca_file {}: {e}", path.display()))?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem)
                .map_err(|e| format!("ca_file {}: {e}", path.display()))?;
            if certs.is_empty() {
                return Err(format!("ca_file {}: no certificate found", path.display()));
            }
            b = b.tls_built_in_root_certs(false);
            for c in certs {
                b = b.add_root_certificate(c);
            }
        }
        AgentTrust::Fingerprint(fp) => {
            b = b.use_preconfigured_tls(super::tls::pinned_client_config(*fp));
        }
    }
    b.build()
        .map_err(|e| format!("cannot build HTTP client: {e}"))
}

/// One agent's API, with the token the console holds for it.
#[derive(Clone)]
pub struct AgentClient {
    pub host: Arc<HostEntry>,
    plain: reqwest::Client,
    stream: reqwest::Client,
}

impl AgentClient {
    fn req(
        &self,
        c: &reqwest::Client,
        method: reqwest::Method,
        path: &str,
    ) -> reqwest::RequestBuilder {
        let mut r = c.request(method, format!("{}{}", self.host.url, path));
        if let Some(t) = &self.host.token {
            r = r.bearer_auth(t.expose());
        }
        r
    }

    pub async fn status(&self) -> Result<AgentStatus, CallError> {
        let r = self
            .req(&self.plain, reqwest::Method::GET, "/v1/status")
            .timeout(STATUS_TIMEOUT)
            .send()
            .await
            .map_err(unreachable)?;
        json(r).await
    }

    /// Open the event stream (headers received); the body is read by the
    /// caller under the client's read timeout.
    pub async fn events(&self, last: Option<u64>) -> Result<reqwest::Response, CallError> {
        let mut r = self
            .req(&self.stream, reqwest::Method::GET, "/v1/events")
            .header("accept", "text/event-stream");
        if let Some(l) = last {
            r = r.header("last-event-id", l.to_string());
        }
        let resp = tokio::time::timeout(STATUS_TIMEOUT, r.send())
            .await
            .map_err(|_| CallError::Unreachable("timed out waiting for the event stream".into()))?
            .map_err(unreachable)?;
        ok_or_error(resp).await
    }

    pub async fn act(
        &self,
        target: &str,
        verb: Verb,
        signal: Option<String>,
    ) -> Result<ActionResponse, CallError> {
        let body = ActionRequest { signal, wait: None };
        let path = format!("/v1/processes/{}/{}", encode(target), verb.as_str());
        let r = self
            .req(&self.plain, reqwest::Method::POST, &path)
            .json(&body)
            .send()
            .await
            .map_err(unreachable)?;
        json(r).await
    }

    pub async fn log(&self, name: &str, query: &str) -> Result<reqwest::Response, CallError> {
        let path = format!("/v1/processes/{}/log?{}", encode(name), query);
        let r = self
            .req(&self.plain, reqwest::Method::GET, &path)
            .send()
            .await
            .map_err(unreachable)?;
        ok_or_error(r).await
    }
}

/// Percent-encode a path segment (selectors contain `:` and `*`).
fn encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b':' | b'@') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

async fn ok_or_error(r: reqwest::Response) -> Result<reqwest::Response, CallError> {
    if r.status().is_success() {
        return Ok(r);
    }
    let status = r.status().as_u16();
    let text = r.text().await.unwrap_or_default();
    let message = serde_json::from_str::<ErrorBody>(&text)
        .map(|b| b.error.message)
        .unwrap_or_else(|_| text.chars().take(200).collect());
    Err(CallError::Agent { status, message })
}

async fn json<T: serde::de::DeserializeOwned>(r: reqwest::Response) -> Result<T, CallError> {
    let r = ok_or_error(r).await?;
    let bytes = r.bytes().await.map_err(unreachable)?;
    serde_json::from_slice(&bytes)
        .map_err(|e| CallError::Unreachable(format!("agent sent an unreadable answer: {e}")))
}
