//! The agent's HTTP contract: JSON errors with proper statuses for every bad
//! input (and nothing changed), the token on TCP, TLS, logs and metrics.

mod common;
use common::*;
use std::net::TcpStream;
use std::sync::Arc;
use std::time::Duration;

const T: Duration = Duration::from_secs(20);

const ONE: &str = r#"
[program.web]
command = "TESTPROG stderr hello-from-web"
startsecs = 0
"#;

#[test]
fn bad_requests_get_json_errors_and_change_nothing() {
    let a = Agent::start(ONE);
    let pid = a.wait_state("web", "RUNNING", T)["pid"].clone();
    let cases: &[(&str, &str, &str, u16, &str)] = &[
        ("POST", "/v1/processes/nope/stop", "", 404, "not_found"),
        ("POST", "/v1/processes/web/explode", "", 404, "not_found"),
        (
            "POST",
            "/v1/processes/web/signal",
            r#"{"signal":"NOPE"}"#,
            400,
            "bad_signal",
        ),
        ("POST", "/v1/processes/web/signal", "", 400, "bad_signal"),
        (
            "POST",
            "/v1/processes/web/stop",
            "{not json",
            400,
            "bad_request",
        ),
        (
            "POST",
            "/v1/processes/web/stop",
            r#"{"signal":"HUP"}"#,
            400,
            "bad_request",
        ),
        ("POST", "/v1/processes/a:b:c/stop", "", 400, "bad_selector"),
        (
            "GET",
            "/v1/processes/web/stop",
            "",
            405,
            "method_not_allowed",
        ),
        ("GET", "/v1/nothing", "", 404, "not_found"),
        ("GET", "/v1/processes/nope/log", "", 404, "not_found"),
        (
            "GET",
            "/v1/processes/web/log?stream=video",
            "",
            400,
            "bad_request",
        ),
        (
            "GET",
            "/v1/processes/web/log?tail=-1",
            "",
            400,
            "bad_request",
        ),
    ];
    for (method, path, body, status, code) in cases {
        let r = a.request(method, path, body);
        assert_eq!(r.status, *status, "{method} {path}: {}", r.text());
        let j = r.json();
        if *code != "method_not_allowed" {
            assert_eq!(j["error"]["code"], *code, "{method} {path}: {j}");
        }
        assert!(!j["error"]["message"].as_str().unwrap().is_empty());
    }
    // An oversized body is refused before it is read.
    let big = format!("{{\"signal\":\"{}\"}}", "x".repeat(100_000));
    let r = a.request("POST", "/v1/processes/web/signal", &big);
    assert_eq!(r.status, 413, "{}", r.text());
    // Nothing was touched.
    let p = a.process("web");
    assert_eq!(p["pid"], pid);
    assert_eq!(p["restarts"], 0);
}

#[test]
fn signal_reaches_the_process() {
    let a = Agent::start(
        r#"
[program.hup]
command = ["sh", "-c", "trap 'echo got-hup' HUP; echo ready; while :; do sleep 0.05; done"]
startsecs = 0
"#,
    );
    a.wait_state("hup", "RUNNING", T);
    wait_for(T, "ready", || {
        a.request("GET", "/v1/processes/hup/log", "")
            .text()
            .contains("ready")
            .then_some(())
    });
    let r = a.post("/v1/processes/hup/signal", r#"{"signal":"HUP"}"#);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["results"][0]["outcome"], "ok");
    wait_for(T, "the trap to run", || {
        a.request("GET", "/v1/processes/hup/log", "")
            .text()
            .contains("got-hup")
            .then_some(())
    });
    assert_eq!(a.state("hup"), "RUNNING");
}

#[test]
fn logs_by_stream_with_tail_and_metrics() {
    let a = Agent::start(ONE);
    a.wait_state("web", "RUNNING", T);
    wait_for(T, "stderr output", || {
        let r = a.request("GET", "/v1/processes/web/log?stream=stderr", "");
        (r.text() == "hello-from-web\n").then_some(())
    });
    let r = a.request("GET", "/v1/processes/web/log?stream=stdout&tail=5", "");
    assert_eq!(r.text(), "-web\n");
    // On disk under the agent's log dir by default.
    let on_disk = std::fs::read_to_string(a.log_dir.join("web.stderr.log")).unwrap();
    assert_eq!(on_disk, "hello-from-web\n");
    let m = a.request("GET", "/metrics", "").text();
    assert!(
        m.contains("fleet_agent_processes{state=\"RUNNING\"} 1"),
        "{m}"
    );
}

#[test]
fn tcp_requires_the_token() {
    let a = Agent::start_with(
        "listen = \"127.0.0.1:0\"\ntoken = \"s3cret-token-value-0123456\"",
        ONE,
    );
    // The socket appears only once TCP is served: no race here.
    let port = a.tcp_port();
    let get = |headers: &[(&str, &str)]| {
        let s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        http(s, "GET", "/v1/status", headers, b"").unwrap()
    };
    let r = get(&[]);
    assert_eq!(r.status, 401);
    assert_eq!(r.json()["error"]["code"], "unauthorized");
    assert_eq!(get(&[("Authorization", "Bearer wrong")]).status, 401);
    assert_eq!(
        get(&[("Authorization", "Bearer s3cret-token-value-0123456-x")]).status,
        401
    );
    let ok = get(&[("Authorization", "Bearer s3cret-token-value-0123456")]);
    assert_eq!(ok.status, 200);
    assert_eq!(ok.json()["processes"][0]["name"], "web:web");
    // The token never appears in the agent's own log.
    assert!(!a.stderr().contains("s3cret"), "{}", a.stderr());
}

/// Run the agent with `[agent]` `keys` in a fresh dir; it must exit 1.
/// Returns the dir (to inspect) and what it printed on stderr.
fn failed_start(keys: &str) -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("agent.toml");
    std::fs::write(
        &cfg,
        format!(
            "[agent]\nsocket = \"{}/a.sock\"\nlog_dir = \"{}/logs\"\n{keys}",
            dir.path().display(),
            dir.path().display(),
        ),
    )
    .unwrap();
    let out = std::process::Command::new(bin("fleet-agent"))
        .arg("--config")
        .arg(&cfg)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    (dir, String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn tcp_without_a_token_is_refused_at_start() {
    let (_dir, err) = failed_start("listen = \"0.0.0.0:0\"\n");
    assert!(err.contains("token"), "{err}");
}

#[test]
fn tls_serves_with_the_configured_certificate() {
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (crt, key) = (dir.path().join("agent.crt"), dir.path().join("agent.key"));
    std::fs::write(&crt, cert.cert.pem()).unwrap();
    std::fs::write(&key, cert.key_pair.serialize_pem()).unwrap();
    let a = Agent::start_with(
        &format!(
            "listen = \"127.0.0.1:0\"\ntoken = \"tls-token-0123456789abcdef\"\ntls_cert = {:?}\ntls_key = {:?}",
            crt.display().to_string(),
            key.display().to_string()
        ),
        ONE,
    );
    let port = a.tcp_port();
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert.cert.der().clone()).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let conn =
        rustls::ClientConnection::new(Arc::new(config), "localhost".try_into().unwrap()).unwrap();
    let tcp = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let tls = rustls::StreamOwned::new(conn, tcp);
    let r = http(
        tls,
        "GET",
        "/v1/status",
        &[("Authorization", "Bearer tls-token-0123456789abcdef")],
        b"",
    );
    // rustls reports a peer closing without close_notify as an error only
    // after the whole response has been read; accept both.
    let r = r.expect("TLS request");
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["processes"][0]["name"], "web:web");
    // Plain HTTP to the TLS port gets nowhere.
    let s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    assert!(http(s, "GET", "/v1/status", &[], b"")
        .map(|r| r.status != 200)
        .unwrap_or(true));
    drop(a);
}

/// The unix socket is the agent's "I am up" signal: an agent that cannot
/// bind its TCP port fails before any socket appears, and leaves no staged
/// socket file behind.
#[test]
fn no_socket_appears_when_a_listener_cannot_be_bound() {
    let (_held, port) = closed_port();
    let (dir, err) = failed_start(&format!(
        "listen = \"127.0.0.1:{port}\"\ntoken = \"t0k3n-value-0123456789abc\"\n"
    ));
    assert!(
        err.contains(&format!("cannot listen on 127.0.0.1:{port}")),
        "{err}"
    );
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("sock"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

/// Port 0 picks a free port; status reports the real one, and it answers
/// as soon as the socket exists.
#[test]
fn port_zero_is_reported_in_status() {
    let a = Agent::start_with(
        "listen = \"127.0.0.1:0\"\ntoken = \"t0k3n-value-0123456789abc\"",
        ONE,
    );
    let port = a.tcp_port();
    assert_ne!(port, 0);
    let s = TcpStream::connect(("127.0.0.1", port)).expect("bound before the socket appeared");
    let r = http(
        s,
        "GET",
        "/healthz",
        &[("Authorization", "Bearer t0k3n-value-0123456789abc")],
        b"",
    )
    .unwrap();
    assert_eq!(r.status, 200);
    assert!(
        a.stderr().contains(&format!("127.0.0.1:{port}")),
        "{}",
        a.stderr()
    );
}
