//! Registered agents: each one's registration, when it registered and
//! last sent a heartbeat, and the hash of the heartbeat credential the
//! console issued to it.

use fleet_api::Registration;
use rusqlite::{params, OptionalExtension};

use super::{Lite, Result, StoreError};

#[derive(Clone, Debug)]
pub struct RegisteredAgent {
    pub reg: Registration,
    pub registered_at: u64,
    pub last_heartbeat: u64,
}

impl Lite {
    /// Every registered agent, by name.
    pub fn agents(&self) -> Result<Vec<RegisteredAgent>> {
        const READ: &str = "cannot read the registered agents";
        let db = self.db();
        let mut st = db
            .prepare("SELECT registration, registered_at, last_heartbeat FROM agents ORDER BY name")
            .map_err(StoreError::sql(READ))?;
        let rows = st
            .query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, i64>(2)?,
                ))
            })
            .map_err(StoreError::sql(READ))?;
        let mut out = Vec::new();
        for r in rows {
            let (j, at, hb) = r.map_err(StoreError::sql(READ))?;
            out.push(RegisteredAgent {
                reg: serde_json::from_str(&j).map_err(StoreError::json(READ))?,
                registered_at: at as u64,
                last_heartbeat: hb as u64,
            });
        }
        Ok(out)
    }

    /// Record the heartbeat credential issued to `name` (its hash only).
    pub fn set_credential(&self, name: &str, credential: &str) -> Result<()> {
        self.db()
            .execute(
                "UPDATE agents SET credential = ?2 WHERE name = ?1",
                params![name, credential_hash(credential)],
            )
            .map(|_| ())
            .map_err(StoreError::sql("cannot store the agent's credential"))
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
    pub fn remove_agent(&self, name: &str) -> Result<()> {
        self.db()
            .execute("DELETE FROM agents WHERE name = ?1", params![name])
            .map(|_| ())
            .map_err(StoreError::sql("cannot remove registration"))
    }

    /// Store a registration (a new one, or a heartbeat's: then its
    /// `registered_at` stays).
    pub fn upsert_agent(&self, reg: &Registration, now: u64) -> Result<()> {
        const STORE: &str = "cannot store registration";
        let json = serde_json::to_string(reg).map_err(StoreError::json(STORE))?;
        self.db()
            .execute(
                "INSERT INTO agents (name, registration, registered_at, last_heartbeat)
                 VALUES (?1, ?2, ?3, ?3)
                 ON CONFLICT(name) DO UPDATE SET registration = ?2, last_heartbeat = ?3",
                params![reg.name, json, now as i64],
            )
            .map(|_| ())
            .map_err(StoreError::sql(STORE))
    }
}

/// What the store keeps of a heartbeat credential.
pub fn credential_hash(credential: &str) -> String {
    fleet_daemon::hex::encode(
        ring::digest::digest(&ring::digest::SHA256, credential.as_bytes()).as_ref(),
    )
}
