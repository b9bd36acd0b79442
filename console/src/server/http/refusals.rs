//! Refused registrations, audited as a summary per source address: the
//! first refusal from an address is a row of its own, the ones that follow
//! within a minute are counted and written as one row ("N refused from
//! ADDR in the last minute") when the minute is over — by the next refusal
//! or by the flush that `server::run` calls every minute, so a count is
//! never dropped. A flood therefore costs at most one row per source a
//! minute, and at most `MAX_SOURCES` sources are tracked (a new source past
//! that is counted under the unspecified address).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;

/// The summary's window.
pub const WINDOW_MS: u64 = 60_000;
const MAX_SOURCES: usize = 4096;

#[derive(Default)]
pub struct Refusals {
    /// Per source: refusals not yet written, and when the window began.
    map: Mutex<HashMap<IpAddr, (u64, u64)>>,
}

/// One summary row to write: `count` refusals from `source` since `since`.
#[derive(Debug, PartialEq, Eq)]
pub struct Summary {
    pub source: IpAddr,
    pub count: u64,
    pub since: u64,
}

impl Refusals {
    /// Count one refusal from `source` at `now`; the row to write, if its
    /// window is new or over.
    pub fn note(&self, source: Option<IpAddr>, now: u64) -> Option<Summary> {
        let unknown = IpAddr::from([0, 0, 0, 0]);
        let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        let mut key = source.unwrap_or(unknown);
        if !map.contains_key(&key) && map.len() >= MAX_SOURCES {
            // Sources with nothing pending and an old window can go.
            map.retain(|_, (n, at)| *n > 0 || now.saturating_sub(*at) < WINDOW_MS);
            if map.len() >= MAX_SOURCES {
                key = unknown;
            }
        }
        let fresh = !map.contains_key(&key);
        let (pending, since) = map.entry(key).or_insert((0, now));
        *pending += 1;
        if fresh || now.saturating_sub(*since) >= WINDOW_MS {
            let row = Summary {
                source: key,
                count: *pending,
                since: *since,
            };
            *pending = 0;
            *since = now;
            return Some(row);
        }
        None
    }

    /// Every pending count whose window is over (all of them with `all`,
    /// at shutdown), emptied.
    pub fn flush(&self, now: u64, all: bool) -> Vec<Summary> {
        let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        let mut out = Vec::new();
        for (source, (pending, since)) in map.iter_mut() {
            if *pending > 0 && (all || now.saturating_sub(*since) >= WINDOW_MS) {
                out.push(Summary {
                    source: *source,
                    count: *pending,
                    since: *since,
                });
                *pending = 0;
                *since = now;
            }
        }
        map.retain(|_, (n, at)| *n > 0 || now.saturating_sub(*at) < WINDOW_MS);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_refusal_is_written_then_one_row_a_minute_and_nothing_lost() {
        let r = Refusals::default();
        let a = Some(IpAddr::from([10, 0, 0, 1]));
        assert_eq!(r.note(a, 1_000).map(|s| s.count), Some(1));
        for t in 0..500 {
            assert_eq!(r.note(a, 2_000 + t), None);
        }
        assert!(r.flush(30_000, false).is_empty(), "the minute is not over");
        let s = r.flush(61_000, false);
        assert_eq!(s.len(), 1);
        assert_eq!((s[0].count, s[0].since), (500, 1_000));
        assert_eq!(r.note(a, 62_000), None, "a new window began at the flush");
        assert_eq!(r.note(a, 121_001).map(|s| s.count), Some(2));
        assert!(r.flush(121_002, true).is_empty());
    }

    #[test]
    fn sources_are_bounded() {
        let r = Refusals::default();
        for i in 0..(MAX_SOURCES as u32 + 100) {
            r.note(Some(IpAddr::from(i.to_be_bytes())), 5);
        }
        assert!(r.map.lock().unwrap().len() <= MAX_SOURCES + 1);
        let total: u64 = r.flush(10, true).iter().map(|s| s.count).sum();
        // Each source's first refusal was returned by `note`; the overflow
        // ones past the bound were counted under the unspecified address.
        assert!(total <= 100, "{total}");
    }
}
