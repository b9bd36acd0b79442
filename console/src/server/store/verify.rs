//! What both stores share about the chain: one audit row as hashed, a row
//! to append, and the checks `audit verify` makes over the rows and the
//! head kept outside the database. Pure: each store reads its rows and
//! hands them here.

use super::chain::{Chain, GENESIS};
use super::{Result, StoreError};

/// One audit row, as hashed.
pub(super) struct Row {
    pub seq: i64,
    pub op_id: String,
    pub kind: String,
    pub at: i64,
    pub who: String,
    pub op: String,
    pub source: Option<String>,
}

impl Row {
    /// The fields a link covers, in order.
    pub fn fields(&self) -> [String; 7] {
        [
            self.seq.to_string(),
            self.op_id.clone(),
            self.kind.clone(),
            self.at.to_string(),
            self.who.clone(),
            self.op.clone(),
            self.source.clone().unwrap_or_default(),
        ]
    }
}

/// A row to append (its number is given by the store, in the append's
/// transaction).
#[derive(Clone, Debug)]
pub struct NewRow {
    pub op_id: String,
    pub kind: String,
    pub at: u64,
    pub who: String,
    pub json: String,
    pub source: Option<String>,
}

impl NewRow {
    pub(super) fn numbered(&self, seq: i64) -> Row {
        Row {
            seq,
            op_id: self.op_id.clone(),
            kind: self.kind.clone(),
            at: self.at as i64,
            who: self.who.clone(),
            op: self.json.clone(),
            source: self.source.clone(),
        }
    }
}

/// Every row's link, in `seq` order (each row with its stored link):
/// how many rows there are and the last link, or the first broken,
/// unlinked or missing record.
pub(super) fn links(
    chain: &Chain,
    rows: impl IntoIterator<Item = Result<(Row, Option<String>)>>,
) -> Result<(u64, String)> {
    let mut prev = GENESIS.to_string();
    let mut n = 0u64;
    for (expect_seq, row) in (1i64..).zip(rows) {
        let (row, stored) = row?;
        if row.seq != expect_seq {
            return Err(StoreError::Broken(format!(
                "record {expect_seq} is missing (the next record is {})",
                row.seq
            )));
        }
        let want = chain.link(row.seq, &prev, &row.fields());
        let why = match stored {
            Some(h) if h == want => {
                prev = h;
                n += 1;
                continue;
            }
            Some(_) => "does not match its hash: it was changed, or an earlier record was",
            None => "has no link in the chain: it was not written by the console",
        };
        return Err(StoreError::Broken(format!(
            "record {} ({} {} at {}) {why}",
            row.seq, row.kind, row.op_id, row.at
        )));
    }
    Ok((n, prev))
}

/// As many links as rows: a link without its row means a row was removed.
pub(super) fn count(n: u64, chained: i64) -> Result<()> {
    if chained as u64 == n {
        return Ok(());
    }
    Err(StoreError::Broken(format!(
        "record {} is missing: the chain has {chained} links for {n} records",
        n + 1
    )))
}

/// The head kept outside the database against a log of `n` records;
/// `link_of` reads a record's stored link.
pub(super) fn head(
    chain: &Chain,
    n: u64,
    link_of: impl FnOnce(i64) -> Result<Option<String>>,
) -> Result<()> {
    let path = chain.head_path().display();
    let broken = match chain.head()? {
        None if n > 0 => format!(
            "{path} is missing: the head kept outside the database cannot be checked"
        ),
        Some((seq, _)) if seq > n as i64 => format!(
            "record {} is missing: the log ends at record {n} but {path} names record {seq} (records were removed from the tail)",
            n + 1,
        ),
        Some((seq, link)) if seq > 0 && link_of(seq)?.is_none_or(|l| l != link) => {
            format!("record {seq} does not match the head kept in {path}: the log was rewritten")
        }
        _ => return Ok(()),
    };
    Err(StoreError::Broken(broken))
}

/// Number and link `rows` (appended after record `last`, whose link is
/// `prev`): what to insert, in order.
pub(super) fn chain_rows(
    chain: &Chain,
    next: i64,
    mut prev: String,
    rows: &[NewRow],
) -> Vec<(Row, String)> {
    let mut out = Vec::with_capacity(rows.len());
    for (seq, r) in (next..).zip(rows) {
        let row = r.numbered(seq);
        let link = chain.link(seq, &prev, &row.fields());
        prev = link.clone();
        out.push((row, link));
    }
    out
}
