//! `[program.X.health]`: one check (http, tcp or exec) and its timing,
//! checked at load; the check's strings stay templates (`{num}` ...) until
//! `mod.rs` expands them for each instance.

use std::time::Duration;

use super::error::Loc;
use super::expand::{expand_template, Instance};
use super::model::{HealthCheck, HealthSpec, OnUnhealthy};
use super::raw::Raw;
use super::validate::{Ctx, Table};
use super::values;

/// Every key of a `[program.X.health]` table.
pub const HEALTH_KEYS: &[&str] = &[
    "http",
    "tcp",
    "exec",
    "expect_status",
    "expect_body",
    "interval",
    "timeout",
    "start_period",
    "failures",
    "successes",
    "on_unhealthy",
];

/// The check before per-instance expansion.
#[derive(Clone, Debug)]
pub(crate) struct HealthTemplate {
    /// With templates still in the url, address or argv.
    pub spec: HealthSpec,
}

impl HealthTemplate {
    pub fn expand(&self, inst: &Instance) -> HealthSpec {
        let t = |s: &str| expand_template(s, inst);
        let check = match &self.spec.check {
            HealthCheck::Http {
                url,
                expect_status,
                expect_body,
            } => HealthCheck::Http {
                url: t(url),
                expect_status: expect_status.clone(),
                expect_body: expect_body.clone(),
            },
            HealthCheck::Tcp { addr } => HealthCheck::Tcp { addr: t(addr) },
            HealthCheck::Exec { argv } => HealthCheck::Exec {
                argv: argv.iter().map(|a| t(a)).collect(),
            },
        };
        HealthSpec {
            check,
            ..self.spec.clone()
        }
    }
}

/// Checks `[program.NAME.health]` (`t` is the program's table).
pub(crate) fn health(cx: &mut Ctx, program: &Table) -> Option<HealthTemplate> {
    let v = program.get("health")?;
    let label = format!("{}.health", program.label);
    let Raw::Table(entries) = v.get_ref() else {
        let msg = format!(
            "{label}: expected a table such as [{label}] with http, tcp or exec, found {}",
            v.get_ref().describe()
        );
        cx.error(&program.loc(v), msg);
        return None;
    };
    let t = Table {
        file: program.file,
        label: &label,
        entries,
    };
    let errors_before = cx.sink.len();
    cx.check_keys(&t, &format!("[{label}]"), HEALTH_KEYS);

    let given: Vec<&str> = ["http", "tcp", "exec"]
        .into_iter()
        .filter(|k| t.get(k).is_some())
        .collect();
    let check = match given.as_slice() {
        [] => {
            cx.error(
                &program.loc(v),
                format!("{label}: expected one check: http = \"URL\", tcp = \"HOST:PORT\" or exec = \"COMMAND\""),
            );
            None
        }
        [kind] => check(cx, &t, kind),
        [_, second, ..] => {
            cx.error(
                &t.key_loc(second),
                format!(
                    "{label}: one check per program, found {}",
                    given.join(" and ")
                ),
            );
            None
        }
    };
    let is_http = given == ["http"];
    for key in ["expect_status", "expect_body"] {
        if !is_http && !given.is_empty() && t.get(key).is_some() {
            cx.error(
                &t.key_loc(key),
                format!("{label}.{key}: only an http check has a status and a body"),
            );
        }
    }
    let interval = cx.field(&t, "interval", Duration::from_secs(10), positive);
    let timeout = cx.field(&t, "timeout", Duration::from_secs(5), positive);
    let start_period = cx.field(&t, "start_period", Duration::ZERO, values::duration);
    let failures = cx.field(&t, "failures", 3, |v| values::int_in(v, 1, 1000)) as u32;
    let successes = cx.field(&t, "successes", 1, |v| values::int_in(v, 1, 1000)) as u32;
    let on_unhealthy = cx.field(&t, "on_unhealthy", OnUnhealthy::None, |v| match v {
        Raw::String(s) if s == "restart" => Ok(OnUnhealthy::Restart),
        Raw::String(s) if s == "none" => Ok(OnUnhealthy::None),
        other => Err(format!(
            "expected \"restart\" or \"none\", found {}",
            other.describe()
        )),
    });
    if cx.sink.len() != errors_before {
        return None;
    }
    Some(HealthTemplate {
        spec: HealthSpec {
            check: check?,
            interval,
            timeout,
            start_period,
            failures,
            successes,
            on_unhealthy,
        },
    })
}

fn positive(v: &Raw) -> Result<Duration, String> {
    match values::duration(v)? {
        d if d.is_zero() => Err("expected a duration above zero (e.g. \"5s\")".into()),
        d => Ok(d),
    }
}

fn check(cx: &mut Ctx, t: &Table, kind: &str) -> Option<HealthCheck> {
    let v = t.get(kind)?;
    let loc: Loc = t.loc(v);
    let label = format!("{}.{kind}", t.label);
    let s = cx.string_value(t.file, &label, v)?;
    match kind {
        "http" => {
            let rest = s
                .strip_prefix("http://")
                .or_else(|| s.strip_prefix("https://"));
            if rest.is_none_or(|r| r.is_empty() || r.starts_with('/')) {
                cx.error(
                    &loc,
                    format!(
                        "{label}: expected an http:// or https:// URL with a host, found {s:?}"
                    ),
                );
                return None;
            }
            let expect_status = cx.field(t, "expect_status", Vec::new(), statuses);
            let expect_body = cx.string(t, "expect_body");
            Some(HealthCheck::Http {
                url: s,
                expect_status,
                expect_body,
            })
        }
        "tcp" => {
            let ok = s
                .rsplit_once(':')
                .is_some_and(|(host, port)| !host.is_empty() && port_ok(port));
            if !ok {
                cx.error(
                    &loc,
                    format!("{label}: expected HOST:PORT (e.g. \"127.0.0.1:6379\"), found {s:?}"),
                );
                return None;
            }
            Some(HealthCheck::Tcp { addr: s })
        }
        _ => match shell_words::split(&s) {
            Ok(argv) if argv.first().is_some_and(|a| !a.is_empty()) => {
                Some(HealthCheck::Exec { argv })
            }
            Ok(_) => {
                cx.error(&loc, format!("{label}: expected a non-empty command"));
                None
            }
            Err(e) => {
                cx.error(&loc, format!("{label}: cannot split into arguments: {e}"));
                None
            }
        },
    }
}

/// A port, or a `{...}` template that makes one per instance.
fn port_ok(port: &str) -> bool {
    port.parse::<u16>().is_ok_and(|p| p != 0) || port.contains('{')
}

fn statuses(v: &Raw) -> Result<Vec<u16>, String> {
    let one = |v: &Raw| match v {
        Raw::Integer(i) if (100..=599).contains(i) => Ok(*i as u16),
        other => Err(format!(
            "expected an HTTP status (100..=599) or an array of them, found {}",
            other.describe()
        )),
    };
    match v {
        Raw::Array(items) if !items.is_empty() => items.iter().map(|i| one(i.get_ref())).collect(),
        other => one(other).map(|s| vec![s]),
    }
}
