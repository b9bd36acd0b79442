//! Secure by default (issue #14): each test is named after the threat of
//! reference/fleet-ops.md §4.2 (or the issue item) it proves the defence
//! against, and runs the real binaries.

mod common;
use common::*;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

const T: Duration = Duration::from_secs(20);
const TOKEN: &str = "sec-test-token-0123456789abcdefXYZ";

fn fd_count(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count())
        .unwrap_or(0)
}

/// Issue #14 item 2 (T3/T17): a program never sees the agent's secrets.
#[test]
fn t3_programs_never_see_the_agents_token_or_enrollment_token() {
    let a = Agent::start_as(
        "listen = \"127.0.0.1:0\"\ntoken_env = \"FLEET_T_SECRET\"\n",
        r#"
[program.printenv]
command = "/bin/sh -c 'env; exec sleep 1000'"
startsecs = 0
"#,
        |cmd| {
            cmd.env("FLEET_T_SECRET", TOKEN)
                .env("FLEET_T_HARMLESS", "visible");
        },
    );
    let log = a.log_dir.join("printenv.stdout.log");
    let env = wait_for(T, "the program's environment in its log", || {
        let s = std::fs::read_to_string(&log).ok()?;
        s.contains("FLEET_PROCESS_NAME=printenv").then_some(s)
    });
    // The agent's environment is inherited otherwise...
    assert!(env.contains("FLEET_T_HARMLESS=visible"), "{env}");
    // ...but not the variable holding its token, nor the value anywhere.
    assert!(!env.contains("FLEET_T_SECRET"), "{env}");
    assert!(!env.contains(TOKEN), "{env}");
}

/// T5: a log file swapped for a symlink is never followed, at reopen
/// (SIGUSR2) nor at the next start; nothing outside the log dir is written.
#[test]
fn t5_a_symlinked_log_file_is_refused_and_its_target_untouched() {
    let a = Agent::start(
        r#"
[program.ticker]
command = "/bin/sh -c 'while :; do echo tick; sleep 0.05; done'"
startsecs = 0
startretries = 0
"#,
    );
    let log = a.log_dir.join("ticker.stdout.log");
    wait_for(T, "ticks in the log", || {
        std::fs::read_to_string(&log)
            .ok()
            .filter(|s| s.contains("tick"))
    });
    let secret = a.dir.path().join("secret");
    std::fs::write(&secret, "untouched").unwrap();
    let moved = a.log_dir.join("moved.log");
    std::fs::rename(&log, &moved).unwrap();
    std::os::unix::fs::symlink(&secret, &log).unwrap();

    a.signal(nix::sys::signal::Signal::SIGUSR2);
    wait_for(T, "the refused reopen in the agent's log", || {
        a.stderr().contains("is a symbolic link").then_some(())
    });
    // Output keeps going to the file the agent already had.
    let before = moved.metadata().unwrap().len();
    wait_for(T, "more ticks in the moved file", || {
        (moved.metadata().unwrap().len() > before).then_some(())
    });
    assert_eq!(std::fs::read_to_string(&secret).unwrap(), "untouched");

    // A restart keeps the stream the agent already has: still nothing
    // through the link.
    let r = a.post("/v1/processes/ticker/restart", "");
    assert_eq!(r.json()["results"][0]["outcome"], "ok", "{}", r.text());
    a.wait_state("ticker", "RUNNING", T);
    let before = moved.metadata().unwrap().len();
    wait_for(T, "the restarted program's ticks in the moved file", || {
        (moved.metadata().unwrap().len() > before).then_some(())
    });
    assert_eq!(std::fs::read_to_string(&secret).unwrap(), "untouched");
    assert!(log.symlink_metadata().unwrap().file_type().is_symlink());
}

/// T5: a log path that is already a symlink when the agent starts is
/// refused with a clear error in the process's status; its target is never
/// written.
#[test]
fn t5_a_log_path_that_is_a_symlink_at_start_fails_that_program_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("secret");
    std::fs::write(&secret, "untouched").unwrap();
    let link = dir.path().join("out.log");
    std::os::unix::fs::symlink(&secret, &link).unwrap();
    let a = Agent::start(&format!(
        r#"
[program.linked]
command = "/bin/sh -c 'echo leaked; exec sleep 1000'"
stdout_logfile = "{}"
startretries = 0
"#,
        link.display()
    ));
    let p = a.wait_state("linked", "FATAL", T);
    let d = p["description"].as_str().unwrap();
    assert!(d.contains("is a symbolic link"), "{d}");
    assert_eq!(std::fs::read_to_string(&secret).unwrap(), "untouched");
}

/// T9 / issue #14 item 6: 300 half-open requests on the agent's TCP port
/// cost at most the connection cap in fds, the agent keeps spawning and
/// answering (its unix socket has its own cap), and every half-open
/// connection is closed by the header-read timeout: the fd count returns
/// to its baseline.
#[test]
fn t9_half_open_connections_are_capped_and_timed_out() {
    let a = Agent::start_with(
        &format!("listen = \"127.0.0.1:0\"\ntoken = \"{TOKEN}\"\n"),
        r#"
[program.later]
command = "TESTPROG sleep"
autostart = false
startsecs = 0
"#,
    );
    let port = a.tcp_port();
    let pid = a.pid();
    let baseline = fd_count(pid);
    let mut held = Vec::new();
    for _ in 0..300 {
        let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        // Headers never finished.
        s.write_all(b"GET /v1/status HTTP/1.1\r\nHost: x\r\n")
            .unwrap();
        held.push(s);
    }
    // The accepted ones are held (up to the cap); the rest wait in the
    // kernel's backlog without costing the agent anything.
    wait_for(T, "the agent to accept up to its cap", || {
        (fd_count(pid) >= baseline + 200).then_some(())
    });
    let during = fd_count(pid);
    assert!(
        during <= baseline + 256 + 8,
        "fds grew from {baseline} to {during}: no connection cap"
    );
    // Still spawns and answers on the unix socket meanwhile.
    let r = a.post("/v1/processes/later/start", "");
    assert_eq!(r.json()["results"][0]["outcome"], "ok", "{}", r.text());
    a.wait_state("later", "RUNNING", T);

    // The header-read timeout closes them: the agent's end goes away, and
    // the fd count comes back down, queued connections included.
    let s = &mut held[0];
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut buf = [0u8; 512];
    let n = s.read(&mut buf).unwrap_or(0);
    let answer = String::from_utf8_lossy(&buf[..n]).to_string();
    assert!(
        n == 0 || answer.starts_with("HTTP/1.1 408"),
        "expected a close or 408 after the header timeout, got {answer:?}"
    );
    let settled = wait_for(
        Duration::from_secs(60),
        "the fd count back at baseline",
        || {
            let n = fd_count(pid);
            (n <= baseline + 4).then_some(n)
        },
    );
    eprintln!("fds: baseline {baseline}, with 300 half-open {during}, after the timeout {settled}");
    // TCP answers again once the flood is gone.
    let s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(T)).unwrap();
    let auth = format!("Bearer {TOKEN}");
    let r = http(s, "GET", "/v1/status", &[("Authorization", &auth)], b"").unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
}

/// One raw HTTP/1.1 request with exactly these headers (no defaults but
/// Host), answered with (status, body).
fn raw(port: u16, method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> (u16, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(T)).unwrap();
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("host")) {
        req.push_str(&format!("Host: 127.0.0.1:{port}\r\n"));
    }
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    req.push_str(body);
    s.write_all(req.as_bytes()).unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    let status = out
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no status in {out:?}"));
    (status, out)
}

const STOP_ALL: &str = r#"{"action":"stop","target":"all"}"#;

/// T10 / issue #14 item 1: a cross-site "simple" POST (text/plain, foreign
/// Origin) is refused even with a valid operator token; a foreign Host
/// (DNS rebinding) cannot read; the program keeps running and no op exists.
#[test]
fn t10_cross_site_simple_post_and_dns_rebinding_are_refused() {
    use common::console::*;
    let (agent, port) = tcp_agent(CELERY);
    let c = Console::start(&agent_entries(&[("w-01", port)]));
    c.wait_running(2, T);
    let bearer = format!("Bearer {OPERATOR}");
    let cases: [(&[(&str, &str)], &str); 4] = [
        (
            &[
                ("Origin", "http://evil.example"),
                ("Content-Type", "text/plain"),
            ],
            "cross-origin request refused",
        ),
        (
            &[
                ("Origin", "http://evil.example"),
                ("Content-Type", "application/json"),
            ],
            "cross-origin request refused",
        ),
        (
            &[("Content-Type", "text/plain")],
            "state-changing requests send application/json",
        ),
        (
            &[("Content-Type", "application/x-www-form-urlencoded")],
            "refused",
        ),
    ];
    for (headers, why) in cases {
        let mut h = headers.to_vec();
        h.push(("Authorization", &bearer));
        let (status, text) = raw(c.port, "POST", "/v1/ops", &h, STOP_ALL);
        assert_eq!(status, 403, "{headers:?}: {text}");
        assert!(text.contains(why), "{headers:?}: {text}");
    }
    let (status, text) = raw(
        c.port,
        "GET",
        "/v1/status",
        &[
            ("Host", &format!("evil.example:{}", c.port)),
            ("Authorization", &bearer),
        ],
        "",
    );
    assert_eq!(status, 403, "{text}");
    assert!(text.contains("DNS rebinding"), "{text}");
    // Nothing happened.
    let ops = c.get("/v1/ops");
    assert_eq!(ops["ops"].as_array().map(Vec::len), Some(0), "{ops}");
    for p in agent.status()["processes"].as_array().unwrap() {
        assert_eq!(p["state"], "RUNNING", "{p}");
    }
    // The console's own origin with JSON is fine.
    let own = format!("http://127.0.0.1:{}", c.port);
    let (status, text) = raw(
        c.port,
        "POST",
        "/v1/ops",
        &[
            ("Origin", &own),
            ("Content-Type", "application/json"),
            ("Authorization", &bearer),
        ],
        r#"{"action":"stop","target":"all","dry_run":true}"#,
    );
    assert!(status == 200 || status == 201, "{text}");
}

/// T11 / issue #14 item 1: no open mode by accident. Without [[tokens]]
/// the console refuses to start, naming what to add; with
/// `insecure_no_auth = true` (loopback only) it starts, and a cross-site
/// POST is still refused.
#[test]
fn t11_console_without_tokens_refuses_to_start_unless_insecure_no_auth() {
    use common::console::listening_port;
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("console.toml");
    std::fs::write(
        &cfg,
        "[console]\nlisten = \"127.0.0.1:0\"\ndata_dir = \"data\"\n",
    )
    .unwrap();
    let out = std::process::Command::new(bin("fleet-console"))
        .arg("--config")
        .arg(&cfg)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(
        err.contains("no [[tokens]]: add an operator token"),
        "{err}"
    );
    assert!(err.contains("insecure_no_auth = true"), "{err}");
    assert!(
        !dir.path().join("data").exists(),
        "a refused start created its data dir"
    );

    std::fs::write(
        &cfg,
        "[console]\nlisten = \"0.0.0.0:0\"\ndata_dir = \"data\"\ninsecure_no_auth = true\n",
    )
    .unwrap();
    let out = std::process::Command::new(bin("fleet-console"))
        .arg("--config")
        .arg(&cfg)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("without [[tokens]]"));

    std::fs::write(
        &cfg,
        "[console]\nlisten = \"127.0.0.1:0\"\ndata_dir = \"data\"\ninsecure_no_auth = true\n",
    )
    .unwrap();
    let log = dir.path().join("stderr");
    let mut child = std::process::Command::new(bin("fleet-console"))
        .arg("--config")
        .arg(&cfg)
        .env("FLEET_LOG", "info")
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let port = wait_for(T, "the open-mode console to listen", || {
        listening_port(&std::fs::read_to_string(&log).ok()?)
    });
    let (status, text) = raw(
        port,
        "POST",
        "/v1/ops",
        &[
            ("Origin", "http://evil.example"),
            ("Content-Type", "text/plain"),
        ],
        STOP_ALL,
    );
    assert_eq!(status, 403, "{text}");
    let (status, text) = raw(port, "GET", "/v1/ops", &[], "");
    assert_eq!(status, 200, "{text}");
    stop_child(&mut child, Duration::from_secs(10));
}

/// Issue #14 item 8: op parameters are bounded (400 naming the limit), and
/// a refused op holds nothing: the next op on the same hosts runs.
#[test]
fn t20_op_parameters_out_of_bounds_are_refused_and_hold_nothing() {
    use common::console::*;
    let (_agent, port) = tcp_agent(CELERY);
    let c = Console::start(&agent_entries(&[("w-01", port)]));
    c.wait_running(2, T);
    for (body, limit) in [
        (
            r#"{"action":"restart","target":"all","concurrency":18446744073709551615}"#,
            "concurrency must be between 1 and 100000",
        ),
        (
            r#"{"action":"restart","target":"all","concurrency":0}"#,
            "concurrency must be between 1 and 100000",
        ),
        (
            r#"{"action":"restart","target":"all","timeout_ms":18446744073709551615}"#,
            "timeout_ms must be between 1 and 86400000",
        ),
    ] {
        let r = c.request("POST", "/v1/ops", Some(OPERATOR), body);
        assert_eq!(r.status, 400, "{body}: {}", r.text());
        assert!(r.text().contains(limit), "{body}: {}", r.text());
    }
    let op = c.op(r#"{"action":"restart","target":"all"}"#);
    let done = c.wait_op(op["id"].as_str().unwrap(), T);
    assert_eq!(done["state"], "done", "{done}");
}

const ENROLL: &str = "enroll-token-0123456789abcdefXYZ";

/// T21 / issue #14 item 10: logins, refused logins and refused
/// registrations are audited with their source address; the audit log is
/// hash-chained: `fleet-console audit verify` passes on the intact log and
/// names the broken record once a byte of it is changed behind the
/// console's back.
#[test]
fn t21_audit_is_hash_chained_and_records_logins_and_refusals_with_source() {
    use common::console::*;
    let mut c = Console::start(&format!("[enrollment]\ntoken = \"{ENROLL}\"\n"));
    let r = c.request(
        "POST",
        "/v1/session",
        None,
        &format!("{{\"token\":\"{OPERATOR}\"}}"),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let r = c.request(
        "POST",
        "/v1/session",
        None,
        r#"{"token":"guess-0123456789abcdefghij"}"#,
    );
    assert_eq!(r.status, 401, "{}", r.text());
    let reg = r#"{"name":"rogue","url":"http://127.0.0.1:1","version":"0"}"#;
    let r = c.request(
        "POST",
        "/v1/agents/register",
        Some("not-the-enrollment-token"),
        reg,
    );
    assert_eq!(r.status, 401, "{}", r.text());
    c.stop();

    let cfg = c.config.to_str().unwrap().to_string();
    let (code, out, err) = console_bin(&["audit", "verify", "--config", &cfg]);
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(
        out.contains("audit log intact: 3 record(s), head "),
        "{out}"
    );

    let db = c.dir.path().join("data/console.db");
    let text = String::from_utf8_lossy(&std::fs::read(&db).unwrap()).into_owned()
        + &String::from_utf8_lossy(&std::fs::read(db.with_extension("db-wal")).unwrap_or_default());
    for kind in [
        "login_refused",
        "register_refused",
        "invalid enrollment token",
    ] {
        assert!(text.contains(kind), "{kind} not in the audit log");
    }
    assert!(
        text.contains("127.0.0.1:"),
        "no source address in the audit log"
    );

    // An attacker with the file drops the triggers and edits a record...
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.execute_batch(
        "DROP TRIGGER audit_no_update; DROP TRIGGER audit_no_delete;
         UPDATE audit SET who = 'someone-else' WHERE seq = 2;",
    )
    .unwrap();
    let (code, out, err) = console_bin(&["audit", "verify", "--config", &cfg]);
    assert_eq!(code, Some(1), "{out}{err}");
    assert!(
        err.contains("record 2 (login_refused - at") && err.contains("does not match its hash"),
        "{err}"
    );
    // ...or deletes one.
    conn.execute_batch("DELETE FROM audit WHERE seq = 2;")
        .unwrap();
    drop(conn);
    let (code, out, err) = console_bin(&["audit", "verify", "--config", &cfg]);
    assert_eq!(code, Some(1), "{out}{err}");
    assert!(
        err.contains("record 2 is missing (the next record is 3)"),
        "{err}"
    );
}

/// T6 / issue #14 item 4: a flood of bogus registrations is throttled
/// (429) and adds nothing; the console keeps answering promptly.
#[test]
fn t6_a_registration_flood_is_throttled_and_the_console_answers() {
    use common::console::*;
    let c = Console::start(&format!(
        "[enrollment]\ntoken = \"{ENROLL}\"\nrate_per_sec = 5\n"
    ));
    let mut throttled = 0;
    let mut refused = 0;
    for i in 0..200 {
        let reg = format!(r#"{{"name":"bogus-{i}","url":"http://127.0.0.1:1","version":"0"}}"#);
        let r = c.request("POST", "/v1/agents/register", Some("wrong-token"), &reg);
        match r.status {
            429 => throttled += 1,
            401 => refused += 1,
            s => panic!("unexpected {s}: {}", r.text()),
        }
    }
    assert!(throttled > 100, "{throttled} throttled, {refused} refused");
    assert!(refused >= 20, "the burst gets an answer: {refused}");
    let t = std::time::Instant::now();
    let hosts = c.get("/v1/hosts");
    assert!(t.elapsed() < Duration::from_secs(2));
    assert_eq!(hosts["hosts"].as_array().map(Vec::len), Some(0), "{hosts}");
}

fn enrolling_agent(console: &str, extra: &str) -> Agent {
    Agent::start_with(
        &format!(
            "name = \"enroller\"\nlisten = \"127.0.0.1:0\"\ntoken = \"{TOKEN}\"\n\
             console = \"{console}\"\nenrollment_token = \"{ENROLL}\"\n{extra}"
        ),
        "",
    )
}

/// T7 / T2 / issue #14 item 3: the agent checks its console. A console
/// with another certificate than the pinned one is refused (and the log
/// says why); the right pin is accepted; a redirect is never followed (the
/// tokens never reach the redirect's target); plain http:// to a
/// non-loopback console is a config error unless explicitly allowed.
#[test]
fn t7_agent_pins_its_console_never_follows_redirects_and_refuses_clear_text() {
    use common::pki::pki;
    // A TLS server to stand in for the console: a fleet-agent with a cert.
    let p = pki();
    let dir = tempfile::tempdir().unwrap();
    p.write(dir.path());
    let fake = Agent::start_with(
        &format!(
            "listen = \"127.0.0.1:0\"\ntoken = \"{TOKEN}\"\ntls_cert = {:?}\ntls_key = {:?}\n",
            dir.path().join("leaf.pem"),
            dir.path().join("leaf.key")
        ),
        "",
    );
    let url = format!("https://127.0.0.1:{}", fake.tcp_port());
    let wrong = "sha256:".to_string() + &"ab".repeat(32);
    let a = enrolling_agent(&url, &format!("console_fingerprint = \"{wrong}\"\n"));
    wait_for(T, "the refused pin in the agent's log", || {
        a.stderr()
            .contains("does not match the pinned one")
            .then_some(())
    });
    // The agent's own settings, never fleetctl's flag.
    assert!(!a.stderr().contains("--cacert"), "{}", a.stderr());
    let right = format!(
        "console_fingerprint = \"sha256:{}\"\n",
        p.leaf_fingerprint()
    );
    let a = enrolling_agent(&url, &right);
    // The handshake passes; the stand-in then refuses the POST itself.
    wait_for(T, "the pinned console's own answer", || {
        a.stderr().contains("console answered 401").then_some(())
    });
    let ca = format!("console_ca_file = {:?}\n", dir.path().join("ca.pem"));
    let a = enrolling_agent(&url, &ca);
    wait_for(T, "the CA-verified console's own answer", || {
        a.stderr().contains("console answered 401").then_some(())
    });

    // A "console" that redirects to a thief.
    let thief = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    thief.set_nonblocking(true).unwrap();
    let thief_port = thief.local_addr().unwrap().port();
    let redirector = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let rport = redirector.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for s in redirector.incoming() {
            let Ok(mut s) = s else { return };
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf);
            let _ = s.write_all(
                format!(
                    "HTTP/1.1 307 Temporary Redirect\r\nLocation: http://127.0.0.1:{thief_port}/steal\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                )
                .as_bytes(),
            );
        }
    });
    let a = enrolling_agent(&format!("http://127.0.0.1:{rport}"), "");
    wait_for(T, "the refused redirect in the agent's log", || {
        a.stderr()
            .contains("(a redirect): not followed")
            .then_some(())
    });
    assert!(
        thief.accept().is_err(),
        "the agent followed the redirect to the thief"
    );
    // T3: neither token is ever logged, whatever went wrong.
    for log in [a.stderr(), fake.stderr()] {
        assert!(
            !log.contains(TOKEN) && !log.contains(ENROLL),
            "token in a log:\n{log}"
        );
    }

    // Clear text off loopback: a config error naming the way out.
    let cfg = dir.path().join("agent.toml");
    std::fs::write(
        &cfg,
        format!(
            "[agent]\nlisten = \"127.0.0.1:0\"\ntoken = \"{TOKEN}\"\nconsole = \"http://10.11.12.13:9700\"\n\
             enrollment_token = \"{ENROLL}\"\nadvertise_url = \"http://10.0.0.1:1\"\n"
        ),
    )
    .unwrap();
    let out = std::process::Command::new(bin("fleet-agent"))
        .arg("check")
        .arg(&cfg)
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{text}");
    assert!(text.contains("allow_insecure_console = true"), "{text}");
}

/// A hostile "agent" on loopback: every request is answered by `answer`.
fn hostile_agent(answer: fn(&mut TcpStream)) -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(mut s) = s else { return };
            std::thread::spawn(move || {
                let mut buf = [0u8; 8192];
                let _ = s.read(&mut buf);
                answer(&mut s);
            });
        }
    });
    port
}

fn rss_kib(pid: u32) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    s.lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

/// T9 / issue #14 item 5: an "agent" answering an endless body costs the
/// console bounded memory (the body cap), and one answering a foreign
/// error page never has that page shown (status code and a fixed
/// message only).
#[test]
fn t9_hostile_agents_cost_bounded_memory_and_their_bodies_are_never_shown() {
    use common::console::*;
    let endless = hostile_agent(|s| {
        let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n");
        let chunk = vec![b'['; 1 << 16];
        while s.write_all(&chunk).is_ok() {}
    });
    let foreign = hostile_agent(|s| {
        let body = "<html>INTERNAL-SERVICE-MARKER</html>";
        let _ = s.write_all(
            format!(
                "HTTP/1.1 502 Bad Gateway\r\nContent-Type: text/html\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            )
            .as_bytes(),
        );
    });
    let c = Console::start(&agent_entries(&[
        ("endless", endless),
        ("foreign", foreign),
    ]));
    let pid = c.child.as_ref().unwrap().id();
    let host = |name: &str| -> serde_json::Value {
        c.get("/v1/hosts")["hosts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|h| h["name"] == name)
            .cloned()
            .unwrap()
    };
    let e = wait_for(T, "the endless agent refused for its size", || {
        let h = host("endless").to_string();
        h.contains("larger than").then_some(h)
    });
    let f = wait_for(T, "the foreign agent's error", || {
        let h = host("foreign").to_string();
        h.contains("502").then_some(h)
    });
    assert!(f.contains("not a fleet error answer"), "{f}");
    let all = c.get("/v1/hosts").to_string() + &c.get("/v1/status").to_string();
    assert!(!all.contains("INTERNAL-SERVICE-MARKER"), "{all}");
    // A whole round with the endless answer is behind us: memory bounded.
    let _ = e;
    let worst = rss_kib(pid);
    eprintln!("console RSS with an endless agent: at most {worst} KiB");
    assert!(worst < 200 * 1024, "console RSS reached {worst} KiB");
}

/// T18 / issue #14 item 12: fleetctl takes its token from a file (flag or
/// FLEET_TOKEN_FILE) so it never shows in `ps`, warns when a config file
/// holding a token is readable by others, and refuses to send a token over
/// plain http:// off loopback (before connecting anywhere).
#[test]
fn t18_fleetctl_token_file_permissions_warning_and_no_clear_text() {
    use common::console::*;
    use common::ctl::{fleetctl_cmd, run};
    use std::os::unix::fs::PermissionsExt;
    let c = Console::start("");
    let url = format!("http://127.0.0.1:{}", c.port);
    let dir = tempfile::tempdir().unwrap();
    let tf = dir.path().join("viewer.token");
    std::fs::write(&tf, format!("{VIEWER}\n")).unwrap();
    std::fs::set_permissions(&tf, std::fs::Permissions::from_mode(0o600)).unwrap();

    let mut cmd = fleetctl_cmd();
    cmd.args([
        "--console",
        &url,
        "--token-file",
        tf.to_str().unwrap(),
        "hosts",
    ]);
    let out = run(cmd);
    assert_eq!(out.code, 0, "{out:?}");
    assert!(!out.stderr.contains("warning"), "{out:?}");

    let mut cmd = fleetctl_cmd();
    cmd.env("FLEET_TOKEN_FILE", &tf)
        .args(["--console", &url, "hosts"]);
    let out = run(cmd);
    assert_eq!(out.code, 0, "{out:?}");

    // A config file with the token inline, readable by everyone.
    let cfg = dir.path().join("fleetctl.toml");
    std::fs::write(&cfg, format!("console = \"{url}\"\ntoken = \"{VIEWER}\"\n")).unwrap();
    std::fs::set_permissions(&cfg, std::fs::Permissions::from_mode(0o644)).unwrap();
    let mut cmd = fleetctl_cmd();
    cmd.env("FLEETCTL_CONFIG", &cfg).arg("hosts");
    let out = run(cmd);
    assert_eq!(out.code, 0, "{out:?}");
    assert!(
        out.stderr
            .contains("readable by group or others (mode 644)"),
        "{out:?}"
    );
    assert!(!out.stderr.contains(VIEWER), "{out:?}");

    // Clear text off loopback: refused, and nothing listens there anyway.
    let mut cmd = fleetctl_cmd();
    cmd.args([
        "--console",
        "http://10.255.255.1:9700",
        "--token-file",
        tf.to_str().unwrap(),
        "hosts",
    ]);
    let out = run(cmd);
    assert_ne!(out.code, 0, "{out:?}");
    assert!(
        out.stderr
            .contains("refusing to send the token over plain http://"),
        "{out:?}"
    );
    assert!(!out.stderr.contains(VIEWER), "{out:?}");
}

/// Issue #14 item 11: event-stream subscribers are capped with a clear
/// 429, and a closed stream frees its place.
#[test]
fn t9_event_stream_subscribers_are_capped() {
    use common::console::*;
    let c = Console::start("");
    let auth = format!("Bearer {VIEWER}");
    let open = || -> (TcpStream, String) {
        let mut s = TcpStream::connect(("127.0.0.1", c.port)).unwrap();
        s.set_read_timeout(Some(T)).unwrap();
        s.write_all(
            format!("GET /v1/events HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nConnection: close\r\nAuthorization: {auth}\r\n\r\n", c.port)
                .as_bytes(),
        )
        .unwrap();
        let mut head = Vec::new();
        let mut b = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            if s.read(&mut b).unwrap() == 0 {
                break;
            }
            head.push(b[0]);
        }
        (s, String::from_utf8_lossy(&head).into_owned())
    };
    let mut streams = Vec::new();
    for _ in 0..256 {
        let (s, head) = open();
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
        streams.push(s);
    }
    let (mut s, head) = open();
    assert!(head.starts_with("HTTP/1.1 429"), "{head}");
    let mut body = String::new();
    let _ = s.read_to_string(&mut body);
    assert!(body.contains("256 event streams are open"), "{body}");
    drop(streams.pop());
    let ok = wait_for(T, "a freed place", || {
        let (s, head) = open();
        head.starts_with("HTTP/1.1 200").then_some(s)
    });
    drop(ok);
}

/// T6 / issue #14 item 4: a squatted name can be reclaimed: the real agent
/// gets 409 while the squatter holds the name, `fleetctl hosts remove`
/// (operator only, audited) frees it, and the real agent then registers.
#[test]
fn t6_a_squatted_name_is_freed_by_fleetctl_hosts_remove() {
    use common::console::*;
    use common::ctl::{fleetctl_cmd, run};
    let (_agent, port) = tcp_agent("");
    let mut c = Console::start(&format!(
        "[enrollment]\ntoken = \"{ENROLL}\"\n\n{}",
        agent_entries(&[("configured", port)])
    ));
    let reg = |token: &str| {
        format!(
            r#"{{"name":"w-01","url":"http://127.0.0.1:{port}","version":"0","agent_token":"{token}"}}"#
        )
    };
    let r = c.request(
        "POST",
        "/v1/agents/register",
        Some(ENROLL),
        &reg("squatter-0123456789abcdef"),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let r = c.request(
        "POST",
        "/v1/agents/register",
        Some(ENROLL),
        &reg(AGENT_TOKEN),
    );
    assert_eq!(r.status, 409, "{}", r.text());

    let url = format!("http://127.0.0.1:{}", c.port);
    let ctl = |token: &str, args: &[&str]| {
        let mut cmd = fleetctl_cmd();
        cmd.env("FLEET_TOKEN", token)
            .args(["--console", &url])
            .args(args);
        run(cmd)
    };
    let out = ctl(VIEWER, &["hosts", "remove", "w-01"]);
    assert_ne!(out.code, 0, "{out:?}");
    assert!(out.stderr.contains("viewer"), "{out:?}");
    let out = ctl(OPERATOR, &["hosts", "remove", "configured"]);
    assert_ne!(out.code, 0, "{out:?}");
    assert!(out.stderr.contains("defined in console.toml"), "{out:?}");
    let out = ctl(OPERATOR, &["hosts", "remove", "w-01"]);
    assert_eq!(out.code, 0, "{out:?}");
    assert!(out.stdout.contains("w-01: removed"), "{out:?}");
    let hosts = c.get("/v1/hosts").to_string();
    assert!(!hosts.contains("\"w-01\""), "{hosts}");

    let r = c.request(
        "POST",
        "/v1/agents/register",
        Some(ENROLL),
        &reg(AGENT_TOKEN),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    c.stop();
    let cfg = c.config.to_str().unwrap().to_string();
    let (code, out, err) = console_bin(&["audit", "verify", "--config", &cfg]);
    assert_eq!(code, Some(0), "{out}{err}");
    let db = c.dir.path().join("data/console.db");
    let text = String::from_utf8_lossy(&std::fs::read(&db).unwrap()).into_owned()
        + &String::from_utf8_lossy(&std::fs::read(db.with_extension("db-wal")).unwrap_or_default());
    for kind in [
        "\"remove\"",
        "register_refused",
        "already registered with another agent token",
    ] {
        let found = text.contains(kind) || text.contains(kind.trim_matches('"'));
        assert!(found, "{kind} not in the audit log");
    }
}

/// T6 / issue #14 item 4: prove before trust. A registration naming a URL
/// where no agent answers the console's challenge (here an internal
/// service that answers anything with 200 JSON) gets only the challenge:
/// no status, no event stream, no op call; the host shows "not verified"
/// and nothing of the service's answer. A real agent proves itself and is
/// followed.
#[test]
fn t6_a_registered_url_is_trusted_only_after_the_agent_proves_itself() {
    use common::console::*;
    use std::sync::{Arc, Mutex};
    let seen: Arc<Mutex<Vec<String>>> = Arc::default();
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let internal = l.local_addr().unwrap().port();
    let log = seen.clone();
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(mut s) = s else { return };
            let mut buf = [0u8; 8192];
            let n = s.read(&mut buf).unwrap_or(0);
            let line = String::from_utf8_lossy(&buf[..n])
                .lines()
                .next()
                .unwrap_or("")
                .to_string();
            log.lock().unwrap().push(line);
            let body = r#"{"proof":"INTERNAL-SECRET-MARKER"}"#;
            let _ = s.write_all(
                format!("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len())
                    .as_bytes(),
            );
        }
    });
    let c = Console::start(&format!("[enrollment]\ntoken = \"{ENROLL}\"\n"));
    let reg = format!(
        r#"{{"name":"evil","url":"http://127.0.0.1:{internal}","version":"0","agent_token":"evil-0123456789abcdefghij"}}"#
    );
    let r = c.request("POST", "/v1/agents/register", Some(ENROLL), &reg);
    assert_eq!(r.status, 200, "{}", r.text());
    let host = |name: &str| -> String {
        c.get("/v1/hosts")["hosts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|h| h["name"] == name)
            .map(|h| h.to_string())
            .unwrap_or_default()
    };
    let shown = wait_for(T, "the failed challenge", || {
        let h = host("evil");
        h.contains("not verified").then_some(h)
    });
    assert!(shown.contains("challenge is wrong"), "{shown}");
    assert!(!shown.contains("INTERNAL-SECRET-MARKER"), "{shown}");
    // An op selecting it does not call it either.
    let r = c.request(
        "POST",
        "/v1/ops",
        Some(OPERATOR),
        r#"{"action":"restart","target":"all","hosts":"evil"}"#,
    );
    if r.status == 201 {
        c.wait_op(r.json()["id"].as_str().unwrap(), T);
    }
    let lines = seen.lock().unwrap().clone();
    assert!(!lines.is_empty());
    for l in &lines {
        assert!(
            l.starts_with("POST /v1/enroll/proof "),
            "an unproven URL got {l:?}: {lines:?}"
        );
    }

    // A real agent answers the challenge and is followed.
    let (agent, port) = tcp_agent(CELERY);
    let reg = format!(
        r#"{{"name":"real","url":"http://127.0.0.1:{port}","version":"0","agent_token":"{AGENT_TOKEN}"}}"#
    );
    let r = c.request("POST", "/v1/agents/register", Some(ENROLL), &reg);
    assert_eq!(r.status, 200, "{}", r.text());
    wait_for(T, "the proven agent's processes", || {
        let st = c.get("/v1/status");
        (st["processes"].as_array().map(Vec::len) == Some(2)).then_some(())
    });
    drop(agent);
}

/// Issue #14 item 3/4: the enrollment token only bootstraps. An enrolled
/// agent heartbeats with the credential the console issued it (kept 0600
/// in `credential_file`), so rotating the enrollment token disturbs
/// neither the running agent nor a restarted one, while the old token no
/// longer enrolls anyone.
#[test]
fn t3_rotating_the_enrollment_token_does_not_disturb_enrolled_agents() {
    use common::console::*;
    use std::os::unix::fs::PermissionsExt;
    let mut c = Console::start_with(
        "heartbeat_secs = 1",
        &format!("[enrollment]\ntoken = \"{ENROLL}\"\n"),
    );
    let keep = tempfile::tempdir().unwrap();
    let cred = keep.path().join("credential");
    let console_port = c.port;
    let agent_keys = |enroll: &str| {
        format!(
            "name = \"enrolled\"\nlisten = \"127.0.0.1:0\"\ntoken = \"{AGENT_TOKEN}\"\n\
             console = \"http://127.0.0.1:{}\"\nenrollment_token = \"{enroll}\"\ncredential_file = {:?}\n",
            console_port,
            cred.display().to_string()
        )
    };
    let a = Agent::start_with(&agent_keys(ENROLL), CELERY);
    wait_for(T, "the enrolled agent's processes", || {
        (c.get("/v1/status")["processes"].as_array().map(Vec::len) == Some(2)).then_some(())
    });
    let meta = std::fs::metadata(&cred).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    assert_eq!(std::fs::read_to_string(&cred).unwrap().trim().len(), 64);

    // Rotate the enrollment token; restart the console.
    c.stop();
    let registered = |a: &Agent| a.stderr().matches("registered with the console").count();
    let before = registered(&a);
    wait_for(T, "a heartbeat to fail while the console is down", || {
        a.stderr().contains("registration failed").then_some(())
    });
    let rotated = "rotated-enroll-0123456789abcdefXYZ";
    let text = std::fs::read_to_string(&c.config)
        .unwrap()
        .replace(ENROLL, rotated);
    std::fs::write(&c.config, text).unwrap();
    c.spawn();
    wait_for(
        T,
        "the running agent's heartbeat with its credential",
        || (registered(&a) > before).then_some(()),
    );
    // The old token enrolls no one any more.
    let reg = r#"{"name":"late","url":"http://127.0.0.1:1","version":"0"}"#;
    let r = c.request("POST", "/v1/agents/register", Some(ENROLL), reg);
    assert_eq!(r.status, 401, "{}", r.text());

    // A restarted agent, still configured with the old token, comes back
    // with its kept credential.
    drop(a);
    let a = Agent::start_with(&agent_keys(ENROLL), CELERY);
    wait_for(T, "the restarted agent's heartbeat", || {
        (registered(&a) > 0).then_some(())
    });
    assert!(!a.stderr().contains(" 401 "), "{}", a.stderr());
    for log in [a.stderr(), c.stderr()] {
        let kept = std::fs::read_to_string(&cred).unwrap();
        assert!(!log.contains(kept.trim()), "the credential was logged");
        assert!(
            !log.contains(ENROLL) && !log.contains(rotated),
            "a token was logged"
        );
    }
}
