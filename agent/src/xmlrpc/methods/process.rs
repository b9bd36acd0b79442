//! Processes: their info structs, and start, stop and signal by process,
//! group or all, waiting as `/v1` does (`Handle::act_each_and_wait`).
//! supervisord's RUNNING_STATES decide which processes a group call acts
//! on; a name that is a group acts on the group.

use super::super::info::{is_running, lookup, process_info, spec_of};
use super::super::wire::{Code, Fault, Value};
use super::{members, now_ms, one, results, Call, Method};
use crate::supervisor::{ActError, Acted, Handle, ProcSnap};
use fleet_api::{ExitKind, Outcome, ProcessState, Selector, Signal, Verb};

pub(super) const METHODS: &[Method] = &[
    Method {
        name: "supervisor.getProcessInfo",
        signature: &["struct", "string"],
        optional: 0,
        help: "The info struct of process NAME.",
        run: |c| Box::pin(get_info(c)),
    },
    Method {
        name: "supervisor.getAllProcessInfo",
        signature: &["array"],
        optional: 0,
        help: "Every process's info struct, by group then name.",
        run: |c| Box::pin(get_all_info(c)),
    },
    Method {
        name: "supervisor.startProcess",
        signature: &["boolean", "string", "boolean"],
        optional: 1,
        help: "Start process NAME (with WAIT, until RUNNING).",
        run: |c| Box::pin(start_process(c)),
    },
    Method {
        name: "supervisor.startProcessGroup",
        signature: &["array", "string", "boolean"],
        optional: 1,
        help: "Start every process of group NAME that is not running.",
        run: |c| Box::pin(start_process_group(c)),
    },
    Method {
        name: "supervisor.startAllProcesses",
        signature: &["array", "boolean"],
        optional: 1,
        help: "Start every process that is not running.",
        run: |c| Box::pin(start_all(c)),
    },
    Method {
        name: "supervisor.stopProcess",
        signature: &["boolean", "string", "boolean"],
        optional: 1,
        help: "Stop process NAME (with WAIT, until stopped).",
        run: |c| Box::pin(stop_process(c)),
    },
    Method {
        name: "supervisor.stopProcessGroup",
        signature: &["array", "string", "boolean"],
        optional: 1,
        help: "Stop every running process of group NAME.",
        run: |c| Box::pin(stop_process_group(c)),
    },
    Method {
        name: "supervisor.stopAllProcesses",
        signature: &["array", "boolean"],
        optional: 1,
        help: "Stop every running process.",
        run: |c| Box::pin(stop_all(c)),
    },
    Method {
        name: "supervisor.signalProcess",
        signature: &["boolean", "string", "string"],
        optional: 0,
        help: "Send SIGNAL (HUP, SIGHUP or a number) to process NAME.",
        run: |c| Box::pin(signal_process(c)),
    },
    Method {
        name: "supervisor.signalProcessGroup",
        signature: &["array", "string", "string"],
        optional: 0,
        help: "Send SIGNAL to every running process of group NAME.",
        run: |c| Box::pin(signal_process_group(c)),
    },
    Method {
        name: "supervisor.signalAllProcesses",
        signature: &["array", "string"],
        optional: 0,
        help: "Send SIGNAL to every running process.",
        run: |c| Box::pin(signal_all(c)),
    },
    Method {
        name: "supervisor.sendProcessStdin",
        signature: &["boolean", "string", "string"],
        optional: 0,
        help: "fleet gives programs /dev/null as stdin: NOT_RUNNING or NO_FILE.",
        run: |c| Box::pin(send_stdin(c)),
    },
];

async fn get_info(c: Call<'_>) -> Result<Value, Fault> {
    Ok(process_info(&one(c.h, &c.args.string(0)?)?, now_ms()))
}

async fn get_all_info(c: Call<'_>) -> Result<Value, Fault> {
    let snap = c.h.snapshot();
    let mut v: Vec<&ProcSnap> = snap.procs.iter().collect();
    v.sort_by(|x, y| (&x.info.group, &x.info.process).cmp(&(&y.info.group, &y.info.process)));
    let now = now_ms();
    Ok(Value::Array(
        v.into_iter().map(|p| process_info(p, now)).collect(),
    ))
}

async fn start_process(c: Call<'_>) -> Result<Value, Fault> {
    let (name, wait) = (c.args.string(0)?, c.args.wait(1)?);
    let snap = c.h.snapshot();
    let p = match lookup(&snap, &name)? {
        (g, None) => return start_group(c.h, Some(&g), wait).await,
        (_, Some(p)) => p.clone(),
    };
    if is_running(p.info.state) {
        return Err(Fault::with(Code::AlreadyStarted, name));
    }
    act_many(c.h, &[p], Verb::Start, None, wait)
        .await
        .remove(0)
        .map(|()| Value::Bool(true))
}

async fn start_process_group(c: Call<'_>) -> Result<Value, Fault> {
    start_group(c.h, Some(&c.args.string(0)?), c.args.wait(1)?).await
}

async fn start_all(c: Call<'_>) -> Result<Value, Fault> {
    start_group(c.h, None, c.args.wait(0)?).await
}

async fn stop_process(c: Call<'_>) -> Result<Value, Fault> {
    let (name, wait) = (c.args.string(0)?, c.args.wait(1)?);
    let snap = c.h.snapshot();
    let p = match lookup(&snap, &name)? {
        (g, None) => return stop_group(c.h, Some(&g), wait).await,
        (_, Some(p)) => p.clone(),
    };
    if !is_running(p.info.state) {
        return Err(Fault::with(Code::NotRunning, name));
    }
    act_many(c.h, &[p], Verb::Stop, None, wait)
        .await
        .remove(0)
        .map(|()| Value::Bool(true))
}

async fn stop_process_group(c: Call<'_>) -> Result<Value, Fault> {
    stop_group(c.h, Some(&c.args.string(0)?), c.args.wait(1)?).await
}

async fn stop_all(c: Call<'_>) -> Result<Value, Fault> {
    stop_group(c.h, None, c.args.wait(0)?).await
}

async fn signal_process(c: Call<'_>) -> Result<Value, Fault> {
    let (name, given) = (c.args.string(0)?, c.args.string(1)?);
    let snap = c.h.snapshot();
    let p = match lookup(&snap, &name)? {
        (g, None) => return signal_group(c.h, Some(&g), &given).await,
        (_, Some(p)) => p.clone(),
    };
    let sig = parse_signal(&given)?;
    if !is_running(p.info.state) {
        return Err(Fault::with(Code::NotRunning, name));
    }
    act_many(c.h, &[p], Verb::Signal, Some(sig), false)
        .await
        .remove(0)
        .map(|()| Value::Bool(true))
}

async fn signal_process_group(c: Call<'_>) -> Result<Value, Fault> {
    signal_group(c.h, Some(&c.args.string(0)?), &c.args.string(1)?).await
}

async fn signal_all(c: Call<'_>) -> Result<Value, Fault> {
    signal_group(c.h, None, &c.args.string(0)?).await
}

async fn send_stdin(c: Call<'_>) -> Result<Value, Fault> {
    let name = c.args.string(0)?;
    if !matches!(c.args.get(1), Some(Value::Str(_) | Value::Base64(_))) {
        return Err(Fault::new(Code::IncorrectParameters));
    }
    let p = one(c.h, &name)?;
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

async fn signal_group(h: &Handle, group: Option<&str>, given: &str) -> Result<Value, Fault> {
    let procs = members(h, group, running)?;
    let r = match parse_signal(given) {
        Ok(sig) => act_many(h, &procs, Verb::Signal, Some(sig), false).await,
        Err(f) => vec![Err(f); procs.len()],
    };
    Ok(results(&procs, r))
}

fn parse_signal(given: &str) -> Result<i32, Fault> {
    let sig: Signal = given
        .parse()
        .map_err(|_| Fault::with(Code::BadSignal, given))?;
    Ok(crate::sys::signal::to_nix(sig) as i32)
}

fn act_fault(e: ActError, spec: &str) -> Fault {
    match e {
        ActError::NoMatch(_) => Fault::with(Code::BadName, spec),
        ActError::ShuttingDown => Fault::new(Code::ShutdownState),
    }
}

fn selector(p: &ProcSnap) -> Selector {
    Selector::Process {
        group: p.info.group.clone(),
        process: p.info.process.clone(),
    }
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
        .act_each_and_wait(
            procs.iter().map(selector).collect(),
            verb,
            signal,
            false,
            waited,
        )
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
