//! The PostgreSQL schema, as numbered migrations applied in order, each
//! in the one transaction that also moves `fleet_schema.version`; an
//! advisory lock makes consoles starting together migrate once.
//!
//! The audit tables refuse UPDATE, DELETE and TRUNCATE by trigger (even
//! to their owner, until it drops the trigger: run the consoles as a role
//! that owns nothing, `fleet-console migrate --app-role ROLE` grants it
//! only INSERT and SELECT on the audit).

use deadpool_postgres::Pool;

use super::conn;
use crate::server::config::PgConfig;
use crate::server::store::{Result, StoreError, SCHEMA_VERSION};

/// The advisory lock key migrations hold (`fleet` in ASCII).
const MIGRATE_LOCK: i64 = 0x666c_6565_7401;

/// Migration `i + 1` is `MIGRATIONS[i]`.
const MIGRATIONS: [&str; 1] = [r#"
CREATE TABLE audit (
    seq BIGINT PRIMARY KEY,
    op_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    at BIGINT NOT NULL,
    who TEXT NOT NULL,
    op TEXT NOT NULL,
    source TEXT
);
CREATE INDEX audit_op ON audit (op_id, kind, seq);
CREATE TABLE audit_chain (
    seq BIGINT PRIMARY KEY,
    hash TEXT NOT NULL
);
CREATE TABLE audit_key (
    id INT PRIMARY KEY CHECK (id = 1),
    fingerprint TEXT NOT NULL
);
CREATE FUNCTION fleet_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the audit log is append-only';
END $$;
CREATE TRIGGER audit_no_change BEFORE UPDATE OR DELETE ON audit
    FOR EACH ROW EXECUTE FUNCTION fleet_append_only();
CREATE TRIGGER audit_no_truncate BEFORE TRUNCATE ON audit
    FOR EACH STATEMENT EXECUTE FUNCTION fleet_append_only();
CREATE TRIGGER audit_chain_no_change BEFORE UPDATE OR DELETE ON audit_chain
    FOR EACH ROW EXECUTE FUNCTION fleet_append_only();
CREATE TRIGGER audit_chain_no_truncate BEFORE TRUNCATE ON audit_chain
    FOR EACH STATEMENT EXECUTE FUNCTION fleet_append_only();
CREATE TRIGGER audit_key_no_change BEFORE UPDATE OR DELETE ON audit_key
    FOR EACH ROW EXECUTE FUNCTION fleet_append_only();
CREATE TRIGGER audit_key_no_truncate BEFORE TRUNCATE ON audit_key
    FOR EACH STATEMENT EXECUTE FUNCTION fleet_append_only();
CREATE TABLE agents (
    name TEXT PRIMARY KEY,
    registration TEXT NOT NULL,
    registered_at BIGINT NOT NULL,
    last_heartbeat BIGINT NOT NULL,
    credential TEXT
);
CREATE TABLE sessions (
    key TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    role TEXT NOT NULL,
    csrf TEXT NOT NULL,
    last_used TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX sessions_by_name ON sessions (name, last_used);
CREATE TABLE op_leases (
    op_id TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    fence BIGINT NOT NULL,
    expires TIMESTAMPTZ NOT NULL
);
"#];

/// The version the database holds (0: no fleet schema yet).
async fn version(c: &impl deadpool_postgres::GenericClient) -> Result<i64> {
    const READ: &str = "cannot read the schema version";
    let exists: bool = c
        .query_one("SELECT to_regclass('fleet_schema') IS NOT NULL", &[])
        .await
        .map_err(super::sql(READ))?
        .get(0);
    if !exists {
        return Ok(0);
    }
    let row = c
        .query_opt("SELECT version FROM fleet_schema", &[])
        .await
        .map_err(super::sql(READ))?;
    Ok(row.map(|r| r.get(0)).unwrap_or(0))
}

/// Bring the schema to this console's version; the version before.
pub(super) async fn upgrade(pool: Pool, what: String) -> Result<i64> {
    let schema = |e: tokio_postgres::Error| StoreError::Schema {
        what: what.clone(),
        error: super::pg_error(&e),
    };
    let mut c = conn(&pool).await?;
    let tx = c.transaction().await.map_err(schema)?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATE_LOCK])
        .await
        .map_err(schema)?;
    let before = version(&tx).await?;
    if before > SCHEMA_VERSION {
        return Err(StoreError::Newer {
            what,
            found: before,
        });
    }
    if before == SCHEMA_VERSION {
        return Ok(before);
    }
    if before == 0 {
        tx.batch_execute(
            "CREATE TABLE IF NOT EXISTS fleet_schema (
                 id INT PRIMARY KEY CHECK (id = 1), version BIGINT NOT NULL);
             INSERT INTO fleet_schema VALUES (1, 0) ON CONFLICT DO NOTHING;",
        )
        .await
        .map_err(schema)?;
    }
    for m in &MIGRATIONS[before as usize..] {
        tx.batch_execute(m).await.map_err(schema)?;
    }
    tx.execute("UPDATE fleet_schema SET version = $1", &[&SCHEMA_VERSION])
        .await
        .map_err(schema)?;
    tx.commit().await.map_err(schema)?;
    tracing::info!("{what}: schema migrated from version {before} to {SCHEMA_VERSION}");
    Ok(before)
}

/// The schema must be this console's (`audit verify` changes nothing).
pub(super) async fn check(pool: Pool, what: String) -> Result<()> {
    let c = conn(&pool).await?;
    match version(&c).await? {
        0 => Err(StoreError::NoDatabase(format!(
            "{what} (no fleet schema: run fleet-console migrate)"
        ))),
        v if v > SCHEMA_VERSION => Err(StoreError::Newer { what, found: v }),
        v if v < SCHEMA_VERSION => Err(StoreError::Schema {
            what,
            error: format!(
                "schema version {v} is older than this console's ({SCHEMA_VERSION}): run fleet-console migrate"
            ),
        }),
        _ => Ok(()),
    }
}

/// `fleet-console migrate` on PostgreSQL: the version before and after;
/// with `app_role`, that role may then only read and append the audit
/// (and read and write the rest).
pub fn migrate(c: &PgConfig, app_role: Option<&str>) -> Result<(i64, i64)> {
    let (pool, rt, what) = super::pool(c)?;
    let before = rt.run(upgrade(pool.clone(), what.clone()))?;
    if let Some(role) = app_role {
        rt.run(grant(pool, what, role.to_string()))?;
    }
    Ok((before, SCHEMA_VERSION))
}

/// The app role's rights: INSERT and SELECT on the audit tables only.
async fn grant(pool: Pool, what: String, role: String) -> Result<()> {
    let c = conn(&pool).await?;
    // A role name is an identifier, quoted as PostgreSQL quotes one.
    let r = format!("\"{}\"", role.replace('"', "\"\""));
    let sql = format!(
        "REVOKE ALL ON audit, audit_chain, audit_key FROM {r};
         GRANT SELECT, INSERT ON audit, audit_chain, audit_key TO {r};
         GRANT SELECT, INSERT, UPDATE, DELETE ON agents, sessions, op_leases TO {r};
         GRANT SELECT ON fleet_schema TO {r};"
    );
    c.batch_execute(&sql).await.map_err(|e| StoreError::Schema {
        what,
        error: format!("granting {role}: {}", super::pg_error(&e)),
    })
}
