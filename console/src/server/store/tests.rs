//! The store's tests: the audit log's records, queries and chain.

use super::*;
use fleet_api::{Op, OpRequest, OpState, StrategyKind, Verb, Verdict};

/// The reference `query` is checked against: every op decoded and
/// filtered in Rust. Newest first: the ops `keep` accepts, `offset` of
/// them skipped, at most `limit`, and whether more follow.
fn list(
    s: &Store,
    mut keep: impl FnMut(&Op) -> bool,
    offset: usize,
    limit: usize,
) -> Result<(Vec<Op>, bool)> {
    let db = s.db();
    let mut st = db
        .prepare(
            "SELECT a.op FROM audit a JOIN
               (SELECT MAX(seq) AS last, MIN(seq) AS first FROM audit
                WHERE kind IN ('intent', 'result') GROUP BY op_id) b
             ON a.seq = b.last ORDER BY b.first DESC",
        )
        .map_err(StoreError::sql("test"))?;
    let rows = st
        .query_map([], |r| r.get::<_, String>(0))
        .map_err(StoreError::sql("test"))?;
    let mut out = Vec::new();
    let mut skipped = 0;
    for r in rows {
        let j = r.map_err(StoreError::sql("test"))?;
        let op: Op = serde_json::from_str(&j).map_err(StoreError::json("test"))?;
        if !keep(&op) {
            continue;
        }
        if skipped < offset {
            skipped += 1;
            continue;
        }
        if out.len() == limit {
            return Ok((out, true));
        }
        out.push(op);
    }
    Ok((out, false))
}

fn op(id: &str, state: OpState) -> Op {
    Op {
        id: id.into(),
        who: "ops".into(),
        request: OpRequest {
            action: Verb::Restart,
            target: "all".into(),
            hosts: None,
            signal: None,
            strategy: StrategyKind::Parallel,
            concurrency: None,
            batch: None,
            max_failures: None,
            timeout_ms: None,
            dry_run: false,
            only: vec![],
            with_deps: false,
        },
        state,
        created_at: 1,
        finished_at: None,
        hosts: vec![],
        source: None,
    }
}

#[test]
fn append_only_newest_record_wins_and_survives_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(&dir.path().join("data")).unwrap();
    s.append("intent", &op("a", OpState::Running), 1).unwrap();
    s.append("intent", &op("b", OpState::Running), 2).unwrap();
    s.append("result", &op("a", OpState::Done), 3).unwrap();
    let (all, more) = list(&s, |_| true, 0, 10).unwrap();
    assert_eq!(
        all.iter().map(|o| o.id.as_str()).collect::<Vec<_>>(),
        ["b", "a"]
    );
    assert!(!more);
    // Paging and filtering: newest first, skip, then whether more match.
    assert_eq!(list(&s, |_| true, 0, 1).unwrap().0[0].id, "b");
    assert!(list(&s, |_| true, 0, 1).unwrap().1);
    let (page2, more) = list(&s, |_| true, 1, 1).unwrap();
    assert_eq!((page2[0].id.as_str(), more), ("a", false));
    let done = list(&s, |o| o.state == OpState::Done, 0, 10).unwrap().0;
    assert_eq!(done.len(), 1);
    assert_eq!(all[1].state, OpState::Done);
    assert!(s.db().execute("DELETE FROM audit", []).is_err());
    assert!(s.db().execute("UPDATE audit SET who = 'x'", []).is_err());
    s.event(
        "login",
        "ops",
        Some("127.0.0.1:1"),
        &serde_json::json!({}),
        4,
    )
    .unwrap();
    assert_eq!(
        list(&s, |_| true, 0, 10).unwrap().0.len(),
        2,
        "events are not ops"
    );
    assert_eq!(s.verify().unwrap().0, 4);
    drop(s);
    let s = Store::open(&dir.path().join("data")).unwrap();
    let open = s.unfinished_ops().unwrap();
    assert_eq!(
        open.iter().map(|o| o.id.as_str()).collect::<Vec<_>>(),
        ["b"]
    );
    s.op_record("b", "host", "ops", "{}", 9).unwrap();
    assert_eq!(s.op_records("b", "host").unwrap(), [(9, "{}".to_string())]);
    let b = s.get("b").unwrap().unwrap();
    assert_eq!(b.state, OpState::Running, "a progress record is not the op");
    assert_eq!(list(&s, |_| true, 0, 10).unwrap().0.len(), 2);
    // Interrupted with a host left to resolve is still unfinished;
    // resolved, it is not.
    let mut b = op("b", OpState::Interrupted);
    b.hosts = vec![fleet_api::HostResult {
        host: "h".into(),
        verdict: Verdict::Pending,
        batch: None,
        message: String::new(),
        processes: vec![],
    }];
    s.append("result", &b, 10).unwrap();
    assert_eq!(s.unfinished_ops().unwrap().len(), 1);
    b.hosts[0].verdict = Verdict::Ok;
    s.append("result", &b, 11).unwrap();
    assert!(s.unfinished_ops().unwrap().is_empty());
    assert_eq!(s.verify().unwrap().0, 7);
}

/// `query` keeps exactly what the filter it replaced (a Rust closure
/// over every decoded op) kept, in the same order and pages.
#[test]
fn query_in_sql_equals_the_old_filter_over_every_op() {
    use fleet_api::{HostResult, Verdict};
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(dir.path()).unwrap();
    let verbs = [Verb::Start, Verb::Stop, Verb::Restart, Verb::Signal];
    let verdicts = [
        Verdict::Ok,
        Verdict::Failed,
        Verdict::Unreachable,
        Verdict::Skipped,
    ];
    let mut at = 0;
    for i in 0..300usize {
        let mut o = op(&format!("op-{i:03}"), OpState::Running);
        o.who = ["ops", "alice", "bob"][i % 3].into();
        o.request.action = verbs[i % 4];
        o.request.target = ["all", "web", "celery:worker_00", "webby"][i % 7 % 4].into();
        o.request.hosts = [None, Some("@workers".into()), Some("w-0*".into())][i % 5 % 3].clone();
        o.hosts = (0..i % 4)
            .map(|h| HostResult {
                host: format!("w-{h}"),
                verdict: verdicts[(i + h) % 4],
                batch: None,
                message: String::new(),
                processes: vec![],
            })
            .collect();
        at += 1;
        s.append("intent", &o, at).unwrap();
        // Most finish (done or aborted); some never do.
        if i % 6 != 0 {
            o.state = [OpState::Done, OpState::Aborted][i % 11 % 2];
            at += 1;
            s.append("result", &o, at).unwrap();
        }
        if i % 50 == 0 {
            s.event("login", "ops", None, &serde_json::json!({}), at)
                .unwrap();
        }
    }
    // The filter `query` replaced, as it was.
    let keeps = |f: &OpQuery, op: &Op| {
        let r = &op.request;
        let failed = op
            .hosts
            .iter()
            .any(|h| matches!(h.verdict, Verdict::Failed | Verdict::Unreachable));
        f.action.is_none_or(|a| r.action.to_string() == a)
            && f.target.is_none_or(|t| {
                r.target.contains(t) || r.hosts.as_deref().unwrap_or("all").contains(t)
            })
            && f.who.is_none_or(|w| op.who == w)
            && f.result.is_none_or(|want| match want {
                "ok" => op.state == OpState::Done && !failed,
                "failed" => failed,
                "running" => op.state == OpState::Running,
                _ => op.state == OpState::Aborted,
            })
    };
    let ids = |l: &[Op]| l.iter().map(|o| o.id.clone()).collect::<Vec<_>>();
    let mut checked = 0;
    for action in [None, Some("restart"), Some("signal"), Some("nope")] {
        for target in [
            None,
            Some("web"),
            Some("all"),
            Some("@work"),
            Some(""),
            Some("w-0*"),
        ] {
            for who in [None, Some("alice")] {
                for result in [
                    None,
                    Some("ok"),
                    Some("failed"),
                    Some("running"),
                    Some("aborted"),
                ] {
                    let f = OpQuery {
                        action,
                        target,
                        who,
                        result,
                    };
                    for (offset, limit) in [(0, 1000), (0, 7), (5, 7), (40, 3), (1000, 5), (0, 0)] {
                        let old = list(&s, |o| keeps(&f, o), offset, limit).unwrap();
                        let new = s.query(&f, offset, limit).unwrap();
                        assert_eq!(
                            (ids(&new.0), new.1),
                            (ids(&old.0), old.1),
                            "{f:?} offset {offset} limit {limit}"
                        );
                        checked += old.0.len();
                    }
                }
            }
        }
    }
    assert!(
        checked > 1000,
        "the filters kept too little to compare: {checked}"
    );
    // Whole ops come back, not just their ids.
    let all = s.query(&OpQuery::default(), 0, 1000).unwrap().0;
    assert_eq!(all.len(), 300);
    assert_eq!(all, list(&s, |_| true, 0, 1000).unwrap().0);
}

#[test]
fn tampering_is_named_by_verify() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(dir.path()).unwrap();
    for (i, id) in ["a", "b", "c"].iter().enumerate() {
        s.append("intent", &op(id, OpState::Running), i as u64)
            .unwrap();
    }
    let (n, head) = s.verify().unwrap();
    assert_eq!((n, head.len()), (3, 64));
    s.db()
        .execute_batch(
            "DROP TRIGGER audit_no_update; UPDATE audit SET who = 'mallory' WHERE seq = 2;",
        )
        .unwrap();
    let e = s.verify().unwrap_err().to_string();
    assert!(e.starts_with("record 2 (intent b"), "{e}");
    s.db()
        .execute_batch("DROP TRIGGER audit_no_delete; DELETE FROM audit WHERE seq = 1;")
        .unwrap();
    assert_eq!(
        s.verify().unwrap_err().to_string(),
        "record 1 is missing (the next record is 2)"
    );
}

impl Store {
    /// The SQLite connection (these tests tamper with it).
    fn db(&self) -> std::sync::MutexGuard<'_, rusqlite::Connection> {
        match self {
            Store::Lite(l) => l.db(),
            Store::Pg(_) => panic!("an SQLite store"),
        }
    }
}
