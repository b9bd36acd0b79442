//! The page's kept picture (console/web/picture.js), in headless Chromium
//! against a real console and real agents: after a restart, a stop and a
//! crash loop, with a filter and a non-default sort on, the list and counts
//! the page updated event by event equal a rebuild from scratch, field by
//! field, and its counts equal the console's /v1/status.

mod common;
use common::browser::*;
use common::console::*;
use common::*;
use serde_json::Value;
use std::collections::BTreeMap;
use std::time::Duration;

const PROGRAMS: &str = r#"
[program.web]
command = "TESTPROG ticker 100"
startsecs = 0
stopwaitsecs = 2

[program.crashy]
command = "TESTPROG exit 1 300"
startsecs = 0
"#;

const T: Duration = Duration::from_secs(30);

/// The kept picture and a rebuild, compared in the page field by field
/// (the names of the fields that differ), the kept one's process keys in
/// order, counts per state, and how many changes it applied since built.
const COMPARE: &str = r#"
const kept = S.test.picture();
const moved = kept.moved;
delete kept.moved;
const fresh = S.test.recount();
const differ = Object.keys(fresh).filter(k => JSON.stringify(kept[k]) !== JSON.stringify(fresh[k]));
return { differ, keys: kept.procs, states: kept.total.c, n: kept.total.n, moved,
         sorted: location.hash.includes('sort=-restarts') };
"#;

/// The processes the filter `name:web*,crashy*` shows, from the API: keys
/// and counts per state.
fn api_view(c: &Console) -> (Vec<String>, BTreeMap<String, u64>) {
    let st = c.get("/v1/status");
    let mut keys = Vec::new();
    let mut states = BTreeMap::new();
    for p in st["processes"].as_array().unwrap() {
        let name = p["name"].as_str().unwrap();
        if !(name.starts_with("web") || name.starts_with("crashy")) {
            continue;
        }
        keys.push(format!("{}/{}", p["host"].as_str().unwrap(), name));
        *states
            .entry(p["state"].as_str().unwrap().to_string())
            .or_insert(0) += 1;
    }
    keys.sort();
    (keys, states)
}

#[test]
fn the_kept_picture_equals_a_recount_and_the_api() {
    let (_a1, p1) = tcp_agent(&format!("{CELERY}{PROGRAMS}"));
    let (_a2, p2) = tcp_agent(&format!("{CELERY}{PROGRAMS}"));
    let c = Console::start(&agent_entries(&[("w-01", p1), ("w-02", p2)]));
    let b = Browser::start(c.port);
    b.login(OPERATOR, "ops");
    b.goto("/#/processes?f=name%3Aweb*%2Ccrashy*&sort=-restarts");
    b.wait_js(
        "the filtered list",
        "return document.querySelectorAll('.vrow[data-key]').length === 4",
    );

    // Real changes on real agents while the page keeps its picture.
    let op = c.op(r#"{"action":"restart","target":"web","hosts":"w-01"}"#);
    c.wait_op(op["id"].as_str().unwrap(), T);
    let op = c.op(r#"{"action":"stop","target":"web","hosts":"w-02"}"#);
    c.wait_op(op["id"].as_str().unwrap(), T);

    // The crash loop keeps both sides moving: poll until the page and the
    // API agree, checking the kept picture against a rebuild each time.
    let mut last = Value::Null;
    let seen = poll_until(T, || {
        let (api_keys, api_states) = api_view(&c);
        let v = b.js(COMPARE, vec![]);
        assert_eq!(
            v["differ"],
            Value::Array(vec![]),
            "kept picture differs from a rebuild: {v}"
        );
        assert!(v["sorted"].as_bool().unwrap(), "the sort is on: {v}");
        let mut keys: Vec<String> = v["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k.as_str().unwrap().to_string())
            .collect();
        keys.sort();
        let states: BTreeMap<String, u64> = v["states"]
            .as_object()
            .unwrap()
            .iter()
            .filter(|(_, n)| n.as_u64() != Some(0))
            .map(|(s, n)| (s.clone(), n.as_u64().unwrap()))
            .collect();
        let stopped = states.get("STOPPED") == Some(&1);
        let agree = keys == api_keys && states == api_states && v["n"] == 4;
        last = v.clone();
        // The comparison counts only once events moved the kept picture
        // (not just after a rebuild), with web stopped on w-02.
        (agree && stopped && v["moved"].as_u64().unwrap_or(0) > 0).then_some(v)
    });
    let seen = seen.unwrap_or_else(|| panic!("the page never agreed with /v1/status: {last}"));
    eprintln!("agreed: {seen}");

    // A burst of more than 16 events takes the one-go path (rows cut out
    // and woven back in): 40 state changes over every process, as the
    // agents would send them, then the same comparison.
    let applied = b.js(
        "const procs = [...S.procs.values()], now = Date.now(); \
         for (let k = 0; k < 40; k++) { const p = procs[k % procs.length]; \
           const to = ['RUNNING', 'BACKOFF', 'STOPPED', 'STARTING', 'EXITED'][k % 5]; \
           S.queue.push(['process', JSON.stringify({ kind: 'process', host: p.host, seq: 900000 + k, \
             time: now + k, name: p.name, group: p.group, from: p.state, to, pid: 30000 + k, \
             process: Object.assign({}, p, { state: to, pid: 30000 + k, restarts: (p.restarts || 0) + k, host: undefined }) })]); } \
         S.test.flush(); return [...S.procs.values()].filter(p => p.pid >= 30000).length;",
        vec![],
    );
    assert!(
        applied.as_u64().unwrap_or(0) > 0,
        "the burst was not applied: {applied}"
    );
    let v = b.js(COMPARE, vec![]);
    assert_eq!(
        v["differ"],
        Value::Array(vec![]),
        "after a burst of 40 events the kept picture differs from a rebuild: {v}"
    );
    assert_eq!(v["n"], 4, "{v}");
    b.assert_no_js_errors("while the picture was kept");
}
