//! Event listeners carried across an in-place re-exec (issue #28): two
//! fixture listeners (`tests/fixtures/listener.py`) keep their pids and
//! pipes; one records every PROCESS_STATE event of a crash loop that goes
//! on through the re-exec, of a program that exits inside the window
//! (killed once the agent tells a fake NOTIFY_SOCKET it is reloading) and
//! of a program stopped right after it answers, the
//! other is BUSY with an event at the moment of the exec (it answers only
//! once a file exists) while two more wait in its pool. Every event
//! reaches its listener exactly once, in order, serials with no gap; the
//! BUSY one is answered to the new image and counted once; the status
//! counters go on. The same when the new image fails to resume and the
//! old one takes over again, and when the exec itself fails (the old
//! image restarts its links on the pipes they handed back). A binary
//! whose state format does not carry listeners is refused while one runs.

mod common;
use common::listen::{listener, recorded, reexec, remote, wait_listener, wait_recorded};
use common::*;
use serde_json::Value;
use std::os::unix::net::UnixDatagram;
use std::time::Duration;

const T: Duration = Duration::from_secs(30);

fn num(v: &Value) -> u64 {
    v.as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not a number: {v}"))
}

/// Each event exactly once, in order: pool serials 0, 1, 2 ... with no
/// gap or repeat, agent-wide serials rising, all to the one process.
fn exactly_once_in_order(r: &[Value], pid: i32) {
    let mut last = None;
    for (i, e) in r.iter().enumerate() {
        let h = &e["headers"];
        assert_eq!(num(&h["poolserial"]), i as u64, "event {i}: {e}");
        let serial = num(&h["serial"]);
        assert!(
            last.is_none_or(|l| serial > l),
            "serial {serial} after {last:?}"
        );
        last = Some(serial);
        assert_eq!(e["pid"], pid, "{e}");
    }
}

/// How the re-exec ends.
#[derive(Clone, Copy, PartialEq)]
enum Fail {
    No,
    /// The new image cannot resume: the old one is exec'd again.
    Resume,
    /// The exec fails: the old image never left.
    Exec,
}

fn carried_across(fail: Fail) {
    let dir = tempfile::tempdir().unwrap();
    let rec = dir.path().join("rec.jsonl");
    let held = dir.path().join("held.jsonl");
    let fail_file = dir.path().join("fail");
    let notify_path = dir.path().join("notify.sock");
    let notify = UnixDatagram::bind(&notify_path).unwrap();
    notify.set_read_timeout(Some(T)).unwrap();
    let recv = move || {
        let mut buf = [0u8; 256];
        let n = notify.recv(&mut buf).expect("a notification");
        String::from_utf8_lossy(&buf[..n]).into_owned()
    };
    let script = common::listen::fixture_listener();
    let a = Agent::start_as(
        "",
        &format!(
            r#"
[program.crasher]
command = "TESTPROG exit 1 150"
startsecs = 0
autorestart = true

[program.idle]
command = "TESTPROG sleep"
startsecs = 0

[program.brief]
command = "TESTPROG sleep"
startsecs = 0
autorestart = false

[eventlistener.rec]
command = "python3 {script} {rec}"
events = ["PROCESS_STATE"]
buffer_size = 10000

[eventlistener.held]
command = "python3 {script} {held} hold"
events = ["REMOTE_COMMUNICATION"]
buffer_size = 10
"#,
            rec = rec.display(),
            held = held.display()
        ),
        |c| {
            let var = match fail {
                Fail::Exec => "FLEET_TEST_FAIL_EXEC",
                _ => "FLEET_TEST_FAIL_RESUME",
            };
            c.env(var, &fail_file).env("NOTIFY_SOCKET", &notify_path);
        },
    );
    assert!(recv().starts_with("READY=1"));
    a.wait_state("idle", "RUNNING", T);
    let brief = a.wait_state("brief", "RUNNING", T)["pid"].as_i64().unwrap();
    wait_listener(&a, "held", "READY");
    // `held` takes event 1 and keeps it; 2 and 3 wait in its pool.
    remote(&a, "t", "1");
    wait_listener(&a, "held", "BUSY");
    remote(&a, "t", "2");
    remote(&a, "t", "3");
    wait_for(T, "two events queued for held", || {
        (listener(&a, "held")["buffered"] == 2).then_some(())
    });
    wait_recorded(&held, "held has event 1", |r| r.len() == 1);
    let handled_before = wait_for(T, "rec handling the crash loop", || {
        let n = listener(&a, "rec")["handled"].as_u64()?;
        (n >= 10).then_some(n)
    });
    let (rec_pid, held_pid) = (a.pid_of("rec").unwrap(), a.pid_of("held").unwrap());

    if fail != Fail::No {
        std::fs::write(&fail_file, "").unwrap();
    }
    // `brief` exits inside the window: once the agent has said it is
    // reloading, with everything handed over.
    let killer = std::thread::spawn(move || {
        let said = recv();
        let pid = nix::unistd::Pid::from_raw(brief as i32);
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL).unwrap();
        said
    });
    let r = reexec(&a, "");
    assert_eq!(killer.join().unwrap(), "RELOADING=1");
    match fail {
        Fail::No => {
            assert_eq!(r["ok"]["pid"], a.pid(), "{r}");
            eprintln!(
                "re-exec with two listeners (one BUSY, two events queued) took {} ms",
                r["ok"]["took_ms"]
            );
        }
        Fail::Resume => {
            let err = r["error"].as_str().unwrap_or_default();
            assert!(err.starts_with("resume: "), "{r}");
        }
        Fail::Exec => {
            let err = r["error"]["message"].as_str().unwrap_or_default();
            assert!(err.starts_with("exec: "), "{r}");
        }
    }
    // A program stopped right after the re-exec answers.
    let stop = a.post("/v1/processes/idle/stop", "");
    assert_eq!(stop.status, 200, "{}", stop.text());
    assert_eq!(a.status()["pid"], a.pid());
    assert_eq!(a.pid_of("rec"), Some(rec_pid));
    assert_eq!(a.pid_of("held"), Some(held_pid));

    // `held` is still BUSY with event 1, its pool still holds 2 and 3.
    let l = listener(&a, "held");
    assert_eq!(
        (
            l["state"].as_str(),
            l["buffered"].as_u64(),
            l["handled"].as_u64()
        ),
        (Some("BUSY"), Some(2), Some(0)),
        "{l}"
    );
    std::fs::write(dir.path().join("held.jsonl.go"), "").unwrap();
    let l = wait_for(T, "held answered all three", || {
        let l = listener(&a, "held");
        (l["handled"] == 3 && l["state"] == "READY").then_some(l)
    });
    assert_eq!(
        (l["rejected"].as_u64(), l["dropped"].as_u64()),
        (Some(0), Some(0))
    );
    let r = recorded(&held);
    assert_eq!(r.len(), 3, "each once: {r:#?}");
    exactly_once_in_order(&r, held_pid);
    let payloads: Vec<&str> = r.iter().map(|e| e["payload"].as_str().unwrap()).collect();
    assert_eq!(payloads, ["type:t\n1", "type:t\n2", "type:t\n3"]);

    // `rec` hears idle's stop, and the crash loop after the re-exec.
    let is = |e: &Value, name: &str, who: &str| {
        e["headers"]["eventname"] == name
            && e["payload"]
                .as_str()
                .is_some_and(|p| p.starts_with(&format!("processname:{who} ")))
    };
    let n_before = recorded(&rec).len();
    wait_recorded(
        &rec,
        "idle STOPPED, brief EXITED, more of the crash loop",
        |r| {
            r.iter().any(|e| is(e, "PROCESS_STATE_STOPPED", "idle"))
                && r.iter().any(|e| is(e, "PROCESS_STATE_EXITED", "brief"))
                && r[n_before..]
                    .iter()
                    .filter(|e| is(e, "PROCESS_STATE_EXITED", "crasher"))
                    .count()
                    >= 3
        },
    );
    assert_eq!(a.post("/v1/processes/crasher/stop", "").status, 200);
    a.wait_state("crasher", "STOPPED", T);
    let l = wait_for(T, "rec has handled every event", || {
        let l = listener(&a, "rec");
        let n = recorded(&rec).len() as u64;
        (l["buffered"] == 0 && l["state"] == "READY" && l["handled"] == n).then_some(l)
    });
    assert!(l["handled"].as_u64().unwrap() > handled_before, "{l}");
    assert_eq!(
        (l["rejected"].as_u64(), l["dropped"].as_u64()),
        (Some(0), Some(0))
    );
    let r = recorded(&rec);
    exactly_once_in_order(&r, rec_pid);
    assert!(
        is(r.last().unwrap(), "PROCESS_STATE_STOPPED", "crasher"),
        "{:#?}",
        r.last()
    );
    let stopped = r
        .iter()
        .filter(|e| is(e, "PROCESS_STATE_STOPPED", "idle"))
        .count();
    assert_eq!(stopped, 1);
    let exits: Vec<&Value> = r
        .iter()
        .filter(|e| is(e, "PROCESS_STATE_EXITED", "brief"))
        .collect();
    assert_eq!(exits.len(), 1, "seen once: {exits:#?}");
    assert!(
        exits[0]["payload"]
            .as_str()
            .unwrap()
            .ends_with(&format!("expected:0 pid:{brief}")),
        "{exits:#?}"
    );
}

#[test]
fn listeners_keep_their_pids_pipes_and_every_event_across_a_reexec() {
    carried_across(Fail::No);
}

#[test]
fn listeners_go_on_in_the_old_image_when_the_new_one_fails_to_resume() {
    carried_across(Fail::Resume);
}

#[test]
fn listeners_go_on_in_the_old_image_when_the_exec_fails() {
    carried_across(Fail::Exec);
}

#[test]
fn a_binary_that_does_not_carry_listeners_is_refused_while_one_runs() {
    let dir = tempfile::tempdir().unwrap();
    let rec = dir.path().join("rec.jsonl");
    let a = Agent::start(&format!(
        r#"
[eventlistener.rec]
command = "python3 {script} {rec}"
events = ["REMOTE_COMMUNICATION"]
"#,
        script = common::listen::fixture_listener(),
        rec = rec.display()
    ));
    wait_listener(&a, "rec", "READY");
    let pid = a.pid_of("rec");
    // An agent of state format 1.0, as `--check-resume` answers.
    let old = dir.path().join("fleet-agent-1.0");
    std::fs::write(&old, "#!/bin/sh\necho 'yes 1.0 0.0.0-old'\n").unwrap();
    std::fs::set_permissions(&old, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let r = reexec(&a, &format!("\"binary\":{old:?}"));
    let msg = r["error"]["message"].as_str().unwrap_or_default();
    assert!(
        msg.starts_with("check-resume: ") && msg.contains("does not carry event listeners"),
        "{r}"
    );
    assert_eq!(a.status()["pid"], a.pid());
    assert_eq!(a.pid_of("rec"), pid);
    // Its link was never stopped: an event goes out.
    remote(&a, "t", "after");
    wait_recorded(&rec, "the event", |r| r.len() == 1);
}
