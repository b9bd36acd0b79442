//! The config file and groups: every program's config, supervisord's
//! reread (`reloadConfig`, which applies nothing) and adding or removing
//! one group (`supervisor/groups.rs`, `Command::Groups`). Nothing is kept
//! between a reread and an add: each reads the file.

use super::super::wire::{Code, Fault, Value};
use super::{Call, Method};
use crate::supervisor::{GroupError, GroupOp, GroupReply, Reread};

pub(super) const METHODS: &[Method] = &[
    Method {
        name: "supervisor.getAllConfigInfo",
        signature: &["array"],
        optional: 0,
        help: "Every process in the config file, and whether its group is in use.",
        run: |c| Box::pin(all_config_info(c)),
    },
    Method {
        name: "supervisor.reloadConfig",
        signature: &["array"],
        optional: 0,
        help: "Read the config file: [[added, changed, removed]] group names. Applies nothing.",
        run: |c| Box::pin(reload_config(c)),
    },
    Method {
        name: "supervisor.addProcessGroup",
        signature: &["boolean", "string"],
        optional: 0,
        help: "Add the group NAME from the config file and start its autostart processes.",
        run: |c| Box::pin(add_group(c)),
    },
    Method {
        name: "supervisor.removeProcessGroup",
        signature: &["boolean", "string"],
        optional: 0,
        help: "Remove the stopped group NAME.",
        run: |c| Box::pin(remove_group(c)),
    },
];

async fn all_config_info(c: Call<'_>) -> Result<Value, Fault> {
    match c.h.groups(GroupOp::Reread).await.map_err(group_fault)? {
        GroupReply::Reread(r) => Ok(config_info(&r)),
        GroupReply::Done => Err(Fault::new(Code::Failed)),
    }
}

async fn reload_config(c: Call<'_>) -> Result<Value, Fault> {
    match c.h.groups(GroupOp::Reread).await.map_err(group_fault)? {
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

async fn add_group(c: Call<'_>) -> Result<Value, Fault> {
    c.h.groups(GroupOp::Add(c.args.string(0)?))
        .await
        .map_err(group_fault)?;
    Ok(Value::Bool(true))
}

async fn remove_group(c: Call<'_>) -> Result<Value, Fault> {
    c.h.groups(GroupOp::Remove(c.args.string(0)?))
        .await
        .map_err(group_fault)?;
    Ok(Value::Bool(true))
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

fn config_info(r: &Reread) -> Value {
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
