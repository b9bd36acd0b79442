//! The embedded store: one SQLite file in `data_dir` (bundled; nothing to
//! install), on one connection. Its statements are in `audit.rs` and
//! `agents.rs`; this file opens it and keeps its schema.

use rusqlite::Connection;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use super::chain::Chain;
use super::{audit, Result, StoreError, SCHEMA_VERSION};

pub struct Lite {
    db: Mutex<Connection>,
    pub(super) chain: Chain,
    path: PathBuf,
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

impl Lite {
    /// Open (creating the directory and the database on first start, and
    /// upgrading an older schema).
    pub fn open(dir: &Path) -> Result<Lite> {
        private_dir(dir)?;
        let path = dir.join("console.db");
        // The store holds registered agents' tokens: the console's alone.
        // Created 0600 before SQLite opens it (and its -wal/-shm, which
        // SQLite creates with the main file's mode).
        private_file(&path)?;
        let db = Connection::open(&path).map_err(|error| StoreError::Open {
            what: path.display().to_string(),
            error: error.to_string(),
        })?;
        let schema = |error: rusqlite::Error| StoreError::Schema {
            what: path.display().to_string(),
            error: error.to_string(),
        };
        db.execute_batch("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;")
            .map_err(schema)?;
        let found = version(&db).map_err(schema)?;
        if found > SCHEMA_VERSION {
            return Err(StoreError::Newer {
                what: path.display().to_string(),
                found,
            });
        }
        db.execute_batch(SCHEMA)
            .and_then(|_| add_columns(&db))
            .and_then(|_| db.pragma_update(None, "user_version", SCHEMA_VERSION))
            .map_err(schema)?;
        let next = audit::next_seq(&db)?;
        let chain = Chain::open(dir, next, true)?;
        Ok(Lite {
            db: Mutex::new(db),
            chain,
            path,
        })
    }

    /// Open an existing store only (for `audit verify`: never create one).
    pub fn open_existing(dir: &Path) -> Result<Lite> {
        let path = dir.join("console.db");
        if !path.is_file() {
            return Err(StoreError::NoDatabase(path.display().to_string()));
        }
        let db = Connection::open_with_flags(&path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .map_err(|error| StoreError::Open {
                what: path.display().to_string(),
                error: error.to_string(),
            })?;
        let chain = Chain::open(dir, audit::next_seq(&db)?, false)?;
        Ok(Lite {
            db: Mutex::new(db),
            chain,
            path,
        })
    }

    pub fn describe(&self) -> String {
        format!("SQLite {}", self.path.display())
    }

    pub(super) fn db(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.db.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// `fleet-console migrate` on SQLite: the version before, and after.
pub(super) fn migrate(dir: &Path) -> Result<(i64, i64)> {
    let path = dir.join("console.db");
    let before = if path.is_file() {
        let db = Connection::open_with_flags(&path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .map_err(|error| StoreError::Open {
                what: path.display().to_string(),
                error: error.to_string(),
            })?;
        version(&db).map_err(StoreError::sql("cannot read the schema version"))?
    } else {
        0
    };
    Lite::open(dir)?;
    Ok((before, SCHEMA_VERSION))
}

/// The schema version a database holds (`PRAGMA user_version`; 0 before
/// versions were kept, or a new file).
fn version(db: &Connection) -> rusqlite::Result<i64> {
    db.query_row("PRAGMA user_version", [], |r| r.get(0))
}

/// The data dir, 0700 (an existing one is tightened too: it holds the
/// store and the audit key, the console's alone).
pub(super) fn private_dir(dir: &Path) -> Result<()> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(StoreError::io(format!(
            "cannot create data_dir {}",
            dir.display()
        )))?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(StoreError::io(
        format!("cannot restrict data_dir {}", dir.display()),
    ))
}

/// Create `p` 0600 if it is missing, and make it 0600 if it is not.
fn private_file(p: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(p)
        .and_then(|f| f.set_permissions(std::fs::Permissions::from_mode(0o600)))
        .map_err(StoreError::io(format!("cannot create {}", p.display())))
}

/// Consoles before the chain had no `source` column in `audit`, and
/// registered agents no `credential` (the SHA-256 of the heartbeat
/// credential issued to each).
fn add_columns(db: &Connection) -> rusqlite::Result<()> {
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
