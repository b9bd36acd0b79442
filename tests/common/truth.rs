//! "One truth" checks: the console's copy of a host's processes against
//! the agent's own `GET /v1/status`, field by field.

use super::console::Console;
use super::{poll_until, Agent};
use serde_json::Value;
use std::time::Duration;

/// What both sides must agree on. CPU and memory are sampled when asked; a
/// live process's description is its uptime at that moment, so it must
/// have the agent's form and is then compared as such.
pub fn normal(p: &Value) -> Value {
    let mut p = p.clone();
    let o = p.as_object_mut().unwrap();
    o.remove("host");
    o.remove("cpu_seconds");
    o.remove("rss_bytes");
    let live = matches!(
        o["state"].as_str(),
        Some("STARTING" | "RUNNING" | "STOPPING")
    );
    if live {
        if let Some(pid) = o["pid"].as_u64() {
            let d = o["description"].as_str().unwrap_or_default();
            let form = d.starts_with(&format!("pid {pid}, uptime "));
            o.insert("description".into(), Value::from(form));
        }
    }
    p
}

/// A status's processes, normalised and sorted by name.
pub fn by_name(list: &Value) -> Vec<Value> {
    let mut v: Vec<Value> = list.as_array().unwrap().iter().map(normal).collect();
    v.sort_by(|a, b| a["name"].as_str().cmp(&b["name"].as_str()));
    v
}

/// Console and agent agree on every process of `host` within `within`, or
/// the test fails naming the first field that differs.
pub fn agree(c: &Console, a: &Agent, host: &str, within: Duration, step: &str) -> Vec<Value> {
    let mut last = String::new();
    poll_until(within, || {
        let agent = by_name(&a.status()["processes"]);
        let console = by_name(&c.get(&format!("/v1/status?hosts={host}"))["processes"]);
        if agent == console {
            return Some(agent);
        }
        last = first_difference(&agent, &console);
        None
    })
    .unwrap_or_else(|| panic!("{step}: console and agent disagree after {within:?}: {last}"))
}

pub fn first_difference(agent: &[Value], console: &[Value]) -> String {
    let names = |l: &[Value]| l.iter().map(|p| p["name"].to_string()).collect::<Vec<_>>();
    if names(agent) != names(console) {
        return format!(
            "processes: agent {:?}, console {:?}",
            names(agent),
            names(console)
        );
    }
    for (a, c) in agent.iter().zip(console) {
        for (k, v) in a.as_object().unwrap() {
            if c.get(k) != Some(v) {
                return format!(
                    "{} {k}: agent {v}, console {}",
                    a["name"],
                    c.get(k).unwrap_or(&Value::Null)
                );
            }
        }
    }
    "extra fields in the console's copy".into()
}

/// The process `name` of a process list.
pub fn find<'a>(procs: &'a [Value], name: &str) -> &'a Value {
    procs
        .iter()
        .find(|p| p["name"] == name)
        .unwrap_or_else(|| panic!("no {name} in {procs:?}"))
}
