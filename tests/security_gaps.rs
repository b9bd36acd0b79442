//! The last "none yet" rows of SECURITY.md's proof tables (issue #14),
//! against the real binaries and, for T14, headless Chromium: a program's
//! `environment` values and the tokens in no answer of either daemon,
//! nor in a config error (T17), an overlapping op refused with 409 naming the running one while
//! a disjoint one runs (T20), and HTML from program output, exit
//! descriptions and host labels shown as text, never run (T14). Tests are
//! named after the threats of reference/fleet-ops.md.

mod common;
use common::browser::*;
use common::console::*;
use common::*;
use serde_json::Value;
use std::io::Write;
use std::net::TcpStream;
use std::os::unix::net::UnixStream;
use std::time::Duration;

const T: Duration = Duration::from_secs(30);

/// The value no answer may carry (reference/fleet-ops.md's "zz-marker").
const DB_PASSWORD: &str = "zz-marker-db-password-5f3a9c0e";
/// What the config says after the reload: the new value is as secret.
const ROTATED: &str = "zz-marker-rotated-password-7c1e";

/// One XML-RPC call on the agent's unix socket; the answer's text, which
/// must not be a fault.
fn xmlrpc(a: &Agent, method: &str, params: &[&str]) -> String {
    let text = xmlrpc_answer(a, method, params);
    assert!(!text.contains("<fault>"), "{method}: {text}");
    text
}

/// One XML-RPC call on the agent's unix socket; the answer's text, fault
/// or not.
fn xmlrpc_answer(a: &Agent, method: &str, params: &[&str]) -> String {
    let params: Vec<String> = params
        .iter()
        .map(|p| format!("<string>{p}</string>"))
        .collect();
    a.xmlrpc(method, &params)
}

/// supervisord's `GET /logtail/SPEC` on the agent's socket (a tail, then
/// live output: it never ends), read until it shows `want`.
fn logtail(a: &Agent, spec: &str, want: &str) -> String {
    let mut s = UnixStream::connect(&a.socket).unwrap();
    s.write_all(format!("GET /logtail/{spec} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
        .unwrap();
    s.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let text = read_stream_until(&mut s, T, &format!("/logtail/{spec}"), |t| t.contains(want));
    assert!(text.starts_with("HTTP/1.1 200"), "/logtail/{spec}: {text}");
    text
}

/// Every answer in `answers` (what, text) is free of every secret.
#[track_caller]
fn assert_no_secret(answers: &[(String, String)], secrets: &[&str]) {
    for (what, text) in answers {
        assert!(!text.is_empty(), "{what}: empty answer proves nothing");
        for s in secrets {
            assert!(!text.contains(s), "{what} shows the secret {s:?}:\n{text}");
        }
    }
}

/// T17: a program's `environment` values reach the program and nothing
/// else: no answer of the agent (status, event history, metrics, XML-RPC
/// process and config info, log tails, a reload's answer) nor of the
/// console (status, hosts, events, ops after a restart op, metrics, logs,
/// the page) carries them, nor the agent's or the console's tokens, nor
/// either daemon's log.
#[test]
fn t17_program_environment_values_and_tokens_are_in_no_answer() {
    let witness = tempfile::tempdir().unwrap();
    let seen = witness.path().join("seen");
    let programs = format!(
        r#"
[program.db]
command = "TESTPROG sleep"
startsecs = 0
environment = {{ DB_PASSWORD = "{DB_PASSWORD}", DB_USER = "app" }}

[program.witness]
command = "/bin/sh -c 'printf %s \"$DB_PASSWORD\" > {seen}; exec TESTPROG sleep'"
startsecs = 0
environment = {{ DB_PASSWORD = "{DB_PASSWORD}" }}

[program.crashy]
command = "TESTPROG exit 3"
startsecs = 1
startretries = 1
environment = {{ DB_PASSWORD = "{DB_PASSWORD}" }}

[program.broken]
command = "/nonexistent/fleet-test-dbtool --user app"
startretries = 0
environment = {{ DB_PASSWORD = "{DB_PASSWORD}" }}
"#,
        seen = seen.display()
    );
    let (a, port) = tcp_agent(&programs);
    // The value does reach the program (else its absence proves nothing).
    wait_for(T, "the witness to write what it was given", || {
        std::fs::read_to_string(&seen)
            .ok()
            .filter(|s| s == DB_PASSWORD)
    });
    a.wait_state("db", "RUNNING", T);
    a.wait_state("crashy", "FATAL", T);
    a.wait_state("broken", "FATAL", T);

    let c = Console::start(&agent_entries(&[("w-01", port)]));
    c.wait_running(2, T);
    // The console's live events, from before the op on.
    let mut events = TcpStream::connect(("127.0.0.1", c.port)).unwrap();
    events
        .write_all(
            format!(
                "GET /v1/events HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {VIEWER}\r\n\r\n"
            )
            .as_bytes(),
        )
        .unwrap();
    events
        .set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    read_stream_until(&mut events, T, "the event stream's headers", |t| {
        t.contains("\r\n\r\n")
    });
    let op = c.op(r#"{"action":"restart","target":"db","hosts":"w-01"}"#);
    let id = op["id"].as_str().unwrap().to_owned();
    let done = c.wait_op(&id, T);
    assert_eq!(verdicts(&done), [("w-01".into(), "ok".into())], "{done}");
    let console_events = read_stream_until(&mut events, T, "the op's end event", |t| {
        t.lines()
            .any(|l| l.contains(&id) && l.contains("\"state\":\"done\""))
    });

    // The agent, as its unix socket and XML-RPC clients see it.
    let mut agent = vec![
        ("agent /v1/status".to_owned(), a.status().to_string()),
        (
            "agent /metrics".to_owned(),
            a.request("GET", "/metrics", "").text(),
        ),
        (
            "agent getAllProcessInfo".to_owned(),
            xmlrpc(&a, "supervisor.getAllProcessInfo", &[]),
        ),
        (
            "agent getAllConfigInfo".to_owned(),
            xmlrpc(&a, "supervisor.getAllConfigInfo", &[]),
        ),
    ];
    for name in ["db", "crashy", "broken"] {
        agent.push((
            format!("agent getProcessInfo {name}"),
            xmlrpc(&a, "supervisor.getProcessInfo", &[name]),
        ));
    }
    for (name, stream, want) in [
        ("db", "stdout", "ready"),
        ("broken", "stderr", "spawn failed"),
    ] {
        let r = a.request(
            "GET",
            &format!("/v1/processes/{name}/log?stream={stream}&tail=65536&timestamps=true"),
            "",
        );
        assert_eq!(r.status, 200, "{}", r.text());
        agent.push((format!("agent log tail {name} {stream}"), r.text()));
        agent.push((
            format!("agent /logtail/{name}/{stream}"),
            logtail(&a, &format!("{name}/{stream}"), want),
        ));
    }
    let history = events_until(&a, T, "the event history up to db's restart", |ev| {
        ev.iter()
            .filter(|e| e["name"] == "db:db" && e["to"] == "RUNNING")
            .count()
            >= 2
    });
    agent.push((
        "agent /v1/events history".to_owned(),
        serde_json::to_string(&history).unwrap(),
    ));

    // A reload that changes the value: its answer names what changed, not
    // the values.
    let text = std::fs::read_to_string(&a.config).unwrap();
    std::fs::write(&a.config, text.replace(DB_PASSWORD, ROTATED)).unwrap();
    let r = a.post("/v1/reload", "");
    assert_eq!(r.status, 200, "{}", r.text());
    agent.push(("agent /v1/reload".to_owned(), r.text()));
    wait_for(T, "the witness to be given the rotated value", || {
        std::fs::read_to_string(&seen).ok().filter(|s| s == ROTATED)
    });
    a.wait_state("db", "RUNNING", T);
    agent.push((
        "agent /v1/status after reload".to_owned(),
        a.status().to_string(),
    ));
    agent.push((
        "agent getAllConfigInfo after reload".to_owned(),
        xmlrpc(&a, "supervisor.getAllConfigInfo", &[]),
    ));
    agent.push(("agent log".to_owned(), a.stderr()));
    assert_no_secret(&agent, &[DB_PASSWORD, ROTATED, AGENT_TOKEN]);

    // The console, to a viewer.
    let mut console = vec![
        ("console /v1/events".to_owned(), console_events),
        ("console /v1/ops".to_owned(), c.get("/v1/ops").to_string()),
        (
            format!("console /v1/ops/{id}"),
            c.get(&format!("/v1/ops/{id}")).to_string(),
        ),
    ];
    for path in [
        "/v1/status",
        "/v1/hosts",
        "/metrics",
        "/",
        "/ui/app.js",
        "/v1/hosts/w-01/processes/db/log?stream=stdout&tail=65536&timestamps=true",
        "/v1/hosts/w-01/processes/db/log/file?stream=stdout",
        "/v1/hosts/w-01/processes/broken/log?stream=stderr",
    ] {
        let r = c.request("GET", path, Some(VIEWER), "");
        assert_eq!(r.status, 200, "{path}: {}", r.text());
        console.push((format!("console {path}"), r.text()));
    }
    console.push(("console log".to_owned(), c.stderr()));
    assert_no_secret(
        &console,
        &[DB_PASSWORD, ROTATED, AGENT_TOKEN, OPERATOR, VIEWER],
    );
}

/// T17: config errors name the key and what is wrong with its value but
/// never quote a program's `environment` value nor a token, whoever sees
/// them: `POST /v1/reload`'s answer, XML-RPC `reloadConfig`'s fault, the
/// agent's log after SIGHUP, and `fleet-agent`'s refusal to start. A bad
/// reload changes nothing.
#[test]
fn t17_config_errors_never_quote_an_environment_value_or_a_token() {
    const GOOD: &str = r#"
[program.db]
command = "TESTPROG sleep"
startsecs = 0
environment = { DB_PASSWORD = "zz-marker-good-value-0a1b2c" }
"#;
    // A `${` left open, a bad `${...}` name, a PIN as a number, and
    // supervisord's `environment = "KEY=value"` form.
    const LEAKY: &str = r#"
[program.leaky]
command = "TESTPROG sleep"
environment = { A = "zz-marker-open-${oops", B = "zz-marker-name-${1zz-marker-inner}", PIN = 27182818284 }

[program.inline]
command = "TESTPROG sleep"
environment = "DB_PASSWORD=zz-marker-supervisord-style"
"#;
    let secrets = ["zz-marker", "oops", "27182818284"];
    let a = Agent::start(GOOD);
    let pid = a.wait_state("db", "RUNNING", T)["pid"].clone();
    let good = std::fs::read_to_string(&a.config).unwrap();
    std::fs::write(
        &a.config,
        format!("{good}{}", LEAKY.replace("TESTPROG", testprog())),
    )
    .unwrap();
    let mut answers = Vec::new();

    let r = a.post("/v1/reload", "");
    assert_eq!(r.status, 400, "{}", r.text());
    assert_no_secret(&[("POST /v1/reload".to_owned(), r.text())], &secrets);
    let m = r.json()["error"]["message"].as_str().unwrap().to_owned();
    // Each error still says where and what.
    for want in [
        "program.leaky.environment.A: unterminated \"${\"",
        "program.leaky.environment.B: invalid variable name in ${...}",
        "program.leaky.environment.PIN: expected a string, found an integer",
        "program.inline.environment: expected a table of strings such as { KEY = \"value\" }, found a string",
    ] {
        assert!(m.contains(want), "the reload's answer should say {want:?}: {m}");
    }
    let fault = xmlrpc_answer(&a, "supervisor.reloadConfig", &[]);
    assert!(
        fault.contains("<fault>") && fault.contains("unterminated"),
        "{fault}"
    );
    answers.push(("XML-RPC reloadConfig".to_owned(), fault));
    a.signal(nix::sys::signal::Signal::SIGHUP);
    let log = wait_for(T, "the refused SIGHUP reload in the agent's log", || {
        let log = a.stderr();
        log.contains("reload on SIGHUP refused").then_some(log)
    });
    answers.push(("the agent's log".to_owned(), log));
    // Nothing changed.
    assert_eq!(a.process("db")["pid"], pid);
    assert!(a.find_process("leaky").is_none() && a.find_process("inline").is_none());

    // The same file at start, and a token with a `${` left open.
    let bad = a.dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        format!(
            "[agent]\nsocket = {:?}\nlisten = \"127.0.0.1:0\"\n\
             token = \"zz-marker-token-0123456789abcdef-${{oops\"\n{}",
            a.dir.path().join("bad.sock").display().to_string(),
            LEAKY.replace("TESTPROG", testprog())
        ),
    )
    .unwrap();
    let out = std::process::Command::new(bin("fleet-agent"))
        .arg("--config")
        .arg(&bad)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains("agent.token: unterminated \"${\""),
        "{stderr}"
    );
    answers.push(("fleet-agent refusing to start".to_owned(), stderr));
    assert_no_secret(&answers, &secrets);
}

/// T17: a console.toml the console refuses names the place and what is
/// wrong, without toml's copy of the line (which held the token: the
/// refusal goes to the journal).
#[test]
fn t17_a_console_config_error_never_quotes_a_token() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("console.toml");
    for (line, col, what) in [
        (
            r#"token = "zz-marker-console-token-\q0123456789""#,
            36,
            "invalid escape sequence",
        ),
        (
            "token = 98765432109876543210987654321",
            9,
            "number too large",
        ),
    ] {
        std::fs::write(
            &config,
            format!(
                "[console]\nlisten = \"127.0.0.1:0\"\ndata_dir = \"data\"\n\n\
                 [[tokens]]\nname = \"ops\"\n{line}\nrole = \"operator\"\n"
            ),
        )
        .unwrap();
        let out = std::process::Command::new(bin("fleet-console"))
            .arg("--config")
            .arg(&config)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert_no_secret(
            &[("fleet-console refusing to start".to_owned(), stderr.clone())],
            &["zz-marker", "98765432109876543210987654321"],
        );
        let at = format!("{}:7:{col}: {what}", config.display());
        assert!(
            stderr.contains(&at),
            "the refusal should say {at:?}: {stderr}"
        );
    }
    assert!(
        !dir.path().join("data").exists(),
        "a refused config created data"
    );
}

/// Programs that take 8 s to settle (`startsecs`), so an op restarting
/// them is still running while the next ones are posted.
const SLOW: &str = r#"
[program.worker]
command = "TESTPROG sleep"
numprocs = 2
process_name = "{program}_{num:02}"
startsecs = 8
stopwaitsecs = 2

[group.celery]
programs = ["worker"]

[program.web]
command = "TESTPROG sleep"
startsecs = 8
stopwaitsecs = 2
"#;

/// T20: while a restart of `group:celery` on w-01 runs, every op that
/// overlaps it (the same one, one of its processes, `all` everywhere) gets
/// 409 naming the running op, and is not audited; ops on other hosts or
/// other processes of the same host are accepted at the same time; once
/// the first op is done, the refused one runs.
#[test]
fn t20_an_overlapping_op_is_refused_with_409_naming_the_running_one() {
    let (_a1, p1) = tcp_agent(SLOW);
    let (_a2, p2) = tcp_agent(SLOW);
    let c = Console::start(&agent_entries(&[("w-01", p1), ("w-02", p2)]));
    c.wait_running(6, Duration::from_secs(60));

    let first_body = r#"{"action":"restart","target":"group:celery","hosts":"w-01"}"#;
    let first = c.op(first_body);
    let first_id = first["id"].as_str().unwrap().to_owned();
    for body in [
        first_body,
        r#"{"action":"stop","target":"celery:worker_01","hosts":"w-01"}"#,
        r#"{"action":"restart","target":"all"}"#,
        r#"{"action":"signal","target":"group:celery","signal":"HUP"}"#,
    ] {
        let r = c.request("POST", "/v1/ops", Some(OPERATOR), body);
        assert_eq!(r.status, 409, "{body}: {}", r.text());
        let e = r.json();
        assert_eq!(e["error"]["code"], "conflict", "{body}: {e}");
        let m = e["error"]["message"].as_str().unwrap();
        assert!(
            m.contains(&first_id) && m.contains("restart group:celery"),
            "{body}: the refusal should name the running op {first_id}: {m}"
        );
    }
    // Disjoint ops run alongside: other hosts, and other processes of the
    // same host.
    let other_host = c.op(r#"{"action":"restart","target":"group:celery","hosts":"w-02"}"#);
    let other_proc = c.op(r#"{"action":"restart","target":"web","hosts":"w-01"}"#);
    // They were accepted while the first one was still running (not after
    // it finished): the refusals above prove nothing otherwise.
    let now = c.get(&format!("/v1/ops/{first_id}"));
    assert_eq!(now["state"], "running", "{now}");

    let mut accepted = vec![first_id.clone()];
    for op in [&other_host, &other_proc] {
        accepted.push(op["id"].as_str().unwrap().to_owned());
    }
    for id in &accepted {
        let done = c.wait_op(id, Duration::from_secs(90));
        assert_eq!(done["state"], "done", "{done}");
        assert!(verdicts(&done).iter().all(|(_, v)| v == "ok"), "{done}");
    }
    // Only the accepted ops are in the audit log: a refusal is no op.
    let listed: Vec<String> = c.get("/v1/ops?limit=1000")["ops"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["id"].as_str().unwrap().to_owned())
        .collect();
    let mut want = accepted.clone();
    want.sort();
    let mut got = listed.clone();
    got.sort();
    assert_eq!(got, want, "GET /v1/ops lists {listed:?}");

    // The refused op holds nothing: now that the first is done it runs.
    let again = c.op(first_body);
    let done = c.wait_op(again["id"].as_str().unwrap(), Duration::from_secs(90));
    assert_eq!(done["state"], "done", "{done}");
}

/// The HTML a hostile program writes, and a command path carrying it into
/// the exit description.
const IMG: &str = r#"<img src=x onerror="window.__pwned=1">"#;
const SCRIPT: &str = "<script>window.__pwned=1</script>";
const IMG_BARE: &str = "<img src=x onerror=window.__pwned=1>";

/// Not run, not built: no payload element anywhere, no marker set, no
/// script but the page's own.
const CLEAN: &str = "return window.__pwned === undefined \
     && document.querySelector('img[src=x]') === null \
     && document.querySelector('[onerror]') === null \
     && [...document.scripts].every(s => s.src && !s.textContent);";

#[track_caller]
fn assert_clean(b: &Browser, view: &str) {
    let v = b.js(CLEAN, vec![]);
    assert_eq!(v, Value::Bool(true), "{view}: the payload ran or was built");
}

/// Go to `hash` and wait for its view: a heading that has `title`.
fn open(b: &Browser, hash: &str, title: &str) {
    b.goto(hash);
    b.wait_js(
        &format!("the view of {hash}"),
        &format!(
            "const h = document.querySelector('#view h1'); \
             return !!h && h.textContent.includes({title:?});"
        ),
    );
}

/// The process view shows a process of the picture (its details), not
/// "not in the console's picture".
fn known_process(b: &Browser) {
    b.wait_js(
        "the process's details",
        "return !!document.querySelector('#view dl.kv')",
    );
}

/// Wait until `text` is visible as text (rendered, in `css`), then check
/// that nothing of the payload was built.
fn shows_as_text(b: &Browser, view: &str, css: &str, text: &str) {
    b.wait_js(
        &format!("{view} to show {text:?} as text"),
        &format!(
            "const e = document.querySelector({css:?}); return !!e && e.innerText.includes({text:?});"
        ),
    );
    assert_clean(b, view);
}

/// T14: a program whose output lines and exit description carry HTML and
/// script, and a host whose tag and host group do too: in headless
/// Chromium the overview, hosts, host groups, host, process, log and op
/// views show the payloads literally, build no element from them, and
/// never set the marker.
#[test]
fn t14_html_in_output_exit_descriptions_and_labels_is_shown_as_text() {
    let payload = format!("{IMG} {SCRIPT}");
    let programs = format!(
        r#"
[program.xss_out]
command = '''TESTPROG stderr '{payload}' '''
startsecs = 0

[program.xss_exit]
command = '''"/nonexistent/{IMG_BARE}{SCRIPT}"'''
startretries = 0
"#
    );
    let (a, port) = tcp_agent(&programs);
    a.wait_state("xss_exit", "FATAL", T);
    a.wait_state("xss_out", "RUNNING", T);
    let exit_text = a.process("xss_exit")["exit_status"]["message"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        exit_text.contains(IMG_BARE) && exit_text.contains(SCRIPT),
        "the exit description should carry the payload: {exit_text}"
    );

    // Host names are letters, digits, "_", "-" and "." only (the console's
    // name rule); a tag value and a host group name may be anything.
    let c = Console::start(&format!(
        "{}tags = {{ note = '{IMG}' }}\n\n[host_groups]\n'{IMG_BARE}' = [\"w-*\"]\n",
        agent_entries(&[("w-01", port)])
    ));
    c.wait_running(1, T);
    // An op whose per-process message is the spawn failure.
    let op = c.op(r#"{"action":"start","target":"xss_exit","hosts":"w-01"}"#);
    let op_id = op["id"].as_str().unwrap().to_owned();
    let done = c.wait_op(&op_id, T);
    assert!(
        done.to_string().contains("nonexistent"),
        "the op's result should carry the spawn failure: {done}"
    );

    let b = Browser::start(c.port);
    b.login(OPERATOR, "ops");

    open(&b, "/#/", "Fleet overview");
    shows_as_text(&b, "the overview's trouble list", "#view", IMG_BARE);
    shows_as_text(&b, "the overview's trouble list", "#view", SCRIPT);
    shows_as_text(&b, "the overview's host groups", "#view", IMG_BARE);

    open(&b, "/#/hosts", "Hosts");
    shows_as_text(&b, "the hosts view", "#view", IMG_BARE);
    open(&b, "/#/hostgroups", "Host groups");
    shows_as_text(&b, "the host groups view", "#view", IMG_BARE);
    open(&b, "/#/processes", "Processes");
    shows_as_text(&b, "the processes view", "#view", SCRIPT);

    open(&b, "/#/host/w-01", "w-01");
    shows_as_text(&b, "the host's tags", "#view", IMG);
    shows_as_text(&b, "the host's processes", "#view", IMG_BARE);

    // The failed program: its description, exits and its log, where the
    // agent wrote the spawn failure.
    open(
        &b,
        "/#/proc/w-01/xss_exit%3Axss_exit",
        "xss_exit:xss_exit on w-01",
    );
    known_process(&b);
    shows_as_text(&b, "xss_exit's description and exits", "#view", IMG_BARE);
    shows_as_text(&b, "xss_exit's description and exits", "#view", SCRIPT);
    shows_as_text(&b, "xss_exit's log", "#log", IMG_BARE);

    // The hostile output, from the tail and live.
    open(
        &b,
        "/#/proc/w-01/xss_out%3Axss_out",
        "xss_out:xss_out on w-01",
    );
    known_process(&b);
    shows_as_text(&b, "xss_out's log tail", "#log", &payload);
    let before = b.js(
        &format!("return document.getElementById('log').innerText.split({payload:?}).length - 1"),
        vec![],
    );
    let r = c.request(
        "POST",
        "/v1/ops",
        Some(OPERATOR),
        r#"{"action":"restart","target":"xss_out","hosts":"w-01"}"#,
    );
    assert_eq!(r.status, 201, "{}", r.text());
    b.wait_js(
        "the restarted program's payload to arrive live",
        &format!(
            "return document.getElementById('log').innerText.split({payload:?}).length - 1 > {before}"
        ),
    );
    assert_clean(&b, "xss_out's live log");
    b.goto("/#/proc/w-01/xss_out%3Axss_out?stream=stderr");
    b.wait_js(
        "the stderr log view",
        "return !!document.querySelector('[data-stream=stderr][aria-current]')",
    );
    shows_as_text(&b, "xss_out's stderr", "#log", &payload);

    open(&b, &format!("/#/op/{op_id}"), &op_id);
    shows_as_text(&b, "the op's per-process message", "#view", IMG_BARE);

    // Reflected through the address: names from the URL are shown as text
    // too (a link someone was sent).
    let e = enc(IMG_BARE);
    b.goto(&format!("/#/host/{e}"));
    shows_as_text(
        &b,
        "an unknown host named by the URL",
        "#view",
        &format!("No host named {IMG_BARE}"),
    );
    b.goto(&format!("/#/proc/w-01/{e}"));
    shows_as_text(
        &b,
        "an unknown process named by the URL",
        "#view",
        &format!("{IMG_BARE} on w-01"),
    );
    b.goto(&format!("/#/group/{e}"));
    shows_as_text(
        &b,
        "a program group named by the URL",
        "#view",
        &format!("Program group {IMG_BARE}"),
    );
    b.goto(&format!("/#/processes?f={e}"));
    b.wait_js(
        "the filter from the URL",
        &format!("return document.getElementById('filter').value === {IMG_BARE:?}"),
    );
    assert_clean(&b, "a filter from the URL");
    b.goto(&format!("/#/op/{e}"));
    b.wait_js(
        "the unknown op's error",
        "return !!document.querySelector('#view .banner')",
    );
    assert_clean(&b, "an unknown op named by the URL");

    assert_clean(&b, "the end of the walk");
}

/// Percent-encodes everything but letters and digits (a URL fragment's
/// path segment, as the page's `encodeURIComponent` would).
fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}
