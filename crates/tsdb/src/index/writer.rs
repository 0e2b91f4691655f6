//! [`IndexWriter`]: streams an index file to disk in the order the compactor produces data.
//!
//! Call order (as upstream's `index.Writer`): every symbol with [`IndexWriter::add_symbol`]
//! in ascending order, then every series with [`IndexWriter::add_series`] in ascending
//! label order, then [`IndexWriter::finish`]. Series go straight to the file; postings are
//! built afterwards by re-reading the series section, in batches of label names sized so
//! no batch holds more refs than there are series, through two temporary files next to
//! the index (`index_tmp_p`, `index_tmp_po`). In memory the writer keeps the symbol →
//! ref map, per-name usage counts and one batch of postings, as upstream does.

use hashbrown::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use hearth_model::Labels;

use super::symbols::SymbolTable;
use super::{ChunkMeta, FORMAT_V2, IndexError, MAGIC_INDEX, SERIES_ALIGN, Section, TOC_LEN, Toc};
use crate::encoding::{Decbuf, Encbuf};

/// The file may not outgrow what 16-byte-aligned u32 series refs can address.
const MAX_INDEX_SIZE: u64 = 16 * u32::MAX as u64;
const WRITE_BUFFER: usize = 1 << 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Stage {
    Symbols,
    Series,
    Done,
}

/// A buffered file that knows its write position.
struct PositionedFile {
    path: PathBuf,
    out: BufWriter<File>,
    pos: u64,
}

impl PositionedFile {
    fn create(path: PathBuf) -> io::Result<Self> {
        let f = OpenOptions::new()
            .create(true)
            .truncate(true)
            .read(true)
            .write(true)
            .open(&path)?;
        Ok(PositionedFile {
            path,
            out: BufWriter::with_capacity(WRITE_BUFFER, f),
            pos: 0,
        })
    }

    fn write(&mut self, b: &[u8]) -> io::Result<()> {
        self.out.write_all(b)?;
        self.pos += b.len() as u64;
        if self.pos > MAX_INDEX_SIZE {
            return Err(io::Error::other("exceeding max size of 64GiB"));
        }
        Ok(())
    }

    fn add_padding(&mut self, align: u64) -> io::Result<()> {
        let rem = self.pos % align;
        if rem == 0 {
            return Ok(());
        }
        const ZEROS: [u8; 16] = [0; 16];
        self.write(&ZEROS[..(align - rem) as usize])
    }

    fn write_at(&mut self, b: &[u8], pos: u64) -> io::Result<()> {
        self.out.flush()?;
        self.out.get_ref().write_all_at(b, pos)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }

    fn sync(&mut self) -> io::Result<()> {
        self.out.flush()?;
        self.out.get_ref().sync_all()
    }

    /// A read-only map of everything written so far.
    fn map(&mut self) -> io::Result<memmap2::Mmap> {
        self.out.flush()?;
        // SAFETY: the file is private to this writer until `finish`; nothing truncates it
        // while the map is alive (maps are dropped before further writes matter).
        unsafe { memmap2::Mmap::map(self.out.get_ref()) }
    }
}

/// Writes one index file (format v2).
pub struct IndexWriter {
    path: PathBuf,
    f: PositionedFile,
    /// Postings lists, later copied into the index.
    fp: PositionedFile,
    /// Postings offset entries, relative to `fp`.
    fpo: PositionedFile,
    po_count: u32,
    stage: Stage,
    toc: Toc,
    /// Where the copied postings start in the index (`toc.postings` plus alignment).
    postings_start: u64,
    symbol_count: u32,
    last_symbol: Option<String>,
    /// CRC32C of the symbol entries written so far (the count is folded in at the end).
    symbols_crc: u32,
    symbols_len: u64,
    symbol_refs: HashMap<Box<str>, u32>,
    /// Label name → number of series carrying it.
    label_names: HashMap<Box<str>, u64>,
    last_series: Option<Labels>,
    last_chunk_ref: u64,
    buf: Vec<u8>,
    buf2: Vec<u8>,
    finished: bool,
}

impl IndexWriter {
    /// Creates (or truncates) the index file at `path` and writes the header.
    pub fn create(path: impl AsRef<Path>) -> Result<Self, IndexError> {
        let path = path.as_ref().to_path_buf();
        let tmp = |suffix: &str| {
            let mut p = path.clone().into_os_string();
            p.push(suffix);
            PathBuf::from(p)
        };
        let open = |p: PathBuf| {
            PositionedFile::create(p).map_err(|source| IndexError::Io {
                path: path.clone(),
                op: "create",
                source,
            })
        };
        // Remove rather than truncate: an existing index may be hard-linked into a snapshot.
        match fs::remove_file(&path) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => {
                return Err(IndexError::Io {
                    path,
                    op: "remove existing index",
                    source: e,
                });
            }
            _ => {}
        }
        let mut w = IndexWriter {
            f: open(path.clone())?,
            fp: open(tmp("_tmp_p"))?,
            fpo: open(tmp("_tmp_po"))?,
            path,
            po_count: 0,
            stage: Stage::Symbols,
            toc: Toc::default(),
            postings_start: 0,
            symbol_count: 0,
            last_symbol: None,
            symbols_crc: 0,
            symbols_len: 0,
            symbol_refs: HashMap::new(),
            label_names: HashMap::new(),
            last_series: None,
            last_chunk_ref: 0,
            buf: Vec::with_capacity(1 << 12),
            buf2: Vec::with_capacity(1 << 12),
            finished: false,
        };
        let mut header = Vec::with_capacity(5);
        header.put_be32(MAGIC_INDEX);
        header.push(FORMAT_V2);
        w.write(&header)?;
        // The symbol table's length and count are patched in when it is finished.
        w.toc.symbols = w.f.pos;
        w.write(b"alenblen")?;
        Ok(w)
    }

    fn io(&self, op: &'static str) -> impl Fn(io::Error) -> IndexError + '_ {
        move |source| IndexError::Io {
            path: self.path.clone(),
            op,
            source,
        }
    }

    fn invalid(&self, detail: impl Into<String>) -> IndexError {
        IndexError::InvalidInput {
            path: self.path.clone(),
            detail: detail.into(),
        }
    }

    fn write(&mut self, b: &[u8]) -> Result<(), IndexError> {
        let r = self.f.write(b);
        r.map_err(self.io("write"))
    }

    fn ensure_stage(&mut self, s: Stage) -> Result<(), IndexError> {
        if self.finished {
            return Err(self.invalid("index writer already finished"));
        }
        if self.stage > s {
            return Err(self.invalid(format!(
                "invalid stage {s:?}, currently at {:?}",
                self.stage
            )));
        }
        while self.stage < s {
            match self.stage {
                Stage::Symbols => {
                    self.finish_symbols()?;
                    self.toc.series = self.f.pos;
                    self.stage = Stage::Series;
                }
                Stage::Series => {
                    self.write_postings_and_tables()?;
                    self.stage = Stage::Done;
                }
                Stage::Done => break,
            }
        }
        Ok(())
    }

    /// Adds the next symbol; symbols must be strictly ascending.
    pub fn add_symbol(&mut self, sym: &str) -> Result<(), IndexError> {
        self.ensure_stage(Stage::Symbols)?;
        if self.last_symbol.as_deref().is_some_and(|last| sym <= last) {
            return Err(self.invalid(format!("symbol {sym:?} out-of-order")));
        }
        self.buf.clear();
        self.buf.put_uvarint_str(sym);
        self.symbols_crc = crc32c::crc32c_append(self.symbols_crc, &self.buf);
        self.symbols_len += self.buf.len() as u64;
        let b = std::mem::take(&mut self.buf);
        let r = self.write(&b);
        self.buf = b;
        r?;
        self.symbol_refs.insert(sym.into(), self.symbol_count);
        self.symbol_count = self
            .symbol_count
            .checked_add(1)
            .ok_or_else(|| self.invalid("more than 2^32 symbols"))?;
        self.last_symbol = Some(sym.to_string());
        Ok(())
    }

    fn finish_symbols(&mut self) -> Result<(), IndexError> {
        let table_len = self.f.pos - self.toc.symbols - 4;
        let table_len = u32::try_from(table_len)
            .map_err(|_| self.invalid(format!("symbol table size {table_len} exceeds 4 bytes")))?;
        let mut head = Vec::with_capacity(8);
        head.put_be32(table_len);
        head.put_be32(self.symbol_count);
        let r = self.f.write_at(&head, self.toc.symbols);
        r.map_err(self.io("write symbol table length"))?;
        let crc = crc32c::crc32c_combine(
            crc32c::crc32c(&head[4..]),
            self.symbols_crc,
            self.symbols_len as usize,
        );
        self.write(&crc.to_be_bytes())?;
        self.last_symbol = None;
        Ok(())
    }

    /// Adds the next series (label sets strictly ascending) with its chunks, returning its
    /// series reference (file offset / 16). Every name and value must have been added as a
    /// symbol; chunk refs must not decrease across the whole index and chunk time ranges
    /// must be ordered and non-overlapping.
    pub fn add_series(&mut self, labels: &Labels, chunks: &[ChunkMeta]) -> Result<u64, IndexError> {
        self.ensure_stage(Stage::Series)?;
        let last = self.last_series.as_ref().unwrap_or(&EMPTY_LABELS);
        if labels <= last {
            return Err(self.invalid(format!(
                "out-of-order series added with label set {labels}, last label set {last}"
            )));
        }
        let mut last_ref = self.last_chunk_ref;
        let mut last_maxt = 0i64;
        for (i, c) in chunks.iter().enumerate() {
            if c.chunk_ref < last_ref {
                return Err(self.invalid(format!(
                    "unsorted chunk reference: {}, previous: {last_ref}",
                    c.chunk_ref
                )));
            }
            last_ref = c.chunk_ref;
            if i > 0 && c.min_time <= last_maxt {
                return Err(self.invalid(format!(
                    "chunk minT {} is not higher than previous chunk maxT {last_maxt}",
                    c.min_time
                )));
            }
            if c.max_time < c.min_time {
                return Err(self.invalid(format!(
                    "chunk maxT {} is less than minT {}",
                    c.max_time, c.min_time
                )));
            }
            last_maxt = c.max_time;
        }

        let r = self.f.add_padding(SERIES_ALIGN);
        r.map_err(self.io("write padding"))?;
        let series_ref = self.f.pos / SERIES_ALIGN;
        if series_ref > u64::from(u32::MAX) {
            return Err(self.invalid("series offset exceeds 4 bytes"));
        }

        let mut body = std::mem::take(&mut self.buf2);
        body.clear();
        body.put_uvarint(labels.len() as u64);
        for l in labels {
            for s in [&l.name, &l.value] {
                let Some(&r) = self.symbol_refs.get(s.as_str()) else {
                    self.buf2 = body;
                    return Err(self.invalid(format!("symbol entry for {s:?} does not exist")));
                };
                body.put_uvarint(u64::from(r));
            }
            match self.label_names.get_mut(l.name.as_str()) {
                Some(n) => *n += 1,
                None => {
                    self.label_names.insert(l.name.as_str().into(), 1);
                }
            }
        }
        encode_chunks(&mut body, chunks);

        let mut head = std::mem::take(&mut self.buf);
        head.clear();
        head.put_uvarint(body.len() as u64);
        let crc = crc32c::crc32c(&body);
        body.put_be32(crc);
        let r = self.write(&head).and_then(|()| self.write(&body));
        self.buf = head;
        self.buf2 = body;
        r?;

        self.last_series = Some(labels.clone());
        self.last_chunk_ref = last_ref;
        Ok(series_ref)
    }

    /// Writes postings, the postings offset table and the TOC, syncs the file and removes
    /// the temporary files. Returns the index size in bytes.
    pub fn finish(mut self) -> Result<u64, IndexError> {
        self.ensure_stage(Stage::Done)?;
        let r = self.f.sync();
        r.map_err(self.io("sync"))?;
        self.finished = true;
        self.remove_tmp_files();
        Ok(self.f.pos)
    }

    fn remove_tmp_files(&self) {
        // Best effort: a leftover temporary file is harmless and overwritten next time.
        let _ = fs::remove_file(&self.fp.path);
        let _ = fs::remove_file(&self.fpo.path);
    }

    fn write_postings_and_tables(&mut self) -> Result<(), IndexError> {
        // Upstream no longer writes label indices (since 3.6): both TOC entries point at
        // the empty range where they would be.
        self.toc.label_indices = self.f.pos;
        self.write_postings_to_tmp_files()?;
        self.toc.postings = self.f.pos;
        self.copy_postings()?;
        self.toc.label_indices_table = self.f.pos;
        self.toc.postings_table = self.f.pos;
        self.write_postings_offset_table()?;
        self.write_toc()
    }

    /// Builds every postings list from the series section into the temporary files.
    fn write_postings_to_tmp_files(&mut self) -> Result<(), IndexError> {
        let map = self.f.map().map_err(self.io("map index"))?;
        let symbols = SymbolTable::parse(&map, FORMAT_V2, self.toc.symbols as usize)
            .map_err(|d| self.own_corruption(Section::Symbols, d))?;
        let series_start = self.toc.series as usize;
        let series_end = self.toc.label_indices as usize;
        let series = map.get(series_start..series_end).unwrap_or(&[]);

        let mut all: Vec<u32> = Vec::new();
        walk_series(series, series_start, |r, _| {
            all.push(r);
            Ok(())
        })
        .map_err(|d| self.own_corruption(Section::Series, d))?;
        self.write_posting("", "", &all)?;
        let max_postings = all.len() as u64;
        drop(all);

        let mut names: Vec<(Box<str>, u64)> = self.label_names.drain().collect();
        names.sort_unstable();
        let mut rest = names.as_slice();
        while !rest.is_empty() {
            // Batch names whose series counts sum to at most the series count, so one
            // batch never holds more refs than the all-postings list.
            let mut taken = 0;
            let mut refs_in_batch = 0u64;
            while let Some((name, uses)) = rest.get(taken) {
                if refs_in_batch + uses > max_postings {
                    if taken > 0 {
                        break;
                    }
                    return Err(self.own_corruption(
                        Section::Postings,
                        format!(
                            "label {name:?} has {uses} uses, but there are {max_postings} series"
                        ),
                    ));
                }
                refs_in_batch += uses;
                taken += 1;
            }
            let (batch, tail) = rest.split_at(taken);
            rest = tail;

            let mut slot_of_name: HashMap<u32, usize> = HashMap::with_capacity(batch.len());
            for (i, (name, _)) in batch.iter().enumerate() {
                let r = self.symbol_ref(name)?;
                slot_of_name.insert(r, i);
            }
            let mut postings: Vec<HashMap<u32, Vec<u32>>> = vec![HashMap::new(); batch.len()];
            walk_series(series, series_start, |series_ref, body| {
                let mut d = Decbuf::new(body);
                let n = d.uvarint().map_err(|e| format!("label count: {e}"))?;
                for _ in 0..n {
                    let name = d.uvarint32().map_err(|e| format!("label name: {e}"))?;
                    let value = d.uvarint32().map_err(|e| format!("label value: {e}"))?;
                    if let Some(&slot) = slot_of_name.get(&name) {
                        postings[slot].entry(value).or_default().push(series_ref);
                    }
                }
                Ok(())
            })
            .map_err(|d| self.own_corruption(Section::Series, d))?;

            for ((name, _), by_value) in batch.iter().zip(postings) {
                let mut values: Vec<(u32, Vec<u32>)> = by_value.into_iter().collect();
                // Symbol refs follow string order, so this sorts by value.
                values.sort_unstable_by_key(|(v, _)| *v);
                for (v, refs) in values {
                    let value = symbols
                        .lookup(&map, v)
                        .map_err(|d| self.own_corruption(Section::Symbols, d))?;
                    self.write_posting(name, value, &refs)?;
                }
            }
        }
        Ok(())
    }

    fn symbol_ref(&self, s: &str) -> Result<u32, IndexError> {
        self.symbol_refs
            .get(s)
            .copied()
            .ok_or_else(|| self.invalid(format!("symbol entry for {s:?} does not exist")))
    }

    /// Our own freshly written bytes failed to decode: a bug or a disk fault.
    fn own_corruption(&self, section: Section, detail: impl Into<String>) -> IndexError {
        IndexError::Corrupt {
            path: self.path.clone(),
            section,
            detail: format!("re-reading while writing: {}", detail.into()),
        }
    }

    fn write_posting(&mut self, name: &str, value: &str, refs: &[u32]) -> Result<(), IndexError> {
        // Lists start 4-byte aligned for faster scans; the index copy keeps the alignment
        // because the copy itself starts aligned.
        let r = self.fp.add_padding(4);
        r.map_err(self.io("write temporary postings"))?;

        self.buf.clear();
        self.buf.put_uvarint(2);
        self.buf.put_uvarint_str(name);
        self.buf.put_uvarint_str(value);
        self.buf.put_uvarint(self.fp.pos);
        let r = self.fpo.write(&self.buf);
        r.map_err(self.io("write temporary postings offsets"))?;
        self.po_count = self
            .po_count
            .checked_add(1)
            .ok_or_else(|| self.invalid("more than 2^32 postings lists"))?;

        self.buf.clear();
        let body_len = 4 + 4 * refs.len() as u64;
        let body_len = u32::try_from(body_len)
            .map_err(|_| self.invalid(format!("posting size exceeds 4 bytes: {body_len}")))?;
        self.buf.put_be32(body_len);
        let body_start = self.buf.len();
        self.buf.put_be32(refs.len() as u32);
        for &r in refs {
            self.buf.put_be32(r);
        }
        let crc = crc32c::crc32c(&self.buf[body_start..]);
        self.buf.put_be32(crc);
        let r = self.fp.write(&self.buf);
        r.map_err(self.io("write temporary postings"))
    }

    fn copy_postings(&mut self) -> Result<(), IndexError> {
        let r = self.f.add_padding(4);
        r.map_err(self.io("write padding"))?;
        self.postings_start = self.f.pos;
        let r = self.fp.flush();
        r.map_err(self.io("flush temporary postings"))?;
        let mut src = File::open(&self.fp.path).map_err(self.io("open temporary postings"))?;
        let r = io::copy(&mut src, &mut self.f.out);
        let n = r.map_err(self.io("copy postings"))?;
        if n != self.fp.pos {
            return Err(self.own_corruption(
                Section::Postings,
                format!("wrote {} bytes of postings but read back {n}", self.fp.pos),
            ));
        }
        self.f.pos += n;
        Ok(())
    }

    fn write_postings_offset_table(&mut self) -> Result<(), IndexError> {
        let postings_start = self.postings_start;
        let start = self.f.pos;
        self.write(b"alen")?;
        let count = self.po_count.to_be_bytes();
        let mut crc = crc32c::crc32c(&count);
        self.write(&count)?;

        let map = self
            .fpo
            .map()
            .map_err(self.io("map temporary postings offsets"))?;
        let mut d = Decbuf::new(&map);
        let mut entry = Vec::with_capacity(256);
        for _ in 0..self.po_count {
            let decoded = (|| -> Result<(u64, &str, &str, u64), String> {
                let keys = d.uvarint().map_err(|e| e.to_string())?;
                let name = d.uvarint_str().map_err(|e| e.to_string())?;
                let value = d.uvarint_str().map_err(|e| e.to_string())?;
                let off = d.uvarint().map_err(|e| e.to_string())?;
                Ok((keys, name, value, off))
            })();
            let (keys, name, value, off) =
                decoded.map_err(|e| self.own_corruption(Section::PostingsOffsetTable, e))?;
            entry.clear();
            entry.put_uvarint(keys);
            entry.put_uvarint_str(name);
            entry.put_uvarint_str(value);
            entry.put_uvarint(off + postings_start);
            crc = crc32c::crc32c_append(crc, &entry);
            self.write(&entry)?;
        }
        drop(map);

        let len = self.f.pos - start - 4;
        let len = u32::try_from(len).map_err(|_| {
            self.invalid(format!(
                "postings offset table length {len} exceeds 4 bytes"
            ))
        })?;
        let r = self.f.write_at(&len.to_be_bytes(), start);
        r.map_err(self.io("write postings offset table length"))?;
        self.write(&crc.to_be_bytes())
    }

    fn write_toc(&mut self) -> Result<(), IndexError> {
        let mut b = Vec::with_capacity(TOC_LEN);
        let t = self.toc;
        for off in [
            t.symbols,
            t.series,
            t.label_indices,
            t.label_indices_table,
            t.postings,
            t.postings_table,
        ] {
            b.put_be64(off);
        }
        let crc = crc32c::crc32c(&b);
        b.put_be32(crc);
        self.write(&b)
    }
}

impl Drop for IndexWriter {
    fn drop(&mut self) {
        if !self.finished {
            self.remove_tmp_files();
        }
    }
}

static EMPTY_LABELS: std::sync::LazyLock<Labels> = std::sync::LazyLock::new(Labels::empty);

/// Appends the chunk count and delta-encoded chunk metas.
fn encode_chunks(b: &mut Vec<u8>, chunks: &[ChunkMeta]) {
    b.put_uvarint(chunks.len() as u64);
    let Some(first) = chunks.first() else {
        return;
    };
    b.put_varint(first.min_time);
    b.put_uvarint(first.max_time.wrapping_sub(first.min_time) as u64);
    b.put_uvarint(first.chunk_ref);
    let mut t0 = first.max_time;
    let mut ref0 = first.chunk_ref;
    for c in &chunks[1..] {
        b.put_uvarint(c.min_time.wrapping_sub(t0) as u64);
        b.put_uvarint(c.max_time.wrapping_sub(c.min_time) as u64);
        b.put_varint(c.chunk_ref.wrapping_sub(ref0) as i64);
        t0 = c.max_time;
        ref0 = c.chunk_ref;
    }
}

/// Calls `f(series_ref, body)` for each entry of a series section starting at file offset
/// `base`, skipping the zero padding between entries.
fn walk_series(
    section: &[u8],
    base: usize,
    mut f: impl FnMut(u32, &[u8]) -> Result<(), String>,
) -> Result<(), String> {
    let mut d = Decbuf::new(section);
    loop {
        while d.rest().first() == Some(&0) {
            d.skip(1).map_err(|e| e.to_string())?;
        }
        if d.is_empty() {
            return Ok(());
        }
        let at = base + section.len() - d.remaining();
        if !(at as u64).is_multiple_of(SERIES_ALIGN) {
            return Err(format!("series not 16-byte aligned at {at}"));
        }
        let series_ref = u32::try_from(at as u64 / SERIES_ALIGN)
            .map_err(|_| format!("series offset {at} exceeds 4 bytes"))?;
        let len = d
            .uvarint_len()
            .map_err(|e| format!("series at {at}: {e}"))?;
        let body = d.bytes(len).map_err(|e| format!("series at {at}: {e}"))?;
        d.skip(4).map_err(|e| format!("series at {at}: {e}"))?;
        f(series_ref, body)?;
    }
}
