//! Agent self-registration: the enrollment token, persistence across a
//! console restart, refusal of a conflicting name, and a host that stops
//! heartbeating shown down (not forgotten).

mod common;
use common::console::*;
use common::*;
use std::time::Duration;

const T: Duration = Duration::from_secs(30);
const ENROLL: &str = "enroll-token-0123456789abcdef";

#[test]
fn registered_agents_are_followed_persisted_and_shown_down_when_silent() {
    let (_agent, port) = tcp_agent(
        "[program.worker]\ncommand = \"TESTPROG sleep\"\nnumprocs = 2\nprocess_name = \"w{num}\"\nstartsecs = 0\n[group.celery]\nprograms = [\"worker\"]\n",
    );
    let mut c = Console::start_with(
        "heartbeat_secs = 1\nstale_after_secs = 2\n",
        &format!("[enrollment]\ntoken = \"{ENROLL}\"\n"),
    );
    let reg = format!(
        r#"{{"name":"auto-01","url":"http://127.0.0.1:{port}","tags":{{"role":"worker"}},"version":"0.1.0","agent_token":"{AGENT_TOKEN}"}}"#
    );
    let r = c.request("POST", "/v1/agents/register", Some("wrong"), &reg);
    assert_eq!(r.status, 401, "{}", r.text());
    assert_eq!(
        c.request("POST", "/v1/agents/register", None, &reg).status,
        401
    );
    assert!(c.get("/v1/hosts")["hosts"].as_array().unwrap().is_empty());

    let r = c.request("POST", "/v1/agents/register", Some(ENROLL), &reg);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["heartbeat_secs"], 1);
    c.wait_running(2, T);
    let hosts = c.get("/v1/hosts");
    assert_eq!(hosts["hosts"][0]["source"], "registered");
    assert_eq!(hosts["hosts"][0]["tags"]["role"], "worker");
    assert_eq!(
        c.get("/v1/status?hosts=role=worker")["processes"]
            .as_array()
            .unwrap()
            .len(),
        2
    );

    // Same name, another agent token: refused, original untouched.
    let rogue = reg.replace(AGENT_TOKEN, "someone-else-entirely");
    let r = c.request("POST", "/v1/agents/register", Some(ENROLL), &rogue);
    assert_eq!(r.status, 409, "{}", r.text());
    // A heartbeat (same registration) is fine.
    assert_eq!(
        c.request("POST", "/v1/agents/register", Some(ENROLL), &reg)
            .status,
        200
    );

    // No more heartbeats: shown down after stale_after_secs, still listed.
    let h = wait_for(T, "auto-01 down for lack of heartbeat", || {
        let hosts = c.get("/v1/hosts");
        let h = hosts["hosts"][0].clone();
        (h["up"] == false).then_some(h)
    });
    assert!(h["error"].as_str().unwrap().contains("heartbeat"), "{h}");

    // Survives a console restart.
    c.stop();
    c.spawn();
    let hosts = c.get("/v1/hosts");
    assert_eq!(hosts["hosts"].as_array().unwrap().len(), 1, "{hosts}");
    assert_eq!(hosts["hosts"][0]["name"], "auto-01");
    assert_eq!(hosts["hosts"][0]["source"], "registered");
}
