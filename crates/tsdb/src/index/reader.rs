//! [`IndexReader`]: random access to an index file through a read-only memory map.
//!
//! Opening verifies the header, TOC, symbol table and postings offset table (checksums
//! and structure) and keeps only samples of them in memory; series and postings lists
//! are verified (checksum, bounds) each time they are read.

use std::collections::BTreeMap;

use hashbrown::HashMap;
use std::fs::File;
use std::ops::{Bound, Range};
use std::path::{Path, PathBuf};

use hearth_model::{Istr, Label, Labels};

use super::symbols::{RawSymbolsIter, SymbolTable};
use super::{
    ChunkMeta, FORMAT_V1, FORMAT_V2, HEADER_LEN, IndexError, MAGIC_INDEX, SAMPLING_FACTOR,
    SERIES_ALIGN, Section, TOC_LEN, Toc, checked_section, verify_crc,
};
use crate::encoding::Decbuf;
use crate::postings::{
    BigEndianPostings, BigEndianRefs, BoxPostings, ListPostings, PostingsSource, empty, merge,
};

enum Backing {
    Mapped(memmap2::Mmap),
    Owned(Vec<u8>),
}

impl Backing {
    fn bytes(&self) -> &[u8] {
        match self {
            Backing::Mapped(m) => m,
            Backing::Owned(v) => v,
        }
    }
}

/// A sampled postings offset table entry: a value and the file offset of its entry.
#[derive(Debug)]
struct PostingOffset {
    value: String,
    entry_off: usize,
}

/// One decoded postings offset table entry.
struct TableEntry<'a> {
    name: &'a str,
    value: &'a str,
    postings_off: u64,
}

/// A read-only view of one index file.
pub struct IndexReader {
    path: PathBuf,
    data: Backing,
    version: u8,
    toc: Toc,
    symbols: SymbolTable,
    /// v2: per label name, every 32nd value's table entry plus the last one.
    sampled: HashMap<String, Vec<PostingOffset>>,
    /// v1 tables are not sorted on disk, so all entries are held: name → value → offset.
    v1_postings: HashMap<String, BTreeMap<String, u64>>,
    /// Absolute range of the postings offset table's entries.
    table: Range<usize>,
    /// Label names by symbol ref: half of all symbol lookups, and few.
    name_symbols: HashMap<u32, Istr>,
    series_end: usize,
}

impl std::fmt::Debug for IndexReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IndexReader")
            .field("path", &self.path)
            .field("version", &self.version)
            .field("toc", &self.toc)
            .finish_non_exhaustive()
    }
}

impl IndexReader {
    /// Opens and verifies the index file at `path`.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, IndexError> {
        let path = path.as_ref().to_path_buf();
        let io = |op, source| IndexError::Io {
            path: path.clone(),
            op,
            source,
        };
        let file = File::open(&path).map_err(|e| io("open", e))?;
        let len = file.metadata().map_err(|e| io("stat", e))?.len();
        if len < HEADER_LEN as u64 {
            return Err(IndexError::Corrupt {
                path,
                section: Section::Header,
                detail: format!("file is {len} bytes, shorter than the header"),
            });
        }
        // SAFETY: block files are immutable once written; hearth never modifies or
        // truncates an index while readers exist (blocks are deleted, not rewritten).
        let map = unsafe { memmap2::Mmap::map(&file) }.map_err(|e| io("mmap", e))?;
        Self::from_backing(path, Backing::Mapped(map))
    }

    /// Reads an index held in memory (tests, fuzzing, remote blocks).
    pub fn from_bytes(bytes: Vec<u8>) -> Result<Self, IndexError> {
        Self::from_backing(PathBuf::from("<memory>"), Backing::Owned(bytes))
    }

    fn from_backing(path: PathBuf, data: Backing) -> Result<Self, IndexError> {
        let mut r = IndexReader {
            path,
            data,
            version: 0,
            toc: Toc::default(),
            symbols: SymbolTable::default(),
            sampled: HashMap::new(),
            v1_postings: HashMap::new(),
            table: 0..0,
            name_symbols: HashMap::new(),
            series_end: 0,
        };
        r.parse_header()?;
        r.parse_toc()?;
        if r.toc.symbols != 0 {
            let off = r.offset(r.toc.symbols, Section::Symbols)?;
            r.symbols = SymbolTable::parse(r.data.bytes(), r.version, off)
                .map_err(|d| r.corrupt(Section::Symbols, d))?;
        }
        r.parse_postings_table()?;
        r.cache_name_symbols()?;
        Ok(r)
    }

    fn corrupt(&self, section: Section, detail: impl Into<String>) -> IndexError {
        IndexError::Corrupt {
            path: self.path.clone(),
            section,
            detail: detail.into(),
        }
    }

    fn offset(&self, off: u64, section: Section) -> Result<usize, IndexError> {
        usize::try_from(off)
            .ok()
            .filter(|&o| o < self.data.bytes().len())
            .ok_or_else(|| {
                self.corrupt(section, format!("offset {off} is past the end of the file"))
            })
    }

    fn parse_header(&mut self) -> Result<(), IndexError> {
        let b = self.data.bytes();
        if b.len() < HEADER_LEN {
            return Err(self.corrupt(
                Section::Header,
                format!("file is {} bytes, shorter than the header", b.len()),
            ));
        }
        let magic = u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
        if magic != MAGIC_INDEX {
            return Err(self.corrupt(
                Section::Header,
                format!("invalid magic number {magic:#010x}"),
            ));
        }
        self.version = b[4];
        if self.version != FORMAT_V1 && self.version != FORMAT_V2 {
            return Err(self.corrupt(
                Section::Header,
                format!("unknown index file version {}", self.version),
            ));
        }
        Ok(())
    }

    fn parse_toc(&mut self) -> Result<(), IndexError> {
        let b = self.data.bytes();
        if b.len() < HEADER_LEN + TOC_LEN {
            return Err(self.corrupt(
                Section::Toc,
                format!("file is {} bytes, too short to hold a TOC", b.len()),
            ));
        }
        let toc_start = b.len() - TOC_LEN;
        verify_crc(b, &b[toc_start..toc_start + 48], toc_start + 48)
            .map_err(|d| self.corrupt(Section::Toc, d))?;
        let mut d = Decbuf::new(&b[toc_start..toc_start + 48]);
        let mut next = || d.be64().unwrap_or(0);
        let toc = Toc {
            symbols: next(),
            series: next(),
            label_indices: next(),
            label_indices_table: next(),
            postings: next(),
            postings_table: next(),
        };
        for (name, off) in [
            ("symbols", toc.symbols),
            ("series", toc.series),
            ("label indices", toc.label_indices),
            ("label indices table", toc.label_indices_table),
            ("postings", toc.postings),
            ("postings table", toc.postings_table),
        ] {
            if off > toc_start as u64 {
                return Err(self.corrupt(
                    Section::Toc,
                    format!("{name} offset {off} is past the TOC at {toc_start}"),
                ));
            }
        }
        // The series section ends where the next section starts.
        self.series_end = [
            toc.label_indices,
            toc.postings,
            toc.label_indices_table,
            toc.postings_table,
        ]
        .into_iter()
        .filter(|&o| o > toc.series)
        .min()
        .map_or(toc_start, |o| o as usize);
        self.toc = toc;
        Ok(())
    }

    fn parse_postings_table(&mut self) -> Result<(), IndexError> {
        if self.toc.postings_table == 0 {
            return Ok(());
        }
        let off = self.offset(self.toc.postings_table, Section::PostingsOffsetTable)?;
        let body = checked_section(self.data.bytes(), off)
            .map_err(|d| self.corrupt(Section::PostingsOffsetTable, d))?;
        let mut d = Decbuf::new(body);
        let count = d
            .be32()
            .map_err(|e| self.corrupt(Section::PostingsOffsetTable, format!("entry count: {e}")))?;
        self.table = off + 8..off + 4 + body.len();

        let mut sampled: HashMap<String, Vec<PostingOffset>> = HashMap::new();
        let mut v1: HashMap<String, BTreeMap<String, u64>> = HashMap::new();
        let mut prev: Option<(&str, &str)> = None;
        // The last entry seen of the current name, unless it was sampled already.
        let mut pending_last: Option<(&str, PostingOffset)> = None;
        let mut value_count = 0usize;
        let mut left = count;
        let end = self.table.end;
        while left > 0 && !d.is_empty() {
            let entry_off = end - d.remaining();
            let e = decode_table_entry(&mut d).map_err(|e| {
                self.corrupt(
                    Section::PostingsOffsetTable,
                    format!("entry at offset {entry_off}: {e}"),
                )
            })?;
            left -= 1;
            if self.version == FORMAT_V1 {
                v1.entry(e.name.to_string())
                    .or_default()
                    .insert(e.value.to_string(), e.postings_off);
                continue;
            }
            if prev.is_some_and(|p| p >= (e.name, e.value)) {
                return Err(self.corrupt(
                    Section::PostingsOffsetTable,
                    format!(
                        "entry {:?}={:?} at offset {entry_off} is out of order",
                        e.name, e.value
                    ),
                ));
            }
            if prev.is_none_or(|(n, _)| n != e.name) {
                if let Some((name, last)) = pending_last.take() {
                    sampled.entry(name.to_string()).or_default().push(last);
                }
                sampled.insert(e.name.to_string(), Vec::new());
                value_count = 0;
            }
            let po = PostingOffset {
                value: e.value.to_string(),
                entry_off,
            };
            if value_count.is_multiple_of(SAMPLING_FACTOR) {
                if let Some(v) = sampled.get_mut(e.name) {
                    v.push(po);
                }
                pending_last = None;
            } else {
                pending_last = Some((e.name, po));
            }
            value_count += 1;
            prev = Some((e.name, e.value));
        }
        if let Some((name, last)) = pending_last.take() {
            sampled.entry(name.to_string()).or_default().push(last);
        }
        for v in sampled.values_mut() {
            v.shrink_to_fit();
        }
        self.sampled = sampled;
        self.v1_postings = v1;
        Ok(())
    }

    fn cache_name_symbols(&mut self) -> Result<(), IndexError> {
        let names: Vec<String> = self.label_names().into_iter().map(str::to_string).collect();
        for name in names {
            let r = self
                .symbols
                .reverse_lookup(self.data.bytes(), &name)
                .map_err(|d| self.corrupt(Section::Symbols, format!("label name: {d}")))?;
            self.name_symbols.insert(r, Istr::new(&name));
        }
        Ok(())
    }

    /// The file this reader was opened on (`<memory>` for [`IndexReader::from_bytes`]).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Format version: 1 or 2.
    pub fn version(&self) -> u8 {
        self.version
    }

    pub fn toc(&self) -> &Toc {
        &self.toc
    }

    /// Size of the index file in bytes.
    pub fn size(&self) -> usize {
        self.data.bytes().len()
    }

    /// Number of symbols in the symbol table.
    pub fn symbol_count(&self) -> usize {
        self.symbols.len()
    }

    /// Memory the sampled symbol positions take (upstream's `SymbolTableSize`).
    pub fn symbol_table_size(&self) -> usize {
        self.symbols.sample_bytes()
    }

    /// The symbol with reference `r`.
    pub fn symbol(&self, r: u32) -> Result<&str, IndexError> {
        self.symbols
            .lookup(self.data.bytes(), r)
            .map_err(|d| self.corrupt(Section::Symbols, d))
    }

    /// The reference of symbol `s`.
    pub fn symbol_ref(&self, s: &str) -> Result<u32, IndexError> {
        self.symbols
            .reverse_lookup(self.data.bytes(), s)
            .map_err(|d| self.corrupt(Section::Symbols, d))
    }

    /// All symbols in ascending order.
    pub fn symbols(&self) -> SymbolsIter<'_> {
        SymbolsIter {
            inner: self.symbols.iter(self.data.bytes()),
            reader: self,
        }
    }

    /// Label names present in the index, ascending.
    pub fn label_names(&self) -> Vec<&str> {
        let mut names: Vec<&str> = if self.version == FORMAT_V1 {
            self.v1_postings.keys().map(String::as_str).collect()
        } else {
            self.sampled.keys().map(String::as_str).collect()
        };
        names.retain(|n| !n.is_empty());
        names.sort_unstable();
        names
    }

    /// Values of label `name`, ascending (empty for an unknown name).
    pub fn label_values(&self, name: &str) -> Result<Vec<&str>, IndexError> {
        let mut out = Vec::new();
        self.scan_values(name, "", &mut |v, _| {
            out.push(v);
            Ok(true)
        })?;
        Ok(out)
    }

    /// The postings list stored at file offset `off`, checksum verified.
    fn decode_postings(&self, off: u64) -> Result<BigEndianPostings<'_>, IndexError> {
        let at = self.offset(off, Section::Postings)?;
        let body = checked_section(self.data.bytes(), at)
            .map_err(|d| self.corrupt(Section::Postings, format!("list at offset {off}: {d}")))?;
        let mut d = Decbuf::new(body);
        let n = d.be32().map_err(|e| {
            self.corrupt(
                Section::Postings,
                format!("list at offset {off}: count: {e}"),
            )
        })? as usize;
        if d.remaining() != n * 4 {
            return Err(self.corrupt(
                Section::Postings,
                format!(
                    "list at offset {off}: should be {} bytes for {n} postings, got {}",
                    n * 4,
                    d.remaining()
                ),
            ));
        }
        Ok(ListPostings::new(BigEndianRefs::new(d.rest())))
    }

    /// Walks the postings offset table from the entry at `entry_off` to the table's end.
    fn table_from(&self, entry_off: usize) -> TableCursor<'_> {
        let b = self.data.bytes();
        let start = entry_off.clamp(self.table.start, self.table.end);
        TableCursor {
            d: Decbuf::new(b.get(start..self.table.end).unwrap_or(&[])),
            end: self.table.end,
        }
    }

    /// Calls `f(value, postings_offset)` for the values of `name` starting with `prefix`,
    /// ascending, until `f` returns false.
    fn scan_values<'a>(
        &'a self,
        name: &str,
        prefix: &str,
        f: &mut dyn FnMut(&'a str, u64) -> Result<bool, IndexError>,
    ) -> Result<(), IndexError> {
        if self.version == FORMAT_V1 {
            let Some(values) = self.v1_postings.get(name) else {
                return Ok(());
            };
            for (v, &off) in values.range::<str, _>((Bound::Included(prefix), Bound::Unbounded)) {
                if !v.starts_with(prefix) || !f(v, off)? {
                    break;
                }
            }
            return Ok(());
        }
        let Some(samples) = self.sampled.get(name) else {
            return Ok(());
        };
        // Start at the last sample not after `prefix`: nothing before it can match.
        let start = samples
            .partition_point(|s| s.value.as_str() <= prefix)
            .saturating_sub(1);
        let Some(first) = samples.get(start) else {
            return Ok(());
        };
        let mut cursor = self.table_from(first.entry_off);
        while let Some(e) = cursor.next_entry() {
            let e = e.map_err(|d| self.corrupt(Section::PostingsOffsetTable, d))?;
            if e.name != name {
                break;
            }
            if e.value < prefix {
                continue;
            }
            if !e.value.starts_with(prefix) || !f(e.value, e.postings_off)? {
                break;
            }
        }
        Ok(())
    }

    /// Offsets of the postings lists of `name=v` for each of `values` (sorted, deduped).
    fn postings_offsets(&self, name: &str, values: &[&str]) -> Result<Vec<u64>, IndexError> {
        let mut out = Vec::new();
        if self.version == FORMAT_V1 {
            if let Some(by_value) = self.v1_postings.get(name) {
                out.extend(values.iter().filter_map(|v| by_value.get(*v).copied()));
            }
            return Ok(out);
        }
        let Some(samples) = self.sampled.get(name) else {
            return Ok(out);
        };
        let mut cursor: Option<(TableCursor<'_>, usize)> = None;
        let mut pending: Option<TableEntry<'_>> = None;
        for &value in values {
            let i = samples.partition_point(|s| s.value.as_str() <= value);
            let Some(sample) = i.checked_sub(1).and_then(|i| samples.get(i)) else {
                continue; // Before the first value.
            };
            // Restart from the sample unless the cursor is already past it.
            if cursor
                .as_ref()
                .is_none_or(|(_, pos)| *pos < sample.entry_off)
            {
                cursor = Some((self.table_from(sample.entry_off), sample.entry_off));
                pending = None;
            }
            let Some((c, pos)) = cursor.as_mut() else {
                continue;
            };
            loop {
                let e = match pending.take() {
                    Some(e) => e,
                    None => {
                        *pos = c.position();
                        match c.next_entry() {
                            Some(e) => {
                                e.map_err(|d| self.corrupt(Section::PostingsOffsetTable, d))?
                            }
                            None => break,
                        }
                    }
                };
                if e.name != name || e.value > value {
                    pending = Some(e);
                    break;
                }
                if e.value == value {
                    out.push(e.postings_off);
                    break;
                }
            }
        }
        Ok(out)
    }

    fn postings_at(&self, offsets: Vec<u64>) -> Result<BoxPostings<'_>, IndexError> {
        let mut its: Vec<BoxPostings<'_>> = Vec::with_capacity(offsets.len());
        for off in offsets {
            its.push(Box::new(self.decode_postings(off)?));
        }
        Ok(merge(its))
    }

    /// Postings are stored in series order already (refs follow label order), so this is
    /// the identity; it exists so callers need not know which index they hold.
    pub fn sorted_postings<'a>(&self, p: BoxPostings<'a>) -> BoxPostings<'a> {
        p
    }

    /// The labels of series `id`, with its chunk metas written into `chunks` (cleared first).
    pub fn series(&self, id: u64, chunks: &mut Vec<ChunkMeta>) -> Result<Labels, IndexError> {
        chunks.clear();
        let b = self.data.bytes();
        let off = if self.version == FORMAT_V1 {
            Some(id)
        } else {
            id.checked_mul(SERIES_ALIGN)
        };
        let off = off
            .and_then(|o| usize::try_from(o).ok())
            .filter(|&o| {
                o >= self.toc.series as usize && o < self.series_end && self.toc.series != 0
            })
            .ok_or_else(|| {
                self.corrupt(
                    Section::Series,
                    format!("series ref {id} is outside the series section"),
                )
            })?;
        let bad = |d: String| self.corrupt(Section::Series, format!("series {id}: {d}"));
        let mut d = Decbuf::new(&b[off..self.series_end]);
        let len = d.uvarint_len().map_err(|e| bad(format!("length: {e}")))?;
        let body_start = self.series_end - d.remaining();
        let body = d.bytes(len).map_err(|e| bad(format!("{len} bytes: {e}")))?;
        verify_crc(b, body, body_start + len).map_err(bad)?;

        let mut d = Decbuf::new(body);
        let n = d
            .uvarint_len()
            .map_err(|e| bad(format!("label count: {e}")))?;
        let mut labels: Vec<Label> = Vec::with_capacity(n.min(body.len() / 2));
        for i in 0..n {
            let lno = d
                .uvarint32()
                .map_err(|e| bad(format!("label {i} name: {e}")))?;
            let lvo = d
                .uvarint32()
                .map_err(|e| bad(format!("label {i} value: {e}")))?;
            let name = match self.name_symbols.get(&lno) {
                Some(s) => s.clone(),
                None => Istr::new(self.symbol(lno).map_err(|e| bad(e.to_string()))?),
            };
            let value = self.symbol(lvo).map_err(|e| bad(e.to_string()))?;
            if labels.last().is_some_and(|l| l.name >= name) {
                return Err(bad(format!("label {name:?} out of order")));
            }
            if !value.is_empty() {
                labels.push(Label {
                    name,
                    value: Istr::new(value),
                });
            }
        }

        let k = d
            .uvarint_len()
            .map_err(|e| bad(format!("chunk count: {e}")))?;
        if k == 0 {
            return Ok(Labels::from_sorted_unchecked(labels));
        }
        chunks.reserve(k.min(d.remaining() / 3));
        let chunk_err = |i: usize, e| bad(format!("chunk {i}: {e}"));
        let mint = d.varint().map_err(|e| chunk_err(0, e))?;
        let maxt = (d.uvarint().map_err(|e| chunk_err(0, e))? as i64).wrapping_add(mint);
        let mut chunk_ref = d.uvarint().map_err(|e| chunk_err(0, e))?;
        chunks.push(ChunkMeta {
            chunk_ref,
            min_time: mint,
            max_time: maxt,
        });
        let mut t0 = maxt;
        for i in 1..k {
            let mint = (d.uvarint().map_err(|e| chunk_err(i, e))? as i64).wrapping_add(t0);
            let maxt = (d.uvarint().map_err(|e| chunk_err(i, e))? as i64).wrapping_add(mint);
            chunk_ref = chunk_ref.wrapping_add_signed(d.varint().map_err(|e| chunk_err(i, e))?);
            chunks.push(ChunkMeta {
                chunk_ref,
                min_time: mint,
                max_time: maxt,
            });
            t0 = maxt;
        }
        Ok(Labels::from_sorted_unchecked(labels))
    }
}

/// What [`IndexReader::verify`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IndexSummary {
    pub symbols: usize,
    pub series: usize,
    pub chunks: usize,
    pub label_names: usize,
    /// Postings lists, not counting the all-postings list.
    pub postings_lists: usize,
}

impl IndexReader {
    /// Reads the whole index and checks it is consistent: symbols ascending, every
    /// postings list decodes and points at series that decode and carry that label pair,
    /// every series is in the all-postings list. For `promtool tsdb analyze`-style checks
    /// and fuzzing; a query never needs it.
    pub fn verify(&self) -> Result<IndexSummary, IndexError> {
        let mut summary = IndexSummary::default();
        let mut prev: Option<&str> = None;
        for s in self.symbols() {
            let s = s?;
            if prev.is_some_and(|p| p >= s) {
                return Err(self.corrupt(Section::Symbols, format!("symbol {s:?} out of order")));
            }
            prev = Some(s);
            summary.symbols += 1;
        }
        let mut chunks = Vec::new();
        let mut series: HashMap<u64, Labels> = HashMap::new();
        let mut all = self.all_postings()?;
        while all.next() {
            let id = all.at();
            let labels = self.series(id, &mut chunks)?;
            summary.chunks += chunks.len();
            series.insert(id, labels);
        }
        summary.series = series.len();
        let names = self.label_names();
        summary.label_names = names.len();
        for name in names {
            for value in self.label_values(name)? {
                summary.postings_lists += 1;
                let mut p = self.postings(name, &[value])?;
                while p.next() {
                    let id = p.at();
                    let Some(labels) = series.get(&id) else {
                        return Err(self.corrupt(
                            Section::Postings,
                            format!("{name}={value:?} lists series {id}, which is not in the all-postings list"),
                        ));
                    };
                    if labels.get(name) != Some(value) {
                        return Err(self.corrupt(
                            Section::Postings,
                            format!("{name}={value:?} lists series {id}, which is {labels}"),
                        ));
                    }
                }
            }
        }
        Ok(summary)
    }
}

/// Iterator over the symbols of an [`IndexReader`].
pub struct SymbolsIter<'a> {
    inner: RawSymbolsIter<'a>,
    reader: &'a IndexReader,
}

impl<'a> Iterator for SymbolsIter<'a> {
    type Item = Result<&'a str, IndexError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.inner
            .next()
            .map(|r| r.map_err(|d| self.reader.corrupt(Section::Symbols, d)))
    }
}

fn decode_table_entry<'a>(d: &mut Decbuf<'a>) -> Result<TableEntry<'a>, String> {
    let keys = d.uvarint().map_err(|e| format!("key count: {e}"))?;
    if keys != 2 {
        return Err(format!("unexpected number of keys {keys}, want 2"));
    }
    let name = d.uvarint_str().map_err(|e| format!("label name: {e}"))?;
    let value = d.uvarint_str().map_err(|e| format!("label value: {e}"))?;
    let postings_off = d.uvarint().map_err(|e| format!("offset: {e}"))?;
    Ok(TableEntry {
        name,
        value,
        postings_off,
    })
}

/// Sequential reader over postings offset table entries.
struct TableCursor<'a> {
    d: Decbuf<'a>,
    end: usize,
}

impl<'a> TableCursor<'a> {
    /// Absolute file offset of the next entry.
    fn position(&self) -> usize {
        self.end - self.d.remaining()
    }

    fn next_entry(&mut self) -> Option<Result<TableEntry<'a>, String>> {
        if self.d.is_empty() {
            return None;
        }
        let at = self.position();
        let r = decode_table_entry(&mut self.d).map_err(|e| format!("entry at offset {at}: {e}"));
        if r.is_err() {
            self.d = Decbuf::new(&[]);
        }
        Some(r)
    }
}

impl PostingsSource for IndexReader {
    type Error = IndexError;

    fn visit_label_values(
        &self,
        name: &str,
        prefix: &str,
        f: &mut dyn FnMut(&str) -> bool,
    ) -> Result<(), IndexError> {
        self.scan_values(name, prefix, &mut |v, _| Ok(f(v)))
    }

    fn postings(&self, name: &str, values: &[&str]) -> Result<BoxPostings<'_>, IndexError> {
        let mut sorted = values.to_vec();
        sorted.sort_unstable();
        sorted.dedup();
        let offsets = self.postings_offsets(name, &sorted)?;
        if offsets.is_empty() {
            return Ok(empty());
        }
        self.postings_at(offsets)
    }

    fn postings_for_label_matching(
        &self,
        name: &str,
        prefix: &str,
        matches: &dyn Fn(&str) -> bool,
    ) -> Result<BoxPostings<'_>, IndexError> {
        let mut offsets = Vec::new();
        self.scan_values(name, prefix, &mut |v, off| {
            if matches(v) {
                offsets.push(off);
            }
            Ok(true)
        })?;
        self.postings_at(offsets)
    }
}
