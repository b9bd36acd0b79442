//! Property tests of the wire's parsers (issue #14, fuzzing): every
//! selector, signal and batch spec, and every JSON body type, on arbitrary
//! and on near-valid input. Properties: no panic; a refusal is an error
//! whose message names the input and what is accepted; what parses prints
//! back (Display / serialize) to something that parses to the same value.
//! Case counts are bounded (the suite runs on every `cargo test`).

use fleet_api::{
    ActionRequest, Batch, OpRequest, ProofRequest, Registration, Selectable, Selector, Signal,
};
use proptest::prelude::*;
use proptest::test_runner::RngSeed;

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

/// Text that is near a selector: names from its alphabet, its separators,
/// and a few characters it refuses.
fn selector_like() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-zA-Z0-9_.@:*-]{0,12}",
        "(group:|all|\\*:)?[a-z0-9_@-]{0,6}(:[a-z0-9*_-]{0,6})?",
        any::<String>(),
        "[a-z]{1,4}[ /\\\\\u{0}\u{e9}\u{200b}%][a-z]{0,4}",
    ]
}

#[derive(Debug, Clone)]
struct P {
    group: String,
    program: String,
    process: String,
}

impl Selectable for P {
    fn group(&self) -> &str {
        &self.group
    }
    fn program(&self) -> &str {
        &self.program
    }
    fn process(&self) -> &str {
        &self.process
    }
}

fn host() -> impl Strategy<Value = Vec<P>> {
    let name = "[ab]{1,2}";
    proptest::collection::vec(
        (name, name, name).prop_map(|(group, program, process)| P {
            group,
            program,
            process,
        }),
        0..6,
    )
}

proptest! {
    #![proptest_config(config(512))]

    #[test]
    fn a_selector_parses_or_says_why(s in selector_like()) {
        match s.parse::<Selector>() {
            Ok(sel) => {
                let shown = sel.to_string();
                prop_assert_eq!(shown.parse::<Selector>(), Ok(sel), "{:?} -> {:?}", s, shown);
            }
            Err(e) => {
                prop_assert!(e.0.contains(&format!("{s:?}")), "{e}");
                prop_assert!(e.0.contains("expected all, group:NAME"), "{e}");
            }
        }
    }

    /// `select` is `matches` over the host, in the host's order, and `all`
    /// names everything.
    #[test]
    fn select_is_matches_over_the_host(s in "(group:)?[ab]{1,2}(:[ab*]{1,2})?|all", host in host()) {
        let Ok(sel) = s.parse::<Selector>() else { return Ok(()) };
        let picked: Vec<*const P> = sel.select(&host).into_iter().map(|p| p as *const P).collect();
        let matched: Vec<*const P> = host
            .iter()
            .filter(|p| sel.matches(*p, &host))
            .map(|p| p as *const P)
            .collect();
        prop_assert_eq!(&picked, &matched);
        if sel == Selector::All {
            prop_assert_eq!(picked.len(), host.len());
        }
    }

    #[test]
    fn a_signal_parses_or_says_why(s in prop_oneof![
        "(sig|SIG|Sig)?[A-Za-z]{1,6}",
        "[ +-]?[0-9]{1,25}[ ]?",
        any::<String>(),
    ]) {
        match s.parse::<Signal>() {
            Ok(sig) => {
                prop_assert_eq!(sig.to_string().parse::<Signal>(), Ok(sig));
                prop_assert_eq!(sig.number().to_string().parse::<Signal>(), Ok(sig));
                prop_assert!((1..=31).contains(&sig.number()));
                let json = serde_json::to_string(&sig).unwrap();
                prop_assert_eq!(serde_json::from_str::<Signal>(&json).unwrap(), sig);
            }
            Err(e) => {
                prop_assert!(e.0.contains(&format!("{s:?}")), "{e}");
                prop_assert!(e.0.contains("1-31"), "{e}");
            }
        }
    }

    #[test]
    fn a_signal_number_is_in_the_set_or_refused(n in any::<i64>()) {
        let r = serde_json::from_str::<Signal>(&n.to_string());
        prop_assert_eq!(r.is_ok(), (1..=31).contains(&n), "{:?}", r);
    }

    #[test]
    fn a_batch_parses_or_says_why(s in prop_oneof![
        "[ ]?[+-]?[0-9]{1,25}%?[ ]?",
        "[0-9]{1,3}[ ]?%",
        any::<String>(),
    ], fleet in prop_oneof![0..1000usize, any::<usize>()]) {
        match s.parse::<Batch>() {
            Ok(b) => {
                prop_assert_eq!(b.to_string().parse::<Batch>(), Ok(b));
                let n = b.size(fleet);
                prop_assert!(n >= 1 && n <= fleet.max(1), "{b} of {fleet} = {n}");
            }
            Err(e) => {
                prop_assert!(e.0.contains(&format!("{s:?}")), "{e}");
                prop_assert!(e.0.contains("percentage"), "{e}");
            }
        }
    }

    /// Arbitrary bytes into every body type: an error or a value, never a
    /// panic; a value serializes back to an equal value.
    #[test]
    fn any_bytes_into_a_body_never_panic(b in proptest::collection::vec(any::<u8>(), 0..64)) {
        round_trip::<ActionRequest>(&b)?;
        round_trip::<OpRequest>(&b)?;
        round_trip::<Registration>(&b)?;
        round_trip::<ProofRequest>(&b)?;
    }

    /// JSON objects with the real keys and values of every JSON type.
    #[test]
    fn body_shaped_json_round_trips(doc in body_like()) {
        let b = doc.to_string();
        round_trip::<ActionRequest>(b.as_bytes())?;
        round_trip::<OpRequest>(b.as_bytes())?;
        round_trip::<Registration>(b.as_bytes())?;
        round_trip::<ProofRequest>(b.as_bytes())?;
    }
}

fn round_trip<T>(bytes: &[u8]) -> Result<(), TestCaseError>
where
    T: serde::de::DeserializeOwned + serde::Serialize + PartialEq + std::fmt::Debug,
{
    match serde_json::from_slice::<T>(bytes) {
        Ok(v) => {
            let again: T = serde_json::from_str(&serde_json::to_string(&v).unwrap())
                .map_err(|e| TestCaseError::fail(format!("{v:?} does not round-trip: {e}")))?;
            prop_assert_eq!(again, v);
        }
        Err(e) => prop_assert!(!e.to_string().is_empty()),
    }
    Ok(())
}

/// Every key any body type has, plus strangers.
const KEYS: &[&str] = &[
    "action",
    "target",
    "hosts",
    "signal",
    "strategy",
    "concurrency",
    "batch",
    "max_failures",
    "timeout_ms",
    "dry_run",
    "only",
    "wait",
    "name",
    "url",
    "tags",
    "version",
    "agent_token",
    "nonce",
    "token",
    "bogus",
];

fn json_value() -> impl Strategy<Value = serde_json::Value> {
    use serde_json::{json, Value};
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        Just(json!(u64::MAX)),
        Just(json!(-1)),
        any::<f64>().prop_map(|f| json!(f)),
        prop_oneof![
            Just("restart"),
            Just("stop"),
            Just("signal"),
            Just("rolling"),
            Just("parallel"),
            Just("all"),
            Just("HUP"),
            Just("25%"),
            Just("http://127.0.0.1:1"),
        ]
        .prop_map(Value::from),
        any::<String>().prop_map(Value::from),
    ];
    leaf.prop_recursive(2, 8, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            proptest::collection::btree_map("[a-z]{1,3}", inner, 0..3)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn body_like() -> impl Strategy<Value = serde_json::Value> {
    proptest::collection::vec((proptest::sample::select(KEYS), json_value()), 0..8).prop_map(
        |pairs| {
            serde_json::Value::Object(pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
        },
    )
}
