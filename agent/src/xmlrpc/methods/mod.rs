//! The `supervisor.*` and `system.*` methods: one table, [`METHODS`], split
//! by topic (`daemon.rs` the daemon itself, `process.rs` process info and
//! control, `log.rs` logs, `config.rs` the config file and groups,
//! `system.rs` introspection and multicall). Each method is one entry —
//! name, signature, help and handler — so dispatch, `system.listMethods`,
//! `methodHelp` and `methodSignature` all read the same rows and a name is
//! written once.
//!
//! Handlers translate to the owner's commands (`Handle::act`/`groups`/
//! `reload`/`shutdown`), fleet-api's selectors and signals, and snapshots —
//! the same ones `/v1` uses. Argument counts (from the signature), fault
//! codes and answer shapes follow supervisord's `rpcinterface.py` (see
//! reference/supervisor-xmlrpc.md).

mod config;
mod daemon;
mod log;
mod process;
mod system;

use super::info::{all_members, group_members, lookup, result};
use super::wire::{Code, Fault, Value};
use crate::logs::read::Budget;
use crate::supervisor::{unix_ms, Handle, ProcSnap};
use std::future::Future;
use std::pin::Pin;
use std::time::SystemTime;

/// One method of this face.
pub(super) struct Method {
    pub name: &'static str,
    /// The return type, then the argument types (supervisord's names).
    /// The argument count is checked against it before `run`.
    pub signature: &'static [&'static str],
    /// How many trailing arguments may be left out (the `wait` flags).
    pub optional: usize,
    /// What `system.methodHelp` answers.
    pub help: &'static str,
    pub run: Run,
}

/// A method's answer, to await.
pub(super) type Answer<'a> = Pin<Box<dyn Future<Output = Result<Value, Fault>> + Send + 'a>>;

/// A method's handler: `|c| Box::pin(handler(c))`.
pub(super) type Run = for<'a> fn(Call<'a>) -> Answer<'a>;

/// Every method, topic by topic.
const METHODS: &[&[Method]] = &[
    daemon::METHODS,
    process::METHODS,
    log::METHODS,
    config::METHODS,
    system::METHODS,
];

/// Every method, in table order.
fn all() -> impl Iterator<Item = &'static Method> {
    METHODS.iter().flat_map(|topic| topic.iter())
}

fn find(name: &str) -> Option<&'static Method> {
    all().find(|m| m.name == name)
}

/// Every method's name, sorted (what `system.listMethods` answers).
pub fn names() -> Vec<&'static str> {
    let mut v: Vec<&'static str> = all().map(|m| m.name).collect();
    v.sort_unstable();
    v
}

/// One call as its handler sees it.
pub(super) struct Call<'a> {
    pub h: &'a Handle,
    /// Caps what the log methods of the whole request answer.
    pub budget: &'a Budget,
    pub args: Args,
    /// Inside a `system.multicall` (which does not nest).
    pub nested: bool,
}

/// Positional arguments, their count already checked, read as Python
/// would call the method.
pub(super) struct Args {
    params: Vec<Value>,
}

impl Args {
    /// The arguments of a call of `m`, if their count fits its signature;
    /// else INCORRECT_PARAMETERS.
    fn of(m: &Method, params: Vec<Value>) -> Result<Args, Fault> {
        let max = m.signature.len() - 1;
        if (max - m.optional..=max).contains(&params.len()) {
            Ok(Args { params })
        } else {
            Err(Fault::new(Code::IncorrectParameters))
        }
    }

    pub fn get(&self, i: usize) -> Option<&Value> {
        self.params.get(i)
    }

    pub fn string(&self, i: usize) -> Result<String, Fault> {
        match self.params.get(i) {
            Some(Value::Str(s)) => Ok(s.clone()),
            Some(Value::Int(n)) => Ok(n.to_string()),
            _ => Err(Fault::new(Code::IncorrectParameters)),
        }
    }

    /// Python's `int(x)` of an int, a numeric string or a boolean.
    pub fn int(&self, i: usize) -> Result<i64, Fault> {
        match self.params.get(i) {
            Some(Value::Int(n)) => Ok(*n),
            Some(Value::Bool(b)) => Ok(i64::from(*b)),
            Some(Value::Str(s)) => s.trim().parse().map_err(|_| Fault::new(Code::BadArguments)),
            _ => Err(Fault::new(Code::BadArguments)),
        }
    }

    /// An optional `wait` flag, true by default.
    pub fn wait(&self, i: usize) -> Result<bool, Fault> {
        match self.params.get(i) {
            None => Ok(true),
            Some(Value::Bool(b)) => Ok(*b),
            Some(Value::Int(n)) => Ok(*n != 0),
            Some(_) => Err(Fault::new(Code::IncorrectParameters)),
        }
    }
}

/// Dispatch a call through the table. `system.multicall` answers each
/// call's raw value or `{faultCode, faultString}` (supervisord's quirk:
/// not `[value]`); nesting it is refused. One [`Budget`] caps the log
/// methods of the whole request, a multicall's calls included.
pub async fn call(h: &Handle, method: &str, params: Vec<Value>) -> Result<Value, Fault> {
    call_one(h, &Budget::default(), method, params, false).await
}

async fn call_one(
    h: &Handle,
    budget: &Budget,
    method: &str,
    params: Vec<Value>,
    nested: bool,
) -> Result<Value, Fault> {
    if method.starts_with("supervisor.") && h.snapshot().shutting_down {
        return Err(Fault::new(Code::ShutdownState));
    }
    let m = find(method).ok_or_else(|| Fault::new(Code::UnknownMethod))?;
    let args = Args::of(m, params)?;
    (m.run)(Call {
        h,
        budget,
        args,
        nested,
    })
    .await
}

fn now_ms() -> u64 {
    unix_ms(SystemTime::now())
}

/// The one process `spec` names; BAD_NAME for a group or an unknown name.
fn one(h: &Handle, spec: &str) -> Result<ProcSnap, Fault> {
    let snap = h.snapshot();
    match lookup(&snap, spec)? {
        (_, Some(p)) => Ok(p.clone()),
        (_, None) => Err(Fault::with(Code::BadName, spec)),
    }
}

/// A group's (or, with `None`, every) process the filter keeps, in start
/// order; BAD_NAME for an unknown group.
fn members(
    h: &Handle,
    group: Option<&str>,
    keep: fn(&ProcSnap) -> bool,
) -> Result<Vec<ProcSnap>, Fault> {
    let snap = h.snapshot();
    let all = match group {
        Some(g) => {
            let m = group_members(&snap, g);
            if m.is_empty() {
                return Err(Fault::with(Code::BadName, g));
            }
            m
        }
        None => all_members(&snap),
    };
    Ok(all.into_iter().filter(|p| keep(p)).cloned().collect())
}

/// A group call's answer: one result struct per process.
fn results(procs: &[ProcSnap], outcomes: Vec<Result<(), Fault>>) -> Value {
    Value::Array(
        procs
            .iter()
            .zip(outcomes)
            .map(|(p, r)| result(p, r))
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_name_once_and_signatures_whole() {
        let names = names();
        let mut unique = names.clone();
        unique.dedup();
        assert_eq!(names, unique, "a method listed twice");
        for m in all() {
            assert!(!m.signature.is_empty(), "{}: no return type", m.name);
            assert!(m.optional < m.signature.len(), "{}", m.name);
            assert!(!m.help.is_empty(), "{}: no help", m.name);
        }
    }
}
