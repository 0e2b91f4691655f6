//! The block index file (`<block>/index`), Prometheus' index format v2 byte for byte.
//!
//! Owns the file layout (header, symbol table, series, postings, postings offset table,
//! TOC; see `shared/conformance/tsdb-format/index.md`), the streaming [`IndexWriter`] the
//! compactor feeds, and the mmap-backed [`IndexReader`] queries use. Version 1 files are
//! read too. Like Prometheus since 3.6, the writer emits no label index sections: their
//! TOC entries point at empty ranges and no reader consults them.

mod reader;
mod symbols;
mod writer;

use std::fmt;
use std::path::PathBuf;

pub use reader::{IndexReader, IndexSummary, SymbolsIter};
pub use writer::IndexWriter;

/// First 4 bytes of an index file.
pub const MAGIC_INDEX: u32 = 0xBAAA_D700;
/// Magic plus the version byte.
pub const HEADER_LEN: usize = 5;
/// Symbol refs are file offsets; series refs are offsets.
pub const FORMAT_V1: u8 = 1;
/// Symbol refs are table positions; series refs are offsets divided by 16.
pub const FORMAT_V2: u8 = 2;
/// Six big-endian u64 section offsets plus a CRC32C.
pub const TOC_LEN: usize = 6 * 8 + 4;
/// Series entries start on 16-byte boundaries, so a u32 ref addresses 64 GiB.
pub const SERIES_ALIGN: u64 = 16;
/// One in this many symbols (and postings offset entries per label name) is kept in
/// memory by the reader, as upstream does.
pub const SAMPLING_FACTOR: usize = 32;
/// Name of the index file inside a block directory.
pub const INDEX_FILENAME: &str = "index";

/// Where a chunk of a series lives and which time range it covers (both ends inclusive).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ChunkMeta {
    /// Reference into the block's chunk segment files.
    pub chunk_ref: u64,
    pub min_time: i64,
    pub max_time: i64,
}

/// The table of contents: file offsets of each section (0 = absent).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Toc {
    pub symbols: u64,
    pub series: u64,
    pub label_indices: u64,
    pub label_indices_table: u64,
    pub postings: u64,
    pub postings_table: u64,
}

/// The part of an index file an error is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    Header,
    Toc,
    Symbols,
    Series,
    Postings,
    PostingsOffsetTable,
}

impl fmt::Display for Section {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Section::Header => "header",
            Section::Toc => "TOC",
            Section::Symbols => "symbol table",
            Section::Series => "series",
            Section::Postings => "postings",
            Section::PostingsOffsetTable => "postings offset table",
        })
    }
}

/// Errors reading or writing an index file; each names the file.
#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    #[error("index {}: {op}: {source}", path.display())]
    Io {
        path: PathBuf,
        op: &'static str,
        #[source]
        source: std::io::Error,
    },
    /// The file's bytes are not a valid index (or a ref points outside it).
    #[error("index {}: {section}: {detail}", path.display())]
    Corrupt {
        path: PathBuf,
        section: Section,
        detail: String,
    },
    /// The writer was called out of order or with data the format cannot hold.
    #[error("index {}: {detail}", path.display())]
    InvalidInput { path: PathBuf, detail: String },
}

impl IndexError {
    /// The section a corruption error is about.
    pub fn section(&self) -> Option<Section> {
        match self {
            IndexError::Corrupt { section, .. } => Some(*section),
            _ => None,
        }
    }
}

/// Reads the `len <4b> | body | CRC32C <4b>` section starting at `off`, checking bounds and
/// checksum; returns the body.
pub(crate) fn checked_section(data: &[u8], off: usize) -> Result<&[u8], String> {
    let len_end = off.checked_add(4).ok_or("offset overflows")?;
    let len_bytes = data
        .get(off..len_end)
        .ok_or_else(|| format!("length at offset {off} is past the end of the file"))?;
    let len = u32::from_be_bytes([len_bytes[0], len_bytes[1], len_bytes[2], len_bytes[3]]) as usize;
    let body_end = len_end + len;
    let body = data
        .get(len_end..body_end)
        .ok_or_else(|| format!("{len} bytes at offset {off} run past the end of the file"))?;
    verify_crc(data, body, body_end)?;
    Ok(body)
}

/// Checks the big-endian CRC32C stored at `crc_off` against `body`.
pub(crate) fn verify_crc(data: &[u8], body: &[u8], crc_off: usize) -> Result<(), String> {
    let crc = data
        .get(crc_off..crc_off + 4)
        .ok_or_else(|| format!("checksum at offset {crc_off} is past the end of the file"))?;
    let want = u32::from_be_bytes([crc[0], crc[1], crc[2], crc[3]]);
    let got = crc32c::crc32c(body);
    // Fuzzers almost never produce valid checksums; skipping them lets the fuzzer reach
    // the decoders behind them.
    if want != got && !cfg!(fuzzing) {
        return Err(format!(
            "checksum mismatch at offset {crc_off}: stored {want:#010x}, computed {got:#010x}"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests;
