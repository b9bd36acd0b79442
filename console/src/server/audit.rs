//! The console's SQLite store (bundled; nothing to install): the
//! append-only audit log of operations and the registered agents.
//!
//! Architecture Invariant: audit rows are never updated or deleted (SQL
//! triggers refuse it). An operation is one `intent` row written before it
//! starts and one `result` row when it ends; reading an op takes its newest
//! row.

use fleet_api::{Op, OpState, Registration, Verdict};
use rusqlite::{params, Connection, OptionalExtension};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::sync::Mutex;

pub struct Store {
    db: Mutex<Connection>,
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
            .map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(Store { db: Mutex::new(db) })
    }

    fn db(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.db.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Append one audit record for `op` (`intent` or `result`).
    pub fn append(&self, kind: &str, op: &Op, at: u64) -> Result<(), String> {
        let json = serde_json::to_string(op).map_err(|e| e.to_string())?;
        self.db()
            .execute(
                "INSERT INTO audit (op_id, kind, at, who, op) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![op.id, kind, at as i64, op.who, json],
            )
            .map(|_| ())
            .map_err(|e| format!("audit write failed: {e}"))
    }

    pub fn get(&self, id: &str) -> Result<Option<Op>, String> {
        let json: Option<String> = self
            .db()
            .query_row(
                "SELECT op FROM audit WHERE op_id = ?1 ORDER BY seq DESC LIMIT 1",
                params![id],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| e.to_string())?;
        json.map(|j| serde_json::from_str(&j).map_err(|e| e.to_string()))
            .transpose()
    }

    /// Newest first.
    pub fn list(&self, limit: usize) -> Result<Vec<Op>, String> {
        let db = self.db();
        let mut st = db
            .prepare(
                "SELECT a.op FROM audit a JOIN
                   (SELECT MAX(seq) AS last, MIN(seq) AS first FROM audit GROUP BY op_id) b
                 ON a.seq = b.last ORDER BY b.first DESC LIMIT ?1",
            )
            .map_err(|e| e.to_string())?;
        let rows = st
            .query_map(params![limit as i64], |r| r.get::<_, String>(0))
            .map_err(|e| e.to_string())?;
        let mut out = Vec::new();
        for r in rows {
            let j = r.map_err(|e| e.to_string())?;
            out.push(serde_json::from_str(&j).map_err(|e| e.to_string())?);
        }
        Ok(out)
    }

    /// Ops whose last record is still `running` (the console stopped under
    /// them): append a result record marking them aborted.
    pub fn close_interrupted(&self, now: u64) -> Result<usize, String> {
        let ops = self.list(10_000)?;
        let mut n = 0;
        for mut op in ops.into_iter().filter(|o| o.state == OpState::Running) {
            op.state = OpState::Aborted;
            op.finished_at = Some(now);
            for h in &mut op.hosts {
                if h.verdict == Verdict::Pending {
                    h.verdict = Verdict::Skipped;
                    h.message = "interrupted: the console stopped before this host finished".into();
                }
            }
            self.append("result", &op, now)?;
            n += 1;
        }
        Ok(n)
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use fleet_api::{OpRequest, StrategyKind, Verb};

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
            },
            state,
            created_at: 1,
            finished_at: None,
            hosts: vec![],
        }
    }

    #[test]
    fn append_only_newest_record_wins_and_survives_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(&dir.path().join("data")).unwrap();
        s.append("intent", &op("a", OpState::Running), 1).unwrap();
        s.append("intent", &op("b", OpState::Running), 2).unwrap();
        s.append("result", &op("a", OpState::Done), 3).unwrap();
        let list = s.list(10).unwrap();
        assert_eq!(
            list.iter().map(|o| o.id.as_str()).collect::<Vec<_>>(),
            ["b", "a"]
        );
        assert_eq!(list[1].state, OpState::Done);
        assert!(s.db().execute("DELETE FROM audit", []).is_err());
        assert!(s.db().execute("UPDATE audit SET who = 'x'", []).is_err());
        drop(s);
        let s = Store::open(&dir.path().join("data")).unwrap();
        assert_eq!(s.close_interrupted(9).unwrap(), 1);
        assert_eq!(s.get("b").unwrap().unwrap().state, OpState::Aborted);
    }
}
