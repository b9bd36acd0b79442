//! Planning an operation: the one place a request is read. [`Rules::read`]
//! turns a request into typed rules (selector, signal, strategy with its
//! batch, per-host timeout, the page's selection) or refuses it; [`plan`]
//! adds the hosts and the processes it would touch. The registry, the
//! runner and crash recovery take these and never parse the request again
//! (recovery reads a stored request with the same [`Rules::read`]).

use super::Refused;
use crate::server::inventory::Inventory;
use crate::server::picture::Picture;
use fleet_api::{Batch, ErrorCode, OpRequest, ProcessInfo, Selector, Signal, StrategyKind, Verb};
use std::collections::HashSet;
use std::time::Duration;

/// Hosts an operation may act on at once (a semaphore's permits; far
/// above any fd limit the console runs with).
pub const MAX_CONCURRENCY: usize = 100_000;
/// The longest per-host timeout an operation may ask for (24 h).
pub const MAX_TIMEOUT_MS: u64 = 24 * 3600 * 1000;

/// What a request leaves unsaid comes from the console's config.
#[derive(Clone, Copy, Debug)]
pub(super) struct Defaults {
    pub concurrency: usize,
    pub timeout: Duration,
}

impl Defaults {
    pub(super) fn of(config: &crate::server::config::Config) -> Defaults {
        Defaults {
            concurrency: config.concurrency,
            timeout: Duration::from_secs(config.host_timeout_secs),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) enum Strategy {
    Parallel {
        concurrency: usize,
    },
    /// Batches behind a health gate; stop after `max_failures` failed hosts.
    Rolling {
        batch: Batch,
        max_failures: usize,
    },
}

/// A request, read once: all an op needs to act on a host, or to judge one
/// after a crash.
#[derive(Clone, Debug)]
pub(super) struct Rules {
    pub verb: Verb,
    pub selector: Selector,
    pub signal: Option<Signal>,
    pub strategy: Strategy,
    /// How long one host's call may take (the request's, else the config's).
    pub timeout: Duration,
    /// The page's selection as (host, process), in request order; empty:
    /// the selector decides.
    pub only: Vec<(String, String)>,
    /// start/restart: the agents also start what the processes wait for.
    pub with_deps: bool,
}

impl Rules {
    /// Read `req`, or refuse it with the first thing wrong.
    pub(super) fn read(req: &OpRequest, d: Defaults) -> Result<Rules, Refused> {
        let bad = |m: String| Refused(ErrorCode::BadRequest, m);
        let selector: Selector = req
            .target
            .parse()
            .map_err(|e: fleet_api::SelectorError| Refused(ErrorCode::BadSelector, e.0))?;
        if req.with_deps && !matches!(req.action, Verb::Start | Verb::Restart) {
            return Err(bad(format!(
                "with_deps applies to start and restart, not {}",
                req.action
            )));
        }
        let signal = match (req.action, &req.signal) {
            (Verb::Signal, None) => {
                return Err(Refused(
                    ErrorCode::BadSignal,
                    "signal needs \"signal\": NAME".into(),
                ))
            }
            (Verb::Signal, Some(s)) => Some(
                s.parse::<Signal>()
                    .map_err(|e| Refused(ErrorCode::BadSignal, e.0))?,
            ),
            (v, Some(_)) => return Err(bad(format!("{v} takes no signal"))),
            (_, None) => None,
        };
        if let Some(c) = req.concurrency {
            if !(1..=MAX_CONCURRENCY).contains(&c) {
                return Err(bad(format!(
                    "concurrency must be between 1 and {MAX_CONCURRENCY}, found {c}"
                )));
            }
        }
        let timeout = match req.timeout_ms {
            Some(t) if !(1..=MAX_TIMEOUT_MS).contains(&t) => {
                return Err(bad(format!(
                    "timeout_ms must be between 1 and {MAX_TIMEOUT_MS} (24 h), found {t}"
                )))
            }
            Some(t) => Duration::from_millis(t),
            None => d.timeout,
        };
        let strategy = match (req.strategy, &req.batch) {
            (StrategyKind::Rolling, b) => Strategy::Rolling {
                batch: match b {
                    Some(b) => b.parse().map_err(|e: fleet_api::BatchError| bad(e.0))?,
                    None => Batch::default(),
                },
                max_failures: req.max_failures.unwrap_or(1).max(1),
            },
            (StrategyKind::Parallel, Some(_)) => {
                return Err(bad("batch is for the rolling strategy".into()))
            }
            (StrategyKind::Parallel, None) => Strategy::Parallel {
                concurrency: req.concurrency.unwrap_or(d.concurrency),
            },
        };
        let only = req
            .only
            .iter()
            .map(|s| match s.split_once('/') {
                Some((h, p)) if !h.is_empty() && !p.is_empty() => {
                    Ok((h.to_string(), p.to_string()))
                }
                _ => Err(bad(format!(
                    "bad entry {s:?} in only: expected HOST/GROUP:PROCESS"
                ))),
            })
            .collect::<Result<_, _>>()?;
        Ok(Rules {
            verb: req.action,
            selector,
            signal,
            strategy,
            timeout,
            only,
            with_deps: req.with_deps,
        })
    }

    /// The names `host` is called with: its `only` entries, or the target.
    pub(super) fn targets(&self, host: &str) -> Vec<String> {
        if self.only.is_empty() {
            return vec![self.selector.to_string()];
        }
        self.only_on(host).map(str::to_string).collect()
    }

    /// The processes the op selects on `host`: its `only` names there, or
    /// the selector's.
    pub(super) fn selected<'a>(
        &self,
        host: &str,
        procs: &'a [ProcessInfo],
    ) -> Vec<&'a ProcessInfo> {
        if self.only.is_empty() {
            return self.selector.select(procs);
        }
        let names: Vec<&str> = self.only_on(host).collect();
        procs
            .iter()
            .filter(|p| names.contains(&p.name.as_str()))
            .collect()
    }

    fn only_on<'a>(&'a self, host: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.only
            .iter()
            .filter(move |(h, _)| h == host)
            .map(|(_, p)| p.as_str())
    }
}

/// A request resolved against the inventory and the picture.
#[derive(Clone, Debug)]
pub(super) struct Plan {
    pub rules: Rules,
    pub hosts: Vec<String>,
    /// (host, process) pairs it would act on, as the picture shows them.
    pub touches: HashSet<(String, String)>,
}

impl Plan {
    /// Hosts per rolling batch (`None`: parallel).
    pub(super) fn batch_size(&self) -> Option<usize> {
        match self.rules.strategy {
            Strategy::Rolling { batch, .. } => Some(batch.size(self.hosts.len())),
            Strategy::Parallel { .. } => None,
        }
    }
}

/// Read `req` and resolve it: its hosts from the inventory, the processes
/// it would touch from the picture. Refuses a target that matches nothing
/// anywhere we can see.
pub(super) fn plan(
    req: &OpRequest,
    inventory: &Inventory,
    picture: &Picture,
    d: Defaults,
) -> Result<Plan, Refused> {
    let rules = Rules::read(req, d)?;
    let hosts = inventory
        .resolve(req.hosts.as_deref())
        .map_err(|e| Refused(ErrorCode::BadSelector, e))?;
    let only: HashSet<&(String, String)> = rules.only.iter().collect();
    let touches = picture
        .processes(&hosts, |p, all| rules.selector.matches(p, all))
        .into_iter()
        .map(|p| (p.host, p.info.name))
        .filter(|k| only.is_empty() || only.contains(k))
        .collect::<HashSet<_>>();
    // A target that matches nothing anywhere we can see is a typo, not
    // an operation: refuse it rather than audit a fleet of "skipped".
    // (Hosts we know nothing about may still match, so proceed then.)
    let seen = hosts.iter().any(|h| !picture.host_processes(h).is_empty());
    if touches.is_empty() && seen {
        return Err(Refused(
            ErrorCode::NotFound,
            format!(
                "target {:?} matches no process on the selected hosts",
                req.target
            ),
        ));
    }
    Ok(Plan {
        rules,
        hosts,
        touches,
    })
}

/// The plan of an op another console started (taken over): its stored
/// request read as it was planned, its hosts as recorded (not resolved
/// again: the op is the one audited), and what it touches now.
pub(super) fn replan(op: &fleet_api::Op, picture: &Picture, d: Defaults) -> Result<Plan, Refused> {
    let rules = Rules::read(&op.request, d)?;
    let hosts: Vec<String> = op.hosts.iter().map(|h| h.host.clone()).collect();
    let only: HashSet<&(String, String)> = rules.only.iter().collect();
    let touches = picture
        .processes(&hosts, |p, all| rules.selector.matches(p, all))
        .into_iter()
        .map(|p| (p.host, p.info.name))
        .filter(|k| only.is_empty() || only.contains(k))
        .collect();
    Ok(Plan {
        rules,
        hosts,
        touches,
    })
}

#[cfg(test)]
#[path = "plan_tests.rs"]
mod tests;
