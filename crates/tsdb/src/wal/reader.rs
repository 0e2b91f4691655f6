//! Reading records back from a run of segments, with Prometheus' corruption rules.
//!
//! Segments are read in order, a few pages at a time through one reused buffer, so memory
//! stays bounded whatever the segment size. Fragments are checked (type sequence, length,
//! CRC32C, zero padding) and joined; compressed records are inflated.
//!
//! What a crash can leave behind is tolerated only at the very end of the final segment
//! read (segments after it that are still empty, as a writer creates them on start, do not
//! count): a record whose bytes stop before its end (the file was cut inside a fragment, or
//! ends after a first/middle fragment), or whose unfinished bytes read back as zeros (file
//! systems that extend a file before its data is written). That is reported as a
//! [`TornTail`] and reading ends cleanly. Anything else is a [`CorruptionError`].

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use zstd::stream::raw::{Decoder as ZstdDecoder, InBuffer, Operation, OutBuffer};

use super::fragment::{FragmentType, HEADER_SIZE, SNAPPY_FLAG, ZSTD_FLAG, check_sequence};
use super::segments::{list_segments, segment_path};
use super::{CorruptionError, CorruptionReason, PAGE_SIZE, WalError};

/// Pages read per call to the file system.
const READ_PAGES: usize = 16;
/// Largest record a zstd fragment may inflate to; bounds memory on hostile input.
const MAX_ZSTD_RECORD: usize = 512 << 20;
/// Snappy cannot expand input more than this (a 64-byte copy costs at least 2 bytes);
/// larger claimed lengths are corrupt and must not be allocated.
const MAX_SNAPPY_RATIO: usize = 32;

/// Segments of one directory to read: all of them, or those in `first..=last`.
#[derive(Debug, Clone)]
pub struct SegmentRange {
    pub dir: PathBuf,
    pub first: Option<u32>,
    pub last: Option<u32>,
}

impl SegmentRange {
    /// Every segment in `dir`.
    pub fn all(dir: impl Into<PathBuf>) -> SegmentRange {
        SegmentRange {
            dir: dir.into(),
            first: None,
            last: None,
        }
    }

    /// Segments `first..` of `dir`.
    pub fn from(dir: impl Into<PathBuf>, first: u32) -> SegmentRange {
        SegmentRange {
            dir: dir.into(),
            first: Some(first),
            last: None,
        }
    }
}

/// The unfinished record a crash left at the end of the last segment, and what was lost.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TornTail {
    pub dir: PathBuf,
    pub segment: u32,
    /// Where the unfinished record starts: the segment is good up to here.
    pub offset: u64,
    /// Bytes from `offset` to the end of the segment file, all dropped. They hold at most
    /// one record (the unfinished one), since nothing is written after a record that is
    /// not yet complete.
    pub dropped_bytes: u64,
    /// What the end of the segment looked like.
    pub reason: CorruptionReason,
}

impl TornTail {
    /// The same position as a corruption, for [`super::Wal::repair`], which cuts the
    /// segment at `offset`.
    pub fn as_corruption(&self) -> CorruptionError {
        CorruptionError {
            dir: self.dir.clone(),
            segment: self.segment,
            offset: self.offset,
            fragment_offset: self.offset,
            reason: self.reason.clone(),
        }
    }
}

/// The segment being read and the window of it that is in the buffer.
struct OpenSegment {
    file: File,
    dir: usize,
    index: u32,
    is_last: bool,
    /// Segment offset of `buf[0]`.
    buf_start: u64,
    buf_len: usize,
    pos: usize,
    eof: bool,
}

impl OpenSegment {
    fn offset(&self) -> u64 {
        self.buf_start + self.pos as u64
    }
}

/// Yields the records of a run of segments in order.
///
/// Call [`WalReader::next_record`] until it returns `Ok(None)`, then look at
/// [`WalReader::torn_tail`]. After an error the reader yields nothing more.
pub struct WalReader {
    dirs: Vec<PathBuf>,
    segments: Vec<(usize, u32)>,
    next_segment: usize,
    /// Position in `segments` of the last one that had data when reading started: a torn
    /// record is tolerated there and after.
    tail_segment: usize,
    cur: Option<OpenSegment>,
    buf: Vec<u8>,
    rec: Vec<u8>,
    compressed: Vec<u8>,
    inflater: Inflater,
    /// Segment offset of the record being assembled, while one is.
    pending: Option<u64>,
    torn: Option<TornTail>,
    done: bool,
    records: u64,
    last_record: (u32, u64),
}

impl WalReader {
    /// Reads every segment in `dir`.
    pub fn open(dir: impl Into<PathBuf>) -> Result<WalReader, WalError> {
        WalReader::from_ranges(&[SegmentRange::all(dir)])
    }

    /// Reads the last checkpoint of `dir` (if any), then the segments after it: what the
    /// head replays on start.
    pub fn for_replay(dir: impl Into<PathBuf>) -> Result<WalReader, WalError> {
        let dir = dir.into();
        let mut ranges = Vec::with_capacity(2);
        let mut first = None;
        if let Some((cp_dir, cp_index)) = super::checkpoint::last_checkpoint(&dir)? {
            ranges.push(SegmentRange::all(cp_dir));
            first = cp_index.checked_add(1);
        }
        ranges.push(SegmentRange {
            dir,
            first,
            last: None,
        });
        WalReader::from_ranges(&ranges)
    }

    /// Reads the given ranges one after the other.
    pub fn from_ranges(ranges: &[SegmentRange]) -> Result<WalReader, WalError> {
        let mut dirs = Vec::with_capacity(ranges.len());
        let mut segments = Vec::new();
        for (d, r) in ranges.iter().enumerate() {
            dirs.push(r.dir.clone());
            for i in list_segments(&r.dir)? {
                if r.first.is_some_and(|f| i < f) || r.last.is_some_and(|l| i > l) {
                    continue;
                }
                segments.push((d, i));
            }
        }
        let tail_segment = segments
            .iter()
            .rposition(|&(d, i)| segment_len(&dirs[d], i) > 0)
            .unwrap_or(0);
        Ok(WalReader {
            dirs,
            segments,
            next_segment: 0,
            tail_segment,
            cur: None,
            buf: vec![0; READ_PAGES * PAGE_SIZE],
            rec: Vec::new(),
            compressed: Vec::new(),
            inflater: Inflater::default(),
            pending: None,
            torn: None,
            done: false,
            records: 0,
            last_record: (0, 0),
        })
    }

    /// The torn record found at the end of the last segment, once reading has ended.
    pub fn torn_tail(&self) -> Option<&TornTail> {
        self.torn.as_ref()
    }

    /// Records returned so far.
    pub fn records_read(&self) -> u64 {
        self.records
    }

    /// Segment and offset of the record last returned.
    pub fn record_position(&self) -> (u32, u64) {
        self.last_record
    }

    /// The next record, `Ok(None)` at the end (check [`WalReader::torn_tail`] then).
    /// The slice is valid until the next call.
    pub fn next_record(&mut self) -> Result<Option<&[u8]>, WalError> {
        Ok(if self.read_next()? {
            Some(&self.rec)
        } else {
            None
        })
    }

    /// Moves to the next record (`Ok(false)` at the end), which [`WalReader::record`]
    /// then returns: for callers that also need [`WalReader::record_position`].
    pub fn read_next(&mut self) -> Result<bool, WalError> {
        if self.done {
            return Ok(false);
        }
        let r = self.advance();
        if !matches!(r, Ok(true)) {
            self.done = true;
        }
        r
    }

    /// The record [`WalReader::read_next`] moved to.
    pub fn record(&self) -> &[u8] {
        &self.rec
    }

    /// Reads fragments until a record is complete (`true`) or the input ends (`false`).
    fn advance(&mut self) -> Result<bool, WalError> {
        loop {
            let Some(seg) = self.cur.as_mut() else {
                if !self.open_next()? {
                    return Ok(false);
                }
                continue;
            };
            if seg.pos >= seg.buf_len {
                if !seg.eof {
                    self.fill()?;
                    continue;
                }
                if let Some(start) = self.pending {
                    let end = seg_end(seg);
                    return self.fail_with(start, end, CorruptionReason::TruncatedRecord, true);
                }
                self.cur = None;
                continue;
            }

            let frag_off = seg.offset();
            let page_left = PAGE_SIZE - (frag_off % PAGE_SIZE as u64) as usize;
            let avail = page_left.min(seg.buf_len - seg.pos);
            let at_eof = seg.eof && seg.pos + avail == seg.buf_len;
            let p = seg.pos;
            let type_byte = self.buf[p];
            let Some(typ) = FragmentType::from_header(type_byte) else {
                let reason = CorruptionReason::InvalidFragmentType(type_byte & 0x07);
                return self.fail_at(frag_off, reason, false);
            };
            if typ == FragmentType::PageTerm {
                if self.buf[p + 1..p + avail].iter().any(|&b| b != 0) {
                    return self.fail_at(frag_off, CorruptionReason::NonZeroPadding, false);
                }
                self.seg_mut().pos += avail;
                continue;
            }
            if avail < HEADER_SIZE {
                let reason = CorruptionReason::CrossesPage {
                    length: 0,
                    page_offset: PAGE_SIZE - page_left,
                };
                return self.fail_at(frag_off, reason, at_eof);
            }
            let length = u16::from_be_bytes([self.buf[p + 1], self.buf[p + 2]]);
            let crc = u32::from_be_bytes([
                self.buf[p + 3],
                self.buf[p + 4],
                self.buf[p + 5],
                self.buf[p + 6],
            ]);
            let flen = HEADER_SIZE + length as usize;
            if flen > PAGE_SIZE {
                return self.fail_at(
                    frag_off,
                    CorruptionReason::FragmentTooLong { length },
                    false,
                );
            }
            if flen > page_left {
                let reason = CorruptionReason::CrossesPage {
                    length,
                    page_offset: PAGE_SIZE - page_left,
                };
                return self.fail_at(frag_off, reason, false);
            }
            if flen > avail {
                // Only possible at the end of the file: the write stopped inside this fragment.
                return self.fail_at(frag_off, CorruptionReason::TruncatedRecord, true);
            }
            let data = &self.buf[p + HEADER_SIZE..p + flen];
            let computed = crc32c::crc32c(data);
            if computed != crc {
                let torn = self.rest_is_zero(p + HEADER_SIZE)?;
                let reason = CorruptionReason::Checksum {
                    found: crc,
                    computed,
                };
                return self.fail_at(frag_off, reason, torn);
            }
            if let Err(reason) = check_sequence(typ, self.pending.is_some()) {
                return self.fail_at(frag_off, reason, false);
            }
            if matches!(typ, FragmentType::Full | FragmentType::First) {
                self.pending = Some(frag_off);
                self.rec.clear();
                self.compressed.clear();
            }
            let compressed = type_byte & (SNAPPY_FLAG | ZSTD_FLAG) != 0;
            let target = if compressed {
                &mut self.compressed
            } else {
                &mut self.rec
            };
            target.extend_from_slice(&self.buf[p + HEADER_SIZE..p + flen]);
            self.seg_mut().pos += flen;

            if matches!(typ, FragmentType::Full | FragmentType::Last) {
                let start = self.pending.take().unwrap_or(frag_off);
                if let Err(reason) = self.inflate(type_byte) {
                    self.pending = Some(start);
                    return self.fail_at(frag_off, reason, false);
                }
                self.records += 1;
                self.last_record = (self.seg_ref().index, start);
                return Ok(true);
            }
        }
    }

    /// Decompresses `compressed` into `rec` when the final fragment says so.
    fn inflate(&mut self, type_byte: u8) -> Result<(), CorruptionReason> {
        self.inflater
            .inflate(type_byte, &self.compressed, &mut self.rec)
    }

    fn seg_ref(&self) -> &OpenSegment {
        match &self.cur {
            Some(s) => s,
            None => unreachable_segment(),
        }
    }

    fn seg_mut(&mut self) -> &mut OpenSegment {
        match &mut self.cur {
            Some(s) => s,
            None => unreachable_segment(),
        }
    }

    /// Opens the next segment; `false` when there is none.
    fn open_next(&mut self) -> Result<bool, WalError> {
        let Some(&(dir, index)) = self.segments.get(self.next_segment) else {
            return Ok(false);
        };
        self.next_segment += 1;
        let path = segment_path(&self.dirs[dir], index);
        let file = File::open(&path).map_err(WalError::io("open segment", &path))?;
        self.pending = None;
        self.cur = Some(OpenSegment {
            file,
            dir,
            index,
            is_last: self.next_segment > self.tail_segment,
            buf_start: 0,
            buf_len: 0,
            pos: 0,
            eof: false,
        });
        Ok(true)
    }

    /// Reads the next window of the current segment (whole pages unless at its end).
    fn fill(&mut self) -> Result<(), WalError> {
        let Some(seg) = self.cur.as_mut() else {
            return Ok(());
        };
        seg.buf_start += seg.buf_len as u64;
        seg.pos = 0;
        let (n, eof) = read_full(&mut seg.file, &mut self.buf).map_err(|e| WalError::Io {
            op: "read segment",
            path: segment_path(&self.dirs[seg.dir], seg.index),
            source: e,
        })?;
        seg.buf_len = n;
        seg.eof = eof;
        Ok(())
    }

    /// Whether every byte from `buf[from]` to the end of the last segment is zero. Reads
    /// the rest of the file if needed: the reader stops right after this anyway.
    fn rest_is_zero(&mut self, from: usize) -> Result<bool, WalError> {
        let seg = self.seg_ref();
        if !seg.is_last || self.buf[from..seg.buf_len].iter().any(|&b| b != 0) {
            return Ok(false);
        }
        let window = (seg.buf_start, seg.buf_len, seg.pos);
        let mut zero = true;
        while zero && !self.seg_ref().eof {
            self.fill()?;
            zero = self.buf[..self.seg_ref().buf_len].iter().all(|&b| b == 0);
        }
        // Positions in the error report refer to the window before the look-ahead.
        let s = self.seg_mut();
        (s.buf_start, s.buf_len, s.pos) = window;
        Ok(zero)
    }

    /// Ends reading at a fault in the fragment at `frag_off`.
    fn fail_at(
        &mut self,
        frag_off: u64,
        reason: CorruptionReason,
        tearable: bool,
    ) -> Result<bool, WalError> {
        let start = self.pending.unwrap_or(frag_off);
        self.fail_with(start, frag_off, reason, tearable)
    }

    /// A torn tail if the fault may come from a crash and this is the last segment,
    /// otherwise a corruption error.
    fn fail_with(
        &mut self,
        start: u64,
        frag_off: u64,
        reason: CorruptionReason,
        tearable: bool,
    ) -> Result<bool, WalError> {
        let seg = self.seg_ref();
        let dir = self.dirs[seg.dir].clone();
        if tearable && seg.is_last {
            let len = segment_len(&dir, seg.index).max(seg_end(seg));
            self.torn = Some(TornTail {
                dir,
                segment: seg.index,
                offset: start,
                dropped_bytes: len.saturating_sub(start),
                reason,
            });
            self.cur = None;
            return Ok(false);
        }
        Err(WalError::Corruption(CorruptionError {
            dir,
            segment: seg.index,
            offset: start,
            fragment_offset: frag_off,
            reason,
        }))
    }
}

/// Offset just past the bytes of `seg` read so far.
fn seg_end(seg: &OpenSegment) -> u64 {
    seg.buf_start + seg.buf_len as u64
}

fn segment_len(dir: &Path, index: u32) -> u64 {
    std::fs::metadata(segment_path(dir, index))
        .map(|m| m.len())
        .unwrap_or(0)
}

#[cold]
fn unreachable_segment() -> ! {
    // Only called from paths that run while a segment is open.
    unreachable!("WAL reader has no open segment")
}

/// Fills `buf` from `f`; returns the bytes read and whether the file ended.
fn read_full(f: &mut File, buf: &mut [u8]) -> std::io::Result<(usize, bool)> {
    let mut n = 0;
    while n < buf.len() {
        match f.read(&mut buf[n..]) {
            Ok(0) => return Ok((n, true)),
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok((n, false))
}

/// Decompresses whole records (snappy or zstd, as the type byte of their last fragment
/// says), bounding what a hostile length claim can allocate.
#[derive(Default)]
pub(crate) struct Inflater {
    snappy: Option<snap::raw::Decoder>,
    zstd: Option<ZstdDecoder<'static>>,
}

impl Inflater {
    /// Decompresses `compressed` into `rec`; does nothing when `compressed` is empty
    /// (the record was stored as it is and is already in `rec`).
    pub(crate) fn inflate(
        &mut self,
        type_byte: u8,
        compressed: &[u8],
        rec: &mut Vec<u8>,
    ) -> Result<(), CorruptionReason> {
        if compressed.is_empty() {
            return Ok(());
        }
        if type_byte & SNAPPY_FLAG != 0 {
            let bad = |e: snap::Error| CorruptionReason::Decompress {
                codec: "snappy",
                message: e.to_string(),
            };
            let n = snap::raw::decompress_len(compressed).map_err(bad)?;
            if n > compressed.len().saturating_mul(MAX_SNAPPY_RATIO) + 64 {
                return Err(CorruptionReason::Decompress {
                    codec: "snappy",
                    message: format!(
                        "claims {n} bytes from {} compressed bytes",
                        compressed.len()
                    ),
                });
            }
            rec.clear();
            rec.resize(n, 0);
            self.snappy
                .get_or_insert_with(snap::raw::Decoder::new)
                .decompress(compressed, rec)
                .map_err(bad)?;
            return Ok(());
        }
        let bad = |message: String| CorruptionReason::Decompress {
            codec: "zstd",
            message,
        };
        let dec = match &mut self.zstd {
            Some(d) => d,
            None => self
                .zstd
                .insert(ZstdDecoder::new().map_err(|e| bad(e.to_string()))?),
        };
        zstd_inflate(dec, compressed, rec).map_err(bad)
    }
}

/// Inflates one or more zstd frames from `src` into `out` without trusting any size the
/// frames claim, up to [`MAX_ZSTD_RECORD`].
fn zstd_inflate(
    dec: &mut ZstdDecoder<'static>,
    src: &[u8],
    out: &mut Vec<u8>,
) -> Result<(), String> {
    dec.reinit().map_err(|e| e.to_string())?;
    out.clear();
    let mut input = InBuffer::around(src);
    loop {
        if out.capacity() - out.len() < 16 * 1024 {
            if out.len() >= MAX_ZSTD_RECORD {
                return Err(format!("record inflates past {MAX_ZSTD_RECORD} bytes"));
            }
            out.reserve(out.len().clamp(64 * 1024, MAX_ZSTD_RECORD));
        }
        let before = (input.pos(), out.len());
        let len = out.len();
        let mut output = OutBuffer::around_pos(out, len);
        let hint = dec
            .run(&mut input, &mut output)
            .map_err(|e| e.to_string())?;
        let consumed = input.pos() == src.len();
        if hint == 0 && consumed {
            return Ok(());
        }
        if consumed && before == (input.pos(), out.len()) {
            return Err("incomplete frame".to_string());
        }
    }
}
