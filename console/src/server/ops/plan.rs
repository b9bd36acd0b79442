//! Planning an operation: validate the request (selector, signal, batch,
//! limits), resolve its hosts and the processes it would touch.

use super::registry::Ops;
use super::Refused;
use crate::server::App;
use fleet_api::{Batch, ErrorCode, OpRequest, Selector, Signal, StrategyKind, Verb};
use std::collections::HashSet;

pub(super) struct Plan {
    pub(super) selector: Selector,
    pub(super) hosts: Vec<String>,
    pub(super) touches: HashSet<(String, String)>,
}

/// Hosts an operation may act on at once (a semaphore's permits; far
/// above any fd limit the console runs with).
pub const MAX_CONCURRENCY: usize = 100_000;
/// The longest per-host timeout an operation may ask for (24 h).
pub const MAX_TIMEOUT_MS: u64 = 24 * 3600 * 1000;

/// A rolling request's batch spec (one host at a time without one).
pub(super) fn batch(req: &OpRequest) -> Result<Batch, Refused> {
    match &req.batch {
        Some(b) => b
            .parse()
            .map_err(|e: fleet_api::BatchError| Refused(ErrorCode::BadRequest, e.0)),
        None => Ok(Batch::default()),
    }
}

/// A request's `only` list as (host, process) pairs.
pub(super) fn only(req: &OpRequest) -> Result<HashSet<(String, String)>, Refused> {
    req.only
        .iter()
        .map(|s| match s.split_once('/') {
            Some((h, p)) if !h.is_empty() && !p.is_empty() => Ok((h.to_string(), p.to_string())),
            _ => Err(Refused(
                ErrorCode::BadRequest,
                format!("bad entry {s:?} in only: expected HOST/GROUP:PROCESS"),
            )),
        })
        .collect()
}

impl Ops {
    pub(super) fn plan(&self, app: &App, req: &OpRequest) -> Result<Plan, Refused> {
        let selector: Selector = req
            .target
            .parse()
            .map_err(|e: fleet_api::SelectorError| Refused(ErrorCode::BadSelector, e.0))?;
        match (req.action, &req.signal) {
            (Verb::Signal, None) => {
                return Err(Refused(
                    ErrorCode::BadSignal,
                    "signal needs \"signal\": NAME".into(),
                ))
            }
            (Verb::Signal, Some(s)) => {
                s.parse::<Signal>()
                    .map_err(|e| Refused(ErrorCode::BadSignal, e.0))?;
            }
            (v, Some(_)) => {
                return Err(Refused(
                    ErrorCode::BadRequest,
                    format!("{v} takes no signal"),
                ))
            }
            (_, None) => {}
        }
        if let Some(c) = req.concurrency {
            if !(1..=MAX_CONCURRENCY).contains(&c) {
                return Err(Refused(
                    ErrorCode::BadRequest,
                    format!("concurrency must be between 1 and {MAX_CONCURRENCY}, found {c}"),
                ));
            }
        }
        if let Some(t) = req.timeout_ms {
            if !(1..=MAX_TIMEOUT_MS).contains(&t) {
                return Err(Refused(
                    ErrorCode::BadRequest,
                    format!("timeout_ms must be between 1 and {MAX_TIMEOUT_MS} (24 h), found {t}"),
                ));
            }
        }
        let hosts = app
            .inventory
            .resolve(req.hosts.as_deref())
            .map_err(|e| Refused(ErrorCode::BadSelector, e))?;
        match (req.strategy, &req.batch) {
            (StrategyKind::Rolling, Some(b)) => {
                b.parse::<Batch>()
                    .map_err(|e| Refused(ErrorCode::BadRequest, e.0))?;
            }
            (StrategyKind::Rolling, None) => {}
            (StrategyKind::Parallel, Some(_)) => {
                return Err(Refused(
                    ErrorCode::BadRequest,
                    "batch is for the rolling strategy".into(),
                ))
            }
            (StrategyKind::Parallel, None) => {}
        }
        let only = only(req)?;
        let touches = app
            .picture
            .processes(&hosts, |p, all| selector.matches(p, all))
            .into_iter()
            .map(|p| (p.host, p.info.name))
            .filter(|k| only.is_empty() || only.contains(k))
            .collect::<HashSet<_>>();
        // A target that matches nothing anywhere we can see is a typo, not
        // an operation: refuse it rather than audit a fleet of "skipped".
        // (Hosts we know nothing about may still match, so proceed then.)
        let seen = hosts
            .iter()
            .any(|h| !app.picture.host_processes(h).is_empty());
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
            selector,
            hosts,
            touches,
        })
    }
}
