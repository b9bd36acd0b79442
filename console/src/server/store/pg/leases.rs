//! Ops claimed with a lease and a fence number (Kubernetes' leases,
//! Kleppmann's fencing tokens), by the database's clock only (`now()`):
//! consoles' clocks never compare.
//!
//! - `admit`: under one advisory lock, the new op is checked against
//!   every op running under a live lease (any console's), its intent
//!   appended and the op leased to this console, fence 1 — so of
//!   overlapping requests on several consoles exactly one is accepted;
//! - `renew`: the runner extends its lease while it holds it; once the
//!   lease expired it cannot be renewed (another console may hold it);
//! - `append_fenced`: every record the runner writes checks, in its
//!   transaction, that the lease is still its own with its fence and
//!   live: a console paused past its lease writes nothing;
//! - `claim_expired`: another console takes each unfinished op whose
//!   lease expired, the fence one higher, and finishes it
//!   (`ops/resume.rs`).

use fleet_api::Op;
use std::time::Duration;

use super::audit::append_in;
use super::{conn, Pg};
use crate::server::store::audit::decode;
use crate::server::store::verify::NewRow;
use crate::server::store::{Result, StoreError};

/// How long a lease lasts unrenewed.
pub const LEASE: Duration = Duration::from_secs(10);

/// The advisory lock admissions hold.
const ADMIT_LOCK: i64 = 0x666c_6565_7403;

const LEASES: &str = "cannot use the op leases";

pub(super) fn new_owner() -> Result<String> {
    let mut b = [0u8; 12];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut b)
        .map_err(|_| StoreError::Random)?;
    Ok(fleet_daemon::hex::encode(&b))
}

/// Ops whose newest record says running and whose lease is live.
const LEASED_RUNNING: &str = "SELECT a.op FROM op_leases l,
   LATERAL (SELECT op FROM audit WHERE op_id = l.op_id AND kind IN ('intent', 'result')
            ORDER BY seq DESC LIMIT 1) a
 WHERE l.expires > now() AND a.op::jsonb ->> 'state' = 'running'";

impl Pg {
    /// Admit an op: `conflict` sees the ops running under live leases;
    /// none refused → the intent is appended and the op leased here.
    /// `Ok(Err(why))`: refused, nothing written.
    pub fn admit(
        &self,
        intent: NewRow,
        conflict: Box<dyn FnOnce(Vec<Op>) -> Option<String> + Send>,
    ) -> Result<Result<u64, String>> {
        let (pool, chain, owner) = (self.pool.clone(), self.chain.clone(), self.owner.clone());
        let lease = LEASE.as_secs_f64();
        let out = self.block(async move {
            let mut c = conn(&pool).await?;
            let tx = c.transaction().await.map_err(super::sql(LEASES))?;
            tx.execute("SELECT pg_advisory_xact_lock($1)", &[&ADMIT_LOCK])
                .await
                .map_err(super::sql(LEASES))?;
            let running = tx
                .query(LEASED_RUNNING, &[])
                .await
                .map_err(super::sql(LEASES))?;
            let ops = running
                .iter()
                .map(|r| decode(r.get(0)))
                .collect::<Result<Vec<Op>>>()?;
            if let Some(why) = conflict(ops) {
                return Ok(Err(why));
            }
            tx.execute(
                "INSERT INTO op_leases (op_id, owner, fence, expires)
                 VALUES ($1, $2, 1, now() + make_interval(secs => $3))",
                &[&intent.op_id, &owner, &lease],
            )
            .await
            .map_err(super::sql(LEASES))?;
            let last = append_in(&tx, &chain, &[intent]).await?;
            tx.commit().await.map_err(super::sql(LEASES))?;
            Ok(Ok(last))
        })?;
        Ok(match out {
            Ok((seq, link)) => {
                self.set_head(seq, &link)?;
                Ok(1)
            }
            Err(why) => Err(why),
        })
    }

    /// Extend this console's lease on `op_id` at `fence`; false once it
    /// expired or passed to another console.
    pub fn renew(&self, op_id: &str, fence: u64) -> Result<bool> {
        let (pool, owner) = (self.pool.clone(), self.owner.clone());
        let (op_id, fence, lease) = (op_id.to_string(), fence as i64, LEASE.as_secs_f64());
        self.block(async move {
            let n = conn(&pool)
                .await?
                .execute(
                    "UPDATE op_leases SET expires = now() + make_interval(secs => $4)
                     WHERE op_id = $1 AND owner = $2 AND fence = $3 AND expires > now()",
                    &[&op_id, &owner, &fence, &lease],
                )
                .await
                .map_err(super::sql(LEASES))?;
            Ok(n == 1)
        })
    }

    /// Append `rows` only while this console holds `op_id`'s lease at
    /// `fence` ([`StoreError::Fenced`] otherwise, nothing written).
    pub fn append_fenced(&self, rows: &[NewRow], op_id: &str, fence: u64) -> Result<()> {
        let (pool, chain, owner) = (self.pool.clone(), self.chain.clone(), self.owner.clone());
        let (rows, op_id, fence) = (rows.to_vec(), op_id.to_string(), fence as i64);
        let (seq, link) = self.block(async move {
            let mut c = conn(&pool).await?;
            let tx = c.transaction().await.map_err(super::sql(LEASES))?;
            let held = tx
                .query_opt(
                    "SELECT 1 FROM op_leases WHERE op_id = $1 AND owner = $2 AND fence = $3
                     AND expires > now() FOR UPDATE",
                    &[&op_id, &owner, &fence],
                )
                .await
                .map_err(super::sql(LEASES))?;
            if held.is_none() {
                return Err(StoreError::Fenced(op_id));
            }
            let last = append_in(&tx, &chain, &rows).await?;
            tx.commit().await.map_err(super::sql(LEASES))?;
            Ok(last)
        })?;
        self.set_head(seq, &link)
    }

    /// Take every op whose lease expired and that is unfinished: running,
    /// or interrupted with hosts still pending (the console resolving it
    /// stopped too): (op id, new fence).
    pub fn claim_expired(&self) -> Result<Vec<(String, u64)>> {
        let (pool, owner) = (self.pool.clone(), self.owner.clone());
        let lease = LEASE.as_secs_f64();
        self.block(async move {
            let rows = conn(&pool)
                .await?
                .query(
                    "UPDATE op_leases l SET owner = $1, fence = l.fence + 1,
                            expires = now() + make_interval(secs => $2)
                     WHERE l.expires <= now() AND EXISTS (
                        SELECT 1 FROM (SELECT op FROM audit WHERE op_id = l.op_id
                                       AND kind IN ('intent', 'result')
                                       ORDER BY seq DESC LIMIT 1) a
                        WHERE a.op::jsonb ->> 'state' = 'running'
                           OR (a.op::jsonb ->> 'state' = 'interrupted' AND EXISTS (
                               SELECT 1 FROM jsonb_array_elements(a.op::jsonb -> 'hosts') h
                               WHERE h ->> 'verdict' = 'pending')))
                     RETURNING l.op_id, l.fence",
                    &[&owner, &lease],
                )
                .await
                .map_err(super::sql(LEASES))?;
            Ok(rows
                .iter()
                .map(|r| (r.get::<_, String>(0), r.get::<_, i64>(1) as u64))
                .collect())
        })
    }
}
