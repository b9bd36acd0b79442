//! Every example config in configs/, and every default config the Debian
//! packages install from packaging/etc/, is checked, so none of them rots.

mod common;
use common::*;
use std::process::Command;

fn check(path: &str) -> (bool, String) {
    let out = Command::new(bin("fleet-agent"))
        .arg("check")
        .arg(path)
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

#[test]
fn example_agent_configs_check_clean() {
    let root = env!("CARGO_MANIFEST_DIR");
    for (file, summary) in [
        ("configs/agent.toml", "5 programs, 8 processes"),
        ("configs/demo/agent.toml", "4 programs, 7 processes"),
        // /etc/fleet/agent.toml as packaged: no programs until you add some.
        ("packaging/etc/agent.toml", "0 programs, 0 processes"),
    ] {
        let (ok, text) = check(&format!("{root}/{file}"));
        assert!(ok, "{file}: {text}");
        assert!(text.contains(summary), "{file}: {text}");
    }
}

#[test]
fn check_reports_errors_with_location_and_exits_1() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.toml");
    std::fs::write(&path, "[program.web]\ncommand = \"x\"\nautostrat = true\n").unwrap();
    let (ok, text) = check(path.to_str().unwrap());
    assert!(!ok);
    assert!(
        text.contains("bad.toml:3:1: unknown key \"autostrat\""),
        "{text}"
    );
}

fn run(bin_name: &str, args: &[&str]) -> (Option<i32>, String) {
    let out = Command::new(bin(bin_name)).args(args).output().unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.code(), text)
}

#[test]
fn example_console_config_checks_clean() {
    // configs/console.toml names token files under secrets/ next to it, as a
    // real deployment would; give a copy of it those files.
    let root = env!("CARGO_MANIFEST_DIR");
    let text = std::fs::read_to_string(format!("{root}/configs/console.toml")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut token_files = 0;
    for line in text.lines().filter(|l| !l.trim_start().starts_with('#')) {
        if let Some(rel) = line
            .split_once("token_file = \"")
            .and_then(|(_, rest)| rest.split_once('"'))
            .map(|(path, _)| path)
        {
            let path = dir.path().join(rel);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, format!("token-for-{rel}\n")).unwrap();
            token_files += 1;
        }
    }
    assert_eq!(token_files, 4, "tokens and agents of configs/console.toml");
    let copy = dir.path().join("console.toml");
    std::fs::write(&copy, &text).unwrap();
    let (code, out) = run("fleet-console", &["check", copy.to_str().unwrap()]);
    assert_eq!(code, Some(0), "configs/console.toml: {out}");
    // Two fleet agents and a supervisord host.
    assert!(out.contains("ok (3 agent(s), 2 token(s)"), "{out}");

    // /etc/fleet/console.toml as packaged: loopback, no agents yet, the
    // operator token postinst generates. Without that file it refuses,
    // naming it.
    let text = std::fs::read_to_string(format!("{root}/packaging/etc/console.toml")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let packaged = dir.path().join("console.toml");
    std::fs::write(&packaged, &text).unwrap();
    let (code, out) = run("fleet-console", &["check", packaged.to_str().unwrap()]);
    assert_eq!(code, Some(1), "packaging/etc/console.toml: {out}");
    assert!(out.contains("secrets/ops.token"), "{out}");
    std::fs::create_dir(dir.path().join("secrets")).unwrap();
    std::fs::write(
        dir.path().join("secrets/ops.token"),
        "q83vEjRWeJASNFZ4kBI0VniQEjRWeJASNFZ4kBI0Vng=\n",
    )
    .unwrap();
    let (code, out) = run("fleet-console", &["check", packaged.to_str().unwrap()]);
    assert_eq!(code, Some(0), "packaging/etc/console.toml: {out}");
    assert!(
        out.contains("ok (0 agent(s), 1 token(s), listen 127.0.0.1:9700)"),
        "{out}"
    );
}

#[test]
fn console_check_rejects_unknown_keys() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("console.toml");
    std::fs::write(&path, "[console]\nlisten = \"127.0.0.1:9700\"\nlistn = 1\n").unwrap();
    let (code, out) = run("fleet-console", &["check", path.to_str().unwrap()]);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("listn"), "{out}");
}

/// Run fleetctl with `config` against a port nothing listens on: a config
/// file that parses gets as far as connecting (exit 1); one that does not is
/// a usage error reported before anything is sent (exit 2).
fn fleetctl_with_config(config: &str, expect: i32) -> String {
    let (code, out) = run(
        "fleetctl",
        &[
            "--config",
            config,
            "--console",
            "http://127.0.0.1:1",
            "--token",
            "t",
            "hosts",
        ],
    );
    assert_eq!(code, Some(expect), "{out}");
    out
}

#[test]
fn fleetctl_configs_parse() {
    let root = env!("CARGO_MANIFEST_DIR");
    for file in ["configs/fleetctl.toml", "packaging/etc/fleetctl.toml"] {
        let out = fleetctl_with_config(&format!("{root}/{file}"), 1);
        assert!(
            out.contains("cannot connect to http://127.0.0.1:1"),
            "{file}: {out}"
        );
    }
    // The example sets the keys a workstation needs, for real (not only in
    // comments), so this test parses each of them.
    let text = std::fs::read_to_string(format!("{root}/configs/fleetctl.toml")).unwrap();
    for key in ["console = ", "token_file = "] {
        assert!(
            text.lines().any(|l| l.starts_with(key)),
            "configs/fleetctl.toml sets no {key}"
        );
    }
    // ...and a typo in it would be caught: the same file with one key
    // misspelt is refused, naming the key.
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("fleetctl.toml");
    std::fs::write(&bad, text.replacen("\nconsole = ", "\nconsol = ", 1)).unwrap();
    let out = fleetctl_with_config(bad.to_str().unwrap(), 2);
    assert!(out.contains("unknown field `consol`"), "{out}");
}

/// `environment_file` (systemd's syntax) reaches the program, under its
/// `environment`; `fleet-agent check` names a missing file and its line in
/// the config, and a bad line in the file, without quoting a value.
#[test]
fn environment_files_reach_the_program_and_check_names_a_missing_one() {
    let dir = tempfile::tempdir().unwrap();
    let envf = dir.path().join("web.env");
    std::fs::write(
        &envf,
        "# from the package\nexport LEVEL=info\nDSN=\"postgres://db/app\"\nSHARED=file\n",
    )
    .unwrap();
    let a = Agent::start(&format!(
        "[program.web]\ncommand = \"TESTPROG env LEVEL DSN SHARED\"\nstartsecs = 0\n\
         environment_file = [{:?}, \"-/nonexistent/optional.env\"]\nenvironment = {{ SHARED = \"config\" }}\n",
        envf.display().to_string()
    ));
    let out = wait_for(
        std::time::Duration::from_secs(20),
        "the program's output",
        || {
            let r = a.request("GET", "/v1/processes/web/log?tail=1000", "");
            let t = r.text();
            t.contains("SHARED=").then_some(t)
        },
    );
    assert!(
        out.contains("LEVEL=info\nDSN=postgres://db/app\nSHARED=config\n"),
        "{out}"
    );

    let bad = dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        "[program.web]\ncommand = \"x\"\nenvironment_file = \"/nonexistent/web.env\"\n",
    )
    .unwrap();
    let (ok, text) = check(bad.to_str().unwrap());
    assert!(!ok);
    assert!(
        text.contains("bad.toml:3:20: program.web.environment_file: /nonexistent/web.env: No such file or directory"),
        "{text}"
    );
    std::fs::write(&envf, "OK=1\nTOKEN='secret-value-123\n").unwrap();
    std::fs::write(
        &bad,
        format!(
            "[program.web]\ncommand = \"x\"\nenvironment_file = {:?}\n",
            envf.display().to_string()
        ),
    )
    .unwrap();
    let (ok, text) = check(bad.to_str().unwrap());
    assert!(!ok);
    assert!(text.contains("line 2: TOKEN: no closing '"), "{text}");
    assert!(!text.contains("secret-value"), "{text}");
}
