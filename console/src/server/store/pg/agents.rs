//! Registered agents in PostgreSQL: the same rows as SQLite's
//! (`../agents.rs`).

use fleet_api::Registration;

use super::{conn, Pg};
use crate::server::store::agents::{credential_hash, RegisteredAgent};
use crate::server::store::{Result, StoreError};

impl Pg {
    pub fn agents(&self) -> Result<Vec<RegisteredAgent>> {
        const READ: &str = "cannot read the registered agents";
        let pool = self.pool.clone();
        let rows: Vec<(String, i64, i64)> = self.block(async move {
            let rows = conn(&pool)
                .await?
                .query(
                    "SELECT registration, registered_at, last_heartbeat FROM agents ORDER BY name",
                    &[],
                )
                .await
                .map_err(super::sql(READ))?;
            Ok(rows
                .iter()
                .map(|r| (r.get(0), r.get(1), r.get(2)))
                .collect())
        })?;
        rows.into_iter()
            .map(|(j, at, hb)| {
                Ok(RegisteredAgent {
                    reg: serde_json::from_str(&j).map_err(StoreError::json(READ))?,
                    registered_at: at as u64,
                    last_heartbeat: hb as u64,
                })
            })
            .collect()
    }

    pub fn set_credential(&self, name: &str, credential: &str) -> Result<()> {
        let pool = self.pool.clone();
        let (name, hash) = (name.to_string(), credential_hash(credential));
        self.block(async move {
            conn(&pool)
                .await?
                .execute(
                    "UPDATE agents SET credential = $2 WHERE name = $1",
                    &[&name, &hash],
                )
                .await
                .map(|_| ())
                .map_err(super::sql("cannot store the agent's credential"))
        })
    }

    /// Whether `given` is the heartbeat credential issued to `name` (an
    /// unreachable database: no).
    pub fn credential_ok(&self, name: &str, given: &str) -> bool {
        let pool = self.pool.clone();
        let name = name.to_string();
        let stored: Option<String> = self
            .block(async move {
                let r = conn(&pool)
                    .await?
                    .query_opt("SELECT credential FROM agents WHERE name = $1", &[&name])
                    .await
                    .map_err(super::sql("cannot read the agent's credential"))?;
                Ok(r.and_then(|r| r.get::<_, Option<String>>(0)))
            })
            .unwrap_or_else(|e| {
                tracing::error!("{e}");
                None
            });
        stored.is_some_and(|h| {
            bool::from(subtle::ConstantTimeEq::ct_eq(
                h.as_bytes(),
                credential_hash(given).as_bytes(),
            ))
        })
    }

    pub fn remove_agent(&self, name: &str) -> Result<()> {
        let pool = self.pool.clone();
        let name = name.to_string();
        self.block(async move {
            conn(&pool)
                .await?
                .execute("DELETE FROM agents WHERE name = $1", &[&name])
                .await
                .map(|_| ())
                .map_err(super::sql("cannot remove registration"))
        })
    }

    pub fn upsert_agent(&self, reg: &Registration, now: u64) -> Result<()> {
        const STORE: &str = "cannot store registration";
        let json = serde_json::to_string(reg).map_err(StoreError::json(STORE))?;
        let pool = self.pool.clone();
        let name = reg.name.clone();
        let now = now as i64;
        self.block(async move {
            conn(&pool)
                .await?
                .execute(
                    "INSERT INTO agents (name, registration, registered_at, last_heartbeat)
                     VALUES ($1, $2, $3, $3)
                     ON CONFLICT (name) DO UPDATE
                     SET registration = EXCLUDED.registration,
                         last_heartbeat = EXCLUDED.last_heartbeat",
                    &[&name, &json, &now],
                )
                .await
                .map(|_| ())
                .map_err(super::sql(STORE))
        })
    }
}
