//! No process outlives its program (issue #19): once a main process has
//! exited — stopped, restarted, crashed — what is left of its family gets
//! the stop signal, then SIGKILL after stopwaitsecs; `leftovers = "keep"`
//! keeps supervisord's behaviour; the agent exits with no child left.

mod common;
use common::*;
use nix::sys::signal::Signal;
use std::time::{Duration, Instant};

const T: Duration = Duration::from_secs(20);

const SHELL: &str = r#"
[program.sh]
command = ["sh", "-c", "echo hi; sleep 4242777"]
startsecs = 0
stopwaitsecs = 2
"#;

/// The `sleep` of the shell program: a tagged process other than the main.
fn sleeps(a: &Agent, main: i32) -> Vec<i32> {
    a.strays()
        .into_iter()
        .filter(|&p| p != main && cmdline(p).contains("4242777"))
        .collect()
}

fn cmdline(pid: i32) -> String {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|b| String::from_utf8_lossy(&b).replace('\0', " "))
        .unwrap_or_default()
}

/// The shell program running, and its `sleep`'s pid.
fn shell_running(a: &Agent) -> (i32, i32) {
    a.wait_state("sh", "RUNNING", T);
    let main = a.pid_of("sh").unwrap();
    let sleep = wait_for(T, "the shell's sleep", || sleeps(a, main).first().copied());
    (main, sleep)
}

/// The event stream's history so far, read until `needle` shows up.
fn events_with(a: &Agent, needle: &str) -> String {
    use std::io::{Read, Write};
    let mut s = std::os::unix::net::UnixStream::connect(&a.socket).unwrap();
    s.write_all(
        b"GET /v1/events HTTP/1.1\r\nHost: x\r\nConnection: close\r\nLast-Event-ID: 0\r\n\r\n",
    )
    .unwrap();
    s.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let mut raw = Vec::new();
    let mut buf = [0u8; 8192];
    wait_for(T, &format!("an event with {needle:?}"), || {
        if let Ok(n) = s.read(&mut buf) {
            raw.extend_from_slice(&buf[..n]);
        }
        let text = String::from_utf8_lossy(&raw).into_owned();
        text.contains(needle).then_some(text)
    })
}

#[test]
fn stopping_a_shell_stops_its_child() {
    let a = Agent::start(SHELL);
    let (_, sleep) = shell_running(&a);
    let r = a.post("/v1/processes/sh/stop", "");
    assert_eq!(r.json()["results"][0]["outcome"], "ok", "{}", r.text());
    // sleep dies on TERM: well before the SIGKILL that would follow.
    wait_for(Duration::from_secs(1), "the sleep to be stopped", || {
        (!alive(sleep)).then_some(())
    });
    assert!(a.strays().is_empty(), "strays: {:?}", a.strays());
    assert_eq!(a.process("sh")["leftovers"], 1);
    let ev = events_with(&a, "leftover process of pid");
    assert!(ev.contains(&format!("({sleep}) sent TERM")), "{ev}");
}

#[test]
fn restarting_a_shell_stops_the_old_child_and_keeps_the_new() {
    let a = Agent::start(SHELL);
    let (old_main, old_sleep) = shell_running(&a);
    let r = a.post("/v1/processes/sh/restart", "");
    assert_eq!(r.json()["results"][0]["outcome"], "ok", "{}", r.text());
    a.wait_state("sh", "RUNNING", T);
    let new_main = a.pid_of("sh").unwrap();
    assert_ne!(old_main, new_main);
    let new_sleep = wait_for(T, "the new sleep", || {
        sleeps(&a, new_main).into_iter().find(|&p| p != old_sleep)
    });
    wait_for(
        Duration::from_secs(1),
        "the old sleep to be stopped",
        || (!alive(old_sleep)).then_some(()),
    );
    assert!(alive(new_sleep));
    assert_eq!(a.process("sh")["leftovers"], 1);
}

#[test]
fn a_crashed_shells_child_is_stopped_and_the_restart_does_not_wait() {
    let a = Agent::start(
        r#"
[program.sh]
command = ["sh", "-c", "echo hi; sleep 4242777"]
startsecs = 0
autorestart = true
stopwaitsecs = 30
"#,
    );
    let (main, sleep) = shell_running(&a);
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(main), Signal::SIGKILL).unwrap();
    // Restarted at once, while the old sleep is still being stopped.
    let new_main = wait_for(T, "a new shell", || a.pid_of("sh").filter(|&p| p != main));
    wait_for(
        Duration::from_secs(2),
        "the old sleep to be stopped",
        || (!alive(sleep)).then_some(()),
    );
    let new = wait_for(T, "the new sleep", || sleeps(&a, new_main).first().copied());
    assert!(alive(new));
    assert_eq!(a.process("sh")["leftovers"], 1);
    assert_eq!(a.process("sh")["state"], "RUNNING");
}

#[test]
fn sigterm_leaves_no_shell_child_behind() {
    let mut a = Agent::start(SHELL);
    let (_, sleep) = shell_running(&a);
    let started = Instant::now();
    a.signal(Signal::SIGTERM);
    assert_eq!(a.wait_exit(T), Some(0), "{}", a.stderr());
    // Within the largest stopwaitsecs (2 s) plus a small constant.
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
    assert!(!alive(sleep), "the sleep outlived the agent");
    assert!(a.strays().is_empty(), "strays: {:?}", a.strays());
}

fn celery(pidfile: &std::path::Path, extra: &str) -> Agent {
    Agent::start(&format!(
        r#"
[program.celery]
command = ["TESTPROG", "celery", "3", "{}"]
startsecs = 0
stopwaitsecs = 1
{extra}
"#,
        pidfile.display()
    ))
}

#[test]
fn celery_stop_leaves_no_survivor_with_default_stop_settings() {
    let dir = tempfile::tempdir().unwrap();
    let pidfile = dir.path().join("pids");
    let a = celery(&pidfile, "");
    a.wait_state("celery", "RUNNING", T);
    let pids = read_pids(&pidfile);
    assert_eq!(pids.len(), 5, "main, 3 pool children, 1 task");
    let r = a.post("/v1/processes/celery/stop", "");
    assert_eq!(r.json()["results"][0]["outcome"], "ok", "{}", r.text());
    // The task ignores TERM: SIGKILL after stopwaitsecs (1 s) ends it.
    wait_for(Duration::from_secs(3), "no survivor", || {
        pids.iter().all(|&p| !alive(p)).then_some(())
    });
    assert!(a.strays().is_empty(), "strays: {:?}", a.strays());
    assert_eq!(a.process("celery")["leftovers"], 4);
    let ev = events_with(&a, "still running after the stop signal");
    assert!(ev.contains(&format!("({}) sent KILL", pids[4])), "{ev}");
    assert!(a.zombies().is_empty(), "zombies: {:?}", a.zombies());
}

#[test]
fn celery_restart_leaves_only_the_new_worker() {
    let dir = tempfile::tempdir().unwrap();
    let pidfile = dir.path().join("pids");
    let a = celery(&pidfile, "");
    a.wait_state("celery", "RUNNING", T);
    let old = read_pids(&pidfile);
    std::fs::remove_file(&pidfile).unwrap();
    let r = a.post("/v1/processes/celery/restart", "");
    assert_eq!(r.json()["results"][0]["outcome"], "ok", "{}", r.text());
    let new = read_pids(&pidfile);
    wait_for(
        Duration::from_secs(3),
        "the old worker's tree to be gone",
        || old.iter().all(|&p| !alive(p)).then_some(()),
    );
    assert!(new.iter().all(|&p| alive(p)));
    let mut strays = a.strays();
    strays.sort_unstable();
    let mut want = new.clone();
    want.sort_unstable();
    assert_eq!(strays, want, "only the new worker's tree runs");
}

#[test]
fn leftovers_keep_keeps_them_until_the_agent_stops() {
    let dir = tempfile::tempdir().unwrap();
    let pidfile = dir.path().join("pids");
    let mut a = celery(&pidfile, "leftovers = \"keep\"");
    a.wait_state("celery", "RUNNING", T);
    let pids = read_pids(&pidfile);
    let r = a.post("/v1/processes/celery/stop", "");
    assert_eq!(r.json()["results"][0]["outcome"], "ok", "{}", r.text());
    assert!(!alive(pids[0]));
    // Past the stopwaitsecs a hunt would have used: all still there.
    let watched = Instant::now();
    let gone = poll_until(Duration::from_secs(2), || {
        pids[1..].iter().any(|&p| !alive(p)).then_some(())
    });
    assert!(
        gone.is_none(),
        "a kept leftover died after {:?}",
        watched.elapsed()
    );
    assert_eq!(a.process("celery")["leftovers"], 0);
    // The agent still leaves no child behind when it exits.
    let started = Instant::now();
    a.signal(Signal::SIGTERM);
    assert_eq!(a.wait_exit(T), Some(0), "{}", a.stderr());
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
    assert!(pids.iter().all(|&p| !alive(p)), "survivors at exit");
    assert!(a.strays().is_empty(), "strays: {:?}", a.strays());
}

#[test]
fn an_orphan_of_no_program_is_stopped_at_shutdown() {
    // The program starts a daemon with a clean environment in its own
    // session, then keeps running: the daemon is re-parented to the agent
    // and belongs to no program.
    let mut a = Agent::start(
        r#"
[program.host]
command = ["sh", "-c", "env -i setsid sh -c 'sleep 4243777 &'; exec sleep 4243778"]
startsecs = 0
stopwaitsecs = 2
"#,
    );
    a.wait_state("host", "RUNNING", T);
    let agent = a.pid() as i32;
    let orphan = wait_for(T, "the orphan", || {
        all_pids()
            .into_iter()
            .find(|&p| ppid(p) == Some(agent) && cmdline(p).contains("4243777"))
    });
    let started = Instant::now();
    a.signal(Signal::SIGTERM);
    assert_eq!(a.wait_exit(T), Some(0), "{}", a.stderr());
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
    assert!(!alive(orphan), "the orphan outlived the agent");
}
