//! Self-registration with a console (`[agent] console = "URL"`).
//!
//! One task POSTs a `fleet_api::Registration` (name, advertised URL, tags,
//! version and the token the console must use to call back) to
//! `{console}/v1/agents/register` with the enrollment token as Bearer, then
//! repeats it as the heartbeat every `heartbeat_secs` the console answers
//! with, carrying the credential the console issued instead of the
//! enrollment token (kept in `credential_file` when set, so a restart does
//! not need the enrollment token either). A failure is retried with a doubling delay (1 s up to a minute).
//! Nothing secret is logged: only the console URL, status codes and the
//! console's error message.
//!
//! The client never follows a redirect (a redirect would carry the tokens
//! elsewhere), checks the console's certificate against `console_ca_file`
//! or `console_fingerprint` when set, and a plain `http://` console off
//! loopback is a config error unless `allow_insecure_console` (warned
//! about here, at every start).

use crate::config::{Enrollment, Secret};
use fleet_api::{Registration, RegistrationResponse};
use fleet_client::{Client, ClientError};
use std::time::Duration;

const FIRST_RETRY: Duration = Duration::from_secs(1);
const MAX_RETRY: Duration = Duration::from_secs(60);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Register, then heartbeat until the runtime ends.
pub async fn run(enroll: Enrollment, host: String, agent_token: Secret) {
    if enroll.insecure {
        tracing::warn!(
            console = %enroll.console,
            "plain http:// to a non-loopback console: the enrollment token and this agent's token cross the network in clear (allow_insecure_console = true)"
        );
    }
    // fleet's one client: capped answers, fleet's error shape only, the
    // configured trust, and never a redirect (it would carry the tokens
    // elsewhere).
    let opts = fleet_client::Options {
        user_agent: concat!("fleet-agent/", env!("CARGO_PKG_VERSION")),
        connect_timeout: REQUEST_TIMEOUT,
        follow_redirects: false,
    };
    let http = match fleet_client::http_client(&opts, &enroll.trust) {
        Ok(c) => c,
        Err(e) => {
            tracing::error!("cannot build the HTTP client for registration: {e}");
            return;
        }
    };
    let reg = Registration {
        name: host,
        url: enroll.advertise_url.clone(),
        tags: enroll.tags.clone(),
        version: crate::reexec::state::version(),
        agent_token: Some(agent_token.expose().to_string()),
    };
    let mut retry = FIRST_RETRY;
    let mut registered = false;
    // The console's credential for this agent, once issued: the Bearer of
    // heartbeats. Without one (or once refused), the enrollment token.
    let mut credential = enroll.credential_file.as_deref().and_then(read_credential);
    loop {
        let bearer = credential.as_ref().unwrap_or(&enroll.token).clone();
        let client = Client::http(&enroll.console, http.clone(), Some(bearer), true);
        let result = register(&client, &reg).await;
        if let Err(e) = &result {
            if credential.is_some() && e.status == Some(401) {
                tracing::warn!("the console refused this agent's credential; enrolling again");
                credential = None;
            }
        }
        let pause = match result {
            Ok(resp) => {
                if let Some(c) = resp.credential.clone() {
                    if let Some(f) = &enroll.credential_file {
                        if let Err(e) = write_credential(f, &c) {
                            tracing::warn!(
                                "cannot keep the console's credential in {}: {e}",
                                f.display()
                            );
                        }
                    }
                    credential = Some(Secret::new(c));
                }
                if !registered {
                    tracing::info!(
                        console = %enroll.console,
                        url = %reg.url,
                        heartbeat_secs = resp.heartbeat_secs,
                        "registered with the console"
                    );
                }
                registered = true;
                retry = FIRST_RETRY;
                Duration::from_secs(resp.heartbeat_secs.max(1))
            }
            Err(e) => {
                tracing::warn!(
                    console = %enroll.console,
                    "registration failed, retrying in {retry:?}: {e}"
                );
                registered = false;
                let p = retry;
                retry = (retry * 2).min(MAX_RETRY);
                p
            }
        };
        tokio::time::sleep(pause).await;
    }
}

fn read_credential(path: &std::path::Path) -> Option<Secret> {
    let text = std::fs::read_to_string(path).ok()?;
    let t = text.trim();
    (!t.is_empty()).then(|| Secret::new(t))
}

/// Written 0600 under a temporary name, then renamed into place.
fn write_credential(path: &std::path::Path, credential: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = path.with_extension("new");
    let _ = std::fs::remove_file(&tmp);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)?;
    f.write_all(credential.as_bytes())?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)
}

/// Why one registration (or heartbeat) failed: the console's status when
/// it answered, and what to log (never a token).
struct Failure {
    status: Option<u16>,
    said: String,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.said)
    }
}

/// One registration (or heartbeat), within `REQUEST_TIMEOUT`. The client
/// reads fleet's error body (a console's message) and never quotes any
/// other body.
async fn register(client: &Client, reg: &Registration) -> Result<RegistrationResponse, Failure> {
    let call = client.post_json::<_, RegistrationResponse>("/v1/agents/register", reg);
    let e = match tokio::time::timeout(REQUEST_TIMEOUT, call).await {
        Ok(Ok(r)) => return Ok(r.data),
        Ok(Err(e)) => e,
        Err(_) => {
            return Err(Failure {
                status: None,
                said: format!("no answer within {REQUEST_TIMEOUT:?}"),
            })
        }
    };
    let said = match &e {
        ClientError::Api { status, .. } if (300..400).contains(status) => format!(
            "console answered {status} (a redirect): not followed; point agent.console at the console itself"
        ),
        ClientError::Api {
            status, message, ..
        } => format!("console answered {status}: {message}"),
        // The client's hints are fleetctl's ("pass --cacert"); the agent's
        // own settings are named here.
        ClientError::Connect {
            endpoint, reason, ..
        } if reason.contains("certificate") => format!(
            "cannot connect to {endpoint}: {reason} (check agent.console_ca_file or agent.console_fingerprint)"
        ),
        e => e.to_string(),
    };
    let status = match e {
        ClientError::Api { status, .. } => Some(status),
        _ => None,
    };
    Err(Failure { status, said })
}
