//! Chunk files on disk, in Prometheus' formats: the segment files of a block's `chunks/`
//! directory ([`ChunkSegmentWriter`], [`ChunkSegmentReader`]) and the head's memory-mapped
//! chunk files in `chunks_head/` ([`HeadChunkWriter`], [`HeadChunkReader`]).
//!
//! Readers map files with `memmap2` and hand out chunks borrowing the mapping; every
//! inconsistency (bad header, short file, checksum mismatch, reference out of range) is a
//! [`ChunkFileError`] naming the file and the offset.

mod head;
mod segment;

use std::fs::File;
use std::io;
use std::ops::Deref;
use std::path::{Path, PathBuf};

use memmap2::Mmap;

pub use head::{
    HEAD_CHUNK_FILE_HEADER_SIZE, HeadChunk, HeadChunkReader, HeadChunkRef, HeadChunkWriter,
    HeadReplayReport, MAGIC_HEAD_CHUNKS, MAX_HEAD_CHUNK_FILE_SIZE, OUT_OF_ORDER_MASK,
    head_chunk_at,
};
pub use segment::{
    BlockChunkRef, ChunkSegmentReader, ChunkSegmentWriter, DEFAULT_CHUNK_SEGMENT_SIZE,
    MAGIC_CHUNKS, SEGMENT_HEADER_SIZE, SegmentChunk,
};

use crate::chunkenc::ChunkError;

/// Version byte of both file formats.
pub const CHUNKS_FORMAT_V1: u8 = 1;
/// The chunk length field is a uvarint of at most this many bytes.
pub const MAX_CHUNK_LENGTH_FIELD_SIZE: usize = 5;

/// What went wrong with a chunk file.
#[derive(Debug, thiserror::Error)]
pub enum ChunkFileError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{path}: invalid header: {reason}")]
    BadHeader { path: PathBuf, reason: String },
    #[error("chunk segment {segment} does not exist ({segments} segments)")]
    SegmentOutOfRange { segment: u64, segments: usize },
    #[error("{path}: chunk offset {offset} is outside the data (file is {len} bytes)")]
    OffsetOutOfRange {
        path: PathBuf,
        offset: u64,
        len: u64,
    },
    #[error("{path} at offset {offset}: chunk needs {need} bytes, file is {len} bytes")]
    Truncated {
        path: PathBuf,
        offset: u64,
        need: u64,
        len: u64,
    },
    #[error("{path} at offset {offset}: unreadable chunk length")]
    BadLength { path: PathBuf, offset: u64 },
    #[error(
        "{path} at offset {offset}: checksum mismatch, expected {expected:08x}, actual {actual:08x}"
    )]
    ChecksumMismatch {
        path: PathBuf,
        offset: u64,
        expected: u32,
        actual: u32,
    },
    #[error("{path} at offset {offset}: {source}")]
    Chunk {
        path: PathBuf,
        offset: u64,
        #[source]
        source: ChunkError,
    },
    #[error("{path}: {reason}")]
    Layout { path: PathBuf, reason: String },
}

impl ChunkFileError {
    fn io(path: &Path, source: io::Error) -> Self {
        ChunkFileError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// The bytes of one file: a read-only mapping, or owned bytes (tests, fuzzing).
#[derive(Debug)]
enum FileBytes {
    Mapped(Mmap),
    Owned(Vec<u8>),
}

impl Deref for FileBytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            FileBytes::Mapped(m) => m,
            FileBytes::Owned(v) => v,
        }
    }
}

impl FileBytes {
    fn map(path: &Path) -> Result<FileBytes, ChunkFileError> {
        let f = File::open(path).map_err(|e| ChunkFileError::io(path, e))?;
        let len = f.metadata().map_err(|e| ChunkFileError::io(path, e))?.len();
        if len == 0 {
            // Mapping an empty file fails on some systems; it is simply empty.
            return Ok(FileBytes::Owned(Vec::new()));
        }
        // SAFETY: chunk files are written once and never modified in place while mapped
        // (the head only appends to its open file and truncates it only during repair,
        // before any reader maps it), as in Prometheus.
        let m = unsafe { Mmap::map(&f) }.map_err(|e| ChunkFileError::io(path, e))?;
        Ok(FileBytes::Mapped(m))
    }
}

/// Segment files of a directory: names that are decimal numbers, sorted by number.
fn numbered_files(dir: &Path) -> Result<Vec<(u64, PathBuf)>, ChunkFileError> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| ChunkFileError::io(dir, e))? {
        let entry = entry.map_err(|e| ChunkFileError::io(dir, e))?;
        let name = entry.file_name();
        let Some(n) = name.to_str().and_then(|s| s.parse::<u64>().ok()) else {
            continue;
        };
        files.push((n, entry.path()));
    }
    files.sort();
    Ok(files)
}

/// `000001`-style file name, as Prometheus' `segmentFile`.
fn segment_file_name(dir: &Path, index: u64) -> PathBuf {
    dir.join(format!("{index:06}"))
}

/// Reads Go's `binary.Uvarint` from at most `MAX_CHUNK_LENGTH_FIELD_SIZE` bytes:
/// the value and its length, or `None` if it does not end in time.
fn read_length_field(b: &[u8]) -> Option<(u64, usize)> {
    crate::encoding::uvarint_prefix(&b[..b.len().min(MAX_CHUNK_LENGTH_FIELD_SIZE)]).ok()
}

fn fsync_dir(dir: &Path) -> Result<(), ChunkFileError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| ChunkFileError::io(dir, e))
}

/// Validates the 8-byte header shared by both formats.
fn check_file_header(path: &Path, b: &[u8], magic: u32) -> Result<(), ChunkFileError> {
    if b.len() < SEGMENT_HEADER_SIZE {
        return Err(ChunkFileError::BadHeader {
            path: path.to_path_buf(),
            reason: format!(
                "file is {} bytes, shorter than the {SEGMENT_HEADER_SIZE}-byte header",
                b.len()
            ),
        });
    }
    let m = u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
    if m != magic {
        return Err(ChunkFileError::BadHeader {
            path: path.to_path_buf(),
            reason: format!("invalid magic number {m:x}"),
        });
    }
    if b[4] != CHUNKS_FORMAT_V1 {
        return Err(ChunkFileError::BadHeader {
            path: path.to_path_buf(),
            reason: format!("invalid chunk format version {}", b[4]),
        });
    }
    Ok(())
}

fn file_header(magic: u32) -> [u8; SEGMENT_HEADER_SIZE] {
    let mut h = [0u8; SEGMENT_HEADER_SIZE];
    h[..4].copy_from_slice(&magic.to_be_bytes());
    h[4] = CHUNKS_FORMAT_V1;
    h
}
