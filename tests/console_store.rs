//! The console's store: one behaviour suite run against both
//! implementations — the embedded SQLite file and a real PostgreSQL
//! (`common/pg.rs` starts one) — plus what only PostgreSQL adds: the
//! schema's version and `fleet-console migrate`, several consoles
//! appending to one chain, the audit refused to an app role and to
//! triggers, and one audit key per database.

mod common;

use common::pg::{Pg, ADMIN};
use common::*;
use fleet_api::{HostResult, Op, OpRequest, OpState, Registration, Verdict};
use fleet_console::server::config::{PgConfig, PgTls, Secret};
use fleet_console::server::store::{NewRow, OpQuery, Store};
use std::path::Path;
use std::sync::{Arc, OnceLock};

/// One cluster for this test binary (each test its own database).
fn cluster() -> &'static Pg {
    static PG: OnceLock<Pg> = OnceLock::new();
    PG.get_or_init(Pg::start)
}

fn pg_config(url: &str) -> PgConfig {
    PgConfig {
        url: Secret::new(url),
        password: None,
        tls: PgTls::Disable,
    }
}

fn pg_store(url: &str, data_dir: &Path) -> Store {
    Store::connect(Some(&pg_config(url)), data_dir).unwrap()
}

fn op(id: &str, who: &str, state: OpState, hosts: &[&str]) -> Op {
    let request: OpRequest =
        serde_json::from_str(r#"{"action":"restart","target":"group:web"}"#).unwrap();
    Op {
        id: id.into(),
        who: who.into(),
        request,
        state,
        created_at: 1,
        finished_at: None,
        hosts: hosts
            .iter()
            .map(|h| HostResult::new(h, Verdict::Pending, String::new(), vec![]))
            .collect(),
        source: Some("127.0.0.1:9".into()),
    }
}

fn row(op_id: &str, kind: &str, at: u64, json: &str) -> NewRow {
    NewRow {
        op_id: op_id.into(),
        kind: kind.into(),
        at,
        who: "ops".into(),
        json: json.into(),
        source: None,
    }
}

fn reg(name: &str, version: &str) -> Registration {
    Registration {
        name: name.into(),
        url: format!("https://{name}:9701"),
        tags: Default::default(),
        version: version.into(),
        agent_token: None,
    }
}

/// What every store must do alike.
fn suite(s: &Store) {
    // Registered agents: a heartbeat keeps the registration time.
    assert!(s.agents().unwrap().is_empty());
    s.upsert_agent(&reg("web-1", "1"), 10).unwrap();
    s.upsert_agent(&reg("db-1", "1"), 11).unwrap();
    s.upsert_agent(&reg("web-1", "2"), 20).unwrap();
    let a = s.agents().unwrap();
    let names: Vec<&str> = a.iter().map(|a| a.reg.name.as_str()).collect();
    assert_eq!(names, ["db-1", "web-1"]);
    assert_eq!(
        (
            a[1].registered_at,
            a[1].last_heartbeat,
            a[1].reg.version.as_str()
        ),
        (10, 20, "2")
    );
    assert!(!s.credential_ok("web-1", "c1"), "no credential issued yet");
    s.set_credential("web-1", "c1").unwrap();
    assert!(s.credential_ok("web-1", "c1"));
    assert!(!s.credential_ok("web-1", "c2"));
    assert!(!s.credential_ok("db-1", "c1"));
    s.remove_agent("db-1").unwrap();
    assert_eq!(s.agents().unwrap().len(), 1);

    // Ops: the intent, per-host records in one batch, the newest
    // intent/result record wins, unfinished ops.
    let o1 = op("op-1", "ops", OpState::Running, &["a", "b"]);
    s.append_intent(&o1, 100).unwrap();
    s.append_rows(&[
        row(
            "op-1",
            "host",
            101,
            r#"{"phase":"started","host":"a","before":[]}"#,
        ),
        row(
            "op-1",
            "host",
            102,
            r#"{"phase":"started","host":"b","before":[]}"#,
        ),
        row("op-1", "host", 103, r#"{"phase":"x","host":"a"}"#),
    ])
    .unwrap();
    let recs = s.op_records("op-1", "host").unwrap();
    let ats: Vec<u64> = recs.iter().map(|r| r.0).collect();
    assert_eq!(ats, [101, 102, 103]);
    assert!(recs[1].1.contains(r#""host":"b""#));
    assert_eq!(s.get("op-1").unwrap().unwrap(), o1);
    assert!(s.get("op-none").unwrap().is_none());
    assert_eq!(s.unfinished_ops().unwrap(), vec![o1.clone()]);
    let mut done = o1.clone();
    done.state = OpState::Done;
    done.hosts[0].verdict = Verdict::Ok;
    done.hosts[1].verdict = Verdict::Failed;
    s.append("result", &done, 104).unwrap();
    assert_eq!(s.get("op-1").unwrap().unwrap(), done);
    assert!(s.unfinished_ops().unwrap().is_empty());
    // An interrupted op with a host left to resolve is still open.
    let mut o2 = op("op-2", "alice", OpState::Interrupted, &["c"]);
    s.append_intent(&o2, 105).unwrap();
    assert_eq!(s.unfinished_ops().unwrap(), vec![o2.clone()]);
    o2.hosts[0].verdict = Verdict::Ok;
    s.append("result", &o2, 106).unwrap();
    assert!(s.unfinished_ops().unwrap().is_empty());
    let o3 = op("op-3", "ops", OpState::Running, &["d"]);
    s.append_intent(&o3, 107).unwrap();

    // Queries, newest first, filtered and paged in SQL.
    let ids = |q: &OpQuery, off, lim| -> (Vec<String>, bool) {
        let (ops, more) = s.query(q, off, lim).unwrap();
        (ops.into_iter().map(|o| o.id).collect(), more)
    };
    let all = OpQuery::default();
    assert_eq!(
        ids(&all, 0, 10),
        (vec!["op-3".into(), "op-2".into(), "op-1".into()], false)
    );
    assert_eq!(ids(&all, 0, 2), (vec!["op-3".into(), "op-2".into()], true));
    assert_eq!(ids(&all, 2, 2), (vec!["op-1".into()], false));
    let who = OpQuery {
        who: Some("alice"),
        ..Default::default()
    };
    assert_eq!(ids(&who, 0, 10).0, ["op-2"]);
    let failed = OpQuery {
        result: Some("failed"),
        ..Default::default()
    };
    assert_eq!(ids(&failed, 0, 10).0, ["op-1"]);
    let running = OpQuery {
        result: Some("running"),
        ..Default::default()
    };
    assert_eq!(ids(&running, 0, 10).0, ["op-3"]);
    let target = OpQuery {
        target: Some("web"),
        action: Some("restart"),
        ..Default::default()
    };
    assert_eq!(ids(&target, 0, 10).0.len(), 3);
    let other = OpQuery {
        action: Some("stop"),
        ..Default::default()
    };
    assert!(ids(&other, 0, 10).0.is_empty());

    // Other events, and the chain over every record.
    s.event(
        "login",
        "ops",
        Some("10.0.0.1:5"),
        &serde_json::json!({"ok": true}),
        108,
    )
    .unwrap();
    let (n, head) = s.verify().unwrap();
    assert_eq!((n, head.len()), (9, 64));
}

#[test]
fn sqlite_store_passes_the_suite() {
    let dir = tempfile::tempdir().unwrap();
    suite(&Store::open(&dir.path().join("data")).unwrap());
}

#[test]
fn postgres_store_passes_the_suite() {
    let (_, url) = cluster().database();
    let dir = tempfile::tempdir().unwrap();
    let s = pg_store(&url, dir.path());
    assert!(
        s.describe().starts_with("PostgreSQL fleet_"),
        "{}",
        s.describe()
    );
    suite(&s);
    // Reopened: the same log, intact.
    drop(s);
    let s = pg_store(&url, dir.path());
    assert_eq!(s.verify().unwrap().0, 9);
}

/// Consoles on one database append to one chain in one order: 4 threads
/// on each of two stores (two consoles' worth), batches and single rows
/// mixed, then every record is linked without a gap.
#[test]
fn concurrent_writers_keep_one_chain() {
    let (_, url) = cluster().database();
    let a_dir = tempfile::tempdir().unwrap();
    let b_dir = tempfile::tempdir().unwrap();
    let a = Arc::new(pg_store(&url, a_dir.path()));
    // The second console holds the first one's key (README, "High
    // availability"); without it, it refuses to start.
    let fresh = tempfile::tempdir().unwrap();
    let e = Store::connect(Some(&pg_config(&url)), fresh.path())
        .err()
        .expect("another key is refused")
        .to_string();
    assert!(e.contains("copy audit.key"), "{e}");
    std::fs::copy(
        a_dir.path().join("audit.key"),
        b_dir.path().join("audit.key"),
    )
    .unwrap();
    let b = Arc::new(pg_store(&url, b_dir.path()));
    let mut threads = Vec::new();
    for (i, s) in [&a, &b, &a, &b, &a, &b, &a, &b].into_iter().enumerate() {
        let s = Arc::clone(s);
        threads.push(std::thread::spawn(move || {
            for j in 0..25u64 {
                let id = format!("op-{i}-{j}");
                if j % 2 == 0 {
                    s.append_rows(&[row(&id, "host", j, "{}"), row(&id, "host", j, "{}")])
                        .unwrap();
                } else {
                    s.append_rows(&[row(&id, "host", j, "{}")]).unwrap();
                }
            }
        }));
    }
    for t in threads {
        t.join().unwrap();
    }
    let want = 8 * (13 * 2 + 12);
    assert_eq!(a.verify().unwrap().0, want);
    assert_eq!(b.verify().unwrap().0, want);
}

/// The audit tables refuse UPDATE, DELETE and TRUNCATE by trigger (to
/// their owner too); the app role `migrate --app-role` sets up may only
/// read and append them. A row slipped in behind the consoles' back is
/// named by `verify`.
#[test]
fn postgres_audit_is_append_only() {
    let pg = cluster();
    let (db, url) = pg.database();
    let dir = tempfile::tempdir().unwrap();
    let role = format!("app_{db}");
    pg.sql("postgres", &format!("CREATE ROLE {role} LOGIN"));
    pg.sql(
        &db,
        &format!("GRANT USAGE, CREATE ON SCHEMA public TO {role}"),
    );
    let before = Store::migrate(Some(&pg_config(&url)), dir.path(), Some(&role)).unwrap();
    assert_eq!(before, (0, 1));
    let s = pg_store(&pg.url(&role, &db), dir.path());
    s.append_intent(&op("op-1", "ops", OpState::Running, &["a"]), 1)
        .unwrap();
    s.append("result", &op("op-1", "ops", OpState::Done, &["a"]), 2)
        .unwrap();
    for sql in [
        "UPDATE audit SET who = 'mallory'",
        "DELETE FROM audit",
        "TRUNCATE audit",
        "UPDATE audit_chain SET hash = 'x'",
        "DELETE FROM audit_key",
    ] {
        let e = pg.try_sql(&role, &db, sql).unwrap_err();
        assert!(e.contains("permission denied"), "{sql}: {e}");
        let e = pg.try_sql(ADMIN, &db, sql).unwrap_err();
        assert!(e.contains("the audit log is append-only"), "{sql}: {e}");
    }
    assert_eq!(s.verify().unwrap().0, 2);
    // Appended behind the console's back: unlinked, named.
    pg.sql(
        &db,
        "INSERT INTO audit (seq, op_id, kind, at, who, op) VALUES (3, '-', 'login', 3, 'eve', '{}')",
    );
    let e = s.verify().unwrap_err().to_string();
    assert!(e.contains("record 3 (login - at 3) has no link"), "{e}");
    // The next append goes after it; the chain still names the intruder.
    s.append_intent(&op("op-2", "ops", OpState::Running, &["a"]), 4)
        .unwrap();
    assert_eq!(s.get("op-2").unwrap().unwrap().id, "op-2");
    assert!(s.verify().is_err());
}

fn write_config(dir: &Path, url: &str) -> std::path::PathBuf {
    let p = dir.join("console.toml");
    let text = format!(
        "[console]\nlisten = \"127.0.0.1:0\"\ndata_dir = \"data\"\ninsecure_no_auth = true\n\n[store]\nurl = \"{url}\"\n"
    );
    std::fs::write(&p, text).unwrap();
    p
}

/// `fleet-console migrate` creates and upgrades; a newer schema is
/// refused by migrate, by the console's start and by `audit verify`;
/// `audit verify` reads PostgreSQL. The URL's password never shows.
#[test]
fn migrate_and_verify_on_postgres() {
    let pg = cluster();
    let (db, url) = pg.database();
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), &url);
    let cfg = cfg.to_str().unwrap();
    let (code, out, err) = console_bin(&["audit", "verify", "--config", cfg]);
    assert_eq!(code, Some(1), "{out}{err}");
    assert!(
        err.contains("no fleet schema: run fleet-console migrate"),
        "{err}"
    );
    let (code, out, err) = console_bin(&["migrate", "--config", cfg]);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(
        out.trim(),
        "PostgreSQL store: schema migrated from version 0 to 1"
    );
    let (_, out, _) = console_bin(&["migrate", "--config", cfg]);
    assert_eq!(out.trim(), "PostgreSQL store: schema version 1, up to date");
    {
        let s = pg_store(&url, &dir.path().join("data"));
        s.append_intent(&op("op-1", "ops", OpState::Running, &["a"]), 1)
            .unwrap();
    }
    let (code, out, err) = console_bin(&["audit", "verify", "--config", cfg]);
    assert_eq!(code, Some(0), "{err}");
    assert!(
        out.starts_with("audit log intact: 1 record(s), head "),
        "{out}"
    );

    pg.sql(&db, "UPDATE fleet_schema SET version = 99");
    for args in [
        vec!["migrate", "--config", cfg],
        vec!["audit", "verify", "--config", cfg],
        vec!["--config", cfg],
    ] {
        let (code, out, err) = console_bin(&args);
        assert_eq!(code, Some(1), "{args:?}: {out}{err}");
        assert!(
            err.contains("schema version 99 is newer than this console's (1)"),
            "{args:?}: {err}"
        );
    }

    // A password in the URL is never printed (here: a wrong one for a
    // database that does not exist).
    let bad = write_config(
        dir.path(),
        &format!(
            "postgres://{ADMIN}:hunter2secret@127.0.0.1:{}/nope",
            pg.port
        ),
    );
    let (code, out, err) = console_bin(&["migrate", "--config", bad.to_str().unwrap()]);
    assert_eq!(code, Some(1));
    assert!(
        !out.contains("hunter2") && !err.contains("hunter2"),
        "{out}{err}"
    );
    assert!(err.contains(r#"database "nope" does not exist"#), "{err}");
}

/// SQLite's schema is versioned too: migrate on a fresh data dir, then
/// "up to date"; a newer file is refused.
#[test]
fn migrate_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("console.toml");
    std::fs::write(
        &p,
        "[console]\nlisten = \"127.0.0.1:0\"\ndata_dir = \"data\"\ninsecure_no_auth = true\n",
    )
    .unwrap();
    let cfg = p.to_str().unwrap();
    let (code, out, err) = console_bin(&["migrate", "--config", cfg]);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(
        out.trim(),
        "SQLite store: schema migrated from version 0 to 1"
    );
    let (_, out, _) = console_bin(&["migrate", "--config", cfg]);
    assert_eq!(out.trim(), "SQLite store: schema version 1, up to date");
    let (code, _, err) = console_bin(&["migrate", "--app-role", "x", "--config", cfg]);
    assert_eq!(code, Some(1));
    assert!(err.contains("only for a PostgreSQL store"), "{err}");
}

/// The cost of an op's per-host records, one transaction per batch: a
/// 500-host op's 1,000 records (a measurement, printed; the check is only
/// that they all land, linked).
#[test]
fn batched_host_records_on_both_stores() {
    let (_, url) = cluster().database();
    let pdir = tempfile::tempdir().unwrap();
    let ldir = tempfile::tempdir().unwrap();
    for (name, s) in [
        ("sqlite", Store::open(ldir.path()).unwrap()),
        ("postgres", pg_store(&url, pdir.path())),
    ] {
        let rows: Vec<NewRow> = (0..1000)
            .map(|i| {
                row(
                    "op-big",
                    "host",
                    i,
                    r#"{"phase":"started","host":"h","before":[]}"#,
                )
            })
            .collect();
        let t = std::time::Instant::now();
        for chunk in rows.chunks(64) {
            s.append_rows(chunk).unwrap();
        }
        let took = t.elapsed();
        println!("{name}: 1000 host records in batches of 64: {took:?}");
        assert_eq!(s.op_records("op-big", "host").unwrap().len(), 1000);
        assert_eq!(s.verify().unwrap().0, 1000);
    }
}

/// Sessions through the PostgreSQL store: opened by one console, seen and
/// closed by another; one token's logins in a loop evict only its own
/// oldest; idle ones expire by the database's clock.
#[test]
fn postgres_sessions_are_shared() {
    use fleet_console::server::auth::{Caller, SharedSessions};
    let (_, url) = cluster().database();
    let a_dir = tempfile::tempdir().unwrap();
    let b_dir = tempfile::tempdir().unwrap();
    let a = pg_store(&url, a_dir.path());
    std::fs::copy(
        a_dir.path().join("audit.key"),
        b_dir.path().join("audit.key"),
    )
    .unwrap();
    let b = pg_store(&url, b_dir.path());
    let day = std::time::Duration::from_secs(86400);
    let ops = Caller {
        name: "ops".into(),
        role: fleet_api::Role::Operator,
    };
    SharedSessions::open(&a, "k1", &ops, "csrf1", day, 3).unwrap();
    let (who, csrf) = SharedSessions::get(&b, "k1", day).unwrap();
    assert_eq!(
        (who.name.as_str(), who.role, csrf.as_str()),
        ("ops", fleet_api::Role::Operator, "csrf1")
    );
    assert!(SharedSessions::close(&b, "k1"));
    assert!(SharedSessions::get(&a, "k1", day).is_none());
    let viewer = Caller {
        name: "watcher".into(),
        role: fleet_api::Role::Viewer,
    };
    SharedSessions::open(&a, "v", &viewer, "c", day, 3).unwrap();
    for i in 0..5 {
        SharedSessions::open(&a, &format!("o{i}"), &ops, "c", day, 3).unwrap();
    }
    let live: Vec<bool> = (0..5)
        .map(|i| SharedSessions::get(&b, &format!("o{i}"), day).is_some())
        .collect();
    assert_eq!(live, [false, false, true, true, true]);
    assert!(
        SharedSessions::get(&b, "v", day).is_some(),
        "another token's session stays"
    );
    assert!(
        SharedSessions::get(&b, "v", std::time::Duration::ZERO).is_none(),
        "idle"
    );
}

/// Expired leases are claimed for every unfinished op: one running, and
/// one left `interrupted` with a host still pending (the console
/// resolving it stopped too); a finished one is not. Each claim raises
/// the fence; a live lease is not claimed again.
#[test]
fn expired_leases_cover_running_and_half_resolved_ops() {
    let (db, url) = cluster().database();
    let dir = tempfile::tempdir().unwrap();
    let s = pg_store(&url, dir.path());
    for id in ["op-run", "op-half", "op-done"] {
        let o = op(id, "ops", OpState::Running, &["h-1"]);
        let fence = s.admit(&o, 1, Box::new(|_| None)).unwrap().unwrap();
        assert_eq!(fence, Some(1));
    }
    let mut half = op("op-half", "ops", OpState::Interrupted, &["h-1"]);
    half.finished_at = Some(2);
    let mut done = op("op-done", "ops", OpState::Done, &["h-1"]);
    done.hosts[0].verdict = Verdict::Ok;
    for o in [&half, &done] {
        let json = serde_json::to_string(o).unwrap();
        s.append_rows(&[row(&o.id, "result", 2, &json)]).unwrap();
    }
    assert!(s.claim_expired().unwrap().is_empty(), "leases still live");
    cluster().sql(
        &db,
        "UPDATE op_leases SET expires = now() - interval '1 second'",
    );
    let mut claimed = s.claim_expired().unwrap();
    claimed.sort();
    assert_eq!(
        claimed,
        [("op-half".to_string(), 2), ("op-run".to_string(), 2)]
    );
    assert!(s.claim_expired().unwrap().is_empty(), "claimed twice");
}

/// `[store] tls`: `verify-full` connects over TLS with the right CA and
/// refuses a server its CA did not sign; `require` connects over TLS
/// without a CA. The server's own view (`pg_stat_ssl`) says TLS.
#[test]
fn tls_to_postgres() {
    let pg = Pg::start();
    let pki = common::pki::pki();
    pg.enable_tls(&pki);
    let (db, url) = pg.database();
    let files = tempfile::tempdir().unwrap();
    pki.write(files.path());
    let other = tempfile::tempdir().unwrap();
    common::pki::pki().write(other.path());
    let over_tls = || {
        pg.sql(
            &db,
            "SELECT count(*) FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid)
             WHERE s.ssl AND a.application_name = 'fleet-console'",
        )
    };
    // One data dir: the consoles of one database share its audit key.
    let data = tempfile::tempdir().unwrap();
    let connect = |tls: PgTls| {
        let c = PgConfig {
            tls,
            ..pg_config(&url)
        };
        Store::connect(Some(&c), data.path())
    };
    let ok = connect(PgTls::VerifyFull(files.path().join("ca.pem"))).unwrap();
    assert_ne!(over_tls().trim(), "0");
    drop(ok);
    let e = connect(PgTls::VerifyFull(other.path().join("ca.pem")))
        .map(|_| ())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("certificate") || e.contains("Certificate"),
        "{e}"
    );
    let ok = connect(PgTls::Require).unwrap();
    assert_ne!(over_tls().trim(), "0");
    drop(ok);
}
