//! Head chunk files (`<data>/chunks_head/000001`, ...): the head's full chunks written to
//! disk and mapped back, so a restart replays them instead of the WAL's samples.
//!
//! File: 8-byte header (magic 0x0130BC91, version 1, padding), then chunks as
//! `series ref u64 | mint u64 | maxt u64 | encoding | len uvarint | data | crc32c` (all
//! big-endian, the checksum over everything before it). The encoding byte's top bit marks
//! out-of-order chunks. A reference is `file number << 32 | offset of the series ref`.
//! Zeros after the last chunk (Prometheus preallocates) mark the end of the data.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::chunkenc::{ChunkIterator, Encoding, num_samples};
use crate::encoding::{Decbuf, Encbuf};

use super::{
    ChunkFileError, FileBytes, MAX_CHUNK_LENGTH_FIELD_SIZE, check_file_header, file_header,
    fsync_dir, numbered_files, read_length_field, segment_file_name,
};

/// Magic number at the start of a head chunk file.
pub const MAGIC_HEAD_CHUNKS: u32 = 0x0130_BC91;
pub const HEAD_CHUNK_FILE_HEADER_SIZE: usize = 8;
/// A new file is cut before one would grow past this size.
pub const MAX_HEAD_CHUNK_FILE_SIZE: u64 = 128 * 1024 * 1024;
/// Top bit of the encoding byte: an out-of-order chunk.
pub const OUT_OF_ORDER_MASK: u8 = 0x80;

/// Series ref, mint, maxt, encoding, longest length field, checksum.
const MAX_HEAD_CHUNK_META_SIZE: usize = 8 + 8 + 8 + 1 + MAX_CHUNK_LENGTH_FIELD_SIZE + 4;

/// Where a head chunk sits: file number and byte offset of its record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct HeadChunkRef(pub u64);

impl HeadChunkRef {
    pub fn new(file: u32, offset: u32) -> Self {
        HeadChunkRef((u64::from(file) << 32) | u64::from(offset))
    }

    pub fn file(self) -> u32 {
        (self.0 >> 32) as u32
    }

    pub fn offset(self) -> u32 {
        self.0 as u32
    }
}

/// One chunk record of a head chunk file, borrowing the mapped bytes.
#[derive(Debug, Clone, Copy)]
pub struct HeadChunk<'a> {
    pub chunk_ref: HeadChunkRef,
    pub series_ref: u64,
    pub mint: i64,
    pub maxt: i64,
    pub encoding: Encoding,
    pub out_of_order: bool,
    pub data: &'a [u8],
}

impl<'a> HeadChunk<'a> {
    pub fn num_samples(&self) -> usize {
        num_samples(self.encoding, self.data)
    }

    pub fn iter(&self) -> ChunkIterator<'a> {
        ChunkIterator::new(self.encoding, self.data)
    }
}

/// Appends chunks to head chunk files, cutting files at 128 MiB.
#[derive(Debug)]
pub struct HeadChunkWriter {
    dir: PathBuf,
    file: Option<(PathBuf, BufWriter<File>)>,
    /// Number of the newest file (the open one, if any).
    seq: u64,
    offset: u64,
    max_file_size: u64,
    cut_next: bool,
}

impl HeadChunkWriter {
    /// A writer into `dir` (created if missing); the first chunk goes to a new file after
    /// the existing ones, as in Prometheus.
    pub fn open(dir: &Path) -> Result<Self, ChunkFileError> {
        Self::with_max_file_size(dir, MAX_HEAD_CHUNK_FILE_SIZE)
    }

    pub fn with_max_file_size(dir: &Path, max_file_size: u64) -> Result<Self, ChunkFileError> {
        std::fs::create_dir_all(dir).map_err(|e| ChunkFileError::io(dir, e))?;
        let seq = numbered_files(dir)?.last().map_or(0, |(n, _)| *n);
        Ok(HeadChunkWriter {
            dir: dir.to_path_buf(),
            file: None,
            seq,
            offset: 0,
            max_file_size,
            cut_next: false,
        })
    }

    /// Writes a chunk of series `series_ref` covering `mint..=maxt`.
    pub fn write_chunk(
        &mut self,
        series_ref: u64,
        mint: i64,
        maxt: i64,
        encoding: Encoding,
        data: &[u8],
        out_of_order: bool,
    ) -> Result<HeadChunkRef, ChunkFileError> {
        let mut rec = Vec::with_capacity(MAX_HEAD_CHUNK_META_SIZE + data.len());
        rec.put_be64(series_ref);
        rec.put_be64(mint as u64);
        rec.put_be64(maxt as u64);
        let mut enc = encoding.as_u8();
        if out_of_order {
            enc |= OUT_OF_ORDER_MASK;
        }
        rec.push(enc);
        rec.put_uvarint(data.len() as u64);
        rec.extend_from_slice(data);
        let crc = crc32c::crc32c(&rec);
        rec.put_be32(crc);

        if self.file.is_none()
            || self.cut_next
            || self.offset + rec.len() as u64 > self.max_file_size
        {
            self.cut()?;
        }
        let offset = u32::try_from(self.offset).map_err(|_| ChunkFileError::Layout {
            path: self.dir.clone(),
            reason: format!("head chunk offset {} does not fit a reference", self.offset),
        })?;
        let file = u32::try_from(self.seq).map_err(|_| ChunkFileError::Layout {
            path: self.dir.clone(),
            reason: format!(
                "head chunk file number {} does not fit a reference",
                self.seq
            ),
        })?;
        let Some((path, w)) = self.file.as_mut() else {
            return Err(ChunkFileError::Layout {
                path: self.dir.clone(),
                reason: "no open head chunk file".to_string(),
            });
        };
        w.write_all(&rec).map_err(|e| ChunkFileError::io(path, e))?;
        self.offset += rec.len() as u64;
        Ok(HeadChunkRef::new(file, offset))
    }

    /// The next chunk starts a new file.
    pub fn cut_new_file(&mut self) {
        self.cut_next = true;
    }

    /// Pushes buffered chunks to the file (they are readable after this).
    pub fn flush(&mut self) -> Result<(), ChunkFileError> {
        if let Some((path, w)) = self.file.as_mut() {
            w.flush().map_err(|e| ChunkFileError::io(path, e))?;
        }
        Ok(())
    }

    /// Flushes and fsyncs the open file.
    pub fn sync(&mut self) -> Result<(), ChunkFileError> {
        self.flush()?;
        if let Some((path, w)) = self.file.as_mut() {
            w.get_ref()
                .sync_all()
                .map_err(|e| ChunkFileError::io(path, e))?;
        }
        Ok(())
    }

    /// Deletes files numbered below `file` (never the open one); returns what it removed.
    pub fn remove_files_before(&mut self, file: u32) -> Result<Vec<PathBuf>, ChunkFileError> {
        let mut removed = Vec::new();
        for (n, path) in numbered_files(&self.dir)? {
            if n >= u64::from(file) || (self.file.is_some() && n == self.seq) {
                continue;
            }
            std::fs::remove_file(&path).map_err(|e| ChunkFileError::io(&path, e))?;
            removed.push(path);
        }
        Ok(removed)
    }

    fn finish_file(&mut self) -> Result<(), ChunkFileError> {
        if let Some((path, mut w)) = self.file.take() {
            // Trailing zeros mark the end of data for readers that require a full record
            // header's worth of bytes after each chunk (Prometheus preallocates instead).
            w.write_all(&[0u8; MAX_HEAD_CHUNK_META_SIZE])
                .map_err(|e| ChunkFileError::io(&path, e))?;
            let f = w
                .into_inner()
                .map_err(|e| ChunkFileError::io(&path, e.into_error()))?;
            f.sync_all().map_err(|e| ChunkFileError::io(&path, e))?;
        }
        Ok(())
    }

    fn cut(&mut self) -> Result<(), ChunkFileError> {
        self.finish_file()?;
        self.seq += 1;
        let path = segment_file_name(&self.dir, self.seq);
        let f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(|e| ChunkFileError::io(&path, e))?;
        fsync_dir(&self.dir)?;
        let mut w = BufWriter::with_capacity(4 * 1024 * 1024, f);
        w.write_all(&file_header(MAGIC_HEAD_CHUNKS))
            .map_err(|e| ChunkFileError::io(&path, e))?;
        self.offset = HEAD_CHUNK_FILE_HEADER_SIZE as u64;
        self.cut_next = false;
        self.file = Some((path, w));
        Ok(())
    }

    /// Flushes, fsyncs and closes the open file.
    pub fn close(mut self) -> Result<(), ChunkFileError> {
        self.finish_file()
    }
}

#[derive(Debug)]
struct HeadFile {
    number: u64,
    path: PathBuf,
    bytes: FileBytes,
}

/// Maps head chunk files for reading chunks by reference and for replay.
#[derive(Debug)]
pub struct HeadChunkReader {
    files: Vec<HeadFile>,
}

/// A problem found while walking the files: which file, where, and what.
#[derive(Debug)]
struct Corruption {
    file: usize,
    offset: usize,
    error: ChunkFileError,
}

impl HeadChunkReader {
    /// Maps the files of `dir`. Like Prometheus it first deletes a last file that is empty
    /// or starts with a zero magic (a crash right after creating it), then requires the
    /// remaining files to be numbered without gaps and to carry valid headers.
    pub fn open(dir: &Path) -> Result<Self, ChunkFileError> {
        let mut listed = numbered_files(dir)?;
        if let Some((_, last)) = listed.last() {
            let len = std::fs::metadata(last)
                .map_err(|e| ChunkFileError::io(last, e))?
                .len();
            let mut magic = [0u8; 4];
            let readable = len >= 4
                && std::fs::File::open(last)
                    .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut magic))
                    .is_ok();
            if !readable || magic == [0; 4] {
                std::fs::remove_file(last).map_err(|e| ChunkFileError::io(last, e))?;
                listed.pop();
            }
        }
        let mut files = Vec::with_capacity(listed.len());
        for (number, path) in listed {
            if let Some(prev) = files.last().map(|f: &HeadFile| f.number)
                && number != prev + 1
            {
                return Err(ChunkFileError::Layout {
                    path,
                    reason: format!("head chunk files are not sequential: {prev} then {number}"),
                });
            }
            let bytes = FileBytes::map(&path)?;
            check_file_header(&path, &bytes, MAGIC_HEAD_CHUNKS)?;
            files.push(HeadFile {
                number,
                path,
                bytes,
            });
        }
        Ok(HeadChunkReader { files })
    }

    /// Reads one file held in memory, numbered 1 (for tests and fuzzing).
    pub fn from_bytes(name: &str, bytes: Vec<u8>) -> Result<Self, ChunkFileError> {
        let path = PathBuf::from(name);
        check_file_header(&path, &bytes, MAGIC_HEAD_CHUNKS)?;
        Ok(HeadChunkReader {
            files: vec![HeadFile {
                number: 1,
                path,
                bytes: FileBytes::Owned(bytes),
            }],
        })
    }

    /// The chunk at `r`, after checking bounds and checksum.
    pub fn chunk(&self, r: HeadChunkRef) -> Result<HeadChunk<'_>, ChunkFileError> {
        let f = self
            .files
            .iter()
            .find(|f| f.number == u64::from(r.file()))
            .ok_or(ChunkFileError::SegmentOutOfRange {
                segment: u64::from(r.file()),
                segments: self.files.len(),
            })?;
        head_chunk_at(&f.path, r.file(), &f.bytes, r.offset())
    }

    /// Every chunk of every file in order; stops after the first error.
    pub fn chunks(&self) -> impl Iterator<Item = Result<HeadChunk<'_>, ChunkFileError>> + '_ {
        self.walk().map(|r| r.map_err(|c| c.error))
    }

    fn walk(&self) -> impl Iterator<Item = Result<HeadChunk<'_>, Corruption>> + '_ {
        let mut file = 0usize;
        let mut offset = HEAD_CHUNK_FILE_HEADER_SIZE;
        let mut failed = false;
        std::iter::from_fn(move || {
            while !failed {
                let f = self.files.get(file)?;
                match read_record(f, offset, false) {
                    Ok(Some((c, end))) => {
                        offset = end;
                        return Some(Ok(c));
                    }
                    Ok(None) => {
                        file += 1;
                        offset = HEAD_CHUNK_FILE_HEADER_SIZE;
                    }
                    Err(error) => {
                        failed = true;
                        return Some(Err(Corruption {
                            file,
                            offset,
                            error,
                        }));
                    }
                }
            }
            None
        })
    }
}

/// What `HeadChunkReader::replay` did.
#[derive(Debug, Default)]
pub struct HeadReplayReport {
    /// Chunks handed to the callback.
    pub chunks: usize,
    /// The corruption that ended the replay early, if any.
    pub corruption: Option<ChunkFileError>,
    /// The file cut back to its last good chunk, and its new length.
    pub truncated: Option<(PathBuf, u64)>,
    /// Files after the corrupt one, deleted because their chunks would follow a gap.
    pub removed: Vec<PathBuf>,
}

impl HeadChunkReader {
    /// Replays every chunk of `dir` into `f`. A torn or corrupt tail is not an error: the
    /// replay stops there, the file is truncated to its last good chunk and later files
    /// are deleted (their chunks would follow a gap; the WAL still has those samples),
    /// and the report says what was dropped.
    pub fn replay(
        dir: &Path,
        mut f: impl FnMut(HeadChunk<'_>),
    ) -> Result<HeadReplayReport, ChunkFileError> {
        let reader = HeadChunkReader::open(dir)?;
        let mut report = HeadReplayReport::default();
        let mut corruption = None;
        for item in reader.walk() {
            match item {
                Ok(c) => {
                    report.chunks += 1;
                    f(c);
                }
                Err(c) => corruption = Some(c),
            }
        }
        let Some(c) = corruption else {
            return Ok(report);
        };
        let paths: Vec<PathBuf> = reader.files.iter().map(|f| f.path.clone()).collect();
        // Unmap before changing the files.
        drop(reader);
        tracing::warn!(error = %c.error, "head chunk files corrupt, truncating");
        let bad = &paths[c.file];
        let file = OpenOptions::new()
            .write(true)
            .open(bad)
            .map_err(|e| ChunkFileError::io(bad, e))?;
        file.set_len(c.offset as u64)
            .and_then(|()| file.sync_all())
            .map_err(|e| ChunkFileError::io(bad, e))?;
        report.truncated = Some((bad.clone(), c.offset as u64));
        for p in &paths[c.file + 1..] {
            std::fs::remove_file(p).map_err(|e| ChunkFileError::io(p, e))?;
            report.removed.push(p.clone());
        }
        fsync_dir(dir)?;
        report.corruption = Some(c.error);
        Ok(report)
    }
}

/// The chunk record at `offset` of head chunk file number `file`, given the file's bytes
/// (`path` names it in errors), after checking bounds and checksum. For readers that map
/// the files themselves, such as the head while it keeps writing them.
pub fn head_chunk_at<'a>(
    path: &Path,
    file: u32,
    bytes: &'a [u8],
    offset: u32,
) -> Result<HeadChunk<'a>, ChunkFileError> {
    match parse_record(path, u64::from(file), bytes, offset as usize, true) {
        Ok(Some((c, _))) => Ok(c),
        Ok(None) => Err(ChunkFileError::OffsetOutOfRange {
            path: path.to_path_buf(),
            offset: u64::from(offset),
            len: bytes.len() as u64,
        }),
        Err(e) => Err(e),
    }
}

/// Reads the record at `offset` of `f`: `None` at the end of the data (end of file or
/// zeros), else the chunk and the offset after it. `by_ref` reads a record even if it is
/// the last thing in the file with fewer trailing bytes than a full record header.
fn read_record(
    f: &HeadFile,
    offset: usize,
    by_ref: bool,
) -> Result<Option<(HeadChunk<'_>, usize)>, ChunkFileError> {
    parse_record(&f.path, f.number, &f.bytes, offset, by_ref)
}

fn parse_record<'a>(
    file_path: &Path,
    number: u64,
    b: &'a [u8],
    offset: usize,
    by_ref: bool,
) -> Result<Option<(HeadChunk<'a>, usize)>, ChunkFileError> {
    let path = || file_path.to_path_buf();
    if offset >= b.len() {
        return Ok(None);
    }
    if offset < HEAD_CHUNK_FILE_HEADER_SIZE {
        return Err(ChunkFileError::OffsetOutOfRange {
            path: path(),
            offset: offset as u64,
            len: b.len() as u64,
        });
    }
    let rest = &b[offset..];
    if !by_ref && rest.len() < MAX_HEAD_CHUNK_META_SIZE && rest.iter().all(|x| *x == 0) {
        return Ok(None);
    }
    if rest.len() < 25 {
        return Err(ChunkFileError::Truncated {
            path: path(),
            offset: offset as u64,
            need: 25,
            len: b.len() as u64,
        });
    }
    // At least 25 bytes are there: the three fixed-width fields cannot run short.
    let mut d = Decbuf::new(rest);
    let series_ref = d.be64().unwrap_or(0);
    let mint = d.be64_i64().unwrap_or(0);
    let maxt = d.be64_i64().unwrap_or(0);
    if series_ref == 0 && mint == 0 && maxt == 0 {
        // Preallocated zeros: the end of the data.
        return Ok(None);
    }
    let enc = rest[24];
    let (len, n) = read_length_field(&rest[25..]).ok_or(ChunkFileError::BadLength {
        path: path(),
        offset: offset as u64,
    })?;
    let data_at = 25 + n;
    let end = (data_at as u64).saturating_add(len).saturating_add(4);
    if end > rest.len() as u64 {
        return Err(ChunkFileError::Truncated {
            path: path(),
            offset: offset as u64,
            need: end,
            len: b.len() as u64,
        });
    }
    let end = end as usize;
    let crc_at = end - 4;
    let expected = Decbuf::new(&rest[crc_at..end]).be32().unwrap_or(0);
    let actual = crc32c::crc32c(&rest[..crc_at]);
    if expected != actual {
        return Err(ChunkFileError::ChecksumMismatch {
            path: path(),
            offset: offset as u64,
            expected,
            actual,
        });
    }
    let encoding =
        Encoding::from_u8(enc & !OUT_OF_ORDER_MASK).map_err(|source| ChunkFileError::Chunk {
            path: path(),
            offset: offset as u64,
            source,
        })?;
    let chunk_ref = HeadChunkRef::new(u32::try_from(number).unwrap_or(u32::MAX), offset as u32);
    Ok(Some((
        HeadChunk {
            chunk_ref,
            series_ref,
            mint,
            maxt,
            encoding,
            out_of_order: enc & OUT_OF_ORDER_MASK != 0,
            data: &rest[data_at..crc_at],
        },
        offset + end,
    )))
}
