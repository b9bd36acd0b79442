//! Event listeners through the console: the picture carries each
//! listener's state and its pool's counts as its agent reports them
//! (compared field by field), the page badges it, `fleetctl status` says
//! what it is, and a console op restarts it like any program.

mod common;
use common::browser::*;
use common::console::*;
use common::ctl::*;
use common::*;
use std::time::Duration;

const T: Duration = Duration::from_secs(30);

#[test]
fn a_listener_shows_as_what_it_is_everywhere_and_restarts_like_a_program() {
    // It takes one event and never answers: BUSY with one, one buffered,
    // the third dropped.
    let (a, port) = tcp_agent(
        r#"
[eventlistener.deaf]
command = ["sh", "-c", "echo READY; exec sleep 1000"]
events = ["REMOTE_COMMUNICATION"]
buffer_size = 1
startsecs = 0

[program.cron]
command = "TESTPROG sleep"
startsecs = 0
"#,
    );
    let c = Console::start(&agent_entries(&[("w-01", port)]));
    wait_for(T, "READY at the agent", || {
        (a.process("deaf")["listener"]["state"] == "READY").then_some(())
    });
    for n in 0..3 {
        a.xmlrpc(
            "supervisor.sendRemoteCommEvent",
            &["<string>t</string>".into(), format!("<string>{n}</string>")],
        );
    }
    let want = serde_json::json!({
        "pool": "deaf", "state": "BUSY", "events": ["REMOTE_COMMUNICATION"],
        "handled": 0, "rejected": 0, "dropped": 1, "buffered": 1
    });
    wait_for(T, "the counts at the agent", || {
        (a.process("deaf")["listener"] == want).then_some(())
    });
    // The seam: the console's copy is the agent's.
    wait_for(T, "the console's copy", || {
        (console_process(&c, "w-01", "deaf:deaf")["listener"] == want).then_some(())
    });
    assert!(console_process(&c, "w-01", "cron:cron")
        .get("listener")
        .is_none());

    let b = Browser::start(c.port);
    b.login(VIEWER, "watcher");
    b.goto("/#/host/w-01");
    let title = b.wait_js(
        "the listener badge",
        "const e = document.querySelector('tr[data-key=\"w-01/deaf:deaf\"] [data-listener]'); return e && e.textContent === 'listener BUSY' && e.title;",
    );
    assert!(title.as_str().unwrap().contains("1 dropped"), "{title}");
    b.assert_no_js_errors("listeners on the page");

    let home = tempfile::tempdir().unwrap();
    let url = format!("http://127.0.0.1:{}", c.port);
    let mut cmd = fleetctl_cmd();
    cmd.args(["--console", &url, "--token", VIEWER, "status"])
        .env("HOME", home.path())
        .env("XDG_CONFIG_HOME", home.path());
    let out = run(cmd);
    assert_eq!(out.code, 0, "{out:?}");
    let row = out
        .stdout
        .lines()
        .find(|l| l.contains("deaf:deaf"))
        .unwrap();
    assert!(
        row.contains("listener BUSY, 0 handled, 1 dropped, 1 buffered"),
        "{}",
        out.stdout
    );

    // A console op restarts it; the new process is a listener again and
    // takes the buffered event.
    let pid = a.process("deaf")["pid"].as_i64().unwrap();
    let op = c.op(r#"{"action": "restart", "target": "deaf", "hosts": "w-01"}"#);
    let op = c.wait_op(op["id"].as_str().unwrap(), T);
    assert_eq!(op["state"], "done", "{op}");
    assert_eq!(verdicts(&op), vec![("w-01".to_owned(), "ok".to_owned())]);
    let l = wait_for(T, "BUSY again with the buffered event", || {
        let p = a.process("deaf");
        (p["pid"].as_i64() != Some(pid) && p["listener"]["state"] == "BUSY").then_some(p)
    });
    assert_eq!(l["listener"]["buffered"], 0, "{l}");
}
