//! Log tails across the in-place re-exec (issue #28), end to end on real
//! binaries: every face of a tail (the JSON API's tail, whole, default and
//! stamped; supervisord's `tailProcess*Log` and `readProcess*Log`; the
//! captured-bytes counters) reads byte for byte the same right after a
//! failed resume and right after a re-exec as right before, for a program
//! with log files and one with none; the next lines continue the tails
//! with no gap, and a follower started after the re-exec sees them.
//! (Its own file: `agent_reexec.rs` is near its ~700 lines.)

mod common;
use common::listen::reexec;
use common::*;
use std::os::unix::net::UnixStream;
use std::time::Duration;

const T: Duration = Duration::from_secs(30);

/// Two programs that print numbered lines to stdout and stderr (more than
/// the agent's 64 KiB tail holds), then one more of each per number
/// written to their FIFO: `filed` with log files, `unfiled` with none.
const TALKERS: &str = r#"
[program.filed]
command = ["/bin/sh", "-c", 'SCRIPT', "sh", "FIFO.filed"]
startsecs = 0

[program.unfiled]
command = ["/bin/sh", "-c", 'SCRIPT', "sh", "FIFO.unfiled"]
startsecs = 0
stdout_logfile = "NONE"
stderr_logfile = "NONE"
"#;
const TALK: &str = r#"i=0; while [ $i -lt 8000 ]; do i=$((i+1)); echo "out $i"; echo "err $i" >&2; done; exec 3<>"$1"; while read -r n <&3; do echo "out $n"; echo "err $n" >&2; done"#;

/// Everything a client reads of the talkers' tails: the JSON API's tail
/// (whole, default, stamped), supervisord's `tailProcess*Log` and
/// `readProcess*Log`, and the captured-bytes counters.
fn tail_views(a: &Agent) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for name in ["filed", "unfiled"] {
        for stream in ["stdout", "stderr"] {
            for q in ["&tail=100000", "", "&tail=100000&timestamps=true"] {
                let path = format!("/v1/processes/{name}/log?stream={stream}{q}");
                let r = a.request("GET", &path, "");
                assert_eq!(r.status, 200, "{path}");
                out.push((path, r.body));
            }
            let s = |v: &str| format!("<string>{v}</string>");
            let i = |v: i64| format!("<int>{v}</int>");
            let which = if stream == "stdout" {
                "Stdout"
            } else {
                "Stderr"
            };
            for (method, offset, length) in
                [("tail", 0, 100_000), ("tail", 0, 1000), ("read", -2000, 0)]
            {
                let m = format!("supervisor.{method}Process{which}Log");
                let answer = a.xmlrpc(&m, &[s(name), i(offset), i(length)]);
                out.push((
                    format!("{m}({name}, {offset}, {length})"),
                    answer.into_bytes(),
                ));
            }
        }
    }
    let m = a.request("GET", "/metrics", "").text();
    let counters: Vec<&str> = m
        .lines()
        .filter(|l| l.starts_with("fleet_agent_log_bytes_total{") && l.contains("filed:"))
        .collect();
    assert_eq!(counters.len(), 4, "{m}");
    out.push(("/metrics".into(), counters.join("\n").into_bytes()));
    out
}

fn same_views(before: &[(String, Vec<u8>)], after: &[(String, Vec<u8>)], when: &str) {
    for ((what, b), (_, a)) in before.iter().zip(after) {
        assert!(
            a == b,
            "{what} {when}: {} bytes before, {} after; after ends {:?}",
            b.len(),
            a.len(),
            String::from_utf8_lossy(&a[a.len().saturating_sub(200)..])
        );
    }
}

#[test]
fn reexec_carries_every_log_tail_byte_for_byte() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = |name: &str| dir.path().join(format!("{name}.fifo"));
    let mut programs = TALKERS.replace("SCRIPT", TALK);
    for name in ["filed", "unfiled"] {
        let mode = nix::sys::stat::Mode::from_bits_truncate(0o600);
        nix::unistd::mkfifo(&fifo(name), mode).unwrap();
        programs = programs.replace(&format!("FIFO.{name}"), fifo(name).to_str().unwrap());
    }
    let fail = dir.path().join("fail-resume");
    std::fs::write(&fail, "").unwrap();
    let a = Agent::start_as("", &programs, |c| {
        c.env("FLEET_TEST_FAIL_RESUME", &fail);
    });
    let tail = |name: &str, stream: &str| {
        let path = format!("/v1/processes/{name}/log?stream={stream}&tail=100000");
        a.request("GET", &path, "").body
    };
    let said = |name: &str, n: u32| {
        ["stdout", "stderr"].iter().all(|s| {
            let line = format!("{} {n}\n", &s[3..]);
            tail(name, s).ends_with(line.as_bytes())
        })
    };
    let filed =
        |s: &str| std::fs::read(a.log_dir.join(format!("filed.{s}.log"))).unwrap_or_default();
    wait_for(T, "every line in the tails and files", || {
        let files =
            filed("stdout").ends_with(b"out 8000\n") && filed("stderr").ends_with(b"err 8000\n");
        (said("filed", 8000) && said("unfiled", 8000) && files).then_some(())
    });
    let before = tail_views(&a);
    let full = tail("unfiled", "stdout");
    assert_eq!(full.len(), 64 << 10, "the tail is full");
    let stamped = &before[2].1;
    assert!(stamped.split(|&b| b == b'\n').nth(1).unwrap()[0].is_ascii_digit());

    // A new image that fails to resume: the old one, exec'd again from
    // its descriptor, takes the tails back from the same memfd.
    let r = reexec(&a, "");
    assert!(
        r["error"]
            .as_str()
            .unwrap_or_default()
            .starts_with("resume: "),
        "{r}"
    );
    same_views(&before, &tail_views(&a), "after a failed resume");
    // The fallback dropped the variable: this one resumes.
    std::fs::remove_file(&fail).unwrap();
    let r = reexec(&a, "");
    assert!(r["ok"].is_object(), "{r}");
    same_views(&before, &tail_views(&a), "after the re-exec");

    // Lines written after continue the tails with no gap.
    let say = |name: &str, n: u32| {
        let mut w = std::fs::OpenOptions::new()
            .write(true)
            .open(fifo(name))
            .unwrap();
        std::io::Write::write_all(&mut w, format!("{n}\n").as_bytes()).unwrap();
    };
    say("filed", 8001);
    say("unfiled", 8001);
    wait_for(T, "line 8001 in every tail", || {
        (said("filed", 8001) && said("unfiled", 8001)).then_some(())
    });
    for (i, name) in ["filed", "unfiled"].iter().enumerate() {
        for (j, s) in ["stdout", "stderr"].iter().enumerate() {
            let mut want = before[(i * 2 + j) * 6].1.clone();
            want.extend_from_slice(format!("{} 8001\n", &s[3..]).as_bytes());
            let want = &want[want.len() - (64 << 10)..];
            assert!(tail(name, s) == want, "{name} {s} after line 8001");
        }
    }
    let stamped = a
        .request(
            "GET",
            "/v1/processes/unfiled/log?tail=100000&timestamps=true",
            "",
        )
        .text();
    let old = String::from_utf8_lossy(&before[14].1).into_owned();
    let old: Vec<&str> = old.lines().collect();
    let new: Vec<&str> = stamped.lines().collect();
    let last = new.last().unwrap();
    assert!(
        last.ends_with("\tout 8001") && last.as_bytes()[0].is_ascii_digit(),
        "{last}"
    );
    let kept = &new[1..new.len() - 1];
    assert!(
        old.ends_with(kept),
        "the stamped tail is the one before, then the new line"
    );

    // A follower started after the re-exec sees what comes next.
    let s = UnixStream::connect(&a.socket).unwrap();
    s.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    std::io::Write::write_all(
        &mut &s,
        b"GET /v1/processes/unfiled/log?tail=0&follow=true HTTP/1.1\r\nHost: x\r\n\r\n",
    )
    .unwrap();
    read_stream_until(&s, T, "the follow's headers", |t| t.contains("\r\n\r\n"));
    say("unfiled", 8002);
    read_stream_until(&s, T, "line 8002 followed", |t| t.contains("out 8002\n"));
}

/// `fleetctl tail -f` through a re-exec: the stream breaks with the exec,
/// fleetctl waits for the agent and goes on from the byte it reached
/// (`from` = the answer's `x-log-offset` + what it printed): every tick
/// once, in order, none missed. The agent ending the stream (it stops)
/// ends the command.
#[test]
fn fleetctl_tail_f_goes_on_across_a_reexec() {
    let mut a = Agent::start("[program.ticker]\ncommand = \"TESTPROG ticker 5\"\nstartsecs = 0\n");
    a.wait_state("ticker", "RUNNING", T);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let err = dir.path().join("err");
    let mut tail = common::ctl::fleetctl_cmd()
        .arg("--agent")
        .arg(&a.socket)
        .args(["tail", "-f", "ticker"])
        .stdout(std::fs::File::create(&out).unwrap())
        .stderr(std::fs::File::create(&err).unwrap())
        .spawn()
        .unwrap();
    let ticks = || -> Vec<u64> {
        std::fs::read_to_string(&out)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.strip_prefix("tick ")?.parse().ok())
            .collect()
    };
    let last = |t: &[u64]| t.last().copied().unwrap_or(0);
    wait_for(T, "tail -f to print ticks", || {
        (ticks().len() > 20).then_some(())
    });
    let at_reexec = last(&ticks());
    let r = reexec(&a, "");
    assert!(r["error"].is_null(), "{r}");
    wait_for(T, "ticks well after the re-exec", || {
        (last(&ticks()) > at_reexec + 100).then_some(())
    });
    let seen = ticks();
    // The first line may be cut (a tail starts mid-line); from the second
    // on, every tick once and in order.
    for w in seen[1..].windows(2) {
        assert_eq!(w[1], w[0] + 1, "a gap or a repeat around {w:?}");
    }
    let said = std::fs::read_to_string(&err).unwrap();
    assert!(said.contains("going on once it answers"), "{said}");
    // The agent stopping ends the stream, and tail -f with it.
    a.signal(nix::sys::signal::Signal::SIGTERM);
    let code = wait_for(T, "tail -f to end with the agent", || {
        tail.try_wait().unwrap()
    });
    assert!(
        code.success(),
        "{code}: {}",
        std::fs::read_to_string(&err).unwrap()
    );
    let _ = a.wait_exit(T);
}
