//! Property tests of what the agent parses from outside (issue #14,
//! fuzzing): the TOML config (arbitrary bytes, and documents built from the
//! real sections and keys with values of every TOML type, includes too),
//! the supervisord INI importer (real sections and keys, hostile values),
//! and the JSON bodies its API takes (`json_body`). Properties: no panic;
//! a refusal names where (`file:line:col`, or the file when it is the
//! whole file) and says what; an import that succeeds is TOML the loader
//! reads. Case counts are bounded: the suite runs on every `cargo test`.

use fleet_agent::config::{Config, LoadEnv, AGENT_KEYS, PROGRAM_KEYS};
use fleet_api::{ActionRequest, OpRequest, ProofRequest, Registration};
use proptest::prelude::*;
use proptest::test_runner::RngSeed;
use std::collections::HashMap;
use std::path::Path;

/// Bounded cases and a fixed seed: a run is reproducible, so CI never
/// flakes on a case no one has seen. `PROPTEST_CASES=N` and
/// `PROPTEST_RNG_SEED=N` explore further. No regression files: a failure
/// prints its minimal case, which becomes a named test next to the fix.
fn config(cases: u32) -> ProptestConfig {
    let env = ProptestConfig::default(); // reads the PROPTEST_* variables
    let set = |var: &str| std::env::var_os(var).is_some();
    ProptestConfig {
        cases: if set("PROPTEST_CASES") {
            env.cases
        } else {
            cases
        },
        rng_seed: if set("PROPTEST_RNG_SEED") {
            env.rng_seed
        } else {
            RngSeed::Fixed(14)
        },
        failure_persistence: None,
        ..env
    }
}

fn env() -> LoadEnv {
    LoadEnv {
        vars: HashMap::from([
            ("HOME".to_owned(), "/home/x".to_owned()),
            ("EMPTY".to_owned(), String::new()),
        ]),
        hostname: "h1".into(),
    }
}

/// Load `main` (with `others` beside it) and check the outcome.
fn check_load(dir: &Path, main: &[u8], others: &[(String, String)]) -> Result<(), TestCaseError> {
    for (name, text) in others {
        std::fs::write(dir.join(name), text).unwrap();
    }
    let path = dir.join("agent.toml");
    std::fs::write(&path, main).unwrap();
    if let Err(errors) = Config::load_with(&path, &env()) {
        prop_assert!(!errors.0.is_empty());
        for e in &errors.0 {
            prop_assert!(!e.message.trim().is_empty(), "{errors}");
            prop_assert!(e.file.starts_with(dir), "{e}");
            // Only a file that cannot be read at all has no line.
            prop_assert!(
                e.line > 0 || e.message.starts_with("cannot read config file"),
                "no location: {e}"
            );
        }
    }
    Ok(())
}

/// The loader's own key lists, plus one it must refuse.
fn keys(real: &'static [&'static str]) -> Vec<&'static str> {
    real.iter().copied().chain(["bogus"]).collect()
}

/// A TOML value of any type, biased to what the keys expect and to the
/// edges (huge and negative numbers, templates, `${VAR}`).
fn toml_value() -> impl Strategy<Value = String> {
    let quoted = |s: String| toml_str(&s);
    prop_oneof![
        any::<i64>().prop_map(|n| n.to_string()),
        prop_oneof![
            Just(0i64),
            Just(-1),
            Just(1),
            Just(4294967296),
            Just(i64::MAX)
        ]
        .prop_map(|n| n.to_string()),
        any::<bool>().prop_map(|b| b.to_string()),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| format!("{f:?}")),
        Just("inf".to_owned()),
        Just("1979-05-27T07:32:00Z".to_owned()),
        prop_oneof![
            Just("true"),
            Just("unexpected"),
            Just("TERM"),
            Just("keep"),
            Just("022"),
            Just("/bin/true"),
            Just("/bin/sh -c 'echo \"unterminated"),
            Just("{program}_{num:02}"),
            Just("{num:999999999999}"),
            Just("{nope}"),
            Just("${HOME}/x"),
            Just("${UNSET}"),
            Just("${"),
            Just("%(program_name)s"),
            Just("1MB"),
            Just("99999999999999999999KB"),
            Just("127.0.0.1:0"),
            Just("http://[::1"),
            Just("../../etc/x"),
            Just(""),
        ]
        .prop_map(toml_str),
        any::<String>().prop_map(quoted),
        proptest::collection::vec(
            prop_oneof![
                any::<i32>().prop_map(|n| n.to_string()),
                "[a-z]{0,4}".prop_map(|s| toml_str(&s)),
            ],
            0..4
        )
        .prop_map(|v| format!("[{}]", v.join(", "))),
        proptest::collection::btree_map("[A-Z_]{1,4}|[a-z]{1,3}", "[ -~]{0,6}", 0..3).prop_map(
            |m| {
                let parts: Vec<String> = m
                    .iter()
                    .map(|(k, v)| format!("{} = {}", toml_str(k), toml_str(v)))
                    .collect();
                format!("{{ {} }}", parts.join(", "))
            }
        ),
    ]
}

/// A TOML basic string holding `s` exactly.
fn toml_str(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                out.push_str(&format!("\\u{:04x}", c as u32))
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn section(header: String, keys: Vec<&'static str>) -> impl Strategy<Value = String> {
    proptest::collection::vec((proptest::sample::select(keys), toml_value()), 0..6).prop_map(
        move |kvs| {
            let mut s = format!("{header}\n");
            let mut seen = std::collections::HashSet::new();
            for (k, v) in kvs {
                // A repeated key is a TOML error; one is enough of those.
                if seen.insert(k) {
                    s.push_str(&format!("{k} = {v}\n"));
                }
            }
            s
        },
    )
}

fn toml_doc() -> impl Strategy<Value = String> {
    let program = "[a-z]{1,3}|[a-z]{1,2}[.:@ -][a-z]{1,2}|\"\"".prop_flat_map(|name| {
        let header = if name.starts_with('"') || name.contains([' ', '.', ':', '@']) {
            format!("[program.{}]", toml_str(name.trim_matches('"')))
        } else {
            format!("[program.{name}]")
        };
        section(header, keys(PROGRAM_KEYS))
    });
    let group =
        ("[a-z]{1,3}", proptest::collection::vec("[a-z]{1,3}", 0..3)).prop_map(|(g, ps)| {
            let list: Vec<String> = ps.iter().map(|p| toml_str(p)).collect();
            format!(
                "[group.{g}]\nprograms = [{}]\npriority = 5\n",
                list.join(", ")
            )
        });
    let include = proptest::collection::vec(
        prop_oneof![
            Just("a.toml"),
            Just("b.toml"),
            Just("agent.toml"),
            Just("*.toml"),
            Just("missing.toml"),
            Just("["),
            Just("/nonexistent/*"),
        ],
        0..3,
    )
    .prop_map(|v| {
        let list: Vec<String> = v.iter().map(|p| toml_str(p)).collect();
        format!("include = [{}]\n", list.join(", "))
    });
    (
        proptest::option::of(include),
        proptest::option::of(section("[agent]".into(), keys(AGENT_KEYS))),
        proptest::collection::vec(prop_oneof![program.boxed(), group.boxed()], 0..4),
    )
        .prop_map(|(inc, agent, rest)| {
            let mut s = inc.unwrap_or_default();
            s.extend(agent);
            for r in rest {
                s.push_str(&r);
            }
            s
        })
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn any_bytes_as_a_config_are_refused_with_a_location(
        b in proptest::collection::vec(any::<u8>(), 0..200)
    ) {
        let dir = tempfile::tempdir().unwrap();
        check_load(dir.path(), &b, &[])?;
    }

    #[test]
    fn a_toml_shaped_config_loads_or_says_where(
        main in toml_doc(),
        a in toml_doc(),
        b in toml_doc(),
    ) {
        let dir = tempfile::tempdir().unwrap();
        check_load(
            dir.path(),
            main.as_bytes(),
            &[("a.toml".into(), a), ("b.toml".into(), b)],
        )?;
    }
}

// ---- the supervisord importer ----

const INI_PROGRAM_KEYS: &[&str] = &[
    "command",
    "process_name",
    "numprocs",
    "numprocs_start",
    "priority",
    "autostart",
    "autorestart",
    "startsecs",
    "startretries",
    "exitcodes",
    "stopsignal",
    "stopwaitsecs",
    "stopasgroup",
    "killasgroup",
    "user",
    "redirect_stderr",
    "stdout_logfile",
    "stdout_logfile_maxbytes",
    "stdout_logfile_backups",
    "stderr_logfile",
    "stderr_logfile_maxbytes",
    "stderr_logfile_backups",
    "environment",
    "directory",
    "umask",
    "serverurl",
    "stdout_capture_maxbytes",
    "bogus",
];

const INI_OTHER_KEYS: &[&str] = &[
    "files",
    "programs",
    "priority",
    "logfile",
    "childlogdir",
    "environment",
    "identifier",
    "directory",
    "umask",
    "minfds",
    "nodaemon",
    "user",
    "file",
    "port",
    "username",
    "password",
    "chmod",
    "events",
    "buffer_size",
    "socket",
    "supervisor.rpcinterface_factory",
];

fn ini_value() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("%(program_name)s".to_owned()),
        Just("%(process_num)02d".to_owned()),
        Just("%(ENV_HOME)s/%(here)s".to_owned()),
        Just("%(".to_owned()),
        Just("%(nope)s".to_owned()),
        Just("%(program_name)".to_owned()),
        Just("%%(x)s %".to_owned()),
        Just("%(process_num)999999999d".to_owned()),
        Just("99999999999999999999999".to_owned()),
        Just("-1".to_owned()),
        Just("0".to_owned()),
        Just("1GB".to_owned()),
        Just("18446744073709551616KB".to_owned()),
        Just("true".to_owned()),
        Just("unexpected".to_owned()),
        Just("0,2,999".to_owned()),
        Just("A=\"1\",B='2',C=%(ENV_HOME)s".to_owned()),
        Just("A=\"unterminated".to_owned()),
        Just("/bin/sh -c 'echo hi'".to_owned()),
        Just("\"unterminated".to_owned()),
        Just("a ; comment".to_owned()),
        Just("*.conf other/*.ini ../x.conf".to_owned()),
        Just("inet://127.0.0.1:9001".to_owned()),
        Just("\u{e9}\u{200b}\u{1F600}".to_owned()),
        // A continuation line.
        Just("first\n  second".to_owned()),
        Just("\n\tonly continuation".to_owned()),
        "[ -~]{0,12}",
        any::<String>().prop_map(|s| s.replace(['\n', '\r'], " ")),
    ]
}

/// `count` lines of `key<sep>value` from `keys`; the separator is mostly
/// one supervisord takes.
fn ini_lines(keys: &'static [&'static str], count: usize) -> impl Strategy<Value = String> {
    let sep = prop_oneof![
        6 => Just("="),
        3 => Just(" = "),
        2 => Just(":"),
        1 => Just(" "),
    ];
    proptest::collection::vec((proptest::sample::select(keys), sep, ini_value()), 0..count)
        .prop_map(|kvs| {
            kvs.iter()
                .map(|(k, sep, v)| format!("{k}{sep}{v}\n"))
                .collect()
        })
}

fn ini_section() -> impl Strategy<Value = String> {
    // Programs mostly start valid (a command), so the rest of the keys are
    // reached rather than the missing command.
    let program = (
        "[a-z]{1,3}",
        prop_oneof![
            4 => Just("command=/bin/sh -c 'echo %(program_name)s'\n"),
            1 => Just(""),
        ],
        ini_lines(INI_PROGRAM_KEYS, 6),
    )
        .prop_map(|(name, cmd, rest)| format!("[program:{name}]\n{cmd}{rest}"));
    let header = prop_oneof![
        "group:[a-z]{1,3}",
        "fcgi-program:[a-z]{1,2}",
        "eventlistener:[a-z]{1,2}",
        Just("supervisord".to_owned()),
        Just("include".to_owned()),
        Just("unix_http_server".to_owned()),
        Just("inet_http_server".to_owned()),
        Just("supervisorctl".to_owned()),
        Just("rpcinterface:supervisor".to_owned()),
        Just("program:".to_owned()),
        "[ -~]{0,8}",
    ];
    let other =
        (header, ini_lines(INI_OTHER_KEYS, 5)).prop_map(|(h, rest)| format!("[{h}]\n{rest}"));
    prop_oneof![3 => program, 2 => other]
}

fn ini_doc() -> impl Strategy<Value = String> {
    (
        proptest::collection::vec(ini_section(), 0..4),
        prop_oneof![
            8 => Just(""),
            1 => Just("  leading continuation\n"),
            1 => Just("no section\n"),
            1 => Just("; comment\n# comment\n"),
            1 => Just("[unclosed\n"),
        ],
    )
        .prop_map(|(secs, head)| format!("{head}{}", secs.concat()))
}

fn check_import(dir: &Path, text: &[u8]) -> Result<(), TestCaseError> {
    let path = dir.join("supervisord.conf");
    std::fs::write(&path, text).unwrap();
    std::fs::write(dir.join("x.conf"), "[program:x]\ncommand=/bin/true\n").unwrap();
    let vars = HashMap::from([("HOME".to_owned(), "/home/x".to_owned())]);
    match fleet_agent::import::import_with(&path, &vars, "h1") {
        Ok(imported) => {
            for w in &imported.warnings {
                prop_assert!(!w.message.trim().is_empty(), "{w}");
                prop_assert!(w.line > 0, "a warning with no line: {w}");
            }
            // What the importer writes, the loader takes; only a user
            // name is left to the host the config will run on.
            let out = dir.join("out");
            std::fs::create_dir_all(&out).unwrap();
            let path = out.join("agent.toml");
            std::fs::write(&path, &imported.toml).unwrap();
            if let Err(errors) = Config::load_with(&path, &env()) {
                for e in &errors.0 {
                    prop_assert!(
                        e.message.contains("unknown user"),
                        "import wrote a config the loader refuses: {}\n--- from:\n{}\n--- wrote:\n{}",
                        e,
                        String::from_utf8_lossy(text),
                        imported.toml
                    );
                }
            }
        }
        Err(e) => {
            prop_assert!(!e.message.trim().is_empty(), "{e}");
            prop_assert!(
                e.line > 0 || e.message.starts_with("cannot read") || !e.file.exists(),
                "no line: {e}"
            );
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(config(384))]

    #[test]
    fn a_supervisord_config_imports_or_says_where(text in ini_doc()) {
        let dir = tempfile::tempdir().unwrap();
        check_import(dir.path(), text.as_bytes())?;
    }

    #[test]
    fn any_bytes_as_a_supervisord_config_never_panic(
        b in proptest::collection::vec(any::<u8>(), 0..200)
    ) {
        let dir = tempfile::tempdir().unwrap();
        check_import(dir.path(), &b)?;
    }
}

/// Import `text`, then load what it wrote: both must succeed.
fn import_then_load(text: &str) -> Config {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("supervisord.conf");
    std::fs::write(&path, text).unwrap();
    let vars = HashMap::from([("HOME".to_owned(), "/home/x".to_owned())]);
    let imported = fleet_agent::import::import_with(&path, &vars, "h1")
        .unwrap_or_else(|e| panic!("import refused: {e}"));
    let out = dir.path().join("agent.toml");
    std::fs::write(&out, &imported.toml).unwrap();
    Config::load_with(&out, &env())
        .unwrap_or_else(|e| panic!("the loader refused the import: {e}\n{}", imported.toml))
}

/// Found by `a_supervisord_config_imports_or_says_where`: `%(ENV_X)s` in a
/// process_name was written as `{X}`, which the loader refuses.
#[test]
fn an_environment_variable_in_a_process_name_is_resolved_at_import() {
    let c = import_then_load(
        "[program:a]\ncommand=/bin/true\nprocess_name=A=\"1\",B='2',C=%(ENV_HOME)s\n",
    );
    assert_eq!(c.processes[0].name, "A__1__B__2__C__home_x");
}

/// Found by `a_supervisord_config_imports_or_says_where`: a bad `port` was
/// written as a `listen` the loader refused, located in the generated file.
#[test]
fn a_bad_inet_http_server_port_is_refused_at_import_naming_its_line() {
    for port in ["1GB", "-1", "%(ENV_HOME)s", "host.example:9001"] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("supervisord.conf");
        std::fs::write(&path, format!("[inet_http_server]\nport={port}\n")).unwrap();
        let e = fleet_agent::import::import_with(&path, &HashMap::new(), "h1").unwrap_err();
        assert_eq!((e.file.as_path(), e.line), (path.as_path(), 2), "{e}");
        assert!(e.message.starts_with("[inet_http_server] port: "), "{e}");
    }
    let c = import_then_load("[inet_http_server]\nport=127.0.0.1:9001\n");
    assert_eq!(c.agent.listen, Some("127.0.0.1:9001".parse().unwrap()));
}

/// Found by `a_supervisord_config_imports_or_says_where`: a command with
/// an unclosed quote was written out for the loader to refuse.
#[test]
fn a_command_that_cannot_be_split_is_refused_at_import_naming_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("supervisord.conf");
    std::fs::write(&path, "[program:a]\ncommand=\"unterminated\n").unwrap();
    let e = fleet_agent::import::import_with(&path, &HashMap::new(), "h1").unwrap_err();
    assert_eq!(e.line, 2, "{e}");
    assert!(e.message.contains("cannot be split into arguments"), "{e}");
}

// ---- JSON bodies, through the daemons' one reader ----

fn json_error<T: serde::de::DeserializeOwned>(b: &[u8]) -> Result<(), TestCaseError> {
    if let Err(e) = fleet_daemon::http::json_body::<T>(b) {
        prop_assert!(
            e.message.starts_with("invalid JSON body: "),
            "{}",
            e.message
        );
        prop_assert!(
            e.message.len() > "invalid JSON body: ".len(),
            "{}",
            e.message
        );
        let r = axum::response::IntoResponse::into_response(e);
        prop_assert_eq!(r.status().as_u16(), 400);
    }
    Ok(())
}

proptest! {
    #![proptest_config(config(512))]

    /// Every body type either side accepts: a refusal is a 400 (never a
    /// panic, never a 500).
    #[test]
    fn any_bytes_as_a_json_body_are_a_400(
        b in prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..64),
            "\\{(\"(signal|wait|action|target|name|url|nonce|concurrency)\": ?(1|-1|true|null|\"[a-z]{0,3}\"|18446744073709551616|\\[\\]|\\{\\})(, )?){0,4}\\}?"
                .prop_map(String::into_bytes),
        ]
    ) {
        json_error::<ActionRequest>(&b)?;
        json_error::<ProofRequest>(&b)?;
        json_error::<OpRequest>(&b)?;
        json_error::<Registration>(&b)?;
    }
}

/// The message of a refused body names the field or the place it broke.
#[test]
fn a_refused_json_body_says_what_and_where() {
    let e = fleet_daemon::http::json_body::<ActionRequest>(b"{\"wait\": 3}").unwrap_err();
    assert!(e.message.contains("line 1 column"), "{}", e.message);
    let e = fleet_daemon::http::json_body::<OpRequest>(b"{\"action\": \"stop\"}").unwrap_err();
    assert!(
        e.message.contains("missing field `target`"),
        "{}",
        e.message
    );
}
