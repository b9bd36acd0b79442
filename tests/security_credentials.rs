//! Issue #14, credentials: the enrollment token expires and rotates
//! without a gap (several valid at once) while enrolled agents go on with
//! their own credential, and logins are rate-limited per source address,
//! so one attacker cannot lock everyone out. Real binaries throughout.

mod common;
use common::console::*;
use common::*;
use std::time::Duration;

const T: Duration = Duration::from_secs(30);
const OLD: &str = "enroll-old-0123456789abcdefXYZ";
const NEW: &str = "enroll-new-0123456789abcdefXYZ";

/// The console's audit rows of `kind`, as (who, detail) pairs.
fn audit_rows(c: &Console, kind: &str) -> Vec<(String, String)> {
    let db = rusqlite::Connection::open_with_flags(
        c.dir.path().join("data/console.db"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .unwrap();
    let mut q = db
        .prepare("SELECT who, op FROM audit WHERE kind = ?1 ORDER BY seq")
        .unwrap();
    q.query_map([kind], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

fn register(c: &Console, token: &str, name: &str) -> Response {
    let reg = format!(r#"{{"name":"{name}","url":"http://127.0.0.1:1","version":"0"}}"#);
    c.request("POST", "/v1/agents/register", Some(token), &reg)
}

fn registered(a: &Agent) -> usize {
    a.stderr().matches("registered with the console").count()
}

/// Rewrite the `[enrollment]` section and restart the console on its
/// port; returns once `a` has seen it down and heartbeated to the new one.
fn reconfigure(c: &mut Console, a: &Agent, enrollment: &str) {
    let failed = |a: &Agent| a.stderr().matches("registration failed").count();
    let (before, fails) = (registered(a), failed(a));
    c.stop();
    wait_for(T, "a heartbeat to fail while the console is down", || {
        (failed(a) > fails).then_some(())
    });
    let text = std::fs::read_to_string(&c.config).unwrap();
    let head = &text[..text.find("[enrollment]").unwrap()];
    std::fs::write(&c.config, format!("{head}{enrollment}")).unwrap();
    c.spawn();
    wait_for(T, "the agent's heartbeat to the restarted console", || {
        (registered(a) > before).then_some(())
    });
}

/// T3 / issue #14: the enrollment token only bootstraps. Rotation adds the
/// new token next to the old one (both enroll), then expires the old one:
/// it is refused with a message saying it expired, the refusal is
/// audited, and the agent that enrolled with it keeps heartbeating with
/// its own credential throughout.
#[test]
fn t3_enrollment_tokens_expire_and_rotate_without_disturbing_enrolled_agents() {
    let mut c = Console::start_with(
        "heartbeat_secs = 1",
        &format!("[enrollment]\ntoken = \"{OLD}\"\n"),
    );
    let a = Agent::start_with(
        &format!(
            "name = \"enrolled\"\nlisten = \"127.0.0.1:0\"\ntoken = \"{AGENT_TOKEN}\"\n\
             console = \"http://127.0.0.1:{}\"\nenrollment_token = \"{OLD}\"\n",
            c.port
        ),
        CELERY,
    );
    wait_for(T, "the enrolled agent's processes", || {
        (c.get("/v1/status")["processes"].as_array().map(Vec::len) == Some(2)).then_some(())
    });
    // Rotation, step 1: the new token beside the old one; both enroll.
    reconfigure(
        &mut c,
        &a,
        &format!(
            "[enrollment]\ntoken = \"{NEW}\"\n\n[[enrollment.tokens]]\nname = \"old\"\n\
             token = \"{OLD}\"\nexpires = 2999-01-01T00:00:00Z\n"
        ),
    );
    for (token, name) in [(OLD, "late-old"), (NEW, "late-new")] {
        let r = register(&c, token, name);
        assert_eq!(r.status, 200, "{name}: {}", r.text());
    }

    // Step 2: the old token has expired.
    reconfigure(
        &mut c,
        &a,
        &format!(
            "[enrollment]\ntoken = \"{NEW}\"\n\n[[enrollment.tokens]]\nname = \"old\"\n\
             token = \"{OLD}\"\nexpires = 2001-01-01\n"
        ),
    );
    let r = register(&c, OLD, "too-late");
    assert_eq!(r.status, 401, "{}", r.text());
    let msg = r.json()["error"]["message"].as_str().unwrap().to_string();
    assert!(
        msg.contains("enrollment token \"old\" expired at 2001-01-01"),
        "{msg}"
    );
    assert!(!msg.contains(OLD), "{msg}");
    let refused = audit_rows(&c, "register_refused");
    assert!(
        refused
            .iter()
            .any(|(who, d)| who == "too-late" && d.contains("expired at 2001-01-01")),
        "{refused:?}"
    );
    let r = register(&c, NEW, "on-time");
    assert_eq!(r.status, 200, "{}", r.text());

    // The enrolled agent is still there, followed, heartbeating with its
    // own credential (never falling back to the expired token).
    wait_for(T, "the agent's processes on the restarted console", || {
        (c.get("/v1/status")["processes"].as_array().map(Vec::len) == Some(2)).then_some(())
    });
    assert!(!a.stderr().contains(" 401 "), "{}", a.stderr());
    assert!(
        !a.stderr().contains("expired"),
        "the agent used the old token: {}",
        a.stderr()
    );
    for log in [a.stderr(), c.stderr()] {
        assert!(
            !log.contains(OLD) && !log.contains(NEW),
            "a token was logged"
        );
    }
}

/// One HTTP request to the console from the loopback address `from`
/// (127.0.0.0/8 is all loopback on Linux: a second source on one host).
fn login_from(c: &Console, from: &str, token: &str) -> u16 {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .unwrap();
    let stream = rt.block_on(async {
        let s = tokio::net::TcpSocket::new_v4().unwrap();
        s.bind(format!("{from}:0").parse().unwrap()).unwrap();
        s.connect(([127, 0, 0, 1], c.port).into()).await.unwrap()
    });
    let stream = stream.into_std().unwrap();
    stream.set_nonblocking(false).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let body = format!(r#"{{"token":"{token}"}}"#);
    http(stream, "POST", "/v1/session", &[], body.as_bytes())
        .unwrap()
        .status
}

/// T11 / issue #14 item 11: logins are rate-limited per source address. An
/// attacker guessing tokens from one address runs into 429 — and the
/// operator logging in from another address at that moment gets in.
#[test]
fn t11_a_login_flood_from_one_address_does_not_lock_out_another() {
    let c = Console::start("");
    // Waves of 25 concurrent guesses, so the flood outpaces the refill
    // (2/s) however slow the machine is.
    let mut statuses = Vec::new();
    for _ in 0..10 {
        let wave: Vec<u16> = std::thread::scope(|s| {
            let guesses: Vec<_> = (0..25)
                .map(|_| s.spawn(|| login_from(&c, "127.0.0.2", "guess-0123456789abcdefghijkl")))
                .collect();
            guesses.into_iter().map(|g| g.join().unwrap()).collect()
        });
        statuses.extend(wave);
        if statuses.contains(&429) {
            break;
        }
    }
    assert!(statuses.contains(&429), "never throttled: {statuses:?}");
    assert!(
        statuses.iter().all(|&s| s == 401 || s == 429),
        "{statuses:?}"
    );
    // The first 20 (the burst) were answered.
    assert!(
        statuses.iter().filter(|&&s| s == 401).count() >= 20,
        "{statuses:?}"
    );
    assert_eq!(login_from(&c, "127.0.0.1", OPERATOR), 200);
}

/// Issue #14 item 9 (T3): the console's store, which holds registered
/// agents' credentials and the audit log, is the console's alone: the data
/// directory is created 0700 and console.db (with its WAL) 0600.
#[test]
fn t3_the_console_store_is_private() {
    use std::os::unix::fs::PermissionsExt;
    let c = Console::start(&format!("[enrollment]\ntoken = \"{NEW}\"\n"));
    // A registration writes to the store (and its WAL).
    assert_eq!(register(&c, NEW, "private").status, 200);
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    let data = c.dir.path().join("data");
    assert_eq!(mode(&data), 0o700);
    let mut files = 0;
    for e in std::fs::read_dir(&data).unwrap() {
        let p = e.unwrap().path();
        assert_eq!(mode(&p), 0o600, "{}", p.display());
        files += 1;
    }
    assert!(files >= 1);
    assert_eq!(mode(&data.join("console.db")), 0o600);
}
