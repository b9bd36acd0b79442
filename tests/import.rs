//! `fleet-agent import`: real supervisord-shaped configs in
//! tests/fixtures/supervisord/, converted by the real binary, checked by
//! `fleet-agent check`, loaded with the fleet loader and compared with what
//! supervisord would run for the same source (hand-written per fixture).

mod common;
use common::*;

use fleet_agent::config::{AutoRestart, Config, Leftovers, ProcessSpec};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/supervisord")
        .join(rel)
}

fn import(args: &[&str]) -> Output {
    Command::new(bin("fleet-agent"))
        .arg("import")
        .args(args)
        .output()
        .expect("run fleet-agent import")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Imports a fixture, writes the TOML to a temp dir, runs `fleet-agent
/// check` on it and loads it; returns (dir, config, stderr warnings).
fn convert(rel: &str) -> (tempfile::TempDir, Config, String) {
    let out = import(&[fixture(rel).to_str().unwrap()]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "import failed:\n{stderr}");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("agent.toml");
    std::fs::write(&path, &out.stdout).unwrap();
    let check = Command::new(bin("fleet-agent"))
        .arg("check")
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(
        check.status.code(),
        Some(0),
        "fleet-agent check refused the import:\n{}\n--- toml:\n{}",
        text(&check.stderr),
        text(&out.stdout)
    );
    let config = Config::load(&path).unwrap_or_else(|e| panic!("{e}"));
    (dir, config, stderr)
}

fn proc<'a>(c: &'a Config, name: &str) -> &'a ProcessSpec {
    c.processes
        .iter()
        .find(|p| p.name == name)
        .unwrap_or_else(|| panic!("no process {name}"))
}

fn names(c: &Config) -> Vec<String> {
    c.processes.iter().map(|p| p.full_name()).collect()
}

fn path(s: &str) -> Option<PathBuf> {
    Some(PathBuf::from(s))
}

/// Every warning line names the file and line, the section and (where one
/// is to blame) the key.
fn assert_warns(stderr: &str, file: &str, line: usize, section_key: &str, words: &str) {
    let prefix = format!("{file}:{line}: {section_key}");
    let hit = stderr
        .lines()
        .any(|l| l.starts_with("warning: ") && l.contains(&prefix) && l.contains(words));
    assert!(hit, "no warning `{prefix} ... {words}` in:\n{stderr}");
}

#[test]
fn celery_host_with_includes() {
    let (_dir, c, stderr) = convert("celery/supervisord.conf");
    // The leftovers default is said once, and nothing is written for it.
    assert_eq!(
        stderr.matches("leftovers = \"keep\"").count(),
        1,
        "{stderr}"
    );
    assert!(c.processes.iter().all(|p| p.leftovers == Leftovers::Stop));
    // supervisord: [group:celery] absorbs the three programs; numprocs=4
    // with %(program_name)s_%(process_num)02d gives celery_00..03; order is
    // (priority, group, name).
    assert_eq!(
        names(&c),
        [
            "celery:celerybeat",
            "celery:flower",
            "celery:celery_00",
            "celery:celery_01",
            "celery:celery_02",
            "celery:celery_03",
        ]
    );
    assert_eq!(c.agent.log_dir, PathBuf::from("/var/log/supervisor"));
    for p in &c.processes {
        assert_eq!(p.group, "celery");
        assert_eq!(p.user.as_ref().unwrap().name, "nobody", "{}", p.name);
        assert_eq!(p.directory, path("/tmp"), "{}", p.name);
        assert_eq!(p.autorestart, AutoRestart::Always, "{}", p.name);
        assert!(p.environment.contains(&("C_FORCE_ROOT".into(), "1".into())));
    }
    for (i, n) in ["celery_00", "celery_01", "celery_02", "celery_03"]
        .iter()
        .enumerate()
    {
        let w = proc(&c, n);
        assert_eq!(w.program, "celery");
        assert_eq!(w.num, i as u32);
        // stdout and stderr were the same file: one writer, same bytes on disk.
        assert!(w.redirect_stderr);
        assert_eq!(
            w.stdout.path,
            path(&format!("/var/log/celery/worker_{i:02}.log"))
        );
        assert_eq!(w.stopsignal, libc::SIGTERM);
        assert_eq!(w.stopwaitsecs, Duration::from_secs(600));
        assert!(w.stopasgroup && w.killasgroup);
        assert_eq!(w.startsecs, Duration::from_secs(10));
        assert_eq!(w.priority, 1000);
        assert_eq!(w.argv.last().unwrap(), &format!("w{i}@%h"));
        let home = std::env::var("HOME").unwrap();
        assert!(w.environment.contains(&("HOME".into(), home)));
        assert!(w
            .environment
            .contains(&("WORKER_NAME".into(), format!("celery_{i:02}"))));
    }
    let beat = proc(&c, "celerybeat");
    assert!(beat.redirect_stderr);
    assert_eq!(beat.stdout.path, path("/var/log/celery/beat.log"));
    assert_eq!(beat.stopwaitsecs, Duration::from_secs(10));
    assert!(!beat.killasgroup);
    let flower = proc(&c, "flower");
    assert_eq!(flower.stopsignal, libc::SIGINT);
    assert_eq!(flower.stdout.path, path("/var/log/celery/flower.log"));
    assert_eq!(
        (flower.stdout.maxbytes, flower.stdout.backups),
        (10 << 20, 3)
    );
    // %(ENV_FLOWER_AUTH)s comes from the program's own environment=.
    assert_eq!(flower.argv.last().unwrap(), "--basic_auth=admin:pw");

    let main = fixture("celery/supervisord.conf");
    let main = main.to_str().unwrap();
    assert_warns(
        &stderr,
        main,
        10,
        "[inet_http_server] password",
        "the generated [agent] token is the password now",
    );
    assert_warns(
        &stderr,
        main,
        8,
        "[inet_http_server] port",
        "mapped to [agent] listen",
    );
    assert_warns(&stderr, main, 21, "[rpcinterface:supervisor]", "built in");
    assert_warns(&stderr, main, 25, "[supervisorctl] serverurl", "fleetctl");
    assert_warns(&stderr, main, 14, "[supervisord] pidfile", "not needed");
    assert!(
        !text(&import(&[main]).stdout).contains("s3cr3t"),
        "the plaintext password leaked"
    );
    // The old addresses keep working: the unix socket path and the TCP
    // port, with a generated token (a new one every import) as password.
    assert_eq!(
        Some(c.agent.socket.clone()),
        path("/var/run/supervisor.sock")
    );
    assert_eq!(c.agent.listen, Some("0.0.0.0:9001".parse().unwrap()));
    let token = c
        .agent
        .token
        .as_ref()
        .expect("a generated token")
        .expose()
        .to_owned();
    assert!(token.len() >= 32 && !token.contains("s3cr3t"), "{token}");
    let again = text(&import(&[main]).stdout);
    assert!(
        again.contains("token = ") && !again.contains(&token),
        "tokens are fresh"
    );
}

#[test]
fn web_host_groups_odd_syntax_and_unsupported_sections() {
    let (_dir, c, stderr) = convert("web/supervisord.conf");
    assert_eq!(
        names(&c),
        [
            "crashmail:crashmail",
            "web:nginx",
            "web:gunicorn",
            "worker:worker-1",
            "worker:worker-2",
            "worker:worker-3"
        ]
    );
    let here = fixture("web");
    let g = proc(&c, "gunicorn");
    assert_eq!(
        g.argv,
        [
            "/srv/venv/bin/gunicorn",
            "app.wsgi:application",
            "--bind",
            "unix:/run/gunicorn.sock",
            "--workers",
            "3",
            "--access-logfile",
            "-"
        ]
    );
    assert_eq!(g.directory, Some(here.join("app")));
    assert_eq!(g.user.as_ref().unwrap().name, "www-data");
    assert_eq!(g.stopsignal, libc::SIGQUIT);
    assert!(g.stopasgroup && g.killasgroup);
    assert_eq!(g.stopwaitsecs, Duration::from_secs(30));
    assert_eq!(g.startretries, 10);
    assert_eq!(g.exitcodes, [0, 2]);
    assert_eq!(g.autorestart, AutoRestart::Unexpected);
    assert_eq!(g.umask, Some(0o002), "[supervisord] umask is inherited");
    assert!(!g.redirect_stderr);
    assert_eq!(g.stdout.path, path("/var/log/web/gunicorn.access.log"));
    assert_eq!((g.stdout.maxbytes, g.stdout.backups), (100 << 20, 20));
    assert_eq!(g.stderr.path, path("/var/log/web/gunicorn.error.log"));
    assert_eq!(g.stderr.maxbytes, 0);
    let env: std::collections::HashMap<_, _> = g.environment.iter().cloned().collect();
    assert_eq!(env["DJANGO_SETTINGS_MODULE"], "app.settings.production");
    assert_eq!(env["PATH"], "/srv/venv/bin:/usr/bin:/bin");
    assert_eq!(env["SECRET_FILE"], here.join("secret").to_str().unwrap());

    let n = proc(&c, "nginx");
    assert_eq!(n.argv, ["/usr/sbin/nginx", "-g", "daemon off;"]);
    assert_eq!(n.priority, 100);
    assert!(!n.autostart);
    assert_eq!(n.stopsignal, libc::SIGQUIT);
    assert_eq!(n.umask, Some(0o022));
    assert_eq!(n.stdout.path, None);
    assert_eq!(n.stderr.path, path("/var/log/fleet/nginx.stderr.log"));

    for i in 1..=3 {
        let w = proc(&c, &format!("worker-{i}"));
        assert_eq!(w.num, i);
        assert_eq!(w.group, "worker");
        assert_eq!(w.argv.last().unwrap(), &i.to_string());
        assert_eq!(w.directory, path("/srv/app"));
        assert_eq!(w.startsecs, Duration::ZERO);
        assert_eq!(w.stdout.path, path(&format!("/var/log/web/worker-{i}.log")));
    }

    let f = fixture("web/supervisord.conf");
    let f = f.to_str().unwrap();
    // An event listener runs unchanged, nothing to warn about.
    assert!(!stderr.contains("[eventlistener:crashmail]"), "{stderr}");
    let l = proc(&c, "crashmail").listener.clone().unwrap();
    assert_eq!(l.events, ["PROCESS_STATE_EXITED"]);
    assert_eq!(l.buffer_size, 10);
    assert_warns(&stderr, f, 60, "[fcgi-program:php]", "not converted");
    assert_warns(&stderr, f, 64, "[Program:ignored]", "case-sensitive");
    assert_warns(&stderr, f, 26, "[program:gunicorn] stderr_syslog", "syslog");
    // PROCESS_LOG events exist now: the key is kept.
    assert!(proc(&c, "worker-1").stdout_events);
    assert_warns(&stderr, f, 54, "[group:web] priority", "program's priority");
    assert_warns(&stderr, f, 7, "[supervisord] minfds", "LimitNOFILE");
}

#[test]
fn malformed_configs_exit_1_with_file_and_line() {
    for (rel, line, words) in [
        ("bad/missing-equals.conf", 3, "key = value"),
        ("bad/no-section.conf", 2, "section header"),
        ("bad/unknown-program.conf", 5, "unknown program \"b\""),
        ("bad/bad-value.conf", 3, "not an integer"),
        ("bad/continued-user.conf", 3, "indented line continues"),
    ] {
        let out = import(&[fixture(rel).to_str().unwrap()]);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{rel}: {stderr}");
        assert!(out.stdout.is_empty(), "{rel}: printed a config");
        let loc = format!("{}:{line}: ", rel.rsplit('/').next().unwrap());
        assert!(
            stderr.contains(&loc) && stderr.contains(words),
            "{rel}: {stderr}"
        );
    }
    let out = import(&["/nonexistent/supervisord.conf"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("/nonexistent/supervisord.conf: cannot read"));
}

#[test]
fn usage_errors_exit_2() {
    assert_eq!(import(&[]).status.code(), Some(2));
    let f = fixture("web/supervisord.conf");
    assert_eq!(
        import(&[f.to_str().unwrap(), "--force"]).status.code(),
        Some(2)
    );
    assert_eq!(
        import(&[f.to_str().unwrap(), "--bogus"]).status.code(),
        Some(2)
    );
}

#[test]
fn write_refuses_to_overwrite_without_force() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("etc-fleet");
    let f = fixture("celery/supervisord.conf");
    let args = [f.to_str().unwrap(), "--write", target.to_str().unwrap()];
    let out = import(&args);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(out.stdout.is_empty());
    let written = std::fs::read_to_string(target.join("agent.toml")).unwrap();
    assert!(written.contains("[program.celery]"));

    std::fs::write(target.join("agent.toml"), "# mine\n").unwrap();
    let out = import(&args);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("--force"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(
        std::fs::read_to_string(target.join("agent.toml")).unwrap(),
        "# mine\n"
    );

    let mut forced = args.to_vec();
    forced.push("--force");
    assert_eq!(import(&forced).status.code(), Some(0));
    // Equal but for the generated token, which is new every import.
    let no_token = |t: &str| -> String {
        t.lines()
            .filter(|l| !l.starts_with("token = "))
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert_eq!(
        no_token(&std::fs::read_to_string(target.join("agent.toml")).unwrap()),
        no_token(&written)
    );
}

/// The converted Celery host under a real agent (commands replaced by the
/// test program, logs moved into the temp dir) brings up the process names
/// supervisord would, as the user supervisord would use.
#[test]
fn converted_celery_host_runs_under_the_agent() {
    let f = fixture("celery/supervisord.conf");
    let out = import(&[f.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0));
    let logs = tempfile::tempdir().unwrap();
    let mut programs = String::new();
    let mut in_agent = false;
    for line in text(&out.stdout).lines() {
        if line.starts_with('[') {
            in_agent = line == "[agent]";
        }
        if in_agent {
            continue;
        }
        let line = if line.starts_with("command = ") {
            "command = \"TESTPROG sleep\"".to_string()
        } else if line.starts_with("startsecs = ") {
            "startsecs = 1".to_string()
        } else {
            line.replace("/var/log/celery", logs.path().to_str().unwrap())
        };
        programs.push_str(&line);
        programs.push('\n');
    }
    std::fs::set_permissions(
        logs.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o777),
    )
    .unwrap();
    let a = Agent::start(&programs);
    let t = Duration::from_secs(30);
    // The process table is filled just after the socket comes up.
    wait_for(t, "6 processes in the status", || {
        (a.status()["processes"].as_array().unwrap().len() == 6).then_some(())
    });
    for name in [
        "celery:celerybeat",
        "celery:flower",
        "celery:celery_00",
        "celery:celery_01",
        "celery:celery_02",
        "celery:celery_03",
    ] {
        let p = a.wait_state(name, "RUNNING", t);
        let pid = p["pid"].as_i64().unwrap();
        let uid = std::fs::read_to_string(format!("/proc/{pid}/status"))
            .unwrap()
            .lines()
            .find(|l| l.starts_with("Uid:"))
            .unwrap()
            .split_whitespace()
            .nth(1)
            .unwrap()
            .to_string();
        assert_eq!(uid, "65534", "{name} runs as nobody");
    }
    let log = logs.path().join("worker_02.log");
    wait_for(t, "worker_02 log", || {
        std::fs::read_to_string(&log)
            .ok()
            .filter(|s| s.contains("ready"))
    });
}

#[test]
fn dependent_startup_and_httpok_become_depends_on_and_health_checks() {
    use fleet_agent::config::{HealthCheck, OnUnhealthy};
    let (_dir, c, stderr) = convert("addons/supervisord.conf");
    let f = fixture("addons/supervisord.conf");
    let f = f.to_str().unwrap();
    // The plugin's listener is not needed; crashmail runs unchanged.
    assert_warns(
        &stderr,
        f,
        10,
        "[eventlistener:dependentstartup]",
        "not needed: fleet orders starts itself",
    );
    assert!(!stderr.contains("[eventlistener:crashmail]"), "{stderr}");
    let crashmail = proc(&c, "crashmail");
    assert_eq!(crashmail.priority, -1);
    assert!(crashmail.listener.is_some());
    assert_warns(
        &stderr,
        f,
        20,
        "[program:redis] autostart",
        "fleet starts it itself",
    );
    // Order: wait_for → depends_on (a group as group:NAME); the plugin's
    // autostart=false is undone; a state other than running is kept with
    // a warning; an unknown name is left out with one.
    let web = proc(&c, "web");
    assert_eq!(web.depends_on, ["migrate:migrate", "queue:redis"]);
    assert!(web.autostart);
    assert_warns(
        &stderr,
        f,
        35,
        "[program:web] dependent_startup_wait_for",
        "not EXITED",
    );
    assert_warns(
        &stderr,
        f,
        36,
        "[program:web] dependent_startup_inherit_priority",
        "not needed",
    );
    assert_warns(
        &stderr,
        f,
        33,
        "[program:web] autostart",
        "fleet starts it itself in depends_on order",
    );
    assert_eq!(proc(&c, "worker_00").depends_on, ["queue:redis"]);
    assert_warns(
        &stderr,
        f,
        43,
        "[program:worker] dependent_startup_wait_for",
        "\"nosuch\" is no program or group here",
    );
    // redis: dependent_startup without wait_for: nothing to wait for, and
    // it autostarts again.
    let redis = proc(&c, "redis");
    assert!(redis.depends_on.is_empty() && redis.autostart);
    // httpok → an http check that restarts at the first failure.
    let h = web.health.clone().expect("web has a check");
    assert_eq!(
        h.check,
        HealthCheck::Http {
            url: "http://127.0.0.1:8080/healthz".into(),
            expect_status: vec![200],
            expect_body: Some("ok".into()),
        }
    );
    assert_eq!(h.interval, Duration::from_secs(5));
    assert_eq!(h.timeout, Duration::from_secs(5));
    assert_eq!(h.failures, 1);
    assert_eq!(h.on_unhealthy, OnUnhealthy::Restart);
    assert_warns(
        &stderr,
        f,
        49,
        "[eventlistener:httpok_web] command",
        "-m (mail on restart)",
    );
    let w = proc(&c, "worker_01")
        .health
        .clone()
        .expect("workers have a check");
    assert_eq!(w.interval, Duration::from_secs(60));
    assert_eq!(w.timeout, Duration::from_secs(10));
    assert_warns(
        &stderr,
        f,
        53,
        "[eventlistener:httpok_workers] command",
        "-g (gcore",
    );
    // -p worker:worker_00 names one of worker's two processes: the check
    // is the program's, so both get it, with a warning.
    assert_eq!(proc(&c, "worker_00").health, Some(w));
    assert_warns(
        &stderr,
        f,
        53,
        "[eventlistener:httpok_workers] command",
        "names worker_00 of the 2 processes of worker",
    );
    assert_warns(
        &stderr,
        f,
        53,
        "[eventlistener:httpok_workers] command",
        "same URL",
    );
    // The plugin leaves a program without autostart=false to supervisord.
    assert_warns(
        &stderr,
        f,
        42,
        "[program:worker] dependent_startup",
        "requires autostart=false",
    );
    assert_warns(
        &stderr,
        f,
        43,
        "[program:worker] dependent_startup_wait_for",
        "\"queue\" is a group",
    );
    assert_warns(
        &stderr,
        f,
        57,
        "[eventlistener:httpok_ghost] command",
        "httpok -p ghost: no process of that name",
    );
    assert_warns(
        &stderr,
        f,
        56,
        "[eventlistener:httpok_ghost]",
        "kept as an event listener: httpok runs unchanged",
    );
    assert!(proc(&c, "migrate").health.is_none());
}

/// The plugin's own example (its listener run as a script) and the ways
/// its parser reads `dependent_startup_wait_for`: a bare name waits for
/// RUNNING, a state list is any-of, unknown states are dropped, extra
/// colons are ignored, a cycle or a program waiting for itself cannot be
/// kept (fleet refuses both at load, the plugin exits on them).
#[test]
fn dependent_startup_follows_the_plugins_parser() {
    let (dir, c, stderr) = convert("addons/dependent-startup.conf");
    let f = fixture("addons/dependent-startup.conf");
    let f = f.to_str().unwrap();
    let toml = std::fs::read_to_string(dir.path().join("agent.toml")).unwrap();
    assert!(!toml.contains("autostart = false\ndepends_on"), "{toml}");
    assert_warns(
        &stderr,
        f,
        7,
        "[eventlistener:dependentstartup]",
        "not needed: fleet orders starts itself (start order: depends_on",
    );
    assert!(!stderr.contains("[eventlistener:dependentstartup]: not converted"));
    for (name, deps) in [
        ("ping", &[][..]),
        ("sleep", &["ping:ping"][..]),
        ("ping2", &["sleep:sleep"][..]),
        ("ping3", &["ping2:ping2", "ping:ping", "sleep:sleep"][..]),
        ("left", &["right:right"][..]),
        ("right", &[][..]),
        ("plain", &[][..]),
    ] {
        let p = proc(&c, name);
        let mut got = p.depends_on.clone();
        got.sort();
        assert_eq!(got, deps, "{name}");
        // Every program the plugin started autostarts under fleet.
        assert_eq!(p.autostart, name != "plain", "{name}");
    }
    assert_warns(
        &stderr,
        f,
        18,
        "[program:ping] autostart",
        "info: autostart=false was for the dependent-startup plugin",
    );
    assert_warns(
        &stderr,
        f,
        26,
        "[program:sleep] dependent_startup_wait_for",
        "not EXITED",
    );
    // A bare name waits for RUNNING: nothing to say.
    assert!(
        !stderr.contains("[program:ping2] dependent_startup_wait_for"),
        "{stderr}"
    );
    let ping3 = "[program:ping3] dependent_startup_wait_for";
    assert_warns(
        &stderr,
        f,
        40,
        ping3,
        "the plugin took any of RUNNING, EXITED",
    );
    assert_warns(&stderr, f, 40, ping3, "ignores the state \"DONE\"");
    assert_warns(&stderr, f, 40, ping3, "would never start ping3");
    assert_warns(
        &stderr,
        f,
        40,
        ping3,
        "takes this as \"site\" waiting for RUNNING",
    );
    assert_warns(
        &stderr,
        f,
        40,
        ping3,
        "\"site\" is no program or group here",
    );
    assert_warns(
        &stderr,
        f,
        46,
        "[program:left] dependent_startup_wait_for",
        "left cannot wait for itself",
    );
    assert_warns(
        &stderr,
        f,
        53,
        "[program:right] dependent_startup_wait_for",
        "start-order cycle left → right → left",
    );
    assert_warns(
        &stderr,
        f,
        47,
        "[program:left] dependent_startup_priority",
        "not an option of the dependent-startup plugin",
    );
    assert_warns(
        &stderr,
        f,
        59,
        "[program:plain] dependent_startup_wait_for",
        "dependent_startup is not true",
    );
}

/// Without the plugin's listener nothing started these programs under
/// supervisord: autostart = false stays, depends_on still orders them.
#[test]
fn dependent_startup_without_the_plugin_keeps_autostart_false() {
    let (_dir, c, stderr) = convert("addons/no-plugin.conf");
    let f = fixture("addons/no-plugin.conf");
    let f = f.to_str().unwrap();
    assert!(!proc(&c, "db").autostart && !proc(&c, "app").autostart);
    assert_eq!(proc(&c, "app").depends_on, ["db:db"]);
    assert_warns(
        &stderr,
        f,
        10,
        "[program:app] autostart",
        "no [eventlistener:x] here runs supervisord_dependent_startup",
    );
}

/// httpok's command line read as its getopt does, `-p` matched against
/// process names and `group:name` as httpok matches them.
#[test]
fn httpok_listeners_become_health_checks_or_say_why_not() {
    use fleet_agent::config::{HealthCheck, OnUnhealthy};
    let (dir, c, stderr) = convert("addons/httpok.conf");
    let f = fixture("addons/httpok.conf");
    let f = f.to_str().unwrap();
    let toml = std::fs::read_to_string(dir.path().join("agent.toml")).unwrap();
    // Durations are written as strings.
    assert!(toml.contains("[program.api.health]\nhttp = \"http://localhost:8000/health\"\ninterval = \"60s\"\ntimeout = \"3s\"\nexpect_status = [200, 204]\nfailures = 1\non_unhealthy = \"restart\"\n"), "{toml}");
    // api_0 and api:api_1: both processes of api; the shortest TICK wins.
    for p in ["api_0", "api_1"] {
        let h = proc(&c, p).health.clone().expect("api has a check");
        assert_eq!(h.interval, Duration::from_secs(60));
        assert_eq!(h.timeout, Duration::from_secs(3));
        assert_eq!(h.failures, 1);
        assert_eq!(h.on_unhealthy, OnUnhealthy::Restart);
        assert!(
            matches!(h.check, HealthCheck::Http { ref expect_status, .. } if *expect_status == [200, 204])
        );
    }
    let api = "[eventlistener:httpok_api] command";
    assert_warns(
        &stderr,
        f,
        20,
        api,
        "api runs 2 processes: each gets the check, with the same URL",
    );
    assert_warns(
        &stderr,
        f,
        20,
        api,
        "-E: fleet checks a process only while it runs",
    );
    assert_warns(&stderr, f, 20, api, "-s (mail on restart)");
    assert_warns(&stderr, f, 20, api, "-d (gcore");
    // site:front through `python -u`, the scheme lower-cased, -n dropped.
    let h = proc(&c, "front").health.clone().expect("front has a check");
    assert_eq!(
        h.check,
        HealthCheck::Http {
            url: "https://front.example.com/status".into(),
            expect_status: vec![200],
            expect_body: Some("all good".into()),
        }
    );
    assert_eq!(h.interval, Duration::from_secs(5));
    assert_eq!(h.timeout, Duration::from_secs(10));
    assert!(!stderr.contains("httpok_front] command"), "{stderr}");
    // What does not map: a warning saying why, and the generic trailer.
    for (line, name, why) in [
        (28, "httpok_front_again", "front already has a health check"),
        (
            32,
            "httpok_admin_wrong_group",
            "httpok -p admin:admin: no process of that name",
        ),
        (36, "httpok_any", "httpok -a restarts every RUNNING process"),
        (41, "httpok_no_tick", "gets none, so it never checked"),
        (
            44,
            "httpok_no_scheme",
            "\"localhost:9300/\" is no http:// or https:// URL",
        ),
        (48, "httpok_wildcard", "no wildcards"),
    ] {
        let sec = format!("[eventlistener:{name}]");
        assert!(
            stderr.contains(&format!("{sec}: kept as an event listener")),
            "{name}:\n{stderr}"
        );
        assert!(
            toml.contains(&format!("[eventlistener.{name}]")),
            "{name}:\n{toml}"
        );
        let key = if name == "httpok_no_tick" {
            "events"
        } else {
            "command"
        };
        assert_warns(&stderr, f, line, &format!("{sec} {key}"), why);
    }
    assert!(proc(&c, "admin").health.is_none() && proc(&c, "batch").health.is_none());
    // crashmail watching the process named httpok is not httpok: it runs
    // as the listener it is.
    assert!(proc(&c, "crashmail_httpok").listener.is_some());
    assert!(
        !stderr.contains("[eventlistener:crashmail_httpok]"),
        "{stderr}"
    );
}
