//! Self-registration with a console (`[agent] console = "URL"`).
//!
//! One task POSTs a `fleet_api::Registration` (name, advertised URL, tags,
//! version and the token the console must use to call back) to
//! `{console}/v1/agents/register` with the enrollment token as Bearer, then
//! repeats it as the heartbeat every `heartbeat_secs` the console answers
//! with. A failure is retried with a doubling delay (1 s up to a minute).
//! Nothing secret is logged: only the console URL, status codes and the
//! console's error message.

use crate::config::{Enrollment, Secret};
use fleet_api::{Registration, RegistrationResponse};
use std::time::Duration;

const FIRST_RETRY: Duration = Duration::from_secs(1);
const MAX_RETRY: Duration = Duration::from_secs(60);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Register, then heartbeat until the runtime ends.
pub async fn run(enroll: Enrollment, host: String, agent_token: Secret) {
    let client = match reqwest::Client::builder().timeout(REQUEST_TIMEOUT).build() {
        Ok(c) => c,
        Err(e) => {
            tracing::error!("cannot build the HTTP client for registration: {e}");
            return;
        }
    };
    let url = format!("{}/v1/agents/register", enroll.console);
    let reg = Registration {
        name: host,
        url: enroll.advertise_url.clone(),
        tags: enroll.tags.clone(),
        version: env!("CARGO_PKG_VERSION").to_string(),
        agent_token: Some(agent_token.expose().to_string()),
    };
    let mut retry = FIRST_RETRY;
    let mut registered = false;
    loop {
        let pause = match register(&client, &url, enroll.token.expose(), &reg).await {
            Ok(resp) => {
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

async fn register(
    client: &reqwest::Client,
    url: &str,
    token: &str,
    reg: &Registration,
) -> Result<RegistrationResponse, String> {
    let resp = client
        .post(url)
        .bearer_auth(token)
        .json(reg)
        .send()
        .await
        .map_err(|e| error_chain(&e))?;
    let status = resp.status();
    if !status.is_success() {
        let body: serde_json::Value = resp.json().await.unwrap_or_default();
        let msg = body["error"]["message"].as_str().unwrap_or("no message");
        return Err(format!("console answered {status}: {msg}"));
    }
    resp.json::<RegistrationResponse>()
        .await
        .map_err(|e| format!("unreadable answer: {}", error_chain(&e)))
}

/// reqwest's error and its sources on one line (the URL has no secret).
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(c) = src {
        s.push_str(": ");
        s.push_str(&c.to_string());
        src = c.source();
    }
    s
}
