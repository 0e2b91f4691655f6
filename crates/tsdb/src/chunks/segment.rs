//! Block chunk segment files (`<block>/chunks/000001`, ...): an 8-byte header (magic
//! 0x85BD40DD, version 1, padding), then chunks as `len uvarint | encoding | data |
//! crc32c(encoding, data) BE`. A chunk is referenced by `segment index << 32 | offset`.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::chunkenc::{ChunkIterator, Encoding};
use crate::encoding::{Decbuf, Encbuf};

use super::{
    ChunkFileError, FileBytes, MAX_CHUNK_LENGTH_FIELD_SIZE, check_file_header, file_header,
    fsync_dir, numbered_files, read_length_field, segment_file_name,
};

/// Magic number at the start of a block chunk segment.
pub const MAGIC_CHUNKS: u32 = 0x85BD_40DD;
/// Magic (4), version (1), padding (3).
pub const SEGMENT_HEADER_SIZE: usize = 8;
/// Segments are cut before growing past this size.
pub const DEFAULT_CHUNK_SEGMENT_SIZE: u64 = 512 * 1024 * 1024;

/// Where a chunk sits in a block: segment index (0 for file `000001`) and byte offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BlockChunkRef(pub u64);

impl BlockChunkRef {
    pub fn new(segment: u32, offset: u32) -> Self {
        BlockChunkRef((u64::from(segment) << 32) | u64::from(offset))
    }

    pub fn segment(self) -> u32 {
        (self.0 >> 32) as u32
    }

    pub fn offset(self) -> u32 {
        self.0 as u32
    }
}

/// Writes a block's chunk segments, cutting a new file before one would exceed the
/// segment size (as Prometheus' `chunks.Writer`).
#[derive(Debug)]
pub struct ChunkSegmentWriter {
    dir: PathBuf,
    segment_size: u64,
    file: Option<(PathBuf, BufWriter<File>)>,
    /// Index of the current segment among those this writer created.
    seq: u32,
    files_created: u32,
    /// Bytes written to the current segment.
    n: u64,
}

impl ChunkSegmentWriter {
    /// A writer into `dir` (created if missing) with 512 MiB segments.
    pub fn create(dir: &Path) -> Result<Self, ChunkFileError> {
        Self::with_segment_size(dir, DEFAULT_CHUNK_SEGMENT_SIZE)
    }

    /// A writer with a custom segment size (0 means the default).
    pub fn with_segment_size(dir: &Path, segment_size: u64) -> Result<Self, ChunkFileError> {
        std::fs::create_dir_all(dir).map_err(|e| ChunkFileError::io(dir, e))?;
        Ok(ChunkSegmentWriter {
            dir: dir.to_path_buf(),
            segment_size: if segment_size == 0 {
                DEFAULT_CHUNK_SEGMENT_SIZE
            } else {
                segment_size
            },
            file: None,
            seq: 0,
            files_created: 0,
            n: 0,
        })
    }

    /// Writes one chunk and returns its reference.
    pub fn write_chunk(
        &mut self,
        encoding: Encoding,
        data: &[u8],
    ) -> Result<BlockChunkRef, ChunkFileError> {
        self.write_chunks(&[(encoding, data)])?
            .into_iter()
            .next()
            .ok_or_else(|| ChunkFileError::Layout {
                path: self.dir.clone(),
                reason: "chunk was not written".to_string(),
            })
    }

    /// Writes chunks in order, batching them into segments the way Prometheus does, and
    /// returns their references.
    pub fn write_chunks(
        &mut self,
        chunks: &[(Encoding, &[u8])],
    ) -> Result<Vec<BlockChunkRef>, ChunkFileError> {
        // Split into batches that each fit a segment (estimating the length field at its
        // maximum), never leaving a segment empty.
        let mut batches: Vec<std::ops::Range<usize>> = Vec::new();
        batches.push(0..0);
        let mut batch_size = 0u64;
        let mut first_batch = true;
        for (i, (_, data)) in chunks.iter().enumerate() {
            let size = (MAX_CHUNK_LENGTH_FIELD_SIZE + 1 + data.len() + 4) as u64;
            batch_size += size;
            let mut cut = i != 0 && batch_size + SEGMENT_HEADER_SIZE as u64 > self.segment_size;
            if first_batch && self.n > SEGMENT_HEADER_SIZE as u64 {
                cut = batch_size + self.n > self.segment_size;
                if cut {
                    first_batch = false;
                }
            }
            if cut {
                batches.push(i..i);
                batch_size = size;
            }
            if let Some(b) = batches.last_mut() {
                b.end = i + 1;
            }
        }
        if self.file.is_none() {
            self.cut()?;
        }
        let mut refs = Vec::with_capacity(chunks.len());
        let last = batches.len() - 1;
        for (bi, range) in batches.into_iter().enumerate() {
            for (encoding, data) in &chunks[range] {
                refs.push(self.write_one(*encoding, data)?);
            }
            if bi < last {
                self.cut()?;
            }
        }
        Ok(refs)
    }

    fn write_one(
        &mut self,
        encoding: Encoding,
        data: &[u8],
    ) -> Result<BlockChunkRef, ChunkFileError> {
        let offset = u32::try_from(self.n).map_err(|_| ChunkFileError::Layout {
            path: self.dir.clone(),
            reason: format!("segment offset {} does not fit a chunk reference", self.n),
        })?;
        let r = BlockChunkRef::new(self.seq, offset);
        let mut head = Vec::with_capacity(MAX_CHUNK_LENGTH_FIELD_SIZE + 1);
        head.put_uvarint(data.len() as u64);
        head.push(encoding.as_u8());
        let mut crc = crc32c::crc32c(&[encoding.as_u8()]);
        crc = crc32c::crc32c_append(crc, data);
        let Some((path, w)) = self.file.as_mut() else {
            return Err(ChunkFileError::Layout {
                path: self.dir.clone(),
                reason: "no open segment".to_string(),
            });
        };
        w.write_all(&head)
            .and_then(|()| w.write_all(data))
            .and_then(|()| w.write_all(&crc.to_be_bytes()))
            .map_err(|e| ChunkFileError::io(path, e))?;
        self.n += (head.len() + data.len() + 4) as u64;
        Ok(r)
    }

    fn finish_file(&mut self) -> Result<(), ChunkFileError> {
        if let Some((path, w)) = self.file.take() {
            let f = w
                .into_inner()
                .map_err(|e| ChunkFileError::io(&path, e.into_error()))?;
            f.sync_all().map_err(|e| ChunkFileError::io(&path, e))?;
        }
        Ok(())
    }

    fn cut(&mut self) -> Result<(), ChunkFileError> {
        self.finish_file()?;
        let next = numbered_files(&self.dir)?.last().map_or(1, |(n, _)| n + 1);
        let path = segment_file_name(&self.dir, next);
        let f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(|e| ChunkFileError::io(&path, e))?;
        fsync_dir(&self.dir)?;
        let mut w = BufWriter::with_capacity(8 * 1024 * 1024, f);
        w.write_all(&file_header(MAGIC_CHUNKS))
            .map_err(|e| ChunkFileError::io(&path, e))?;
        self.seq = self.files_created;
        self.files_created += 1;
        self.n = SEGMENT_HEADER_SIZE as u64;
        self.file = Some((path, w));
        Ok(())
    }

    /// Flushes and syncs the last segment and the directory.
    pub fn finish(mut self) -> Result<(), ChunkFileError> {
        self.finish_file()?;
        fsync_dir(&self.dir)
    }
}

#[derive(Debug)]
struct Segment {
    path: PathBuf,
    bytes: FileBytes,
}

/// Reads chunks of a block's segment files by reference.
#[derive(Debug)]
pub struct ChunkSegmentReader {
    segments: Vec<Segment>,
}

/// A chunk read from a segment, borrowing the file's bytes.
#[derive(Debug, Clone, Copy)]
pub struct SegmentChunk<'a> {
    pub encoding: Encoding,
    pub data: &'a [u8],
}

impl<'a> SegmentChunk<'a> {
    pub fn iter(&self) -> ChunkIterator<'a> {
        ChunkIterator::new(self.encoding, self.data)
    }
}

impl ChunkSegmentReader {
    /// Maps every numbered file in `dir` and checks its header.
    pub fn open(dir: &Path) -> Result<Self, ChunkFileError> {
        let mut segments = Vec::new();
        for (_, path) in numbered_files(dir)? {
            let bytes = FileBytes::map(&path)?;
            check_file_header(&path, &bytes, MAGIC_CHUNKS)?;
            segments.push(Segment { path, bytes });
        }
        Ok(ChunkSegmentReader { segments })
    }

    /// Reads one segment held in memory (`name` appears in errors).
    pub fn from_bytes(name: &str, bytes: Vec<u8>) -> Result<Self, ChunkFileError> {
        let path = PathBuf::from(name);
        check_file_header(&path, &bytes, MAGIC_CHUNKS)?;
        Ok(ChunkSegmentReader {
            segments: vec![Segment {
                path,
                bytes: FileBytes::Owned(bytes),
            }],
        })
    }

    pub fn segment_count(&self) -> usize {
        self.segments.len()
    }

    /// Total bytes of all segments.
    pub fn size(&self) -> u64 {
        self.segments.iter().map(|s| s.bytes.len() as u64).sum()
    }

    /// The chunk at `r`, after checking bounds and checksum.
    pub fn chunk(&self, r: BlockChunkRef) -> Result<SegmentChunk<'_>, ChunkFileError> {
        let seg =
            self.segments
                .get(r.segment() as usize)
                .ok_or(ChunkFileError::SegmentOutOfRange {
                    segment: u64::from(r.segment()),
                    segments: self.segments.len(),
                })?;
        read_chunk_at(&seg.path, &seg.bytes, r.offset() as usize).map(|(c, _)| c)
    }

    /// Every chunk of segment `index` in file order, stopping after the first error.
    pub fn segment_chunks(
        &self,
        index: usize,
    ) -> impl Iterator<Item = Result<(BlockChunkRef, SegmentChunk<'_>), ChunkFileError>> + '_ {
        let seg = self.segments.get(index);
        let mut offset = SEGMENT_HEADER_SIZE;
        let mut failed = false;
        std::iter::from_fn(move || {
            let seg = seg?;
            if failed || offset >= seg.bytes.len() {
                return None;
            }
            match read_chunk_at(&seg.path, &seg.bytes, offset) {
                Ok((c, end)) => {
                    let r = BlockChunkRef::new(index as u32, offset as u32);
                    offset = end;
                    Some(Ok((r, c)))
                }
                Err(e) => {
                    failed = true;
                    Some(Err(e))
                }
            }
        })
    }
}

/// Reads the chunk starting at `offset`; returns it and the offset after it.
fn read_chunk_at<'a>(
    path: &Path,
    b: &'a [u8],
    offset: usize,
) -> Result<(SegmentChunk<'a>, usize), ChunkFileError> {
    let len = b.len() as u64;
    if offset < SEGMENT_HEADER_SIZE || offset >= b.len() {
        return Err(ChunkFileError::OffsetOutOfRange {
            path: path.to_path_buf(),
            offset: offset as u64,
            len,
        });
    }
    let (data_len, n) = read_length_field(&b[offset..]).ok_or(ChunkFileError::BadLength {
        path: path.to_path_buf(),
        offset: offset as u64,
    })?;
    let enc_at = offset + n;
    let end = (enc_at as u64)
        .saturating_add(1)
        .saturating_add(data_len)
        .saturating_add(4);
    if end > len {
        return Err(ChunkFileError::Truncated {
            path: path.to_path_buf(),
            offset: offset as u64,
            need: end - offset as u64,
            len,
        });
    }
    let end = end as usize;
    let data_end = end - 4;
    let expected = Decbuf::new(&b[data_end..end]).be32().unwrap_or(0);
    let actual = crc32c::crc32c(&b[enc_at..data_end]);
    if expected != actual {
        return Err(ChunkFileError::ChecksumMismatch {
            path: path.to_path_buf(),
            offset: offset as u64,
            expected,
            actual,
        });
    }
    let encoding = Encoding::from_u8(b[enc_at]).map_err(|source| ChunkFileError::Chunk {
        path: path.to_path_buf(),
        offset: offset as u64,
        source,
    })?;
    let data = &b[enc_at + 1..data_end];
    if data.len() < encoding.header_size() {
        return Err(ChunkFileError::Chunk {
            path: path.to_path_buf(),
            offset: offset as u64,
            source: crate::chunkenc::ChunkError::TooShort {
                encoding,
                len: data.len(),
                header: encoding.header_size(),
            },
        });
    }
    Ok((SegmentChunk { encoding, data }, end))
}
