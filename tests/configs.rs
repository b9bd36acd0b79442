//! Every example config in configs/ is checked, so none of them rots.

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
        ("configs/agent.toml", "4 programs, 7 processes"),
        ("configs/demo/agent.toml", "4 programs, 7 processes"),
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
