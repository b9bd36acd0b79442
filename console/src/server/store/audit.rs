//! The audit log: appending records (each with its chain link, in one
//! transaction), reading operations back (`get`, `query`,
//! `unfinished_ops`, `op_records`) and `verify`. The rules the log keeps
//! are in `mod.rs`.

use fleet_api::{Op, OpState, Verdict};
use rusqlite::{params, Connection, OptionalExtension};

use super::chain::GENESIS;
use super::{Result, Store, StoreError};

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

impl Store {
    /// The head in the console's log: a copy outside the data dir, for
    /// whoever keeps the journal.
    pub fn log_head(&self, when: &str) {
        match head(&self.db()) {
            Ok((seq, link)) => tracing::info!("audit log {when}: head record {seq}, link {link}"),
            Err(e) => tracing::error!("audit log {when}: {e}"),
        }
    }

    /// Check the whole chain. `Ok((records, head))` when intact; otherwise
    /// the first record that is broken or missing
    /// ([`StoreError::Broken`]).
    pub fn verify(&self) -> Result<(u64, String)> {
        let db = self.db();
        let (n, prev) = self.verify_links(&db)?;
        let chained: i64 = db
            .query_row("SELECT COUNT(*) FROM audit_chain", [], |r| r.get(0))
            .map_err(StoreError::sql(READ))?;
        if chained as u64 != n {
            return Err(StoreError::Broken(format!(
                "record {} is missing: the chain has {chained} links for {n} records",
                n + 1
            )));
        }
        self.verify_head(&db, n)?;
        Ok((n, prev))
    }

    /// Every row's link, in order: how many there are and the last link.
    fn verify_links(&self, db: &Connection) -> Result<(u64, String)> {
        let mut st = db
            .prepare(
                "SELECT a.seq, a.op_id, a.kind, a.at, a.who, a.op, a.source, c.hash
                 FROM audit a LEFT JOIN audit_chain c ON c.seq = a.seq ORDER BY a.seq",
            )
            .map_err(StoreError::sql(READ))?;
        let rows = st
            .query_map([], |r| Ok((Row::read(r)?, r.get::<_, Option<String>>(7)?)))
            .map_err(StoreError::sql(READ))?;
        let mut prev = GENESIS.to_string();
        let mut n = 0u64;
        for (expect_seq, row) in (1i64..).zip(rows) {
            let (row, stored) = row.map_err(StoreError::sql(READ))?;
            if row.seq != expect_seq {
                return Err(StoreError::Broken(format!(
                    "record {expect_seq} is missing (the next record is {})",
                    row.seq
                )));
            }
            let want = self.chain.link(row.seq, &prev, &row.fields());
            let why = match stored {
                Some(h) if h == want => {
                    prev = h;
                    n += 1;
                    continue;
                }
                Some(_) => "does not match its hash: it was changed, or an earlier record was",
                None => "has no link in the chain: it was not written by the console",
            };
            return Err(StoreError::Broken(format!(
                "record {} ({} {} at {}) {why}",
                row.seq, row.kind, row.op_id, row.at
            )));
        }
        Ok((n, prev))
    }

    /// The head kept outside the database against a log of `n` records.
    fn verify_head(&self, db: &Connection, n: u64) -> Result<()> {
        let path = self.chain.head_path().display();
        let broken = match self.chain.head()? {
            None if n > 0 => format!(
                "{path} is missing: the head kept outside the database cannot be checked"
            ),
            Some((seq, _)) if seq > n as i64 => format!(
                "record {} is missing: the log ends at record {n} but {path} names record {seq} (records were removed from the tail)",
                n + 1,
            ),
            Some((seq, link)) if seq > 0 && link_of(db, seq)?.is_none_or(|l| l != link) => {
                format!("record {seq} does not match the head kept in {path}: the log was rewritten")
            }
            _ => return Ok(()),
        };
        Err(StoreError::Broken(broken))
    }

    /// Append one non-op event (`login`, `login_refused`, `register`,
    /// `register_refused`, `remove`…): who, from where, and what.
    pub fn event(
        &self,
        kind: &str,
        who: &str,
        source: Option<&str>,
        detail: &serde_json::Value,
        at: u64,
    ) -> Result<()> {
        self.insert("-", kind, at, who, &detail.to_string(), source)
    }

    /// Insert one audit row and its chain link in one transaction.
    fn insert(
        &self,
        op_id: &str,
        kind: &str,
        at: u64,
        who: &str,
        json: &str,
        source: Option<&str>,
    ) -> Result<()> {
        let mut db = self.db();
        let tx = db.transaction().map_err(StoreError::sql(WRITE))?;
        tx.execute(
            "INSERT INTO audit (op_id, kind, at, who, op, source) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![op_id, kind, at as i64, who, json, source],
        )
        .map_err(StoreError::sql(WRITE))?;
        let row = Row {
            seq: tx.last_insert_rowid(),
            op_id: op_id.into(),
            kind: kind.into(),
            at: at as i64,
            who: who.into(),
            op: json.into(),
            source: source.map(str::to_owned),
        };
        let (_, prev) = head(&tx)?;
        let link = self.chain.link(row.seq, &prev, &row.fields());
        tx.execute(
            "INSERT INTO audit_chain (seq, hash) VALUES (?1, ?2)",
            params![row.seq, link],
        )
        .map_err(StoreError::sql(WRITE))?;
        tx.commit().map_err(StoreError::sql(WRITE))?;
        // Still under the store's lock: heads are written in record order.
        self.chain.set_head(row.seq, &link)
    }

    /// Append one audit record for `op` (`intent` or `result`).
    pub fn append(&self, kind: &str, op: &Op, at: u64) -> Result<()> {
        let json = serde_json::to_string(op).map_err(StoreError::json(WRITE))?;
        self.insert(&op.id, kind, at, &op.who, &json, None)
    }

    /// Append an operation's `intent`, with the caller's address.
    pub fn append_intent(&self, op: &Op, at: u64) -> Result<()> {
        let json = serde_json::to_string(op).map_err(StoreError::json(WRITE))?;
        self.insert(&op.id, "intent", at, &op.who, &json, op.source.as_deref())
    }

    /// Append one progress record of operation `op_id` (`host`: a host's
    /// call started or finished), chained like every other row.
    pub fn op_record(&self, op_id: &str, kind: &str, who: &str, json: &str, at: u64) -> Result<()> {
        self.insert(op_id, kind, at, who, json, None)
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
            let op = decode(&r.map_err(StoreError::sql(READ))?)?;
            let open = op.state == OpState::Running
                || op.hosts.iter().any(|h| h.verdict == Verdict::Pending);
            if open {
                out.push(op);
            }
        }
        Ok(out)
    }
}

/// An op record's JSON.
fn decode(json: &str) -> Result<Op> {
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

/// One audit row, as hashed.
struct Row {
    seq: i64,
    op_id: String,
    kind: String,
    at: i64,
    who: String,
    op: String,
    source: Option<String>,
}

impl Row {
    fn read(r: &rusqlite::Row<'_>) -> rusqlite::Result<Row> {
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

    /// The fields a link covers, in order.
    fn fields(&self) -> [String; 7] {
        [
            self.seq.to_string(),
            self.op_id.clone(),
            self.kind.clone(),
            self.at.to_string(),
            self.who.clone(),
            self.op.clone(),
            self.source.clone().unwrap_or_default(),
        ]
    }
}
