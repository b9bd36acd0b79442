//! TLS around the console: its own listener, and its calls to agents
//! verified against a CA file or a pinned certificate fingerprint.

mod common;
use common::console::*;
use common::pki::{pki, Pki};
use common::*;
use std::net::TcpStream;
use std::sync::Arc;
use std::time::Duration;

const T: Duration = Duration::from_secs(30);

const PROGRAMS: &str = "[program.web]\ncommand = \"TESTPROG sleep\"\nstartsecs = 0\n";

fn write(dir: &std::path::Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p.display().to_string()
}

/// A real agent serving TLS with the leaf certificate.
fn tls_agent(pki: &Pki, dir: &std::path::Path) -> (Agent, u16) {
    let crt = write(dir, "agent.crt", &pki.leaf.pem());
    let key = write(dir, "agent.key", &pki.leaf_key.serialize_pem());
    let a = Agent::start_with(
        &format!(
            "listen = \"127.0.0.1:0\"\ntoken = \"{AGENT_TOKEN}\"\ntls_cert = {crt:?}\ntls_key = {key:?}\n"
        ),
        PROGRAMS,
    );
    let port = a.tcp_port();
    (a, port)
}

fn host(c: &Console, name: &str) -> serde_json::Value {
    c.get("/v1/hosts")["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["name"] == name)
        .cloned()
        .unwrap()
}

#[test]
fn agents_are_verified_against_a_ca_file_or_a_pinned_fingerprint() {
    let pki = pki();
    let dir = tempfile::tempdir().unwrap();
    let (_agent, port) = tls_agent(&pki, dir.path());
    let ca = write(dir.path(), "ca.crt", &pki.ca.pem());
    let good_fp = pki.leaf_fingerprint();
    let other = common::pki::pki().leaf_fingerprint();
    let c = Console::start(&format!(
        "[[agent]]\nname = \"by-ca\"\nurl = \"https://127.0.0.1:{port}\"\ntoken = \"{AGENT_TOKEN}\"\nca_file = {ca:?}\n\n\
         [[agent]]\nname = \"pinned\"\nurl = \"https://127.0.0.1:{port}\"\ntoken = \"{AGENT_TOKEN}\"\nfingerprint = \"sha256:{good_fp}\"\n\n\
         [[agent]]\nname = \"wrong-pin\"\nurl = \"https://127.0.0.1:{port}\"\ntoken = \"{AGENT_TOKEN}\"\nfingerprint = \"{other}\"\n\n\
         [[agent]]\nname = \"no-trust\"\nurl = \"https://127.0.0.1:{port}\"\ntoken = \"{AGENT_TOKEN}\"\n"
    ));
    for name in ["by-ca", "pinned"] {
        wait_for(T, &format!("{name} up"), || {
            (host(&c, name)["up"] == true).then_some(())
        });
    }
    for name in ["wrong-pin", "no-trust"] {
        let h = wait_for(T, &format!("{name} down with an error"), || {
            let h = host(&c, name);
            (h["up"] == false && h["error"].is_string()).then_some(h)
        });
        let e = h["error"].as_str().unwrap().to_lowercase();
        assert!(
            e.contains("certificate") || e.contains("fingerprint"),
            "{name}: {e}"
        );
    }
    // The verified hosts really are followed: their process is in status.
    let st = c.get("/v1/status?hosts=by-ca,pinned");
    assert_eq!(st["processes"].as_array().unwrap().len(), 2, "{st}");
}

/// A console serving TLS with the leaf certificate, and a client config
/// that trusts the CA.
fn tls_console(
    pki: &Pki,
    dir: &std::path::Path,
) -> (std::process::Child, u16, Arc<rustls::ClientConfig>) {
    let crt = write(dir, "console.crt", &pki.leaf.pem());
    let key = write(dir, "console.key", &pki.leaf_key.serialize_pem());
    let cfg = write(
        dir,
        "console.toml",
        &format!(
            "[console]\nlisten = \"127.0.0.1:0\"\ndata_dir = {:?}\ntls_cert = {crt:?}\ntls_key = {key:?}\n\n\
             [[tokens]]\nname = \"ops\"\ntoken = \"{OPERATOR}\"\nrole = \"operator\"\n",
            dir.join("data").display().to_string()
        ),
    );
    let log = dir.join("console.stderr");
    let child = std::process::Command::new(bin("fleet-console"))
        .arg("--config")
        .arg(&cfg)
        .env("FLEET_LOG", "info")
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    // Port 0: the console logs the port it got once it is bound.
    let port = wait_for(T, "the console's listening line", || {
        listening_port(&std::fs::read_to_string(&log).unwrap_or_default())
    });
    let mut roots = rustls::RootCertStore::empty();
    roots.add(pki.ca.der().clone()).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = Arc::new(
        rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth(),
    );
    (child, port, config)
}

fn tls_stream(
    config: &Arc<rustls::ClientConfig>,
    port: u16,
) -> Option<rustls::StreamOwned<rustls::ClientConnection, TcpStream>> {
    let conn =
        rustls::ClientConnection::new(config.clone(), "localhost".try_into().unwrap()).unwrap();
    let tcp = TcpStream::connect(("127.0.0.1", port)).ok()?;
    tcp.set_read_timeout(Some(T)).unwrap();
    Some(rustls::StreamOwned::new(conn, tcp))
}

fn sigterm(child: &std::process::Child) {
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
}

#[test]
fn the_console_serves_tls_when_configured() {
    let pki = pki();
    let dir = tempfile::tempdir().unwrap();
    let (mut child, port, config) = tls_console(&pki, dir.path());
    let get = |path: &str| -> Option<Response> {
        let auth = format!("Bearer {OPERATOR}");
        http(
            tls_stream(&config, port)?,
            "GET",
            path,
            &[("Authorization", &auth)],
            b"",
        )
        .ok()
    };
    let r = wait_for(T, "console over TLS", || get("/v1/hosts"));
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.json()["hosts"].is_array());
    // Plain HTTP to the TLS port gets no answer.
    let s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    assert!(http(s, "GET", "/healthz", &[], b"")
        .map(|r| r.status != 200)
        .unwrap_or(true));
    sigterm(&child);
    let _ = child.wait();
}

/// SIGTERM drains the TLS listener as it does plain TCP: a response in
/// flight (here an event stream, whose headers have arrived) is finished
/// properly — last chunk, TLS close_notify — and the console exits 0,
/// instead of the connection being cut when the process exits.
#[test]
fn shutdown_finishes_responses_in_flight_over_tls() {
    use std::io::{Read, Write};
    let pki = pki();
    let dir = tempfile::tempdir().unwrap();
    let (mut child, port, config) = tls_console(&pki, dir.path());
    wait_for(T, "console over TLS", || {
        http(tls_stream(&config, port)?, "GET", "/healthz", &[], b"").ok()
    });
    let mut s = tls_stream(&config, port).unwrap();
    write!(
        s,
        "GET /v1/events HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {OPERATOR}\r\n\r\n"
    )
    .unwrap();
    s.flush().unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while !got.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = s.read(&mut buf).expect("event stream headers");
        assert!(
            n > 0,
            "closed before the headers: {}",
            String::from_utf8_lossy(&got)
        );
        got.extend_from_slice(&buf[..n]);
    }
    let head = String::from_utf8_lossy(&got).to_lowercase();
    assert!(head.starts_with("http/1.1 200"), "{head}");
    assert!(head.contains("text/event-stream"), "{head}");
    sigterm(&child);
    // read_to_end fails with UnexpectedEof unless the server sent
    // close_notify: the connection was shut down, not dropped.
    s.read_to_end(&mut got)
        .expect("the stream ends with TLS close_notify");
    assert!(
        got.ends_with(b"0\r\n\r\n"),
        "the chunked body is finished: {:?}",
        String::from_utf8_lossy(&got)
    );
    let status = poll_until(T, || child.try_wait().unwrap()).unwrap_or_else(|| {
        let _ = child.kill();
        panic!("the console did not exit after SIGTERM")
    });
    assert!(status.success(), "{status}");
}
