//! A real agent configured with `[agent] console = …` enrolls itself: the
//! console follows it with its tags and processes, and shows it down (still
//! listed) once it is killed.

mod common;
use common::console::*;
use common::*;
use std::time::Duration;

const T: Duration = Duration::from_secs(30);
const ENROLL: &str = "enroll-token-0123456789abcdef";

#[test]
fn an_agent_enrolls_itself_and_is_shown_down_when_killed() {
    let c = Console::start_with(
        "heartbeat_secs = 1\nstale_after_secs = 2\n",
        &format!("[enrollment]\ntoken = \"{ENROLL}\"\n"),
    );
    let mut agent = Agent::start_with(
        &format!(
            "{}tags = {{ role = \"worker\", dc = \"lab\" }}\n",
            enrolling_keys("self-01", c.port, ENROLL)
        ),
        "[program.worker]\ncommand = \"TESTPROG sleep\"\nnumprocs = 2\nprocess_name = \"w{num}\"\nstartsecs = 0\n[group.celery]\nprograms = [\"worker\"]\n",
    );

    let st = c.wait_running(2, T);
    let ps = st["processes"].as_array().unwrap();
    assert!(
        ps.iter()
            .all(|p| p["host"] == "self-01" && p["group"] == "celery"),
        "{st}"
    );
    let hosts = c.get("/v1/hosts");
    let h = &hosts["hosts"][0];
    assert_eq!(h["name"], "self-01", "{hosts}");
    assert_eq!(h["source"], "registered");
    assert_eq!(h["up"], true);
    assert_eq!(h["tags"]["role"], "worker");
    assert_eq!(h["tags"]["dc"], "lab");
    assert_eq!(
        c.get("/v1/status?hosts=role=worker")["processes"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    // The enrollment and agent tokens never show in the agent's log.
    let log = agent.stderr();
    assert!(log.contains("registered with the console"), "{log}");
    assert!(!log.contains(ENROLL) && !log.contains(AGENT_TOKEN), "{log}");

    // Killed outright: no more heartbeats or events → down, not forgotten.
    agent.signal(nix::sys::signal::Signal::SIGKILL);
    agent.wait_exit(T);
    let h = wait_for(T, "self-01 shown down", || {
        let hosts = c.get("/v1/hosts");
        let h = hosts["hosts"][0].clone();
        (h["up"] == false).then_some(h)
    });
    assert_eq!(h["name"], "self-01");
    assert_eq!(c.get("/v1/hosts")["hosts"].as_array().unwrap().len(), 1);
}

#[test]
fn a_wrong_enrollment_token_is_retried_and_registers_nothing() {
    let c = Console::start(&format!("[enrollment]\ntoken = \"{ENROLL}\"\n"));
    let agent = Agent::start_with(
        &enrolling_keys("rogue-01", c.port, "not-the-enrollment-token-0123"),
        "[program.a]\ncommand = \"TESTPROG sleep\"\nstartsecs = 0\n",
    );
    let log = wait_for(T, "the agent to log the refusal", || {
        let l = agent.stderr();
        l.contains("registration failed").then_some(l)
    });
    assert!(log.contains("401"), "{log}");
    assert!(!log.contains("not-the-enrollment-token-0123"), "{log}");
    assert!(c.get("/v1/hosts")["hosts"].as_array().unwrap().is_empty());
}
