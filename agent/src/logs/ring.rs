//! The in-memory tail: the last `cap` bytes of a stream.
//!
//! Memory grows with what was actually written (a quiet program costs a few
//! bytes, not `cap`) and never past `cap`; once full, new bytes overwrite the
//! oldest in place.

pub struct Ring {
    buf: Vec<u8>,
    /// Where the oldest byte is once `buf` is full (0 until then).
    head: usize,
    cap: usize,
}

impl Ring {
    pub fn new(cap: usize) -> Ring {
        Ring {
            buf: Vec::new(),
            head: 0,
            cap,
        }
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.buf.len()
    }

    pub fn push(&mut self, data: &[u8]) {
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
    use super::Ring;

    /// The reference: keep everything, look at the end.
    fn check(cap: usize, writes: &[&[u8]]) {
        let mut ring = Ring::new(cap);
        let mut all = Vec::new();
        for w in writes {
            ring.push(w);
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
    fn zero_cap_keeps_nothing() {
        check(0, &[b"abc", b""]);
    }
}
