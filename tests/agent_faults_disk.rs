//! Full disk (issue #15, item 7): a program whose log file cannot be
//! written keeps running, other programs' logs are unaffected, the agent
//! keeps serving, the process shows the log error in its status and in an
//! event, and capture resumes once space returns.

mod common;
use common::*;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

const T: Duration = Duration::from_secs(30);

/// The highest `tick N` in `text`.
fn last_tick(text: &str) -> Option<u64> {
    text.lines()
        .filter_map(|l| l.strip_prefix("tick ")?.trim().parse().ok())
        .max()
}

fn file_tick(path: &Path) -> Option<u64> {
    last_tick(&String::from_utf8_lossy(&std::fs::read(path).ok()?))
}

fn tail_tick(a: &Agent, name: &str) -> Option<u64> {
    let r = a.request("GET", &format!("/v1/processes/{name}/log?tail=4096"), "");
    assert_eq!(r.status, 200, "{}", r.text());
    last_tick(&r.text())
}

#[test]
fn a_log_on_dev_full_costs_only_the_file() {
    let a = Agent::start(
        r#"
[program.full]
command = "TESTPROG ticker 10"
startsecs = 0
stdout_logfile = "/dev/full"

[program.fine]
command = "TESTPROG ticker 10"
startsecs = 0
"#,
    );
    let full = a.wait_state("full", "RUNNING", T);
    let pid = full["pid"].as_i64().unwrap();
    let p = wait_for(T, "the log error in the status", || {
        a.find_process("full")
            .filter(|p| p["log_error"].is_string())
    });
    let err = p["log_error"].as_str().unwrap();
    assert!(err.contains("/dev/full"), "{p}");
    assert!(err.contains("No space left on device"), "{p}");
    assert!(
        p["description"].as_str().unwrap().contains(err),
        "the description says it too: {p}"
    );
    events_until(&a, T, "a log error event for full", |ev| {
        log_event(ev, "full:full", "No space left on device")
    });
    // The program keeps running and its output still reaches the tail.
    let seen = tail_tick(&a, "full").unwrap_or(0);
    wait_for(T, "full's tail to keep growing", || {
        (tail_tick(&a, "full")? > seen + 5).then_some(())
    });
    assert_eq!(a.state("full"), "RUNNING");
    assert_eq!(a.pid_of("full"), Some(pid as i32));
    // The other program's log is written as usual, and says nothing wrong.
    let fine_log = a.log_dir.join("fine.stdout.log");
    let before = wait_for(T, "fine's log file", || file_tick(&fine_log));
    wait_for(T, "fine's log to keep growing", || {
        (file_tick(&fine_log)? > before + 5).then_some(())
    });
    assert!(a.process("fine").get("log_error").is_none());
}

/// A tmpfs of 64 KiB mounted for the test; unmounted on drop (lazily: a
/// file the agent still holds open would otherwise keep it busy).
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(at: PathBuf) -> Tmpfs {
        std::fs::create_dir_all(&at).unwrap();
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=64k", "fleet-test"])
            .arg(&at)
            .output()
            .expect("run mount");
        assert!(
            out.status.success(),
            "mount -t tmpfs failed (the full-disk test needs root): {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Tmpfs(at)
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// Fill the filesystem holding `path` by writing `path` until it is full.
fn fill(path: &Path) {
    let mut f = std::fs::File::create(path).unwrap();
    let block = [0u8; 4096];
    loop {
        match f.write(&block) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) if e.raw_os_error() == Some(libc::ENOSPC) => break,
            Err(e) => panic!("filling {}: {e}", path.display()),
        }
    }
}

#[test]
fn a_full_filesystem_is_reported_and_capture_resumes_when_space_returns() {
    if !nix::unistd::geteuid().is_root() {
        // Mounting needs root; CI runs as root, so there this always runs.
        eprintln!("not root: cannot mount a tmpfs; the /dev/full test covers the rest");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mnt = dir.path().join("small");
    let disk = Tmpfs::mount(mnt.clone());
    let log = mnt.join("disk.log");
    // Declared after the mount: dropped (stopped) before it is unmounted.
    let a = Agent::start(&format!(
        r#"
[program.disk]
command = "TESTPROG ticker 5"
startsecs = 0
stdout_logfile = {log:?}

[program.other]
command = "TESTPROG ticker 5"
startsecs = 0
"#,
        log = log.display().to_string()
    ));
    let pid = a.wait_state("disk", "RUNNING", T)["pid"].as_i64().unwrap();
    wait_for(T, "disk's log to be written", || file_tick(&log));

    // No space left.
    let filler = mnt.join("filler");
    fill(&filler);
    let p = wait_for(T, "the log error in the status", || {
        a.find_process("disk")
            .filter(|p| p["log_error"].is_string())
    });
    let err = p["log_error"].as_str().unwrap();
    assert!(err.contains("No space left on device"), "{p}");
    assert!(err.contains(&log.display().to_string()), "{p}");
    events_until(&a, T, "a log error event for disk", |ev| {
        log_event(ev, "disk:disk", "No space left on device")
    });
    let stuck = file_tick(&log).unwrap();
    let seen = tail_tick(&a, "disk").unwrap();
    wait_for(
        T,
        "disk's tail to keep growing while the file cannot",
        || (tail_tick(&a, "disk")? > seen + 10).then_some(()),
    );
    assert!(
        file_tick(&log).unwrap() <= stuck + 1,
        "the file grew on a full disk"
    );
    assert_eq!(
        a.pid_of("disk"),
        Some(pid as i32),
        "the program was restarted"
    );
    assert_eq!(a.state("disk"), "RUNNING");
    let other_log = a.log_dir.join("other.stdout.log");
    let other = wait_for(T, "other's log file", || file_tick(&other_log));
    wait_for(T, "other's log to keep growing", || {
        (file_tick(&other_log)? > other + 10).then_some(())
    });
    assert!(a.process("other").get("log_error").is_none());

    // Space returns: the same file is written again, with ticks newer than
    // any seen while full, and the error is gone.
    std::fs::remove_file(&filler).unwrap();
    let newest = tail_tick(&a, "disk").unwrap();
    wait_for(T, "capture to resume in the file", || {
        (file_tick(&log)? > newest).then_some(())
    });
    wait_for(T, "the log error to clear", || {
        a.find_process("disk")
            .filter(|p| p.get("log_error").is_none())
    });
    events_until(&a, T, "a log recovered event for disk", |ev| {
        log_event(ev, "disk:disk", "writable again")
    });
    assert_eq!(a.pid_of("disk"), Some(pid as i32));
    drop(a);
    drop(disk);
}
