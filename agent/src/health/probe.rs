//! The network probes (http, tcp): tasks that await only I/O, so a slow
//! or silent target never holds up the supervisor's loop; each ends by
//! its own timeout. Exec checks are children of the agent and run by
//! the supervisor, which reaps every child (`supervisor/health.rs`).

use std::time::Duration;

/// One check's result: healthy or not, and why in words.
pub type Verdict = (bool, String);

/// The client for https checks: no connection kept between checks (a
/// check must see a fresh connect), no redirect followed (a 3xx is an
/// answer), no proxy from the environment, and, as Kubernetes' https
/// probes, no certificate check: a health check asks whether the program
/// answers, not who it is (a local service's certificate rarely names
/// 127.0.0.1).
pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .danger_accept_invalid_certs(true)
        .pool_max_idle_per_host(0)
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .user_agent(concat!(
            "fleet-agent/",
            env!("CARGO_PKG_VERSION"),
            " health check"
        ))
        .build()
        .expect("a client without custom TLS roots builds")
}

/// GET `url`: healthy when the status is expected and the body contains
/// `body` (read up to 64 KiB). Plain http goes over one fresh connection
/// driven by hyper's connection layer (no pool, no TLS, no resolver for an
/// IP literal: a fraction of a full client's cost per check); https takes
/// `tls`, the full client, built at the first https check.
pub async fn http(
    tls: impl FnOnce() -> reqwest::Client,
    url: &str,
    expect: &[u16],
    body: Option<&str>,
    timeout: Duration,
) -> Verdict {
    if url.starts_with("http://") {
        return match tokio::time::timeout(timeout, plain(url, expect, body)).await {
            Ok(Ok(v)) => v,
            Ok(Err(e)) => (false, e),
            Err(_) => (false, timed_out(timeout)),
        };
    }
    let client = tls();
    let run = async {
        let mut resp = client.get(url).send().await.map_err(describe)?;
        let mut scan = match Answer::new(resp.status().as_u16(), expect, body) {
            Ok(scan) => scan,
            Err(verdict) => return Ok(verdict),
        };
        while let Some(chunk) = resp.chunk().await.map_err(describe)? {
            if let Some(verdict) = scan.feed(&chunk) {
                return Ok(verdict);
            }
        }
        Ok::<_, String>(scan.end())
    };
    match tokio::time::timeout(timeout, run).await {
        Ok(Ok(v)) => v,
        Ok(Err(e)) => (false, e),
        Err(_) => (false, timed_out(timeout)),
    }
}

/// One plain-http GET; `Err` for what prevented an answer.
async fn plain(url: &str, expect: &[u16], body: Option<&str>) -> Result<Verdict, String> {
    use http_body_util::BodyExt;
    let parsed = reqwest::Url::parse(url).map_err(|e| format!("bad URL: {e}"))?;
    let host = parsed.host_str().ok_or("URL without a host")?.to_owned();
    let port = parsed.port_or_known_default().unwrap_or(80);
    let host = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    let stream = tokio::net::TcpStream::connect((host.as_str(), port))
        .await
        .map_err(|e| format!("cannot connect: {}", io_error(&e)))?;
    let io = hyper_util::rt::TokioIo::new(stream);
    let (mut sender, conn) = hyper::client::conn::http1::handshake(io)
        .await
        .map_err(|e| e.to_string())?;
    // Ends with the connection; aborted with this check (a target that
    // never answers must not keep it).
    let conn = AbortOnDrop(tokio::spawn(async move {
        let _ = conn.await;
    }));
    let path = match parsed.query() {
        Some(q) => format!("{}?{q}", parsed.path()),
        None => parsed.path().to_owned(),
    };
    let authority = match parsed.port() {
        Some(p) => format!("{}:{p}", parsed.host_str().unwrap_or_default()),
        None => parsed.host_str().unwrap_or_default().to_owned(),
    };
    let req = hyper::Request::get(path)
        .header(hyper::header::HOST, authority)
        .header(hyper::header::USER_AGENT, USER_AGENT)
        .header(hyper::header::CONNECTION, "close")
        .body(http_body_util::Empty::<bytes::Bytes>::new())
        .map_err(|e| e.to_string())?;
    let resp = sender.send_request(req).await.map_err(|e| e.to_string())?;
    let mut scan = match Answer::new(resp.status().as_u16(), expect, body) {
        Ok(scan) => scan,
        Err(verdict) => return Ok(verdict),
    };
    let mut b = resp.into_body();
    while let Some(frame) = b.frame().await {
        let frame = frame.map_err(|e| e.to_string())?;
        if let Some(verdict) = frame.data_ref().and_then(|chunk| scan.feed(chunk)) {
            return Ok(verdict);
        }
    }
    drop(conn);
    Ok(scan.end())
}

/// The rule of an http check's answer, whichever client read it: the
/// status, then (with `expect_body`) the body, read up to 64 KiB.
struct Answer<'a> {
    status: u16,
    want: &'a str,
    seen: Vec<u8>,
}

impl<'a> Answer<'a> {
    /// `Err` with the verdict when the status decides alone.
    fn new(status: u16, expect: &[u16], body: Option<&'a str>) -> Result<Answer<'a>, Verdict> {
        let status_ok = match expect {
            [] => (200..400).contains(&status),
            list => list.contains(&status),
        };
        match (status_ok, body) {
            (false, _) => Err((false, format!("HTTP {status}"))),
            (true, None) => Err((true, format!("HTTP {status}"))),
            (true, Some(want)) => Ok(Answer {
                status,
                want,
                seen: Vec::new(),
            }),
        }
    }

    /// A chunk of the body: the verdict once it is known.
    fn feed(&mut self, chunk: &[u8]) -> Option<Verdict> {
        self.seen.extend_from_slice(chunk);
        if contains(&self.seen, self.want.as_bytes()) {
            return Some((true, format!("HTTP {}", self.status)));
        }
        (self.seen.len() > 64 << 10).then(|| self.end())
    }

    /// The body ended (or its cap) without the text.
    fn end(&self) -> Verdict {
        (
            false,
            format!("HTTP {}, body without {:?}", self.status, self.want),
        )
    }
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

const USER_AGENT: &str = concat!("fleet-agent/", env!("CARGO_PKG_VERSION"), " health check");

/// A TCP connection to `addr` (HOST:PORT) is accepted.
pub async fn tcp(addr: &str, timeout: Duration) -> Verdict {
    match tokio::time::timeout(timeout, tokio::net::TcpStream::connect(addr)).await {
        Ok(Ok(_)) => (true, "connected".into()),
        Ok(Err(e)) => (false, io_error(&e)),
        Err(_) => (false, timed_out(timeout)),
    }
}

/// "connection refused", not "Connection refused (os error 111)".
fn io_error(e: &std::io::Error) -> String {
    let text = e.to_string();
    let text = match text.find(" (os error") {
        Some(i) => &text[..i],
        None => &text,
    };
    let mut chars = text.chars();
    match chars.next() {
        Some(c) => c.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

pub fn timed_out(timeout: Duration) -> String {
    let ms = timeout.as_millis();
    match ms {
        ms if ms < 1000 => format!("timed out after {ms}ms"),
        ms if ms % 1000 == 0 => format!("timed out after {}s", ms / 1000),
        ms => format!("timed out after {:.1}s", ms as f64 / 1000.0),
    }
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || hay.windows(needle.len()).any(|w| w == needle)
}

/// reqwest's error with its cause ("connection refused"), not just
/// "error sending request".
fn describe(e: reqwest::Error) -> String {
    use std::error::Error;
    let mut msg = String::new();
    let mut cur: Option<&dyn Error> = Some(&e);
    let mut last = String::new();
    while let Some(err) = cur {
        last = err.to_string();
        cur = err.source();
    }
    if e.is_connect() {
        msg.push_str("cannot connect: ");
    }
    msg.push_str(&last);
    msg
}
