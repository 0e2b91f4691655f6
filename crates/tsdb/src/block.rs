//! A persistent block: one directory holding `meta.json`, `index`, `chunks/` and
//! `tombstones`, opened read-only through memory maps.
//!
//! Owns opening and validating a block ([`Block::open`]: every file's header, checksums
//! of the index tables, the tombstones; errors name the file), serving it through
//! [`BlockQuerier`] (matchers → postings → series → chunks streamed from the mapping,
//! deleted intervals skipped), deletions (tombstones written next to the data, as
//! upstream), hard-link snapshots, and exposing it as a [`BlockSource`] to the compactor.
//! Data read at query time is checked too: a bad chunk ends its iterator with an error,
//! never a panic.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::{Mutex, RwLock};

use hearth_model::{FloatHistogram, Histogram, Labels, Matcher, Timestamp};

use crate::block_meta::{BlockMeta, BlockMetaError, Ulid, read_meta, write_meta};
use crate::block_source::{BlockSource, SourceChunk, SourceSeries, SourceSeriesIter};
use crate::chunkenc::{self, ChunkIterator, ChunkSampleIterator, Encoding};
use crate::chunks::{BlockChunkRef, ChunkFileError, ChunkSegmentReader};
use crate::index::{ChunkMeta, INDEX_FILENAME, IndexError, IndexReader};
use crate::postings::{BoxPostings, PostingsSource, postings_for_matchers};
use crate::series_chunker::reencode;
use crate::storage::{
    Querier, SampleIterator, SelectHints, Series, SeriesSet, StorageError, ValueType,
};
use crate::tombstones::{
    Interval, MemTombstones, TOMBSTONES_FILENAME, TombstoneReader, TombstonesError,
    read_tombstones, write_tombstones,
};

/// Name of the chunk segment directory inside a block.
pub const CHUNKS_DIRNAME: &str = "chunks";

/// Why a block could not be opened or changed. Every variant names the file.
#[derive(Debug, thiserror::Error)]
pub enum BlockError {
    #[error(transparent)]
    Meta(#[from] BlockMetaError),
    #[error(transparent)]
    Index(#[from] IndexError),
    #[error(transparent)]
    Chunks(#[from] ChunkFileError),
    #[error(transparent)]
    Tombstones(#[from] TombstonesError),
    #[error("{}: {op}: {source}", path.display())]
    Io {
        path: PathBuf,
        op: &'static str,
        #[source]
        source: io::Error,
    },
}

impl BlockError {
    pub fn io(path: &Path, op: &'static str, source: io::Error) -> BlockError {
        BlockError::Io {
            path: path.to_path_buf(),
            op,
            source,
        }
    }
}

/// An open block. Shared behind an `Arc`: queriers and series keep it (and its mappings)
/// alive after the database drops it, so deleting a block never invalidates a reader.
pub struct Block {
    dir: PathBuf,
    meta: RwLock<BlockMeta>,
    index: IndexReader,
    chunks: ChunkSegmentReader,
    tombstones: MemTombstones,
    /// Serialises writers of the block's small files (tombstones, meta.json).
    writer: Mutex<()>,
    bytes_chunks: u64,
    bytes_index: u64,
    bytes_tombstones: AtomicU64,
    bytes_meta: AtomicU64,
}

impl std::fmt::Debug for Block {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Block")
            .field("dir", &self.dir)
            .field("ulid", &self.ulid())
            .finish_non_exhaustive()
    }
}

impl Block {
    /// Opens the block in `dir`, checking meta.json, the index structure, every chunk
    /// segment header and the tombstones file.
    pub fn open(dir: impl AsRef<Path>) -> Result<Arc<Block>, BlockError> {
        let dir = dir.as_ref().to_path_buf();
        let (meta, bytes_meta) = read_meta(&dir)?;
        let chunks = ChunkSegmentReader::open(&dir.join(CHUNKS_DIRNAME))?;
        let index = IndexReader::open(dir.join(INDEX_FILENAME))?;
        let (tombstones, bytes_tombstones) = read_tombstones(&dir)?;
        Ok(Arc::new(Block {
            bytes_chunks: chunks.size(),
            bytes_index: index.size() as u64,
            dir,
            meta: RwLock::new(meta),
            index,
            chunks,
            tombstones,
            writer: Mutex::new(()),
            bytes_tombstones: AtomicU64::new(bytes_tombstones),
            bytes_meta: AtomicU64::new(bytes_meta),
        }))
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// A copy of the current metadata.
    pub fn meta(&self) -> BlockMeta {
        self.meta.read().clone()
    }

    pub fn ulid(&self) -> Ulid {
        self.meta.read().ulid
    }

    pub fn min_time(&self) -> Timestamp {
        self.meta.read().min_time
    }

    /// Exclusive end of the block's range.
    pub fn max_time(&self) -> Timestamp {
        self.meta.read().max_time
    }

    /// Bytes the block takes on disk: chunks, index, tombstones and meta.json.
    pub fn size(&self) -> u64 {
        self.bytes_chunks
            + self.bytes_index
            + self.bytes_tombstones.load(Ordering::Relaxed)
            + self.bytes_meta.load(Ordering::Relaxed)
    }

    pub fn index(&self) -> &IndexReader {
        &self.index
    }

    pub fn chunk_reader(&self) -> &ChunkSegmentReader {
        &self.chunks
    }

    pub fn tombstones(&self) -> &MemTombstones {
        &self.tombstones
    }

    /// Whether the block's `[min_time, max_time)` overlaps the closed `[mint, maxt]`.
    pub fn overlaps_closed_interval(&self, mint: Timestamp, maxt: Timestamp) -> bool {
        let m = self.meta.read();
        m.min_time <= maxt && mint < m.max_time
    }

    /// A querier over `[mint, maxt]` (inclusive).
    pub fn querier(self: &Arc<Self>, mint: Timestamp, maxt: Timestamp) -> BlockQuerier {
        BlockQuerier {
            block: Arc::clone(self),
            mint,
            maxt,
        }
    }

    /// Marks the block deletable in memory: the next reload of the database removes it.
    pub fn set_deletable(&self) {
        self.meta.write().compaction.deletable = true;
    }

    /// Marks the block deletable and persists the flag in meta.json (an empty compaction
    /// result, as upstream).
    pub fn mark_deletable(&self) -> Result<(), BlockError> {
        self.update_meta(|m| m.compaction.deletable = true)
    }

    /// Records in meta.json that compacting this block failed, so it is not picked again.
    pub fn set_compaction_failed(&self) -> Result<(), BlockError> {
        self.update_meta(|m| m.compaction.failed = true)
    }

    fn update_meta(&self, f: impl FnOnce(&mut BlockMeta)) -> Result<(), BlockError> {
        let _w = self.writer.lock();
        let mut meta = self.meta();
        f(&mut meta);
        let n = write_meta(&self.dir, &mut meta)?;
        self.bytes_meta.store(n, Ordering::Relaxed);
        *self.meta.write() = meta;
        Ok(())
    }

    /// Deletes the samples of series matching `matchers` in `[mint, maxt]` by adding
    /// tombstones (clamped to each series' data, as upstream) and persisting them.
    pub fn delete(
        &self,
        mint: Timestamp,
        maxt: Timestamp,
        matchers: &[Matcher],
    ) -> Result<(), BlockError> {
        let _w = self.writer.lock();
        let mut p = select_postings(&self.index, matchers)?;
        let mut chunks = Vec::new();
        let mut added = 0;
        while p.next() {
            let id = p.at();
            self.index.series(id, &mut chunks)?;
            let (Some(first), Some(last)) = (chunks.first(), chunks.last()) else {
                continue;
            };
            if chunks
                .iter()
                .any(|c| c.min_time <= maxt && mint <= c.max_time)
            {
                let iv = Interval::new(mint.max(first.min_time), maxt.min(last.max_time));
                self.tombstones.add_interval(id, iv);
                added += 1;
            }
        }
        if added == 0 {
            return Ok(());
        }
        let n = write_tombstones(&self.dir, &self.tombstones)?;
        self.bytes_tombstones.store(n, Ordering::Relaxed);
        let mut meta = self.meta();
        meta.stats.num_tombstones = self.tombstones.total();
        let n = write_meta(&self.dir, &mut meta)?;
        self.bytes_meta.store(n, Ordering::Relaxed);
        *self.meta.write() = meta;
        Ok(())
    }

    /// Hard-links the block's files into `<dir>/<ulid>/` (upstream's snapshot: no data is
    /// copied, and later changes here never reach the snapshot, since hearth replaces
    /// files rather than writing into them).
    pub fn snapshot(&self, dir: &Path) -> Result<(), BlockError> {
        let _w = self.writer.lock();
        let target = dir.join(self.ulid().to_string());
        let target_chunks = target.join(CHUNKS_DIRNAME);
        fs::create_dir_all(&target_chunks)
            .map_err(|e| BlockError::io(&target_chunks, "create snapshot directory", e))?;
        for name in [
            crate::block_meta::META_FILENAME,
            INDEX_FILENAME,
            TOMBSTONES_FILENAME,
        ] {
            let from = self.dir.join(name);
            if name == TOMBSTONES_FILENAME && !from.exists() {
                continue; // Blocks from old writers may lack one; it means no tombstones.
            }
            fs::hard_link(&from, target.join(name))
                .map_err(|e| BlockError::io(&from, "hard-link into snapshot", e))?;
        }
        let chunks_dir = self.dir.join(CHUNKS_DIRNAME);
        let entries = fs::read_dir(&chunks_dir)
            .map_err(|e| BlockError::io(&chunks_dir, "read directory", e))?;
        for entry in entries {
            let entry = entry.map_err(|e| BlockError::io(&chunks_dir, "read directory", e))?;
            let from = entry.path();
            fs::hard_link(&from, target_chunks.join(entry.file_name()))
                .map_err(|e| BlockError::io(&from, "hard-link into snapshot", e))?;
        }
        Ok(())
    }

    /// The deleted intervals of series `id` plus everything outside `[mint, maxt]`.
    fn trimmed_intervals(&self, id: u64, mint: Timestamp, maxt: Timestamp) -> Vec<Interval> {
        let mut ivs = self.tombstones.get(id);
        if mint > Timestamp::MIN {
            ivs.add(Interval::new(Timestamp::MIN, mint - 1));
        }
        if maxt < Timestamp::MAX {
            ivs.add(Interval::new(maxt + 1, Timestamp::MAX));
        }
        ivs.as_slice().to_vec()
    }

    fn index_error(&self, e: IndexError) -> StorageError {
        match e {
            IndexError::Io { .. } => StorageError::Io(e.to_string()),
            _ => StorageError::Corruption {
                location: self.dir.display().to_string(),
                reason: e.to_string(),
            },
        }
    }

    fn chunk_error(&self, e: ChunkFileError) -> StorageError {
        StorageError::Corruption {
            location: self.dir.display().to_string(),
            reason: e.to_string(),
        }
    }
}

/// Postings of the series matching `matchers`; all series when there are none.
fn select_postings<'a>(
    ix: &'a IndexReader,
    matchers: &[Matcher],
) -> Result<BoxPostings<'a>, IndexError> {
    if matchers.is_empty() {
        ix.all_postings()
    } else {
        postings_for_matchers(ix, matchers)
    }
}

/// Reads one time range of a block.
pub struct BlockQuerier {
    block: Arc<Block>,
    mint: Timestamp,
    maxt: Timestamp,
}

impl BlockQuerier {
    /// Labels of every series matching `matchers`, without reading chunks.
    fn matching_labels(&self, matchers: &[Matcher]) -> Result<Vec<Labels>, StorageError> {
        let b = &self.block;
        let mut p = select_postings(&b.index, matchers).map_err(|e| b.index_error(e))?;
        let mut chunks = Vec::new();
        let mut out = Vec::new();
        while p.next() {
            out.push(
                b.index
                    .series(p.at(), &mut chunks)
                    .map_err(|e| b.index_error(e))?,
            );
        }
        Ok(out)
    }
}

impl Querier for BlockQuerier {
    fn select(
        &self,
        _sorted: bool,
        _hints: Option<&SelectHints>,
        matchers: &[Matcher],
    ) -> Result<SeriesSet, StorageError> {
        let b = &self.block;
        let mut p = select_postings(&b.index, matchers).map_err(|e| b.index_error(e))?;
        let mut chunks = Vec::new();
        let mut series: Vec<Box<dyn Series>> = Vec::new();
        // Postings are in series-reference order, which is label order: the result is
        // sorted whether or not that was asked for.
        while p.next() {
            let id = p.at();
            let labels = b
                .index
                .series(id, &mut chunks)
                .map_err(|e| b.index_error(e))?;
            let deleted = b.trimmed_intervals(id, self.mint, self.maxt);
            chunks.retain(|c| !Interval::new(c.min_time, c.max_time).is_subrange(&deleted));
            if chunks.is_empty() {
                continue;
            }
            series.push(Box::new(BlockSeries {
                block: Arc::clone(b),
                labels,
                chunks: std::mem::take(&mut chunks),
                deleted,
            }));
        }
        Ok(SeriesSet {
            series,
            warnings: Vec::new(),
        })
    }

    fn label_values(&self, name: &str, matchers: &[Matcher]) -> Result<Vec<String>, StorageError> {
        let b = &self.block;
        if matchers.is_empty() {
            let values = b.index.label_values(name).map_err(|e| b.index_error(e))?;
            return Ok(values.into_iter().map(str::to_string).collect());
        }
        let mut v: Vec<String> = self
            .matching_labels(matchers)?
            .iter()
            .filter_map(|l| l.get(name).map(str::to_string))
            .collect();
        v.sort_unstable();
        v.dedup();
        Ok(v)
    }

    fn label_names(&self, matchers: &[Matcher]) -> Result<Vec<String>, StorageError> {
        if matchers.is_empty() {
            return Ok(self
                .block
                .index
                .label_names()
                .into_iter()
                .map(str::to_string)
                .collect());
        }
        let mut v: Vec<String> = self
            .matching_labels(matchers)?
            .iter()
            .flat_map(|l| l.iter().map(|l| l.name.to_string()).collect::<Vec<_>>())
            .collect();
        v.sort_unstable();
        v.dedup();
        Ok(v)
    }
}

/// One series of a block: its chunk metas and the intervals to skip.
pub struct BlockSeries {
    block: Arc<Block>,
    labels: Labels,
    chunks: Vec<ChunkMeta>,
    /// Tombstones plus everything outside the querier's range, ascending.
    deleted: Vec<Interval>,
}

impl Series for BlockSeries {
    fn labels(&self) -> &Labels {
        &self.labels
    }

    fn iterator(&self) -> Box<dyn SampleIterator + '_> {
        Box::new(BlockSampleIterator {
            block: &self.block,
            chunks: &self.chunks,
            next_chunk: 0,
            cur: None,
            cur_encoding: Encoding::Xor,
            deleted: &self.deleted,
            deleted_pos: 0,
            vt: ValueType::None,
            last_t: None,
            err: None,
        })
    }
}

/// Converts the chunk-level value type to the storage interface's.
pub(crate) fn storage_value_type(v: chunkenc::ValueType) -> ValueType {
    match v {
        chunkenc::ValueType::None => ValueType::None,
        chunkenc::ValueType::Float => ValueType::Float,
        chunkenc::ValueType::Histogram => ValueType::Histogram,
        chunkenc::ValueType::FloatHistogram => ValueType::FloatHistogram,
    }
}

/// Streams a block series' samples straight from the mapped chunk files.
struct BlockSampleIterator<'a> {
    block: &'a Block,
    chunks: &'a [ChunkMeta],
    next_chunk: usize,
    cur: Option<ChunkIterator<'a>>,
    cur_encoding: Encoding,
    deleted: &'a [Interval],
    /// First interval that may still contain a coming timestamp.
    deleted_pos: usize,
    vt: ValueType,
    /// Last timestamp returned: overlapping chunks never make time go backwards.
    last_t: Option<Timestamp>,
    err: Option<StorageError>,
}

impl BlockSampleIterator<'_> {
    fn is_deleted(&mut self, t: Timestamp) -> bool {
        while self
            .deleted
            .get(self.deleted_pos)
            .is_some_and(|iv| iv.maxt < t)
        {
            self.deleted_pos += 1;
        }
        self.deleted
            .get(self.deleted_pos)
            .is_some_and(|iv| iv.in_bounds(t))
    }

    fn fail(&mut self, e: StorageError) -> ValueType {
        self.err = Some(e);
        self.cur = None;
        self.next_chunk = self.chunks.len();
        self.vt = ValueType::None;
        ValueType::None
    }

    /// Opens the next chunk; false when none is left or reading it failed.
    fn open_next_chunk(&mut self) -> bool {
        let Some(meta) = self.chunks.get(self.next_chunk) else {
            return false;
        };
        self.next_chunk += 1;
        match self.block.chunks.chunk(BlockChunkRef(meta.chunk_ref)) {
            Ok(c) => {
                self.cur_encoding = c.encoding;
                self.cur = Some(c.iter());
                true
            }
            Err(e) => {
                let e = self.block.chunk_error(e);
                self.fail(e);
                false
            }
        }
    }
}

impl SampleIterator for BlockSampleIterator<'_> {
    fn next(&mut self) -> ValueType {
        if self.err.is_some() {
            return ValueType::None;
        }
        loop {
            let Some(it) = &mut self.cur else {
                if !self.open_next_chunk() {
                    self.vt = ValueType::None;
                    return ValueType::None;
                }
                continue;
            };
            let vt = it.next();
            if vt == chunkenc::ValueType::None {
                if let Some(e) = it.err() {
                    let e = StorageError::Corruption {
                        location: self.block.dir.display().to_string(),
                        reason: format!(
                            "chunk {} of series: {e}",
                            self.chunks
                                .get(self.next_chunk.saturating_sub(1))
                                .map_or(0, |c| c.chunk_ref)
                        ),
                    };
                    return self.fail(e);
                }
                self.cur = None;
                continue;
            }
            let t = it.at_t();
            if self.last_t.is_some_and(|l| t <= l) || self.is_deleted(t) {
                continue;
            }
            self.last_t = Some(t);
            self.vt = storage_value_type(vt);
            return self.vt;
        }
    }

    fn seek(&mut self, t: Timestamp) -> ValueType {
        if self.vt != ValueType::None && self.at_t() >= t {
            return self.vt;
        }
        if self.err.is_some() {
            return ValueType::None;
        }
        // Drop whole chunks that end before `t`, including the current one.
        if self.cur.is_some()
            && self
                .chunks
                .get(self.next_chunk.saturating_sub(1))
                .is_some_and(|c| c.max_time < t)
        {
            self.cur = None;
        }
        if self.cur.is_none() {
            while self
                .chunks
                .get(self.next_chunk)
                .is_some_and(|c| c.max_time < t)
            {
                self.next_chunk += 1;
            }
        }
        loop {
            let vt = self.next();
            if vt == ValueType::None || self.at_t() >= t {
                return vt;
            }
        }
    }

    fn at(&self) -> (Timestamp, f64) {
        self.cur.as_ref().map_or((0, 0.0), |it| it.at())
    }

    fn at_histogram(&self) -> (Timestamp, Histogram) {
        match self.cur.as_ref().and_then(|it| it.at_histogram()) {
            Some(h) => h,
            None => (self.at_t(), Histogram::default()),
        }
    }

    fn at_float_histogram(&self) -> (Timestamp, FloatHistogram) {
        match self.cur.as_ref().and_then(|it| it.at_float_histogram()) {
            Some(h) => h,
            None => (self.at_t(), FloatHistogram::default()),
        }
    }

    fn at_t(&self) -> Timestamp {
        self.cur.as_ref().map_or(0, |it| it.at_t())
    }

    fn at_st(&self) -> Option<Timestamp> {
        let st = self.cur.as_ref()?.at_st();
        (self.cur_encoding.stores_start_timestamps() && st != 0).then_some(st)
    }

    fn err(&self) -> Option<StorageError> {
        self.err.clone()
    }
}

impl BlockSource for Block {
    fn time_range(&self) -> (i64, i64) {
        let m = self.meta.read();
        (m.min_time, m.max_time - 1)
    }

    fn symbols(&self, _mint: i64, _maxt: i64) -> Result<Vec<String>, StorageError> {
        self.index
            .symbols()
            .map(|s| s.map(str::to_string).map_err(|e| self.index_error(e)))
            .collect()
    }

    fn series_in_range(&self, mint: i64, maxt: i64) -> Result<SourceSeriesIter<'_>, StorageError> {
        let mut p = self.index.all_postings().map_err(|e| self.index_error(e))?;
        let mut metas = Vec::new();
        let mut failed = false;
        Ok(Box::new(std::iter::from_fn(move || {
            if failed {
                return None;
            }
            let r = loop {
                if !p.next() {
                    return None;
                }
                let id = p.at();
                match self.source_series(id, mint, maxt, &mut metas) {
                    Ok(Some(s)) => break Ok(s),
                    Ok(None) => continue,
                    Err(e) => break Err(e),
                }
            };
            failed = r.is_err();
            Some(r)
        })))
    }
}

impl Block {
    /// Series `id` restricted to `[mint, maxt)` with its tombstones applied, or `None`
    /// when nothing of it is left there.
    fn source_series(
        &self,
        id: u64,
        mint: i64,
        maxt: i64,
        metas: &mut Vec<ChunkMeta>,
    ) -> Result<Option<SourceSeries>, StorageError> {
        let labels = self
            .index
            .series(id, metas)
            .map_err(|e| self.index_error(e))?;
        let deleted = self.trimmed_intervals(id, mint, maxt.saturating_sub(1));
        let mut chunks = Vec::with_capacity(metas.len());
        for m in metas.iter() {
            let span = Interval::new(m.min_time, m.max_time);
            if span.is_subrange(&deleted) {
                continue;
            }
            let c = self
                .chunks
                .chunk(BlockChunkRef(m.chunk_ref))
                .map_err(|e| self.chunk_error(e))?;
            let chunk = SourceChunk {
                encoding: c.encoding,
                min_time: m.min_time,
                max_time: m.max_time,
                data: c.data.to_vec(),
            };
            if deleted
                .iter()
                .any(|iv| iv.mint <= m.max_time && m.min_time <= iv.maxt)
            {
                // Partly deleted or outside the range: keep the rest, re-encoded.
                let kept = reencode(std::slice::from_ref(&chunk), |t| {
                    !deleted.iter().any(|iv| iv.in_bounds(t))
                })
                .map_err(|e| StorageError::Corruption {
                    location: self.dir.display().to_string(),
                    reason: format!("series {labels}: {e}"),
                })?;
                chunks.extend(kept);
            } else {
                chunks.push(chunk);
            }
        }
        Ok((!chunks.is_empty()).then_some(SourceSeries { labels, chunks }))
    }
}
