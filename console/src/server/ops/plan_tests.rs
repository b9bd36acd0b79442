use super::*;
use fleet_api::{AgentStatus, ProcessState, Registration};
use std::collections::BTreeMap;

const D: Defaults = Defaults {
    concurrency: 7,
    timeout: Duration::from_secs(60),
};

/// Two hosts: `a` shows celery:w1, celery:w2 and web:nginx; `b` (known to
/// the inventory, never seen) shows nothing.
fn world() -> (Inventory, Picture) {
    let inv = Inventory::new(&[], &[], BTreeMap::new());
    for name in ["a", "b"] {
        let reg = Registration {
            name: name.into(),
            url: "http://127.0.0.1:1".into(),
            tags: BTreeMap::new(),
            version: "test".into(),
            agent_token: None,
        };
        inv.register(&reg, false).unwrap();
    }
    let pic = Picture::new(60_000);
    let procs = [("celery", "w1"), ("celery", "w2"), ("web", "nginx")]
        .iter()
        .map(|(g, n)| ProcessInfo::new(g, g, n, ProcessState::Running))
        .collect();
    pic.set_status(
        "a",
        AgentStatus {
            host: "a".into(),
            version: "test".into(),
            pid: 1,
            started_at: 1,
            listen: None,
            processes: procs,
        },
    );
    (inv, pic)
}

fn req(json: &str) -> OpRequest {
    serde_json::from_str(json).unwrap()
}

fn refusal(json: &str) -> (ErrorCode, String) {
    let (inv, pic) = world();
    match plan(&req(json), &inv, &pic, D) {
        Ok(p) => panic!("{json} was planned: {p:?}"),
        Err(Refused(code, m)) => (code, m),
    }
}

/// Every refusal, each with its code and a message naming the problem.
#[test]
fn plan_refuses_every_bad_request() {
    use ErrorCode::*;
    let cases: &[(&str, ErrorCode, &str)] = &[
        (r#"{"action":"restart","target":"group:"}"#, BadSelector, ""),
        (
            r#"{"action":"signal","target":"all"}"#,
            BadSignal,
            "signal needs",
        ),
        (
            r#"{"action":"signal","target":"all","signal":"SIGNOPE"}"#,
            BadSignal,
            "",
        ),
        (
            r#"{"action":"restart","target":"all","signal":"TERM"}"#,
            BadRequest,
            "takes no signal",
        ),
        (
            r#"{"action":"restart","target":"all","concurrency":0}"#,
            BadRequest,
            "concurrency must be",
        ),
        (
            r#"{"action":"restart","target":"all","concurrency":100001}"#,
            BadRequest,
            "concurrency must be",
        ),
        (
            r#"{"action":"restart","target":"all","timeout_ms":0}"#,
            BadRequest,
            "timeout_ms must be",
        ),
        (
            r#"{"action":"restart","target":"all","timeout_ms":86400001}"#,
            BadRequest,
            "timeout_ms must be",
        ),
        (
            r#"{"action":"restart","target":"all","strategy":"rolling","batch":"0%"}"#,
            BadRequest,
            "",
        ),
        (
            r#"{"action":"restart","target":"all","strategy":"rolling","batch":"many"}"#,
            BadRequest,
            "",
        ),
        (
            r#"{"action":"restart","target":"all","batch":"2"}"#,
            BadRequest,
            "batch is for the rolling strategy",
        ),
        (
            r#"{"action":"restart","target":"all","only":["a"]}"#,
            BadRequest,
            "bad entry \"a\" in only",
        ),
        (
            r#"{"action":"restart","target":"all","only":["/celery:w1"]}"#,
            BadRequest,
            "bad entry",
        ),
        (
            r#"{"action":"restart","target":"all","hosts":"nosuchhost"}"#,
            BadSelector,
            "",
        ),
        (
            r#"{"action":"restart","target":"group:nosuch"}"#,
            NotFound,
            "matches no process on the selected hosts",
        ),
        (
            r#"{"action":"restart","target":"all","only":["a/celery:gone"]}"#,
            NotFound,
            "matches no process",
        ),
    ];
    for (json, code, says) in cases {
        let (c, m) = refusal(json);
        assert_eq!(c, *code, "{json}: {m}");
        assert!(!m.is_empty() && m.contains(says), "{json}: {m}");
    }
}

#[test]
fn plan_refuses_an_empty_inventory() {
    let inv = Inventory::new(&[], &[], BTreeMap::new());
    let pic = Picture::new(60_000);
    let r = plan(
        &req(r#"{"action":"restart","target":"all"}"#),
        &inv,
        &pic,
        D,
    );
    let Err(Refused(code, m)) = r else {
        panic!("planned over no hosts")
    };
    assert_eq!(code, ErrorCode::BadSelector);
    assert!(m.contains("no hosts"), "{m}");
}

/// Everything downstream needs is read here, typed, once.
#[test]
fn plan_reads_the_request_once_into_types() {
    let (inv, pic) = world();
    let p = plan(
        &req(r#"{"action":"signal","target":"group:celery","signal":"hup"}"#),
        &inv,
        &pic,
        D,
    )
    .unwrap();
    assert_eq!(p.rules.signal, Some(Signal::Hup));
    assert_eq!(p.rules.verb, Verb::Signal);
    assert_eq!(p.rules.strategy, Strategy::Parallel { concurrency: 7 });
    assert_eq!(p.rules.timeout, Duration::from_secs(60));
    assert_eq!(p.hosts, ["a", "b"]);
    let mut t: Vec<_> = p.touches.iter().cloned().collect();
    t.sort();
    assert_eq!(
        t,
        [
            ("a".to_string(), "celery:w1".to_string()),
            ("a".to_string(), "celery:w2".to_string())
        ]
    );
    assert_eq!(p.batch_size(), None);
    assert_eq!(p.rules.targets("a"), ["group:celery"]);

    let p = plan(
        &req(
            r#"{"action":"restart","target":"all","strategy":"rolling","batch":"1",
                "max_failures":0,"timeout_ms":1500,"only":["a/web:nginx","b/x:y"]}"#,
        ),
        &inv,
        &pic,
        D,
    )
    .unwrap();
    assert_eq!(
        p.rules.strategy,
        Strategy::Rolling {
            batch: Batch::Hosts(1),
            max_failures: 1
        }
    );
    assert_eq!(p.batch_size(), Some(1));
    assert_eq!(p.rules.timeout, Duration::from_millis(1500));
    assert_eq!(p.rules.targets("a"), ["web:nginx"]);
    assert_eq!(p.rules.targets("b"), ["x:y"]);
    let procs = pic.host_processes("a");
    let sel: Vec<&str> = p
        .rules
        .selected("a", &procs)
        .iter()
        .map(|p| p.name.as_str())
        .collect();
    assert_eq!(sel, ["web:nginx"]);
}

/// A target no visible host shows is still planned when some host is
/// unknown to the picture (it may match there).
#[test]
fn plan_proceeds_when_only_unseen_hosts_could_match() {
    let (inv, pic) = world();
    let p = plan(
        &req(r#"{"action":"stop","target":"group:nosuch","hosts":"b"}"#),
        &inv,
        &pic,
        D,
    )
    .unwrap();
    assert_eq!(p.hosts, ["b"]);
    assert!(p.touches.is_empty());
}
