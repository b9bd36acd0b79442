//! Event listeners under a real agent: superlance's crashmail, memmon and
//! httpok unchanged, a childutils listener that answers FAIL or dies on
//! an event and gets it again, one that breaks the protocol, one that
//! never reads its stdin while a crash loop next to it restarts at full
//! speed, and what supervisord's headers and payloads look like.

mod common;
use common::listen::{fixture_listener, listener, recorded, remote, wait_listener, wait_recorded};
use common::*;
use std::time::Duration;

const T: Duration = Duration::from_secs(30);

#[test]
fn crashmail_mails_an_unexpected_exit_and_not_an_expected_one() {
    let dir = tempfile::tempdir().unwrap();
    let mail = dir.path().join("mail.txt");
    let a = Agent::start(&format!(
        r#"
[program.crasher]
command = "TESTPROG exit 3 1200"
startsecs = 1
autorestart = false

[program.clean]
command = "TESTPROG exit 0 1200"
startsecs = 1
autorestart = false

[eventlistener.crashmail]
command = ["python3", "-m", "superlance.crashmail", "-a", "-m", "ops@example.com", "-s", "sh -c 'cat >> {mail}'"]
events = ["PROCESS_STATE_EXITED"]
"#,
        mail = mail.display()
    ));
    a.wait_state("crasher", "EXITED", T);
    a.wait_state("clean", "EXITED", T);
    let pid = a.process("crasher")["exit_status"].clone();
    assert_eq!(pid["code"], 3);
    let text = wait_for(T, "crashmail's mail", || {
        let t = std::fs::read_to_string(&mail).unwrap_or_default();
        t.contains("exited unexpectedly").then_some(t)
    });
    assert!(text.contains("To: ops@example.com"), "{text}");
    assert!(
        text.contains("Process crasher in group crasher exited unexpectedly (pid ")
            && text.contains("from state RUNNING"),
        "{text}"
    );
    // Both exits went out; only the unexpected one was mailed.
    // Counters reach the status within a second (published at most once
    // a second while events flow).
    let l = wait_for(T, "both events handled", || {
        let l = listener(&a, "crashmail");
        (l["handled"] == 2 && l["state"] == "READY").then_some(l)
    });
    assert_eq!(l["pool"], "crashmail");
    assert_eq!(l["events"], serde_json::json!(["PROCESS_STATE_EXITED"]));
    assert_eq!(
        (l["dropped"].as_u64(), l["rejected"].as_u64()),
        (Some(0), Some(0))
    );
    assert_eq!(text.matches("exited unexpectedly").count(), 1, "{text}");
    assert!(!text.contains("clean"), "{text}");
    // The listener's stdout is the protocol, not a log: nothing of
    // READY/RESULT is in its tail.
    let tail = a.request("GET", "/v1/processes/crashmail/log?stream=stdout", "");
    assert_eq!(tail.status, 200, "{}", tail.text());
    assert_eq!(tail.text(), "", "the protocol is not logged");
    // Its stderr is logged like a program's.
    let tail = a.request("GET", "/v1/processes/crashmail/log?stream=stderr", "");
    assert!(
        tail.text().contains("unexpected exit, mailing"),
        "{}",
        tail.text()
    );
}

#[test]
fn memmon_restarts_the_process_over_its_limit_and_leaves_the_others_alone() {
    let a = Agent::start(
        r#"
[program.hog]
command = "TESTPROG hog 96"
startsecs = 0

[program.small]
command = "TESTPROG sleep"
startsecs = 0

[eventlistener.memmon]
command = "python3 -m superlance.memmon -p hog=48MB -p small=48MB"
events = ["TICK_5"]
"#,
    );
    let hog = a.wait_state("hog", "RUNNING", T)["pid"].as_i64().unwrap();
    let small = a.wait_state("small", "RUNNING", T)["pid"].as_i64().unwrap();
    let p = wait_for(T, "memmon restarts hog", || {
        let p = a.process("hog");
        (p["pid"].as_i64().is_some_and(|n| n != hog) && p["state"] == "RUNNING").then_some(p)
    });
    assert!(p["restarts"].as_u64().unwrap() >= 1, "{p}");
    assert_eq!(a.process("small")["pid"].as_i64().unwrap(), small);
    assert_eq!(a.process("small")["restarts"], 0);
    wait_for(T, "memmon's tick handled", || {
        (listener(&a, "memmon")["handled"].as_u64().unwrap() >= 1).then_some(())
    });
}

#[test]
fn httpok_restarts_the_process_whose_url_fails() {
    let port = free_port();
    let dir = tempfile::tempdir().unwrap();
    let mode = dir.path().join("mode");
    std::fs::write(&mode, "fail").unwrap();
    let a = Agent::start(&format!(
        r#"
[program.web]
command = "TESTPROG http {port} {mode}"
startsecs = 0

[program.other]
command = "TESTPROG sleep"
startsecs = 0

[eventlistener.httpok]
command = "python3 -m superlance.httpok -p web -t 2 http://127.0.0.1:{port}/"
events = ["TICK_5"]
"#,
        mode = mode.display()
    ));
    let web = a.wait_state("web", "RUNNING", T)["pid"].as_i64().unwrap();
    let other = a.wait_state("other", "RUNNING", T)["pid"].as_i64().unwrap();
    wait_for(T, "httpok restarts web", || {
        let p = a.process("web");
        p["pid"].as_i64().is_some_and(|n| n != web).then_some(())
    });
    assert_eq!(a.process("other")["pid"].as_i64().unwrap(), other);
}

#[test]
fn headers_payloads_and_environment_are_supervisords() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("events.jsonl");
    let a = Agent::start(&format!(
        r#"
[program.worker]
command = "TESTPROG sleep"
startsecs = 0

[eventlistener.rec]
command = "python3 {script} {out}"
events = ["EVENT"]
buffer_size = 100
"#,
        script = fixture_listener(),
        out = out.display()
    ));
    let pid = a.wait_state("worker", "RUNNING", T)["pid"]
        .as_i64()
        .unwrap();
    let r = wait_recorded(&out, "worker RUNNING event", |r| {
        r.iter().any(|e| {
            e["headers"]["eventname"] == "PROCESS_STATE_RUNNING"
                && e["payload"]
                    .as_str()
                    .unwrap()
                    .starts_with("processname:worker ")
        })
    });
    let first = &r[0];
    let env = &first["env"];
    assert_eq!(env["SUPERVISOR_ENABLED"], "1");
    assert_eq!(env["SUPERVISOR_PROCESS_NAME"], "rec");
    assert_eq!(env["SUPERVISOR_GROUP_NAME"], "rec");
    assert_eq!(
        env["SUPERVISOR_SERVER_URL"],
        format!("unix://{}", a.socket.display())
    );
    assert_eq!(
        first["rpc_state"], "RUNNING",
        "childutils reached the agent"
    );
    let h = &first["headers"];
    assert_eq!(
        (h["ver"].as_str(), h["server"].as_str(), h["pool"].as_str()),
        (Some("3.0"), Some("supervisor"), Some("rec"))
    );
    // Serials count up from 0, the pool's too; a payload's len is exact
    // (childutils read exactly it, or the JSON would be off).
    for (i, e) in r.iter().enumerate() {
        assert_eq!(e["headers"]["poolserial"], i.to_string());
        assert_eq!(
            e["headers"]["len"]
                .as_str()
                .unwrap()
                .parse::<usize>()
                .unwrap(),
            e["payload"].as_str().unwrap().chars().count()
        );
    }
    let find = |name: &str, prefix: &str| {
        r.iter()
            .find(|e| {
                e["headers"]["eventname"] == name
                    && e["payload"].as_str().unwrap().starts_with(prefix)
            })
            .map(|e| e["payload"].as_str().unwrap().to_owned())
            .unwrap_or_else(|| panic!("no {name} {prefix} in {r:#?}"))
    };
    assert_eq!(
        find("PROCESS_GROUP_ADDED", "groupname:worker"),
        "groupname:worker\n"
    );
    assert_eq!(
        find("PROCESS_STATE_STARTING", "processname:worker "),
        "processname:worker groupname:worker from_state:STOPPED tries:0"
    );
    assert_eq!(
        find("PROCESS_STATE_RUNNING", "processname:worker "),
        format!("processname:worker groupname:worker from_state:STARTING pid:{pid}")
    );
    assert_eq!(find("SUPERVISOR_STATE_CHANGE_RUNNING", ""), "");

    // A stop: STOPPING then STOPPED with the pid; a remote event through
    // supervisord's XML-RPC method.
    a.post("/v1/processes/worker/stop", "");
    remote(&a, "deploy", "v2 is out");
    let r = wait_recorded(&out, "remote event", |r| {
        r.iter()
            .any(|e| e["headers"]["eventname"] == "REMOTE_COMMUNICATION")
    });
    let find = |name: &str| {
        r.iter()
            .find(|e| e["headers"]["eventname"] == name)
            .map(|e| e["payload"].as_str().unwrap().to_owned())
            .unwrap()
    };
    assert_eq!(
        find("PROCESS_STATE_STOPPING"),
        format!("processname:worker groupname:worker from_state:RUNNING pid:{pid}")
    );
    assert_eq!(
        find("PROCESS_STATE_STOPPED"),
        format!("processname:worker groupname:worker from_state:STOPPING pid:{pid}")
    );
    assert_eq!(find("REMOTE_COMMUNICATION"), "type:deploy\nv2 is out");

    // A reload that adds a group: PROCESS_GROUP_ADDED for it.
    a.write_config(&format!(
        r#"
[program.worker]
command = "TESTPROG sleep"
startsecs = 0
autostart = false

[program.extra]
command = "TESTPROG sleep"
autostart = false

[eventlistener.rec]
command = "python3 {script} {out}"
events = ["EVENT"]
buffer_size = 100
"#,
        script = fixture_listener(),
        out = out.display()
    ));
    assert_eq!(a.post("/v1/reload", "").status, 200);
    wait_recorded(&out, "group added on reload", |r| {
        r.iter().any(|e| {
            e["headers"]["eventname"] == "PROCESS_GROUP_ADDED"
                && e["payload"] == "groupname:extra\n"
        })
    });
}

#[test]
fn a_failed_event_comes_again_with_the_same_serials() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("events.jsonl");
    let a = Agent::start(&format!(
        r#"
[eventlistener.picky]
command = "python3 {script} {out} fail-first"
events = ["REMOTE_COMMUNICATION"]
"#,
        script = fixture_listener(),
        out = out.display()
    ));
    wait_listener(&a, "picky", "READY");
    remote(&a, "t", "once");
    let r = wait_recorded(&out, "the event twice", |r| r.len() >= 2);
    assert_eq!(
        r[0]["headers"], r[1]["headers"],
        "same serial and poolserial"
    );
    assert_eq!(r[0]["payload"], "type:t\nonce");
    let l = wait_for(T, "handled", || {
        let l = listener(&a, "picky");
        (l["handled"] == 1).then_some(l)
    });
    assert_eq!(l["rejected"], 1);
    assert_eq!(recorded(&out).len(), 2, "not a third time");
}

#[test]
fn a_listener_that_dies_mid_event_gets_it_again_after_its_restart() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("events.jsonl");
    let a = Agent::start(&format!(
        r#"
[eventlistener.fragile]
command = "python3 {script} {out} die-first"
events = ["REMOTE_COMMUNICATION"]
autorestart = true
startsecs = 0
"#,
        script = fixture_listener(),
        out = out.display()
    ));
    wait_listener(&a, "fragile", "READY");
    remote(&a, "t", "x");
    let r = wait_recorded(&out, "the event twice", |r| r.len() >= 2);
    assert_ne!(r[0]["pid"], r[1]["pid"], "by two processes");
    assert_eq!(r[0]["headers"], r[1]["headers"]);
    wait_for(T, "handled", || {
        (listener(&a, "fragile")["handled"] == 1).then_some(())
    });
}

#[test]
fn a_protocol_violation_is_unknown_until_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("events.jsonl");
    let a = Agent::start(&format!(
        r#"
[eventlistener.rude]
command = "python3 {script} {out} garbage"
events = ["REMOTE_COMMUNICATION"]
startsecs = 0
"#,
        script = fixture_listener(),
        out = out.display()
    ));
    wait_listener(&a, "rude", "READY");
    remote(&a, "t", "1");
    wait_listener(&a, "rude", "UNKNOWN");
    // It gets nothing more; the event waits in the buffer.
    remote(&a, "t", "2");
    wait_for(T, "buffered", || {
        (listener(&a, "rude")["buffered"] == 1).then_some(())
    });
    assert_eq!(recorded(&out).len(), 1);
    assert!(a.stderr().contains("has entered the UNKNOWN state"));
    // A restart makes it a listener again, and the buffered event goes out.
    a.post("/v1/processes/rude/restart", "");
    wait_recorded(&out, "the buffered event", |r| r.len() == 2);
}

#[test]
fn a_listener_that_never_reads_blocks_no_restart_and_drops_the_oldest() {
    let a = Agent::start(
        r#"
[program.crashy]
command = "TESTPROG exit 1 50"
startsecs = 0
autorestart = true

[eventlistener.deaf]
command = ["sh", "-c", "echo READY; exec sleep 1000"]
events = ["PROCESS_STATE"]
buffer_size = 3
"#,
    );
    // It is BUSY with its first event for ever; the crash loop goes on at
    // full speed beside it, and the API answers.
    let p = wait_for(T, "40 restarts", || {
        let p = a.process("crashy");
        (p["restarts"].as_u64().unwrap_or(0) >= 40).then_some(p)
    });
    assert_eq!(p["exit_status"]["code"], 1);
    let l = listener(&a, "deaf");
    assert_eq!(l["state"], "BUSY", "{l}");
    assert_eq!(l["buffered"], 3, "{l}");
    assert!(l["dropped"].as_u64().unwrap() > 30, "{l}");
    assert!(a
        .stderr()
        .contains("event buffer overflowed, discarding event"));
    // Its own stop is unaffected.
    let r = a.post("/v1/processes/deaf/stop", "");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(a.state("deaf"), "STOPPED");
}

#[test]
fn process_log_events_carry_the_output_of_programs_that_ask() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("events.jsonl");
    let a = Agent::start(&format!(
        r#"
[program.talker]
command = "TESTPROG stderr hello"
stdout_events_enabled = true
startsecs = 0

[program.quiet]
command = "TESTPROG stderr hush"
startsecs = 0

[eventlistener.rec]
command = "python3 {script} {out}"
events = ["PROCESS_LOG", "REMOTE_COMMUNICATION"]
"#,
        script = fixture_listener(),
        out = out.display()
    ));
    let pid = a.wait_state("talker", "RUNNING", T)["pid"]
        .as_i64()
        .unwrap();
    let r = wait_recorded(&out, "a PROCESS_LOG_STDOUT event", |r| !r.is_empty());
    assert_eq!(r[0]["headers"]["eventname"], "PROCESS_LOG_STDOUT");
    assert_eq!(
        r[0]["payload"],
        format!("processname:talker groupname:talker pid:{pid} channel:stdout\nhello\n")
    );
    // Its stderr is not enabled, `quiet` enables nothing: one log event
    // only, by the time a remote event raised after all that output has
    // come through the same pool.
    remote(&a, "t", "end");
    let r = wait_recorded(&out, "the remote event", |r| {
        r.iter()
            .any(|e| e["headers"]["eventname"] == "REMOTE_COMMUNICATION")
    });
    let logs = r
        .iter()
        .filter(|e| e["headers"]["eventname"] != "REMOTE_COMMUNICATION");
    assert_eq!(logs.count(), 1, "{r:#?}");
    // The output still reached the log.
    let tail = a.request("GET", "/v1/processes/talker/log?stream=stdout", "");
    assert_eq!(tail.status, 200, "{}", tail.text());
    assert_eq!(tail.text(), "hello\n");
}

#[test]
fn imported_supervisord_listeners_run_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let mail = dir.path().join("mail.txt");
    let out = dir.path().join("events.jsonl");
    let conf = dir.path().join("supervisord.conf");
    // crashmail, memmon and a childutils listener that answers FAIL once,
    // written as supervisord estates write them.
    std::fs::write(
        &conf,
        format!(
            "[program:crasher]\ncommand={testprog} exit 3 1200\nstartsecs=1\nautorestart=false\n\n\
             [program:hog]\ncommand={testprog} hog 96\nstartsecs=0\n\n\
             [program:small]\ncommand={testprog} sleep\nstartsecs=0\n\n\
             [eventlistener:crashmail]\ncommand=python3 -m superlance.crashmail -a -m ops@example.com -s \"sh -c 'cat >> {mail}'\"\n\
             events=PROCESS_STATE_EXITED\nstdout_logfile=/tmp/never-written.log\nbuffer_size=20\n\n\
             [eventlistener:memmon]\ncommand=python3 -m superlance.memmon -p hog=48MB -p small=48MB\nevents=TICK_5\n\n\
             [eventlistener:picky]\ncommand=python3 {script} {out} fail-first\nevents=REMOTE_COMMUNICATION\n",
            testprog = testprog(),
            mail = mail.display(),
            script = fixture_listener(),
            out = out.display()
        ),
    )
    .unwrap();
    let run = std::process::Command::new(bin("fleet-agent"))
        .arg("import")
        .arg(&conf)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(0), "{stderr}");
    let toml = String::from_utf8(run.stdout).unwrap();
    for section in ["crashmail", "memmon", "picky"] {
        assert!(
            toml.contains(&format!("[eventlistener.{section}]")),
            "{toml}"
        );
    }
    assert!(
        toml.contains("events = [\"PROCESS_STATE_EXITED\"]"),
        "{toml}"
    );
    assert!(toml.contains("buffer_size = 20"), "{toml}");
    assert!(!toml.contains("never-written"), "{toml}");
    assert!(!stderr.contains("not converted"), "{stderr}");
    assert!(stderr.contains("protocol channel"), "{stderr}");
    let a = Agent::start(&toml);

    // crashmail mails the crash.
    a.wait_state("crasher", "EXITED", T);
    let text = wait_for(T, "crashmail's mail", || {
        let t = std::fs::read_to_string(&mail).unwrap_or_default();
        t.contains("exited unexpectedly").then_some(t)
    });
    assert!(text.contains("Process crasher in group crasher"), "{text}");

    // memmon restarts the hog and only the hog.
    let small = a.wait_state("small", "RUNNING", T)["pid"].clone();
    wait_for(T, "memmon restarts hog", || {
        (a.process("hog")["restarts"].as_u64().unwrap_or(0) >= 1).then_some(())
    });
    assert_eq!(a.process("small")["pid"], small);

    // The FAIL listener gets its event again.
    wait_listener(&a, "picky", "READY");
    remote(&a, "t", "x");
    let r = wait_recorded(&out, "the event twice", |r| r.len() >= 2);
    assert_eq!(r[0]["headers"], r[1]["headers"]);
}

#[test]
fn a_pool_hands_each_event_to_one_of_its_listeners() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("events.jsonl");
    let a = Agent::start(&format!(
        r#"
[eventlistener.pool]
command = "python3 {script} {out}"
events = ["REMOTE_COMMUNICATION"]
numprocs = 3
process_name = "{{program}}_{{num}}"
buffer_size = 50
startsecs = 0
"#,
        script = fixture_listener(),
        out = out.display()
    ));
    for n in 0..3 {
        wait_for(T, "each READY", || {
            (a.process(&format!("pool_{n}"))["listener"]["state"] == "READY").then_some(())
        });
    }
    // Sent at once: the first listener is busy with one while the next
    // come, so they spread over the pool.
    let mut calls = String::new();
    for n in 0..30 {
        calls.push_str(&format!(
            "<value><struct><member><name>methodName</name><value><string>supervisor.sendRemoteCommEvent</string></value></member>\
             <member><name>params</name><value><array><data><value><string>t</string></value><value><string>{n}</string></value></data></array></value></member></struct></value>"
        ));
    }
    a.xmlrpc(
        "system.multicall",
        &[format!("<array><data>{calls}</data></array>")],
    );
    let r = wait_recorded(&out, "30 events", |r| r.len() >= 30);
    let mut serials: Vec<u64> = r
        .iter()
        .map(|e| {
            e["headers"]["poolserial"]
                .as_str()
                .unwrap()
                .parse()
                .unwrap()
        })
        .collect();
    serials.sort();
    assert_eq!(serials, (0..30).collect::<Vec<u64>>(), "each exactly once");
    let pids: std::collections::BTreeSet<i64> =
        r.iter().map(|e| e["pid"].as_i64().unwrap()).collect();
    assert!(pids.len() >= 2, "spread over the pool: {pids:?}");
    wait_for(T, "the pool's count", || {
        (a.process("pool_0")["listener"]["handled"] == 30).then_some(())
    });
}
