//! The real `fleetctl` against a real console managing three real agents
//! (and one host that is down): the contract scripts rely on — JSON shapes,
//! exit codes, per-host verdicts, rolling batches, audit readback, roles and
//! the FLEET_CONSOLE / FLEET_TOKEN defaults.

mod common;
use common::console::*;
use common::ctl::*;
use std::time::Duration;

const T: Duration = Duration::from_secs(30);

/// Run fleetctl with a clean environment (no config file, no env defaults)
/// plus `env`.
fn fleetctl(home: &std::path::Path, env: &[(&str, &str)], args: &[&str]) -> Out {
    let mut cmd = fleetctl_cmd();
    cmd.args(args)
        .env("HOME", home)
        .env("XDG_CONFIG_HOME", home)
        .envs(env.iter().copied());
    run(cmd)
}

#[test]
fn fleetctl_drives_the_console() {
    let (_a1, p1) = tcp_agent(CELERY);
    let (_a2, p2) = tcp_agent(CELERY);
    let (_a3, p3) = tcp_agent(CELERY);
    // Nothing answers there, and nobody can take the port meanwhile.
    let (_ghost_guard, ghost) = common::closed_port();
    let c = Console::start(&format!(
        "{}[host_groups]\nlive = [\"w-*\"]\n",
        agent_entries(&[
            ("w-01", p1),
            ("w-02", p2),
            ("w-03", p3),
            ("ghost-01", ghost)
        ])
    ));
    c.wait_running(6, T);
    let home = tempfile::tempdir().unwrap();
    let url = format!("http://127.0.0.1:{}", c.port);
    let run = |token: &str, args: &[&str]| -> Out {
        let mut all = vec!["--console", url.as_str(), "--token", token];
        all.extend_from_slice(args);
        fleetctl(home.path(), &[], &all)
    };

    // status -o json: entries with host, name, group, state, pid. A down
    // host makes it exit 1 and is named; the JSON is still printed.
    let o = run(VIEWER, &["status", "-o", "json"]);
    assert_eq!(o.code, 1, "{}", o.stderr);
    assert!(o.stderr.contains("ghost-01"), "{}", o.stderr);
    assert_eq!(o.json()["processes"].as_array().unwrap().len(), 6);
    let o = run(VIEWER, &["status", "-o", "json", "--hosts", "@live"]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let st = o.json();
    let procs = st["processes"].as_array().expect("processes");
    assert_eq!(procs.len(), 6, "{st}");
    for p in procs {
        assert!(p["host"].as_str().unwrap().starts_with("w-0"), "{p}");
        assert_eq!(p["group"], "celery");
        assert!(p["name"].as_str().unwrap().starts_with("celery:worker_"));
        assert_eq!(p["state"], "RUNNING");
        assert!(p["pid"].as_i64().unwrap() > 0);
    }
    let before = pids(&st);

    // The summary (what the human table reads): counts per host and
    // state; past all_below only the troubled processes (none: all
    // RUNNING); at or under it every process. The human table of a fleet
    // this small is the full one, as it always was.
    let s = c.get("/v1/status/summary?all_below=5");
    assert_eq!(s["complete"], false, "{s}");
    assert_eq!(s["processes"].as_array().unwrap().len(), 0, "{s}");
    assert_eq!(s["hosts"].as_array().unwrap().len(), 4, "{s}");
    let w01 = s["counts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["host"] == "w-01");
    assert_eq!(
        w01.unwrap()["states"],
        serde_json::json!([{"state": "RUNNING", "count": 2}]),
        "{s}"
    );
    let s = c.get("/v1/status/summary?all_below=6&hosts=%40live");
    assert_eq!(s["complete"], true, "{s}");
    assert_eq!(s["processes"].as_array().unwrap().len(), 6, "{s}");
    let o = run(VIEWER, &["status", "--hosts", "@live"]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert_eq!(o.stdout.matches("RUNNING").count(), 6, "{}", o.stdout);
    assert!(!o.stdout.contains("processes:"), "{}", o.stdout);

    // hosts -o json: name and up, the dead one down.
    let o = run(VIEWER, &["hosts", "-o", "json"]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let hosts = o.json();
    let up: Vec<(String, bool)> = hosts["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| (h["name"].as_str().unwrap().into(), h["up"] == true))
        .collect();
    assert_eq!(up.len(), 4, "{hosts}");
    for (name, is_up) in &up {
        assert_eq!(*is_up, name.starts_with("w-"), "{hosts}");
    }

    // restart group:celery on the live hosts: exit 0, a verdict per host,
    // every pid changed.
    let o = run(OPERATOR, &["restart", "group:celery", "--hosts", "@live"]);
    assert_eq!(o.code, 0, "{}\n{}", o.stdout, o.stderr);
    for h in ["w-01", "w-02", "w-03"] {
        assert!(
            o.stdout
                .lines()
                .any(|l| l.starts_with(h) && l.contains("ok")),
            "no verdict for {h}:\n{}",
            o.stdout
        );
    }
    assert!(o.stdout.contains("3 ok"), "{}", o.stdout);
    let after = pids(&c.wait_running(6, T));
    for (k, pid) in &before {
        assert_ne!(after.get(k), Some(pid), "{k:?} not restarted");
    }

    // Rolling, one host per batch.
    let o = run(
        OPERATOR,
        &[
            "restart",
            "group:celery",
            "--hosts",
            "w-*",
            "--rolling",
            "1",
        ],
    );
    assert_eq!(o.code, 0, "{}\n{}", o.stdout, o.stderr);
    for b in 1..=3 {
        assert!(o.stdout.contains(&format!("[batch {b}]")), "{}", o.stdout);
    }

    // Including the dead host: exit 1, and the output names it.
    let o = run(OPERATOR, &["restart", "group:celery"]);
    assert_eq!(o.code, 1, "{}\n{}", o.stdout, o.stderr);
    let all = format!("{}{}", o.stdout, o.stderr);
    assert!(
        all.lines()
            .any(|l| l.contains("ghost-01") && l.to_lowercase().contains("unreachable")),
        "{all}"
    );
    assert!(all.contains("3 ok"), "{all}");

    // ops and ops ID read the audit log back.
    let o = run(VIEWER, &["ops", "-o", "json"]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let ops = o.json();
    let list = ops["ops"].as_array().expect("ops");
    assert_eq!(list.len(), 3, "{ops}");
    let id = list
        .iter()
        .find(|op| op["strategy"].to_string().contains("rolling") || op["batch"].is_string())
        .or_else(|| list.first())
        .and_then(|op| op["id"].as_str())
        .unwrap()
        .to_string();
    let o = run(VIEWER, &["ops", &id, "-o", "json"]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert_eq!(o.json()["id"], id.as_str());
    let o = run(VIEWER, &["ops"]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(o.stdout.contains(&id), "{}", o.stdout);
    let o = run(VIEWER, &["ops", &id]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(o.stdout.contains("w-01"), "{}", o.stdout);

    // A viewer acting: exit 1 with the 403 message, nothing restarted.
    let pids_now = pids(&c.get("/v1/status"));
    let o = run(VIEWER, &["restart", "group:celery", "--hosts", "@live"]);
    assert_eq!(o.code, 1, "{}\n{}", o.stdout, o.stderr);
    assert!(o.stderr.contains("403"), "{}", o.stderr);
    assert!(o.stderr.contains("operator"), "{}", o.stderr);
    assert!(!o.stderr.contains(VIEWER), "token leaked: {}", o.stderr);
    assert_eq!(pids(&c.get("/v1/status")), pids_now);
    // A wrong token: exit 1, 401, not echoed.
    let o = run("not-a-token-at-all", &["status"]);
    assert_eq!(o.code, 1, "{}\n{}", o.stdout, o.stderr);
    assert!(o.stderr.contains("401"), "{}", o.stderr);
    assert!(!o.stderr.contains("not-a-token-at-all"), "{}", o.stderr);

    // FLEET_CONSOLE / FLEET_TOKEN make the daily command the whole command.
    let env = [("FLEET_CONSOLE", url.as_str()), ("FLEET_TOKEN", OPERATOR)];
    let o = fleetctl(
        home.path(),
        &env,
        &["restart", "group:celery", "--hosts", "@live"],
    );
    assert_eq!(o.code, 0, "{}\n{}", o.stdout, o.stderr);
    let o = fleetctl(
        home.path(),
        &env,
        &["status", "-o", "json", "--hosts", "@live"],
    );
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert_eq!(o.json()["processes"].as_array().unwrap().len(), 6);
    assert_eq!(
        c.get("/v1/ops")["ops"].as_array().unwrap().len(),
        4,
        "the viewer's attempt was not recorded as an op"
    );
    // A typo'd target is a usage error with no op behind it (threat T19).
    let o = fleetctl(
        home.path(),
        &env,
        &["restart", "nosuch", "--hosts", "@live"],
    );
    assert_eq!(o.code, 2, "{}\n{}", o.stdout, o.stderr);
    assert!(o.stderr.contains("matches no process"), "{}", o.stderr);
    assert_eq!(c.get("/v1/ops")["ops"].as_array().unwrap().len(), 4);
}
