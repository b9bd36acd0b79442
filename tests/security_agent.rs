//! Issue #23: the agent's small hardening items, attacked end to end
//! against the real binary — supervisord's face refuses what a browser
//! could send, authentication schemes are case-insensitive, and a resume
//! from the largest event id is not a false gap.

mod common;
use common::*;
use std::net::TcpStream;
use std::time::Duration;

const T: Duration = Duration::from_secs(20);
const TOKEN: &str = "agent-sec-token-0123456789abcdefXYZ";

fn agent() -> Agent {
    Agent::start_with(
        &format!("listen = \"127.0.0.1:0\"\ntoken = \"{TOKEN}\"\n"),
        "[program.web]\ncommand = \"TESTPROG sleep\"\nstartsecs = 0\n",
    )
}

fn basic(scheme: &str) -> String {
    format!("{scheme} {}", base64(format!("user:{TOKEN}").as_bytes()))
}

fn tcp(a: &Agent, method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> Response {
    let s = TcpStream::connect(("127.0.0.1", a.tcp_port())).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    http(s, method, path, headers, body.as_bytes()).unwrap()
}

fn call(method: &str, arg: &str) -> String {
    format!(
        "<?xml version=\"1.0\"?><methodCall><methodName>{method}</methodName>\
         <params><param><value><string>{arg}</string></value></param></params></methodCall>"
    )
}

/// T10b / issue #23 item 4: a cross-origin "simple" POST to /RPC2 carrying
/// valid Basic credentials (what a browser replays for a page elsewhere)
/// is refused and does nothing; so is any request with an Origin, or one
/// that is not text/xml. supervisorctl's shape (text/xml, no Origin) passes.
#[test]
fn t23_rpc2_refuses_what_a_browser_could_send_and_does_nothing() {
    let a = agent();
    a.wait_state("web", "RUNNING", T);
    let pid = a.pid_of("web").unwrap();
    let auth = basic("Basic");
    let stop = call("supervisor.stopProcess", "web");
    for headers in [
        vec![
            ("Authorization", auth.as_str()),
            ("Content-Type", "text/plain"),
            ("Origin", "http://evil.example"),
        ],
        vec![
            ("Authorization", auth.as_str()),
            ("Content-Type", "text/plain"),
        ],
        vec![
            ("Authorization", auth.as_str()),
            ("Content-Type", "text/xml"),
            ("Origin", "http://evil.example"),
        ],
        vec![
            ("Authorization", auth.as_str()),
            ("Content-Type", "application/x-www-form-urlencoded"),
        ],
    ] {
        let r = tcp(&a, "POST", "/RPC2", &headers, &stop);
        assert_eq!(r.status, 403, "{headers:?}: {}", r.text());
    }
    assert_eq!(a.state("web"), "RUNNING");
    assert_eq!(
        a.pid_of("web"),
        Some(pid),
        "a refused call stopped the process"
    );
    // The supervisorctl shape is served.
    let r = tcp(
        &a,
        "POST",
        "/RPC2",
        &[
            ("Authorization", auth.as_str()),
            ("Content-Type", "text/xml"),
        ],
        &call("supervisor.getProcessInfo", "web"),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.text().contains("RUNNING"), "{}", r.text());
}

/// Issue #23 item 4: authentication schemes are case-insensitive (RFC 9110
/// §11.1): `bearer`, `BEARER`, `basic`, `BASIC` are what they say; a wrong
/// token under any spelling is still refused.
#[test]
fn t23_auth_schemes_are_case_insensitive() {
    let a = agent();
    for scheme in ["Bearer", "bearer", "BEARER", "bEaReR"] {
        let h = format!("{scheme} {TOKEN}");
        let r = tcp(
            &a,
            "GET",
            "/v1/status",
            &[("Authorization", h.as_str())],
            "",
        );
        assert_eq!(r.status, 200, "{scheme}: {}", r.text());
        let wrong = format!("{scheme} not-the-token-0123456789abcdef");
        let r = tcp(
            &a,
            "GET",
            "/v1/status",
            &[("Authorization", wrong.as_str())],
            "",
        );
        assert_eq!(r.status, 401, "{scheme} with a wrong token: {}", r.text());
    }
    for scheme in ["Basic", "basic", "BASIC"] {
        let h = basic(scheme);
        let r = tcp(
            &a,
            "POST",
            "/RPC2",
            &[("Authorization", h.as_str()), ("Content-Type", "text/xml")],
            &call("supervisor.getProcessInfo", "web"),
        );
        assert_eq!(r.status, 200, "{scheme}: {}", r.text());
    }
}

/// Issue #23 item 4: `Last-Event-ID: 18446744073709551615` (u64::MAX) is
/// "seen everything", not a wrapped id that reports a false gap; the next
/// real event still arrives.
#[test]
fn t23_the_largest_last_event_id_is_no_false_gap() {
    let a = agent();
    a.wait_state("web", "RUNNING", T);
    let mut s = std::os::unix::net::UnixStream::connect(&a.socket).unwrap();
    s.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    use std::io::Write;
    write!(
        s,
        "GET /v1/events HTTP/1.1\r\nHost: localhost\r\nLast-Event-ID: 18446744073709551615\r\n\r\n"
    )
    .unwrap();
    let head = read_stream_until(&mut s, T, "the stream's headers", |t| {
        t.contains("\r\n\r\n")
    });
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let r = a.post("/v1/processes/web/restart", "");
    assert_eq!(r.status, 200, "{}", r.text());
    let text = read_stream_until(&mut s, T, "the restart's events", |t| {
        t.contains("event: state") && t.contains("\"RUNNING\"")
    });
    assert!(!text.contains("event: gap"), "a false gap: {text}");
}
