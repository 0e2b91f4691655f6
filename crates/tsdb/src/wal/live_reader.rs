//! Reading a segment while it is still being written, as Prometheus' `wlog.LiveReader`:
//! for readers that follow the WAL (the remote write sender) rather than replay it.
//!
//! [`LiveReader::next_record`] returns the complete records the file holds now and
//! `Ok(None)` when the rest is not written yet; called again later it continues where it
//! stopped. Bytes of a record that is still being written stay buffered, never skipped.
//! Whether a segment is finished is the caller's knowledge (a later segment exists): it
//! then reads until `Ok(None)` and asks [`LiveReader::unfinished`] whether a torn record
//! was left behind.
//!
//! A reader can start at any record boundary ([`LiveReader::open_at`]), since fragments
//! never cross a page and every record starts with a fragment header.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use super::fragment::{FragmentType, HEADER_SIZE, SNAPPY_FLAG, ZSTD_FLAG, check_sequence};
use super::reader::Inflater;
use super::segments::segment_path;
use super::{CorruptionError, CorruptionReason, PAGE_SIZE, WalError};

/// Bytes asked of the file system per read: a few pages.
const READ_CHUNK: usize = 16 * PAGE_SIZE;

/// Follows one segment file.
pub struct LiveReader {
    dir: PathBuf,
    index: u32,
    file: File,
    /// Bytes read from the file and not yet consumed start at `buf[start]`, which is
    /// segment offset `offset`.
    buf: Vec<u8>,
    start: usize,
    offset: u64,
    rec: Vec<u8>,
    compressed: Vec<u8>,
    /// Segment offset of the record being assembled, while one is.
    pending: Option<u64>,
    record_offset: u64,
    inflater: Inflater,
    records: u64,
}

impl LiveReader {
    /// Follows segment `index` of `dir` from its start.
    pub fn open(dir: &Path, index: u32) -> Result<LiveReader, WalError> {
        LiveReader::open_at(dir, index, 0)
    }

    /// Follows segment `index` of `dir` from `offset`, which must be where a record
    /// starts (a position [`LiveReader::offset`] returned) or the end of the file.
    pub fn open_at(dir: &Path, index: u32, offset: u64) -> Result<LiveReader, WalError> {
        let path = segment_path(dir, index);
        let mut file = File::open(&path).map_err(WalError::io("open segment", &path))?;
        if offset > 0 {
            file.seek(SeekFrom::Start(offset))
                .map_err(WalError::io("seek in segment", &path))?;
        }
        Ok(LiveReader {
            dir: dir.to_path_buf(),
            index,
            file,
            buf: Vec::new(),
            start: 0,
            offset,
            rec: Vec::new(),
            compressed: Vec::new(),
            pending: None,
            record_offset: offset,
            inflater: Inflater::default(),
            records: 0,
        })
    }

    /// The segment this reader follows.
    pub fn segment(&self) -> u32 {
        self.index
    }

    /// Where the next record starts: everything before it was returned.
    pub fn offset(&self) -> u64 {
        self.pending.unwrap_or(self.offset)
    }

    /// Where the record last returned starts.
    pub fn record_offset(&self) -> u64 {
        self.record_offset
    }

    /// Records returned so far.
    pub fn records_read(&self) -> u64 {
        self.records
    }

    /// After `next_record` returned `Ok(None)` on a finished segment: the offset and
    /// length of bytes that are not a whole record (a torn write), if any.
    pub fn unfinished(&self) -> Option<(u64, u64)> {
        let buffered = (self.buf.len() - self.start) as u64;
        let start = self.offset();
        let len = self.offset - start + buffered;
        (len > 0).then_some((start, len))
    }

    /// The next complete record, or `Ok(None)` when the file holds no more complete
    /// records yet. The slice is valid until the next call.
    pub fn next_record(&mut self) -> Result<Option<&[u8]>, WalError> {
        Ok(if self.advance()? {
            Some(&self.rec)
        } else {
            None
        })
    }

    /// Makes at least `n` unconsumed bytes available; `false` when the file has fewer.
    fn fill(&mut self, n: usize) -> Result<bool, WalError> {
        while self.buf.len() - self.start < n {
            if self.start > 0 {
                self.buf.drain(..self.start);
                self.start = 0;
            }
            let have = self.buf.len();
            self.buf.resize(have + READ_CHUNK.max(n - have), 0);
            let read = loop {
                match self.file.read(&mut self.buf[have..]) {
                    Ok(k) => break k,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(e) => {
                        self.buf.truncate(have);
                        return Err(WalError::Io {
                            op: "read segment",
                            path: segment_path(&self.dir, self.index),
                            source: e,
                        });
                    }
                }
            };
            self.buf.truncate(have + read);
            if read == 0 {
                return Ok(false);
            }
        }
        Ok(true)
    }

    fn consume(&mut self, n: usize) {
        self.start += n;
        self.offset += n as u64;
    }

    fn corrupt(&self, fragment_offset: u64, reason: CorruptionReason) -> WalError {
        WalError::Corruption(CorruptionError {
            dir: self.dir.clone(),
            segment: self.index,
            offset: self.offset(),
            fragment_offset,
            reason,
        })
    }

    fn advance(&mut self) -> Result<bool, WalError> {
        loop {
            if !self.fill(1)? {
                return Ok(false);
            }
            let frag_off = self.offset;
            let page_left = PAGE_SIZE - (frag_off % PAGE_SIZE as u64) as usize;
            let type_byte = self.buf[self.start];
            let Some(typ) = FragmentType::from_header(type_byte) else {
                return Err(self.corrupt(
                    frag_off,
                    CorruptionReason::InvalidFragmentType(type_byte & 0x07),
                ));
            };
            if typ == FragmentType::PageTerm {
                // The writer pads the rest of the page in one write; wait for all of it.
                let complete = self.fill(page_left)?;
                let avail = (self.buf.len() - self.start).min(page_left);
                let padding = &self.buf[self.start + 1..self.start + avail];
                if padding.iter().any(|&b| b != 0) {
                    return Err(self.corrupt(frag_off, CorruptionReason::NonZeroPadding));
                }
                if !complete {
                    return Ok(false);
                }
                self.consume(page_left);
                continue;
            }
            if page_left < HEADER_SIZE {
                return Err(self.corrupt(
                    frag_off,
                    CorruptionReason::CrossesPage {
                        length: 0,
                        page_offset: PAGE_SIZE - page_left,
                    },
                ));
            }
            if !self.fill(HEADER_SIZE)? {
                return Ok(false);
            }
            let h = &self.buf[self.start..self.start + HEADER_SIZE];
            let length = u16::from_be_bytes([h[1], h[2]]);
            let crc = u32::from_be_bytes([h[3], h[4], h[5], h[6]]);
            let flen = HEADER_SIZE + length as usize;
            if flen > page_left {
                let reason = if flen > PAGE_SIZE {
                    CorruptionReason::FragmentTooLong { length }
                } else {
                    CorruptionReason::CrossesPage {
                        length,
                        page_offset: PAGE_SIZE - page_left,
                    }
                };
                return Err(self.corrupt(frag_off, reason));
            }
            if !self.fill(flen)? {
                return Ok(false);
            }
            let data = &self.buf[self.start + HEADER_SIZE..self.start + flen];
            let computed = crc32c::crc32c(data);
            if computed != crc {
                return Err(self.corrupt(
                    frag_off,
                    CorruptionReason::Checksum {
                        found: crc,
                        computed,
                    },
                ));
            }
            if let Err(reason) = check_sequence(typ, self.pending.is_some()) {
                return Err(self.corrupt(frag_off, reason));
            }
            if matches!(typ, FragmentType::Full | FragmentType::First) {
                self.pending = Some(frag_off);
                self.rec.clear();
                self.compressed.clear();
            }
            let target = if type_byte & (SNAPPY_FLAG | ZSTD_FLAG) != 0 {
                &mut self.compressed
            } else {
                &mut self.rec
            };
            target.extend_from_slice(data);
            self.consume(flen);
            if matches!(typ, FragmentType::Full | FragmentType::Last) {
                let start = self.pending.unwrap_or(frag_off);
                if let Err(reason) =
                    self.inflater
                        .inflate(type_byte, &self.compressed, &mut self.rec)
                {
                    return Err(self.corrupt(frag_off, reason));
                }
                self.pending = None;
                self.record_offset = start;
                self.records += 1;
                return Ok(true);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wal::{Compression, Wal, WalOptions};
    use std::io::Write;

    fn opts(compression: Compression) -> WalOptions {
        WalOptions {
            segment_size: 4 * PAGE_SIZE as u64,
            compression,
            sync_on_log: false,
        }
    }

    fn drain(r: &mut LiveReader) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        while let Some(rec) = r.next_record().unwrap() {
            out.push(rec.to_vec());
        }
        out
    }

    #[test]
    fn follows_a_segment_as_it_is_written() {
        for compression in [Compression::None, Compression::Snappy, Compression::Zstd] {
            let dir = tempfile::tempdir().unwrap();
            let mut wal = Wal::open(dir.path(), opts(compression)).unwrap();
            let mut r = LiveReader::open(dir.path(), 0).unwrap();
            assert!(drain(&mut r).is_empty());
            let small = b"small record".to_vec();
            // Spans pages: first, middle and last fragments.
            let big: Vec<u8> = (0..70_000u32).map(|i| (i * 7 % 251) as u8).collect();
            wal.log(&[&small]).unwrap();
            assert_eq!(drain(&mut r), vec![small.clone()]);
            wal.log(&[&big, &small]).unwrap();
            assert_eq!(drain(&mut r), vec![big.clone(), small.clone()]);
            assert!(drain(&mut r).is_empty());
            let end = r.offset();
            wal.next_segment().unwrap();
            assert!(drain(&mut r).is_empty());
            assert_eq!(r.unfinished(), None);
            assert_eq!(r.records_read(), 3);
            // Opening at a record boundary reads on from there.
            let mut again = LiveReader::open_at(dir.path(), 0, r.record_offset()).unwrap();
            assert_eq!(drain(&mut again), vec![small.clone()]);
            assert!(end > r.record_offset());
        }
    }

    #[test]
    fn a_partly_written_record_waits_and_a_torn_one_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        let src = tempfile::tempdir().unwrap();
        let mut wal = Wal::open(src.path(), opts(Compression::None)).unwrap();
        let rec: Vec<u8> = (0..40_000u32).map(|i| i as u8).collect();
        wal.log(&[b"first"]).unwrap();
        wal.log(&[&rec]).unwrap();
        drop(wal);
        let bytes = std::fs::read(segment_path(src.path(), 0)).unwrap();
        let mut out = File::create(segment_path(dir.path(), 0)).unwrap();
        // Everything up to the middle of the second record's second fragment.
        let cut = PAGE_SIZE + 100;
        out.write_all(&bytes[..cut]).unwrap();
        out.flush().unwrap();
        let mut r = LiveReader::open(dir.path(), 0).unwrap();
        assert_eq!(drain(&mut r), vec![b"first".to_vec()]);
        let (at, len) = r.unfinished().unwrap();
        assert_eq!(at, r.offset());
        assert_eq!(at + len, cut as u64);
        // The rest arrives: the record is returned whole.
        out.write_all(&bytes[cut..]).unwrap();
        out.flush().unwrap();
        assert_eq!(drain(&mut r), vec![rec]);
        assert_eq!(r.unfinished(), None);
    }

    #[test]
    fn corruption_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let mut wal = Wal::open(dir.path(), opts(Compression::None)).unwrap();
        wal.log(&[b"one", b"two"]).unwrap();
        drop(wal);
        let path = segment_path(dir.path(), 0);
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[HEADER_SIZE + 3 + HEADER_SIZE] ^= 0xff;
        std::fs::write(&path, &bytes).unwrap();
        let mut r = LiveReader::open(dir.path(), 0).unwrap();
        assert_eq!(r.next_record().unwrap().unwrap(), b"one");
        let err = r.next_record().unwrap_err();
        assert!(matches!(
            err,
            WalError::Corruption(CorruptionError {
                segment: 0,
                reason: CorruptionReason::Checksum { .. },
                ..
            })
        ));
    }
}
