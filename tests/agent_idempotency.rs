//! `Idempotency-Key` on the agent's verbs: a repeat gets the first
//! answer, and the process is restarted once, never twice.

mod common;
use common::*;
use std::os::unix::net::UnixStream;
use std::time::Duration;

const PROG: &str = r#"
[program.web]
command = "TESTPROG sleep"
startsecs = 0
"#;

fn restart(a: &Agent, key: Option<&str>) -> Response {
    let s = UnixStream::connect(&a.socket).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let headers: Vec<(&str, &str)> = key
        .map(|k| vec![("Idempotency-Key", k)])
        .unwrap_or_default();
    http(s, "POST", "/v1/processes/web/restart", &headers, b"").unwrap()
}

#[test]
fn a_repeated_key_gets_the_first_answer_and_one_restart() {
    let a = Agent::start(PROG);
    a.wait_state("web", "RUNNING", Duration::from_secs(10));
    let before = a.pid_of("web");
    let first = restart(&a, Some("op-1/h-1/1"));
    assert_eq!(first.status, 200, "{}", first.text());
    let pid = first.json()["results"][0]["pid"].as_i64().map(|p| p as i32);
    assert!(pid.is_some() && pid != before, "{}", first.text());
    let again = restart(&a, Some("op-1/h-1/1"));
    assert_eq!(again.status, 200);
    assert_eq!(
        again.json(),
        first.json(),
        "a repeat answers with the first answer"
    );
    assert_eq!(a.pid_of("web"), pid, "restarted once, not twice");
    // Another key (the next fence) is another call.
    let other = restart(&a, Some("op-1/h-1/2"));
    assert_eq!(other.status, 200);
    assert_ne!(a.pid_of("web"), pid);
    // A malformed key is refused, nothing done.
    let now = a.pid_of("web");
    let bad = restart(&a, Some("has space"));
    assert_eq!(bad.status, 400, "{}", bad.text());
    assert!(bad.text().contains("Idempotency-Key"), "{}", bad.text());
    assert_eq!(a.pid_of("web"), now);
}

/// A caller that hangs up while its keyed restart is still waiting (a
/// console killed mid-call) does not cancel it: the repeat with the same
/// key gets the first call's answer, and the process restarted once.
#[test]
fn a_keyed_call_whose_caller_hung_up_is_not_done_twice() {
    let a = Agent::start("[program.web]\ncommand = \"TESTPROG sleep\"\nstartsecs = 1\n");
    let running = a.wait_state("web", "RUNNING", Duration::from_secs(10));
    let restarts = |a: &Agent| a.process("web")["restarts"].as_u64().unwrap();
    let before = (running["pid"].as_i64(), restarts(&a));
    let key = "op-2/h-1/1";
    let mut s = UnixStream::connect(&a.socket).unwrap();
    let req = format!(
        "POST /v1/processes/web/restart HTTP/1.1\r\nHost: agent\r\nIdempotency-Key: {key}\r\nContent-Length: 0\r\n\r\n"
    );
    std::io::Write::write_all(&mut s, req.as_bytes()).unwrap();
    // The restart is under way (a new spawn, STARTING for 1 s): hang up.
    wait_for(Duration::from_secs(10), "web STARTING again", || {
        let p = a.process("web");
        (p["state"] == "STARTING" && p["pid"].as_i64() != before.0).then_some(())
    });
    s.shutdown(std::net::Shutdown::Both).unwrap();
    drop(s);
    let again = restart(&a, Some(key));
    assert_eq!(again.status, 200, "{}", again.text());
    let pid = again.json()["results"][0]["pid"].as_i64();
    assert_eq!(a.process("web")["pid"].as_i64(), pid, "{}", again.text());
    assert_eq!(
        restarts(&a),
        before.1 + 1,
        "restarted twice: {}",
        again.text()
    );
}
