//! Issue #23 item 1: one way to read a log file, for every face. A program
//! that owns its log directory can swap its log for a symlink, a FIFO or
//! `/dev/zero`; supervisord's face (XML-RPC read/tail/clear) must refuse
//! each, never block the agent, and cap every answer — per call and per
//! `system.multicall` request. Real agent, real programs, real XML-RPC.

mod common;
use common::*;
use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, Instant};

const T: Duration = Duration::from_secs(30);
/// `logs::read::CALL_MAX` and `REQUEST_MAX`, as documented.
const CALL_MAX: usize = 1 << 20;
const REQUEST_MAX: usize = 4 << 20;

fn s(v: &str) -> String {
    format!("<string>{v}</string>")
}

fn i(v: i64) -> String {
    format!("<int>{v}</int>")
}

fn hwm_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

/// A directory world-traversable, with `logs/` owned by `nobody`.
fn nobody_dir() -> (tempfile::TempDir, std::path::PathBuf) {
    let d = tempfile::tempdir().unwrap();
    std::fs::set_permissions(d.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let logs = d.path().join("logs");
    std::fs::create_dir(&logs).unwrap();
    let nobody = nix::unistd::User::from_name("nobody").unwrap().unwrap();
    nix::unistd::chown(&logs, Some(nobody.uid), Some(nobody.gid)).unwrap();
    (d, logs)
}

/// T5b: a program running as `nobody` swaps its own log for a symlink to a
/// root-only file. readProcessStdoutLog, tailProcessStdoutLog and
/// clearProcessLogs all refuse it; the file's content is intact.
#[test]
fn t23_xmlrpc_log_methods_never_follow_a_swapped_symlink() {
    let (d, logs) = nobody_dir();
    let secret = d.path().join("root-only");
    std::fs::write(&secret, "TOPSECRET-root-only-content\n").unwrap();
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).unwrap();
    let log = logs.join("evil.log");
    let a = Agent::start(&format!(
        "[program.evil]\nuser = \"nobody\"\nstdout_logfile = {log:?}\nstartsecs = 0\n\
         command = \"/bin/sh -c 'echo hello; sleep 0.2; rm -f {l}; ln -s {sec} {l}; touch {l}.swapped; exec sleep 1000'\"\n",
        l = log.display(),
        sec = secret.display(),
    ));
    wait_for(T, "the program to swap its log", || {
        log.with_extension("log.swapped").exists().then_some(())
    });
    assert!(std::fs::symlink_metadata(&log)
        .unwrap()
        .file_type()
        .is_symlink());
    for (method, params) in [
        (
            "supervisor.readProcessStdoutLog",
            vec![s("evil"), i(0), i(0)],
        ),
        (
            "supervisor.readProcessStdoutLog",
            vec![s("evil"), i(-100), i(0)],
        ),
        (
            "supervisor.tailProcessStdoutLog",
            vec![s("evil"), i(0), i(100)],
        ),
        ("supervisor.clearProcessLogs", vec![s("evil")]),
    ] {
        let answer = a.xmlrpc(method, &params);
        assert!(!answer.contains("TOPSECRET"), "{method}: {answer}");
        if method != "supervisor.tailProcessStdoutLog" {
            assert!(answer.contains("<fault>"), "{method}: {answer}");
        }
    }
    assert_eq!(
        std::fs::read_to_string(&secret).unwrap(),
        "TOPSECRET-root-only-content\n",
        "the target was changed"
    );
}

/// A FIFO swapped in for a log: a read is refused at once (the open does
/// not block, the fd is not a regular file) and the agent keeps serving —
/// its API answers within a second and another program's output keeps
/// reaching its tail.
#[test]
fn t23_a_fifo_log_never_freezes_the_agent() {
    let d = tempfile::tempdir().unwrap();
    let log = d.path().join("fifo.log");
    let a = Agent::start(&format!(
        "[program.fifo]\nstdout_logfile = {log:?}\nstartsecs = 0\n\
         command = \"/bin/sh -c 'echo x; sleep 0.2; rm -f {l}; mkfifo {l}; touch {l}.swapped; exec sleep 1000'\"\n\
         [program.ticker]\nstartsecs = 0\ncommand = \"/bin/sh -c 'while :; do echo tick; sleep 0.05; done'\"\n",
        l = log.display(),
    ));
    wait_for(T, "the FIFO", || {
        log.with_extension("log.swapped").exists().then_some(())
    });
    let socket = a.socket.clone();
    // The read, from another thread: on an agent that blocks on the FIFO
    // it never answers, and everything below times out.
    let reader = std::thread::spawn(move || {
        let s = std::os::unix::net::UnixStream::connect(&socket).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        let body = "<?xml version=\"1.0\"?><methodCall><methodName>supervisor.readProcessStdoutLog</methodName>\
                    <params><param><value><string>fifo</string></value></param><param><value><int>0</int></value></param>\
                    <param><value><int>0</int></value></param></params></methodCall>";
        http(s, "POST", "/RPC2", &[], body.as_bytes()).map(|r| r.text())
    });
    let tail = |a: &Agent| {
        a.request("GET", "/v1/processes/ticker/log?tail=65536", "")
            .text()
            .matches("tick")
            .count()
    };
    let before = tail(&a);
    for _ in 0..3 {
        let t = Instant::now();
        let s = std::os::unix::net::UnixStream::connect(&a.socket).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(1))).unwrap();
        let r = http(s, "GET", "/v1/status", &[], b"").expect("status within 1 s");
        assert_eq!(r.status, 200);
        assert!(t.elapsed() < Duration::from_secs(1), "{:?}", t.elapsed());
    }
    wait_for(T, "the ticker's output to keep flowing", || {
        (tail(&a) > before + 5).then_some(())
    });
    let answer = reader.join().unwrap().expect("the read is answered");
    assert!(
        answer.contains("<fault>") && answer.contains("not a regular file"),
        "{answer}"
    );
}

/// `/dev/zero` behind a symlink is refused; a 20 MB log is read at most
/// `CALL_MAX` a call (from the start, or the last bytes for a huge negative
/// offset), and a multicall of 40 such reads answers at most `REQUEST_MAX`
/// in all, the rest faults; the agent's peak RSS stays bounded.
#[test]
fn t23_log_reads_are_capped_per_call_and_per_multicall() {
    let d = tempfile::tempdir().unwrap();
    let zero = d.path().join("zero.log");
    let big = d.path().join("big.log");
    let a = Agent::start(&format!(
        "[program.zero]\nstdout_logfile = {zero:?}\nstartsecs = 0\n\
         command = \"/bin/sh -c 'echo x; sleep 0.2; rm -f {z}; ln -s /dev/zero {z}; touch {z}.swapped; exec sleep 1000'\"\n\
         [program.big]\nstdout_logfile = {big:?}\nstdout_logfile_maxbytes = \"100MB\"\nstartsecs = 0\n\
         command = \"/bin/sh -c 'yes x | head -c 20000000; exec sleep 1000'\"\n",
        z = zero.display(),
    ));
    wait_for(T, "the /dev/zero swap", || {
        zero.with_extension("log.swapped").exists().then_some(())
    });
    wait_for(Duration::from_secs(60), "the 20 MB log", || {
        (std::fs::metadata(&big).map(|m| m.len()).unwrap_or(0) >= 20_000_000).then_some(())
    });
    let pid = a.pid();
    let hwm_before = hwm_kib(pid);

    let answer = a.xmlrpc("supervisor.readProcessStdoutLog", &[s("zero"), i(0), i(0)]);
    assert!(
        answer.contains("<fault>"),
        "{}",
        &answer[..answer.len().min(300)]
    );
    assert!(answer.len() < 1000, "{} bytes from /dev/zero", answer.len());

    for params in [
        vec![s("big"), i(0), i(0)],
        vec![s("big"), i(-(1 << 30)), i(0)],
        vec![s("big"), i(0), i(1 << 30)],
    ] {
        let answer = a.xmlrpc("supervisor.readProcessStdoutLog", &params);
        let n = answer.len();
        assert!(!answer.contains("<fault>"), "{params:?}");
        assert!(
            (CALL_MAX..=CALL_MAX + 1000).contains(&n),
            "{params:?}: {n} bytes"
        );
    }
    let t = a.xmlrpc(
        "supervisor.tailProcessStdoutLog",
        &[s("big"), i(0), i(1 << 30)],
    );
    assert!(
        t.len() <= CALL_MAX + 1000,
        "tail answered {} bytes",
        t.len()
    );

    let call = "<value><struct><member><name>methodName</name><value><string>supervisor.readProcessStdoutLog</string></value></member>\
                <member><name>params</name><value><array><data><value><string>big</string></value><value><int>0</int></value>\
                <value><int>0</int></value></data></array></value></member></struct></value>";
    let calls = call.repeat(40);
    let answer = a.xmlrpc(
        "system.multicall",
        &[format!("<array><data>{calls}</data></array>")],
    );
    let n = answer.len();
    assert!(
        n <= REQUEST_MAX + 40 * 500,
        "the multicall answered {n} bytes"
    );
    assert!(n >= REQUEST_MAX, "the budget is spent by reads: {n}");
    assert!(
        answer.matches("faultCode").count() >= 30,
        "the calls past the budget fault"
    );
    assert!(answer.contains("read the rest in another request"));

    let growth = hwm_kib(pid).saturating_sub(hwm_before);
    assert!(growth < 64 * 1024, "the agent's peak RSS grew {growth} KiB");
}
