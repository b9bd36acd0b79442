//! The agent supervising real processes: start, exit handling, backoff,
//! FATAL, spawn failures, restart counts.

mod common;
use common::*;
use std::time::Duration;

const T: Duration = Duration::from_secs(20);

#[test]
fn starts_programs_and_reports_them_running() {
    let a = Agent::start(
        r#"
[program.web]
command = "TESTPROG sleep"
numprocs = 2
process_name = "{program}_{num:02}"
startsecs = 0
"#,
    );
    let p = a.wait_state("web:web_00", "RUNNING", T);
    assert!(p["pid"].as_i64().unwrap() > 0);
    a.wait_state("web:web_01", "RUNNING", T);
    let st = a.status();
    assert_eq!(st["processes"].as_array().unwrap().len(), 2);
    assert_eq!(st["version"], env!("CARGO_PKG_VERSION"));
}

#[test]
fn a_crash_after_startsecs_is_recorded_and_restarted() {
    let a = Agent::start(
        r#"
[program.crashy]
command = "TESTPROG exit 3 600"
startsecs = 0
autorestart = true
"#,
    );
    let p = wait_for(T, "a restart after the crash", || {
        let p = a.process("crashy");
        (p["restarts"].as_u64().unwrap() >= 1).then_some(p)
    });
    let exit = &p["exits"][0];
    assert_eq!(exit["kind"], "exited");
    assert_eq!(exit["code"], 3);
    assert_eq!(exit["expected"], false);
    assert_eq!(exit["stopped_by_us"], false);
}

#[test]
fn early_exits_back_off_then_go_fatal_with_growing_delays() {
    let a = Agent::start(
        r#"
[program.flap]
command = "TESTPROG exit 1"
startsecs = 1
startretries = 2
"#,
    );
    let p = a.wait_state("flap", "FATAL", T);
    // One first try and two retries, each exit recorded.
    let exits = p["exits"].as_array().unwrap();
    assert_eq!(exits.len(), 3, "{p}");
    assert_eq!(p["restarts"], 2);
    // supervisord's backoff: 1 s before the first retry, 2 s before the second.
    let at: Vec<u64> = exits.iter().map(|e| e["at"].as_u64().unwrap()).collect();
    assert!(at[1] - at[0] >= 1000, "{at:?}");
    assert!(at[2] - at[1] >= 2000, "{at:?}");
    assert!(at[2] - at[1] < 3500, "{at:?}");
    assert!(p["description"].as_str().unwrap().contains("exit"), "{p}");
}

#[test]
fn a_spawn_failure_is_a_state_with_a_reason_not_an_agent_crash() {
    let a = Agent::start(
        r#"
[program.missing]
command = "/nonexistent/bin/worker --flag"
startretries = 0

[program.baddir]
command = "TESTPROG sleep"
directory = "/nonexistent-dir"
startretries = 0

[program.fine]
command = "TESTPROG sleep"
startsecs = 0
"#,
    );
    let m = a.wait_state("missing", "FATAL", T);
    let d = m["description"].as_str().unwrap();
    assert!(d.contains("/nonexistent/bin/worker"), "{d}");
    assert_eq!(m["exit_status"]["kind"], "spawn_failed");
    let b = a.wait_state("baddir", "FATAL", T);
    let d = b["description"].as_str().unwrap();
    assert!(d.contains("/nonexistent-dir"), "{d}");
    a.wait_state("fine", "RUNNING", T);
    // The agent is alive and answers.
    assert_eq!(a.request("GET", "/healthz", "").status, 200);
    // A manual start of a FATAL process tries again (and fails again).
    let r = a.post("/v1/processes/missing/start", "");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["results"][0]["outcome"], "failed");
}

#[test]
fn autorestart_false_and_unexpected_follow_exitcodes() {
    let a = Agent::start(
        r#"
[program.once]
command = "TESTPROG exit 0 300"
startsecs = 0
autorestart = false

[program.expected]
command = "TESTPROG exit 2 300"
startsecs = 0
autorestart = "unexpected"
exitcodes = [0, 2]

[program.unexpected]
command = "TESTPROG exit 3 300"
startsecs = 0
autorestart = "unexpected"
exitcodes = [0, 2]
"#,
    );
    let once = a.wait_state("once", "EXITED", T);
    assert_eq!(once["exit_status"]["expected"], true);
    let e = a.wait_state("expected", "EXITED", T);
    assert_eq!(e["exit_status"]["code"], 2);
    wait_for(T, "the unexpected exit to be restarted", || {
        (a.process("unexpected")["restarts"].as_u64().unwrap() >= 1).then_some(())
    });
    // The others stayed down.
    assert_eq!(a.process("once")["restarts"], 0);
    assert_eq!(a.process("expected")["restarts"], 0);
    assert_eq!(a.state("once"), "EXITED");
}

#[test]
fn restart_spawns_a_new_pid_and_counts_it() {
    let a = Agent::start(
        r#"
[program.web]
command = "TESTPROG sleep"
startsecs = 0
"#,
    );
    let before = a.wait_state("web", "RUNNING", T)["pid"].as_i64().unwrap();
    let r = a.post("/v1/processes/web/restart", "");
    assert_eq!(r.status, 200, "{}", r.text());
    let res = &r.json()["results"][0];
    assert_eq!(res["outcome"], "ok");
    assert_eq!(res["state"], "RUNNING");
    let after = res["pid"].as_i64().unwrap();
    assert_ne!(before, after);
    assert!(!alive(before as i32));
    let p = a.process("web");
    assert_eq!(p["restarts"], 1);
    assert_eq!(p["exit_status"]["stopped_by_us"], true);
    assert_eq!(p["exit_status"]["signal"], "TERM");
}

#[test]
fn environment_directory_umask_and_user_are_applied() {
    if !nix::unistd::Uid::effective().is_root() {
        eprintln!("skipped: needs root to switch users");
        return;
    }
    let a = Agent::start(
        r#"
[program.envy]
command = "TESTPROG env GREETING FLEET_PROCESS_NAME HOME USER"
directory = "/tmp"
umask = "027"
user = "nobody"
environment = { GREETING = "hi {num}" }
startsecs = 0

[program.plain]
command = "sleep 1000"
startsecs = 0
"#,
    );
    let p = a.wait_state("envy", "RUNNING", T);
    let pid = p["pid"].as_i64().unwrap();
    let out = wait_for(T, "env output", || {
        let r = a.request("GET", "/v1/processes/envy/log", "");
        let t = r.text();
        t.contains("USER=").then_some(t)
    });
    assert!(out.contains("GREETING=hi 0\n"), "{out}");
    assert!(out.contains("FLEET_PROCESS_NAME=envy:envy\n"), "{out}");
    assert!(out.contains("USER=nobody\n"), "{out}");
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let nobody = nix::unistd::User::from_name("nobody").unwrap().unwrap();
    let uid_line = status.lines().find(|l| l.starts_with("Uid:")).unwrap();
    assert!(
        uid_line
            .split_whitespace()
            .skip(1)
            .all(|u| u == nobody.uid.to_string()),
        "{uid_line}"
    );
    // Programs start with no signal blocked or ignored, whatever the agent
    // blocks or ignores itself (SIGPIPE, at least). `sleep`, not testprog:
    // Rust programs ignore SIGPIPE themselves.
    let plain = a.wait_state("plain", "RUNNING", T)["pid"].as_i64().unwrap();
    let plain = std::fs::read_to_string(format!("/proc/{plain}/status")).unwrap();
    for key in ["SigBlk:", "SigIgn:"] {
        let line = plain.lines().find(|l| l.starts_with(key)).unwrap();
        assert!(line.ends_with("0000000000000000"), "{line}");
    }
    let umask_line = status.lines().find(|l| l.starts_with("Umask:")).unwrap();
    assert!(umask_line.ends_with("0027"), "{umask_line}");
    let cwd = std::fs::read_link(format!("/proc/{pid}/cwd")).unwrap();
    assert_eq!(cwd, std::path::Path::new("/tmp"));
    // The child shares the agent's memory until exec (CLONE_VM): switching
    // its credentials must not have switched any of the agent's threads.
    for task in std::fs::read_dir(format!("/proc/{}/task", a.pid())).unwrap() {
        let st = std::fs::read_to_string(task.unwrap().path().join("status")).unwrap();
        for key in ["Uid:", "Gid:"] {
            let line = st.lines().find(|l| l.starts_with(key)).unwrap();
            assert!(
                line.split_whitespace().skip(1).all(|u| u == "0"),
                "agent thread changed credentials: {line}"
            );
        }
    }
}

#[test]
fn a_log_file_that_cannot_be_opened_fails_that_program_only() {
    let dir = tempfile::tempdir().unwrap();
    // A regular file where a directory should be: the log cannot be created.
    let blocker = dir.path().join("not-a-dir");
    std::fs::write(&blocker, "").unwrap();
    let a = Agent::start(&format!(
        r#"
[program.badlog]
command = "TESTPROG sleep"
stdout_logfile = "{}/out.log"
startretries = 0

[program.fine]
command = "TESTPROG sleep"
startsecs = 0
"#,
        blocker.display()
    ));
    let p = a.wait_state("badlog", "FATAL", T);
    let d = p["description"].as_str().unwrap();
    assert!(d.contains("cannot open log file"), "{d}");
    assert!(d.contains("not-a-dir/out.log"), "{d}");
    a.wait_state("fine", "RUNNING", T);
    // Once the path is usable, a manual start works.
    std::fs::remove_file(&blocker).unwrap();
    std::fs::create_dir(&blocker).unwrap();
    let r = a.post("/v1/processes/badlog/start", "");
    assert_eq!(r.json()["results"][0]["outcome"], "ok", "{}", r.text());
    wait_for(T, "output in the new log file", || {
        std::fs::read_to_string(blocker.join("out.log"))
            .ok()
            .filter(|t| t.starts_with("ready"))
    });
}

/// `startretries = "infinite"`: a program that keeps failing to start
/// stays in BACKOFF for ever (never FATAL), each delay capped by
/// `backoff_max`, and the status says when the next attempt is due.
#[test]
fn infinite_retries_never_give_up_and_say_when_the_next_try_is() {
    let a = Agent::start(
        "[program.flaky]\ncommand = \"TESTPROG exit 1\"\nstartsecs = 5\nstartretries = \"infinite\"\n\
         backoff = \"exponential\"\nbackoff_max = 1\n",
    );
    // Past the default three retries, and past four with supervisord's
    // 1+2+3+4 s: the cap keeps each delay at 1 s.
    let p = wait_for(Duration::from_secs(30), "six retries", || {
        let p = a.process("flaky:flaky");
        assert_ne!(p["state"], "FATAL", "gave up: {p}");
        (p["restarts"].as_u64()? >= 6 && p["state"] == "BACKOFF").then_some(p)
    });
    let due = p["next_attempt_at"]
        .as_u64()
        .expect("next_attempt_at in BACKOFF");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    assert!(
        due + 100 >= now && due <= now + 1100,
        "due {due}, now {now}"
    );
    // A bad value is a config error naming the choices.
    let text = "[program.x]\ncommand = \"x\"\nstartretries = \"forever\"\n";
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.toml");
    std::fs::write(&path, text).unwrap();
    let out = std::process::Command::new(bin("fleet-agent"))
        .args(["check", path.to_str().unwrap()])
        .output()
        .unwrap();
    let err =
        String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success());
    assert!(
        err.contains("a.toml:3:16: program.x.startretries: expected a count or \"infinite\""),
        "{err}"
    );
}
