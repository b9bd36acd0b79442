//! Reload (POST /v1/reload and SIGHUP): a bad config changes nothing; a good
//! one starts added, restarts changed and stops removed programs only.

mod common;
use common::*;
use std::time::Duration;

const T: Duration = Duration::from_secs(20);

const BEFORE: &str = r#"
[program.keep]
command = "TESTPROG sleep"
startsecs = 0

[program.change]
command = "TESTPROG sleep"
startsecs = 0

[program.remove]
command = "TESTPROG sleep"
startsecs = 0

[program.parked]
command = "TESTPROG sleep"
startsecs = 0
"#;

fn running(a: &Agent) -> Vec<(String, i32)> {
    let mut v: Vec<(String, i32)> = a.status()["processes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["state"] == "RUNNING")
        .map(|p| {
            (
                p["name"].as_str().unwrap().to_string(),
                p["pid"].as_i64().unwrap() as i32,
            )
        })
        .collect();
    v.sort();
    v
}

#[test]
fn a_config_that_fails_is_refused_and_nothing_running_is_touched() {
    let a = Agent::start(BEFORE);
    for n in ["keep", "change", "remove", "parked"] {
        a.wait_state(n, "RUNNING", T);
    }
    let before = running(&a);
    a.write_config("[program.keep]\ncommand = \"TESTPROG sleep\"\nstartsecs = \"soon\"\n");
    let r = a.post("/v1/reload", "");
    assert_eq!(r.status, 400, "{}", r.text());
    let e = r.json();
    assert_eq!(e["error"]["code"], "config_invalid");
    let msg = e["error"]["message"].as_str().unwrap();
    assert!(
        msg.contains("agent.toml:7:13: program.keep.startsecs"),
        "{msg}"
    );
    assert!(msg.contains("startsecs"), "{msg}");
    assert_eq!(running(&a), before);
    // SIGHUP with the same bad file: logged, refused, nothing touched.
    a.signal(nix::sys::signal::Signal::SIGHUP);
    wait_for(T, "the refused SIGHUP reload in the log", || {
        a.stderr().contains("startsecs").then_some(())
    });
    assert_eq!(running(&a), before);
}

#[test]
fn a_good_config_adds_changes_and_removes_only_what_differs() {
    let a = Agent::start(BEFORE);
    for n in ["keep", "change", "remove", "parked"] {
        a.wait_state(n, "RUNNING", T);
    }
    // An operator stops `parked`; a reload must not start it again.
    let r = a.post("/v1/processes/parked/stop", "");
    assert_eq!(r.status, 200);
    let keep = a.pid_of("keep").unwrap();
    let change = a.pid_of("change").unwrap();
    let remove = a.pid_of("remove").unwrap();
    a.write_config(
        r#"
[program.keep]
command = "TESTPROG sleep"
startsecs = 0

[program.change]
command = "TESTPROG sleep"
startsecs = 0
environment = { NEW = "1" }

[program.parked]
command = "TESTPROG sleep"
startsecs = 0

[program.added]
command = "TESTPROG sleep"
startsecs = 0
"#,
    );
    let r = a.post("/v1/reload", "");
    assert_eq!(r.status, 200, "{}", r.text());
    let body = r.json();
    assert_eq!(body["added"], serde_json::json!(["added"]));
    assert_eq!(body["changed"], serde_json::json!(["change"]));
    assert_eq!(body["removed"], serde_json::json!(["remove"]));
    assert_eq!(body["unchanged"], serde_json::json!(["keep", "parked"]));
    a.wait_state("added", "RUNNING", T);
    let new_change = wait_for(T, "change to restart", || {
        let p = a.process("change");
        (p["state"] == "RUNNING" && p["pid"] != change).then_some(p["pid"].as_i64().unwrap())
    });
    assert_ne!(new_change as i32, change);
    assert_eq!(
        a.pid_of("keep"),
        Some(keep),
        "unchanged program was touched"
    );
    wait_for(T, "removed program to disappear", || {
        let st = a.status();
        let gone = !st["processes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["program"] == "remove");
        gone.then_some(())
    });
    assert!(!alive(remove));
    assert_eq!(a.state("parked"), "STOPPED");
}

#[test]
fn sighup_reloads_too() {
    let a = Agent::start("[program.one]\ncommand = \"TESTPROG sleep\"\nstartsecs = 0\n");
    a.wait_state("one", "RUNNING", T);
    a.write_config(
        "[program.one]\ncommand = \"TESTPROG sleep\"\nstartsecs = 0\n\
         [program.two]\ncommand = \"TESTPROG sleep\"\nstartsecs = 0\n",
    );
    a.signal(nix::sys::signal::Signal::SIGHUP);
    a.wait_state("two", "RUNNING", T);
}
