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

#[test]
fn the_console_serves_tls_when_configured() {
    let pki = pki();
    let dir = tempfile::tempdir().unwrap();
    let crt = write(dir.path(), "console.crt", &pki.leaf.pem());
    let key = write(dir.path(), "console.key", &pki.leaf_key.serialize_pem());
    let cfg = write(
        dir.path(),
        "console.toml",
        &format!(
            "[console]\nlisten = \"127.0.0.1:0\"\ndata_dir = {:?}\ntls_cert = {crt:?}\ntls_key = {key:?}\n\n\
             [[tokens]]\nname = \"ops\"\ntoken = \"{OPERATOR}\"\nrole = \"operator\"\n",
            dir.path().join("data").display().to_string()
        ),
    );
    let log = dir.path().join("console.stderr");
    let mut child = std::process::Command::new(bin("fleet-console"))
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
    let get = |path: &str| -> Option<Response> {
        let conn =
            rustls::ClientConnection::new(config.clone(), "localhost".try_into().unwrap()).unwrap();
        let tcp = TcpStream::connect(("127.0.0.1", port)).ok()?;
        let auth = format!("Bearer {OPERATOR}");
        http(
            rustls::StreamOwned::new(conn, tcp),
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
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let _ = child.wait();
}
