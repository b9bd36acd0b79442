//! The HTTP transport: one small [`Client`] over a unix socket (hyper) or
//! http(s) (reqwest, with an optional extra CA). Non-2xx answers become
//! [`ClientError::Api`] carrying the server's `{"error": {...}}` message.

use super::config::{Secret, Target};
use bytes::Bytes;
use fleet_api::{ErrorBody, ErrorCode};
use http_body_util::BodyExt;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("cannot connect to {endpoint}: {reason}{hint}")]
    Connect {
        endpoint: String,
        reason: String,
        hint: &'static str,
    },
    #[error("{message} (from {endpoint}, HTTP {status}){hint}")]
    Api {
        endpoint: String,
        status: u16,
        code: Option<ErrorCode>,
        message: String,
        hint: &'static str,
    },
    #[error("{endpoint}: request failed: {reason}")]
    Transport { endpoint: String, reason: String },
    #[error("{endpoint}: unexpected answer to {path}: {reason}")]
    Decode {
        endpoint: String,
        path: String,
        reason: String,
    },
    #[error("cannot use CA certificate {}: {reason}", path.display())]
    CaCert { path: PathBuf, reason: String },
}

enum Transport {
    Unix(PathBuf),
    Http {
        base: String,
        client: reqwest::Client,
    },
}

pub struct Client {
    transport: Transport,
    token: Option<Secret>,
    /// The socket path or base URL, for messages.
    endpoint: String,
    /// What is expected to be listening, for the "is it running?" hint.
    console: bool,
}

/// A JSON answer, typed and as received (`-o json` prints the latter, so
/// fields this fleetctl does not know still reach scripts).
pub struct Fetched<T> {
    pub data: T,
    pub raw: serde_json::Value,
}

/// A response body read chunk by chunk (log follow, server-sent events).
pub enum ByteStream {
    Hyper(hyper::body::Incoming),
    Reqwest(reqwest::Response),
}

pub struct Response {
    pub status: u16,
    pub body: ByteStream,
}

/// Percent-encode one path segment (`group:celery` → `group%3Acelery`).
pub fn encode_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// "No such file or directory" without std's " (os error 2)".
fn io_reason(e: &std::io::Error) -> String {
    let s = e.to_string();
    match s.rfind(" (os error ") {
        Some(i) => s[..i].to_owned(),
        None => s,
    }
}

/// The most specific cause in an error chain, io errors preferred.
fn root_reason(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    let mut last = e.to_string();
    while let Some(err) = cur {
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            if io.get_ref().is_none() {
                return io_reason(io);
            }
        }
        last = err.to_string();
        cur = err.source();
    }
    last
}

impl ByteStream {
    /// The next chunk, or `None` at the end of the body.
    pub async fn chunk(&mut self) -> Result<Option<Bytes>, String> {
        match self {
            Self::Hyper(body) => loop {
                match body.frame().await {
                    None => return Ok(None),
                    Some(Err(e)) => return Err(root_reason(&e)),
                    Some(Ok(frame)) => {
                        if let Ok(data) = frame.into_data() {
                            if !data.is_empty() {
                                return Ok(Some(data));
                            }
                        }
                    }
                }
            },
            Self::Reqwest(r) => r.chunk().await.map_err(|e| root_reason(&e)),
        }
    }

    pub async fn collect(mut self) -> Result<Vec<u8>, String> {
        let mut out = Vec::new();
        while let Some(c) = self.chunk().await? {
            out.extend_from_slice(&c);
        }
        Ok(out)
    }
}

impl Client {
    pub fn new(
        target: &Target,
        token: Option<Secret>,
        cacert: Option<&Path>,
    ) -> Result<Client, ClientError> {
        let endpoint = target.to_string();
        let transport = match target {
            Target::AgentSocket(p) => Transport::Unix(p.clone()),
            Target::Console(url) | Target::AgentUrl(url) => {
                let mut b = reqwest::Client::builder()
                    .connect_timeout(Duration::from_secs(10))
                    .user_agent(concat!("fleetctl/", env!("CARGO_PKG_VERSION")));
                if let Some(path) = cacert {
                    let bad = |reason: String| ClientError::CaCert {
                        path: path.to_owned(),
                        reason,
                    };
                    let pem = std::fs::read(path).map_err(|e| bad(io_reason(&e)))?;
                    let certs = reqwest::Certificate::from_pem_bundle(&pem)
                        .map_err(|e| bad(root_reason(&e)))?;
                    if certs.is_empty() {
                        return Err(bad("no certificate found".into()));
                    }
                    for c in certs {
                        b = b.add_root_certificate(c);
                    }
                }
                let client = b.build().map_err(|e| ClientError::Transport {
                    endpoint: endpoint.clone(),
                    reason: root_reason(&e),
                })?;
                Transport::Http {
                    base: url.clone(),
                    client,
                }
            }
        };
        Ok(Client {
            transport,
            token,
            endpoint,
            console: target.is_console(),
        })
    }

    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    fn connect_error(&self, reason: String, refused: bool) -> ClientError {
        let hint = match (refused, self.console) {
            (true, false) => " (is fleet-agent running?)",
            (true, true) => " (is fleet-console running?)",
            _ if reason.contains("certificate") => " (pass --cacert with the CA that signed it?)",
            _ => "",
        };
        ClientError::Connect {
            endpoint: self.endpoint.clone(),
            reason,
            hint,
        }
    }

    /// Send a request; any status outside 2xx becomes [`ClientError::Api`].
    pub async fn request(
        &self,
        method: &str,
        path: &str,
        body: Option<Vec<u8>>,
        headers: &[(&str, &str)],
    ) -> Result<Response, ClientError> {
        let resp = match &self.transport {
            Transport::Unix(socket) => self.unix(socket, method, path, body, headers).await?,
            Transport::Http { base, client } => {
                self.http(client, base, method, path, body, headers).await?
            }
        };
        if (200..300).contains(&resp.status) {
            return Ok(resp);
        }
        let status = resp.status;
        let raw = resp.body.collect().await.unwrap_or_default();
        let (code, message) = match serde_json::from_slice::<ErrorBody>(&raw) {
            Ok(b) => (Some(b.error.code), b.error.message),
            Err(_) => {
                let text = String::from_utf8_lossy(&raw).trim().to_owned();
                let text = if text.is_empty() {
                    format!("HTTP status {status}")
                } else {
                    text.chars().take(200).collect()
                };
                (None, text)
            }
        };
        let hint = match status {
            401 if self.token.is_none() => "; pass --token or set FLEET_TOKEN",
            401 => "; check --token or FLEET_TOKEN",
            _ => "",
        };
        Err(ClientError::Api {
            endpoint: self.endpoint.clone(),
            status,
            code,
            message,
            hint,
        })
    }

    async fn unix(
        &self,
        socket: &Path,
        method: &str,
        path: &str,
        body: Option<Vec<u8>>,
        headers: &[(&str, &str)],
    ) -> Result<Response, ClientError> {
        let stream = tokio::net::UnixStream::connect(socket).await.map_err(|e| {
            let refused = matches!(
                e.kind(),
                std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused
            );
            self.connect_error(io_reason(&e), refused)
        })?;
        let transport_err = |reason: String| ClientError::Transport {
            endpoint: self.endpoint.clone(),
            reason,
        };
        let (mut sender, conn) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
                .await
                .map_err(|e| transport_err(root_reason(&e)))?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        let mut req = hyper::Request::builder()
            .method(method)
            .uri(path)
            .header(hyper::header::HOST, "localhost");
        if body.is_some() {
            req = req.header(hyper::header::CONTENT_TYPE, "application/json");
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let req = req
            .body(http_body_util::Full::new(Bytes::from(
                body.unwrap_or_default(),
            )))
            .map_err(|e| transport_err(e.to_string()))?;
        let resp = sender
            .send_request(req)
            .await
            .map_err(|e| transport_err(root_reason(&e)))?;
        Ok(Response {
            status: resp.status().as_u16(),
            body: ByteStream::Hyper(resp.into_body()),
        })
    }

    async fn http(
        &self,
        client: &reqwest::Client,
        base: &str,
        method: &str,
        path: &str,
        body: Option<Vec<u8>>,
        headers: &[(&str, &str)],
    ) -> Result<Response, ClientError> {
        let method =
            reqwest::Method::from_bytes(method.as_bytes()).map_err(|e| ClientError::Transport {
                endpoint: self.endpoint.clone(),
                reason: e.to_string(),
            })?;
        let mut req = client.request(method, format!("{base}{path}"));
        if let Some(t) = &self.token {
            req = req.bearer_auth(t.expose());
        }
        if let Some(b) = body {
            req = req
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(b);
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let resp = req.send().await.map_err(|e| {
            if e.is_connect() {
                let reason = root_reason(&e);
                let refused = reason.contains("refused");
                self.connect_error(reason, refused)
            } else {
                ClientError::Transport {
                    endpoint: self.endpoint.clone(),
                    reason: root_reason(&e),
                }
            }
        })?;
        Ok(Response {
            status: resp.status().as_u16(),
            body: ByteStream::Reqwest(resp),
        })
    }

    async fn json<T: DeserializeOwned>(
        &self,
        method: &str,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> Result<Fetched<T>, ClientError> {
        let resp = self.request(method, path, body, &[]).await?;
        let decode = |reason: String| ClientError::Decode {
            endpoint: self.endpoint.clone(),
            path: path.to_owned(),
            reason,
        };
        let bytes = resp
            .body
            .collect()
            .await
            .map_err(|reason| ClientError::Transport {
                endpoint: self.endpoint.clone(),
                reason,
            })?;
        let raw: serde_json::Value =
            serde_json::from_slice(&bytes).map_err(|e| decode(e.to_string()))?;
        let data = T::deserialize(&raw).map_err(|e| decode(e.to_string()))?;
        Ok(Fetched { data, raw })
    }

    pub async fn get_json<T: DeserializeOwned>(
        &self,
        path: &str,
    ) -> Result<Fetched<T>, ClientError> {
        self.json("GET", path, None).await
    }

    pub async fn post_json<B: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<Fetched<T>, ClientError> {
        let body = serde_json::to_vec(body).expect("request bodies serialize");
        self.json("POST", path, Some(body)).await
    }

    /// GET a streaming body (log follow, server-sent events).
    pub async fn stream(
        &self,
        path: &str,
        headers: &[(&str, &str)],
    ) -> Result<ByteStream, ClientError> {
        Ok(self.request("GET", path, None, headers).await?.body)
    }

    /// The error for a body that broke off mid-stream.
    pub fn broken(&self, reason: String) -> ClientError {
        ClientError::Transport {
            endpoint: self.endpoint.clone(),
            reason,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_are_percent_encoded() {
        assert_eq!(encode_segment("web:web_00"), "web%3Aweb_00");
        assert_eq!(encode_segment("web:*"), "web%3A%2A");
        assert_eq!(encode_segment("a b/c"), "a%20b%2Fc");
        assert_eq!(encode_segment("plain-name.1~"), "plain-name.1~");
    }

    #[test]
    fn io_reasons_drop_the_errno() {
        let e = std::io::Error::from_raw_os_error(2);
        assert_eq!(io_reason(&e), "No such file or directory");
    }

    #[tokio::test(flavor = "current_thread")]
    async fn missing_socket_is_a_connect_error_with_a_hint() {
        let c = Client::new(
            &Target::AgentSocket("/nonexistent/fleet.sock".into()),
            None,
            None,
        )
        .unwrap();
        let e = c
            .get_json::<serde_json::Value>("/v1/status")
            .await
            .err()
            .unwrap();
        assert_eq!(
            e.to_string(),
            "cannot connect to /nonexistent/fleet.sock: No such file or directory (is fleet-agent running?)"
        );
    }
}
