//! Running the real `fleetctl`: a clean environment and its captured result.

use super::*;
use std::process::Stdio;

/// Exit code and output of one `fleetctl` run.
pub struct Out {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Out {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}\n{}", self.stdout, self.stderr))
    }
}

impl std::fmt::Debug for Out {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {}\n--- stdout\n{}--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

/// `fleetctl` with a clean environment: no FLEET_* variables, no user
/// config file, no colour, no stdin.
pub fn fleetctl_cmd() -> Command {
    let mut c = Command::new(bin("fleetctl"));
    c.env_remove("FLEET_CONSOLE")
        .env_remove("FLEET_AGENT")
        .env_remove("FLEET_TOKEN")
        .env_remove("FLEET_TOKEN_FILE")
        .env("FLEETCTL_CONFIG", "/dev/null")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null());
    c
}

/// Run `c` to completion.
pub fn run(mut c: Command) -> Out {
    let o = c.output().expect("run fleetctl");
    Out {
        code: o.status.code().expect("fleetctl killed by a signal"),
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    }
}
