//! Issue #23: the console's hardening, attacked end to end against the real
//! binary — enrollment under an anonymous flood, an audit chain that stays
//! broken once broken (keyed, its head kept outside the database), remote
//! text never echoed, URLs parsed for real, the data dir the console's own.

mod common;
use common::console::*;
use common::*;
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const ENROLL: &str = "enroll-token-0123456789abcdefXYZ";

fn verify(c: &Console) -> (Option<i32>, String) {
    let cfg = c.config.to_str().unwrap().to_string();
    let (code, out, err) = console_bin(&["audit", "verify", "--config", &cfg]);
    (code, out + &err)
}

fn refused_rows(c: &Console) -> Vec<serde_json::Value> {
    let db = c.dir.path().join("data/console.db");
    let conn = rusqlite::Connection::open(&db).unwrap();
    let mut st = conn
        .prepare("SELECT op FROM audit WHERE kind = 'register_refused' ORDER BY seq")
        .unwrap();
    let rows = st
        .query_map([], |r| r.get::<_, String>(0))
        .unwrap()
        .map(|r| serde_json::from_str(&r.unwrap()).unwrap())
        .collect();
    rows
}

fn registration(name: &str, port: u16) -> String {
    format!(
        r#"{{"name":"{name}","url":"http://127.0.0.1:{port}","version":"0","agent_token":"{AGENT_TOKEN}"}}"#
    )
}

/// T6b / issue #23 item 2: a flood of registrations without a credential
/// spends only its own source's bucket: every real enrollment and every
/// heartbeat during it succeeds, and the flood leaves a handful of audit
/// rows (a per-source summary) that still count every refusal.
#[test]
fn t23_anonymous_registration_flood_never_blocks_enrollment_or_heartbeats() {
    let mut c = Console::start(&format!(
        "[enrollment]\ntoken = \"{ENROLL}\"\nrate_per_sec = 20\n"
    ));
    let stop = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicU64::new(0));
    let port = c.port;
    let flooders: Vec<_> = (0..3)
        .map(|t| {
            let (stop, sent) = (stop.clone(), sent.clone());
            std::thread::spawn(move || {
                let mut i = 0;
                while !stop.load(Ordering::Relaxed) {
                    let Ok(s) = TcpStream::connect(("127.0.0.1", port)) else {
                        continue;
                    };
                    let body = registration(&format!("bogus-{t}-{i}"), 1);
                    let r = http(
                        s,
                        "POST",
                        "/v1/agents/register",
                        &[("Authorization", "Bearer not-a-valid-token-0123456789")],
                        body.as_bytes(),
                    );
                    if let Ok(r) = r {
                        assert!(r.status == 401 || r.status == 429, "{}", r.status);
                        sent.fetch_add(1, Ordering::Relaxed);
                    }
                    i += 1;
                }
            })
        })
        .collect();
    // The flood is under way before the real agents come.
    wait_for(Duration::from_secs(20), "the flood to start", || {
        (sent.load(Ordering::Relaxed) > 300).then_some(())
    });
    let started = Instant::now();
    let mut credentials = Vec::new();
    for i in 0..8 {
        let r = c.request(
            "POST",
            "/v1/agents/register",
            Some(ENROLL),
            &registration(&format!("real-{i}"), 1),
        );
        assert_eq!(
            r.status,
            200,
            "enrollment {i} during the flood: {}",
            r.text()
        );
        credentials.push(r.json()["credential"].as_str().unwrap().to_string());
    }
    for round in 0..3 {
        for (i, cred) in credentials.iter().enumerate() {
            let r = c.request(
                "POST",
                "/v1/agents/register",
                Some(cred),
                &registration(&format!("real-{i}"), 1),
            );
            assert_eq!(
                r.status,
                200,
                "heartbeat {round}/{i} during the flood: {}",
                r.text()
            );
        }
    }
    // Keep flooding for a while after the real calls, then stop.
    while started.elapsed() < Duration::from_secs(3) {
        std::thread::yield_now();
    }
    stop.store(true, Ordering::Relaxed);
    for f in flooders {
        f.join().unwrap();
    }
    let flood = sent.load(Ordering::Relaxed);
    c.stop();
    let rows = refused_rows(&c);
    assert!(
        !rows.is_empty() && rows.len() <= 3,
        "{} audit rows for a flood of {flood}: {rows:?}",
        rows.len()
    );
    let counted: u64 = rows.iter().map(|r| r["refused"].as_u64().unwrap()).sum();
    // Every refusal the flood saw is counted (the console may have counted
    // a request whose answer the flooder did not read in full).
    assert!(
        counted >= flood && counted <= flood + 3,
        "{counted} counted for {flood} refused: {rows:?}"
    );
    assert!(
        rows.iter().any(|r| r["reason"]
            .as_str()
            .unwrap()
            .contains("refused from 127.0.0.1")),
        "{rows:?}"
    );
    let (code, out) = verify(&c);
    assert_eq!(code, Some(0), "{out}");
}

/// SHA-256 links as the unkeyed chain computed them: what an attacker with
/// the database (and no key) can recompute.
fn plain_link(prev: &str, fields: &[String]) -> String {
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    ctx.update(prev.as_bytes());
    for f in fields {
        ctx.update(&(f.len() as u64).to_be_bytes());
        ctx.update(f.as_bytes());
    }
    // The attacker's own hex, not the product's.
    ctx.finish()
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn some_audit_rows(c: &Console) {
    for token in [OPERATOR, "guess-0123456789abcdefghij", VIEWER] {
        let r = c.request(
            "POST",
            "/v1/session",
            None,
            &format!("{{\"token\":\"{token}\"}}"),
        );
        assert!(r.status == 200 || r.status == 401, "{}", r.text());
    }
}

/// T21b / issue #23 item 3: a row appended behind the console's back stays
/// unlinked — `audit verify` fails before and after a restart (the console
/// no longer links unlinked rows at start); an edited row whose chain the
/// attacker recomputed without the key fails; a tail cut is caught by the
/// head kept outside the database.
#[test]
fn t23_forged_edited_and_cut_audit_rows_are_caught_across_restarts() {
    let mut c = Console::start("");
    some_audit_rows(&c);
    c.stop();
    let (code, out) = verify(&c);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("audit log intact: 3 record(s)"), "{out}");
    let key = c.dir.path().join("data/audit.key");
    let mode = std::fs::metadata(&key).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "audit.key mode {mode:o}");
    let db = c.dir.path().join("data/console.db");

    // 1. A forged row appended (INSERT is allowed by the triggers).
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.execute(
        "INSERT INTO audit (op_id, kind, at, who, op, source) VALUES ('-', 'login', 1, 'ops', '{}', NULL)",
        [],
    )
    .unwrap();
    drop(conn);
    let (code, out) = verify(&c);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("record 4 (login - at 1) has no link"), "{out}");
    c.spawn();
    some_audit_rows(&c);
    c.stop();
    let (code, out) = verify(&c);
    assert_eq!(code, Some(1), "after a restart: {out}");
    assert!(out.contains("record 4 (login - at 1) has no link"), "{out}");

    // 2. A fresh log; a record edited and the whole chain recomputed the
    // way an unkeyed SHA-256 chain allows.
    let mut c = Console::start("");
    some_audit_rows(&c);
    c.stop();
    let db = c.dir.path().join("data/console.db");
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.execute_batch(
        "DROP TRIGGER audit_no_update; DROP TRIGGER audit_chain_no_update;
         UPDATE audit SET who = 'someone-else' WHERE seq = 2;",
    )
    .unwrap();
    let rows: Vec<(i64, Vec<String>)> = conn
        .prepare("SELECT seq, op_id, kind, at, who, op, source FROM audit ORDER BY seq")
        .unwrap()
        .query_map([], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                vec![
                    r.get::<_, i64>(0)?.to_string(),
                    r.get(1)?,
                    r.get(2)?,
                    r.get::<_, i64>(3)?.to_string(),
                    r.get(4)?,
                    r.get(5)?,
                    r.get::<_, Option<String>>(6)?.unwrap_or_default(),
                ],
            ))
        })
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let mut prev = "0".repeat(64);
    for (seq, fields) in rows {
        prev = plain_link(&prev, &fields);
        conn.execute(
            "UPDATE audit_chain SET hash = ?1 WHERE seq = ?2",
            rusqlite::params![prev, seq],
        )
        .unwrap();
    }
    drop(conn);
    let (code, out) = verify(&c);
    assert_eq!(code, Some(1), "a recomputed unkeyed chain passed: {out}");
    assert!(
        out.contains("record 1 ") && out.contains("does not match"),
        "{out}"
    );
    c.spawn();
    c.stop();
    let (code, out) = verify(&c);
    assert_eq!(code, Some(1), "after a restart: {out}");

    // 3. A fresh log cut at its tail (the newest record and its link).
    let mut c = Console::start("");
    some_audit_rows(&c);
    c.stop();
    let db = c.dir.path().join("data/console.db");
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.execute_batch(
        "DROP TRIGGER audit_no_delete; DROP TRIGGER audit_chain_no_delete;
         DELETE FROM audit WHERE seq = 3; DELETE FROM audit_chain WHERE seq = 3;",
    )
    .unwrap();
    drop(conn);
    let (code, out) = verify(&c);
    assert_eq!(code, Some(1), "a cut tail passed: {out}");
    assert!(out.contains("record 3 is missing"), "{out}");
}

/// A stand-in for a service that is no fleet agent: every request gets
/// 200 with a JSON string that must never be shown to anyone.
fn not_an_agent(marker: &'static str) -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(mut s) = s else { continue };
            std::thread::spawn(move || {
                use std::io::{Read, Write};
                let mut buf = [0u8; 4096];
                let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
                let _ = s.read(&mut buf);
                let body = format!("\"{marker}\"");
                let _ = write!(
                    s,
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
            });
        }
    });
    port
}

/// Issue #23 item 4: the registration challenge to a URL that is no fleet
/// agent never quotes that service's answer (in `/v1/hosts`, which viewers
/// read, nor in the console's log); a URL with a backslash is refused.
#[test]
fn t23_remote_answers_are_never_echoed_and_urls_are_parsed_for_real() {
    const MARKER: &str = "internal-secret-marker-4242";
    let port = not_an_agent(MARKER);
    let mut c = Console::start(&format!("[enrollment]\ntoken = \"{ENROLL}\"\n"));
    let r = c.request(
        "POST",
        "/v1/agents/register",
        Some(ENROLL),
        &registration("imposter", port),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let hosts = wait_for(Duration::from_secs(20), "the challenge to fail", || {
        let h = c.get("/v1/hosts").to_string();
        h.contains("not verified").then_some(h)
    });
    assert!(!hosts.contains(MARKER), "{hosts}");
    assert!(hosts.contains("unexpected answer ("), "{hosts}");

    let bad = format!(
        r#"{{"name":"bs","url":"http://127.0.0.1:{port}\\admin\\x","version":"0","agent_token":"{AGENT_TOKEN}"}}"#
    );
    let r = c.request("POST", "/v1/agents/register", Some(ENROLL), &bad);
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(
        r.text().contains("expected scheme://host:port"),
        "{}",
        r.text()
    );
    let hosts = c.get("/v1/hosts").to_string();
    assert!(!hosts.contains("\"bs\""), "{hosts}");
    c.stop();
    assert!(!c.stderr().contains(MARKER), "{}", c.stderr());
}

/// Issue #23 item 4: an existing data dir left 0755 is the console's alone
/// (0700) once it starts; the store is 0600.
#[test]
fn t23_an_existing_open_data_dir_is_tightened_at_start() {
    let mut c = Console::start("");
    c.stop();
    let data = c.dir.path().join("data");
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).unwrap();
    c.spawn();
    let mode = std::fs::metadata(&data).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o700, "data dir {mode:o}");
    let db = std::fs::metadata(data.join("console.db"))
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(db, 0o600, "console.db {db:o}");
    c.stop();
}
