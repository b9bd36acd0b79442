//! Load-level tests: real files in a temp dir, defaults, every option, and
//! golden error texts with their `file:line:col`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::*;

fn env() -> LoadEnv {
    LoadEnv {
        vars: [
            ("HOME", "/home/tester"),
            ("APP", "/srv/app"),
            ("EMPTY", ""),
            ("SECRET", "s3cret-0123456789abcdefgh"),
            ("OPTS", "-l info --concurrency 2"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect(),
        hostname: "h1".into(),
    }
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, text).unwrap();
    path
}

/// Loads `text` as `DIR/agent.toml`; returns the dir so paths can be checked.
fn load(text: &str) -> (tempfile::TempDir, Result<Config, ConfigErrors>) {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "agent.toml", text);
    let r = Config::load_with(&path, &env());
    (dir, r)
}

fn ok(text: &str) -> Config {
    match load(text).1 {
        Ok(c) => c,
        Err(e) => panic!("unexpected errors:\n{e}"),
    }
}

/// The error text with the temp dir replaced by `DIR`.
fn errors_in(dir: &Path, r: Result<Config, ConfigErrors>) -> String {
    let e = r.expect_err("expected errors");
    e.to_string().replace(&dir.display().to_string(), "DIR")
}

fn errors(text: &str) -> String {
    let (dir, r) = load(text);
    errors_in(dir.path(), r)
}

fn one(c: &Config, name: &str) -> ProcessSpec {
    c.processes
        .iter()
        .find(|p| p.name == name)
        .unwrap_or_else(|| panic!("no process {name} in {:?}", c.processes))
        .clone()
}

#[test]
fn defaults() {
    let (dir, r) = load("[program.web]\ncommand = \"python -m http.server\"\n");
    let c = r.unwrap();
    assert_eq!(c.source, dir.path().join("agent.toml"));
    assert_eq!(
        c.agent,
        AgentSettings {
            host: "h1".into(),
            socket: "/run/fleet/agent.sock".into(),
            listen: None,
            token: None,
            tls: None,
            log_dir: "/var/log/fleet".into(),
            enroll: None,
            secret_env: vec![],
            forward_output: false,
        }
    );
    let log = |s: &str| LogSpec {
        path: Some(PathBuf::from(format!("/var/log/fleet/web.{s}.log"))),
        maxbytes: 50 * 1024 * 1024,
        backups: 10,
    };
    assert_eq!(
        c.processes,
        vec![ProcessSpec {
            name: "web".into(),
            group: "web".into(),
            program: "web".into(),
            num: 0,
            argv: vec!["python".into(), "-m".into(), "http.server".into()],
            directory: None,
            user: None,
            umask: None,
            environment: vec![],
            priority: 999,
            autostart: true,
            autorestart: AutoRestart::Unexpected,
            exitcodes: vec![0],
            startsecs: Duration::from_secs(1),
            startretries: 3,
            backoff: Backoff::Linear,
            backoff_max: Duration::from_secs(60),
            stopsignal: libc::SIGTERM,
            stopwaitsecs: Duration::from_secs(10),
            stopasgroup: false,
            killasgroup: false,
            leftovers: Leftovers::Stop,
            redirect_stderr: false,
            stdout: log("stdout"),
            stderr: log("stderr"),
            health: None,
            depends_on: vec![],
            stdout_events: false,
            stderr_events: false,
            listener: None,
        }]
    );
    assert_eq!(c.processes[0].full_name(), "web:web");
}

#[test]
fn empty_file_is_a_valid_config() {
    let c = ok("");
    assert!(c.processes.is_empty());
}

#[test]
fn every_program_option() {
    let c = ok(r#"
[program.api]
command = ["/usr/bin/env", "A B", "${HOME}"]
numprocs = 2
numprocs_start = 5
process_name = "{program}-{num}"
directory = "/srv/{process}"
user = "root"
umask = "027"
environment = { ZED = "z", ALPHA = "{process}@{host}", PATHY = "$PATH" }
priority = -5
autostart = false
autorestart = false
exitcodes = [0, 2, 255]
startsecs = 0.5
startretries = 0
stopsignal = "sigquit"
stopwaitsecs = 30
stopasgroup = true
killasgroup = false
redirect_stderr = true
stdout_logfile = "/var/log/{program}/{process}.out"
stdout_logfile_maxbytes = "1KB"
stdout_logfile_backups = 0
stderr_logfile = "none"
stderr_logfile_maxbytes = 0
stderr_logfile_backups = 3
"#);
    assert_eq!(c.processes.len(), 2);
    let p = one(&c, "api-6");
    assert_eq!(p.num, 6);
    assert_eq!(p.argv, ["/usr/bin/env", "A B", "/home/tester"]);
    assert_eq!(p.directory, Some(PathBuf::from("/srv/api-6")));
    assert_eq!(p.user.as_ref().unwrap().uid, 0);
    assert_eq!(p.umask, Some(0o027));
    assert_eq!(
        p.environment,
        [
            ("ALPHA".to_string(), "api-6@h1".to_string()),
            ("PATHY".into(), "$PATH".into()),
            ("ZED".into(), "z".into()),
        ]
    );
    assert_eq!(p.priority, -5);
    assert!(!p.autostart);
    assert_eq!(p.autorestart, AutoRestart::Never);
    assert_eq!(p.exitcodes, [0, 2, 255]);
    assert_eq!(p.startsecs, Duration::from_millis(500));
    assert_eq!(p.startretries, 0);
    assert_eq!(p.stopsignal, libc::SIGQUIT);
    assert_eq!(p.stopwaitsecs, Duration::from_secs(30));
    assert!(p.stopasgroup && !p.killasgroup && p.redirect_stderr);
    assert_eq!(
        p.stdout,
        LogSpec {
            path: Some("/var/log/api/api-6.out".into()),
            maxbytes: 1024,
            backups: 0
        }
    );
    assert_eq!(
        p.stderr,
        LogSpec {
            path: None,
            maxbytes: 0,
            backups: 3
        }
    );
    assert_eq!(one(&c, "api-5").num, 5);
}

#[test]
fn leftovers_default_to_stop_and_keep_is_accepted() {
    let c = ok("[program.a]\ncommand = \"a\"\n\
                [program.b]\ncommand = \"b\"\nleftovers = \"keep\"\n");
    assert_eq!(one(&c, "a").leftovers, Leftovers::Stop);
    assert_eq!(one(&c, "b").leftovers, Leftovers::Keep);
    assert_eq!(
        errors("[program.a]\ncommand = \"a\"\nleftovers = \"kill\"\n"),
        "DIR/agent.toml:3:13: program.a.leftovers: expected \"stop\" or \"keep\", found \"kill\""
    );
    assert_eq!(
        errors("[program.a]\ncommand = \"a\"\nleftovers = true\n"),
        "DIR/agent.toml:3:13: program.a.leftovers: expected \"stop\" or \"keep\", found true"
    );
}

#[test]
fn killasgroup_follows_stopasgroup() {
    let c = ok("[program.a]\ncommand = \"a\"\nstopasgroup = true\n\
                [program.b]\ncommand = \"b\"\nstopasgroup = true\nkillasgroup = false\n\
                [program.c]\ncommand = \"c\"\nkillasgroup = true\n");
    assert!(one(&c, "a").killasgroup);
    assert!(!one(&c, "b").killasgroup);
    let p = one(&c, "c");
    assert!(p.killasgroup && !p.stopasgroup);
}

#[test]
fn option_forms_in_files() {
    let c = ok(r#"
[program.a]
command = "a"
umask = 22
autorestart = "TRUE"
stopsignal = "HUP"
stdout_logfile_maxbytes = "2MB"
stderr_logfile_maxbytes = 4096
startsecs = 3
[program.b]
command = "b"
umask = 0o027
autorestart = true
stopsignal = "SIGUSR2"
stdout_logfile = "AUTO"
[program.c]
command = "c"
umask = "0o7"
autorestart = "unexpected"
stopsignal = "kill"
"#);
    let (a, b, cc) = (one(&c, "a"), one(&c, "b"), one(&c, "c"));
    assert_eq!(
        (a.umask, b.umask, cc.umask),
        (Some(0o022), Some(0o027), Some(0o7))
    );
    assert_eq!(a.autorestart, AutoRestart::Always);
    assert_eq!(b.autorestart, AutoRestart::Always);
    assert_eq!(cc.autorestart, AutoRestart::Unexpected);
    assert_eq!(
        (a.stopsignal, b.stopsignal, cc.stopsignal),
        (libc::SIGHUP, libc::SIGUSR2, libc::SIGKILL)
    );
    assert_eq!((a.stdout.maxbytes, a.stderr.maxbytes), (2 << 20, 4096));
    assert_eq!(a.startsecs, Duration::from_secs(3));
    assert_eq!(
        b.stdout.path,
        Some(PathBuf::from("/var/log/fleet/b.stdout.log"))
    );
}

#[test]
fn golden_value_errors() {
    let text = r#"[program.web]
command = "gunicorn app"
numprocs = 0
autorestart = "sometimes"
umask = "089"
exitcodes = [0, 300]
startsecs = -1
stopsignal = "TERMINATE"
stdout_logfile_maxbytes = "5TB"
priority = "high"
autostart = "yes"
"#;
    assert_eq!(
        errors(text),
        "DIR/agent.toml:3:12: program.web.numprocs: expected an integer >= 1, found 0\n\
         DIR/agent.toml:4:15: program.web.autorestart: expected true, false or \"unexpected\", found \"sometimes\"\n\
         DIR/agent.toml:5:9: program.web.umask: expected an octal umask such as \"022\" or \"0o027\" (at most 0o777), found \"089\"\n\
         DIR/agent.toml:6:13: program.web.exitcodes: expected a non-empty array of exit codes (integers 0..=255), found 300\n\
         DIR/agent.toml:7:13: program.web.startsecs: expected a non-negative number of seconds (e.g. 10 or 0.5), found -1\n\
         DIR/agent.toml:8:14: program.web.stopsignal: expected a signal name such as TERM, HUP, INT, QUIT, KILL, USR1 or USR2, found \"TERMINATE\"\n\
         DIR/agent.toml:9:27: program.web.stdout_logfile_maxbytes: expected a size in bytes (an integer >= 0, or a string like \"50MB\" with a KB, MB or GB suffix), found \"5TB\"\n\
         DIR/agent.toml:10:12: program.web.priority: expected an integer, found \"high\"\n\
         DIR/agent.toml:11:13: program.web.autostart: expected true or false, found \"yes\""
    );
}

#[test]
fn golden_unknown_keys_all_reported() {
    let text = "[agent]\nnmae = \"x\"\n\n[program.web]\ncommand = \"x\"\nautostrat = true\n\n[programs.x]\n";
    assert_eq!(
        errors(text),
        "DIR/agent.toml:2:1: unknown key \"nmae\" in [agent]; did you mean \"name\"? (expected one of: \
         name, socket, listen, token, token_file, token_env, tls_cert, tls_key, log_dir, console, \
         enrollment_token, enrollment_token_file, enrollment_token_env, advertise_url, tags, \
         console_ca_file, console_fingerprint, allow_insecure_console, credential_file, forward_output)\n\
         DIR/agent.toml:6:1: unknown key \"autostrat\" in [program.web]; did you mean \"autostart\"? \
         (expected one of: command, numprocs, numprocs_start, process_name, directory, user, umask, \
         environment, environment_file, priority, autostart, autorestart, exitcodes, startsecs, startretries, backoff, backoff_max, \
         stopsignal, stopwaitsecs, stopasgroup, killasgroup, leftovers, redirect_stderr, stdout_logfile, \
         stdout_logfile_maxbytes, stdout_logfile_backups, stderr_logfile, stderr_logfile_maxbytes, \
         stderr_logfile_backups, health, depends_on, stdout_events_enabled, stderr_events_enabled, stdout_capture_maxbytes, stderr_capture_maxbytes)\n\
         DIR/agent.toml:8:2: unknown key \"programs\" in the top-level table; did you mean \"program\"? \
         (expected one of: include, agent, program, eventlistener, group)"
    );
}

#[test]
fn golden_structure_errors() {
    let text = r#"[program.web]
numprocs = 4

[program."bad name"]
command = "x"

[program.env]
command = "x"
environment = { "1BAD" = "x", PORT = 8000 }
when = 1979-05-27
"#;
    assert_eq!(
        errors(text),
        "DIR/agent.toml:1:10: program.web: missing required key \"command\"\n\
         DIR/agent.toml:1:10: program.web.process_name: numprocs = 4 needs {num} in process_name so each \
         instance gets its own name (e.g. process_name = \"{program}_{num:02}\")\n\
         DIR/agent.toml:4:10: invalid program name \"bad name\" (use letters, digits, \"_\", \"-\" and \".\")\n\
         DIR/agent.toml:9:17: program.env.environment: invalid variable name \"1BAD\" (expected letters, \
         digits and _, not starting with a digit)\n\
         DIR/agent.toml:9:38: program.env.environment.PORT: expected a string, found an integer (quote it: PORT = \"...\")\n\
         DIR/agent.toml:10:1: unknown key \"when\" in [program.env] (expected one of: command, numprocs, \
         numprocs_start, process_name, directory, user, umask, environment, environment_file, priority, autostart, \
         autorestart, exitcodes, startsecs, startretries, backoff, backoff_max, stopsignal, stopwaitsecs, stopasgroup, \
         killasgroup, leftovers, redirect_stderr, stdout_logfile, stdout_logfile_maxbytes, stdout_logfile_backups, \
         stderr_logfile, stderr_logfile_maxbytes, stderr_logfile_backups, health, depends_on, stdout_events_enabled, stderr_events_enabled, stdout_capture_maxbytes, stderr_capture_maxbytes)"
    );
}

#[test]
fn toml_syntax_error_has_location() {
    let e = errors("[program.web]\ncommand = \"unterminated\n");
    assert!(e.starts_with("DIR/agent.toml:2:"), "{e}");
    assert!(e.contains("invalid TOML"), "{e}");
    let e = errors("a = 1\na = 2\n");
    assert!(
        e.starts_with("DIR/agent.toml:2:1: invalid TOML: duplicate key"),
        "{e}"
    );
}

#[test]
fn unreadable_main_file() {
    let dir = tempfile::tempdir().unwrap();
    let r = Config::load_with(&dir.path().join("missing.toml"), &env());
    let e = errors_in(dir.path(), r);
    assert!(
        e.starts_with("DIR/missing.toml: cannot read config file: "),
        "{e}"
    );
}

#[test]
fn command_forms_and_errors() {
    let c = ok(r#"
[program.a]
command = "sh -c 'echo \"a b\"; exit 3'"
[program.b]
command = "run ${OPTS} \"${HOME}/x y\""
[program.c]
command = ["awk", "{print $1}", "${APP:-/d}/{program}"]
"#);
    assert_eq!(one(&c, "a").argv, ["sh", "-c", "echo \"a b\"; exit 3"]);
    // ${VAR} expands before splitting: a variable may carry several args.
    assert_eq!(
        one(&c, "b").argv,
        [
            "run",
            "-l",
            "info",
            "--concurrency",
            "2",
            "/home/tester/x y"
        ]
    );
    assert_eq!(one(&c, "c").argv, ["awk", "{print $1}", "/srv/app/c"]);

    assert_eq!(
        errors(
            "[program.a]\ncommand = \"echo 'oops\"\n[program.b]\ncommand = []\n\
             [program.c]\ncommand = \"  \"\n[program.d]\ncommand = [\"x\", 1]\n[program.e]\ncommand = 5\n"
        ),
        "DIR/agent.toml:2:11: program.a.command: cannot split into arguments: missing closing quote\n\
         DIR/agent.toml:4:11: program.b.command: expected a non-empty command\n\
         DIR/agent.toml:6:11: program.c.command: expected a non-empty command\n\
         DIR/agent.toml:8:17: program.d.command[1]: expected a string, found 1\n\
         DIR/agent.toml:10:11: program.e.command: expected a string or an array of strings, found 5"
    );
}

#[test]
fn var_expansion_everywhere_and_errors() {
    let c = ok(r#"
[agent]
name = "${HOST:-fallback}"
socket = "${APP}/agent.sock"
log_dir = "${APP}/logs"
token = "${SECRET}"
[program.a]
command = "${APP}/bin/a $HOME $$ $${APP}"
directory = "${APP}"
user = "${NOUSER:-root}"
environment = { X = "${HOME}/x", Y = "${EMPTY:-dflt}" }
stdout_logfile = "${APP}/a.log"
process_name = "${EMPTY}{program}"
"#);
    assert_eq!(c.agent.host, "fallback");
    assert_eq!(c.agent.socket, PathBuf::from("/srv/app/agent.sock"));
    assert_eq!(
        c.agent.token.as_ref().unwrap().expose(),
        "s3cret-0123456789abcdefgh"
    );
    let a = one(&c, "a");
    assert_eq!(a.argv, ["/srv/app/bin/a", "$HOME", "$", "${APP}"]);
    assert_eq!(a.directory, Some(PathBuf::from("/srv/app")));
    assert_eq!(a.user.unwrap().name, "root");
    assert_eq!(
        a.environment,
        [
            ("X".into(), "/home/tester/x".into()),
            ("Y".into(), "dflt".into())
        ]
    );
    assert_eq!(a.stdout.path, Some(PathBuf::from("/srv/app/a.log")));
    assert_eq!(
        a.stderr.path,
        Some(PathBuf::from("/srv/app/logs/a.stderr.log"))
    );

    assert_eq!(
        errors("[program.a]\ncommand = [\"x\", \"${FOO}\"]\ndirectory = \"${BAR\"\n"),
        "DIR/agent.toml:2:17: program.a.command[1]: undefined variable ${FOO} (set it in the agent's \
         environment or use ${FOO:-default})\n\
         DIR/agent.toml:3:13: program.a.directory: unterminated \"${\" in \"${BAR\" (write \"$$\" for a \
         literal \"$\")"
    );
}

#[test]
fn templates_in_instances() {
    let c = ok(r#"
[program.w]
command = "celery worker -n w{num}@%h --x={unknown} %(ENV_X)s"
numprocs = 3
numprocs_start = 8
process_name = "w_{num:02}_{host}"
directory = "/tmp/{group}/{process}"
stderr_logfile = "/logs/{program}-{num:03}.err"
"#);
    let names: Vec<&str> = c.processes.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["w_08_h1", "w_09_h1", "w_10_h1"]);
    let p = one(&c, "w_09_h1");
    assert_eq!(
        p.argv,
        [
            "celery",
            "worker",
            "-n",
            "w9@%h",
            "--x={unknown}",
            "%(ENV_X)s"
        ]
    );
    assert_eq!(p.directory, Some(PathBuf::from("/tmp/w/w_09_h1")));
    assert_eq!(p.stderr.path, Some(PathBuf::from("/logs/w-009.err")));
    assert_eq!(
        p.stdout.path,
        Some(PathBuf::from("/var/log/fleet/w_09_h1.stdout.log"))
    );
}

#[test]
fn process_name_rules() {
    assert_eq!(
        errors(
            "[program.a]\ncommand = \"x\"\nprocess_name = \"{prog}_{num}\"\nnumprocs = 2\n\
             [program.b]\ncommand = \"x\"\nprocess_name = \"b {num}\"\n\
             [program.c]\ncommand = \"x\"\nprocess_name = \"{process}\"\n"
        ),
        "DIR/agent.toml:3:16: program.a.process_name: unknown field {prog} in process_name (expected \
         {program}, {group}, {host}, {num} or {num:0N})\n\
         DIR/agent.toml:7:16: program.b.process_name: \"b 0\" is not a valid process name (use letters, \
         digits, \"_\", \".\", \"@\" and \"-\")\n\
         DIR/agent.toml:10:16: program.c.process_name: unknown field {process} in process_name \
         (expected {program}, {group}, {host}, {num} or {num:0N})"
    );
    // numprocs = 1 needs no {num}.
    let c = ok("[program.a]\ncommand = \"x\"\nprocess_name = \"main\"\n");
    assert_eq!(c.processes[0].name, "main");
}

#[test]
fn duplicate_process_names() {
    assert_eq!(
        errors(
            "[program.a]\ncommand = \"x\"\nprocess_name = \"web\"\n\n[program.web]\ncommand = \"y\"\n\
             [program.c]\ncommand = \"x\"\nprocess_name = \"p{num}\"\nnumprocs = 2\n\
             [program.d]\ncommand = \"x\"\nprocess_name = \"p1\"\n"
        ),
        "DIR/agent.toml:5:10: program.web: process name \"web\" is already used by program \"a\" \
         (process names must be unique on the host)\n\
         DIR/agent.toml:13:16: program.d: process name \"p1\" is already used by program \"c\" \
         (process names must be unique on the host)"
    );
}

#[test]
fn groups() {
    let c = ok(r#"
[program.b]
command = "b"
priority = 10
[program.a]
command = "a"
priority = 10
[program.solo]
command = "s"
priority = 1
[group.g]
programs = ["b", "a"]
priority = 5
"#);
    let names: Vec<String> = c.processes.iter().map(|p| p.full_name()).collect();
    // Sorted by (priority, group, name); group priority is ignored.
    assert_eq!(names, ["solo:solo", "g:a", "g:b"]);
    assert_eq!(one(&c, "a").priority, 10);

    assert_eq!(
        errors(
            r#"[program.a]
command = "a"
[program.b]
command = "b"
[group.g1]
programs = ["a", "nope"]
[group.g2]
programs = ["a", "b", "b"]
[group.b]
programs = ["a"]
[group.g3]
[group.g4]
programs = []
"#
        ),
        "DIR/agent.toml:6:18: group.g1.programs: unknown program \"nope\" (no [program.nope] section)\n\
         DIR/agent.toml:8:13: group.g2.programs: program \"a\" is already in group \"g1\" (a program \
         belongs to at most one group)\n\
         DIR/agent.toml:8:23: group.g2.programs: program \"b\" is listed twice\n\
         DIR/agent.toml:10:13: group.b.programs: program \"a\" is already in group \"g1\" (a program \
         belongs to at most one group)\n\
         DIR/agent.toml:11:8: group.g3: missing required key \"programs\" (expected a non-empty array of \
         program names)\n\
         DIR/agent.toml:13:12: group.g4.programs: expected a non-empty array of program names, found an array"
    );
}

#[test]
fn group_name_collides_with_ungrouped_program() {
    assert_eq!(
        errors("[program.web]\ncommand = \"x\"\n[program.a]\ncommand = \"a\"\n[group.web]\nprograms = [\"a\"]\n"),
        "DIR/agent.toml:5:8: group \"web\" has the same name as program \"web\", which is in no group and \
         so is its own group; rename one, or list \"web\" in the group"
    );
    // A group named after a program it contains is fine.
    let c = ok("[program.web]\ncommand = \"x\"\n[group.web]\nprograms = [\"web\"]\n");
    assert_eq!(c.processes[0].full_name(), "web:web");
}

#[test]
fn users() {
    let c = ok("[program.a]\ncommand = \"x\"\nuser = \"root\"\n");
    let u = one(&c, "a").user.unwrap();
    assert_eq!((u.name.as_str(), u.uid, u.gid), ("root", 0, 0));
    assert!(u.groups.contains(&0));
    assert_eq!(
        errors("[program.a]\ncommand = \"x\"\nuser = \"no-such-user-xyz\"\n"),
        "DIR/agent.toml:3:8: program.a.user: unknown user \"no-such-user-xyz\""
    );
}

#[test]
fn agent_settings() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "secrets/token", "tok-from-file-0123456789\n\n");
    let path = write(
        dir.path(),
        "agent.toml",
        r#"[agent]
name = "w-01"
socket = "run/agent.sock"
listen = "[::1]:9701"
token_file = "secrets/token"
tls_cert = "tls/agent.crt"
tls_key = "/etc/fleet/agent.key"
log_dir = "logs"
[program.a]
command = "x"
"#,
    );
    let c = Config::load_with(&path, &env()).unwrap();
    let d = dir.path();
    assert_eq!(c.agent.host, "w-01");
    assert_eq!(c.agent.socket, d.join("run/agent.sock"));
    assert_eq!(c.agent.listen, Some("[::1]:9701".parse().unwrap()));
    assert_eq!(
        c.agent.token.as_ref().unwrap().expose(),
        "tok-from-file-0123456789"
    );
    assert_eq!(
        c.agent.tls,
        Some(TlsFiles {
            cert: d.join("tls/agent.crt"),
            key: "/etc/fleet/agent.key".into()
        })
    );
    assert_eq!(c.agent.log_dir, d.join("logs"));
    assert_eq!(one(&c, "a").stdout.path, Some(d.join("logs/a.stdout.log")));
    assert!(!format!("{:?}", c.agent).contains("tok-from-file-0123456789"));

    let c = ok("[agent]\ntoken_env = \"SECRET\"\nlisten = \"0.0.0.0:1\"\n");
    assert_eq!(c.agent.token.unwrap().expose(), "s3cret-0123456789abcdefgh");
    // listen without a token is the server's business, not the loader's.
    assert!(ok("[agent]\nlisten = \"127.0.0.1:9701\"\n")
        .agent
        .token
        .is_none());
}

#[test]
fn agent_errors() {
    let text = r#"[agent]
listen = "localhost"
token = "a"
token_env = "SECRET"
tls_key = "k"
name = ""
"#;
    assert_eq!(
        errors(text),
        "DIR/agent.toml:2:10: agent.listen: expected IP:PORT such as \"127.0.0.1:9701\" or \"[::1]:9701\", \
         found \"localhost\"\n\
         DIR/agent.toml:4:1: agent.token_env: set at most one of token, token_file and token_env (found \
         token and token_env)\n\
         DIR/agent.toml:5:1: agent.tls_key is set but agent.tls_cert is not (set both or neither)\n\
         DIR/agent.toml:6:8: agent.name: expected a host name, found \"\""
    );
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "empty.token", " \n");
    let path = write(
        dir.path(),
        "agent.toml",
        "[agent]\ntoken_file = \"empty.token\"\ntls_cert = \"c\"\n",
    );
    assert_eq!(
        errors_in(dir.path(), Config::load_with(&path, &env())),
        "DIR/agent.toml:2:14: agent.token_file: DIR/empty.token is empty\n\
         DIR/agent.toml:3:1: agent.tls_cert is set but agent.tls_key is not (set both or neither)"
    );
    let e = errors("[agent]\ntoken_file = \"/nonexistent/token\"\n");
    assert!(
        e.starts_with("DIR/agent.toml:2:14: agent.token_file: cannot read /nonexistent/token: "),
        "{e}"
    );
    assert_eq!(
        errors("[agent]\ntoken_env = \"NOT_SET_ANYWHERE\"\n[agent2]\n"),
        "DIR/agent.toml:2:13: agent.token_env: environment variable NOT_SET_ANYWHERE is not set or is empty\n\
         DIR/agent.toml:3:2: unknown key \"agent2\" in the top-level table; did you mean \"agent\"? \
         (expected one of: include, agent, program, eventlistener, group)"
    );
    assert_eq!(
        errors("[agent]\ntoken_env = \"EMPTY\"\n"),
        "DIR/agent.toml:2:13: agent.token_env: environment variable EMPTY is not set or is empty"
    );
}

#[test]
fn relative_paths_resolve_against_the_defining_file() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(
        d,
        "conf.d/app.toml",
        "[program.app]\ncommand = \"./run\"\ndirectory = \"../srv/{program}\"\n\
         stdout_logfile = \"logs/{process}.log\"\n",
    );
    let path = write(
        d,
        "agent.toml",
        "include = [\"conf.d/*.toml\"]\n[program.top]\ncommand = \"./run\"\ndirectory = \"work\"\n",
    );
    let c = Config::load_with(&path, &env()).unwrap();
    let app = one(&c, "app");
    assert_eq!(app.argv[0], "./run", "argv[0] stays as written");
    assert_eq!(app.directory, Some(d.join("conf.d/../srv/app")));
    assert_eq!(app.stdout.path, Some(d.join("conf.d/logs/app.log")));
    assert_eq!(one(&c, "top").directory, Some(d.join("work")));
}

#[test]
fn includes() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(d, "conf.d/b.toml", "[program.b]\ncommand = \"b\"\n");
    write(
        d,
        "conf.d/a.toml",
        "include = [\"more/*.toml\"]\n[program.a]\ncommand = \"a\"\n[group.g]\nprograms = [\"a\", \"c\"]\n",
    );
    write(d, "conf.d/more/c.toml", "[program.c]\ncommand = \"c\"\n");
    write(d, "conf.d/notes.txt", "not toml at all [");
    let path = write(
        d,
        "agent.toml",
        "include = [\"conf.d/*.toml\", \"empty.d/*.toml\", \"conf.d/b.toml\"]\n",
    );
    let c = Config::load_with(&path, &env()).unwrap();
    let names: Vec<String> = c.processes.iter().map(|p| p.full_name()).collect();
    // b.toml is matched twice but read once; groups span files.
    assert_eq!(names, ["b:b", "g:a", "g:c"]);
    assert_eq!(c, Config::load_with(&path, &env()).unwrap());
}

#[test]
fn include_errors() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(
        d,
        "conf.d/a.toml",
        "include = [\"../agent.toml\"]\n[agent]\nname = \"x\"\n",
    );
    write(d, "conf.d/b.toml", "[program.b]\ncommand = \n");
    write(d, "conf.d/c.toml", "[program.b]\ncommand = \"again\"\n");
    write(d, "conf.d/d.toml", "[program.main]\ncommand = \"dup\"\n");
    let path = write(
        d,
        "agent.toml",
        "include = [\"conf.d/*.toml\", 7, \"[\"]\n[program.main]\ncommand = \"x\"\n",
    );
    assert_eq!(
        errors_in(d, Config::load_with(&path, &env())),
        "DIR/agent.toml:1:29: include: expected an array of file names or glob patterns, found 7\n\
         DIR/agent.toml:1:32: include: invalid glob pattern \"[\": invalid range pattern\n\
         DIR/conf.d/a.toml:1:12: include cycle: DIR/agent.toml -> DIR/conf.d/a.toml -> \
         DIR/conf.d/../agent.toml\n\
         DIR/conf.d/a.toml:2:2: [agent] is only allowed in the main config file (DIR/agent.toml)\n\
         DIR/conf.d/b.toml:2:11: invalid TOML: invalid string; expected `\"`, `'`\n\
         DIR/conf.d/d.toml:1:10: program \"main\" is already defined at DIR/agent.toml:2:10"
    );
}

#[test]
fn celery_host() {
    let c = ok(r#"
[agent]
name = "w-01"
listen = "0.0.0.0:9701"
token_env = "SECRET"

[program.celery]
command = "celery -A main worker -l info -Ofair -n w{num}@%h"
directory = "/srv/app"
user = "root"
numprocs = 4
process_name = "worker_{num:02}"
killasgroup = true
stopasgroup = true
stopwaitsecs = 10
startsecs = 10
priority = 1000
autorestart = true
environment = { C_FORCE_ROOT = "1", WORKER = "{process}" }

[program.flower]
command = "celery -A main flower --port=5555"
directory = "/srv/app"
priority = 1000

[group.celery]
programs = ["celery", "flower"]
"#);
    let names: Vec<String> = c.processes.iter().map(|p| p.full_name()).collect();
    assert_eq!(
        names,
        [
            "celery:flower",
            "celery:worker_00",
            "celery:worker_01",
            "celery:worker_02",
            "celery:worker_03"
        ]
    );
    let w = one(&c, "worker_00");
    assert_eq!(w.full_name(), "celery:worker_00");
    assert_eq!(w.program, "celery");
    assert!(w.argv.contains(&"w0@%h".to_string()), "{:?}", w.argv);
    assert_eq!(one(&c, "worker_03").argv.last().unwrap(), "w3@%h");
    assert!(w.killasgroup && w.stopasgroup);
    assert_eq!(w.stopwaitsecs, Duration::from_secs(10));
    assert_eq!(w.startsecs, Duration::from_secs(10));
    assert_eq!(w.priority, 1000);
    assert_eq!(w.autorestart, AutoRestart::Always);
    assert_eq!(
        w.environment,
        [
            ("C_FORCE_ROOT".into(), "1".into()),
            ("WORKER".into(), "worker_00".into())
        ]
    );
    assert_eq!(
        w.stdout.path,
        Some(PathBuf::from("/var/log/fleet/worker_00.stdout.log"))
    );
    let f = one(&c, "flower");
    assert_eq!(f.group, "celery");
    assert_eq!(f.autorestart, AutoRestart::Unexpected);
}

#[test]
fn loads_are_deterministic() {
    let text = "[program.x]\ncommand = \"x\"\nnumprocs = 3\nprocess_name = \"x{num}\"\n\
                environment = { B = \"1\", A = \"2\" }\nuser = \"root\"\n";
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "agent.toml", text);
    let a = Config::load_with(&path, &env()).unwrap();
    let b = Config::load_with(&path, &env()).unwrap();
    assert_eq!(a, b);
}

#[test]
fn load_env_from_process() {
    let e = LoadEnv::from_process();
    assert!(!e.hostname.is_empty());
    assert!(e.vars.contains_key("PATH") || !e.vars.is_empty());
    let _ = HashMap::<String, String>::new();
}

#[test]
fn enrollment_settings() {
    let c = ok(r#"[agent]
name = "w-01"
listen = "127.0.0.1:9701"
token = "agent-tok-0123456789abcdef"
console = "https://console.example:9700/"
enrollment_token_env = "SECRET"
tags = { role = "worker", dc = "${APP}" }
"#);
    let e = c.agent.enroll.clone().expect("enrollment");
    assert_eq!(e.console, "https://console.example:9700");
    assert_eq!(e.token.expose(), "s3cret-0123456789abcdefgh");
    assert_eq!(e.advertise_url, "http://127.0.0.1:9701");
    assert_eq!(e.tags["role"], "worker");
    assert_eq!(e.tags["dc"], "/srv/app");
    assert!(!format!("{:?}", c.agent).contains("s3cret-0123456789abcdefgh"));

    let c = ok(r#"[agent]
listen = "0.0.0.0:9701"
token = "t-0123456789abcdefghijkl"
tls_cert = "c"
tls_key = "k"
console = "http://127.0.0.1:9700"
enrollment_token = "e-0123456789abcdefghijkl"
advertise_url = "https://w-01.example:9701"
"#);
    let e = c.agent.enroll.unwrap();
    assert_eq!(e.advertise_url, "https://w-01.example:9701");
    assert_eq!(e.token.expose(), "e-0123456789abcdefghijkl");
    assert!(e.tags.is_empty());

    // Derived from listen, https with TLS.
    let c = ok(
        "[agent]\nlisten = \"[::1]:9701\"\ntoken = \"t-0123456789abcdefghijkl\"\ntls_cert = \"c\"\ntls_key = \"k\"\n\
                console = \"http://localhost:1\"\nenrollment_token = \"e-0123456789abcdefghijkl\"\n",
    );
    assert_eq!(c.agent.enroll.unwrap().advertise_url, "https://[::1]:9701");
    assert!(ok("[agent]\nname = \"x\"\n").agent.enroll.is_none());

    // Clear text off loopback only when allowed; pins need https.
    let c = ok(
        "[agent]\nlisten = \"127.0.0.1:9701\"\ntoken = \"t-0123456789abcdefghijkl\"\nconsole = \"http://10.0.0.5:9700\"\n\
         enrollment_token = \"e-0123456789abcdefghijkl\"\nallow_insecure_console = true\n",
    );
    assert!(c.agent.enroll.unwrap().insecure);
    let c = ok(
        "[agent]\nlisten = \"127.0.0.1:9701\"\ntoken = \"t-0123456789abcdefghijkl\"\nconsole = \"https://c:9700\"\n\
         enrollment_token = \"e-0123456789abcdefghijkl\"\nconsole_fingerprint = \"sha256:00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\"\n",
    );
    assert!(matches!(
        c.agent.enroll.unwrap().trust,
        crate::config::Trust::Fingerprint(_)
    ));
}

#[test]
fn enrollment_errors() {
    assert_eq!(
        errors("[agent]\nconsole = \"http://127.0.0.1:9700\"\n"),
        "DIR/agent.toml:2:11: agent.console needs agent.listen and agent.token: the console calls \
         the agent back over TCP with that token\n\
         DIR/agent.toml:2:11: agent.console needs one of enrollment_token, enrollment_token_file and \
         enrollment_token_env"
    );
    assert_eq!(
        errors(
            "[agent]\nlisten = \"0.0.0.0:1\"\ntoken = \"t-0123456789abcdefghijkl\"\nconsole = \"c:9700\"\n\
             enrollment_token = \"e-0123456789abcdefghijkl\"\nenrollment_token_file = \"f\"\ntags = [\"x\"]\n"
        ),
        "DIR/agent.toml:4:11: agent.console: expected a URL such as \"https://console:9700\", \
         found \"c:9700\"\n\
         DIR/agent.toml:4:11: agent.console: set agent.advertise_url: the console cannot reach \
         0.0.0.0:1, which listens on every address\n\
         DIR/agent.toml:6:1: agent.enrollment_token_file: set at most one of enrollment_token, \
         enrollment_token_file and enrollment_token_env (found enrollment_token and \
         enrollment_token_file)\n\
         DIR/agent.toml:7:8: agent.tags: expected a table of strings such as { role = \"worker\" }, \
         found an array"
    );
    assert_eq!(
        errors("[agent]\nenrollment_token = \"e-0123456789abcdefghijkl\"\ntags = { role = 1 }\n"),
        "DIR/agent.toml:2:1: agent.enrollment_token is set but agent.console is not (it is only \
         used to register with a console)\n\
         DIR/agent.toml:3:1: agent.tags is set but agent.console is not (it is only used to \
         register with a console)\n\
         DIR/agent.toml:3:17: agent.tags.role: expected a string, found 1"
    );
}

#[test]
fn tokens_under_128_bits_are_refused_with_the_command_that_makes_one() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "short.token", "0123456789abcdefghij\n");
    let path = write(
        dir.path(),
        "agent.toml",
        "[agent]\nlisten = \"127.0.0.1:9701\"\ntoken_file = \"short.token\"\n\
         console = \"http://127.0.0.1:9700\"\nenrollment_token = \"e\"\n",
    );
    let e = errors_in(dir.path(), Config::load_with(&path, &env()));
    assert_eq!(
        e,
        "DIR/agent.toml:3:14: agent.token_file: token is shorter than 22 characters (128 bits); \
         generate one with `head -c 32 /dev/urandom | base64`\n\
         DIR/agent.toml:5:20: agent.enrollment_token: token is shorter than 22 characters (128 \
         bits); generate one with `head -c 32 /dev/urandom | base64`"
    );
    assert_eq!(
        errors("[agent]\ntoken = \"a\"\n"),
        "DIR/agent.toml:2:9: agent.token: token is shorter than 22 characters (128 bits); \
         generate one with `head -c 32 /dev/urandom | base64`"
    );
}

/// The kit's one token rule (`fleet_daemon::secret::resolve`): whitespace
/// around a token is dropped from every source (the agent used to keep a
/// token file's leading blanks and an inline token's padding), and a token
/// of two words is refused without being quoted.
#[test]
fn tokens_follow_the_kits_one_trimming_rule() {
    let token = "q83vEjRWeJq83vEjRWeJq80=";
    let c = ok(&format!("[agent]\ntoken = \" {token}\\n\"\n"));
    assert_eq!(c.agent.token.unwrap().expose(), token);
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "t", &format!("\n  {token}\r\n"));
    let path = write(dir.path(), "agent.toml", "[agent]\ntoken_file = \"t\"\n");
    let c = Config::load_with(&path, &env()).unwrap();
    assert_eq!(c.agent.token.unwrap().expose(), token);
    write(dir.path(), "t", &format!("{token}\n{token}\n"));
    let e = errors_in(dir.path(), Config::load_with(&path, &env()));
    assert!(
        e.starts_with("DIR/agent.toml:2:14: agent.token_file: DIR/t holds a space, line break"),
        "{e}"
    );
    assert!(!e.contains(token), "{e}");
}

#[test]
fn environment_files_are_read_in_order_under_environment() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "base.env",
        "# defaults\nexport LEVEL=info\nDB=\"postgres://db/app\"\nSHARED=from-base\n",
    );
    write(dir.path(), "local.env", "LEVEL=debug\n");
    let path = write(
        dir.path(),
        "agent.toml",
        "[program.web]\ncommand = \"x\"\nenvironment_file = [\"base.env\", \"-missing.env\", \"local.env\"]\n\
         environment = { SHARED = \"from-config-{process}\" }\n",
    );
    let c = Config::load_with(&path, &env()).unwrap_or_else(|e| panic!("{e}"));
    let p = one(&c, "web");
    // Applied in order, later wins: the files (local over base), then
    // `environment`, templated; the files' text is not.
    let mut seen: HashMap<&str, &str> = HashMap::new();
    for (k, v) in &p.environment {
        seen.insert(k, v);
    }
    assert_eq!(seen["LEVEL"], "debug");
    assert_eq!(seen["DB"], "postgres://db/app");
    assert_eq!(seen["SHARED"], "from-config-web");
}

#[test]
fn environment_file_errors_name_the_file_and_line_never_a_value() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "bad.env",
        "OK=1\nSECRET=\"hunter2-value\nNEXT=2\n",
    );
    let path = write(
        dir.path(),
        "agent.toml",
        "[program.web]\ncommand = \"x\"\nenvironment_file = \"bad.env\"\n\n\
         [program.db]\ncommand = \"x\"\nenvironment_file = [\"nowhere.env\"]\n",
    );
    let e = errors_in(dir.path(), Config::load_with(&path, &env()));
    assert!(
        e.contains("DIR/agent.toml:3:20: program.web.environment_file: DIR/bad.env: line 2: SECRET: no closing \" before the end of the file"),
        "{e}"
    );
    assert!(
        e.contains("DIR/agent.toml:7:21: program.db.environment_file: DIR/nowhere.env: No such file or directory"),
        "{e}"
    );
    assert!(!e.contains("hunter2"), "{e}");
}

#[test]
fn health_checks_load_with_defaults_and_per_instance_templates() {
    let (_d, r) = load(
        r#"
[program.web]
command = "x"
numprocs = 2
process_name = "web_{num}"

[program.web.health]
http = "http://127.0.0.1:80{num:02}/healthz"
expect_status = [200, 204]
interval = "5s"
timeout = "1500ms"
start_period = 10
on_unhealthy = "restart"

[program.redis]
command = "x"
[program.redis.health]
tcp = "127.0.0.1:6379"

[program.worker]
command = "x"
[program.worker.health]
exec = "celery -A app inspect ping -d celery@{host}"
"#,
    );
    let c = r.unwrap_or_else(|e| panic!("{e}"));
    let h = one(&c, "web_1").health.unwrap();
    assert_eq!(
        h.check,
        HealthCheck::Http {
            url: "http://127.0.0.1:8001/healthz".into(),
            expect_status: vec![200, 204],
            expect_body: None
        }
    );
    assert_eq!(h.interval, Duration::from_secs(5));
    assert_eq!(h.timeout, Duration::from_millis(1500));
    assert_eq!(h.start_period, Duration::from_secs(10));
    assert_eq!((h.failures, h.successes), (3, 1));
    assert_eq!(h.on_unhealthy, OnUnhealthy::Restart);
    let r = one(&c, "redis").health.unwrap();
    assert_eq!(
        r.check,
        HealthCheck::Tcp {
            addr: "127.0.0.1:6379".into()
        }
    );
    assert_eq!(r.interval, Duration::from_secs(10));
    assert_eq!(r.timeout, Duration::from_secs(5));
    assert_eq!(r.on_unhealthy, OnUnhealthy::None);
    let w = one(&c, "worker").health.unwrap();
    assert_eq!(
        w.check,
        HealthCheck::Exec {
            argv: ["celery", "-A", "app", "inspect", "ping", "-d", "celery@h1"]
                .map(String::from)
                .to_vec()
        }
    );
    assert!(one(&c, "web_0").depends_on.is_empty());
}

#[test]
fn golden_health_errors() {
    let text = r#"[program.a]
command = "x"
[program.a.health]
http = "http://x/"
tcp = "x:1"

[program.b]
command = "x"
[program.b.health]
interval = "0s"

[program.c]
command = "x"
[program.c.health]
tcp = "localhost"
expect_body = "ok"
on_unhealthy = "kill"
timout = "1s"
"#;
    assert_eq!(
        errors(text),
        "DIR/agent.toml:5:1: program.a.health: one check per program, found http and tcp\n\
         DIR/agent.toml:9:1: program.b.health: expected one check: http = \"URL\", tcp = \"HOST:PORT\" or exec = \"COMMAND\"\n\
         DIR/agent.toml:10:12: program.b.health.interval: expected a duration above zero (e.g. \"5s\")\n\
         DIR/agent.toml:15:7: program.c.health.tcp: expected HOST:PORT (e.g. \"127.0.0.1:6379\"), found \"localhost\"\n\
         DIR/agent.toml:16:1: program.c.health.expect_body: only an http check has a status and a body\n\
         DIR/agent.toml:17:16: program.c.health.on_unhealthy: expected \"restart\" or \"none\", found \"kill\"\n\
         DIR/agent.toml:18:1: unknown key \"timout\" in [program.c.health]; did you mean \"timeout\"? (expected one of: \
         http, tcp, exec, expect_status, expect_body, interval, timeout, start_period, failures, successes, on_unhealthy)"
    );
}

#[test]
fn depends_on_resolves_programs_and_groups_to_processes() {
    let (_d, r) = load(
        r#"
[program.redis]
command = "x"

[program.db]
command = "x"

[group.store]
programs = ["db"]

[program.web]
command = "x"
numprocs = 2
process_name = "web_{num}"
depends_on = ["redis", "group:store"]

[program.proxy]
command = "x"
depends_on = ["web"]
"#,
    );
    let c = r.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(one(&c, "web_0").depends_on, ["redis:redis", "store:db"]);
    assert_eq!(one(&c, "proxy").depends_on, ["web:web_0", "web:web_1"]);
    let ranks = ranks(c.processes.iter());
    assert_eq!(ranks["redis:redis"], 0);
    assert_eq!(ranks["web:web_1"], 1);
    assert_eq!(ranks["proxy:proxy"], 2);
}

#[test]
fn golden_depends_on_errors() {
    let text = r#"[program.a]
command = "x"
depends_on = ["b"]

[program.b]
command = "x"
depends_on = ["c"]

[program.c]
command = "x"
depends_on = ["a", "nowhere", "group:none", "c"]

[group.g]
programs = ["c"]

[program.d]
command = "x"
depends_on = ["g"]

[program.e]
command = "x"
depends_on = ["bad name", 3]
"#;
    assert_eq!(
        errors(text),
        "DIR/agent.toml:3:15: program.a.depends_on: start-order cycle: a -> b -> c -> a\n\
         DIR/agent.toml:11:20: program.c.depends_on: no program named \"nowhere\"\n\
         DIR/agent.toml:11:31: program.c.depends_on: no group named \"none\"\n\
         DIR/agent.toml:11:45: program.c.depends_on: \"c\" is c itself; a program cannot wait for itself\n\
         DIR/agent.toml:18:15: program.d.depends_on: no program named \"g\" (\"g\" is a group: write \"group:g\")\n\
         DIR/agent.toml:22:15: program.e.depends_on: expected a program name or \"group:NAME\", found \"bad name\"\n\
         DIR/agent.toml:22:27: program.e.depends_on: expected a string, found 3"
    );
}

#[test]
fn an_event_listener_and_its_errors() {
    let c = ok(r#"
[eventlistener.mon]
command = "memmon -p x=1MB"
events = ["process_state", "TICK_60"]
buffer_size = 3
"#);
    let p = &c.processes[0];
    assert_eq!((p.full_name().as_str(), p.priority), ("mon:mon", -1));
    let l = p.listener.as_ref().unwrap();
    assert_eq!(l.events, ["PROCESS_STATE", "TICK_60"]);
    assert_eq!(l.buffer_size, 3);
    assert!(p.stdout.path.is_none(), "its stdout is the protocol");
    assert!(p.stderr.path.is_some());

    let e = errors(
        r#"
[eventlistener.mon]
command = "x"
events = ["TICK_7"]
stdout_logfile = "/tmp/x"
redirect_stderr = true
result_handler = "mymod:handler"
buffer_size = 0

[eventlistener.quiet]
command = "x"

[eventlistener.typo]
command = "x"
events = ["TICK_5", 60]

[program.dup]
command = "y"

[eventlistener.dup]
command = "y"
events = ["TICK_5"]

[program.cap]
command = "z"
stdout_capture_maxbytes = "1MB"

[group.g]
programs = ["quiet"]
"#,
    );
    for needle in [
        "unknown event type \"TICK_7\"",
        "stdout_logfile: a listener's stdout is its protocol channel",
        "redirect_stderr: not allowed for a listener",
        "result_handler: only supervisord's default",
        "buffer_size:",
        "quiet: missing required key \"events\"",
        "program \"dup\" is already defined",
        "capture mode (PROCESS_COMMUNICATION events) is not supported",
        "\"quiet\" is an event listener",
        "eventlistener.typo.events[1]: expected a string, found",
    ] {
        assert!(e.contains(needle), "{needle:?} not in:\n{e}");
    }
}
