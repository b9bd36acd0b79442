//! Process logs: read, tail and clear, through `logtail.rs` (and so
//! `logs/read.rs`), within the request's [`Budget`](crate::logs::read::Budget).

use super::super::logtail::{channel, clear_logs, read_log, tail_log};
use super::super::wire::{Code, Fault, Value};
use super::{members, one, results, Call, Method};

pub(super) const METHODS: &[Method] = &[
    Method {
        name: "supervisor.readProcessStdoutLog",
        signature: &["string", "string", "int", "int"],
        optional: 0,
        help: "LENGTH bytes of NAME's stdout log from OFFSET (negative OFFSET, LENGTH 0: the last -OFFSET bytes).",
        run: |c| Box::pin(read(c, false)),
    },
    Method {
        name: "supervisor.readProcessLog",
        signature: &["string", "string", "int", "int"],
        optional: 0,
        help: "Alias of readProcessStdoutLog.",
        run: |c| Box::pin(read(c, false)),
    },
    Method {
        name: "supervisor.readProcessStderrLog",
        signature: &["string", "string", "int", "int"],
        optional: 0,
        help: "LENGTH bytes of NAME's stderr log from OFFSET (negative OFFSET, LENGTH 0: the last -OFFSET bytes).",
        run: |c| Box::pin(read(c, true)),
    },
    Method {
        name: "supervisor.tailProcessStdoutLog",
        signature: &["array", "string", "int", "int"],
        optional: 0,
        help: "[bytes, offset, overflow] of NAME's stdout log.",
        run: |c| Box::pin(tail(c, false)),
    },
    Method {
        name: "supervisor.tailProcessLog",
        signature: &["array", "string", "int", "int"],
        optional: 0,
        help: "Alias of tailProcessStdoutLog.",
        run: |c| Box::pin(tail(c, false)),
    },
    Method {
        name: "supervisor.tailProcessStderrLog",
        signature: &["array", "string", "int", "int"],
        optional: 0,
        help: "[bytes, offset, overflow] of NAME's stderr log.",
        run: |c| Box::pin(tail(c, true)),
    },
    Method {
        name: "supervisor.clearProcessLogs",
        signature: &["boolean", "string"],
        optional: 0,
        help: "Empty the log files of process NAME.",
        run: |c| Box::pin(clear(c)),
    },
    Method {
        name: "supervisor.clearProcessLog",
        signature: &["boolean", "string"],
        optional: 0,
        help: "Alias of clearProcessLogs.",
        run: |c| Box::pin(clear(c)),
    },
    Method {
        name: "supervisor.clearAllProcessLogs",
        signature: &["array"],
        optional: 0,
        help: "Empty every process's log files.",
        run: |c| Box::pin(clear_all(c)),
    },
];

async fn read(c: Call<'_>, stderr: bool) -> Result<Value, Fault> {
    let name = c.args.string(0)?;
    let (offset, length) = (c.args.int(1)?, c.args.int(2)?);
    let p = one(c.h, &name)?;
    match channel(&p, stderr) {
        Some((stream, file)) => {
            read_log(&stream, file.as_deref(), &name, (offset, length), c.budget)
                .await
                .map(Value::Str)
        }
        None => Err(Fault::with(
            Code::NoFile,
            format!("{name}: stderr goes to stdout"),
        )),
    }
}

async fn tail(c: Call<'_>, stderr: bool) -> Result<Value, Fault> {
    let name = c.args.string(0)?;
    let (offset, length) = (c.args.int(1)?, c.args.int(2)?);
    let p = one(c.h, &name)?;
    let file = channel(&p, stderr).and_then(|(_, f)| f);
    let (data, offset, overflow) = tail_log(file.as_deref(), (offset, length), c.budget).await?;
    Ok(Value::Array(vec![
        Value::Str(data),
        Value::Int(offset),
        Value::Bool(overflow),
    ]))
}

async fn clear(c: Call<'_>) -> Result<Value, Fault> {
    clear_logs(&one(c.h, &c.args.string(0)?)?)
        .await
        .map(|()| Value::Bool(true))
}

async fn clear_all(c: Call<'_>) -> Result<Value, Fault> {
    let procs = members(c.h, None, |_| true)?;
    let mut r = Vec::with_capacity(procs.len());
    for p in &procs {
        r.push(clear_logs(p).await);
    }
    Ok(results(&procs, r))
}
