//! The console's SQLite store (bundled; nothing to install): the
//! append-only audit log of operations and the registered agents.
//!
//! Architecture Invariant: audit rows are never updated or deleted (SQL
//! triggers refuse it). An operation is one `intent` row written before it
//! starts (with the caller's address), a `host` row as each host's call
//! starts and another as it ends (so a console killed mid-op leaves what
//! was done on record), and a `result` row when it ends — or more than one
//! for an op a stopped console left running (`interrupted`, then each
//! in-flight host's outcome once resolved); reading an op takes its newest
//! `intent`/`result` row. Other audited events (logins, refused logins, registrations,
//! refusals, removals) are rows of their own kind with the op id `-`.
//!
//! The log is tamper-evident: `audit_chain` holds, for every audit row,
//! its link — `HMAC-SHA256(key, previous link ‖ the row's fields)`, the
//! key outside the database (`chain.rs`, which says which attacker each
//! part defeats) — written in the same transaction as the row, and never
//! afterwards: a row without its link (one appended behind the console's
//! back) stays unlinked, across restarts. `verify` (`fleet-console audit
//! verify`) names the first broken, unlinked or missing record, and checks
//! the head kept outside the database.

use fleet_api::{Op, OpState, Registration, Verdict};
use rusqlite::{params, Connection, OptionalExtension};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::sync::Mutex;

use super::chain::{Chain, GENESIS};

pub struct Store {
    db: Mutex<Connection>,
    chain: Chain,
}

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

#[derive(Clone, Debug)]
pub struct RegisteredAgent {
    pub reg: Registration,
    pub registered_at: u64,
    pub last_heartbeat: u64,
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS audit (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    op_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    at INTEGER NOT NULL,
    who TEXT NOT NULL,
    op TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_op ON audit(op_id);
CREATE TRIGGER IF NOT EXISTS audit_no_update BEFORE UPDATE ON audit
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER IF NOT EXISTS audit_no_delete BEFORE DELETE ON audit
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TABLE IF NOT EXISTS audit_chain (
    seq INTEGER PRIMARY KEY,
    hash TEXT NOT NULL
);
CREATE TRIGGER IF NOT EXISTS audit_chain_no_update BEFORE UPDATE ON audit_chain
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER IF NOT EXISTS audit_chain_no_delete BEFORE DELETE ON audit_chain
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TABLE IF NOT EXISTS agents (
    name TEXT PRIMARY KEY,
    registration TEXT NOT NULL,
    registered_at INTEGER NOT NULL,
    last_heartbeat INTEGER NOT NULL
);
";

impl Store {
    /// Open (creating the directory and the database on first start).
    pub fn open(dir: &Path) -> Result<Store, String> {
        use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| format!("cannot create data_dir {}: {e}", dir.display()))?;
        // An existing data dir is tightened too: it holds the store and the
        // audit key, the console's alone.
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
            .map_err(|e| format!("cannot restrict data_dir {}: {e}", dir.display()))?;
        let path = dir.join("console.db");
        // The store holds registered agents' tokens: the console's alone.
        // Created 0600 before SQLite opens it (and its -wal/-shm, which
        // SQLite creates with the main file's mode).
        let private = |p: &Path| -> Result<(), String> {
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .mode(0o600)
                .open(p)
                .and_then(|f| f.set_permissions(std::fs::Permissions::from_mode(0o600)))
                .map_err(|e| format!("cannot create {}: {e}", p.display()))
        };
        private(&path)?;
        let db =
            Connection::open(&path).map_err(|e| format!("cannot open {}: {e}", path.display()))?;
        db.execute_batch("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;")
            .and_then(|_| db.execute_batch(SCHEMA))
            .and_then(|_| add_source_column(&db))
            .map_err(|e| format!("{}: {e}", path.display()))?;
        let next = next_seq(&db)?;
        let chain = Chain::open(dir, next, true)?;
        let store = Store {
            db: Mutex::new(db),
            chain,
        };
        store.log_head("opened");
        Ok(store)
    }

    /// Open an existing store only (for `audit verify`: never create one).
    pub fn open_existing(dir: &Path) -> Result<Store, String> {
        let path = dir.join("console.db");
        if !path.is_file() {
            return Err(format!("{}: no such database", path.display()));
        }
        let db = Connection::open_with_flags(&path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .map_err(|e| format!("cannot open {}: {e}", path.display()))?;
        let chain = Chain::open(dir, next_seq(&db)?, false)?;
        Ok(Store {
            db: Mutex::new(db),
            chain,
        })
    }

    /// The head in the console's log: a copy outside the data dir, for
    /// whoever keeps the journal.
    pub fn log_head(&self, when: &str) {
        match head(&self.db()) {
            Ok((seq, link)) => tracing::info!("audit log {when}: head record {seq}, link {link}"),
            Err(e) => tracing::error!("audit log {when}: cannot read its head: {e}"),
        }
    }

    /// Check the whole chain. `Ok((records, head))` when intact; otherwise
    /// the first record that is broken or missing.
    pub fn verify(&self) -> Result<(u64, String), String> {
        let db = self.db();
        let mut st = db
            .prepare(
                "SELECT a.seq, a.op_id, a.kind, a.at, a.who, a.op, a.source, c.hash
                 FROM audit a LEFT JOIN audit_chain c ON c.seq = a.seq ORDER BY a.seq",
            )
            .map_err(|e| e.to_string())?;
        let rows = st
            .query_map([], |r| Ok((Row::read(r)?, r.get::<_, Option<String>>(7)?)))
            .map_err(|e| e.to_string())?;
        let mut prev = GENESIS.to_string();
        let mut n = 0u64;
        for (expect_seq, row) in (1i64..).zip(rows) {
            let (row, stored) = row.map_err(|e| e.to_string())?;
            if row.seq != expect_seq {
                return Err(format!(
                    "record {expect_seq} is missing (the next record is {})",
                    row.seq
                ));
            }
            let want = self.chain.link(row.seq, &prev, &row.fields());
            match stored {
                Some(h) if h == want => prev = h,
                Some(_) => {
                    return Err(format!(
                        "record {} ({} {} at {}) does not match its hash: it was changed, or an earlier record was",
                        row.seq, row.kind, row.op_id, row.at
                    ))
                }
                None => {
                    return Err(format!(
                        "record {} ({} {} at {}) has no link in the chain: it was not written by the console",
                        row.seq, row.kind, row.op_id, row.at
                    ))
                }
            }
            n += 1;
        }
        let chained: i64 = db
            .query_row("SELECT COUNT(*) FROM audit_chain", [], |r| r.get(0))
            .map_err(|e| e.to_string())?;
        if chained as u64 != n {
            return Err(format!(
                "record {} is missing: the chain has {chained} links for {n} records",
                n + 1
            ));
        }
        match self.chain.head()? {
            None if n > 0 => Err(format!(
                "{} is missing: the head kept outside the database cannot be checked",
                self.chain.head_path().display()
            )),
            Some((seq, _)) if seq > n as i64 => Err(format!(
                "record {} is missing: the log ends at record {n} but {} names record {seq} (records were removed from the tail)",
                n + 1,
                self.chain.head_path().display()
            )),
            Some((seq, link)) if seq > 0 && link_of(&db, seq)?.is_none_or(|l| l != link) => {
                Err(format!(
                    "record {seq} does not match the head kept in {}: the log was rewritten",
                    self.chain.head_path().display()
                ))
            }
            _ => Ok((n, prev)),
        }
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
    ) -> Result<(), String> {
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
    ) -> Result<(), String> {
        let mut db = self.db();
        let fail = |e: rusqlite::Error| format!("audit write failed: {e}");
        let tx = db.transaction().map_err(fail)?;
        tx.execute(
            "INSERT INTO audit (op_id, kind, at, who, op, source) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![op_id, kind, at as i64, who, json, source],
        )
        .map_err(fail)?;
        let row = Row {
            seq: tx.last_insert_rowid(),
            op_id: op_id.into(),
            kind: kind.into(),
            at: at as i64,
            who: who.into(),
            op: json.into(),
            source: source.map(str::to_owned),
        };
        let (_, prev) = head(&tx).map_err(|e| format!("audit write failed: {e}"))?;
        let link = self.chain.link(row.seq, &prev, &row.fields());
        tx.execute(
            "INSERT INTO audit_chain (seq, hash) VALUES (?1, ?2)",
            params![row.seq, link],
        )
        .map_err(fail)?;
        tx.commit().map_err(fail)?;
        // Still under the store's lock: heads are written in record order.
        self.chain.set_head(row.seq, &link)
    }

    fn db(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.db.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Append one audit record for `op` (`intent` or `result`).
    pub fn append(&self, kind: &str, op: &Op, at: u64) -> Result<(), String> {
        let json = serde_json::to_string(op).map_err(|e| e.to_string())?;
        self.insert(&op.id, kind, at, &op.who, &json, None)
    }

    pub fn get(&self, id: &str) -> Result<Option<Op>, String> {
        let json: Option<String> = self
            .db()
            .query_row(
                "SELECT op FROM audit WHERE op_id = ?1 AND kind IN ('intent', 'result')
                 ORDER BY seq DESC LIMIT 1",
                params![id],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| e.to_string())?;
        json.map(|j| serde_json::from_str(&j).map_err(|e| e.to_string()))
            .transpose()
    }

    /// `GET /v1/ops`: newest first, filtered and paged in SQL (over each
    /// op's newest row, with `json_extract`), so a page decodes
    /// only its own rows however long the log is.
    pub fn query(
        &self,
        filter: &OpQuery<'_>,
        offset: usize,
        limit: usize,
    ) -> Result<(Vec<Op>, bool), String> {
        let db = self.db();
        // Limit + 1 rows: the extra one says whether more follow.
        let take = i64::try_from(limit).unwrap_or(i64::MAX).saturating_add(1);
        let skip = i64::try_from(offset).unwrap_or(i64::MAX);
        let mut st = db
            .prepare_cached(
                "SELECT a.op FROM audit a JOIN
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
                 ORDER BY b.first DESC LIMIT ?5 OFFSET ?6",
            )
            .map_err(|e| e.to_string())?;
        let rows = st
            .query_map(
                params![
                    filter.action,
                    filter.target,
                    filter.who,
                    filter.result,
                    take,
                    skip
                ],
                |r| r.get::<_, String>(0),
            )
            .map_err(|e| e.to_string())?;
        let mut out = Vec::new();
        for r in rows {
            let j = r.map_err(|e| e.to_string())?;
            if out.len() == limit {
                return Ok((out, true));
            }
            out.push(serde_json::from_str(&j).map_err(|e| e.to_string())?);
        }
        Ok((out, false))
    }

    pub fn agents(&self) -> Result<Vec<RegisteredAgent>, String> {
        let db = self.db();
        let mut st = db
            .prepare("SELECT registration, registered_at, last_heartbeat FROM agents ORDER BY name")
            .map_err(|e| e.to_string())?;
        let rows = st
            .query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, i64>(2)?,
                ))
            })
            .map_err(|e| e.to_string())?;
        let mut out = Vec::new();
        for r in rows {
            let (j, at, hb) = r.map_err(|e| e.to_string())?;
            out.push(RegisteredAgent {
                reg: serde_json::from_str(&j).map_err(|e| e.to_string())?,
                registered_at: at as u64,
                last_heartbeat: hb as u64,
            });
        }
        Ok(out)
    }

    /// Record the heartbeat credential issued to `name` (its hash only).
    pub fn set_credential(&self, name: &str, credential: &str) -> Result<(), String> {
        self.db()
            .execute(
                "UPDATE agents SET credential = ?2 WHERE name = ?1",
                params![name, credential_hash(credential)],
            )
            .map(|_| ())
            .map_err(|e| format!("cannot store the agent's credential: {e}"))
    }

    /// Whether `given` is the heartbeat credential issued to `name`.
    pub fn credential_ok(&self, name: &str, given: &str) -> bool {
        let stored: Option<String> = self
            .db()
            .query_row(
                "SELECT credential FROM agents WHERE name = ?1",
                params![name],
                |r| r.get(0),
            )
            .optional()
            .ok()
            .flatten()
            .flatten();
        stored.is_some_and(|h| {
            bool::from(subtle::ConstantTimeEq::ct_eq(
                h.as_bytes(),
                credential_hash(given).as_bytes(),
            ))
        })
    }

    /// Forget a registration (`DELETE /v1/hosts/{host}`; audited by the
    /// caller first).
    pub fn remove_agent(&self, name: &str) -> Result<(), String> {
        self.db()
            .execute("DELETE FROM agents WHERE name = ?1", params![name])
            .map(|_| ())
            .map_err(|e| format!("cannot remove registration: {e}"))
    }

    pub fn upsert_agent(&self, reg: &Registration, now: u64) -> Result<(), String> {
        let json = serde_json::to_string(reg).map_err(|e| e.to_string())?;
        self.db()
            .execute(
                "INSERT INTO agents (name, registration, registered_at, last_heartbeat)
                 VALUES (?1, ?2, ?3, ?3)
                 ON CONFLICT(name) DO UPDATE SET registration = ?2, last_heartbeat = ?3",
                params![reg.name, json, now as i64],
            )
            .map(|_| ())
            .map_err(|e| format!("cannot store registration: {e}"))
    }

    /// Append an operation's `intent`, with the caller's address.
    pub fn append_intent(&self, op: &Op, at: u64) -> Result<(), String> {
        let json = serde_json::to_string(op).map_err(|e| e.to_string())?;
        self.insert(&op.id, "intent", at, &op.who, &json, op.source.as_deref())
    }

    /// Append one progress record of operation `op_id` (`host`: a host's
    /// call started or finished), chained like every other row.
    pub fn op_record(
        &self,
        op_id: &str,
        kind: &str,
        who: &str,
        json: &str,
        at: u64,
    ) -> Result<(), String> {
        self.insert(op_id, kind, at, who, json, None)
    }

    /// The `kind` records of operation `op_id`, oldest first, with their
    /// times.
    pub fn op_records(&self, op_id: &str, kind: &str) -> Result<Vec<(u64, String)>, String> {
        let db = self.db();
        let mut st = db
            .prepare("SELECT at, op FROM audit WHERE op_id = ?1 AND kind = ?2 ORDER BY seq")
            .map_err(|e| e.to_string())?;
        let rows = st
            .query_map(params![op_id, kind], |r| {
                Ok((r.get::<_, i64>(0)? as u64, r.get::<_, String>(1)?))
            })
            .map_err(|e| e.to_string())?;
        rows.collect::<Result<_, _>>().map_err(|e| e.to_string())
    }

    /// Operations the console stopped under: the newest record is still
    /// `running`, or `interrupted` with hosts not yet resolved (the
    /// console stopped again while it resolved them). Oldest first.
    pub fn unfinished_ops(&self) -> Result<Vec<Op>, String> {
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
            .map_err(|e| e.to_string())?;
        let rows = st
            .query_map([], |r| r.get::<_, String>(0))
            .map_err(|e| e.to_string())?;
        let mut out = Vec::new();
        for r in rows {
            let op: Op =
                serde_json::from_str(&r.map_err(|e| e.to_string())?).map_err(|e| e.to_string())?;
            let open = op.state == OpState::Running
                || op.hosts.iter().any(|h| h.verdict == Verdict::Pending);
            if open {
                out.push(op);
            }
        }
        Ok(out)
    }
}

/// The previous hash of the first record.
/// The stored link of record `seq`.
fn link_of(db: &Connection, seq: i64) -> Result<Option<String>, String> {
    db.query_row("SELECT hash FROM audit_chain WHERE seq = ?1", [seq], |r| {
        r.get::<_, String>(0)
    })
    .optional()
    .map_err(|e| e.to_string())
}

/// The number the next audit row will get (the first keyed one, for a
/// store whose key is made now).
fn next_seq(db: &Connection) -> Result<i64, String> {
    db.query_row("SELECT COALESCE(MAX(seq), 0) + 1 FROM audit", [], |r| {
        r.get(0)
    })
    .map_err(|e| e.to_string())
}

/// Consoles before the chain had no `source` column.
/// and registered agents no `credential` (the SHA-256 of the heartbeat
/// credential issued to each).
fn add_source_column(db: &Connection) -> rusqlite::Result<()> {
    for (table, column) in [("audit", "source"), ("agents", "credential")] {
        let has: bool = db
            .prepare(&format!(
                "SELECT 1 FROM pragma_table_info('{table}') WHERE name = '{column}'"
            ))?
            .exists([])?;
        if !has {
            db.execute_batch(&format!("ALTER TABLE {table} ADD COLUMN {column} TEXT"))?;
        }
    }
    Ok(())
}

/// What the store keeps of a heartbeat credential.
pub fn credential_hash(credential: &str) -> String {
    fleet_daemon::hex::encode(
        ring::digest::digest(&ring::digest::SHA256, credential.as_bytes()).as_ref(),
    )
}

/// The newest link: its record and hash (0 and GENESIS for an empty chain).
fn head(db: &Connection) -> Result<(i64, String), String> {
    db.query_row(
        "SELECT seq, hash FROM audit_chain ORDER BY seq DESC LIMIT 1",
        [],
        |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)),
    )
    .optional()
    .map(|h| h.unwrap_or_else(|| (0, GENESIS.to_string())))
    .map_err(|e| e.to_string())
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

#[cfg(test)]
mod tests {
    use super::*;
    use fleet_api::{OpRequest, StrategyKind, Verb};

    /// The reference `query` is checked against: every op decoded and
    /// filtered in Rust. Newest first: the ops `keep` accepts, `offset` of
    /// them skipped, at most `limit`, and whether more follow.
    fn list(
        s: &Store,
        mut keep: impl FnMut(&Op) -> bool,
        offset: usize,
        limit: usize,
    ) -> Result<(Vec<Op>, bool), String> {
        let db = s.db();
        let mut st = db
            .prepare(
                "SELECT a.op FROM audit a JOIN
                   (SELECT MAX(seq) AS last, MIN(seq) AS first FROM audit
                    WHERE kind IN ('intent', 'result') GROUP BY op_id) b
                 ON a.seq = b.last ORDER BY b.first DESC",
            )
            .map_err(|e| e.to_string())?;
        let rows = st
            .query_map([], |r| r.get::<_, String>(0))
            .map_err(|e| e.to_string())?;
        let mut out = Vec::new();
        let mut skipped = 0;
        for r in rows {
            let j = r.map_err(|e| e.to_string())?;
            let op: Op = serde_json::from_str(&j).map_err(|e| e.to_string())?;
            if !keep(&op) {
                continue;
            }
            if skipped < offset {
                skipped += 1;
                continue;
            }
            if out.len() == limit {
                return Ok((out, true));
            }
            out.push(op);
        }
        Ok((out, false))
    }

    fn op(id: &str, state: OpState) -> Op {
        Op {
            id: id.into(),
            who: "ops".into(),
            request: OpRequest {
                action: Verb::Restart,
                target: "all".into(),
                hosts: None,
                signal: None,
                strategy: StrategyKind::Parallel,
                concurrency: None,
                batch: None,
                max_failures: None,
                timeout_ms: None,
                dry_run: false,
                only: vec![],
            },
            state,
            created_at: 1,
            finished_at: None,
            hosts: vec![],
            source: None,
        }
    }

    #[test]
    fn append_only_newest_record_wins_and_survives_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(&dir.path().join("data")).unwrap();
        s.append("intent", &op("a", OpState::Running), 1).unwrap();
        s.append("intent", &op("b", OpState::Running), 2).unwrap();
        s.append("result", &op("a", OpState::Done), 3).unwrap();
        let (all, more) = list(&s, |_| true, 0, 10).unwrap();
        assert_eq!(
            all.iter().map(|o| o.id.as_str()).collect::<Vec<_>>(),
            ["b", "a"]
        );
        assert!(!more);
        // Paging and filtering: newest first, skip, then whether more match.
        assert_eq!(list(&s, |_| true, 0, 1).unwrap().0[0].id, "b");
        assert!(list(&s, |_| true, 0, 1).unwrap().1);
        let (page2, more) = list(&s, |_| true, 1, 1).unwrap();
        assert_eq!((page2[0].id.as_str(), more), ("a", false));
        let done = list(&s, |o| o.state == OpState::Done, 0, 10).unwrap().0;
        assert_eq!(done.len(), 1);
        assert_eq!(all[1].state, OpState::Done);
        assert!(s.db().execute("DELETE FROM audit", []).is_err());
        assert!(s.db().execute("UPDATE audit SET who = 'x'", []).is_err());
        s.event(
            "login",
            "ops",
            Some("127.0.0.1:1"),
            &serde_json::json!({}),
            4,
        )
        .unwrap();
        assert_eq!(
            list(&s, |_| true, 0, 10).unwrap().0.len(),
            2,
            "events are not ops"
        );
        assert_eq!(s.verify().unwrap().0, 4);
        drop(s);
        let s = Store::open(&dir.path().join("data")).unwrap();
        let open = s.unfinished_ops().unwrap();
        assert_eq!(
            open.iter().map(|o| o.id.as_str()).collect::<Vec<_>>(),
            ["b"]
        );
        s.op_record("b", "host", "ops", "{}", 9).unwrap();
        assert_eq!(s.op_records("b", "host").unwrap(), [(9, "{}".to_string())]);
        let b = s.get("b").unwrap().unwrap();
        assert_eq!(b.state, OpState::Running, "a progress record is not the op");
        assert_eq!(list(&s, |_| true, 0, 10).unwrap().0.len(), 2);
        // Interrupted with a host left to resolve is still unfinished;
        // resolved, it is not.
        let mut b = op("b", OpState::Interrupted);
        b.hosts = vec![fleet_api::HostResult {
            host: "h".into(),
            verdict: Verdict::Pending,
            batch: None,
            message: String::new(),
            processes: vec![],
        }];
        s.append("result", &b, 10).unwrap();
        assert_eq!(s.unfinished_ops().unwrap().len(), 1);
        b.hosts[0].verdict = Verdict::Ok;
        s.append("result", &b, 11).unwrap();
        assert!(s.unfinished_ops().unwrap().is_empty());
        assert_eq!(s.verify().unwrap().0, 7);
    }

    /// `query` keeps exactly what the filter it replaced (a Rust closure
    /// over every decoded op) kept, in the same order and pages.
    #[test]
    fn query_in_sql_equals_the_old_filter_over_every_op() {
        use fleet_api::{HostResult, Verdict};
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path()).unwrap();
        let verbs = [Verb::Start, Verb::Stop, Verb::Restart, Verb::Signal];
        let verdicts = [
            Verdict::Ok,
            Verdict::Failed,
            Verdict::Unreachable,
            Verdict::Skipped,
        ];
        let mut at = 0;
        for i in 0..300usize {
            let mut o = op(&format!("op-{i:03}"), OpState::Running);
            o.who = ["ops", "alice", "bob"][i % 3].into();
            o.request.action = verbs[i % 4];
            o.request.target = ["all", "web", "celery:worker_00", "webby"][i % 7 % 4].into();
            o.request.hosts =
                [None, Some("@workers".into()), Some("w-0*".into())][i % 5 % 3].clone();
            o.hosts = (0..i % 4)
                .map(|h| HostResult {
                    host: format!("w-{h}"),
                    verdict: verdicts[(i + h) % 4],
                    batch: None,
                    message: String::new(),
                    processes: vec![],
                })
                .collect();
            at += 1;
            s.append("intent", &o, at).unwrap();
            // Most finish (done or aborted); some never do.
            if i % 6 != 0 {
                o.state = [OpState::Done, OpState::Aborted][i % 11 % 2];
                at += 1;
                s.append("result", &o, at).unwrap();
            }
            if i % 50 == 0 {
                s.event("login", "ops", None, &serde_json::json!({}), at)
                    .unwrap();
            }
        }
        // The filter `query` replaced, as it was.
        let keeps = |f: &OpQuery, op: &Op| {
            let r = &op.request;
            let failed = op
                .hosts
                .iter()
                .any(|h| matches!(h.verdict, Verdict::Failed | Verdict::Unreachable));
            f.action.is_none_or(|a| r.action.to_string() == a)
                && f.target.is_none_or(|t| {
                    r.target.contains(t) || r.hosts.as_deref().unwrap_or("all").contains(t)
                })
                && f.who.is_none_or(|w| op.who == w)
                && f.result.is_none_or(|want| match want {
                    "ok" => op.state == OpState::Done && !failed,
                    "failed" => failed,
                    "running" => op.state == OpState::Running,
                    _ => op.state == OpState::Aborted,
                })
        };
        let ids = |l: &[Op]| l.iter().map(|o| o.id.clone()).collect::<Vec<_>>();
        let mut checked = 0;
        for action in [None, Some("restart"), Some("signal"), Some("nope")] {
            for target in [
                None,
                Some("web"),
                Some("all"),
                Some("@work"),
                Some(""),
                Some("w-0*"),
            ] {
                for who in [None, Some("alice")] {
                    for result in [
                        None,
                        Some("ok"),
                        Some("failed"),
                        Some("running"),
                        Some("aborted"),
                    ] {
                        let f = OpQuery {
                            action,
                            target,
                            who,
                            result,
                        };
                        for (offset, limit) in
                            [(0, 1000), (0, 7), (5, 7), (40, 3), (1000, 5), (0, 0)]
                        {
                            let old = list(&s, |o| keeps(&f, o), offset, limit).unwrap();
                            let new = s.query(&f, offset, limit).unwrap();
                            assert_eq!(
                                (ids(&new.0), new.1),
                                (ids(&old.0), old.1),
                                "{f:?} offset {offset} limit {limit}"
                            );
                            checked += old.0.len();
                        }
                    }
                }
            }
        }
        assert!(
            checked > 1000,
            "the filters kept too little to compare: {checked}"
        );
        // Whole ops come back, not just their ids.
        let all = s.query(&OpQuery::default(), 0, 1000).unwrap().0;
        assert_eq!(all.len(), 300);
        assert_eq!(all, list(&s, |_| true, 0, 1000).unwrap().0);
    }

    #[test]
    fn tampering_is_named_by_verify() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path()).unwrap();
        for (i, id) in ["a", "b", "c"].iter().enumerate() {
            s.append("intent", &op(id, OpState::Running), i as u64)
                .unwrap();
        }
        let (n, head) = s.verify().unwrap();
        assert_eq!((n, head.len()), (3, 64));
        s.db()
            .execute_batch(
                "DROP TRIGGER audit_no_update; UPDATE audit SET who = 'mallory' WHERE seq = 2;",
            )
            .unwrap();
        let e = s.verify().unwrap_err();
        assert!(e.starts_with("record 2 (intent b"), "{e}");
        s.db()
            .execute_batch("DROP TRIGGER audit_no_delete; DELETE FROM audit WHERE seq = 1;")
            .unwrap();
        assert_eq!(
            s.verify().unwrap_err(),
            "record 1 is missing (the next record is 2)"
        );
    }
}
