//! Property tests of supervisord's face (issue #23 item 6): the XML-RPC
//! request parser on arbitrary bytes and on well-formed `methodCall`s with
//! arbitrary nested values (within and past the nesting limit), and every
//! method's argument decoding — each listed method called with arbitrary
//! parameter lists against a real in-process owner with real programs.
//! Properties: no panic; a parse either succeeds with the method named or
//! is refused with a reason; every answer, value or fault, is bounded (by
//! the log cap `logs::read::REQUEST_MAX` plus what the status of a few
//! processes takes). Bounded case counts and a fixed seed, as in prop.rs.

use fleet_agent::config::Config;
use fleet_agent::supervisor;
use fleet_agent::xmlrpc::{self, Value};
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{RngSeed, TestRunner};
use std::path::Path;

fn config(cases: u32) -> ProptestConfig {
    let env = ProptestConfig::default();
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
            RngSeed::Fixed(23)
        },
        failure_persistence: None,
        ..env
    }
}

/// Strings a caller might send: names of real processes and groups,
/// namespec shapes, signals, and hostile text.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("web".to_string()),
        Just("web:web_0".to_string()),
        Just("web:*".to_string()),
        Just("cron".to_string()),
        Just("*".to_string()),
        Just("HUP".to_string()),
        Just("SIGKILL".to_string()),
        Just("".to_string()),
        Just("../../etc/passwd".to_string()),
        Just("group:".to_string()),
        "[ -~]{0,40}",
        ".{0,20}",
    ]
}

fn int() -> impl Strategy<Value = i64> {
    prop_oneof![
        Just(0),
        Just(-1),
        Just(1),
        Just(i64::MIN),
        Just(i64::MAX),
        Just(i32::MIN as i64),
        Just(i32::MAX as i64),
        Just(-(1 << 30)),
        any::<i64>(),
    ]
}

fn value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        int().prop_map(Value::Int),
        any::<bool>().prop_map(Value::Bool),
        text().prop_map(Value::Str),
        any::<f64>().prop_map(Value::Double),
        Just(Value::Nil),
        "[A-Za-z0-9+/=]{0,12}".prop_map(Value::Base64),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec(("[a-zA-Z]{1,10}", inner), 0..4).prop_map(Value::Struct),
        ]
    })
}

/// The XML text of a value (what a client would send).
fn xml(v: &Value) -> String {
    fn esc(s: &str) -> String {
        s.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
    }
    let inner = match v {
        Value::Int(i) => format!("<i8>{i}</i8>"),
        Value::Bool(b) => format!("<boolean>{}</boolean>", u8::from(*b)),
        Value::Str(s) => format!("<string>{}</string>", esc(s)),
        Value::Double(d) => format!("<double>{d}</double>"),
        Value::DateTime(d) => format!("<dateTime.iso8601>{}</dateTime.iso8601>", esc(d)),
        Value::Base64(b) => format!("<base64>{b}</base64>"),
        Value::Nil => "<nil/>".to_string(),
        Value::Array(a) => format!(
            "<array><data>{}</data></array>",
            a.iter().map(xml).collect::<String>()
        ),
        Value::Struct(m) => format!(
            "<struct>{}</struct>",
            m.iter()
                .map(|(k, v)| format!("<member><name>{}</name>{}</member>", esc(k), xml(v)))
                .collect::<String>()
        ),
    };
    format!("<value>{inner}</value>")
}

fn call_xml(method: &str, params: &[Value]) -> String {
    format!(
        "<?xml version=\"1.0\"?><methodCall><methodName>{method}</methodName><params>{}</params></methodCall>",
        params
            .iter()
            .map(|p| format!("<param>{}</param>", xml(p)))
            .collect::<String>()
    )
}

proptest! {
    #![proptest_config(config(400))]

    #[test]
    fn the_parser_never_panics_on_arbitrary_bytes(body in prop::collection::vec(any::<u8>(), 0..600)) {
        let _ = xmlrpc::parse_call(&body);
    }

    #[test]
    fn the_parser_never_panics_on_mangled_calls(params in prop::collection::vec(value(), 0..4), cut in any::<prop::sample::Index>(), junk in "[<>/&;a-z0-9 ]{0,8}") {
        let text = call_xml("supervisor.getState", &params);
        let at = cut.index(text.len() + 1);
        let at = (0..=at).rev().find(|i| text.is_char_boundary(*i)).unwrap_or(0);
        let mangled = format!("{}{junk}{}", &text[..at], &text[at..]);
        let _ = xmlrpc::parse_call(mangled.as_bytes());
    }

    #[test]
    fn well_formed_calls_parse_with_their_method(method in "[a-zA-Z.]{1,30}", params in prop::collection::vec(value(), 0..5)) {
        let call = xmlrpc::parse_call(call_xml(&method, &params).as_bytes())
            .map_err(|e| TestCaseError::fail(format!("refused: {e}")))?;
        prop_assert_eq!(call.method, method);
        prop_assert_eq!(call.params.len(), params.len());
    }
}

#[test]
fn nesting_past_the_limit_is_refused_without_a_panic() {
    for depth in [10usize, 63, 64, 65, 200, 5000] {
        let body = format!(
            "<?xml version=\"1.0\"?><methodCall><methodName>m</methodName><params><param>{}{}</param></params></methodCall>",
            "<value><array><data>".repeat(depth),
            "</data></array></value>".repeat(depth)
        );
        let r = xmlrpc::parse_call(body.as_bytes());
        if depth > 64 {
            assert!(r.is_err(), "depth {depth} accepted");
        }
    }
}

const PROGRAMS: &str = r#"
[program.web]
command = "sleep 600"
numprocs = 2
process_name = "web_{num}"
startsecs = 0
stopwaitsecs = 1

[program.cron]
command = ["/bin/sh", "-c", "echo hello; exec sleep 600"]
startsecs = 0
stopwaitsecs = 1
"#;

fn load(dir: &Path) -> Config {
    let path = dir.join("agent.toml");
    std::fs::write(
        &path,
        format!(
            "[agent]\nsocket = {:?}\nlog_dir = {:?}\n\n{PROGRAMS}",
            dir.join("agent.sock").display().to_string(),
            dir.join("logs").display().to_string(),
        ),
    )
    .unwrap();
    Config::load(&path).unwrap_or_else(|e| panic!("{e}"))
}

/// Every listed method, with arbitrary parameter lists, against a real
/// owner: no panic, every answer bounded. `shutdown` and `restart` would
/// end the owner the rest of the cases need; they are called last, with
/// arbitrary parameters too.
#[test]
fn every_method_decodes_arbitrary_arguments_without_panic_and_answers_bounded() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let (h, done) =
            supervisor::start(load(dir.path()), tokio::runtime::Handle::current()).unwrap();
        let methods: Vec<&str> = xmlrpc::method_names().collect();
        let (last, first): (Vec<&str>, Vec<&str>) = methods
            .iter()
            .partition(|m| matches!(**m, "supervisor.shutdown" | "supervisor.restart"));
        let mut runner = TestRunner::new(config(6));
        let params = prop::collection::vec(value(), 0..5);
        // A bound for every answer: the log budget plus a status's worth.
        const BOUND: usize = (4 << 20) * 2 + (1 << 20);
        for method in first
            .iter()
            .chain(last.iter())
            .chain(["system.multicall", "no.such"].iter())
        {
            for _ in 0..runner.config().cases {
                let p = params.new_tree(&mut runner).unwrap().current();
                let answer = match xmlrpc::call(&h, method, p.clone()).await {
                    Ok(v) => xmlrpc::encode_response(&v),
                    Err(f) => f.encode(),
                };
                assert!(
                    answer.len() < BOUND,
                    "{method} {p:?}: {} bytes",
                    answer.len()
                );
            }
        }
        h.shutdown().await;
        let exit = tokio::time::timeout(std::time::Duration::from_secs(20), done)
            .await
            .expect("owner finished")
            .expect("owner thread alive");
        for p in exit.pumps {
            let _ = tokio::time::timeout(std::time::Duration::from_secs(20), p).await;
        }
    });
}
