//! The audit log in PostgreSQL: the same records, chain and reads as
//! SQLite's (`../audit.rs`). Appends from every console are numbered and
//! linked in one order: each append's transaction takes the chain's
//! advisory lock first, numbers its rows from the newest record, and
//! commits before the lock is let go, so numbers have no gaps and commit
//! in their order.

use deadpool_postgres::Pool;
use fleet_api::Op;

use super::{conn, Pg};
use crate::server::store::audit::{decode, OpQuery};
use crate::server::store::chain::{Chain, GENESIS};
use crate::server::store::verify::{self, NewRow, Row};
use crate::server::store::{Result, StoreError};

const READ: &str = "cannot read the audit log";
const WRITE: &str = "audit write failed";

/// The advisory lock every append holds until it commits.
const CHAIN_LOCK: i64 = 0x666c_6565_7402;

/// `GET /v1/ops`' filter over each op's newest row (`$1`..`$4`: the
/// `OpQuery` fields, `$5`/`$6`: limit and offset); SQLite's `QUERY` in
/// PostgreSQL's JSON functions.
const QUERY: &str = "SELECT a.op FROM audit a JOIN
   (SELECT MAX(seq) AS last, MIN(seq) AS first FROM audit
    WHERE kind IN ('intent', 'result') GROUP BY op_id) b
 ON a.seq = b.last, LATERAL (SELECT a.op::jsonb AS j) o
 WHERE ($1::text IS NULL OR o.j #>> '{request,action}' = $1)
   AND ($2::text IS NULL
        OR strpos(o.j #>> '{request,target}', $2) > 0
        OR strpos(COALESCE(o.j #>> '{request,hosts}', 'all'), $2) > 0)
   AND ($3::text IS NULL OR o.j ->> 'who' = $3)
   AND ($4::text IS NULL
        OR ($4 = 'ok' AND o.j ->> 'state' = 'done'
            AND NOT EXISTS (SELECT 1 FROM jsonb_array_elements(o.j -> 'hosts') h
                WHERE h ->> 'verdict' IN ('failed', 'unreachable')))
        OR ($4 = 'failed' AND EXISTS (SELECT 1 FROM jsonb_array_elements(o.j -> 'hosts') h
                WHERE h ->> 'verdict' IN ('failed', 'unreachable')))
        OR ($4 = 'running' AND o.j ->> 'state' = 'running')
        OR ($4 = 'interrupted' AND o.j ->> 'state' = 'interrupted')
        OR ($4 = 'aborted' AND o.j ->> 'state' = 'aborted'))
 ORDER BY b.first DESC LIMIT $5 OFFSET $6";

impl Pg {
    pub fn head(&self) -> Result<(i64, String)> {
        let pool = self.pool.clone();
        self.block(async move { head(&conn(&pool).await?).await })
    }

    pub fn verify(&self) -> Result<(u64, String)> {
        let pool = self.pool.clone();
        let (rows, chained) = self.block(async move {
            let c = conn(&pool).await?;
            // One snapshot for the rows and the count.
            let rows = c
                .query(
                    "SELECT a.seq, a.op_id, a.kind, a.at, a.who, a.op, a.source, c.hash
                     FROM audit a LEFT JOIN audit_chain c ON c.seq = a.seq ORDER BY a.seq",
                    &[],
                )
                .await
                .map_err(super::sql(READ))?;
            let chained: i64 = c
                .query_one("SELECT COUNT(*) FROM audit_chain", &[])
                .await
                .map_err(super::sql(READ))?
                .get(0);
            Ok((rows, chained))
        })?;
        let rows = rows.iter().map(|r| {
            let row = Row {
                seq: r.get(0),
                op_id: r.get(1),
                kind: r.get(2),
                at: r.get(3),
                who: r.get(4),
                op: r.get(5),
                source: r.get(6),
            };
            Ok((row, r.get::<_, Option<String>>(7)))
        });
        let (n, prev) = verify::links(&self.chain, rows)?;
        verify::count(n, chained)?;
        verify::head(&self.chain, n, |seq| {
            let pool = self.pool.clone();
            self.block(async move {
                let c = conn(&pool).await?;
                let r = c
                    .query_opt("SELECT hash FROM audit_chain WHERE seq = $1", &[&seq])
                    .await
                    .map_err(super::sql(READ))?;
                Ok(r.map(|r| r.get(0)))
            })
        })?;
        Ok((n, prev))
    }

    /// Insert rows and their links in one transaction, under the chain's
    /// lock: two statements however many rows.
    pub fn append_rows(&self, rows: &[NewRow]) -> Result<()> {
        let pool = self.pool.clone();
        let rows = rows.to_vec();
        let chain = self.chain.clone();
        let (seq, link) = self.block(async move {
            let mut c = conn(&pool).await?;
            let tx = c.transaction().await.map_err(super::sql(WRITE))?;
            let last = append_in(&tx, &chain, &rows).await?;
            tx.commit().await.map_err(super::sql(WRITE))?;
            Ok(last)
        })?;
        self.set_head(seq, &link)
    }

    pub fn op_records(&self, op_id: &str, kind: &str) -> Result<Vec<(u64, String)>> {
        let pool = self.pool.clone();
        let (op_id, kind) = (op_id.to_string(), kind.to_string());
        self.block(async move {
            let rows = conn(&pool)
                .await?
                .query(
                    "SELECT at, op FROM audit WHERE op_id = $1 AND kind = $2 ORDER BY seq",
                    &[&op_id, &kind],
                )
                .await
                .map_err(super::sql(READ))?;
            Ok(rows
                .iter()
                .map(|r| (r.get::<_, i64>(0) as u64, r.get(1)))
                .collect())
        })
    }

    pub fn get(&self, id: &str) -> Result<Option<Op>> {
        let pool = self.pool.clone();
        let id = id.to_string();
        let json: Option<String> = self.block(async move {
            let r = conn(&pool)
                .await?
                .query_opt(
                    "SELECT op FROM audit WHERE op_id = $1 AND kind IN ('intent', 'result')
                     ORDER BY seq DESC LIMIT 1",
                    &[&id],
                )
                .await
                .map_err(super::sql(READ))?;
            Ok(r.map(|r| r.get(0)))
        })?;
        json.map(|j| decode(&j)).transpose()
    }

    pub fn query(
        &self,
        filter: &OpQuery<'_>,
        offset: usize,
        limit: usize,
    ) -> Result<(Vec<Op>, bool)> {
        let pool = self.pool.clone();
        let take = i64::try_from(limit).unwrap_or(i64::MAX).saturating_add(1);
        let skip = i64::try_from(offset).unwrap_or(i64::MAX);
        let f: [Option<String>; 4] =
            [filter.action, filter.target, filter.who, filter.result].map(|x| x.map(str::to_owned));
        let rows: Vec<String> = self.block(async move {
            let rows = conn(&pool)
                .await?
                .query(QUERY, &[&f[0], &f[1], &f[2], &f[3], &take, &skip])
                .await
                .map_err(super::sql(READ))?;
            Ok(rows.iter().map(|r| r.get(0)).collect())
        })?;
        let more = rows.len() > limit;
        let ops = rows
            .iter()
            .take(limit)
            .map(|j| decode(j))
            .collect::<Result<_>>()?;
        Ok((ops, more))
    }

    /// Ops whose newest record says `running` or `interrupted`, oldest
    /// first.
    pub fn unfinished_ops(&self) -> Result<Vec<Op>> {
        let pool = self.pool.clone();
        let rows: Vec<String> = self.block(async move {
            let rows = conn(&pool)
                .await?
                .query(
                    "SELECT a.op FROM audit a JOIN
                       (SELECT MAX(seq) AS last FROM audit
                        WHERE kind IN ('intent', 'result') GROUP BY op_id) b
                     ON a.seq = b.last
                     WHERE a.op::jsonb ->> 'state' IN ('running', 'interrupted')
                     ORDER BY a.seq",
                    &[],
                )
                .await
                .map_err(super::sql(READ))?;
            Ok(rows.iter().map(|r| r.get(0)).collect())
        })?;
        rows.iter().map(|j| decode(j)).collect()
    }
}

/// Append `rows` inside the caller's transaction (which then commits):
/// the chain's lock is held to its end. The last record and its link.
pub(super) async fn append_in(
    tx: &deadpool_postgres::Transaction<'_>,
    chain: &Chain,
    rows: &[NewRow],
) -> Result<(i64, String)> {
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&CHAIN_LOCK])
        .await
        .map_err(super::sql(WRITE))?;
    let (_, prev) = head(tx).await?;
    // After any row appended behind the console's back (it stays
    // unlinked; `verify` names it).
    let next = next_seq_in(tx).await?;
    let linked = verify::chain_rows(chain, next, prev, rows);
    let seqs: Vec<i64> = linked.iter().map(|(r, _)| r.seq).collect();
    let op_ids: Vec<&str> = linked.iter().map(|(r, _)| r.op_id.as_str()).collect();
    let kinds: Vec<&str> = linked.iter().map(|(r, _)| r.kind.as_str()).collect();
    let ats: Vec<i64> = linked.iter().map(|(r, _)| r.at).collect();
    let whos: Vec<&str> = linked.iter().map(|(r, _)| r.who.as_str()).collect();
    let ops: Vec<&str> = linked.iter().map(|(r, _)| r.op.as_str()).collect();
    let sources: Vec<Option<&str>> = linked.iter().map(|(r, _)| r.source.as_deref()).collect();
    let links: Vec<&str> = linked.iter().map(|(_, l)| l.as_str()).collect();
    tx.execute(
        "INSERT INTO audit (seq, op_id, kind, at, who, op, source)
         SELECT * FROM UNNEST($1::bigint[], $2::text[], $3::text[], $4::bigint[],
                              $5::text[], $6::text[], $7::text[])",
        &[&seqs, &op_ids, &kinds, &ats, &whos, &ops, &sources],
    )
    .await
    .map_err(super::sql(WRITE))?;
    tx.execute(
        "INSERT INTO audit_chain (seq, hash) SELECT * FROM UNNEST($1::bigint[], $2::text[])",
        &[&seqs, &links],
    )
    .await
    .map_err(super::sql(WRITE))?;
    let last = linked.last().map(|(r, l)| (r.seq, l.clone()));
    Ok(last.unwrap_or((0, GENESIS.to_string())))
}

/// The newest link: its record and hash (0 and GENESIS for an empty chain).
async fn head(c: &impl deadpool_postgres::GenericClient) -> Result<(i64, String)> {
    let r = c
        .query_opt(
            "SELECT seq, hash FROM audit_chain ORDER BY seq DESC LIMIT 1",
            &[],
        )
        .await
        .map_err(super::sql("cannot read the audit chain's head"))?;
    Ok(r.map(|r| (r.get(0), r.get(1)))
        .unwrap_or_else(|| (0, GENESIS.to_string())))
}

async fn next_seq_in(c: &impl deadpool_postgres::GenericClient) -> Result<i64> {
    let r = c
        .query_one("SELECT COALESCE(MAX(seq), 0) + 1 FROM audit", &[])
        .await
        .map_err(super::sql(READ))?;
    Ok(r.get(0))
}

/// The number the next audit row will get (the first keyed one, for a
/// key made now).
pub(super) async fn next_seq(pool: Pool) -> Result<i64> {
    next_seq_in(&conn(&pool).await?).await
}

/// The database keeps the fingerprint of the key its chain is written
/// with: the first console stores its own; any other must match it.
pub(super) async fn check_key(pool: Pool, fingerprint: String, create: bool) -> Result<()> {
    const KEY: &str = "cannot check the audit key";
    let c = conn(&pool).await?;
    if create {
        c.execute(
            "INSERT INTO audit_key (id, fingerprint) VALUES (1, $1) ON CONFLICT DO NOTHING",
            &[&fingerprint],
        )
        .await
        .map_err(super::sql(KEY))?;
    }
    let stored: Option<String> = c
        .query_opt("SELECT fingerprint FROM audit_key", &[])
        .await
        .map_err(super::sql(KEY))?
        .map(|r| r.get(0));
    match stored {
        Some(s) if s != fingerprint => Err(StoreError::Broken(format!(
            "this console's audit.key ({fingerprint}) is not the key the database's audit chain is written with ({s}): copy audit.key from the first console's data_dir to every console on this database"
        ))),
        _ => Ok(()),
    }
}
