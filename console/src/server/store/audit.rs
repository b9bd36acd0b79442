//! The audit log in SQLite: appending records (each with its chain link,
//! a batch in one transaction), reading operations back (`get`, `query`,
//! `unfinished_ops`, `op_records`) and `verify`. The rules the log keeps
//! are in `mod.rs`; `OpQuery`, `decode` and `open` serve both stores.

use fleet_api::{Op, OpState, Verdict};
use rusqlite::{params, Connection, OptionalExtension};

use super::chain::GENESIS;
use super::verify::{self, NewRow, Row};
use super::{Lite, Result, StoreError};

/// What `Store::query` keeps; each given one must hold. `target` is a
/// substring of the process target or of the host selector (`all` when
/// none was given); `result` is `ok` (done, no host failed), `failed` (some
/// host failed or was unreachable), `running` or `aborted`.
#[derive(Clone, Copy, Debug, Default)]
pub struct OpQuery<'a> {
    pub action: Option<&'a str>,
    pub target: Option<&'a str>,
    pub who: Option<&'a str>,
    pub result: Option<&'a str>,
}

const READ: &str = "cannot read the audit log";
const WRITE: &str = "audit write failed";

/// `GET /v1/ops`' filter over each op's newest row (`?1`..`?4`: the
/// `OpQuery` fields, `?5`/`?6`: limit and offset).
const QUERY: &str = "SELECT a.op FROM audit a JOIN
   (SELECT MAX(seq) AS last, MIN(seq) AS first FROM audit
    WHERE kind IN ('intent', 'result') GROUP BY op_id) b
 ON a.seq = b.last
 WHERE (?1 IS NULL OR json_extract(a.op, '$.request.action') = ?1)
   AND (?2 IS NULL
        OR instr(json_extract(a.op, '$.request.target'), ?2) > 0
        OR instr(COALESCE(json_extract(a.op, '$.request.hosts'), 'all'), ?2) > 0)
   AND (?3 IS NULL OR json_extract(a.op, '$.who') = ?3)
   AND (?4 IS NULL
        OR (?4 = 'ok' AND json_extract(a.op, '$.state') = 'done'
            AND NOT EXISTS (SELECT 1 FROM json_each(a.op, '$.hosts') h
                WHERE json_extract(h.value, '$.verdict') IN ('failed', 'unreachable')))
        OR (?4 = 'failed' AND EXISTS (SELECT 1 FROM json_each(a.op, '$.hosts') h
                WHERE json_extract(h.value, '$.verdict') IN ('failed', 'unreachable')))
        OR (?4 = 'running' AND json_extract(a.op, '$.state') = 'running')
        OR (?4 = 'interrupted' AND json_extract(a.op, '$.state') = 'interrupted')
        OR (?4 = 'aborted' AND json_extract(a.op, '$.state') = 'aborted'))
 ORDER BY b.first DESC LIMIT ?5 OFFSET ?6";

impl Lite {
    /// The newest record and its link.
    pub fn head(&self) -> Result<(i64, String)> {
        head(&self.db())
    }

    pub fn verify(&self) -> Result<(u64, String)> {
        let db = self.db();
        let mut st = db
            .prepare(
                "SELECT a.seq, a.op_id, a.kind, a.at, a.who, a.op, a.source, c.hash
                 FROM audit a LEFT JOIN audit_chain c ON c.seq = a.seq ORDER BY a.seq",
            )
            .map_err(StoreError::sql(READ))?;
        let rows = st
            .query_map([], |r| Ok((read_row(r)?, r.get::<_, Option<String>>(7)?)))
            .map_err(StoreError::sql(READ))?;
        let (n, prev) = verify::links(&self.chain, rows.map(|r| r.map_err(StoreError::sql(READ))))?;
        let chained: i64 = db
            .query_row("SELECT COUNT(*) FROM audit_chain", [], |r| r.get(0))
            .map_err(StoreError::sql(READ))?;
        verify::count(n, chained)?;
        verify::head(&self.chain, n, |seq| link_of(&db, seq))?;
        Ok((n, prev))
    }

    /// Insert rows and their chain links in one transaction.
    pub fn append_rows(&self, rows: &[NewRow]) -> Result<()> {
        if rows.is_empty() {
            return Ok(());
        }
        let mut db = self.db();
        let tx = db.transaction().map_err(StoreError::sql(WRITE))?;
        let (_, mut prev) = head(&tx)?;
        let mut last = 0;
        for r in rows {
            tx.execute(
                "INSERT INTO audit (op_id, kind, at, who, op, source) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![r.op_id, r.kind, r.at as i64, r.who, r.json, r.source],
            )
            .map_err(StoreError::sql(WRITE))?;
            last = tx.last_insert_rowid();
            let link = self.chain.link(last, &prev, &r.numbered(last).fields());
            tx.execute(
                "INSERT INTO audit_chain (seq, hash) VALUES (?1, ?2)",
                params![last, link],
            )
            .map_err(StoreError::sql(WRITE))?;
            prev = link;
        }
        tx.commit().map_err(StoreError::sql(WRITE))?;
        // Still under the store's lock: heads are written in record order.
        self.chain.set_head(last, &prev)
    }

    /// The `kind` records of operation `op_id`, oldest first, with their
    /// times.
    pub fn op_records(&self, op_id: &str, kind: &str) -> Result<Vec<(u64, String)>> {
        let db = self.db();
        let mut st = db
            .prepare("SELECT at, op FROM audit WHERE op_id = ?1 AND kind = ?2 ORDER BY seq")
            .map_err(StoreError::sql(READ))?;
        let rows = st
            .query_map(params![op_id, kind], |r| {
                Ok((r.get::<_, i64>(0)? as u64, r.get::<_, String>(1)?))
            })
            .map_err(StoreError::sql(READ))?;
        rows.collect::<Result<_, _>>()
            .map_err(StoreError::sql(READ))
    }

    /// Operation `id` as its newest `intent`/`result` record tells it.
    pub fn get(&self, id: &str) -> Result<Option<Op>> {
        let json: Option<String> = self
            .db()
            .query_row(
                "SELECT op FROM audit WHERE op_id = ?1 AND kind IN ('intent', 'result')
                 ORDER BY seq DESC LIMIT 1",
                params![id],
                |r| r.get(0),
            )
            .optional()
            .map_err(StoreError::sql(READ))?;
        json.map(|j| decode(&j)).transpose()
    }

    /// `GET /v1/ops`: newest first, filtered and paged in SQL (over each
    /// op's newest row, with `json_extract`), so a page decodes
    /// only its own rows however long the log is.
    pub fn query(
        &self,
        filter: &OpQuery<'_>,
        offset: usize,
        limit: usize,
    ) -> Result<(Vec<Op>, bool)> {
        let db = self.db();
        // Limit + 1 rows: the extra one says whether more follow.
        let take = i64::try_from(limit).unwrap_or(i64::MAX).saturating_add(1);
        let skip = i64::try_from(offset).unwrap_or(i64::MAX);
        let mut st = db.prepare_cached(QUERY).map_err(StoreError::sql(READ))?;
        let f = filter;
        let rows = st
            .query_map(
                params![f.action, f.target, f.who, f.result, take, skip],
                |r| r.get::<_, String>(0),
            )
            .map_err(StoreError::sql(READ))?;
        let mut out = Vec::new();
        for r in rows {
            let j = r.map_err(StoreError::sql(READ))?;
            if out.len() == limit {
                return Ok((out, true));
            }
            out.push(decode(&j)?);
        }
        Ok((out, false))
    }

    /// Operations the console stopped under: the newest record is still
    /// `running`, or `interrupted` with hosts not yet resolved (the
    /// console stopped again while it resolved them). Oldest first.
    pub fn unfinished_ops(&self) -> Result<Vec<Op>> {
        let db = self.db();
        let mut st = db
            .prepare(
                "SELECT a.op FROM audit a JOIN
                   (SELECT MAX(seq) AS last FROM audit
                    WHERE kind IN ('intent', 'result') GROUP BY op_id) b
                 ON a.seq = b.last
                 WHERE json_extract(a.op, '$.state') IN ('running', 'interrupted')
                 ORDER BY a.seq",
            )
            .map_err(StoreError::sql(READ))?;
        let rows = st
            .query_map([], |r| r.get::<_, String>(0))
            .map_err(StoreError::sql(READ))?;
        let mut out = Vec::new();
        for r in rows {
            out.push(decode(&r.map_err(StoreError::sql(READ))?)?);
        }
        Ok(out)
    }
}

/// Whether an op the store says is `running` or `interrupted` still has
/// work: running, or a host not yet resolved.
pub(super) fn open(op: &Op) -> bool {
    op.state == OpState::Running || op.hosts.iter().any(|h| h.verdict == Verdict::Pending)
}

/// An op record's JSON.
pub(super) fn decode(json: &str) -> Result<Op> {
    serde_json::from_str(json).map_err(StoreError::json("cannot read an operation record"))
}

/// The stored link of record `seq`.
fn link_of(db: &Connection, seq: i64) -> Result<Option<String>> {
    db.query_row("SELECT hash FROM audit_chain WHERE seq = ?1", [seq], |r| {
        r.get::<_, String>(0)
    })
    .optional()
    .map_err(StoreError::sql(READ))
}

/// The number the next audit row will get (the first keyed one, for a
/// store whose key is made now).
pub(super) fn next_seq(db: &Connection) -> Result<i64> {
    db.query_row("SELECT COALESCE(MAX(seq), 0) + 1 FROM audit", [], |r| {
        r.get(0)
    })
    .map_err(StoreError::sql(READ))
}

/// The newest link: its record and hash (0 and GENESIS for an empty chain).
fn head(db: &Connection) -> Result<(i64, String)> {
    db.query_row(
        "SELECT seq, hash FROM audit_chain ORDER BY seq DESC LIMIT 1",
        [],
        |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)),
    )
    .optional()
    .map(|h| h.unwrap_or_else(|| (0, GENESIS.to_string())))
    .map_err(StoreError::sql("cannot read the audit chain's head"))
}

fn read_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Row> {
    Ok(Row {
        seq: r.get(0)?,
        op_id: r.get(1)?,
        kind: r.get(2)?,
        at: r.get(3)?,
        who: r.get(4)?,
        op: r.get(5)?,
        source: r.get(6)?,
    })
}
