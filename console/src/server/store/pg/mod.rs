//! The PostgreSQL store (`[store] url`): what several consoles share.
//! Same methods as the SQLite one (`audit.rs`, `agents.rs` here), same
//! behaviour suite (`tests/console_store_pg.rs`); the schema and its
//! migrations are in `schema.rs`.
//!
//! The store's methods are synchronous (the console calls them as it
//! calls SQLite). Its client is tokio-postgres with a deadpool pool, run
//! on a small runtime of the store's own: each call is spawned there and
//! waited for on a channel, so a caller on any runtime (or none) never
//! nests a runtime.
//!
//! The audit key and head stay files in `data_dir`, as with SQLite;
//! every console on one database must hold the same `audit.key` (the
//! first one's, copied): the database keeps the key's fingerprint and a
//! console with another key refuses to start rather than write links
//! nobody can verify.

mod agents;
mod audit;
mod leases;
mod schema;
mod sessions;
mod tls;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use std::future::Future;
use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;
use tokio_postgres::NoTls;

use super::chain::Chain;
use super::{Result, StoreError};
use crate::server::config::PgConfig;

pub use schema::migrate;

pub struct Pg {
    pool: Pool,
    rt: Rt,
    chain: Chain,
    /// The newest record this console wrote the head file for: heads are
    /// only ever moved forward.
    head_written: Mutex<i64>,
    /// `PostgreSQL DB on HOST:PORT as USER`: never the password.
    what: String,
    /// This console process among those on the database: who holds a
    /// lease (random per start: a restarted console is another holder).
    owner: String,
}

/// The store's runtime: `Some` until drop, then shut down without
/// waiting (a drop may happen on another runtime's thread, where waiting
/// is not allowed).
struct Rt(Option<tokio::runtime::Runtime>);

impl Drop for Rt {
    fn drop(&mut self) {
        if let Some(rt) = self.0.take() {
            rt.shutdown_background();
        }
    }
}

impl Rt {
    /// Run `f` here and wait for it (on a channel: the caller may be on
    /// another runtime's thread, or on none).
    fn run<T: Send + 'static>(
        &self,
        f: impl Future<Output = Result<T>> + Send + 'static,
    ) -> Result<T> {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        self.0.as_ref().expect("live until drop").spawn(async move {
            let _ = tx.send(f.await);
        });
        rx.recv().unwrap_or_else(|_| {
            Err(StoreError::Sql {
                doing: "store call",
                error: "the store's runtime stopped".into(),
            })
        })
    }
}

/// The pool's connections at most per console: appends are batched, and
/// three consoles must stay well under PostgreSQL's default 100.
const POOL_SIZE: usize = 16;

impl Pg {
    /// Connect; `create`: migrate an older or empty schema (the console's
    /// start) and make the audit key if missing; otherwise the schema must
    /// be current and the key present (`audit verify`).
    pub fn connect(c: &PgConfig, data_dir: &Path, create: bool) -> Result<Pg> {
        let (pool, rt, what) = pool(c)?;
        if create {
            super::lite::private_dir(data_dir)?;
            rt.run(schema::upgrade(pool.clone(), what.clone()))?;
        } else {
            rt.run(schema::check(pool.clone(), what.clone()))?;
        }
        let next = rt.run(audit::next_seq(pool.clone()))?;
        let chain = Chain::open(data_dir, next, create)?;
        rt.run(audit::check_key(pool.clone(), chain.fingerprint(), create))?;
        Ok(Pg {
            pool,
            rt,
            chain,
            head_written: Mutex::new(0),
            what,
            owner: leases::new_owner()?,
        })
    }

    pub fn describe(&self) -> String {
        self.what.clone()
    }

    /// Run `f` on the store's runtime and wait for it.
    fn block<T: Send + 'static>(
        &self,
        f: impl Future<Output = Result<T>> + Send + 'static,
    ) -> Result<T> {
        self.rt.run(f)
    }

    /// Move the head file forward to `seq` (never back: appends of one
    /// console may commit in one order and get here in another).
    fn set_head(&self, seq: i64, link: &str) -> Result<()> {
        let mut h = self.head_written.lock().unwrap_or_else(|e| e.into_inner());
        if seq > *h {
            self.chain.set_head(seq, link)?;
            *h = seq;
        }
        Ok(())
    }
}

/// The pool (no connection made yet), its runtime, and its description.
fn pool(c: &PgConfig) -> Result<(Pool, Rt, String)> {
    let mut cfg: tokio_postgres::Config = c.url.expose().parse().map_err(|e| StoreError::Open {
        what: "PostgreSQL".into(),
        error: format!("store.url: {e}"),
    })?;
    if let Some(p) = &c.password {
        cfg.password(p.expose());
    }
    cfg.application_name("fleet-console");
    cfg.connect_timeout(Duration::from_secs(5));
    let what = describe(&cfg);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("fleet-store")
        .enable_all()
        .build()
        .map_err(StoreError::io("cannot start the store's runtime".into()))?;
    let tls = tls::connector(&c.tls).map_err(|error| StoreError::Open {
        what: what.clone(),
        error: format!("store.tls: {error}"),
    })?;
    let mc = || ManagerConfig {
        recycling_method: RecyclingMethod::Fast,
    };
    let mgr = match tls {
        // Never falls back to plain TCP once TLS is asked for.
        Some(t) => {
            cfg.ssl_mode(tokio_postgres::config::SslMode::Require);
            Manager::from_config(cfg, t, mc())
        }
        None => Manager::from_config(cfg, NoTls, mc()),
    };
    let pool = Pool::builder(mgr)
        .max_size(POOL_SIZE)
        .runtime(deadpool_postgres::Runtime::Tokio1)
        .wait_timeout(Some(Duration::from_secs(10)))
        .create_timeout(Some(Duration::from_secs(5)))
        .recycle_timeout(Some(Duration::from_secs(5)))
        .build()
        .map_err(|e| StoreError::Open {
            what: what.clone(),
            error: e.to_string(),
        })?;
    Ok((pool, Rt(Some(rt)), what))
}

/// `PostgreSQL DB on HOST:PORT as USER`, from the parsed config: never
/// the password.
fn describe(cfg: &tokio_postgres::Config) -> String {
    use tokio_postgres::config::Host;
    let host = match cfg.get_hosts().first() {
        Some(Host::Tcp(h)) => h.clone(),
        Some(Host::Unix(p)) => p.display().to_string(),
        None => "localhost".into(),
    };
    let port = cfg.get_ports().first().copied().unwrap_or(5432);
    format!(
        "PostgreSQL {} on {host}:{port} as {}",
        cfg.get_dbname().unwrap_or("(default db)"),
        cfg.get_user().unwrap_or("(default user)")
    )
}

/// A pooled connection, or why not.
async fn conn(pool: &Pool) -> Result<deadpool_postgres::Object> {
    use deadpool_postgres::PoolError;
    pool.get().await.map_err(|e| StoreError::Sql {
        doing: "cannot reach PostgreSQL",
        error: match &e {
            PoolError::Backend(e) => pg_error(e),
            e => e.to_string(),
        },
    })
}

/// A statement's error as the server said it (tokio-postgres' own text
/// is only "db error"); never the connection string.
fn pg_error(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{}: {}", db.severity(), db.message()),
        // "error performing TLS handshake" says nothing without its
        // cause (e.g. rustls' "invalid peer certificate: UnknownIssuer").
        None => {
            let mut out = e.to_string();
            let mut cause = std::error::Error::source(e);
            while let Some(c) = cause {
                out = format!("{out}: {c}");
                cause = c.source();
            }
            out
        }
    }
}

fn sql(doing: &'static str) -> impl FnOnce(tokio_postgres::Error) -> StoreError {
    move |e| StoreError::Sql {
        doing,
        error: pg_error(&e),
    }
}
