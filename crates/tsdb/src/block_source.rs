//! [`BlockSource`]: what the compactor reads to write a block, whoever holds the data.
//!
//! The head implements it to cut a block from memory; persistent blocks implement it so
//! that compaction can merge them. The compactor sees only label sets, sorted, and the
//! encoded chunk bytes of each series, never the head's series or a block's index.
//!
//! Contract shared by every implementation:
//! - a range `[mint, maxt)` is half-open, as block ranges are;
//! - series come sorted by labels, each once, only if it has samples in the range;
//! - a series' chunks are sorted by `min_time`, do not overlap, and hold only samples
//!   inside the range (a source re-encodes chunks that straddle a boundary);
//! - chunk times are inclusive, as in the index (`min_time` = first sample, `max_time` =
//!   last sample).

use hearth_model::Labels;

use crate::chunkenc::Encoding;
use crate::storage::StorageError;

/// One chunk of a series, as it goes into a block's chunk segment file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceChunk {
    pub encoding: Encoding,
    /// Timestamp of the first sample (ms).
    pub min_time: i64,
    /// Timestamp of the last sample (ms).
    pub max_time: i64,
    /// The chunk bytes (header and bit stream, no length or checksum).
    pub data: Vec<u8>,
}

/// A series and its chunks in the requested range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceSeries {
    pub labels: Labels,
    pub chunks: Vec<SourceChunk>,
}

/// Series in a time range, streamed one at a time.
pub type SourceSeriesIter<'a> = Box<dyn Iterator<Item = Result<SourceSeries, StorageError>> + 'a>;

/// Something a block can be written from: the head, or persistent blocks being merged.
pub trait BlockSource {
    /// The inclusive time range of the data held (`(i64::MAX, i64::MIN)` when empty).
    fn time_range(&self) -> (i64, i64);

    /// Every label name and value of the series that have samples in `[mint, maxt)`,
    /// sorted and deduplicated (a superset is allowed): the block index writes its symbol
    /// table before any series.
    fn symbols(&self, mint: i64, maxt: i64) -> Result<Vec<String>, StorageError>;

    /// The series with samples in `[mint, maxt)`, sorted by labels, with their chunks
    /// restricted to that range (see the module documentation).
    fn series_in_range(&self, mint: i64, maxt: i64) -> Result<SourceSeriesIter<'_>, StorageError>;
}
