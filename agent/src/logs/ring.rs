//! The in-memory tail: the last `cap` bytes of a stream.
//!
//! Memory grows with what was actually written (a quiet program costs a few
//! bytes, not `cap`) and never past `cap`; once full, new bytes overwrite the
//! oldest in place. A chunk at least `cap` long is the whole tail by itself,
//! so it is kept by reference, not copied, until a smaller write or `settle`.
//!
//! Beside the bytes, `Stamps` keeps when the tail's recent chunks were read
//! from the pipe, so a tail can say when each line arrived.

use super::chunk::Chunk;
use std::collections::VecDeque;

/// Receive times kept per stream: at most this many chunks' (16 bytes
/// each, so at most 8 KiB, allocated as output arrives). Lines in older
/// chunks of the tail have no time.
pub const MAX_STAMPS: usize = 512;

pub struct Ring {
    buf: Vec<u8>,
    /// Where the oldest byte is once `buf` is full (0 until then).
    head: usize,
    cap: usize,
    /// When set, the tail is its last `cap` bytes and `buf` is empty.
    held: Option<Chunk>,
    pub stamps: Stamps,
}

/// When the tail's bytes were read: (stream offset of a chunk's first
/// byte, unix ms), oldest first. Each entry covers the bytes up to the next
/// one's offset. A chunk read in the same millisecond as the previous one
/// adds nothing (its time is already exact); entries whose bytes have all
/// left the tail are dropped.
#[derive(Default)]
pub struct Stamps {
    at: VecDeque<(u64, u64)>,
}

impl Stamps {
    /// `len` bytes at stream offset `offset` were read at `ms`; the tail
    /// now starts at `tail_start`.
    pub fn note(&mut self, offset: u64, ms: u64, tail_start: u64) {
        if self.at.back().is_none_or(|&(_, t)| t != ms) {
            if self.at.len() == MAX_STAMPS {
                self.at.pop_front();
            }
            self.at.push_back((offset, ms));
        }
        // The first entry is needed while it covers the tail's first byte.
        while self.at.len() > 1 && self.at[1].0 <= tail_start {
            self.at.pop_front();
        }
    }

    /// The times of the stream's bytes `from..to`, as (offset from `from`,
    /// unix ms), oldest first; the first offset is 0 only if the time of
    /// `from` itself is known. Bytes before the first entry have none.
    pub fn between(&self, from: u64, to: u64) -> Vec<(u64, u64)> {
        let mut out = Vec::new();
        for (i, &(off, ms)) in self.at.iter().enumerate() {
            if off >= to {
                break;
            }
            // Covers only bytes before `from`.
            if self.at.get(i + 1).is_some_and(|next| next.0 <= from) {
                continue;
            }
            out.push((off.saturating_sub(from), ms));
        }
        out
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.at.len()
    }
}

impl Ring {
    pub fn new(cap: usize) -> Ring {
        Ring {
            buf: Vec::new(),
            head: 0,
            cap,
            held: None,
            stamps: Stamps::default(),
        }
    }

    pub fn cap(&self) -> usize {
        self.cap
    }

    /// Forget every byte (a "clear log"); the allocation goes too.
    pub fn clear(&mut self) {
        self.buf = Vec::new();
        self.head = 0;
        self.held = None;
        self.stamps.at.clear();
    }

    /// Take a chunk; one that covers the whole tail is kept without a copy.
    pub fn push_chunk(&mut self, chunk: Chunk) {
        if self.cap == 0 || chunk.as_slice().len() < self.cap {
            return self.push(chunk.as_slice());
        }
        // Everything before is out of the tail; keep the allocation.
        self.buf.clear();
        self.head = 0;
        self.held = Some(chunk);
    }

    /// Copy a held chunk's tail into `buf`, giving the chunk's buffer back
    /// to its pump (or to the allocator).
    pub fn settle(&mut self) {
        if let Some(chunk) = self.held.take() {
            self.push(chunk.as_slice());
        }
    }

    #[cfg(test)]
    pub fn holds_a_chunk(&self) -> bool {
        self.held.is_some()
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.buf.len()
    }

    pub fn push(&mut self, data: &[u8]) {
        self.settle();
        // Only the last `cap` bytes of `data` can survive.
        let mut data = &data[data.len().saturating_sub(self.cap)..];
        if self.buf.len() < self.cap {
            let n = data.len().min(self.cap - self.buf.len());
            let need = self.buf.len() + n;
            if need > self.buf.capacity() {
                // Grow geometrically but never past `cap`.
                let target = need.max(self.buf.capacity() * 2).min(self.cap);
                self.buf.reserve_exact(target - self.buf.len());
            }
            self.buf.extend_from_slice(&data[..n]);
            data = &data[n..];
        }
        // Full: overwrite from the oldest byte on; at most two pieces.
        while !data.is_empty() {
            let n = data.len().min(self.cap - self.head);
            self.buf[self.head..self.head + n].copy_from_slice(&data[..n]);
            self.head = (self.head + n) % self.cap;
            data = &data[n..];
        }
    }

    /// The last `max` bytes, oldest first.
    pub fn last(&self, max: usize) -> Vec<u8> {
        if let Some(chunk) = &self.held {
            let s = chunk.as_slice();
            return s[s.len() - max.min(self.cap)..].to_vec();
        }
        let (a, b) = self.buf.split_at(self.head);
        // Logical order is `b` then `a`.
        let n = max.min(self.buf.len());
        let mut out = Vec::with_capacity(n);
        let from_b = n.saturating_sub(a.len());
        out.extend_from_slice(&b[b.len() - from_b..]);
        out.extend_from_slice(&a[a.len() - (n - from_b)..]);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::{Chunk, Ring};

    /// The reference: keep everything, look at the end. Each write goes in
    /// three ways: copied, as a chunk, and alternating.
    fn check(cap: usize, writes: &[&[u8]]) {
        for how in 0..3 {
            check_as(cap, writes, how);
        }
    }

    fn check_as(cap: usize, writes: &[&[u8]], how: usize) {
        let mut ring = Ring::new(cap);
        let mut all = Vec::new();
        for (i, w) in writes.iter().enumerate() {
            if how == 0 || (how == 2 && i % 2 == 0) {
                ring.push(w);
            } else {
                ring.push_chunk(Chunk::copy_of(w));
            }
            all.extend_from_slice(w);
            assert!(ring.len() <= cap);
            assert!(ring.buf.capacity() <= cap.max(1));
            for max in [0, 1, cap / 2, cap, cap + 10] {
                let want = &all[all.len().saturating_sub(max.min(cap))..];
                assert_eq!(ring.last(max), want, "cap {cap} max {max}");
            }
        }
    }

    #[test]
    fn keeps_the_last_cap_bytes_across_wraps() {
        check(
            8,
            &[
                b"ab",
                b"cdefg",
                b"hij",
                b"k",
                b"lmnopqrstu",
                b"vw",
                b"xyz12345",
            ],
        );
        check(5, &[b"12345", b"6", b"789", b"abcdefghijk"]);
        check(1, &[b"a", b"bc", b""]);
    }

    #[test]
    fn quiet_stream_costs_little() {
        let mut ring = Ring::new(64 * 1024);
        ring.push(b"hello\n");
        assert!(ring.buf.capacity() < 64);
        assert_eq!(ring.last(100), b"hello\n");
    }

    #[test]
    fn a_long_chunk_is_held_until_a_small_write_or_settle() {
        let mut ring = Ring::new(4);
        ring.push(b"ab");
        ring.push_chunk(Chunk::copy_of(b"cdefgh"));
        assert!(ring.holds_a_chunk());
        assert_eq!(ring.last(10), b"efgh");
        ring.push_chunk(Chunk::copy_of(b"ij"));
        assert!(!ring.holds_a_chunk(), "a short chunk is copied");
        assert_eq!(ring.last(10), b"ghij");
        ring.push_chunk(Chunk::copy_of(b"klmnop"));
        ring.settle();
        assert!(!ring.holds_a_chunk());
        assert!(ring.buf.capacity() <= 4);
        assert_eq!(ring.last(3), b"nop");
    }

    #[test]
    fn stamps_cover_the_tail_and_never_invent_a_time() {
        let mut s = super::Stamps::default();
        // Chunks of 10 bytes at offsets 0, 10, 20, 30 read at 100..=103 ms;
        // the one at 20 in the same ms as the one at 10.
        s.note(0, 100, 0);
        s.note(10, 101, 0);
        s.note(20, 101, 0);
        s.note(30, 103, 0);
        assert_eq!(s.between(0, 40), vec![(0, 100), (10, 101), (30, 103)]);
        // From mid-chunk: the covering chunk's time at offset 0.
        assert_eq!(s.between(15, 40), vec![(0, 101), (15, 103)]);
        assert_eq!(s.between(0, 10), vec![(0, 100)]);
        // The tail moved past the first two chunks: their entries go, the
        // one covering the tail start stays.
        s.note(40, 104, 25);
        assert_eq!(s.len(), 3);
        assert_eq!(s.between(25, 50), vec![(0, 101), (5, 103), (15, 104)]);
        // Bounded: the oldest are dropped, and what they covered says
        // nothing rather than taking a later time.
        let mut s = super::Stamps::default();
        for i in 0..(super::MAX_STAMPS as u64 + 10) {
            s.note(i * 10, 1000 + i, 0);
        }
        assert_eq!(s.len(), super::MAX_STAMPS);
        let got = s.between(0, u64::MAX);
        assert_eq!(got[0], (100, 1010), "bytes 0..100 have no time");
    }

    #[test]
    fn zero_cap_keeps_nothing() {
        check(0, &[b"abc", b""]);
    }
}
