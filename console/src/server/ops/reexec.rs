//! One host of a `reexec` op: the agent re-executes in place
//! (`AgentClient::reexec`), and its verdict says whether every program
//! kept its pid — read from the agent's status before and after, so an
//! upgrade that restarted anything is a failure, not an ok.

use crate::server::agent_client::{AgentClient, CallError};
use fleet_api::{HostResult, ProcessInfo, Verdict};
use std::collections::BTreeMap;
use std::time::Duration;

fn pids(ps: &[ProcessInfo]) -> BTreeMap<String, Option<u32>> {
    ps.iter().map(|p| (p.name.clone(), p.pid)).collect()
}

pub(super) async fn one_host(client: &AgentClient, host: &str, timeout: Duration) -> HostResult {
    let result = |verdict, message: String| HostResult::new(host, verdict, message, vec![]);
    let unreachable = |e: CallError| match e {
        CallError::Unreachable(m) => result(Verdict::Unreachable, m),
        CallError::Agent { message, .. } => {
            result(Verdict::Failed, format!("agent refused: {message}"))
        }
    };
    let before = match client.status().await {
        Ok(st) => pids(&st.processes),
        Err(e) => return unreachable(e),
    };
    let done = match tokio::time::timeout(timeout, client.reexec(timeout)).await {
        Err(_) => {
            return result(
                Verdict::Unreachable,
                format!("no answer within {} ms", timeout.as_millis()),
            )
        }
        Ok(Err(e)) => return unreachable(e),
        Ok(Ok(r)) => r,
    };
    let after = match client.status().await {
        Ok(st) => pids(&st.processes),
        Err(e) => return unreachable(e),
    };
    // A program that kept running must have kept its pid; one that
    // exited meanwhile on its own is not the upgrade's doing.
    let moved: Vec<String> = before
        .iter()
        .filter(|(n, p)| p.is_some() && after.get(*n).is_some_and(|q| q.is_some() && q != *p))
        .map(|(n, _)| n.clone())
        .collect();
    let kept = before.values().filter(|p| p.is_some()).count();
    if !moved.is_empty() {
        return result(
            Verdict::Failed,
            format!(
                "re-executed, but these have a new pid: {}",
                moved.join(", ")
            ),
        );
    }
    result(
        Verdict::Ok,
        format!(
            "re-executed in place: pid {}, {} -> {}, {} ms; {kept} running programs kept their pids",
            done.pid, done.previous_version, done.version, done.took_ms
        ),
    )
}
