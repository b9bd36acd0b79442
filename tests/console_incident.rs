//! The page in an incident, second pass (issue 31), in headless Chromium
//! against a real console and real agents: a live log that can be read, a
//! lost console that says so, a down host's processes shown as unknown
//! everywhere (page, `/v1/status`, `fleetctl status`, dry runs, metrics),
//! and dark-mode buttons that meet WCAG AA.

mod common;
use common::browser::*;
use common::console::*;
use common::ctl::*;
use common::*;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use serde_json::Value;
use std::time::{Duration, Instant};

const T: Duration = Duration::from_secs(30);

/// A line every 20 ms to read, and a crash loop beside it: a storm of
/// events that re-renders the page all the time.
const CHATTY: &str = r#"
[program.chatty]
command = "TESTPROG ticker 20"
startsecs = 0

[program.crashy]
command = "TESTPROG exit 1 300"
startsecs = 0
"#;

/// stdout and stderr taking turns, 150 ms apart, then quiet.
const TURNS: &str = r#"
[program.turns]
command = "sh -c 'for i in 1 2 3 4; do echo out$i; sleep 0.15; echo err$i >&2; sleep 0.15; done; exec sleep 1000'"
startsecs = 0
"#;

#[test]
fn log_history_of_both_streams_is_in_time_order_with_the_times_as_text() {
    let (_a, p) = tcp_agent(TURNS);
    let c = Console::start(&agent_entries(&[("w-01", p)]));
    wait_for(T, "all eight lines written", || {
        let r = c.request(
            "GET",
            "/v1/hosts/w-01/processes/turns/log?stream=stderr&tail=100",
            Some(VIEWER),
            "",
        );
        r.text().contains("err4").then_some(())
    });
    let b = Browser::start(c.port);
    b.login(VIEWER, "watcher");
    b.goto("/#/proc/w-01/turns:turns");
    let lines = b.wait_js(
        "the merged history",
        "const l = [...document.querySelectorAll('#log .ln[data-st]')].map(e => e.querySelector('.tx').textContent);          return l.length >= 8 && l;",
    );
    assert_eq!(
        lines,
        serde_json::json!([
            "out1",
            "err│ err1",
            "out2",
            "err│ err2",
            "out3",
            "err│ err3",
            "out4",
            "err│ err4"
        ]),
        "not in time order"
    );
    // "Download shown" and a copy carry each line's time.
    let text = b.js("return document.getElementById('log').textContent", vec![]);
    let text = text.as_str().unwrap();
    let out1 = text.lines().find(|l| l.ends_with("out1")).unwrap();
    assert!(
        out1.len() == "00:00:00.000 out1".len() && out1.as_bytes()[2] == b':',
        "{out1:?}"
    );
    b.assert_no_js_errors("reading both streams");
}

fn log_lines(b: &Browser) -> u64 {
    b.js(
        "return document.getElementById('log').childNodes.length",
        vec![],
    )
    .as_u64()
    .unwrap()
}

#[test]
fn the_live_log_follows_the_newest_line_and_stays_where_the_reader_scrolls() {
    let (_a, p) = tcp_agent(CHATTY);
    let c = Console::start(&agent_entries(&[("w-01", p)]));
    let b = Browser::start(c.port);
    b.login(OPERATOR, "ops");
    b.goto("/#/proc/w-01/chatty:chatty?stream=stdout");
    b.wait_js(
        "the log to fill past one screen",
        "const l = document.getElementById('log'); return l && l.scrollHeight > 2 * l.clientHeight && l.clientHeight > 0",
    );
    b.js("document.getElementById('log').__probe = 1", vec![]);

    // For 10 s of output and crash-loop re-renders: the same element, and
    // the newest line in view.
    let start = Instant::now();
    let first = log_lines(&b);
    let mut checks = 0;
    while start.elapsed() < Duration::from_secs(10) {
        let v = b.js(
            "const l = document.getElementById('log'); \
             return [l.__probe === 1, l.isConnected, l.scrollTop + l.clientHeight >= l.scrollHeight - 4, l.scrollTop];",
            vec![],
        );
        assert_eq!(v[0], true, "the log element was replaced");
        assert_eq!(v[1], true, "the log element left the page");
        assert_eq!(v[2], true, "the log is not at its newest line: {v}");
        checks += 1;
    }
    let grown = log_lines(&b) - first;
    eprintln!("{checks} checks over 10 s; {grown} lines arrived");
    assert!(grown > 100, "the log did not follow: {grown} new lines");
    let renders = b.js("return S.perf.flushes", vec![]);
    eprintln!("page re-renders meanwhile: {renders}");

    // The reader scrolls up: the view stays where they put it while lines
    // keep arriving.
    let at = b.js(
        "const l = document.getElementById('log'); l.scrollTop = 200; return l.scrollTop",
        vec![],
    );
    assert_eq!(at, 200);
    let before = log_lines(&b);
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(3) || log_lines(&b) < before + 50 {
        let top = b.js("return document.getElementById('log').scrollTop", vec![]);
        assert_eq!(top, 200, "the log moved under the reader");
        assert!(start.elapsed() < T, "no new lines while scrolled up");
    }

    // Back at the bottom, it follows again.
    b.js(
        "const l = document.getElementById('log'); l.scrollTop = l.scrollHeight;",
        vec![],
    );
    let n = log_lines(&b);
    b.wait_js(
        "the log to follow again",
        &format!(
            "const l = document.getElementById('log'); \
             return l.childNodes.length > {n} + 20 && l.scrollTop + l.clientHeight >= l.scrollHeight - 4"
        ),
    );
    b.assert_no_js_errors("while following the log");
}

/// Every visible, enabled button (and button-styled link) whose text
/// contrast against its effective background is below 4.5:1, and how many
/// were checked.
const CONTRAST: &str = r#"
const rgba = (s) => { const m = s.match(/[\d.]+/g) || []; return m.map(Number).concat([1]).slice(0, 4); };
const lum = ([r, g, b]) => { const f = (c) => { c /= 255; return c <= 0.03928 ? c / 12.92 : Math.pow((c + 0.055) / 1.055, 2.4); }; return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b); };
const blend = (top, under) => { const a = top[3]; return [0, 1, 2].map((i) => top[i] * a + under[i] * (1 - a)).concat([1]); };
function background(el) {
  const layers = [];
  for (let e = el; e; e = e.parentElement) {
    const c = rgba(getComputedStyle(e).backgroundColor);
    if (c[3] > 0) { layers.push(c); if (c[3] >= 1) break; }
  }
  let bg = [255, 255, 255, 1];
  if (matchMedia('(prefers-color-scheme: dark)').matches && !layers.some((l) => l[3] >= 1)) bg = rgba(getComputedStyle(document.documentElement).backgroundColor);
  for (const l of layers.reverse()) bg = blend(l, bg);
  return bg;
}
const bad = [];
let n = 0;
for (const el of document.querySelectorAll('button, .btn')) {
  if (el.disabled || !el.getClientRects().length || !el.textContent.trim()) continue;
  if (el.closest('[hidden], dialog:not([open])')) continue;
  n++;
  const bg = background(el);
  const fg = blend(rgba(getComputedStyle(el).color), bg);
  const [a, b] = [lum(fg), lum(bg)].sort((x, y) => y - x);
  const ratio = (a + 0.05) / (b + 0.05);
  if (ratio < 4.5) bad.push(el.textContent.trim() + ' ' + ratio.toFixed(2) + ' (' + getComputedStyle(el).color + ' on ' + bg.join(',') + ')');
}
return [n, bad];
"#;

fn check_contrast(b: &Browser, what: &str) -> u64 {
    let v = b.js(CONTRAST, vec![]);
    let bad = v[1].as_array().unwrap();
    assert!(bad.is_empty(), "buttons below 4.5:1 on {what}: {bad:#?}");
    v[0].as_u64().unwrap()
}

#[test]
fn a_down_hosts_processes_are_unknown_everywhere_and_dark_buttons_are_readable() {
    let (_a1, p1) = tcp_agent(CELERY);
    let (mut a2, p2) = tcp_agent(CELERY);
    let c = Console::start(&agent_entries(&[("w-01", p1), ("w-02", p2)]));
    c.wait_running(4, T);
    let b = Browser::start(c.port);
    b.login(OPERATOR, "ops");

    // Dark mode: every button on every view, and in the action dialog.
    b.color_scheme("dark");
    let dark = b.js(
        "return matchMedia('(prefers-color-scheme: dark)').matches",
        vec![],
    );
    assert_eq!(dark, true, "dark mode emulation did not take");
    let mut checked = 0;
    for (path, ready) in [
        ("/#/", "[data-count=up]"),
        ("/#/hosts", ".vrow[data-key]"),
        ("/#/processes", ".vrow[data-key]"),
        ("/#/host/w-01", "table.procs"),
        ("/#/proc/w-01/celery:worker_00", "[data-stream]"),
        ("/#/ops", "h1"),
    ] {
        b.goto(path);
        b.wait_js(path, &format!("return !!document.querySelector('{ready}')"));
        checked += check_contrast(&b, path);
    }
    b.goto("/#/processes");
    b.wait_js(
        "rows",
        "return !!document.querySelector('.vrow[data-key] [data-act=restart]')",
    );
    b.click(".vrow[data-key] [data-act=restart]");
    b.wait_js(
        "the dialog",
        "return document.getElementById('confirm').open",
    );
    checked += check_contrast(&b, "the action dialog");
    b.click("#confirm-cancel");
    eprintln!("{checked} buttons checked in dark mode");
    assert!(checked > 20, "too few buttons checked: {checked}");
    b.color_scheme("light");

    // w-02's agent dies with its programs.
    let before = c.get("/v1/status");
    let pid_of = |st: &Value, host: &str, name: &str| {
        st["processes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["host"] == host && p["name"] == name)
            .map(|p| p["pid"].clone())
            .unwrap()
    };
    let old_pid = pid_of(&before, "w-02", "celery:worker_00");
    assert!(old_pid.is_u64());
    a2.signal(Signal::SIGKILL);
    a2.wait_exit(T);

    // /v1/status: UNKNOWN, no pid, the last report kept apart.
    let st = wait_for(T, "w-02's processes to be UNKNOWN", || {
        let st = c.get("/v1/status");
        let unknown = st["processes"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|p| p["host"] == "w-02")
            .all(|p| p["state"] == "UNKNOWN");
        unknown.then_some(st)
    });
    let host = st["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["name"] == "w-02")
        .unwrap()
        .clone();
    assert_eq!(host["up"], false);
    for p in st["processes"].as_array().unwrap() {
        if p["host"] == "w-02" {
            assert!(p["pid"].is_null(), "{p}");
            assert_eq!(p["last_known"]["state"], "RUNNING", "{p}");
            assert!(p["last_known"]["pid"].is_u64(), "{p}");
            assert_eq!(p["last_known"]["as_of"], host["last_seen"], "{p}");
            assert!(
                p["description"]
                    .as_str()
                    .unwrap()
                    .starts_with("host unreachable; last known RUNNING"),
                "{p}"
            );
        } else {
            assert_eq!(p["state"], "RUNNING", "{p}");
            assert!(p.get("last_known").is_none(), "{p}");
        }
    }
    assert_eq!(
        pid_of(&st, "w-02", "celery:worker_00"),
        Value::Null,
        "a pid nobody can vouch for"
    );

    // The page: the same states as the API, field by field.
    b.goto("/#/processes");
    b.wait_js(
        "w-02's rows to say UNKNOWN",
        "const rows = [...document.querySelectorAll('.vrow[data-key^=\"w-02/\"]')]; \
         return rows.length === 2 && rows.every(r => r.querySelector('[data-state=UNKNOWN]') && /last known RUNNING/.test(r.textContent));",
    );
    let page = b.js(
        "return [...S.procs.values()].map(p => [p.host, p.name, p.state, p.pid, p.last_known ? p.last_known.state : null]).sort()",
        vec![],
    );
    let mut api: Vec<Value> = st["processes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            serde_json::json!([
                p["host"],
                p["name"],
                p["state"],
                p["pid"],
                p["last_known"]["state"]
            ])
        })
        .collect();
    api.sort_by_key(|v| v.to_string());
    let mut page: Vec<Value> = page.as_array().unwrap().clone();
    page.sort_by_key(|v| v.to_string());
    assert_eq!(page, api, "the page and /v1/status disagree");
    // No ticking uptime for them: only the host's last-seen time ticks.
    let ticking = b.js(
        "return [...document.querySelectorAll('.vrow[data-key^=\"w-02/\"] [data-fmt=up]')].length",
        vec![],
    );
    assert_eq!(ticking, 0);

    // The overview names the down host in the attention table.
    b.goto("/#/");
    b.wait_js(
        "the down host named under 'Needs attention'",
        "const r = document.querySelector('.trouble tr[data-down-host=\"w-02\"]'); return r && /unreachable/.test(r.textContent) && /UNKNOWN/.test(r.textContent)",
    );
    let running_card = b.js(
        "const e = document.querySelector('[data-count=RUNNING] .n'); return e && e.textContent",
        vec![],
    );
    assert_eq!(
        running_card, "2",
        "the overview still counts w-02's processes as running"
    );

    // A dry run over both hosts warns that w-02's would fail.
    b.goto("/#/groups");
    b.wait_js(
        "the celery group row",
        "return !!document.querySelector('tr[data-group=celery] [data-act=restart]')",
    );
    b.click("tr[data-group=celery] [data-act=restart]");
    b.wait_js(
        "the dialog",
        "return document.getElementById('confirm').open",
    );
    b.click("#confirm-plan");
    b.wait_js(
        "the plan to flag w-02",
        "const d = document.querySelector('#confirm-progress [data-unreachable]'); \
         return d && d.textContent.startsWith('w-02') && d.querySelector('[data-state=UNKNOWN]') && /unreachable/.test(d.textContent)",
    );
    b.click("#confirm-cancel");

    // fleetctl status says UNKNOWN and fails (a host is down).
    let url = format!("http://127.0.0.1:{}", c.port);
    let out = run({
        let mut cmd = fleetctl_cmd();
        cmd.args(["--console", &url, "--token", VIEWER, "status"]);
        cmd
    });
    assert_ne!(out.code, 0, "{out:?}");
    let w2: Vec<&str> = out
        .stdout
        .lines()
        .filter(|l| l.starts_with("w-02"))
        .collect();
    assert_eq!(w2.len(), 2, "{out:?}");
    for l in w2 {
        assert!(
            l.contains("UNKNOWN") && l.contains("last known RUNNING"),
            "{l}"
        );
    }
    assert!(out.stderr.contains("host w-02 is unreachable"), "{out:?}");

    // And the metrics count them apart.
    let m = c.request("GET", "/metrics", Some(VIEWER), "").text();
    assert!(
        m.contains("fleet_console_processes{state=\"UNKNOWN\"} 2"),
        "{m}"
    );
    assert!(
        m.contains("fleet_console_processes{state=\"RUNNING\"} 2"),
        "{m}"
    );
    b.assert_no_js_errors("with a host down");
}

fn uptime_of(b: &Browser, key: &str) -> String {
    b.js(
        &format!(
            "const e = document.querySelector('.vrow[data-key=\"{key}\"] [data-fmt=up]'); return e ? e.textContent : null"
        ),
        vec![],
    )
    .as_str()
    .unwrap_or_else(|| panic!("no uptime on {key}"))
    .to_owned()
}

fn banner_shown(b: &Browser) -> bool {
    b.js(
        "const e = document.getElementById('conn'); return !e.hidden && /Lost the console/.test(e.textContent)",
        vec![],
    ) == true
}

#[test]
fn a_lost_console_shows_within_seconds_and_freezes_the_picture() {
    let (_a, p) = tcp_agent(CELERY);
    let mut c = Console::start(&agent_entries(&[("w-01", p)]));
    c.wait_running(2, T);
    let b = Browser::start(c.port);
    b.login(OPERATOR, "ops");
    b.goto("/#/processes");
    let key = "w-01/celery:worker_00";
    b.wait_js(
        "a running row with a ticking uptime",
        &format!("return !!document.querySelector('.vrow[data-key=\"{key}\"] [data-fmt=up]')"),
    );
    assert!(!banner_shown(&b));

    // A frozen console (no connection error ever fires): silence is loss.
    let pid = Pid::from_raw(c.child.as_ref().unwrap().id() as i32);
    kill(pid, Signal::SIGSTOP).unwrap();
    let t0 = Instant::now();
    wait_for(Duration::from_secs(10), "the lost-console banner", || {
        banner_shown(&b).then_some(())
    });
    let took = t0.elapsed();
    eprintln!("frozen console shown after {took:?}");
    assert!(took < Duration::from_secs(6), "took {took:?}");
    let greyed = b.js(
        "return document.body.classList.contains('stale-page')",
        vec![],
    );
    assert_eq!(greyed, true);
    // Uptimes stop: nobody knows the process still runs.
    let frozen = uptime_of(&b, key);
    let t1 = Instant::now();
    while t1.elapsed() < Duration::from_millis(2500) {
        assert_eq!(uptime_of(&b, key), frozen, "the uptime kept counting");
    }

    // Back: the banner goes, the uptime moves again.
    kill(pid, Signal::SIGCONT).unwrap();
    wait_for(T, "the banner to go", || (!banner_shown(&b)).then_some(()));
    wait_for(T, "the uptime to move again", || {
        (uptime_of(&b, key) != frozen).then_some(())
    });

    // A stopped console: the stream breaks, shown as quickly.
    c.stop();
    let t0 = Instant::now();
    wait_for(Duration::from_secs(10), "the lost-console banner", || {
        banner_shown(&b).then_some(())
    });
    eprintln!("stopped console shown after {:?}", t0.elapsed());
    assert!(t0.elapsed() < Duration::from_secs(6));

    // Restarted: sessions live in the console's memory, so the page asks
    // to log in again (instead of "reconnecting…" for ever), then resyncs.
    c.spawn();
    b.wait_js(
        "the login form, saying why",
        "return !document.getElementById('login').hidden && /session.* ended/.test(document.getElementById('login-error').textContent) \
           && document.getElementById('conn').hidden",
    );
    b.type_into("#token", OPERATOR);
    b.click("#login-form button[type=submit]");
    b.goto("/#/processes");
    assert!(!banner_shown(&b));
    b.wait_js(
        "rows again",
        &format!(
            "return !!document.querySelector('.vrow[data-key=\"{key}\"] [data-state=RUNNING]')"
        ),
    );
    b.assert_no_js_errors("through a console outage");
}

#[test]
fn plans_match_the_rows_acting_needs_a_plan_and_the_keyboard_reaches_the_rows() {
    let crashy =
        format!("{CELERY}\n[program.crashy]\ncommand = \"TESTPROG exit 1 300\"\nstartsecs = 0\n");
    let (_a1, p1) = tcp_agent(&crashy);
    let (_a2, p2) = tcp_agent(CELERY);
    let c = Console::start(&agent_entries(&[("w-01", p1), ("w-02", p2)]));
    // The four workers (crashy comes and goes).
    wait_for(T, "4 workers running", || {
        let st = c.get("/v1/status");
        let n = st["processes"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|p| p["group"] == "celery" && p["state"] == "RUNNING")
            .count();
        (n == 4).then_some(())
    });
    let b = Browser::start(c.port);
    b.login(OPERATOR, "ops");

    // A text filter narrows the group's row: its action takes what it shows.
    b.goto("/#/groups?f=worker_01");
    let shown = b.wait_js(
        "the celery row, narrowed",
        "const r = document.querySelector('tr[data-group=celery]'); return r && r.cells[2].textContent",
    );
    assert_eq!(shown, "2");
    b.click("tr[data-group=celery] [data-act=restart]");
    b.wait_js(
        "the dialog",
        "return document.getElementById('confirm').open",
    );
    let go_off = b.js(
        "return document.getElementById('confirm-go').disabled",
        vec![],
    );
    assert_eq!(go_off, true, "Go before any plan");
    // Clicking a disabled Go does nothing (and an enabled one without a
    // plan of the current options would withdraw, not act).
    let n = c.get("/v1/ops?limit=100")["ops"].as_array().unwrap().len();
    b.js("document.getElementById('confirm-go').click()", vec![]);
    b.click("#confirm-plan");
    let planned = b.wait_js(
        "the plan",
        "const e = document.querySelector('#confirm [data-touch-count]'); return e && [e.dataset.touchCount, document.activeElement.id, document.getElementById('confirm-go').disabled]",
    );
    assert_eq!(
        planned,
        serde_json::json!(["2", "confirm-plan", false]),
        "the plan must match the row's 2, keep focus on Plan and enable Go"
    );
    let text = b.js(
        "return document.getElementById('confirm-progress').textContent",
        vec![],
    );
    let text = text.as_str().unwrap();
    assert!(
        text.contains("celery:worker_01") && !text.contains("celery:worker_00"),
        "{text}"
    );
    assert_eq!(
        c.get("/v1/ops?limit=100")["ops"].as_array().unwrap().len(),
        n,
        "something acted before a plan was shown"
    );
    b.click("#confirm-cancel");

    // A group on one host only: the other is named once as "not on".
    b.goto("/#/groups");
    b.wait_js(
        "the crashy row",
        "return !!document.querySelector('tr[data-group=crashy] [data-act=restart]')",
    );
    b.click("tr[data-group=crashy] [data-act=restart]");
    b.click("#confirm-plan");
    b.wait_js(
        "w-02 listed once as not having it",
        "const m = document.querySelector('#confirm-progress [data-missing]'); return m && m.dataset.missing === '1' && /w-02/.test(m.textContent) \
           && /on 1 host/.test(document.getElementById('confirm-progress').textContent)",
    );
    b.click("#confirm-cancel");

    // The Hosts page does not call a host with a crash loop "all fine".
    b.goto("/#/hosts");
    b.wait_js(
        "w-01 flapping",
        "const r = document.querySelector('.vrow[data-key=\"w-01\"]'); return r && /flapping/.test(r.textContent) && !/all fine/.test(r.textContent)",
    );

    // Keyboard: / to the filter, type, ↓ to the first row with the filter
    // kept; Esc does the same; ? shows the shortcuts.
    b.goto("/#/processes");
    b.wait_js(
        "rows",
        "return document.querySelectorAll('.vrow[data-key]').length === 5",
    );
    b.js("document.body.focus()", vec![]);
    b.keys("/");
    b.wait_js(
        "the filter focused",
        "return document.activeElement.id === 'filter'",
    );
    b.keys("worker");
    b.keys("\u{e015}"); // ArrowDown
    b.wait_js(
        "a row focused, the filter kept",
        "const a = document.activeElement; return a.classList.contains('vrow') && document.getElementById('filter').value === 'worker' \
           && document.querySelectorAll('.vrow[data-key]').length === 4",
    );
    b.keys("/");
    b.keys("\u{e00c}"); // Escape
    b.wait_js(
        "Esc back to the rows, the filter kept",
        "return document.activeElement.classList.contains('vrow') && document.getElementById('filter').value === 'worker'",
    );
    b.keys("?");
    b.wait_js(
        "the keyboard help",
        "const d = document.getElementById('keys'); return d.open && /next \\/ previous row/.test(d.textContent)",
    );
    b.keys("\u{e00c}");
    b.wait_js(
        "the help closed",
        "return !document.getElementById('keys').open",
    );

    // Widths: nothing cut with "…" where there is room (headers, a crash
    // loop's story), and at 360 px the process names whole.
    b.js(
        "const f = document.getElementById('filter'); f.value = ''; f.dispatchEvent(new Event('input'));",
        vec![],
    );
    let cut = "const cut = (e) => e.scrollWidth > e.clientWidth + 1;                return [...document.querySelectorAll(arguments[0])].filter(e => e.getClientRects().length && cut(e)).map(e => e.textContent);";
    for w in [1400, 2560] {
        b.resize(w, 900);
        b.goto("/#/processes");
        b.wait_js(
            "five rows, crashy flapping",
            "return document.querySelectorAll('.vrow[data-key]').length === 5 && /flapping/.test(document.querySelector('.vrow[data-key=\"w-01/crashy:crashy\"]').textContent)",
        );
        let v = b.js(
            cut,
            vec![Value::from(
                ".vhead > span, .vrow .c-story, .vrow .c-name, .vrow .c-host",
            )],
        );
        assert_eq!(v, serde_json::json!([]), "cut at {w} px");
    }
    b.resize(360, 800);
    b.goto("/#/processes");
    b.wait_js(
        "rows at 360 px",
        "return document.querySelectorAll('.vrow[data-key]').length === 5",
    );
    let v = b.js(cut, vec![Value::from(".vrow .c-name a")]);
    assert_eq!(v, serde_json::json!([]), "names cut at 360 px");
    b.resize(1400, 900);
    b.assert_no_js_errors("planning and moving by keyboard");
}

/// Thirty workers per host: more rows than the list's window.
const MANY: &str = r#"
[program.worker]
command = "TESTPROG sleep"
numprocs = 30
process_name = "{program}_{num:02}"
startsecs = 1
stopwaitsecs = 2
"#;

#[test]
fn a_fleet_restart_does_not_pull_rows_focus_or_scroll_from_under_the_operator() {
    let (_a1, p1) = tcp_agent(MANY);
    let (_a2, p2) = tcp_agent(MANY);
    let c = Console::start(&agent_entries(&[("w-01", p1), ("w-02", p2)]));
    c.wait_running(60, T);
    let b = Browser::start(c.port);
    b.login(OPERATOR, "ops");
    b.goto("/#/processes");
    b.wait_js(
        "the list",
        "return document.querySelectorAll('.vrow[data-key]').length > 10",
    );
    // Scroll into the middle and put focus on a row's restart button.
    let before = b.js(
        "const l = document.querySelector('.vlist'); l.scrollTop = 600; \
         return new Promise(r => requestAnimationFrame(() => requestAnimationFrame(() => { \
           const row = [...document.querySelectorAll('.vrow[data-key]')].find(e => e.getBoundingClientRect().top > l.getBoundingClientRect().top + 60); \
           const btn = row.querySelector('[data-act=restart]'); btn.focus(); btn.__mark = 1; \
           r([l.scrollTop, l.offsetHeight, row.dataset.key, row.getBoundingClientRect().top - l.getBoundingClientRect().top]); })));",
        vec![],
    );
    let key = before[2].as_str().unwrap().to_owned();
    // Restart everything, fleet-wide, from elsewhere (fleetctl, a colleague).
    let op = c.op(r#"{"action":"restart","target":"all"}"#);
    let f0 = b.js("return S.perf.flushes", vec![]);
    // Through the op: at every look, the same button focused, the list
    // where it was, the row in the same place.
    let mut looks = 0;
    let deadline = std::time::Instant::now() + T;
    loop {
        let v = b.js(
            &format!(
                "const l = document.querySelector('.vlist'); const a = document.activeElement; \
                 const row = document.querySelector('.vrow[data-key=\"{key}\"]'); \
                 return [a.__mark === 1, l.scrollTop, l.offsetHeight, row ? row.getBoundingClientRect().top - l.getBoundingClientRect().top : null, S.perf.flushes];"
            ),
            vec![],
        );
        assert_eq!(v[0], true, "focus left the button: {v}");
        assert_eq!(v[1], before[0], "the list scrolled: {v}");
        assert_eq!(v[2], before[1], "the list changed height: {v}");
        assert_eq!(v[3], before[3], "the row moved: {v}");
        looks += 1;
        let done = c.get(&format!("/v1/ops/{}", op["id"].as_str().unwrap()))["state"] != "running";
        if done && v[4].as_u64().unwrap() > f0.as_u64().unwrap() + 5 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the op did not end");
    }
    eprintln!("{looks} looks during the restart");
    // A held order that differs from the live one says so, and sorts on
    // request: a stopped worker ranks above the running ones.
    let op = c.op(r#"{"action":"stop","target":"worker:worker_29","hosts":"w-02"}"#);
    c.wait_op(op["id"].as_str().unwrap(), T);
    b.wait_js(
        "the 'sort now' chip",
        "return !!document.querySelector('.vhead [data-resort]')",
    );
    b.click(".vhead [data-resort]");
    b.wait_js(
        "the chip gone after sorting, the stopped worker first",
        "return !document.querySelector('.vhead [data-resort]') && S.lists.get('procs').rows[0].name === 'worker:worker_29'",
    );
    b.assert_no_js_errors("through a fleet restart");
}

#[test]
fn cpu_and_memory_show_per_process_with_a_history() {
    let (_a, p) = tcp_agent(CELERY);
    let c = Console::start(&agent_entries(&[("w-01", p)]));
    c.wait_running(2, T);
    // The console's picture carries RSS once it has re-read the agent.
    let st = wait_for(T, "RSS in the console's status", || {
        let st = c.get("/v1/status");
        st["processes"]
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["rss_bytes"].is_u64())
            .then_some(st)
    });
    let b = Browser::start(c.port);
    b.login(VIEWER, "watcher");
    b.goto("/#/processes");
    let key = "w-01/celery:worker_00";
    let shown = b.wait_js(
        "a memory figure in the row",
        &format!("const e = document.querySelector('.vrow[data-key=\"{key}\"] .c-use'); return e && /[KM]B/.test(e.textContent) && e.textContent"),
    );
    // The same figure as the API's, formatted.
    let rss = st["processes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "celery:worker_00")
        .unwrap()["rss_bytes"]
        .as_u64()
        .unwrap();
    let page_rss = b.js(&format!("return S.procs.get('{key}').rss_bytes"), vec![]);
    assert_eq!(page_rss, rss, "page {page_rss} vs API {rss}");
    eprintln!("row shows {shown}");
    // Two more readings: CPU appears, and the detail page draws both.
    for _ in 0..2 {
        let n = b.js(
            &format!("const u = S.usage.get('{key}'); return u ? u.rss.length : 0"),
            vec![],
        );
        b.js(
            "return new Promise(r => setTimeout(() => S.test.readStatus().then(r), 1100))",
            vec![],
        );
        b.wait_js(
            "one more reading",
            &format!("const u = S.usage.get('{key}'); return u && u.rss.length > {n}"),
        );
    }
    b.goto("/#/proc/w-01/celery:worker_00");
    b.wait_js(
        "CPU and memory with sparklines",
        "const c = document.querySelector('[data-usage=cpu]'); const m = document.querySelector('[data-usage=rss]'); \
         return c && m && /% of a core/.test(c.textContent) && /[KM]B/.test(m.textContent) && c.querySelector('svg.spark polyline') && m.querySelector('svg.spark polyline')",
    );
    b.assert_no_js_errors("with CPU and memory");
}

#[test]
fn opted_in_notifications_name_new_trouble_and_only_new_trouble() {
    let (_a1, p1) = tcp_agent(CELERY);
    let (mut a2, p2) = tcp_agent(CELERY);
    let c = Console::start(&agent_entries(&[("w-01", p1), ("w-02", p2)]));
    c.wait_running(4, T);
    let b = Browser::start(c.port);
    b.cdp(
        "Browser.grantPermissions",
        serde_json::json!({ "permissions": ["notifications"], "origin": b.base }),
    );
    b.login(OPERATOR, "ops");
    b.wait_js("the fleet", "return S.loaded");
    // Off by default; on by the header button.
    assert_eq!(b.js("return S.notify.on", vec![]), false);
    b.click("#notify");
    b.wait_js(
        "notifications on",
        "return S.notify.on && document.getElementById('notify').getAttribute('aria-pressed') === 'true'",
    );
    a2.signal(Signal::SIGKILL);
    a2.wait_exit(T);
    let said = b.wait_js(
        "a notification naming the down host",
        "return S.notify.said.length > 0 && S.notify.said",
    );
    assert!(said[0].as_str().unwrap().contains("w-02 is down"), "{said}");
    // Kept on across a reload; nothing old is news.
    b.goto("/");
    b.wait_js("the fleet again", "return S.loaded && S.notify.on");
    let again = b.js("return S.notify.said.length", vec![]);
    assert_eq!(again, 0, "old trouble announced as new");
    b.assert_no_js_errors("with notifications");
}

#[test]
fn flapping_counts_every_exit_and_operator_restarts_are_counted_apart() {
    let fast =
        format!("{CELERY}\n[program.fast]\ncommand = \"TESTPROG exit 1 30\"\nstartsecs = 0\n");
    let (a, p) = tcp_agent(&fast);
    let c = Console::start(&agent_entries(&[("w-01", p)]));
    // Well past the ten exits the agent lists.
    let st = wait_for(T, "40 exits of the crash loop", || {
        let p = a.process("fast:fast");
        (p["exits_unasked"].as_u64()? >= 40).then_some(p)
    });
    assert_eq!(st["exits"].as_array().unwrap().len(), 10, "{st}");
    let in_window: u64 = st["exits_by_minute"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m[1].as_u64().unwrap())
        .sum();
    assert!(in_window >= 40, "{st}");
    // An operator restarts a worker twice: restarts, but none unasked.
    for _ in 0..2 {
        let op = c.op(r#"{"action":"restart","target":"celery:worker_00"}"#);
        c.wait_op(op["id"].as_str().unwrap(), T);
    }
    let w = a.process("celery:worker_00");
    assert_eq!(
        (w["restarts"].as_u64(), w["exits_unasked"].as_u64()),
        (Some(2), Some(0)),
        "{w}"
    );

    let b = Browser::start(c.port);
    b.login(VIEWER, "watcher");
    b.goto("/#/processes");
    let text = b.wait_js(
        "the crash loop's real count",
        "const r = document.querySelector('.vrow[data-key=\"w-01/fast:fast\"] .c-story'); \
         const m = r && r.textContent.match(/flapping: (\\d+) exits in 10 min/); return m && +m[1] >= 40 && r.textContent",
    );
    eprintln!("{text}");
    // The page's count is the API's, summed over the window.
    let (page, api) = (
        b.js(
            "const p = S.procs.get('w-01/fast:fast'); return p.exits_by_minute.reduce((n, m) => n + m[1], 0)",
            vec![],
        ),
        c.get("/v1/status")["processes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == "fast:fast")
            .map(|p| p["exits_by_minute"].clone())
            .unwrap(),
    );
    let api: u64 = api
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m[1].as_u64().unwrap())
        .sum();
    assert!(page.as_u64().unwrap() <= api, "page {page} vs API {api}");
    b.wait_js(
        "the worker's restarts read as asked for",
        "const r = document.querySelector('.vrow[data-key=\"w-01/celery:worker_00\"] .c-story'); return r && /2 restarts asked for/.test(r.textContent) && !/after exits/.test(r.textContent)",
    );
    b.assert_no_js_errors("reading restarts");
}

#[test]
fn an_operator_clears_a_log_from_the_page_and_it_is_audited() {
    let (a, p) = tcp_agent(CHATTY);
    let c = Console::start(&agent_entries(&[("w-01", p)]));
    let file = a.log_dir.join("chatty.stdout.log");
    wait_for(T, "the log file filling", || {
        (std::fs::metadata(&file).ok()?.len() > 2000).then_some(())
    });
    // A viewer has no button, and the route refuses it.
    let b = Browser::start(c.port);
    b.login(VIEWER, "watcher");
    b.goto("/#/proc/w-01/chatty:chatty?stream=stdout");
    b.wait_js(
        "the log",
        "return document.querySelectorAll('#log .ln[data-st]').length > 5",
    );
    assert_eq!(
        b.js(
            "return !!document.querySelector('[data-clear-log]')",
            vec![]
        ),
        false
    );
    let r = c.request(
        "POST",
        "/v1/hosts/w-01/processes/chatty:chatty/log/clear",
        Some(VIEWER),
        "",
    );
    assert_eq!(r.status, 403, "{}", r.text());
    drop(b);

    let b = Browser::start(c.port);
    b.login(OPERATOR, "ops");
    b.goto("/#/proc/w-01/chatty:chatty?stream=stdout");
    b.wait_js(
        "the log",
        "return document.querySelectorAll('#log .ln[data-st]').length > 5",
    );
    // One click arms it (and says so, through re-renders); the second
    // clears.
    b.js("document.getElementById('log').__old = 1", vec![]);
    b.click("[data-clear-log]");
    b.wait_js(
        "the button armed",
        "return document.querySelector('[data-clear-log]').textContent === 'click again to clear'",
    );
    assert!(
        std::fs::metadata(&file).unwrap().len() > 2000,
        "cleared on the first click"
    );
    let before = std::fs::metadata(&file).unwrap().len();
    b.click("[data-clear-log]");
    wait_for(T, "the file emptied", || {
        (std::fs::metadata(&file).ok()?.len() < before / 2).then_some(())
    });
    // The page opens its new view once the clear has answered (the file
    // is emptied before the tail is, so a small file alone does not say
    // the clear is over). Its first line is from after the clear, and so
    // is the agent's tail read after it.
    let first = b.wait_js(
        "a new log view",
        "const p = document.getElementById('log'); const l = [...document.querySelectorAll('#log .ln[data-st] .tx')]; \
         return p.__old !== 1 && l.length > 0 && l[0].textContent",
    );
    let n: u64 = first
        .as_str()
        .unwrap()
        .trim_start_matches("tick ")
        .parse()
        .unwrap();
    assert!(n > 50, "the page's new view starts at tick {n}");
    let tail = a
        .request("GET", "/v1/processes/chatty/log?tail=100000", "")
        .text();
    let oldest: u64 = tail
        .lines()
        .next()
        .and_then(|l| l.trim_start_matches("tick ").parse().ok())
        .unwrap_or_else(|| panic!("no tick in the tail: {tail:?}"));
    assert!(oldest > 50, "the tail still starts at tick {oldest}");
    assert!(
        n >= oldest,
        "the page shows tick {n}, from before the clear (tail from {oldest})"
    );
    // Audited, with who.
    let audit = std::process::Command::new(bin("fleet-console"))
        .args(["audit", "verify", "--config"])
        .arg(&c.config)
        .output()
        .unwrap();
    assert!(audit.status.success(), "{audit:?}");
    let db = c.dir.path().join("data/console.db");
    let rows = std::process::Command::new("python3")
        .args([
            "-c",
            "import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute(\"select who, op from audit where kind='clear_log'\").fetchall())",
        ])
        .arg(&db)
        .output()
        .unwrap();
    let rows = String::from_utf8_lossy(&rows.stdout);
    assert!(
        rows.contains("'ops'") && rows.contains("chatty:chatty") && rows.contains("w-01"),
        "{rows}"
    );
    b.assert_no_js_errors("clearing a log");
}
