//! The console's store: the append-only audit log of operations (its
//! keyed chain in `chain.rs`, the checks `verify.rs`), the registered
//! agents, and (with PostgreSQL) what several consoles share. Two
//! implementations behind one [`Store`]: the embedded SQLite file
//! (`lite.rs`, statements in `audit.rs` and `agents.rs`; the default,
//! nothing to set up) and PostgreSQL (`pg/`, `[store] url`), which
//! several consoles share. This file picks one, keeps the schema version
//! both share, and names what can go wrong ([`StoreError`]).
//!
//! Architecture Invariant: no SQL outside this folder. The rest of the
//! console sees [`Store`]'s methods only; both implementations pass the
//! same behaviour suite (`tests.rs` on SQLite, `tests/console_store_pg.rs`
//! on a real PostgreSQL).
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
//! back) stays unlinked, across restarts. Rows are appended in batches
//! ([`Store::append_rows`]: one transaction however many rows), numbered
//! and linked in one order even with several consoles writing (PostgreSQL
//! takes an advisory lock on the chain in the transaction). `verify`
//! (`fleet-console audit verify`) names the first broken, unlinked or
//! missing record, and checks the head kept outside the database.

mod agents;
mod audit;
mod chain;
mod lite;
mod pg;
mod verify;

#[cfg(test)]
mod tests;

use fleet_api::{Op, Registration};
use std::path::Path;

pub use agents::{credential_hash, RegisteredAgent};
pub use audit::OpQuery;
pub use lite::Lite;
pub use pg::Pg;
pub use verify::NewRow;

use crate::server::config::PgConfig;

/// The schema this console writes. A store holding a newer one is
/// refused (a newer console migrated it); an older one is upgraded at
/// start or by `fleet-console migrate`.
pub const SCHEMA_VERSION: i64 = 1;

/// What the store could not do. Each message names the file, database or
/// step, and carries its cause as text (there is no separate `source`, so
/// a chain printer never repeats it; a database's message never holds the
/// connection string).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A file or directory of the data dir (`what` says which and how,
    /// e.g. "cannot create data_dir /var/lib/fleet").
    #[error("{what}: {error}")]
    Io { what: String, error: std::io::Error },
    /// The database could not be opened (or reached).
    #[error("cannot open {what}: {error}")]
    Open { what: String, error: String },
    /// `audit verify` on a data dir without a database.
    #[error("{0}: no such database")]
    NoDatabase(String),
    /// Setting up or migrating the schema.
    #[error("{what}: {error}")]
    Schema { what: String, error: String },
    /// The database was migrated by a newer console.
    #[error("{what}: schema version {found} is newer than this console's ({SCHEMA_VERSION}); run the newer console, or restore a backup")]
    Newer { what: String, found: i64 },
    /// A statement failed; `doing` says what the store was doing.
    #[error("{doing}: {error}")]
    Sql { doing: &'static str, error: String },
    /// A record could not be turned into JSON or read back from it.
    #[error("{doing}: {error}")]
    Json {
        doing: &'static str,
        error: serde_json::Error,
    },
    /// `audit.key` or `audit.head` is not what the console writes.
    #[error("{}: not an audit {kind}", path.display())]
    BadFile {
        path: std::path::PathBuf,
        kind: &'static str,
    },
    #[error("the system random generator failed")]
    Random,
    /// A runner's write after its op's lease passed (expired, or taken
    /// by another console): nothing was written.
    #[error("operation {0}: this console no longer holds its lease; nothing written")]
    Fenced(String),
    /// `verify` found the log changed: the first broken, unlinked or
    /// missing record, in words.
    #[error("{0}")]
    Broken(String),
}

impl StoreError {
    fn io(what: String) -> impl FnOnce(std::io::Error) -> StoreError {
        move |error| StoreError::Io { what, error }
    }

    fn sql<E: std::fmt::Display>(doing: &'static str) -> impl FnOnce(E) -> StoreError {
        move |error| StoreError::Sql {
            doing,
            error: error.to_string(),
        }
    }

    fn json(doing: &'static str) -> impl FnOnce(serde_json::Error) -> StoreError {
        move |error| StoreError::Json { doing, error }
    }
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// The console's store: one of the two implementations.
pub enum Store {
    Lite(Lite),
    Pg(Pg),
}

/// Each method, on whichever store this is.
macro_rules! both {
    ($self:ident, $s:ident => $e:expr) => {
        match $self {
            Store::Lite($s) => $e,
            Store::Pg($s) => $e,
        }
    };
}

impl Store {
    /// The SQLite store in `dir` (created on first start).
    pub fn open(dir: &Path) -> Result<Store> {
        let s = Store::Lite(Lite::open(dir)?);
        s.log_head("opened");
        Ok(s)
    }

    /// The store the config names: PostgreSQL with `[store] url`
    /// (migrated when older), SQLite in `data_dir` otherwise. The audit
    /// key and head stay in `data_dir` either way.
    pub fn connect(pg: Option<&PgConfig>, data_dir: &Path) -> Result<Store> {
        match pg {
            None => Store::open(data_dir),
            Some(c) => {
                let s = Store::Pg(Pg::connect(c, data_dir, true)?);
                s.log_head("opened");
                Ok(s)
            }
        }
    }

    /// An existing store only, read-only where it can be (`audit
    /// verify`: never create one).
    pub fn open_existing(pg: Option<&PgConfig>, data_dir: &Path) -> Result<Store> {
        match pg {
            None => Ok(Store::Lite(Lite::open_existing(data_dir)?)),
            Some(c) => Ok(Store::Pg(Pg::connect(c, data_dir, false)?)),
        }
    }

    /// `fleet-console migrate`: create or upgrade the schema; the
    /// version before and after.
    /// With `app_role` (PostgreSQL only), grant that role what a console
    /// needs and, on the audit, only INSERT and SELECT.
    pub fn migrate(
        pg: Option<&PgConfig>,
        data_dir: &Path,
        app_role: Option<&str>,
    ) -> Result<(i64, i64)> {
        match (pg, app_role) {
            (None, None) => lite::migrate(data_dir),
            (None, Some(_)) => Err(StoreError::Schema {
                what: "--app-role".into(),
                error: "only for a PostgreSQL store ([store] url)".into(),
            }),
            (Some(c), role) => pg::migrate(c, role),
        }
    }

    /// Which store, in words, for the start-up line (never a password).
    pub fn describe(&self) -> String {
        both!(self, s => s.describe())
    }

    // --- registered agents ----------------------------------------------

    pub fn agents(&self) -> Result<Vec<RegisteredAgent>> {
        both!(self, s => s.agents())
    }

    /// Record the heartbeat credential issued to `name` (its hash only).
    pub fn set_credential(&self, name: &str, credential: &str) -> Result<()> {
        both!(self, s => s.set_credential(name, credential))
    }

    /// Whether `given` is the heartbeat credential issued to `name`.
    pub fn credential_ok(&self, name: &str, given: &str) -> bool {
        both!(self, s => s.credential_ok(name, given))
    }

    pub fn remove_agent(&self, name: &str) -> Result<()> {
        both!(self, s => s.remove_agent(name))
    }

    /// Store a registration (a new one, or a heartbeat's: then its
    /// `registered_at` stays).
    pub fn upsert_agent(&self, reg: &Registration, now: u64) -> Result<()> {
        both!(self, s => s.upsert_agent(reg, now))
    }

    // --- the audit log ----------------------------------------------------

    /// The head in the console's log: a copy outside the data dir, for
    /// whoever keeps the journal.
    pub fn log_head(&self, when: &str) {
        match both!(self, s => s.head()) {
            Ok((seq, link)) => tracing::info!("audit log {when}: head record {seq}, link {link}"),
            Err(e) => tracing::error!("audit log {when}: {e}"),
        }
    }

    /// Check the whole chain. `Ok((records, head))` when intact; otherwise
    /// the first record that is broken or missing ([`StoreError::Broken`]).
    pub fn verify(&self) -> Result<(u64, String)> {
        both!(self, s => s.verify())
    }

    /// Append rows in one transaction, each with its chain link.
    pub fn append_rows(&self, rows: &[NewRow]) -> Result<()> {
        if rows.is_empty() {
            return Ok(());
        }
        both!(self, s => s.append_rows(rows))
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
        self.append_rows(&[NewRow {
            op_id: "-".into(),
            kind: kind.into(),
            at,
            who: who.into(),
            json: detail.to_string(),
            source: source.map(str::to_owned),
        }])
    }

    /// Append one audit record for `op` (`intent` or `result`).
    pub fn append(&self, kind: &str, op: &Op, at: u64) -> Result<()> {
        let json = serde_json::to_string(op).map_err(StoreError::json("audit write failed"))?;
        self.append_rows(&[NewRow {
            op_id: op.id.clone(),
            kind: kind.into(),
            at,
            who: op.who.clone(),
            json,
            source: None,
        }])
    }

    /// Append an operation's `intent`, with the caller's address.
    pub fn append_intent(&self, op: &Op, at: u64) -> Result<()> {
        let json = serde_json::to_string(op).map_err(StoreError::json("audit write failed"))?;
        self.append_rows(&[NewRow {
            op_id: op.id.clone(),
            kind: "intent".into(),
            at,
            who: op.who.clone(),
            json,
            source: op.source.clone(),
        }])
    }

    /// Append one progress record of operation `op_id` (`host`: a host's
    /// call started or finished), chained like every other row.
    pub fn op_record(&self, op_id: &str, kind: &str, who: &str, json: &str, at: u64) -> Result<()> {
        self.append_rows(&[NewRow {
            op_id: op_id.into(),
            kind: kind.into(),
            at,
            who: who.into(),
            json: json.into(),
            source: None,
        }])
    }

    /// Admit an op: `conflict` sees every op running under a live lease
    /// on any console (PostgreSQL; with SQLite the one console's own check
    /// is the whole story, and it sees none); none refused → the intent is
    /// appended and, with PostgreSQL, the op leased to this console:
    /// `Ok(Ok(Some(fence)))`. `Ok(Err(why))`: refused, nothing written.
    pub fn admit(
        &self,
        op: &Op,
        at: u64,
        conflict: Box<dyn FnOnce(Vec<Op>) -> Option<String> + Send>,
    ) -> Result<Result<Option<u64>, String>> {
        let json = serde_json::to_string(op).map_err(StoreError::json("audit write failed"))?;
        let row = NewRow {
            op_id: op.id.clone(),
            kind: "intent".into(),
            at,
            who: op.who.clone(),
            json,
            source: op.source.clone(),
        };
        match self {
            Store::Lite(s) => s.append_rows(&[row]).map(|()| Ok(None)),
            Store::Pg(s) => Ok(s.admit(row, conflict)?.map(Some)),
        }
    }

    /// Extend this console's lease of `op_id` (always true with SQLite).
    pub fn renew(&self, op_id: &str, fence: Option<u64>) -> Result<bool> {
        match (self, fence) {
            (Store::Pg(s), Some(f)) => s.renew(op_id, f),
            _ => Ok(true),
        }
    }

    /// Append an op's records while this console holds its lease at
    /// `fence` (none: unconditionally, as with SQLite).
    pub fn append_fenced(&self, rows: &[NewRow], op_id: &str, fence: Option<u64>) -> Result<()> {
        match (self, fence) {
            (Store::Pg(s), Some(f)) if !rows.is_empty() => s.append_fenced(rows, op_id, f),
            _ => self.append_rows(rows),
        }
    }

    /// Take the running ops whose lease expired (their console stopped or
    /// was cut off): (op id, new fence). None with SQLite.
    pub fn claim_expired(&self) -> Result<Vec<(String, u64)>> {
        match self {
            Store::Pg(s) => s.claim_expired(),
            Store::Lite(_) => Ok(vec![]),
        }
    }

    /// Whether consoles share this store (PostgreSQL).
    pub fn shared(&self) -> bool {
        matches!(self, Store::Pg(_))
    }

    /// The `kind` records of operation `op_id`, oldest first, with their
    /// times.
    pub fn op_records(&self, op_id: &str, kind: &str) -> Result<Vec<(u64, String)>> {
        both!(self, s => s.op_records(op_id, kind))
    }

    /// Operation `id` as its newest `intent`/`result` record tells it.
    pub fn get(&self, id: &str) -> Result<Option<Op>> {
        both!(self, s => s.get(id))
    }

    /// `GET /v1/ops`: newest first, filtered and paged in SQL, and
    /// whether more match.
    pub fn query(
        &self,
        filter: &OpQuery<'_>,
        offset: usize,
        limit: usize,
    ) -> Result<(Vec<Op>, bool)> {
        both!(self, s => s.query(filter, offset, limit))
    }

    /// Operations a console stopped under: the newest record is still
    /// `running`, or `interrupted` with hosts not yet resolved. Oldest
    /// first.
    pub fn unfinished_ops(&self) -> Result<Vec<Op>> {
        let ops = both!(self, s => s.unfinished_ops())?;
        Ok(ops.into_iter().filter(audit::open).collect())
    }
}

/// Sessions shared through PostgreSQL (`App` hands a PostgreSQL store to
/// `Auth`; with SQLite, sessions stay in memory and this is not used).
impl crate::server::auth::SharedSessions for Store {
    fn open(
        &self,
        key: &str,
        caller: &crate::server::auth::Caller,
        csrf: &str,
        idle: std::time::Duration,
        per_token: usize,
    ) -> Result<(), String> {
        match self {
            Store::Pg(p) => p
                .session_open(key, caller, csrf, idle, per_token)
                .map_err(|e| e.to_string()),
            Store::Lite(_) => Err("sessions are kept in memory with SQLite".into()),
        }
    }

    fn get(
        &self,
        key: &str,
        idle: std::time::Duration,
    ) -> Option<(crate::server::auth::Caller, String)> {
        match self {
            Store::Pg(p) => p.session_get(key, idle).unwrap_or_else(|e| {
                tracing::error!("{e}");
                None
            }),
            Store::Lite(_) => None,
        }
    }

    fn close(&self, key: &str) -> bool {
        match self {
            Store::Pg(p) => p.session_close(key).unwrap_or_else(|e| {
                tracing::error!("{e}");
                false
            }),
            Store::Lite(_) => false,
        }
    }
}
