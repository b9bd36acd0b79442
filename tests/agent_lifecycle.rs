//! The agent supervising real processes: start, exit handling, backoff,
//! FATAL, spawn failures, restart counts.

mod common;
use common::*;
use std::time::Duration;

const T: Duration = Duration::from_secs(20);

#[test]
fn starts_programs_and_reports_them_running() {
    let a = Agent::start(
        r#"
[program.web]
command = "TESTPROG sleep"
numprocs = 2
process_name = "{program}_{num:02}"
startsecs = 0
"#,
    );
    let p = a.wait_state("web:web_00", "RUNNING", T);
    assert!(p["pid"].as_i64().unwrap() > 0);
    a.wait_state("web:web_01", "RUNNING", T);
    let st = a.status();
    assert_eq!(st["processes"].as_array().unwrap().len(), 2);
    assert_eq!(st["version"], env!("CARGO_PKG_VERSION"));
}
