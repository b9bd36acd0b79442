//! What an `[eventlistener:x]` has beyond a program's keys: `events`
//! (required, names checked as supervisord does), `buffer_size`,
//! `result_handler`.

use super::*;
use crate::config::DEFAULT_HANDLER;
use crate::listener::event::Subs;

/// The keys a listener has beyond a program's: fleet's are supervisord's.
pub(super) use crate::config::LISTENER_KEYS as KEYS;

pub(super) fn keys(cx: &mut Cx, p: &Prog, block: &mut Block) -> Result<(), Error> {
    let sec = p.sec;
    let Some(ent) = sec.get("events") else {
        return Err(cx.error(
            sec,
            None,
            "an eventlistener section requires an \"events\" line (supervisord refuses it without one)",
        ));
    };
    let text = cx.pexpand(p, ent, Mode::Static, false)?;
    let mut names: Vec<String> = Vec::new();
    for n in text.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        let upper = n.to_ascii_uppercase();
        if Subs::parse(&upper).is_none() {
            let m = format!("unknown event type {n} (supervisord refuses it)");
            return Err(cx.error(sec, Some(ent), m));
        }
        if !names.contains(&upper) {
            names.push(upper);
        }
    }
    if names.is_empty() {
        return Err(cx.error(
            sec,
            Some(ent),
            "an eventlistener section requires an \"events\" line",
        ));
    }
    block.set("events", Val::Strs(names));
    if let Some(n) = cx.pvalue(p, "buffer_size", py_int)? {
        if n < 1 {
            let m = format!("invalid buffer_size ({n}) (supervisord refuses it)");
            return Err(cx.error(sec, sec.get("buffer_size"), m));
        }
        if n != 10 {
            block.set("buffer_size", Val::Int(n));
        }
    }
    if let Some(ent) = sec.get("result_handler") {
        if ent.value.trim() != DEFAULT_HANDLER {
            cx.warn(sec, Some(ent), format!("fleet has only supervisord's default result handler (OK accepts an event, anything else hands it back); {:?} left out", ent.value.trim()));
        }
    }
    Ok(())
}
