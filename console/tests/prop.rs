//! Property tests of what the console parses (issue #14, fuzzing): host
//! selectors (`web-*,@workers,role=worker`) and console.toml. Properties:
//! no panic; a refusal names the selector (or the file) and says what; a
//! selection is sorted, unique, and only names hosts that exist. Case
//! counts are bounded: the suite runs on every `cargo test`.

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
