//! The console's SQLite store (bundled; nothing to install): the
//! append-only audit log of operations (`audit.rs`, its keyed chain in
//! `chain.rs`) and the registered agents (`agents.rs`), on one connection.
//! This file opens the database, keeps its schema and migrations, and
//! names what can go wrong ([`StoreError`]).
//!
//! Architecture Invariant: no SQL outside this folder. The rest of the
//! console sees [`Store`]'s methods only, so a second implementation
//! (another database) is a second set of these files.
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

mod agents;
mod audit;
mod chain;

#[cfg(test)]
mod tests;

use rusqlite::Connection;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

pub use agents::{credential_hash, RegisteredAgent};
pub use audit::OpQuery;
use chain::Chain;

/// What the store could not do. Each message names the file or the
/// step, and carries its cause (there is no separate `source`, so a chain
/// printer never repeats it).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A file or directory of the data dir (`what` says which and how,
    /// e.g. "cannot create data_dir /var/lib/fleet").
    #[error("{what}: {error}")]
    Io { what: String, error: std::io::Error },
    /// The database could not be opened.
    #[error("cannot open {}: {error}", path.display())]
    Open {
        path: PathBuf,
        error: rusqlite::Error,
    },
    /// `audit verify` on a data dir without a database.
    #[error("{}: no such database", .0.display())]
    NoDatabase(PathBuf),
    /// Setting up or migrating the schema.
    #[error("{}: {error}", path.display())]
    Schema {
        path: PathBuf,
        error: rusqlite::Error,
    },
    /// A statement failed; `doing` says what the store was doing.
    #[error("{doing}: {error}")]
    Sql {
        doing: &'static str,
        error: rusqlite::Error,
    },
    /// A record could not be turned into JSON or read back from it.
    #[error("{doing}: {error}")]
    Json {
        doing: &'static str,
        error: serde_json::Error,
    },
    /// `audit.key` or `audit.head` is not what the console writes.
    #[error("{}: not an audit {kind}", path.display())]
    BadFile { path: PathBuf, kind: &'static str },
    #[error("the system random generator failed")]
    Random,
    /// `verify` found the log changed: the first broken, unlinked or
    /// missing record, in words.
    #[error("{0}")]
    Broken(String),
}

impl StoreError {
    fn io(what: String) -> impl FnOnce(std::io::Error) -> StoreError {
        move |error| StoreError::Io { what, error }
    }

    fn sql(doing: &'static str) -> impl FnOnce(rusqlite::Error) -> StoreError {
        move |error| StoreError::Sql { doing, error }
    }

    fn json(doing: &'static str) -> impl FnOnce(serde_json::Error) -> StoreError {
        move |error| StoreError::Json { doing, error }
    }
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

pub struct Store {
    db: Mutex<Connection>,
    chain: Chain,
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
    pub fn open(dir: &Path) -> Result<Store> {
        private_dir(dir)?;
        let path = dir.join("console.db");
        // The store holds registered agents' tokens: the console's alone.
        // Created 0600 before SQLite opens it (and its -wal/-shm, which
        // SQLite creates with the main file's mode).
        private_file(&path)?;
        let db = Connection::open(&path).map_err(|error| StoreError::Open {
            path: path.clone(),
            error,
        })?;
        db.execute_batch("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;")
            .and_then(|_| db.execute_batch(SCHEMA))
            .and_then(|_| add_columns(&db))
            .map_err(|error| StoreError::Schema { path, error })?;
        let next = audit::next_seq(&db)?;
        let chain = Chain::open(dir, next, true)?;
        let store = Store {
            db: Mutex::new(db),
            chain,
        };
        store.log_head("opened");
        Ok(store)
    }

    /// Open an existing store only (for `audit verify`: never create one).
    pub fn open_existing(dir: &Path) -> Result<Store> {
        let path = dir.join("console.db");
        if !path.is_file() {
            return Err(StoreError::NoDatabase(path));
        }
        let db = Connection::open_with_flags(&path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .map_err(|error| StoreError::Open { path, error })?;
        let chain = Chain::open(dir, audit::next_seq(&db)?, false)?;
        Ok(Store {
            db: Mutex::new(db),
            chain,
        })
    }

    fn db(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.db.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The data dir, 0700 (an existing one is tightened too: it holds the
/// store and the audit key, the console's alone).
fn private_dir(dir: &Path) -> Result<()> {
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
