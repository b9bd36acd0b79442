//! A program's `stdout_*`/`stderr_*` log keys as fleet's, with
//! `redirect_stderr` and supervisord's AUTO/NONE/path rules.

use super::*;

/// Logs as fleet understands them.
#[derive(Clone, Debug, PartialEq)]
enum Log {
    Auto,
    None,
    Path(String),
}

/// stdout/stderr log options, including the same-file quirk.
pub(super) fn logs(cx: &mut Cx, p: &Prog, block: &mut Block) -> Result<(), Error> {
    let sec = p.sec;
    let mut redirect = cx.pvalue(p, "redirect_stderr", boolean)?.unwrap_or(false);
    if p.listener {
        return listener_logs(cx, p, block, redirect);
    }
    let target = |cx: &mut Cx, stream: &str| -> Result<Log, Error> {
        let key = format!("{stream}_logfile");
        let Some(ent) = sec.get(&key) else {
            return Ok(Log::Auto);
        };
        let t = cx.pexpand(p, ent, Mode::Template, true)?;
        Ok(match t.to_lowercase().as_str() {
            "auto" => Log::Auto,
            "none" => Log::None,
            "syslog" => {
                cx.warn(sec, Some(ent), "fleet does not send output to syslog (deprecated in supervisord too); written as NONE: output is kept only in the agent's in-memory tail");
                Log::None
            }
            "" => return Err(cx.error(sec, Some(ent), "empty log file name")),
            _ => Log::Path(absolute(cx, sec, ent, t, &key)),
        })
    };
    let out = target(cx, "stdout")?;
    let err = target(cx, "stderr")?;
    let mut same_file = false;
    if let (false, Log::Path(a), Log::Path(b)) = (redirect, &out, &err) {
        if a == b {
            same_file = true;
            redirect = true;
        }
    }
    if same_file {
        block.trailer.push(
            "stderr_logfile was the same file as stdout_logfile: supervisord appends both streams to it \
             through two writers; fleet writes the same bytes through one (redirect_stderr), so \
             rotation cannot race"
                .into(),
        );
    } else if redirect {
        if let (Log::Path(_), Some(ent)) = (&err, sec.get("stderr_logfile")) {
            cx.warn(
                sec,
                Some(ent),
                "redirect_stderr=true: this file is ignored (supervisord ignores it too); left out",
            );
        }
    }
    if redirect {
        block.set("redirect_stderr", Val::Bool(true));
    }
    if p.numprocs > 1 {
        if let Log::Path(path) = &out {
            if !path.contains("{num") && !path.contains("{process}") {
                cx.warn(sec, sec.get("stdout_logfile"), format!(
                    "all {} processes append to one file {path:?} (as under supervisord), and each rotates it; \
                     consider {{num:02}} in the name",
                    p.numprocs
                ));
            }
        }
    }
    for (stream, log) in [("stdout", out), ("stderr", err)] {
        if stream == "stderr" && redirect {
            for k in ["stderr_logfile_maxbytes", "stderr_logfile_backups"] {
                if sec.get(k).is_some() {
                    block
                        .trailer
                        .push(format!("{k}: left out, stderr goes to the stdout log"));
                }
            }
            continue;
        }
        match log {
            Log::Auto => {}
            Log::None => block.set(&format!("{stream}_logfile"), Val::Str("NONE".into())),
            Log::Path(path) => block.set(&format!("{stream}_logfile"), Val::Str(path)),
        }
        let mb = format!("{stream}_logfile_maxbytes");
        if let Some(n) = cx.pvalue(p, &mb, byte_size)? {
            if n != DEFAULT_MAXBYTES {
                block.set(&mb, size_val(n));
            }
        }
        let bk = format!("{stream}_logfile_backups");
        if let Some(n) = cx.pvalue(p, &bk, |s| {
            py_int(s).and_then(|n| {
                if n >= 0 {
                    Ok(n)
                } else {
                    Err(format!("{s:?} must be >= 0"))
                }
            })
        })? {
            if n != 10 {
                block.set(&bk, Val::Int(n));
            }
        }
    }
    Ok(())
}

/// A listener: its stdout is the protocol, so only stderr is a log.
fn listener_logs(cx: &mut Cx, p: &Prog, block: &mut Block, redirect: bool) -> Result<(), Error> {
    let sec = p.sec;
    if redirect {
        return Err(cx.error(
            sec,
            sec.get("redirect_stderr"),
            "redirect_stderr=true is not allowed for an event listener (supervisord refuses it: it would interfere with the protocol)",
        ));
    }
    for k in [
        "stdout_logfile",
        "stdout_logfile_maxbytes",
        "stdout_logfile_backups",
    ] {
        if let Some(ent) = sec.get(k) {
            cx.warn(sec, Some(ent), "a listener's stdout is its protocol channel: fleet never logs it (supervisord wrote the protocol exchange there); left out");
        }
    }
    if let Some(ent) = sec.get("stderr_logfile") {
        let t = cx.pexpand(p, ent, Mode::Template, true)?;
        match t.to_lowercase().as_str() {
            "auto" => {}
            "none" | "syslog" => block.set("stderr_logfile", Val::Str("NONE".into())),
            "" => return Err(cx.error(sec, Some(ent), "empty log file name")),
            _ => {
                let path = absolute(cx, sec, ent, t, "stderr_logfile");
                block.set("stderr_logfile", Val::Str(path));
            }
        }
    }
    if let Some(n) = cx.pvalue(p, "stderr_logfile_maxbytes", byte_size)? {
        if n != DEFAULT_MAXBYTES {
            block.set("stderr_logfile_maxbytes", size_val(n));
        }
    }
    if let Some(n) = cx.pvalue(p, "stderr_logfile_backups", py_int)? {
        if n < 0 {
            let m = format!("{n} must be >= 0");
            return Err(cx.error(sec, sec.get("stderr_logfile_backups"), m));
        }
        if n != 10 {
            block.set("stderr_logfile_backups", Val::Int(n));
        }
    }
    Ok(())
}

/// Bytes as fleet writes them: `"50MB"` when exact, else an integer.
pub(super) fn size_val(n: u64) -> Val {
    for (suf, m) in [("GB", 1u64 << 30), ("MB", 1 << 20), ("KB", 1 << 10)] {
        if n > 0 && (n / m) * m == n {
            return Val::Str(format!("{}{suf}", n / m));
        }
    }
    Val::Int(n as i64)
}
