//! An operation's records in the audit log, in one place: the intent
//! before any host is touched, a per-host [`Record`] as each host's call
//! starts and ends (written by the runner, read back by crash recovery),
//! and the result records. The ops engine reaches the store only here and
//! for the HTTP reads in `registry.rs`.

use crate::server::store::{NewRow, Store, StoreError};
use fleet_api::{HostResult, Op, ProcessInfo, ProcessState};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};

/// The audit kind of per-host records.
const HOST: &str = "host";
/// The audit kind of an op's (interim or final) result.
const RESULT: &str = "result";

/// One per-host record (its `at` is when it was written). The tags are
/// what logs already hold: renaming one would strand those records.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "phase", rename_all = "snake_case")]
pub(super) enum Record {
    /// The host's call is about to be made; the processes it selects, as
    /// the picture showed them then.
    Started {
        host: String,
        before: Vec<Seen>,
        /// The lease's fence the call was made under: its
        /// `Idempotency-Key` is `OP/HOST/FENCE` (none: an older record,
        /// or SQLite, where the key's fence is 0).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        fence: Option<u64>,
    },
    /// The host's verdict.
    Finished { result: HostResult },
}

/// A process as the picture showed it when a host's call started.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(super) struct Seen {
    pub name: String,
    pub state: ProcessState,
    #[serde(default)]
    pub pid: Option<u32>,
    #[serde(default)]
    pub started_at: Option<u64>,
}

impl Seen {
    pub(super) fn of(p: &ProcessInfo) -> Seen {
        Seen {
            name: p.name.clone(),
            state: p.state,
            pid: p.pid,
            started_at: p.started_at,
        }
    }
}

/// What an op's per-host records say, newest record per host winning.
#[derive(Debug, Default)]
pub(super) struct Hosts {
    /// Hosts whose call started: when (console clock, unix ms), and the
    /// processes it selected then.
    pub started: HashMap<String, (u64, Vec<Seen>)>,
    pub finished: HashMap<String, HostResult>,
    /// The fence each started host's call was made under.
    pub fences: HashMap<String, u64>,
}

/// The op, before any host is touched, if `conflict` (which sees the ops
/// other consoles run) refuses nothing; an error means nothing may start.
/// The op's fence with PostgreSQL.
pub(super) fn intent(
    store: &Store,
    op: &Op,
    at: u64,
    conflict: Box<dyn FnOnce(Vec<Op>) -> Option<String> + Send>,
) -> Result<Result<Option<u64>, String>, StoreError> {
    store.admit(op, at, conflict)
}

/// Append one per-host record of op `id` (by `who`) on its own (the
/// tests'; the runner's go through a [`Writer`]).
#[cfg(test)]
pub(super) fn write(
    store: &Store,
    id: &str,
    who: &str,
    rec: &Record,
    at: u64,
) -> Result<(), StoreError> {
    let json = serde_json::to_string(rec).map_err(|error| StoreError::Json {
        doing: "cannot write a host record",
        error,
    })?;
    store.op_record(id, HOST, who, &json, at)
}

/// The most per-host records one transaction takes.
const MAX_BATCH: usize = 512;

/// Group commit of an op's per-host records: each host task hands its
/// record over and waits until it is written; the records waiting
/// meanwhile go in one transaction (a 500-host op is a handful of
/// transactions, not 1,000). Intent before act still holds per host: a
/// task calls its agent only once its `Started` record is in.
pub(super) struct Writer {
    tx: mpsc::UnboundedSender<(NewRow, oneshot::Sender<Result<(), String>>)>,
}

/// Start the writer of one op; `append` writes a batch (blocking, on the
/// blocking pool). It ends when the `Writer` is dropped.
pub(super) fn writer(
    append: impl Fn(&[NewRow]) -> Result<(), StoreError> + Send + Sync + 'static,
) -> Writer {
    let (tx, mut rx) = mpsc::unbounded_channel::<(NewRow, oneshot::Sender<_>)>();
    let append = Arc::new(append);
    tokio::spawn(async move {
        while let Some(first) = rx.recv().await {
            let mut batch = vec![first];
            while batch.len() < MAX_BATCH {
                match rx.try_recv() {
                    Ok(p) => batch.push(p),
                    Err(_) => break,
                }
            }
            let rows: Vec<NewRow> = batch.iter().map(|(r, _)| r.clone()).collect();
            let append = append.clone();
            let r = match tokio::task::spawn_blocking(move || append(&rows)).await {
                Ok(r) => r.map_err(|e| e.to_string()),
                Err(e) => Err(format!("the audit writer failed: {e}")),
            };
            for (_, done) in batch {
                let _ = done.send(r.clone());
            }
        }
    });
    Writer { tx }
}

impl Writer {
    /// Append one per-host record of op `id` (by `who`), with the others
    /// waiting now.
    pub(super) async fn write(
        &self,
        id: &str,
        who: &str,
        rec: &Record,
        at: u64,
    ) -> Result<(), StoreError> {
        let json = serde_json::to_string(rec).map_err(|error| StoreError::Json {
            doing: "cannot write a host record",
            error,
        })?;
        let row = NewRow {
            op_id: id.into(),
            kind: HOST.into(),
            at,
            who: who.into(),
            json,
            source: None,
        };
        let gone = || StoreError::Sql {
            doing: "audit write failed",
            error: "the op's audit writer stopped".into(),
        };
        let (done, answer) = oneshot::channel();
        self.tx.send((row, done)).map_err(|_| gone())?;
        answer
            .await
            .map_err(|_| gone())?
            .map_err(|error| StoreError::Sql {
                doing: "audit write failed",
                error,
            })
    }
}

/// The op as it stands (the newest result record is what readers get).
pub(super) fn result(store: &Store, op: &Op, at: u64) -> Result<(), StoreError> {
    store.append(RESULT, op, at)
}

/// The op as it stands, written only while this console holds its lease
/// at `fence` (PostgreSQL; none: as [`result`]).
pub(super) fn result_fenced(
    store: &Store,
    op: &Op,
    at: u64,
    fence: Option<u64>,
) -> Result<(), StoreError> {
    let json = serde_json::to_string(op).map_err(|error| StoreError::Json {
        doing: "audit write failed",
        error,
    })?;
    let row = NewRow {
        op_id: op.id.clone(),
        kind: RESULT.into(),
        at,
        who: op.who.clone(),
        json,
        source: None,
    };
    store.append_fenced(&[row], &op.id, fence)
}

/// Ops whose newest record still says running.
pub(super) fn unfinished(store: &Store) -> Result<Vec<Op>, StoreError> {
    store.unfinished_ops()
}

/// Read op `id`'s per-host records back.
pub(super) fn read(store: &Store, id: &str) -> Result<Hosts, StoreError> {
    let mut out = Hosts::default();
    for (at, json) in store.op_records(id, HOST)? {
        match serde_json::from_str::<Record>(&json) {
            Ok(Record::Started {
                host,
                before,
                fence,
            }) => {
                out.fences.insert(host.clone(), fence.unwrap_or(0));
                out.started.insert(host, (at, before));
            }
            Ok(Record::Finished { result }) => {
                out.finished.insert(result.host.clone(), result);
            }
            // Never refuse to start over one record: that host is judged
            // as if it had none (`audit verify` names a record changed
            // behind the console's back).
            Err(e) => tracing::warn!(op = %id, "unreadable host record: {e}"),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use fleet_api::{OpState, Verdict};

    fn op(hosts: &[&str]) -> Op {
        super::super::test_op(hosts, None, None)
    }

    fn seen(name: &str) -> Seen {
        Seen::of(&ProcessInfo {
            pid: Some(10),
            started_at: Some(5),
            ..ProcessInfo::new("g", "g", name, ProcessState::Running)
        })
    }

    fn ended(host: &str, v: Verdict) -> HostResult {
        HostResult {
            host: host.into(),
            verdict: v,
            batch: None,
            message: "m".into(),
            processes: vec![],
        }
    }

    /// Every record kind survives the log; the wire form is the one
    /// stored logs hold (`phase`: `started` / `finished`).
    #[test]
    fn every_record_kind_round_trips() {
        let kinds = [
            Record::Started {
                host: "a".into(),
                before: vec![seen("x"), seen("y")],
                fence: Some(2),
            },
            Record::Finished {
                result: ended("b", Verdict::Failed),
            },
        ];
        for rec in &kinds {
            let json = serde_json::to_string(rec).unwrap();
            assert_eq!(&serde_json::from_str::<Record>(&json).unwrap(), rec);
        }
        let json = serde_json::to_string(&kinds[0]).unwrap();
        assert!(json.contains(r#""phase":"started""#), "{json}");
        let json = serde_json::to_string(&kinds[1]).unwrap();
        assert!(json.contains(r#""phase":"finished""#), "{json}");

        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path()).unwrap();
        let o = op(&["a", "b"]);
        s.append_intent(&o, 1).unwrap();
        for (i, rec) in kinds.iter().enumerate() {
            write(&s, &o.id, &o.who, rec, 2 + i as u64).unwrap();
        }
        // A record this version cannot read is skipped, not fatal.
        s.op_record(&o.id, HOST, &o.who, r#"{"phase":"teleported"}"#, 9)
            .unwrap();
        let h = read(&s, &o.id).unwrap();
        assert_eq!(h.started["a"], (2, vec![seen("x"), seen("y")]));
        assert_eq!(h.finished["b"], ended("b", Verdict::Failed));
        assert_eq!((h.started.len(), h.finished.len()), (1, 1));
        assert_eq!(unfinished(&s).unwrap().len(), 1);
        let mut done = o.clone();
        done.state = OpState::Done;
        result(&s, &done, 10).unwrap();
        assert!(unfinished(&s).unwrap().is_empty());
    }

    /// The cost of per-host records for a 500-host op (a record as each
    /// call starts and ends: 1,000 transactions). A measurement, not a
    /// check: `cargo test -p fleet-console --lib -- --ignored
    /// host_records_cost --nocapture`.
    #[test]
    #[ignore]
    fn host_records_cost() {
        let dir = tempfile::tempdir_in(std::env::var("COST_DIR").unwrap_or(".".into())).unwrap();
        let s = Store::open(dir.path()).unwrap();
        let hosts: Vec<String> = (0..500).map(|i| format!("host-{i:03}")).collect();
        let names: Vec<&str> = hosts.iter().map(String::as_str).collect();
        let o = op(&names);
        s.append_intent(&o, 1).unwrap();
        let before = vec![seen("a"), seen("b")];
        let mut each = Vec::new();
        let t0 = std::time::Instant::now();
        for h in &hosts {
            for rec in [
                Record::Started {
                    host: h.clone(),
                    before: before.clone(),
                    fence: None,
                },
                Record::Finished {
                    result: ended(h, Verdict::Ok),
                },
            ] {
                let t = std::time::Instant::now();
                write(&s, &o.id, &o.who, &rec, 2).unwrap();
                each.push(t.elapsed());
            }
        }
        let total = t0.elapsed();
        each.sort();
        let t1 = std::time::Instant::now();
        let (n, _) = super::super::close_interrupted(&s, 3).unwrap();
        println!(
            "1000 host records: total {total:?}, p50 {:?}, p99 {:?}, max {:?}; close() of the 500-host op: {:?} ({n})",
            each[500],
            each[990],
            each[999],
            t1.elapsed()
        );
    }
}
