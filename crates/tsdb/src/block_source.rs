//! [`BlockSource`]: what the compactor reads a new block from.
//!
//! A persistent block, the in-memory head and test fixtures all expose their data the
//! same way: the sorted symbols, then, for a time range, every series in label order with
//! its chunks as encoded bytes and the intervals deleted from it. The compactor does the
//! rest (trimming to the block range, applying deletions, merging overlaps, writing), so a
//! source never re-encodes anything.

use std::borrow::Cow;

use hearth_model::{Labels, Timestamp};

use crate::chunkenc::Encoding;
use crate::storage::StorageError;
use crate::tombstones::Intervals;

/// One chunk of a series as stored: its encoding, the times of its first and last sample
/// (both inclusive) and its bytes (borrowed from a mapped file or owned).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceChunk<'a> {
    pub encoding: Encoding,
    pub min_time: Timestamp,
    pub max_time: Timestamp,
    pub data: Cow<'a, [u8]>,
}

/// One series of a source: labels, chunks in time order, deleted intervals.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceSeries<'a> {
    pub labels: Labels,
    pub chunks: Vec<SourceChunk<'a>>,
    /// Time ranges whose samples are deleted (tombstones); the compactor drops them.
    pub deleted: Intervals,
}

/// Symbols of a source, ascending and distinct.
pub type SymbolIter<'a> = Box<dyn Iterator<Item = Result<Cow<'a, str>, StorageError>> + 'a>;

/// Series of a source, ascending by labels and distinct.
pub type SourceSeriesIter<'a> =
    Box<dyn Iterator<Item = Result<SourceSeries<'a>, StorageError>> + 'a>;

/// Data a block can be written from.
pub trait BlockSource: Send + Sync {
    /// Every label name and value of the source's series (a superset is fine), ascending
    /// and without duplicates: the new index's symbol table is their union.
    fn symbols(&self) -> Result<SymbolIter<'_>, StorageError>;

    /// Every series with at least one chunk overlapping `[mint, maxt]` (inclusive), in
    /// label order, with those chunks. Chunks may reach outside the range; the compactor
    /// trims them.
    fn series(
        &self,
        mint: Timestamp,
        maxt: Timestamp,
    ) -> Result<SourceSeriesIter<'_>, StorageError>;
}
