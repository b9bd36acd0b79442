//! The daemon itself: versions, identification, state, pid, shutdown,
//! restart, and the main log fleet-agent does not keep.

use super::super::logtail::NO_MAIN_LOG;
use super::super::wire::{Code, Fault, Value};
use super::{Call, Method};
use crate::supervisor::{ActError, ReloadError};
use fleet_api::{Selector, Verb};

pub(super) const METHODS: &[Method] = &[
    Method {
        name: "supervisor.getAPIVersion",
        signature: &["string"],
        optional: 0,
        help: "The XML-RPC API version: 3.0.",
        run: |c| Box::pin(api_version(c)),
    },
    Method {
        name: "supervisor.getVersion",
        signature: &["string"],
        optional: 0,
        help: "Deprecated alias of getAPIVersion.",
        run: |c| Box::pin(api_version(c)),
    },
    Method {
        name: "supervisor.getSupervisorVersion",
        signature: &["string"],
        optional: 0,
        help: "fleet-agent's version.",
        run: |c| Box::pin(supervisor_version(c)),
    },
    Method {
        name: "supervisor.getIdentification",
        signature: &["string"],
        optional: 0,
        help: "The identification string: supervisor.",
        run: |c| Box::pin(identification(c)),
    },
    Method {
        name: "supervisor.getState",
        signature: &["struct"],
        optional: 0,
        help: "The daemon's state: {statecode, statename}.",
        run: |c| Box::pin(state(c)),
    },
    Method {
        name: "supervisor.getPID",
        signature: &["int"],
        optional: 0,
        help: "fleet-agent's pid.",
        run: |c| Box::pin(pid(c)),
    },
    Method {
        name: "supervisor.readLog",
        signature: &["string", "int", "int"],
        optional: 0,
        help: "fleet-agent keeps no log file: always NO_FILE.",
        run: |c| Box::pin(no_main_log(c)),
    },
    Method {
        name: "supervisor.readMainLog",
        signature: &["string", "int", "int"],
        optional: 0,
        help: "Alias of readLog.",
        run: |c| Box::pin(no_main_log(c)),
    },
    Method {
        name: "supervisor.clearLog",
        signature: &["boolean"],
        optional: 0,
        help: "fleet-agent keeps no log file: always NO_FILE.",
        run: |c| Box::pin(no_main_log(c)),
    },
    Method {
        name: "supervisor.shutdown",
        signature: &["boolean"],
        optional: 0,
        help: "Stop every process, then fleet-agent.",
        run: |c| Box::pin(shutdown(c)),
    },
    Method {
        name: "supervisor.sendRemoteCommEvent",
        signature: &["boolean", "string", "string"],
        optional: 0,
        help: "Send a REMOTE_COMMUNICATION event (type, data) to the event listeners subscribed to it.",
        run: |c| Box::pin(remote_comm(c)),
    },
    Method {
        name: "supervisor.restart",
        signature: &["boolean"],
        optional: 0,
        help: "Reload the config and restart every process.",
        run: |c| Box::pin(restart(c)),
    },
];

async fn api_version(_: Call<'_>) -> Result<Value, Fault> {
    Ok(Value::str("3.0"))
}

async fn supervisor_version(_: Call<'_>) -> Result<Value, Fault> {
    Ok(Value::str(env!("CARGO_PKG_VERSION")))
}

async fn identification(_: Call<'_>) -> Result<Value, Fault> {
    Ok(Value::str("supervisor"))
}

async fn state(_: Call<'_>) -> Result<Value, Fault> {
    Ok(Value::record([
        ("statecode", Value::Int(1)),
        ("statename", Value::str("RUNNING")),
    ]))
}

async fn pid(_: Call<'_>) -> Result<Value, Fault> {
    Ok(Value::Int(std::process::id() as i64))
}

async fn no_main_log(_: Call<'_>) -> Result<Value, Fault> {
    Err(Fault::with(Code::NoFile, NO_MAIN_LOG))
}

async fn remote_comm(c: Call<'_>) -> Result<Value, Fault> {
    let kind = c.args.string(0)?;
    let data = c.args.string(1)?;
    match c.h.remote_event(kind, data).await {
        true => Ok(Value::Bool(true)),
        false => Err(Fault::new(Code::ShutdownState)),
    }
}

async fn shutdown(c: Call<'_>) -> Result<Value, Fault> {
    c.h.shutdown().await;
    Ok(Value::Bool(true))
}

/// supervisord re-reads its config and restarts every program;
/// fleet-agent stays up (its pid and sockets do not change).
async fn restart(c: Call<'_>) -> Result<Value, Fault> {
    c.h.reload(None).await.map_err(|e| match e {
        ReloadError::Invalid(m) => Fault::with(Code::CantReread, m),
        ReloadError::ShuttingDown => Fault::new(Code::ShutdownState),
    })?;
    match c.h.act(Selector::All, Verb::Restart, None, false).await {
        Ok(_) | Err(ActError::NoMatch(_)) => Ok(Value::Bool(true)),
        Err(ActError::ShuttingDown) => Err(Fault::new(Code::ShutdownState)),
    }
}
