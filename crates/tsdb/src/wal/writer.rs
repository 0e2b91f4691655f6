//! Appending records to the segments of a WAL directory.
//!
//! Records are compressed (Snappy by default, skipped when it does not help), split into
//! fragments that fit the 32 KiB pages, and written through one reused page buffer. A
//! record never crosses into the next segment: when it does not fit the rest of the
//! current one, a new segment is cut first.
//!
//! Durability: [`Wal::log`] hands every batch to the kernel before it returns, so a crash
//! of the process loses nothing that was logged. What survives a crash of the machine
//! depends on fsync, which is explicit: [`Wal::sync`], segment cuts (the finished segment
//! is fsynced in the background) and [`Wal::close`]. [`WalOptions::sync_on_log`] fsyncs
//! after every `log` call, which makes each acknowledged batch survive power loss at the
//! price of one disk flush (typically 0.1 to 10 ms) per call, serialising appenders on
//! the disk's latency. Prometheus does not fsync per write; a torn tail after power loss
//! is detected and dropped on replay instead.

use std::fs::{File, OpenOptions};
use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::thread::JoinHandle;

use super::fragment::{FragmentType, HEADER_SIZE, SNAPPY_FLAG, ZSTD_FLAG, write_header};
use super::reader::{SegmentRange, TornTail, WalReader};
use super::segments::{list_segments, segment_path, sync_dir};
use super::{CorruptionError, DEFAULT_SEGMENT_SIZE, PAGE_SIZE, WalError};

/// How records are compressed before they are split into fragments. Readers accept all.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Compression {
    None,
    /// Snappy block format, as Prometheus' default `--storage.tsdb.wal-compression`.
    #[default]
    Snappy,
    /// Zstd frames, as Prometheus' `--storage.tsdb.wal-compression-type=zstd`.
    Zstd,
}

/// How a [`Wal`] writes.
#[derive(Debug, Clone)]
pub struct WalOptions {
    /// Size at which segments are cut; a multiple of the 32 KiB page size.
    pub segment_size: u64,
    pub compression: Compression,
    /// Fsync after every [`Wal::log`] call (see the module documentation for the cost).
    pub sync_on_log: bool,
}

impl Default for WalOptions {
    fn default() -> WalOptions {
        WalOptions {
            segment_size: DEFAULT_SEGMENT_SIZE,
            compression: Compression::Snappy,
            sync_on_log: false,
        }
    }
}

/// Zstd level for records: records are small and written on the ingestion path, so
/// speed matters more than ratio.
const ZSTD_LEVEL: i32 = 1;

/// The writer of a WAL directory. Not shared: callers serialise access (a mutex).
pub struct Wal {
    dir: PathBuf,
    opts: WalOptions,
    segment: File,
    segment_index: u32,
    /// Whole pages already in the active segment.
    done_pages: u64,
    page: Box<[u8]>,
    /// Bytes of `page` filled with fragments.
    page_alloc: usize,
    /// Bytes of `page` already written to the file.
    page_flushed: usize,
    compressed: Vec<u8>,
    snappy: snap::raw::Encoder,
    zstd: Option<zstd::bulk::Compressor<'static>>,
    /// Fsync and close of the previous segment, running in the background.
    closing: Option<JoinHandle<std::io::Result<()>>>,
    recovered_tail: Option<TornTail>,
}

impl Wal {
    /// Opens (creating if needed) the WAL in `dir` for appending. As Prometheus does,
    /// writing starts in a new segment after the existing ones. A torn record at the end
    /// of the last existing segment (a crash while writing it) is cut off first, so that
    /// it cannot turn into corruption once it is no longer the last segment; see
    /// [`Wal::recovered_tail`].
    pub fn open(dir: impl Into<PathBuf>, opts: WalOptions) -> Result<Wal, WalError> {
        let dir = dir.into();
        if opts.segment_size == 0 || !opts.segment_size.is_multiple_of(PAGE_SIZE as u64) {
            return Err(WalError::InvalidOption(format!(
                "segment size {} is not a positive multiple of {PAGE_SIZE}",
                opts.segment_size
            )));
        }
        std::fs::create_dir_all(&dir).map_err(WalError::io("create WAL directory", &dir))?;
        let existing = list_segments(&dir)?;
        let mut recovered_tail = None;
        let next = match existing.last() {
            Some(&last) => {
                // Empty segments at the end (a start that wrote nothing) do not hide a torn
                // record in the segment before them.
                let mut tail = last;
                while tail > existing[0] && segment_len(&dir, tail)? == 0 {
                    tail -= 1;
                }
                recovered_tail = cut_torn_tail(&dir, tail, last)?;
                last.checked_add(1)
                    .ok_or(WalError::SegmentIndexOverflow(last))?
            }
            None => 0,
        };
        let segment = create_segment(&dir, next)?;
        let zstd = match opts.compression {
            Compression::Zstd => Some(zstd_compressor()?),
            _ => None,
        };
        Ok(Wal {
            dir,
            opts,
            segment,
            segment_index: next,
            done_pages: 0,
            page: vec![0; PAGE_SIZE].into_boxed_slice(),
            page_alloc: 0,
            page_flushed: 0,
            compressed: Vec::new(),
            snappy: snap::raw::Encoder::new(),
            zstd,
            closing: None,
            recovered_tail,
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn options(&self) -> &WalOptions {
        &self.opts
    }

    /// The torn record that [`Wal::open`] cut from the end of the last segment, if any.
    pub fn recovered_tail(&self) -> Option<&TornTail> {
        self.recovered_tail.as_ref()
    }

    /// Index of the segment being written.
    pub fn active_segment(&self) -> u32 {
        self.segment_index
    }

    /// The first and last segment in the directory.
    pub fn segments(&self) -> Result<(u32, u32), WalError> {
        let list = list_segments(&self.dir)?;
        let first = list.first().copied().unwrap_or(self.segment_index);
        let last = list.last().copied().unwrap_or(self.segment_index);
        Ok((first, last))
    }

    /// Appends `records` as one batch: they are written to the file together at the end
    /// (and fsynced if [`WalOptions::sync_on_log`]).
    pub fn log(&mut self, records: &[&[u8]]) -> Result<(), WalError> {
        for (i, rec) in records.iter().enumerate() {
            self.log_one(rec, i + 1 == records.len())?;
        }
        if self.opts.sync_on_log && !records.is_empty() {
            self.segment
                .sync_data()
                .map_err(WalError::io("sync segment", self.active_path()))?;
        }
        Ok(())
    }

    fn log_one(&mut self, rec: &[u8], final_in_batch: bool) -> Result<(), WalError> {
        if self.page_full() {
            self.flush_page(true)?;
        }
        let mut compressed = std::mem::take(&mut self.compressed);
        let result = self
            .compress(rec, &mut compressed)
            .and_then(|(len, flags)| {
                let data = if flags == 0 { rec } else { &compressed[..len] };
                self.write_fragments(data, flags)
            });
        self.compressed = compressed;
        result?;
        if final_in_batch && self.page_alloc > self.page_flushed {
            self.flush_page(false)?;
        }
        Ok(())
    }

    /// Compresses `rec` into `out`; returns the compressed length and the fragment flags,
    /// or flags 0 when the record is to be written as it is.
    fn compress(&mut self, rec: &[u8], out: &mut Vec<u8>) -> Result<(usize, u8), WalError> {
        let (len, flag) = match self.opts.compression {
            Compression::None => return Ok((rec.len(), 0)),
            Compression::Snappy => {
                let need = snap::raw::max_compress_len(rec.len());
                if out.len() < need {
                    out.resize(need, 0);
                }
                let n = self.snappy.compress(rec, &mut out[..need]).map_err(|e| {
                    WalError::Compress {
                        codec: "snappy",
                        message: e.to_string(),
                    }
                })?;
                (n, SNAPPY_FLAG)
            }
            Compression::Zstd => {
                let zstd = match &mut self.zstd {
                    Some(z) => z,
                    None => self.zstd.insert(zstd_compressor()?),
                };
                out.clear();
                out.reserve(zstd::zstd_safe::compress_bound(rec.len()));
                zstd.compress_to_buffer(rec, out)
                    .map_err(|e| WalError::Compress {
                        codec: "zstd",
                        message: e.to_string(),
                    })?;
                (out.len(), ZSTD_FLAG)
            }
        };
        // Small records can grow; as upstream, store those uncompressed.
        if len >= rec.len() {
            return Ok((rec.len(), 0));
        }
        Ok((len, flag))
    }

    fn write_fragments(&mut self, mut data: &[u8], flags: u8) -> Result<(), WalError> {
        // Cut a segment when the record would not fit the rest of this one, unless this
        // one is still empty (then the record gets it whole, however large).
        let pages_per_segment = self.opts.segment_size / PAGE_SIZE as u64;
        let free_pages = pages_per_segment.saturating_sub(self.done_pages + 1);
        let left = (PAGE_SIZE - self.page_alloc).saturating_sub(HEADER_SIZE) as u64
            + (PAGE_SIZE - HEADER_SIZE) as u64 * free_pages;
        let segment_empty = self.done_pages == 0 && self.page_alloc == 0;
        if data.len() as u64 > left && !segment_empty {
            self.next_segment()?;
        }
        let mut first = true;
        loop {
            let room = PAGE_SIZE - self.page_alloc - HEADER_SIZE;
            let n = data.len().min(room);
            let (part, rest) = data.split_at(n);
            let typ = match (first, rest.is_empty()) {
                (true, true) => FragmentType::Full,
                (true, false) => FragmentType::First,
                (false, true) => FragmentType::Last,
                (false, false) => FragmentType::Middle,
            };
            let at = self.page_alloc;
            write_header(&mut self.page[at..at + HEADER_SIZE], typ, flags, part);
            self.page[at + HEADER_SIZE..at + HEADER_SIZE + n].copy_from_slice(part);
            self.page_alloc += HEADER_SIZE + n;
            if self.page_full() {
                self.flush_page(true)?;
            }
            data = rest;
            first = false;
            if data.is_empty() {
                return Ok(());
            }
        }
    }

    /// Fewer bytes than a header left: the page is done.
    fn page_full(&self) -> bool {
        PAGE_SIZE - self.page_alloc < HEADER_SIZE
    }

    /// Writes the unwritten part of the page. With `clear` (or when no fragment fits any
    /// more) the page is zero-padded to its end and a new one starts.
    fn flush_page(&mut self, clear: bool) -> Result<(), WalError> {
        let clear = clear || self.page_full();
        if clear {
            self.page_alloc = PAGE_SIZE;
        }
        while self.page_flushed < self.page_alloc {
            match self
                .segment
                .write(&self.page[self.page_flushed..self.page_alloc])
            {
                Ok(0) => {
                    return Err(WalError::Io {
                        op: "write segment",
                        path: self.active_path(),
                        source: std::io::ErrorKind::WriteZero.into(),
                    });
                }
                Ok(n) => self.page_flushed += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => {
                    return Err(WalError::Io {
                        op: "write segment",
                        path: self.active_path(),
                        source: e,
                    });
                }
            }
        }
        if clear {
            self.page.fill(0);
            self.page_alloc = 0;
            self.page_flushed = 0;
            self.done_pages += 1;
        }
        Ok(())
    }

    fn active_path(&self) -> PathBuf {
        segment_path(&self.dir, self.segment_index)
    }

    /// Finishes the active segment (zero-padding its last page) and starts the next one.
    /// The finished segment is fsynced in the background. Returns the new index.
    pub fn next_segment(&mut self) -> Result<u32, WalError> {
        if self.page_alloc > 0 {
            self.flush_page(true)?;
        }
        let next = self
            .segment_index
            .checked_add(1)
            .ok_or(WalError::SegmentIndexOverflow(self.segment_index))?;
        let file = create_segment(&self.dir, next)?;
        let prev = std::mem::replace(&mut self.segment, file);
        let prev_path = self.active_path();
        self.segment_index = next;
        self.done_pages = 0;
        // At most one background fsync at a time keeps memory and threads bounded.
        self.join_closing()?;
        self.closing = Some(
            std::thread::Builder::new()
                .name("wal-segment-sync".into())
                .spawn(move || prev.sync_all())
                .map_err(WalError::io("spawn fsync thread for", prev_path))?,
        );
        Ok(next)
    }

    fn join_closing(&mut self) -> Result<(), WalError> {
        if let Some(h) = self.closing.take() {
            let path = segment_path(&self.dir, self.segment_index.saturating_sub(1));
            match h.join() {
                Ok(r) => r.map_err(WalError::io("sync finished segment", path))?,
                Err(_) => {
                    return Err(WalError::Io {
                        op: "sync finished segment (fsync thread panicked)",
                        path,
                        source: std::io::ErrorKind::Other.into(),
                    });
                }
            }
        }
        Ok(())
    }

    /// Fsyncs everything logged so far (the active segment, and a finished one whose
    /// background fsync may still run).
    pub fn sync(&mut self) -> Result<(), WalError> {
        self.join_closing()?;
        self.segment
            .sync_data()
            .map_err(WalError::io("sync segment", self.active_path()))
    }

    /// Pads the last page, fsyncs and closes.
    pub fn close(mut self) -> Result<(), WalError> {
        if self.page_alloc > 0 {
            self.flush_page(true)?;
        }
        self.sync()
    }

    /// Deletes the segments before `before` (never the active one).
    pub fn truncate(&mut self, before: u32) -> Result<(), WalError> {
        let before = before.min(self.segment_index);
        for i in list_segments(&self.dir)? {
            if i >= before {
                break;
            }
            let path = segment_path(&self.dir, i);
            std::fs::remove_file(&path).map_err(WalError::io("delete segment", &path))?;
        }
        Ok(())
    }

    /// Repairs the WAL after `corruption` was found while reading it, as Prometheus'
    /// `Repair`: the corrupt segment is cut at the end of its last good record (the rest
    /// of its page zero-filled), every later segment is deleted, and writing continues in
    /// a new segment after the repaired one.
    pub fn repair(&mut self, corruption: &CorruptionError) -> Result<(), WalError> {
        if corruption.dir != self.dir {
            return Err(WalError::Repair(format!(
                "corruption is in {:?}, not in this WAL's directory {:?}",
                corruption.dir, self.dir
            )));
        }
        let bad = corruption.segment;
        tracing::warn!(
            segment = bad,
            offset = corruption.offset,
            reason = %corruption.reason,
            "repairing WAL: dropping everything from the corruption on"
        );
        self.join_closing()?;
        for i in list_segments(&self.dir)? {
            if i > bad {
                let path = segment_path(&self.dir, i);
                std::fs::remove_file(&path).map_err(WalError::io("delete segment", &path))?;
            }
        }
        cut_segment(&self.dir, bad, corruption.offset)?;
        let next = bad
            .checked_add(1)
            .ok_or(WalError::SegmentIndexOverflow(bad))?;
        self.segment = create_segment(&self.dir, next)?;
        self.segment_index = next;
        self.done_pages = 0;
        self.page.fill(0);
        self.page_alloc = 0;
        self.page_flushed = 0;
        sync_dir(&self.dir)
    }
}

fn zstd_compressor() -> Result<zstd::bulk::Compressor<'static>, WalError> {
    zstd::bulk::Compressor::new(ZSTD_LEVEL).map_err(|e| WalError::Compress {
        codec: "zstd",
        message: e.to_string(),
    })
}

fn create_segment(dir: &Path, index: u32) -> Result<File, WalError> {
    let path = segment_path(dir, index);
    let f = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .map_err(WalError::io("create segment", &path))?;
    sync_dir(dir)?;
    Ok(f)
}

/// Cuts segment `index` at `offset` and zero-fills the rest of that page, so the file
/// ends on a page boundary as a finished segment does.
fn cut_segment(dir: &Path, index: u32, offset: u64) -> Result<(), WalError> {
    let path = segment_path(dir, index);
    let mut f = OpenOptions::new()
        .write(true)
        .open(&path)
        .map_err(WalError::io("open segment for repair", &path))?;
    f.set_len(offset)
        .map_err(WalError::io("truncate segment", &path))?;
    let pad = (PAGE_SIZE - (offset % PAGE_SIZE as u64) as usize) % PAGE_SIZE;
    f.seek(SeekFrom::Start(offset))
        .and_then(|_| f.write_all(&vec![0; pad]))
        .and_then(|_| f.sync_all())
        .map_err(WalError::io("zero-fill repaired segment", &path))
}

fn segment_len(dir: &Path, index: u32) -> Result<u64, WalError> {
    let path = segment_path(dir, index);
    Ok(std::fs::metadata(&path)
        .map_err(WalError::io("stat segment", &path))?
        .len())
}

/// Reads segments `first..=last` (the last non-empty one and empty ones after it); if the
/// WAL ends in a torn record, cuts it off.
fn cut_torn_tail(dir: &Path, first: u32, last: u32) -> Result<Option<TornTail>, WalError> {
    let range = SegmentRange {
        dir: dir.to_path_buf(),
        first: Some(first),
        last: Some(last),
    };
    let mut reader = WalReader::from_ranges(&[range])?;
    loop {
        match reader.next_record() {
            Ok(Some(_)) => {}
            Ok(None) => break,
            // Real corruption is for replay to report and the caller to repair.
            Err(WalError::Corruption(_)) => return Ok(None),
            Err(e) => return Err(e),
        }
    }
    let Some(torn) = reader.torn_tail().cloned() else {
        return Ok(None);
    };
    tracing::warn!(
        segment = torn.segment,
        offset = torn.offset,
        dropped_bytes = torn.dropped_bytes,
        reason = %torn.reason,
        "WAL ends in a torn record; cutting it off"
    );
    cut_segment(dir, torn.segment, torn.offset)?;
    Ok(Some(torn))
}
