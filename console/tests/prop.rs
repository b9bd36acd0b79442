//! Property tests of what the console parses (issue #14, fuzzing): host
//! selectors (`web-*,@workers,role=worker`), console.toml, and the JSON
//! bodies of `POST /v1/ops` and `POST /v1/session` through the real router
//! (validation and plan included). Properties: no panic; nothing answers
//! 5xx; a refusal is fleet's error shape and names the selector, field or
//! limit; a selection is sorted, unique, and only names hosts that exist.
//! Case counts are bounded: the suite runs on every `cargo test`.

use fleet_console::server::config;
use fleet_console::server::select::{resolve, HostFacts};
use proptest::prelude::*;
use proptest::test_runner::RngSeed;
use std::collections::BTreeMap;

/// Bounded cases and a fixed seed: a run is reproducible, so CI never
/// flakes on a case no one has seen. `PROPTEST_CASES=N` and
/// `PROPTEST_RNG_SEED=N` explore further. No regression files: a failure
/// prints its minimal case, which becomes a named test next to the fix.
fn cfg(cases: u32) -> ProptestConfig {
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

fn selector_like() -> impl Strategy<Value = String> {
    let part = prop_oneof![
        "[a-c]{1,3}(-[0-9])?",
        "[a-c*?]{1,3}",
        "\\[[a-c!^-]{0,3}\\]?[a-c*]{0,2}",
        "@[a-z]{0,3}",
        "[a-z]{0,3}=[a-z]{0,3}",
        Just("all".to_owned()),
        Just("*".to_owned()),
        Just("**".to_owned()),
        Just("[".to_owned()),
        Just("".to_owned()),
        "[ -~]{0,6}",
        any::<String>(),
    ];
    proptest::collection::vec(part, 1..4).prop_map(|v| v.join(","))
}

fn hosts() -> impl Strategy<Value = Vec<(String, BTreeMap<String, String>)>> {
    proptest::collection::vec(
        (
            "[a-c]{1,3}(-[0-9])?",
            proptest::collection::btree_map("[a-c]{1,2}", "[a-c]{1,2}", 0..2),
        ),
        0..6,
    )
}

fn groups() -> impl Strategy<Value = BTreeMap<String, Vec<String>>> {
    proptest::collection::btree_map(
        "[a-c]{1,2}",
        proptest::collection::vec(prop_oneof!["[a-c*?]{1,3}", Just("[".to_owned())], 0..3),
        0..3,
    )
}

proptest! {
    #![proptest_config(cfg(512))]

    #[test]
    fn a_host_selector_resolves_or_says_why(
        sel in selector_like(),
        hosts in hosts(),
        groups in groups(),
    ) {
        let facts: Vec<HostFacts> = hosts
            .iter()
            .map(|(n, t)| HostFacts { name: n, tags: t })
            .collect();
        match resolve(&sel, &facts, &groups) {
            Ok(picked) => {
                prop_assert!(!picked.is_empty());
                prop_assert!(picked.windows(2).all(|w| w[0] < w[1]), "{:?}", picked);
                for p in &picked {
                    prop_assert!(hosts.iter().any(|(n, _)| n == p), "{} not a host", p);
                }
                // `all` is every host.
                if sel.split(',').any(|p| p.trim() == "all") {
                    let mut every: Vec<&String> = hosts.iter().map(|(n, _)| n).collect();
                    every.sort();
                    every.dedup();
                    prop_assert_eq!(picked.iter().collect::<Vec<_>>(), every);
                }
            }
            Err(e) => {
                prop_assert!(e.contains(&format!("{sel:?}")), "{}", e);
            }
        }
    }
}

const CONSOLE_KEYS: &[&str] = &[
    "[console]\nlisten = \"127.0.0.1:0\"\n",
    "[console]\nlisten = \"nope\"\n",
    "[console]\ninsecure_no_auth = true\n",
    "[console]\nstale_after_secs = -1\n",
    "[console]\nstale_after_secs = 18446744073709551616\n",
    "[[tokens]]\nname = \"ops\"\ntoken = \"a\"\nrole = \"operator\"\n",
    "[[tokens]]\nname = \"ops\"\ntoken = \"0123456789abcdef0123456789\"\nrole = \"root\"\n",
    "[[tokens]]\nname = \"v\"\ntoken_file = \"/nonexistent\"\nrole = \"viewer\"\n",
    "[[agent]]\nname = \"a\"\nurl = \"http://10.0.0.1:1\"\n",
    "[[agent]]\nname = \"\"\nurl = \"unix:\"\n",
    "[[agent]]\nname = \"b c\"\nurl = \"https://[::1\"\ntoken = \"\"\n",
    "[host_groups]\nw = [\"[\", \"w-*\"]\n",
    "[enrollment]\ntoken = \"short\"\n",
    "[enrollment]\nrate_per_sec = 0\nmax_agents = -5\n",
    "bogus = 1\n",
    "[console\n",
];

proptest! {
    #![proptest_config(cfg(256))]

    /// console.toml: arbitrary text and documents built from real sections
    /// with bad values load or fail with a message, never a panic.
    #[test]
    fn a_console_config_loads_or_says_why(
        text in prop_oneof![
            any::<String>(),
            proptest::collection::vec(proptest::sample::select(CONSOLE_KEYS), 0..5)
                .prop_map(|v| v.concat()),
        ]
    ) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("console.toml");
        if let Err(e) = config::parse(&text, &path) {
            prop_assert!(!e.trim().is_empty());
        }
    }
}

/// A selector naming a host group whose pattern is not a glob is refused
/// with the selector and the pattern named.
#[test]
fn a_bad_group_pattern_is_named() {
    let groups: BTreeMap<String, Vec<String>> = [("w".to_string(), vec!["[".to_string()])].into();
    let tags = BTreeMap::new();
    let facts = [HostFacts {
        name: "w-1",
        tags: &tags,
    }];
    let e = resolve("@w", &facts, &groups).unwrap_err();
    assert!(e.contains("\"@w\"") && e.contains("\"[\""), "{e}");
}

// ---- JSON bodies through the console's router ----

const TOKEN: &str = "prop-operator-token-0123456789abcdef";

/// The console's routes over a store in `dir`, two configured agents on a
/// closed loopback port (an op that runs fails per host, quickly).
fn console_router(dir: &std::path::Path) -> axum::Router {
    let text = format!(
        "[console]\nlisten = \"127.0.0.1:0\"\ndata_dir = {:?}\n\
         [[tokens]]\nname = \"ops\"\ntoken = \"{TOKEN}\"\nrole = \"operator\"\n\
         [[agent]]\nname = \"w-1\"\nurl = \"http://127.0.0.1:1\"\ntoken = \"agent-token-0123456789abcdef\"\n\
         [[agent]]\nname = \"w-2\"\nurl = \"http://127.0.0.1:1\"\ntoken = \"agent-token-0123456789abcdef\"\n",
        dir.display().to_string()
    );
    let cfg = config::parse(&text, &dir.join("console.toml")).unwrap_or_else(|e| panic!("{e}"));
    let app = fleet_console::server::App::new(cfg).unwrap_or_else(|e| panic!("{e}"));
    fleet_console::server::http::router(app)
}

/// `key: value` or nothing, the value picked from `values`.
fn field(
    key: &'static str,
    values: Vec<serde_json::Value>,
) -> impl Strategy<Value = Option<(String, serde_json::Value)>> {
    proptest::option::of(proptest::sample::select(values).prop_map(move |v| (key.to_owned(), v)))
}

/// An `OpRequest` that mostly parses, with every field at its edges, so
/// the plan's checks are reached; or a login body.
fn op_body() -> impl Strategy<Value = serde_json::Value> {
    use serde_json::json;
    let op = (
        proptest::sample::select(vec!["restart", "stop", "start", "signal", "explode"]),
        proptest::sample::select(vec!["all", "g:p", "web", "group:g", "bad sel", ""]),
        (
            field(
                "hosts",
                vec![
                    json!("w-*"),
                    json!("@nope"),
                    json!("w-1, w-2"),
                    json!(""),
                    json!("zz"),
                    json!("a,,b"),
                ],
            ),
            field(
                "signal",
                vec![
                    json!("HUP"),
                    json!("0"),
                    json!("99"),
                    json!("SIGKILL"),
                    json!(15),
                ],
            ),
            field(
                "strategy",
                vec![json!("rolling"), json!("parallel"), json!("sideways")],
            ),
            field(
                "concurrency",
                vec![
                    json!(0),
                    json!(1),
                    json!(100_000),
                    json!(100_001),
                    json!(u64::MAX),
                ],
            ),
            field(
                "batch",
                vec![
                    json!("1"),
                    json!("0"),
                    json!("25%"),
                    json!("0%"),
                    json!("101%"),
                    json!("x"),
                ],
            ),
        ),
        (
            field("max_failures", vec![json!(0), json!(1), json!(u64::MAX)]),
            field(
                "timeout_ms",
                vec![
                    json!(0),
                    json!(1),
                    json!(86_400_000u64),
                    json!(86_400_001u64),
                    json!(u64::MAX),
                ],
            ),
            field("dry_run", vec![json!(true), json!(true), json!(false)]),
            field(
                "only",
                vec![
                    json!(["w-1/g:p"]),
                    json!(["nohost"]),
                    json!(["/"]),
                    json!([]),
                ],
            ),
        ),
    )
        .prop_map(|(action, target, (a, b, c, d, e), (f, g, h, i))| {
            let mut m = serde_json::Map::new();
            m.insert("action".into(), json!(action));
            m.insert("target".into(), json!(target));
            for (k, v) in [a, b, c, d, e, f, g, h, i].into_iter().flatten() {
                m.insert(k, v);
            }
            serde_json::Value::Object(m)
        });
    let login =
        prop_oneof![Just(TOKEN.to_owned()), "[ -~]{0,40}"].prop_map(|t| json!({ "token": t }));
    prop_oneof![4 => op, 1 => login]
}

proptest! {
    #![proptest_config(cfg(128))]

    /// Whatever the body, `POST /v1/ops` and `POST /v1/session` answer
    /// below 500 and every refusal is fleet's error shape with a message.
    #[test]
    fn a_json_body_through_the_router_is_answered_or_refused_clearly(
        doc in op_body(),
        raw in proptest::option::weighted(0.1, proptest::collection::vec(any::<u8>(), 0..32)),
    ) {
        use tower::ServiceExt;
        let path = if doc.get("token").is_some() { "/v1/session" } else { "/v1/ops" };
        let body: Vec<u8> = raw.unwrap_or_else(|| doc.to_string().into_bytes());
        let dir = tempfile::tempdir().unwrap();
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let (status, answer) = rt.block_on(async {
            let req = axum::http::Request::post(path)
                .header("content-type", "application/json")
                .header("authorization", format!("Bearer {TOKEN}"))
                .body(axum::body::Body::from(body.clone()))
                .unwrap();
            let r = console_router(dir.path()).oneshot(req).await.unwrap();
            let status = r.status().as_u16();
            let bytes = http_body_util::BodyExt::collect(r.into_body()).await.unwrap().to_bytes();
            (status, bytes)
        });
        let text = String::from_utf8_lossy(&answer);
        prop_assert!(status < 500, "{} {} for {:?}", status, text, String::from_utf8_lossy(&body));
        if status >= 400 {
            let v: serde_json::Value = serde_json::from_slice(&answer)
                .map_err(|e| TestCaseError::fail(format!("{status} not JSON ({e}): {text}")))?;
            let msg = v["error"]["message"].as_str().unwrap_or("");
            prop_assert!(!msg.trim().is_empty(), "{}", text);
            prop_assert!(v["error"]["code"].is_string(), "{}", text);
        }
    }
}
