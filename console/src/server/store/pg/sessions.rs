//! Browser sessions in PostgreSQL, so every console accepts every
//! session: keyed by the SHA-256 of the cookie value (never the cookie),
//! idle time by the database's clock (consoles' clocks may differ), and
//! the same per-token cap as in memory (`auth.rs`).

use std::time::Duration;

use super::{conn, Pg};
use crate::server::auth::Caller;
use crate::server::store::{Result, StoreError};

const SESSIONS: &str = "cannot use the session table";

impl Pg {
    pub fn session_open(
        &self,
        key: &str,
        caller: &Caller,
        csrf: &str,
        idle: Duration,
        per_token: usize,
    ) -> Result<()> {
        let pool = self.pool.clone();
        let role = serde_json::to_value(caller.role)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        let (key, name, csrf) = (key.to_string(), caller.name.clone(), csrf.to_string());
        let idle = idle.as_secs_f64();
        let keep = per_token.saturating_sub(1) as i64;
        self.block(async move {
            let mut c = conn(&pool).await?;
            let tx = c.transaction().await.map_err(super::sql(SESSIONS))?;
            tx.execute(
                "DELETE FROM sessions WHERE last_used < now() - make_interval(secs => $1)",
                &[&idle],
            )
            .await
            .map_err(super::sql(SESSIONS))?;
            // This token's oldest go first; nobody else's.
            tx.execute(
                "DELETE FROM sessions WHERE key IN
                   (SELECT key FROM sessions WHERE name = $1
                    ORDER BY last_used DESC OFFSET $2)",
                &[&name, &keep],
            )
            .await
            .map_err(super::sql(SESSIONS))?;
            tx.execute(
                "INSERT INTO sessions (key, name, role, csrf) VALUES ($1, $2, $3, $4)",
                &[&key, &name, &role, &csrf],
            )
            .await
            .map_err(super::sql(SESSIONS))?;
            tx.commit().await.map_err(super::sql(SESSIONS))
        })
    }

    /// The live session of `key`, touched: (name, role, csrf).
    pub fn session_get(&self, key: &str, idle: Duration) -> Result<Option<(Caller, String)>> {
        let pool = self.pool.clone();
        let key = key.to_string();
        let idle = idle.as_secs_f64();
        let row: Option<(String, String, String)> = self.block(async move {
            let r = conn(&pool)
                .await?
                .query_opt(
                    "UPDATE sessions SET last_used = now()
                     WHERE key = $1 AND last_used >= now() - make_interval(secs => $2)
                     RETURNING name, role, csrf",
                    &[&key, &idle],
                )
                .await
                .map_err(super::sql(SESSIONS))?;
            Ok(r.map(|r| (r.get(0), r.get(1), r.get(2))))
        })?;
        let Some((name, role, csrf)) = row else {
            return Ok(None);
        };
        let role = serde_json::from_value(serde_json::Value::String(role))
            .map_err(StoreError::json("cannot read a session's role"))?;
        Ok(Some((Caller { name, role }, csrf)))
    }

    pub fn session_close(&self, key: &str) -> Result<bool> {
        let pool = self.pool.clone();
        let key = key.to_string();
        self.block(async move {
            let n = conn(&pool)
                .await?
                .execute("DELETE FROM sessions WHERE key = $1", &[&key])
                .await
                .map_err(super::sql(SESSIONS))?;
            Ok(n > 0)
        })
    }
}
