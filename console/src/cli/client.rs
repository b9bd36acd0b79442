//! fleetctl's connection: the resolved [`Target`] as a [`Client`] of the
//! crate's one HTTP client (unix socket or http(s), `--cacert` added to
//! the system roots).

pub use fleet_client::encode::segment as encode_segment;
pub use fleet_client::{Client, ClientError};

use super::config::{Secret, Target};
use fleet_client::{http_client, Options, Trust};
use std::path::Path;
use std::time::Duration;

pub fn connect(
    target: &Target,
    token: Option<Secret>,
    cacert: Option<&Path>,
) -> Result<Client, ClientError> {
    Ok(match target {
        Target::AgentSocket(p) => Client::unix(p.clone()),
        Target::Console(url) | Target::AgentUrl(url) => {
            let opts = Options {
                user_agent: concat!("fleetctl/", env!("CARGO_PKG_VERSION")),
                connect_timeout: Duration::from_secs(10),
                follow_redirects: true,
            };
            let trust = cacert.map_or(Trust::System, |p| Trust::ExtraCa(p.to_owned()));
            let http = http_client(&opts, &trust).map_err(|e| match e {
                ClientError::Transport { reason, .. } => ClientError::Transport {
                    endpoint: url.clone(),
                    reason,
                },
                e => e,
            })?;
            Client::http(url, http, token, target.is_console())
        }
    })
}
