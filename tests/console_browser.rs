//! The web console in a real browser: a real `fleet-console` in front of
//! real agents, driven by headless Debian Chromium through chromedriver.
//! Needs the `chromium` and `chromium-driver` packages (`.ci/run`
//! installs them).

mod common;
use common::browser::*;
use common::console::*;
use common::*;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::time::Duration;

/// Besides `CELERY`: a program that logs, for the live tail.
const WEB: &str = r#"
[program.web]
command = "TESTPROG ticker 100"
startsecs = 0
stopwaitsecs = 2
"#;

struct Fleet {
    console: Console,
    _agents: Vec<Agent>,
}

/// `n` agents (w-01…) of three processes each (celery:worker_00/01, web)
/// under one console, all RUNNING.
fn fleet(n: usize) -> Fleet {
    let mut agents = Vec::new();
    let mut entries = Vec::new();
    for i in 1..=n {
        let (a, port) = tcp_agent(&format!("{CELERY}{WEB}"));
        agents.push(a);
        entries.push((format!("w-{i:02}"), port));
    }
    let refs: Vec<(&str, u16)> = entries.iter().map(|(n, p)| (n.as_str(), *p)).collect();
    let console = Console::start(&format!(
        "{}[host_groups]\nworkers = [\"w-*\"]\nfirst = [\"w-01\"]\n",
        agent_entries(&refs)
    ));
    console.wait_running(3 * n, Duration::from_secs(30));
    Fleet {
        console,
        _agents: agents,
    }
}

/// (host, process name) → pid as the page shows them in its rows.
fn page_pids(b: &Browser) -> BTreeMap<String, String> {
    let v = b.js(
        "const out = {}; for (const r of document.querySelectorAll('.vrow[data-key]')) { \
           const pid = r.querySelector('[data-pid]'); out[r.dataset.key.replace('/', ' ')] = pid ? pid.dataset.pid : ''; } \
         return out;",
        vec![],
    );
    v.as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
        .collect()
}

#[test]
fn operator_logs_in_filters_restarts_a_group_live_and_tails_a_log() {
    let f = fleet(3);
    let c = &f.console;
    let b = Browser::start(c.port);
    b.login(OPERATOR, "ops");
    // The session is an HttpOnly cookie; the token is nowhere in the page
    // or the URL.
    assert_eq!(b.cookie_http_only("fleet_session"), Some(true));
    assert!(!b.url().contains(OPERATOR));
    assert!(!b.source().contains(OPERATOR));

    // Overview: every host up, every process counted.
    b.wait_js(
        "the overview to count 3 hosts up and 9 RUNNING",
        "const n = s => { const e = document.querySelector(`[data-count=\"${s}\"] .n`); return e && e.textContent; }; \
         return n('up') === '3' && n('RUNNING') === '9';",
    );
    b.wait_js(
        "the celery group row across 3 hosts",
        "const r = document.querySelector('tr[data-group=\"celery\"]'); return r && r.cells[1].textContent === '3';",
    );

    // Hosts view: all three listed and up.
    b.goto("/#/hosts");
    b.wait_js(
        "w-01, w-02, w-03 listed as UP",
        "const rows = [...document.querySelectorAll('.vrow[data-key]')]; \
         return rows.length === 3 && rows.every(r => r.querySelector('.st-UP'));",
    );

    // Filter to a program group with the keyboard: "/" focuses the filter,
    // the URL carries it, Esc clears it.
    b.goto("/#/processes");
    b.wait_js(
        "9 process rows",
        "return document.querySelectorAll('.vrow[data-key]').length === 9",
    );
    b.js("document.activeElement.blur()", vec![]);
    b.keys("/");
    b.wait_js(
        "the filter to have focus",
        "return document.activeElement.id === 'filter'",
    );
    b.keys("group:celery");
    b.wait_js(
        "only the 6 celery processes, and the filter in the URL",
        "const rows = [...document.querySelectorAll('.vrow[data-key]')]; \
         return rows.length === 6 && rows.every(r => r.dataset.key.includes('celery:')) \
           && location.hash.includes('f=group%3Acelery');",
    );
    let shared = b.url();
    // Esc goes back to the rows and keeps what the filter narrowed to;
    // emptying the box shows everything again.
    b.keys("\u{e00c}"); // Escape
    b.wait_js(
        "Esc to land on the filtered rows",
        "return document.activeElement.classList.contains('vrow') && document.querySelectorAll('.vrow[data-key]').length === 6",
    );
    b.js(
        "const f = document.getElementById('filter'); f.value = ''; f.dispatchEvent(new Event('input'));",
        vec![],
    );
    b.wait_js(
        "an empty filter to show all",
        "return document.querySelectorAll('.vrow[data-key]').length === 9 && !location.hash.includes('f=')",
    );
    // A shared URL restores the filtered view.
    b.goto(&shared[shared.find("/#").unwrap()..]);
    b.wait_js(
        "the shared URL to show the 6 celery processes",
        "return document.querySelectorAll('.vrow[data-key]').length === 6",
    );

    // Restart celery across the fleet through the confirmation dialog and
    // watch the PIDs change in place (no reload: the marker survives).
    b.goto("/#/group/celery");
    b.wait_js(
        "6 celery rows with pids",
        "const p = [...document.querySelectorAll('.vrow [data-pid]')]; return p.length === 6 && p.every(e => e.dataset.pid);",
    );
    b.js("window.__noReload = 'still here'", vec![]);
    let before = page_pids(&b);
    assert_eq!(before.len(), 6, "{before:?}");
    b.click(".toolbar [data-act=restart]");
    // The dialog plans only when asked.
    b.click("#confirm-plan");
    let touched = b.wait_js(
        "the dry run to list what will be touched",
        "const e = document.querySelector('#confirm [data-touch-count]'); return e && document.getElementById('confirm-progress').textContent;",
    );
    let touched = touched.as_str().unwrap();
    assert!(
        touched.contains("6 process(es)") && touched.contains("3 host(s)"),
        "{touched}"
    );
    for h in ["w-01", "w-02", "w-03"] {
        assert!(touched.contains(h), "{touched}");
    }
    assert!(
        touched.contains("celery:worker_00") && !touched.contains("web:web"),
        "{touched}"
    );
    b.click("#confirm-go");
    b.wait_js(
        "the dialog to report every host ok",
        "const e = document.querySelector('#confirm [data-op-state]'); return e && e.dataset.opState === 'ok' \
           && document.querySelectorAll('#confirm tr[data-verdict=\"ok\"]').length === 3;",
    );
    b.click("#confirm-cancel");
    let after = wait_for(Duration::from_secs(30), "new pids in the page", || {
        let now = page_pids(&b);
        (now.len() == 6
            && now
                .iter()
                .all(|(k, p)| !p.is_empty() && before.get(k) != Some(p)))
        .then_some(now)
    });
    assert_eq!(
        b.js("return window.__noReload", vec![]),
        json!("still here"),
        "the page reloaded"
    );
    // The page agrees with the console.
    let st = c.get("/v1/status");
    for ((host, name), pid) in pids(&st) {
        if name.starts_with("celery:") {
            assert_eq!(after[&format!("{host} {name}")], pid.to_string());
        }
    }
    // The operation is in the history with its per-host outcome.
    b.goto("/#/ops");
    b.wait_js(
        "the restart in the history, 3 ok",
        "const r = document.querySelector('tr[data-op]'); return r && r.textContent.includes('group:celery') && r.textContent.includes('3 ok');",
    );

    // Log tail: the ticker prints a line every 100 ms; a new one arrives.
    b.goto("/#/proc/w-02/web:web");
    let first = b.wait_js(
        "tick lines in the log",
        "const l = document.getElementById('log'); const m = l && l.textContent.match(/tick (\\d+)/g); return m && m[m.length - 1];",
    );
    b.wait_js(
        "a newer tick line",
        &format!(
            "const m = document.getElementById('log').textContent.match(/tick (\\d+)/g); return m[m.length - 1] !== {first};"
        ),
    );
    // The stderr switch re-opens the tail on the other stream.
    b.click("[data-stream=stderr]");
    b.wait_js(
        "the stderr tab",
        "return location.hash.includes('stream=stderr') && document.querySelector('[data-stream=stderr].on') && !/tick/.test(document.getElementById('log').textContent)",
    );

    // Logout: the server forgets the session.
    let cookie = format!("fleet_session={}", b.cookie("fleet_session").unwrap());
    b.click("#logout");
    b.wait_js(
        "the login form again",
        "return !document.getElementById('login').hidden",
    );
    let r = console_http(c.port, "GET", "/v1/status", &[("Cookie", &cookie)], "");
    assert_eq!(r.status, 401, "{}", r.text());
}

#[test]
fn a_viewer_sees_no_action_controls_and_cannot_act() {
    let f = fleet(2);
    let c = &f.console;
    let b = Browser::start(c.port);
    b.login(VIEWER, "watcher");
    for (path, ready) in [
        ("/#/", "document.querySelector('tr[data-group=\"celery\"]')"),
        (
            "/#/hosts",
            "document.querySelectorAll('.vrow[data-key]').length === 2",
        ),
        (
            "/#/groups",
            "document.querySelector('tr[data-group=\"celery\"]')",
        ),
        (
            "/#/group/celery",
            "document.querySelectorAll('.vrow[data-key]').length === 4",
        ),
        (
            "/#/processes",
            "document.querySelectorAll('.vrow[data-key]').length === 6",
        ),
        (
            "/#/host/w-01",
            "document.querySelectorAll('tr[data-key]').length === 3",
        ),
        ("/#/proc/w-01/web:web", "document.getElementById('log')"),
    ] {
        b.goto(path);
        b.wait_js(&format!("{path} to render"), &format!("return !!({ready})"));
        let controls = b.js(
            "return document.querySelectorAll('[data-act], [data-sel], [data-hostsel]').length",
            vec![],
        );
        assert_eq!(controls, json!(0), "action controls on {path} for a viewer");
    }
    // The server refuses the viewer's session anyway, with a valid CSRF
    // token.
    let cookie = format!("fleet_session={}", b.cookie("fleet_session").unwrap());
    let me = console_http(c.port, "GET", "/v1/session", &[("Cookie", &cookie)], "");
    assert_eq!(me.status, 200, "{}", me.text());
    let me = me.json();
    assert_eq!(me["role"], "viewer");
    let csrf = me["csrf"].as_str().unwrap();
    let r = console_http(
        c.port,
        "POST",
        "/v1/ops",
        &[("Cookie", &cookie), ("X-CSRF-Token", csrf)],
        r#"{"action":"stop","target":"all"}"#,
    );
    assert_eq!(r.status, 403, "{}", r.text());
    c.wait_running(6, Duration::from_secs(5));
}

#[test]
fn cookie_requests_without_the_csrf_token_are_refused() {
    let f = fleet(1);
    let c = &f.console;
    let port = c.port;
    // A wrong token does not log in.
    let r = console_http(port, "POST", "/v1/session", &[], r#"{"token":"nope"}"#);
    assert_eq!(r.status, 401, "{}", r.text());
    assert!(r.header("set-cookie").is_none());
    let r = console_http(port, "GET", "/v1/session", &[], "");
    assert_eq!(r.status, 401);

    let login = console_http(
        port,
        "POST",
        "/v1/session",
        &[],
        &json!({ "token": OPERATOR }).to_string(),
    );
    assert_eq!(login.status, 200, "{}", login.text());
    let set = login.header("set-cookie").unwrap().to_string();
    for part in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(set.contains(part), "{set}");
    }
    assert!(!set.contains("Secure"), "plain http: {set}");
    assert!(!login.text().contains(OPERATOR));
    let body: Value = login.json();
    assert_eq!(body["name"], "ops");
    assert_eq!(body["role"], "operator");
    let csrf = body["csrf"].as_str().unwrap().to_string();
    let cookie = session_cookie(&login);

    // Reads need only the cookie.
    let r = console_http(port, "GET", "/v1/status", &[("Cookie", &cookie)], "");
    assert_eq!(r.status, 200, "{}", r.text());

    let op = r#"{"action":"restart","target":"all","dry_run":true}"#;
    // Cookie without the header: refused.
    let r = console_http(port, "POST", "/v1/ops", &[("Cookie", &cookie)], op);
    assert_eq!(r.status, 403, "{}", r.text());
    // Cookie with a wrong header: refused.
    let r = console_http(
        port,
        "POST",
        "/v1/ops",
        &[("Cookie", &cookie), ("X-CSRF-Token", "0123")],
        op,
    );
    assert_eq!(r.status, 403, "{}", r.text());
    // A header without the cookie (another site cannot send ours): 401.
    let r = console_http(port, "POST", "/v1/ops", &[("X-CSRF-Token", &csrf)], op);
    assert_eq!(r.status, 401, "{}", r.text());
    // Logout needs the header too.
    let r = console_http(port, "DELETE", "/v1/session", &[("Cookie", &cookie)], "");
    assert_eq!(r.status, 403, "{}", r.text());
    // Cookie and header: accepted.
    let r = console_http(
        port,
        "POST",
        "/v1/ops",
        &[("Cookie", &cookie), ("X-CSRF-Token", &csrf)],
        op,
    );
    assert_eq!(r.status, 201, "{}", r.text());
    // The bearer token (CLI) still works without any CSRF header.
    let r = c.request("POST", "/v1/ops", Some(OPERATOR), op);
    assert_eq!(r.status, 201, "{}", r.text());
    // Logout forgets the session.
    let r = console_http(
        port,
        "DELETE",
        "/v1/session",
        &[("Cookie", &cookie), ("X-CSRF-Token", &csrf)],
        "",
    );
    assert_eq!(r.status, 204, "{}", r.text());
    let r = console_http(port, "GET", "/v1/status", &[("Cookie", &cookie)], "");
    assert_eq!(r.status, 401, "{}", r.text());

    // The page itself is public, with a strict CSP and no secret in it.
    let page = console_http(port, "GET", "/", &[], "");
    assert_eq!(page.status, 200);
    let csp = page.header("content-security-policy").unwrap();
    assert!(
        csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
        "{csp}"
    );
    assert!(!page.text().contains(OPERATOR) && !page.text().contains(VIEWER));
    // Nothing secret in the console's log either.
    let log = c.stderr();
    assert!(!log.contains(OPERATOR) && !log.contains(&csrf), "{log}");
    assert!(!log.contains(cookie.split('=').nth(1).unwrap()), "{log}");
}

/// Writes docs/screenshot-overview.png (run once, by hand):
/// cargo test --test console_browser -- --ignored screenshot --nocapture
/// A fleet with a problem: a program that gave up (FATAL) on one host, a
/// crash loop on another, a host down, a process stopped.
#[test]
#[ignore = "writes docs/screenshot-overview.png; run by hand"]
fn screenshot_of_the_overview() {
    const BROKEN: &str = r#"
[program.billing]
command = "TESTPROG exit 1"
startsecs = 1
startretries = 1

[program.crashy]
command = "TESTPROG exit 1 400"
startsecs = 0
"#;
    let mut agents = Vec::new();
    let mut entries = Vec::new();
    for i in 1..=4 {
        let extra = match i {
            2 => BROKEN.split("[program.crashy]").next().unwrap().to_string(),
            3 => format!(
                "[program.crashy]{}",
                BROKEN.split("[program.crashy]").nth(1).unwrap()
            ),
            _ => String::new(),
        };
        let (a, port) = tcp_agent(&format!("{CELERY}{WEB}{extra}"));
        agents.push(a);
        entries.push((format!("w-{i:02}"), port));
    }
    let (_held, dead) = closed_port();
    entries.push(("w-05".into(), dead));
    let refs: Vec<(&str, u16)> = entries.iter().map(|(n, p)| (n.as_str(), *p)).collect();
    let c = Console::start(&format!(
        "{}[host_groups]\nworkers = [\"w-*\"]\nfirst = [\"w-01\"]\n",
        agent_entries(&refs)
    ));
    c.wait_running(12, Duration::from_secs(30));
    c.op(r#"{"action":"stop","target":"web","hosts":"w-04"}"#);
    let b = Browser::start(c.port);
    b.resize(1400, 900);
    b.login(OPERATOR, "ops");
    b.wait_js(
        "billing FATAL, crashy flapping, w-05 down",
        "return document.querySelector('[data-count=\"trouble-FATAL\"]') && document.querySelector('[data-count=\"trouble-flapping\"]') \
           && document.querySelector('[data-count=\"trouble-down\"]')",
    );
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/screenshot-overview.png");
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    b.screenshot(&path);
    eprintln!("wrote {}", path.display());
    // The process list in dark mode, a host down: its processes UNKNOWN,
    // CPU and memory per process, a crash loop's story first.
    b.color_scheme("dark");
    b.goto("/#/processes");
    b.wait_js(
        "rows with memory figures and w-05's note",
        "return document.querySelectorAll('.vrow[data-key]').length > 10 && [...document.querySelectorAll('.vrow .c-use')].some(e => /[KM]B/.test(e.textContent))",
    );
    let dark = path.with_file_name("screenshot-processes-dark.png");
    b.screenshot(&dark);
    eprintln!("wrote {}", dark.display());
    drop(agents);
}

/// The page at 500 hosts × 20 processes: a real console and browser, the
/// page fed a FleetStatus of that size (as `GET /v1/status` would answer),
/// then bursts of process events. Prints time to first render per view,
/// the cost of one batched update and the DOM size.
/// cargo test --test console_browser -- --ignored page_at_500 --nocapture
#[test]
#[ignore = "measurement; run by hand"]
fn page_at_500_hosts_by_20_processes() {
    let f = fleet(1);
    let b = Browser::start(f.console.port);
    b.login(OPERATOR, "ops");
    b.wait_js("the real fleet", "return S.loaded");
    let v = b.js(
        r#"
const now = Date.now(), hosts = [], processes = [];
const groups = ['celery', 'web', 'cron', 'mail'];
for (let i = 0; i < 500; i++) {
  const name = 's-' + String(i).padStart(3, '0');
  hosts.push({ name, url: 'http://10.0.' + (i >> 8) + '.' + (i & 255) + ':9001', tags: {}, groups: [i % 2 ? 'web' : 'workers'],
    source: 'config', up: i % 50 !== 0, stale_ms: i % 70 === 0 ? 30000 : 0, processes: 20,
    error: i % 50 === 0 ? 'connection refused' : undefined, last_seen: now, version: '0.1.0' });
  for (let j = 0; j < 20; j++) {
    const g = groups[j % 4];
    processes.push({ host: name, name: g + ':' + g + '_' + String(j).padStart(2, '0'), group: g, program: g,
      process: g + '_' + j, state: (j === 7 && i % 10 === 0) ? 'FATAL' : 'RUNNING', wanted: 'running',
      pid: 10000 + i * 20 + j, started_at: now, state_since: now, exit_status: null, restarts: 0,
      description: 'pid ' + (10000 + i * 20 + j) + ', uptime 1:02:03', exits: [] });
  }
}
const body = JSON.stringify({ hosts, processes });
const out = { bytes: body.length };
const layout = () => document.body.getBoundingClientRect().height;
const t0 = performance.now();
const st = JSON.parse(body);
S.hosts = new Map(st.hosts.map(h => [h.name, h]));
S.procs = new Map(st.processes.map(p => [S.test.pkey(p.host, p.name), p]));
S.loaded = true;
out.parse_ms = performance.now() - t0;
for (const [view, args] of [['overview', []], ['hosts', []], ['processes', []], ['group', ['celery']]]) {
  S.route = { view, args, params: new URLSearchParams() };
  const t = performance.now();
  S.test.render(); layout();
  out[view + '_render_ms'] = performance.now() - t;
  out[view + '_dom_nodes'] = document.getElementById('view').getElementsByTagName('*').length;
}
// Filtered: a group across the fleet, by state.
S.route = { view: 'processes', args: [], params: new URLSearchParams('f=state:fatal') };
let t = performance.now(); S.test.render(); layout(); out.filter_fatal_ms = performance.now() - t;
// Bursts of process events, applied in one batched flush.
for (const [label, n, view] of [['overview', 2000, 'overview'], ['processes', 2000, 'processes']]) {
  S.route = { view, args: [], params: new URLSearchParams() };
  S.test.render();
  for (let k = 0; k < n; k++) {
    const p = processes[(k * 7919) % processes.length];
    S.queue.push(['process', JSON.stringify({ kind: 'process', host: p.host, seq: k, time: now + k, name: p.name,
      group: p.group, from: 'RUNNING', to: k % 2 ? 'RUNNING' : 'STARTING', pid: 20000 + k })]);
  }
  t = performance.now(); S.test.flush(); layout();
  out['flush_' + n + '_events_' + label + '_ms'] = performance.now() - t;
}
// One event (the common case) on the overview.
S.route = { view: 'overview', args: [], params: new URLSearchParams() };
S.test.render();
S.queue.push(['process', JSON.stringify({ kind: 'process', host: 's-001', seq: 1, time: now, name: 'celery:celery_00', group: 'celery', from: 'RUNNING', to: 'STOPPED', pid: null })]);
t = performance.now(); S.test.flush(); layout(); out.flush_1_event_overview_ms = performance.now() - t;
S.route = { view: 'processes', args: [], params: new URLSearchParams() };
S.test.render();
S.queue.push(['process', JSON.stringify({ kind: 'process', host: 's-001', seq: 2, time: now, name: 'celery:celery_00', group: 'celery', from: 'STOPPED', to: 'RUNNING', pid: 5 })]);
t = performance.now(); S.test.flush(); layout(); out.flush_1_event_processes_ms = performance.now() - t;
// Scroll the 10,000-row list to the middle.
const l = S.lists.get('procs');
t = performance.now(); l.el.scrollTop = 150000; l.paint(); layout(); out.scroll_paint_ms = performance.now() - t;
out.rows_in_dom = document.querySelectorAll('.vrow').length;
return out;
"#,
        vec![],
    );
    eprintln!(
        "500 hosts x 20 processes:\n{}",
        serde_json::to_string_pretty(&v).unwrap()
    );
    assert!(v["processes_dom_nodes"].as_u64().unwrap() < 3000, "{v}");
}
