//! The `supervisor.*` and `system.*` methods, translated to the owner's
//! commands (`Handle::act`/`groups`/`reload`/`shutdown`), fleet-api's
//! selectors and signals, and snapshots — the same ones `/v1` uses.
//! Argument counts, fault codes and answer shapes follow supervisord's
//! `rpcinterface.py` (see reference/supervisor-xmlrpc.md).

use super::catalog::METHODS;
use super::info::{all_members, group_members, is_running, lookup, process_info, result, spec_of};
use super::logtail::{channel, clear_logs, read_log, tail_log, NO_MAIN_LOG};
use super::wire::{Code, Fault, Value};
use crate::logs::read::Budget;
use crate::supervisor::{
    unix_ms, ActError, Acted, GroupError, GroupOp, GroupReply, Handle, ProcSnap, ReloadError,
};
use fleet_api::{ExitKind, Outcome, ProcessState, Selector, Signal, Verb};
use std::time::SystemTime;

/// Positional arguments, checked as Python would call the method.
struct Args {
    params: Vec<Value>,
}

impl Args {
    /// `min..=max` arguments, else INCORRECT_PARAMETERS.
    fn arity(&self, min: usize, max: usize) -> Result<(), Fault> {
        if (min..=max).contains(&self.params.len()) {
            Ok(())
        } else {
            Err(Fault::new(Code::IncorrectParameters))
        }
    }

    fn string(&self, i: usize) -> Result<String, Fault> {
        match self.params.get(i) {
            Some(Value::Str(s)) => Ok(s.clone()),
            Some(Value::Int(n)) => Ok(n.to_string()),
            _ => Err(Fault::new(Code::IncorrectParameters)),
        }
    }

    /// Python's `int(x)` of an int, a numeric string or a boolean.
    fn int(&self, i: usize) -> Result<i64, Fault> {
        match self.params.get(i) {
            Some(Value::Int(n)) => Ok(*n),
            Some(Value::Bool(b)) => Ok(i64::from(*b)),
            Some(Value::Str(s)) => s.trim().parse().map_err(|_| Fault::new(Code::BadArguments)),
            _ => Err(Fault::new(Code::BadArguments)),
        }
    }

    /// An optional `wait` flag, true by default.
    fn wait(&self, i: usize) -> Result<bool, Fault> {
        match self.params.get(i) {
            None => Ok(true),
            Some(Value::Bool(b)) => Ok(*b),
            Some(Value::Int(n)) => Ok(*n != 0),
            Some(_) => Err(Fault::new(Code::IncorrectParameters)),
        }
    }
}

fn act_fault(e: ActError, spec: &str) -> Fault {
    match e {
        ActError::NoMatch(_) => Fault::with(Code::BadName, spec),
        ActError::ShuttingDown => Fault::new(Code::ShutdownState),
    }
}

fn group_fault(e: GroupError) -> Fault {
    match e {
        GroupError::CantReread(m) => Fault::with(Code::CantReread, m),
        GroupError::BadName(m) => Fault::with(Code::BadName, m),
        GroupError::AlreadyAdded(m) => Fault::with(Code::AlreadyAdded, m),
        GroupError::StillRunning(m) => Fault::with(Code::StillRunning, m),
        GroupError::Failed(m) => Fault::with(Code::Failed, m),
        GroupError::ShuttingDown => Fault::new(Code::ShutdownState),
    }
}

fn selector(p: &ProcSnap) -> Selector {
    Selector::Process {
        group: p.info.group.clone(),
        process: p.info.process.clone(),
    }
}

fn now_ms() -> u64 {
    unix_ms(SystemTime::now())
}

/// Run `verb` on each process (one owner command each, in the given
/// order), wait as `/v1` does (`Handle::act_each_and_wait`), and answer
/// per process.
async fn act_many(
    h: &Handle,
    procs: &[ProcSnap],
    verb: Verb,
    signal: Option<i32>,
    wait: bool,
) -> Vec<Result<(), Fault>> {
    let waited = wait && verb != Verb::Signal;
    let acted = h
        .act_each_and_wait(procs.iter().map(selector).collect(), verb, signal, waited)
        .await;
    let snap = h.snapshot();
    procs
        .iter()
        .zip(acted)
        .map(|(p, a)| {
            let spec = spec_of(p);
            let Acted {
                touched: t,
                result: r,
            } = match a {
                Ok(mut each) if each.len() == 1 => each.remove(0),
                Ok(_) => return Err(Fault::with(Code::BadName, spec)),
                Err(e) => return Err(act_fault(e, &spec)),
            };
            let now = snap.get(&t.name);
            let spawn_failed = now.is_some_and(|p| {
                matches!(p.info.state, ProcessState::Backoff | ProcessState::Fatal)
                    && p.attempts > t.attempts_before
                    && p.info
                        .exit_status
                        .as_ref()
                        .is_some_and(|x| x.kind == ExitKind::SpawnFailed)
            });
            match (verb, r.outcome) {
                (Verb::Start, _) if spawn_failed => Err(Fault::with(Code::SpawnError, spec)),
                (_, Outcome::Ok | Outcome::Already) => Ok(()),
                (Verb::Start | Verb::Restart, _) if !waited => Ok(()),
                (Verb::Start | Verb::Restart, _) => {
                    Err(Fault::with(Code::AbnormalTermination, spec))
                }
                (_, _) => Err(Fault::with(Code::Failed, format!("{spec}: {}", r.message))),
            }
        })
        .collect()
}

fn results(procs: &[ProcSnap], outcomes: Vec<Result<(), Fault>>) -> Value {
    Value::Array(
        procs
            .iter()
            .zip(outcomes)
            .map(|(p, r)| result(p, r))
            .collect(),
    )
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

fn not_running(p: &ProcSnap) -> bool {
    !is_running(p.info.state)
}

fn running(p: &ProcSnap) -> bool {
    is_running(p.info.state)
}

async fn start_group(h: &Handle, group: Option<&str>, wait: bool) -> Result<Value, Fault> {
    let procs = members(h, group, not_running)?;
    let r = act_many(h, &procs, Verb::Start, None, wait).await;
    Ok(results(&procs, r))
}

async fn stop_group(h: &Handle, group: Option<&str>, wait: bool) -> Result<Value, Fault> {
    let mut procs = members(h, group, running)?;
    procs.reverse();
    let r = act_many(h, &procs, Verb::Stop, None, wait).await;
    Ok(results(&procs, r))
}

fn parse_signal(given: &str) -> Result<i32, Fault> {
    let sig: Signal = given
        .parse()
        .map_err(|_| Fault::with(Code::BadSignal, given))?;
    Ok(crate::sys::signal::to_nix(sig) as i32)
}

async fn signal_group(h: &Handle, group: Option<&str>, given: &str) -> Result<Value, Fault> {
    let procs = members(h, group, running)?;
    let r = match parse_signal(given) {
        Ok(sig) => act_many(h, &procs, Verb::Signal, Some(sig), false).await,
        Err(f) => vec![Err(f); procs.len()],
    };
    Ok(results(&procs, r))
}

fn one(h: &Handle, spec: &str) -> Result<ProcSnap, Fault> {
    let snap = h.snapshot();
    match lookup(&snap, spec)? {
        (_, Some(p)) => Ok(p.clone()),
        (_, None) => Err(Fault::with(Code::BadName, spec)),
    }
}

fn config_info(r: &crate::supervisor::Reread) -> Value {
    let mut specs: Vec<_> = r.config.processes.iter().collect();
    specs.sort_by(|a, b| (&a.group, &a.name).cmp(&(&b.group, &b.name)));
    let path = |p: &Option<std::path::PathBuf>| {
        p.as_ref()
            .map_or("none".to_owned(), |p| p.display().to_string())
    };
    Value::Array(
        specs
            .into_iter()
            .map(|s| {
                let stderr = if s.redirect_stderr {
                    "none".to_owned()
                } else {
                    path(&s.stderr.path)
                };
                Value::record([
                    ("autostart", Value::Bool(s.autostart)),
                    ("directory", Value::str(path(&s.directory))),
                    (
                        "uid",
                        Value::str(s.user.as_ref().map_or("none".into(), |u| u.name.clone())),
                    ),
                    ("command", Value::str(shell_words::join(&s.argv))),
                    (
                        "exitcodes",
                        Value::Array(s.exitcodes.iter().map(|c| Value::Int(*c as i64)).collect()),
                    ),
                    ("group", Value::str(&s.group)),
                    ("group_prio", Value::Int(s.priority as i64)),
                    ("inuse", Value::Bool(r.in_use.contains(&s.group))),
                    ("killasgroup", Value::Bool(s.killasgroup)),
                    ("name", Value::str(&s.name)),
                    ("process_prio", Value::Int(s.priority as i64)),
                    ("redirect_stderr", Value::Bool(s.redirect_stderr)),
                    ("startretries", Value::Int(s.startretries as i64)),
                    ("startsecs", Value::Int(s.startsecs.as_secs() as i64)),
                    ("stdout_capture_maxbytes", Value::Int(0)),
                    ("stdout_events_enabled", Value::Bool(false)),
                    ("stdout_logfile", Value::str(path(&s.stdout.path))),
                    (
                        "stdout_logfile_backups",
                        Value::Int(s.stdout.backups as i64),
                    ),
                    (
                        "stdout_logfile_maxbytes",
                        Value::Int(s.stdout.maxbytes as i64),
                    ),
                    ("stdout_syslog", Value::Bool(false)),
                    ("stopsignal", Value::Int(s.stopsignal as i64)),
                    ("stopwaitsecs", Value::Int(s.stopwaitsecs.as_secs() as i64)),
                    ("stderr_capture_maxbytes", Value::Int(0)),
                    ("stderr_events_enabled", Value::Bool(false)),
                    ("stderr_logfile", Value::str(stderr)),
                    (
                        "stderr_logfile_backups",
                        Value::Int(s.stderr.backups as i64),
                    ),
                    (
                        "stderr_logfile_maxbytes",
                        Value::Int(s.stderr.maxbytes as i64),
                    ),
                    ("stderr_syslog", Value::Bool(false)),
                    ("serverurl", Value::str("auto")),
                ])
            })
            .collect(),
    )
}

/// Dispatch one call (not `system.multicall`, see [`call`]).
/// `budget` caps what the log methods of the whole request answer.
async fn call_one(
    h: &Handle,
    budget: &Budget,
    method: &str,
    params: Vec<Value>,
) -> Result<Value, Fault> {
    let a = Args { params };
    if method.starts_with("supervisor.") && h.snapshot().shutting_down {
        return Err(Fault::new(Code::ShutdownState));
    }
    let t = Value::Bool(true);
    match method {
        "supervisor.getAPIVersion" | "supervisor.getVersion" => {
            a.arity(0, 0)?;
            Ok(Value::str("3.0"))
        }
        "supervisor.getSupervisorVersion" => {
            a.arity(0, 0)?;
            Ok(Value::str(env!("CARGO_PKG_VERSION")))
        }
        "supervisor.getIdentification" => {
            a.arity(0, 0)?;
            Ok(Value::str("supervisor"))
        }
        "supervisor.getState" => {
            a.arity(0, 0)?;
            Ok(Value::record([
                ("statecode", Value::Int(1)),
                ("statename", Value::str("RUNNING")),
            ]))
        }
        "supervisor.getPID" => {
            a.arity(0, 0)?;
            Ok(Value::Int(std::process::id() as i64))
        }
        "supervisor.readLog" | "supervisor.readMainLog" => {
            a.arity(2, 2)?;
            Err(Fault::with(Code::NoFile, NO_MAIN_LOG))
        }
        "supervisor.clearLog" => {
            a.arity(0, 0)?;
            Err(Fault::with(Code::NoFile, NO_MAIN_LOG))
        }
        "supervisor.shutdown" => {
            a.arity(0, 0)?;
            h.shutdown().await;
            Ok(t)
        }
        "supervisor.restart" => {
            // supervisord re-reads its config and restarts every program;
            // fleet-agent stays up (its pid and sockets do not change).
            a.arity(0, 0)?;
            h.reload(None).await.map_err(|e| match e {
                ReloadError::Invalid(m) => Fault::with(Code::CantReread, m),
                ReloadError::ShuttingDown => Fault::new(Code::ShutdownState),
            })?;
            match h.act(Selector::All, Verb::Restart, None).await {
                Ok(_) | Err(ActError::NoMatch(_)) => Ok(t),
                Err(ActError::ShuttingDown) => Err(Fault::new(Code::ShutdownState)),
            }
        }
        "supervisor.getProcessInfo" => {
            a.arity(1, 1)?;
            Ok(process_info(&one(h, &a.string(0)?)?, now_ms()))
        }
        "supervisor.getAllProcessInfo" => {
            a.arity(0, 0)?;
            let snap = h.snapshot();
            let mut v: Vec<&ProcSnap> = snap.procs.iter().collect();
            v.sort_by(|x, y| {
                (&x.info.group, &x.info.process).cmp(&(&y.info.group, &y.info.process))
            });
            let now = now_ms();
            Ok(Value::Array(
                v.into_iter().map(|p| process_info(p, now)).collect(),
            ))
        }
        "supervisor.getAllConfigInfo" => {
            a.arity(0, 0)?;
            match h.groups(GroupOp::Reread).await.map_err(group_fault)? {
                GroupReply::Reread(r) => Ok(config_info(&r)),
                GroupReply::Done => Err(Fault::new(Code::Failed)),
            }
        }
        "supervisor.startProcess" => {
            a.arity(1, 2)?;
            let (name, wait) = (a.string(0)?, a.wait(1)?);
            let snap = h.snapshot();
            let p = match lookup(&snap, &name)? {
                (g, None) => return start_group(h, Some(&g), wait).await,
                (_, Some(p)) => p.clone(),
            };
            if is_running(p.info.state) {
                return Err(Fault::with(Code::AlreadyStarted, name));
            }
            act_many(h, &[p], Verb::Start, None, wait)
                .await
                .remove(0)
                .map(|()| t)
        }
        "supervisor.startProcessGroup" => {
            a.arity(1, 2)?;
            start_group(h, Some(&a.string(0)?), a.wait(1)?).await
        }
        "supervisor.startAllProcesses" => {
            a.arity(0, 1)?;
            start_group(h, None, a.wait(0)?).await
        }
        "supervisor.stopProcess" => {
            a.arity(1, 2)?;
            let (name, wait) = (a.string(0)?, a.wait(1)?);
            let snap = h.snapshot();
            let p = match lookup(&snap, &name)? {
                (g, None) => return stop_group(h, Some(&g), wait).await,
                (_, Some(p)) => p.clone(),
            };
            if !is_running(p.info.state) {
                return Err(Fault::with(Code::NotRunning, name));
            }
            act_many(h, &[p], Verb::Stop, None, wait)
                .await
                .remove(0)
                .map(|()| t)
        }
        "supervisor.stopProcessGroup" => {
            a.arity(1, 2)?;
            stop_group(h, Some(&a.string(0)?), a.wait(1)?).await
        }
        "supervisor.stopAllProcesses" => {
            a.arity(0, 1)?;
            stop_group(h, None, a.wait(0)?).await
        }
        "supervisor.signalProcess" => {
            a.arity(2, 2)?;
            let (name, given) = (a.string(0)?, a.string(1)?);
            let snap = h.snapshot();
            let p = match lookup(&snap, &name)? {
                (g, None) => return signal_group(h, Some(&g), &given).await,
                (_, Some(p)) => p.clone(),
            };
            let sig = parse_signal(&given)?;
            if !is_running(p.info.state) {
                return Err(Fault::with(Code::NotRunning, name));
            }
            act_many(h, &[p], Verb::Signal, Some(sig), false)
                .await
                .remove(0)
                .map(|()| t)
        }
        "supervisor.signalProcessGroup" => {
            a.arity(2, 2)?;
            signal_group(h, Some(&a.string(0)?), &a.string(1)?).await
        }
        "supervisor.signalAllProcesses" => {
            a.arity(1, 1)?;
            signal_group(h, None, &a.string(0)?).await
        }
        "supervisor.sendProcessStdin" => {
            a.arity(2, 2)?;
            let name = a.string(0)?;
            if !matches!(a.params.get(1), Some(Value::Str(_) | Value::Base64(_))) {
                return Err(Fault::new(Code::IncorrectParameters));
            }
            let p = one(h, &name)?;
            if !p.info.state.has_pid() || p.info.state == ProcessState::Stopping {
                return Err(Fault::with(Code::NotRunning, name));
            }
            // supervisord answers NO_FILE when the child's stdin is closed
            // (EPIPE); fleet never keeps a stdin pipe.
            Err(Fault::with(
                Code::NoFile,
                format!("{name}: fleet gives programs /dev/null as stdin"),
            ))
        }
        "supervisor.readProcessStdoutLog"
        | "supervisor.readProcessLog"
        | "supervisor.readProcessStderrLog" => {
            a.arity(3, 3)?;
            let name = a.string(0)?;
            let (offset, length) = (a.int(1)?, a.int(2)?);
            let p = one(h, &name)?;
            match channel(&p, method.ends_with("StderrLog")) {
                Some((stream, file)) => {
                    read_log(&stream, file.as_deref(), &name, (offset, length), budget)
                        .await
                        .map(Value::Str)
                }
                None => Err(Fault::with(
                    Code::NoFile,
                    format!("{name}: stderr goes to stdout"),
                )),
            }
        }
        "supervisor.tailProcessStdoutLog"
        | "supervisor.tailProcessLog"
        | "supervisor.tailProcessStderrLog" => {
            a.arity(3, 3)?;
            let name = a.string(0)?;
            let (offset, length) = (a.int(1)?, a.int(2)?);
            let p = one(h, &name)?;
            let file = channel(&p, method.ends_with("StderrLog")).and_then(|(_, f)| f);
            let (data, offset, overflow) =
                tail_log(file.as_deref(), (offset, length), budget).await?;
            Ok(Value::Array(vec![
                Value::Str(data),
                Value::Int(offset),
                Value::Bool(overflow),
            ]))
        }
        "supervisor.clearProcessLogs" | "supervisor.clearProcessLog" => {
            a.arity(1, 1)?;
            clear_logs(&one(h, &a.string(0)?)?).await.map(|()| t)
        }
        "supervisor.clearAllProcessLogs" => {
            a.arity(0, 0)?;
            let procs = members(h, None, |_| true)?;
            let mut r = Vec::with_capacity(procs.len());
            for p in &procs {
                r.push(clear_logs(p).await);
            }
            Ok(results(&procs, r))
        }
        "supervisor.reloadConfig" => {
            a.arity(0, 0)?;
            match h.groups(GroupOp::Reread).await.map_err(group_fault)? {
                GroupReply::Reread(r) => {
                    let names = |v: &[String]| Value::Array(v.iter().map(Value::str).collect());
                    Ok(Value::Array(vec![Value::Array(vec![
                        names(&r.added),
                        names(&r.changed),
                        names(&r.removed),
                    ])]))
                }
                GroupReply::Done => Err(Fault::new(Code::Failed)),
            }
        }
        "supervisor.addProcessGroup" => {
            a.arity(1, 1)?;
            h.groups(GroupOp::Add(a.string(0)?))
                .await
                .map_err(group_fault)?;
            Ok(t)
        }
        "supervisor.removeProcessGroup" => {
            a.arity(1, 1)?;
            h.groups(GroupOp::Remove(a.string(0)?))
                .await
                .map_err(group_fault)?;
            Ok(t)
        }
        "system.listMethods" => {
            a.arity(0, 0)?;
            Ok(Value::Array(
                METHODS.iter().map(|(n, _, _)| Value::str(*n)).collect(),
            ))
        }
        "system.methodHelp" | "system.methodSignature" => {
            a.arity(1, 1)?;
            let name = a.string(0)?;
            let (_, sig, help) = METHODS
                .iter()
                .find(|(n, _, _)| *n == name)
                .ok_or_else(|| Fault::new(Code::SignatureUnsupported))?;
            Ok(if method == "system.methodHelp" {
                Value::str(*help)
            } else {
                Value::Array(sig.iter().map(|s| Value::str(*s)).collect())
            })
        }
        "system.multicall" => Err(Fault::new(Code::IncorrectParameters)),
        _ => Err(Fault::new(Code::UnknownMethod)),
    }
}

/// Dispatch a call. `system.multicall` answers each call's raw value or
/// `{faultCode, faultString}` (supervisord's quirk: not `[value]`);
/// nesting it is refused.
pub async fn call(h: &Handle, method: &str, params: Vec<Value>) -> Result<Value, Fault> {
    let budget = Budget::default();
    if method != "system.multicall" {
        return call_one(h, &budget, method, params).await;
    }
    let [Value::Array(calls)] = params.as_slice() else {
        return Err(Fault::new(Code::IncorrectParameters));
    };
    let mut out = Vec::with_capacity(calls.len());
    for c in calls {
        let name = match c.member("methodName") {
            Some(Value::Str(s)) => s.clone(),
            _ => {
                out.push(Fault::new(Code::IncorrectParameters).to_value());
                continue;
            }
        };
        let params = match c.member("params") {
            Some(Value::Array(p)) => p.clone(),
            None => Vec::new(),
            Some(_) => {
                out.push(Fault::new(Code::IncorrectParameters).to_value());
                continue;
            }
        };
        out.push(match call_one(h, &budget, &name, params).await {
            Ok(v) => v,
            Err(f) => f.to_value(),
        });
    }
    Ok(Value::Array(out))
}
