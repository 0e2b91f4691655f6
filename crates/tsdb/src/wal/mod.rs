//! The write-ahead log, byte-compatible with Prometheus' `tsdb/wlog` and `tsdb/record`.
//!
//! Owns: the segment files of a WAL directory (`00000000`, `00000001`, ...), the page and
//! fragment layout inside them ([`fragment`]), writing ([`Wal`]), reading and corruption
//! handling ([`WalReader`], [`CorruptionError`], [`TornTail`]), following a segment while it
//! is written ([`LiveReader`]), the record payloads the head
//! logs ([`record`]) and checkpoints ([`checkpoint`]).
//!
//! A hearth WAL directory is a Prometheus WAL directory: Prometheus replays what hearth
//! wrote and the other way round. The format is described in
//! `shared/conformance/tsdb-format/wal.md`.
//!
//! Must never know about: the head's series, chunks or indexes. Records are opaque bytes to
//! the segment layer; [`record`] turns them into typed values.

pub mod checkpoint;
pub mod fragment;
pub mod live_reader;
pub mod reader;
pub mod record;
pub mod segments;
pub mod writer;

use std::io;
use std::path::PathBuf;

pub use checkpoint::{
    CheckpointStats, checkpoint, checkpoint_dir, checkpoint_in, delete_checkpoints, last_checkpoint,
};
pub use live_reader::LiveReader;
pub use reader::{SegmentRange, TornTail, WalReader};
pub use record::{RecordDecoder, RecordEncoder, RecordError, RecordType};
pub use segments::{segment_path, segments};
pub use writer::{Compression, Wal, WalOptions};

/// Size of a page: fragments never cross a page boundary.
pub const PAGE_SIZE: usize = 32 * 1024;
/// Default size at which a segment is cut (a record larger than this still gets written,
/// into a segment of its own that grows past it).
pub const DEFAULT_SEGMENT_SIZE: u64 = 128 * 1024 * 1024;

/// Why the bytes of a segment are not a valid WAL.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CorruptionReason {
    #[error("fragment checksum {found:#010x} does not match its data ({computed:#010x})")]
    Checksum { found: u32, computed: u32 },
    #[error("fragment length {length} does not fit in a page")]
    FragmentTooLong { length: u16 },
    #[error("fragment of {length} bytes at page offset {page_offset} crosses the page boundary")]
    CrossesPage { length: u16, page_offset: usize },
    #[error("invalid fragment type {0}")]
    InvalidFragmentType(u8),
    #[error("unexpected {found} fragment {context}")]
    UnexpectedFragment {
        found: &'static str,
        context: &'static str,
    },
    #[error("non-zero byte in page padding")]
    NonZeroPadding,
    #[error("segment ends inside a record")]
    TruncatedRecord,
    #[error("record does not decompress ({codec}): {message}")]
    Decompress {
        codec: &'static str,
        message: String,
    },
    /// The record was read whole but its payload does not decode (found by the head
    /// while replaying; repair treats it like any other corruption, as upstream does).
    #[error("record does not decode: {0}")]
    InvalidRecord(String),
}

/// Corruption found while reading: the segment and the byte offset of the first record
/// that cannot be read. Everything before `offset` in `segment` (and in earlier segments)
/// was read fine; [`Wal::repair`] keeps exactly that.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("WAL corruption in segment {segment:08} of {dir:?} at offset {offset}: {reason}")]
pub struct CorruptionError {
    pub dir: PathBuf,
    pub segment: u32,
    /// Offset of the start of the first unreadable record (the end of the last good one).
    pub offset: u64,
    /// Offset of the fragment in which the fault was seen (at or after `offset`).
    pub fragment_offset: u64,
    pub reason: CorruptionReason,
}

/// Everything that can go wrong in the WAL.
#[derive(Debug, thiserror::Error)]
pub enum WalError {
    #[error("{op} {path:?}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error(transparent)]
    Corruption(#[from] CorruptionError),
    #[error("segments in {dir:?} are not sequential: {before:08} is followed by {after:08}")]
    SegmentGap {
        dir: PathBuf,
        before: u32,
        after: u32,
    },
    #[error("invalid WAL option: {0}")]
    InvalidOption(String),
    #[error("compress record with {codec}: {message}")]
    Compress {
        codec: &'static str,
        message: String,
    },
    #[error("segment index overflow after {0:08}")]
    SegmentIndexOverflow(u32),
    #[error("decode {record_type} record in segment {segment:08}: {source}")]
    Record {
        record_type: RecordType,
        segment: u32,
        #[source]
        source: RecordError,
    },
    #[error("checkpoint: {0}")]
    Checkpoint(String),
    #[error("cannot repair: {0}")]
    Repair(String),
}

impl WalError {
    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>) -> impl FnOnce(io::Error) -> Self {
        let path = path.into();
        move |source| WalError::Io { op, path, source }
    }
}
