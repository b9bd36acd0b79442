//! T5 / issue #14 (log files follow symlinks): a log file swapped for a
//! symlink is refused at reopen (SIGUSR2), and the refusal is the
//! process's `log_error` and an event, not only a line in the agent's own
//! log; once the path is a regular file again (or gone), the next SIGUSR2
//! resumes capture there and clears the error.

mod common;
use common::*;
use serde_json::Value;
use std::path::Path;
use std::time::Duration;

const T: Duration = Duration::from_secs(30);

fn ticks(path: &Path) -> usize {
    std::fs::read_to_string(path)
        .map(|s| s.matches("tick").count())
        .unwrap_or(0)
}

fn log_error(a: &Agent) -> Option<String> {
    a.process("ticker")["log_error"].as_str().map(str::to_owned)
}

/// How many note events of the ticker have `needle` in their description.
fn count(events: &[Value], needle: &str) -> usize {
    events
        .iter()
        .filter(|e| {
            e["name"] == "ticker:ticker"
                && e["from"] == e["to"]
                && e["description"].as_str().unwrap_or("").contains(needle)
        })
        .count()
}

/// Swap the log for a link to `target` and send SIGUSR2: the refusal shows
/// in the status (naming the file) and as the `n`th refusal event, output
/// goes on to the file open before (now `moved`), and `target` is not
/// written.
fn swap_and_expect_refusal(a: &Agent, log: &Path, moved: &Path, target: &Path, n: usize) {
    std::fs::rename(log, moved).unwrap();
    std::os::unix::fs::symlink(target, log).unwrap();
    a.signal(nix::sys::signal::Signal::SIGUSR2);

    let e = wait_for(T, "the refused reopen in the status", || log_error(a));
    assert!(e.contains("cannot reopen log file"), "{e}");
    assert!(e.contains(&log.display().to_string()), "{e}");
    assert!(e.contains("is a symbolic link"), "{e}");
    let p = a.process("ticker");
    assert_eq!(p["state"], "RUNNING", "{p}");
    assert!(p["description"].as_str().unwrap().contains(&e), "{p}");

    events_until(a, T, "the refusal event", |ev| {
        count(ev, "is a symbolic link") >= n
    });

    let before = ticks(moved);
    wait_for(T, "more ticks in the file open before", || {
        (ticks(moved) > before).then_some(())
    });
    assert_eq!(std::fs::read_to_string(target).unwrap(), "untouched");
    // A second SIGUSR2 with the link still there keeps the error.
    a.signal(nix::sys::signal::Signal::SIGUSR2);
    let more = ticks(moved);
    wait_for(T, "ticks after the second SIGUSR2", || {
        (ticks(moved) > more).then_some(())
    });
    assert_eq!(log_error(a).as_deref(), Some(e.as_str()));
    assert_eq!(std::fs::read_to_string(target).unwrap(), "untouched");
}

/// After the link is gone, SIGUSR2 resumes capture at the path (the `n`th
/// recovery event) and the error clears.
fn expect_recovery(a: &Agent, log: &Path, n: usize) {
    a.signal(nix::sys::signal::Signal::SIGUSR2);
    wait_for(T, "the error to clear", || {
        log_error(a).is_none().then_some(())
    });
    events_until(a, T, "the recovery event", |ev| {
        count(ev, "capture resumed") >= n
    });
    wait_for(T, "ticks at the log path again", || {
        (ticks(log) > 0).then_some(())
    });
    assert!(log.symlink_metadata().unwrap().file_type().is_file());
}

#[test]
fn t5_a_refused_log_reopen_is_in_the_status_and_events_until_the_path_is_fixed() {
    let a = Agent::start(
        r#"
[program.ticker]
command = "/bin/sh -c 'while :; do echo tick; sleep 0.05; done'"
startsecs = 0
startretries = 0
"#,
    );
    let log = a.log_dir.join("ticker.stdout.log");
    wait_for(T, "ticks in the log", || (ticks(&log) > 0).then_some(()));
    assert_eq!(log_error(&a), None);
    // Outside the log dir, as a program would aim it at /etc/shadow.
    let secret = a.dir.path().join("secret");
    std::fs::write(&secret, "untouched").unwrap();
    assert!(!secret.starts_with(&a.log_dir));

    // The link replaced by a regular file.
    swap_and_expect_refusal(&a, &log, &a.log_dir.join("moved.1"), &secret, 1);
    std::fs::remove_file(&log).unwrap();
    std::fs::write(&log, "").unwrap();
    expect_recovery(&a, &log, 1);

    // The link removed: the reopen creates the file.
    swap_and_expect_refusal(&a, &log, &a.log_dir.join("moved.2"), &secret, 2);
    std::fs::remove_file(&log).unwrap();
    expect_recovery(&a, &log, 2);
    assert_eq!(std::fs::read_to_string(&secret).unwrap(), "untouched");
}
