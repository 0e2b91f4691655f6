//! Out-of-order samples of a series: accepted when they are older than the series' last
//! in-order sample but within `out_of_order_time_window` of the head's max time.
//!
//! As upstream, they gather in a small sorted buffer (at most `out_of_order_cap_max`
//! samples, upstream's OOO head chunk); a full buffer is encoded as an XOR chunk, written
//! to `chunks_head/` with the out-of-order bit set and logged as an m-map marker in the
//! write-behind log (`wbl/`). Complete out-of-order chunks may overlap each other and the
//! in-order chunks; queries merge them by time. Only float samples go out of order here:
//! out-of-order native histograms are rejected as `OutOfOrderSample`.

use std::sync::Arc;

use crate::chunkenc::{ChunkAppender, Encoding};

use super::series::{ChunkLoc, ChunkMeta, shrunk};

/// The out-of-order data of one series.
#[derive(Debug, Default)]
pub(crate) struct OooSeries {
    /// Samples not yet in a chunk, sorted by time, no two with the same time.
    pub(crate) head: Vec<(i64, f64)>,
    /// Complete out-of-order chunks, in the order they were cut.
    pub(crate) chunks: Vec<ChunkMeta>,
}

impl OooSeries {
    /// Inserts a sample; false when the buffer already has one at `t` (upstream keeps the
    /// first and drops the later one silently).
    pub(crate) fn insert(&mut self, t: i64, v: f64) -> bool {
        match self.head.binary_search_by_key(&t, |s| s.0) {
            Ok(_) => false,
            Err(i) => {
                self.head.insert(i, (t, v));
                true
            }
        }
    }

    /// Encodes the buffer as a complete XOR chunk (kept in memory until written); returns
    /// the index of the new chunk, or `None` when the buffer was empty.
    pub(crate) fn cut(&mut self) -> Option<usize> {
        let (first, last) = (self.head.first()?.0, self.head.last()?.0);
        let mut app = ChunkAppender::new(Encoding::Xor);
        for &(t, v) in &self.head {
            // A fresh XOR chunk takes any number of samples up to u16::MAX; the buffer is
            // far smaller.
            if app.append(0, t, v).is_err() {
                break;
            }
        }
        self.head.clear();
        self.chunks.push(ChunkMeta {
            loc: ChunkLoc::Memory(Arc::new(shrunk(app.into_chunk()))),
            min_time: first,
            max_time: last,
        });
        Some(self.chunks.len() - 1)
    }

    /// Drops chunks and buffered samples that end before `mint`; returns the chunks removed.
    pub(crate) fn truncate_before(&mut self, mint: i64) -> usize {
        let before = self.chunks.len();
        self.chunks.retain(|c| c.max_time >= mint);
        let mut removed = before - self.chunks.len();
        if self.head.last().is_some_and(|s| s.0 < mint) {
            self.head.clear();
            removed += 1;
        }
        removed
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.chunks.is_empty() && self.head.is_empty()
    }

    /// (min, max) time over everything held.
    pub(crate) fn time_range(&self) -> Option<(i64, i64)> {
        let chunks = self.chunks.iter().map(|c| (c.min_time, c.max_time));
        let head = self
            .head
            .first()
            .zip(self.head.last())
            .map(|(a, b)| (a.0, b.0));
        chunks
            .chain(head)
            .reduce(|(a, b), (c, d)| (a.min(c), b.max(d)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insert_sorts_and_drops_duplicates() {
        let mut o = OooSeries::default();
        assert!(o.insert(30, 3.0));
        assert!(o.insert(10, 1.0));
        assert!(!o.insert(10, 9.0));
        assert_eq!(o.head, [(10, 1.0), (30, 3.0)]);
        assert_eq!(o.cut(), Some(0));
        assert!(o.head.is_empty());
        assert_eq!((o.chunks[0].min_time, o.chunks[0].max_time), (10, 30));
        o.insert(5, 0.5);
        assert_eq!(o.time_range(), Some((5, 30)));
        assert_eq!(o.truncate_before(31), 2);
        assert!(o.is_empty());
    }
}
