//! The transport: one [`Client`] over a unix socket (hyper, a connection
//! per request) or http(s) (reqwest, pooled; one reqwest client may serve
//! many base URLs, as the console's agents share one per trust setting).

use crate::body::{Body, ByteStream, Response};
use crate::error::ClientError;
use bytes::Bytes;
use fleet_daemon::trust::{io_reason, root_reason};
use fleet_daemon::Secret;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The largest error body read; fleet's error shape is a few hundred bytes.
pub(crate) const MAX_ERROR_BODY: usize = 64 * 1024;
/// A read of an error body gives up after this long without a byte.
const ERROR_BODY_TIMEOUT: Duration = Duration::from_secs(10);
/// How long an idle connection stays in the pool: less than the daemons
/// keep one (`fleet_daemon::serve::Limits`' header_read_timeout, 10 s).
/// Longer, a request can be written into a connection the agent is closing
/// and fail with "connection closed before message completed": an op's
/// restart (a POST, never retried: the agent may have acted) came back
/// `unreachable` from a healthy agent whose last call was 10 s before.
pub(crate) const POOL_IDLE: Duration = Duration::from_secs(5);

/// Which certificates an https server may present: the kit's one type.
pub use fleet_daemon::trust::Trust;

/// How an http(s) client behaves, per program.
pub struct Options {
    pub user_agent: &'static str,
    pub connect_timeout: Duration,
    /// fleetctl follows redirects (a console behind one); the console
    /// never follows an agent elsewhere.
    pub follow_redirects: bool,
}

/// Build the http(s) half of a [`Client`]; see [`Client::http`]. A set-up
/// error names no endpoint (one client may serve many).
pub fn http_client(opts: &Options, trust: &Trust) -> Result<reqwest::Client, ClientError> {
    let mut b = reqwest::Client::builder()
        .connect_timeout(opts.connect_timeout)
        .pool_idle_timeout(POOL_IDLE)
        .pool_max_idle_per_host(4)
        .tcp_nodelay(true)
        .user_agent(opts.user_agent);
    if !opts.follow_redirects {
        b = b.redirect(reqwest::redirect::Policy::none());
    }
    let b = trust.apply(b).map_err(|e| ClientError::CaCert {
        path: e.path,
        reason: e.reason,
    })?;
    b.build().map_err(|e| ClientError::Transport {
        endpoint: "(client set-up)".into(),
        reason: root_reason(&e),
    })
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
    /// HTTP Basic credentials (supervisord's `[inet_http_server]` or
    /// `[unix_http_server]` username and password), sent instead of the
    /// token.
    basic: Option<(String, Secret)>,
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

impl Client {
    /// The agent's unix socket (guarded by its file mode: no token).
    pub fn unix(socket: PathBuf) -> Client {
        Client {
            endpoint: socket.display().to_string(),
            transport: Transport::Unix(socket),
            token: None,
            basic: None,
            console: false,
        }
    }

    /// A server at `base` (`https://host:port`, no trailing slash) through
    /// `client` (from [`http_client`]), with a bearer token.
    pub fn http(
        base: &str,
        client: reqwest::Client,
        token: Option<Secret>,
        console: bool,
    ) -> Client {
        Client {
            endpoint: base.to_owned(),
            transport: Transport::Http {
                base: base.to_owned(),
                client,
            },
            token,
            basic: None,
            console,
        }
    }

    /// Send HTTP Basic credentials with every request (over a unix socket
    /// too), instead of any token.
    pub fn with_basic(mut self, user: String, password: Secret) -> Client {
        self.token = None;
        self.basic = Some((user, password));
        self
    }

    fn basic_header(&self) -> Option<String> {
        let (user, pass) = self.basic.as_ref()?;
        let raw = format!("{user}:{}", pass.expose());
        Some(format!("Basic {}", base64(raw.as_bytes())))
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
        let body = body.map(|b| ("application/json", b));
        self.send(method, path, body, headers).await
    }

    /// POST an XML-RPC call; the answer's body, refused past `cap` bytes
    /// or when a piece takes longer than `read_timeout`.
    pub async fn post_xml(
        &self,
        path: &str,
        body: String,
        cap: usize,
        read_timeout: Duration,
    ) -> Result<Vec<u8>, ClientError> {
        let body = Some(("text/xml", body.into_bytes()));
        let resp = self.send("POST", path, body, &[]).await?;
        resp.body
            .with_read_timeout(read_timeout)
            .collect_capped(cap)
            .await
            .map_err(|r| self.broken(r))
    }

    async fn send(
        &self,
        method: &str,
        path: &str,
        body: Option<(&str, Vec<u8>)>,
        headers: &[(&str, &str)],
    ) -> Result<Response, ClientError> {
        let resp = match &self.transport {
            Transport::Unix(socket) => {
                self.unix_request(socket, method, path, body, headers)
                    .await?
            }
            Transport::Http { base, client } => {
                self.http_request(client, base, method, path, body, headers)
                    .await?
            }
        };
        if (200..300).contains(&resp.status) {
            return Ok(resp);
        }
        let status = resp.status;
        let raw = resp
            .body
            .with_read_timeout(ERROR_BODY_TIMEOUT)
            .collect_capped(MAX_ERROR_BODY)
            .await
            .unwrap_or_default();
        let hint = match status {
            401 if self.token.is_none() => "; pass --token or set FLEET_TOKEN",
            401 => "; check --token or FLEET_TOKEN",
            _ => "",
        };
        Err(ClientError::from_answer(&self.endpoint, status, &raw, hint))
    }

    async fn unix_request(
        &self,
        socket: &Path,
        method: &str,
        path: &str,
        body: Option<(&str, Vec<u8>)>,
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
        if let Some((kind, _)) = &body {
            req = req.header(hyper::header::CONTENT_TYPE, *kind);
        }
        if let Some(auth) = self.basic_header() {
            req = req.header(hyper::header::AUTHORIZATION, auth);
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let req = req
            .body(http_body_util::Full::new(Bytes::from(
                body.map(|(_, b)| b).unwrap_or_default(),
            )))
            .map_err(|e| transport_err(e.to_string()))?;
        let resp = sender
            .send_request(req)
            .await
            .map_err(|e| transport_err(root_reason(&e)))?;
        Ok(Response {
            status: resp.status().as_u16(),
            headers: resp.headers().clone(),
            body: ByteStream::new(Body::Hyper(resp.into_body())),
        })
    }

    async fn http_request(
        &self,
        client: &reqwest::Client,
        base: &str,
        method: &str,
        path: &str,
        body: Option<(&str, Vec<u8>)>,
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
        if let Some((user, pass)) = &self.basic {
            req = req.basic_auth(user, Some(pass.expose()));
        }
        if let Some((kind, b)) = body {
            req = req.header(reqwest::header::CONTENT_TYPE, kind).body(b);
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
            headers: resp.headers().clone(),
            body: ByteStream::new(Body::Reqwest(resp)),
        })
    }

    async fn json<T: DeserializeOwned>(
        &self,
        method: &str,
        path: &str,
        body: Option<Vec<u8>>,
        headers: &[(&str, &str)],
    ) -> Result<Fetched<T>, ClientError> {
        let resp = self.request(method, path, body, headers).await?;
        let bytes = resp.body.collect().await.map_err(|r| self.broken(r))?;
        let unexpected =
            |e: serde_json::Error| ClientError::unexpected(&self.endpoint, path, bytes.len(), &e);
        let raw: serde_json::Value = serde_json::from_slice(&bytes).map_err(unexpected)?;
        let data = T::deserialize(&raw).map_err(unexpected)?;
        Ok(Fetched { data, raw })
    }

    pub async fn get_json<T: DeserializeOwned>(
        &self,
        path: &str,
    ) -> Result<Fetched<T>, ClientError> {
        self.json("GET", path, None, &[]).await
    }

    /// GET a JSON answer under its own `cap`, read as `T` (which may be a
    /// part of it), with its bytes as they came: for an answer too large
    /// to hold again as a tree (a large fleet's whole status).
    pub async fn get_json_bytes<T: DeserializeOwned>(
        &self,
        path: &str,
        cap: usize,
    ) -> Result<(T, Vec<u8>), ClientError> {
        let resp = self.request("GET", path, None, &[]).await?;
        let bytes = resp
            .body
            .collect_capped(cap)
            .await
            .map_err(|r| self.broken(r))?;
        let data = serde_json::from_slice(&bytes)
            .map_err(|e| ClientError::unexpected(&self.endpoint, path, bytes.len(), &e))?;
        Ok((data, bytes))
    }

    pub async fn post_json<B: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<Fetched<T>, ClientError> {
        self.post_json_with(path, body, &[]).await
    }

    /// [`Client::post_json`] with extra request headers (a console's
    /// `Idempotency-Key` on an op's agent calls).
    pub async fn post_json_with<B: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
        headers: &[(&str, &str)],
    ) -> Result<Fetched<T>, ClientError> {
        let body = serde_json::to_vec(body).expect("request bodies serialize");
        self.json("POST", path, Some(body), headers).await
    }

    /// GET a streaming body (log follow, server-sent events).
    pub async fn stream(
        &self,
        path: &str,
        headers: &[(&str, &str)],
    ) -> Result<ByteStream, ClientError> {
        Ok(self.request("GET", path, None, headers).await?.body)
    }

    /// Open a server-sent event stream, resuming after `last_id` (the
    /// server replays what followed it, or says `gap`).
    pub async fn events(
        &self,
        path: &str,
        last_id: Option<&str>,
    ) -> Result<ByteStream, ClientError> {
        let mut headers = vec![("accept", "text/event-stream")];
        if let Some(id) = last_id {
            headers.push(("last-event-id", id));
        }
        self.stream(path, &headers).await
    }

    /// The error for a body that broke off mid-stream.
    pub fn broken(&self, reason: String) -> ClientError {
        ClientError::Transport {
            endpoint: self.endpoint.clone(),
            reason,
        }
    }
}

/// Standard base64 with padding (HTTP Basic over the unix socket).
fn base64(raw: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(raw.len().div_ceil(3) * 4);
    for c in raw.chunks(3) {
        let n = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= c.len() {
                out.push(A[(n >> (18 - 6 * i)) as usize & 63] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
#[test]
fn base64_as_rfc_4648() {
    for (raw, enc) in [
        ("", ""),
        ("f", "Zg=="),
        ("fo", "Zm8="),
        ("foo", "Zm9v"),
        ("foob", "Zm9vYg=="),
    ] {
        assert_eq!(base64(raw.as_bytes()), enc);
    }
}
