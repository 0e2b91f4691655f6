//! The head: the in-memory part of the TSDB that takes every new sample.
//!
//! Owns the series of the last hours ([`series`]: striped map by reference and label
//! hash, per-series chunks), their inverted index ([`postings`]), the chunk files of
//! `chunks_head/` ([`chunk_disk`]), the WAL and the out-of-order write-behind log
//! (`wal/`, `wbl/`), exemplars ([`exemplars`]), isolation between commits and queriers
//! ([`isolation`]), replay on open ([`replay`]), truncation with WAL checkpointing, and
//! what the compactor reads to cut blocks ([`crate::block_source::BlockSource`]).
//!
//! Invariants:
//! - the WAL is written before memory changes: a commit logs all its records in one
//!   batch, then applies them; what a commit returned `Ok` for survives a crash of the
//!   process (and of the machine with `WalOptions::sync_on_log`);
//! - a series reference, once handed out, names the same label set until the series is
//!   garbage-collected; references are never reused;
//! - complete chunks are written to `chunks_head/` in batches and then only referenced;
//!   the open chunk and not yet written chunks are the heap the samples cost;
//! - a querier sees whole commits only (see [`isolation`]).
//!
//! Deletions ([`Head::delete`]) are tombstones: logged to the WAL as tombstone records
//! first, then applied to queries and left out of blocks cut from the head; replay and
//! checkpoints keep them.
//!
//! Not yet: out-of-order native histograms
//! (refused as out of order), the chunk snapshot on shutdown, start timestamps (XOR2 and
//! the ST histogram encodings). The write-behind log is truncated by the database after
//! out-of-order compaction ([`Head::truncate_wbl`]).
//!
//! Must never know about: block files, compaction policy, PromQL.

mod append;
mod block_source;
mod chunk_disk;
mod exemplars;
mod isolation;
mod ooo;
mod postings;
mod query;
mod replay;
mod series;
mod stats;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::time::Instant;

use hashbrown::HashMap;
use parking_lot::{Mutex, RwLock};

use hearth_model::{Labels, Matcher, Timestamp};

use crate::chunks::{ChunkFileError, HeadChunkRef};
use crate::storage::{
    AppendError, Appendable, Appender, Querier, Queryable, SeriesRef, StorageError,
};
use crate::tombstones::{Interval, MemTombstones, TombstoneReader};
use crate::wal::record::{RecordEncoder, Tombstone};
use crate::wal::{Wal, WalError, WalOptions};

pub use append::HeadAppender;
pub use exemplars::{ExemplarQueryResult, ExemplarStorage};
pub use query::{HeadQuerier, HeadSeries};
pub use replay::{ReplayStats, WalReplayProgress, WalReplayStatus};
pub use stats::{Cardinality, HeadStats, MetricKind, MetricSample, NameCount};

use chunk_disk::{ChunkDiskMapper, PendingWrite};
use isolation::Isolation;
use postings::HeadPostings;
use series::{ChunkLoc, ChunkOpts, MemSeries, StripedSeriesMap};
use stats::HeadMetrics;

/// Directory of the WAL inside the data directory.
pub const WAL_DIR: &str = "wal";
/// Directory of the out-of-order write-behind log.
pub const WBL_DIR: &str = "wbl";
/// Directory of the head's chunk files.
pub const CHUNKS_HEAD_DIR: &str = "chunks_head";

/// How a head behaves. Defaults are upstream's.
#[derive(Debug, Clone)]
pub struct HeadOptions {
    /// Width of a block range (ms); chunks never cross a range boundary and samples older
    /// than half a range before the head's max time are out of bounds.
    pub chunk_range: i64,
    /// Samples an XOR chunk aims at before it is cut.
    pub samples_per_chunk: usize,
    /// `storage.tsdb.out_of_order_time_window` (ms); 0 disables out-of-order ingestion.
    pub out_of_order_time_window: i64,
    /// Out-of-order samples buffered per series before they become a chunk.
    pub out_of_order_cap_max: usize,
    /// `--storage.tsdb.max-exemplars`; 0 disables exemplar storage.
    pub max_exemplars: usize,
    /// Most active series allowed; 0 is no limit. A new series beyond it is refused with
    /// [`AppendError::SeriesLimit`].
    pub max_series: usize,
    /// The WAL (and WBL) writer options; `None` runs without a WAL (nothing survives a
    /// restart; tests and benchmarks).
    pub wal: Option<WalOptions>,
    /// No sample older than this is accepted or replayed (the max time of the newest
    /// block, set by the database before opening the head).
    pub min_valid_time: i64,
    /// log2 of the number of stripes of the series map.
    pub stripe_bits: u32,
    /// Complete chunks held in memory (bytes) before a commit writes them to
    /// `chunks_head/`; [`Head::mmap_head_chunks`] may also be called on a timer.
    pub mmap_after_bytes: usize,
    /// Where WAL replay reports its progress (`/api/v1/status/walreplay`).
    pub replay_progress: Option<Arc<WalReplayProgress>>,
}

impl Default for HeadOptions {
    fn default() -> Self {
        HeadOptions {
            chunk_range: 2 * 60 * 60 * 1000,
            samples_per_chunk: 120,
            out_of_order_time_window: 0,
            out_of_order_cap_max: 32,
            max_exemplars: 0,
            max_series: 0,
            wal: Some(WalOptions::default()),
            min_valid_time: i64::MIN,
            stripe_bits: 12,
            mmap_after_bytes: 16 << 20,
            replay_progress: None,
        }
    }
}

/// Why the head could not do something with its files.
#[derive(Debug, thiserror::Error)]
pub enum HeadError {
    #[error("head WAL: {0}")]
    Wal(#[from] WalError),
    #[error("head chunks: {0}")]
    Chunks(#[from] ChunkFileError),
    #[error("{op} {path:?}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("invalid head option: {0}")]
    InvalidOption(String),
}

/// What a truncation removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TruncateStats {
    pub series_removed: usize,
    pub chunks_removed: usize,
    pub chunk_files_removed: usize,
    /// `Some` when a WAL checkpoint was written: its last segment.
    pub checkpoint: Option<u32>,
}

/// The state shared by the head, its appenders and its queriers.
pub(crate) struct HeadShared {
    dir: PathBuf,
    opts: HeadOptions,
    chunk_opts: ChunkOpts,
    series: StripedSeriesMap,
    postings: RwLock<HeadPostings>,
    last_series_id: AtomicU64,
    num_series: AtomicU64,
    min_time: AtomicI64,
    max_time: AtomicI64,
    min_valid_time: AtomicI64,
    ooo_min_time: AtomicI64,
    ooo_max_time: AtomicI64,
    isolation: Isolation,
    wal: Option<Mutex<Wal>>,
    wbl: Option<Mutex<Wal>>,
    chunk_disk: ChunkDiskMapper,
    /// Series with complete chunks not yet written to disk, and their bytes.
    mmap_queue: Mutex<Vec<Arc<MemSeries>>>,
    mmap_queue_bytes: AtomicUsize,
    /// One pass writing chunks to disk at a time.
    mmap_pass: Mutex<()>,
    exemplars: ExemplarStorage,
    metrics: HeadMetrics,
    /// Deleted series whose series record the WAL checkpoint must keep while it still has
    /// data at or after the given time (upstream's `walExpiries`).
    wal_expiries: Mutex<HashMap<SeriesRef, i64>>,
    last_wal_truncation: AtomicI64,
    /// Truncations one at a time.
    truncating: Mutex<()>,
    replay: Mutex<ReplayStats>,
    /// Deleted intervals of head series (`Head::delete`), logged to the WAL first.
    tombstones: MemTombstones,
    append_pool: Mutex<Vec<append::AppendBuffers>>,
    next_appender_id: AtomicU32,
}

/// The head. Appenders borrow it; queriers share its state and may outlive it.
pub struct Head {
    shared: Arc<HeadShared>,
}

impl Head {
    /// Opens the head of the data directory `dir`: replays `chunks_head/`, the WAL (last
    /// checkpoint, then segments) and the WBL, repairing a torn or corrupt tail, then
    /// opens them for writing. See [`Head::replay_stats`] for what was read and dropped.
    pub fn open(dir: impl AsRef<Path>, opts: HeadOptions) -> Result<Head, HeadError> {
        if opts.chunk_range <= 0 || opts.samples_per_chunk < 4 {
            return Err(HeadError::InvalidOption(format!(
                "chunk range {} and samples per chunk {} must be positive (at least 4 samples)",
                opts.chunk_range, opts.samples_per_chunk
            )));
        }
        let dir = dir.as_ref().to_path_buf();
        let chunks_dir = dir.join(CHUNKS_HEAD_DIR);
        std::fs::create_dir_all(&chunks_dir).map_err(|source| HeadError::Io {
            op: "create",
            path: chunks_dir.clone(),
            source,
        })?;
        let start = Instant::now();
        let loaded = if opts.wal.is_some() {
            replay::load_head_chunks(&chunks_dir, opts.min_valid_time)?
        } else {
            replay::LoadedChunks::default()
        };
        let chunk_disk = ChunkDiskMapper::open(&chunks_dir)?;
        let wal = match &opts.wal {
            Some(w) => Some(Wal::open(dir.join(WAL_DIR), w.clone())?),
            None => None,
        };
        let mut inner = HeadShared {
            chunk_opts: ChunkOpts {
                chunk_range: opts.chunk_range,
                samples_per_chunk: opts.samples_per_chunk,
            },
            series: StripedSeriesMap::new(opts.stripe_bits),
            postings: RwLock::new(HeadPostings::default()),
            last_series_id: AtomicU64::new(0),
            num_series: AtomicU64::new(0),
            min_time: AtomicI64::new(i64::MAX),
            max_time: AtomicI64::new(i64::MIN),
            min_valid_time: AtomicI64::new(opts.min_valid_time),
            ooo_min_time: AtomicI64::new(i64::MAX),
            ooo_max_time: AtomicI64::new(i64::MIN),
            isolation: Isolation::new(),
            wal: None,
            wbl: None,
            chunk_disk,
            mmap_queue: Mutex::new(Vec::new()),
            mmap_queue_bytes: AtomicUsize::new(0),
            mmap_pass: Mutex::new(()),
            exemplars: ExemplarStorage::new(opts.max_exemplars),
            metrics: HeadMetrics::default(),
            wal_expiries: Mutex::new(HashMap::new()),
            last_wal_truncation: AtomicI64::new(i64::MIN),
            truncating: Mutex::new(()),
            replay: Mutex::new(ReplayStats::default()),
            tombstones: MemTombstones::new(),
            append_pool: Mutex::new(Vec::new()),
            next_appender_id: AtomicU32::new(0),
            dir,
            opts,
        };
        let mut stats = ReplayStats {
            mmapped_chunks: loaded.count,
            chunks_corruption: loaded.corruption.clone(),
            ..ReplayStats::default()
        };
        if let Some(mut wal) = wal {
            replay::replay_wal(&mut inner, &mut wal, loaded, &mut stats)?;
            inner.wal = Some(Mutex::new(wal));
            let wbl_dir = inner.dir.join(WBL_DIR);
            if let Some(w) = &inner.opts.wal
                && (inner.opts.out_of_order_time_window > 0 || wbl_dir.exists())
            {
                let mut wbl = Wal::open(&wbl_dir, w.clone())?;
                replay::replay_wbl(&mut inner, &mut wbl, &mut stats)?;
                inner.wbl = Some(Mutex::new(wbl));
            }
        }
        stats.duration = start.elapsed();
        inner
            .metrics
            .replay_duration_micros
            .store(stats.duration.as_micros() as u64, Ordering::Relaxed);
        stats.log();
        *inner.replay.lock() = stats;
        let head = Head {
            shared: Arc::new(inner),
        };
        head.shared.mmap_head_chunks()?;
        Ok(head)
    }

    /// A new transaction.
    pub fn appender(&self) -> HeadAppender<'_> {
        HeadAppender::new(&self.shared)
    }

    /// A querier over `[mint, maxt]`.
    pub fn querier(&self, mint: Timestamp, maxt: Timestamp) -> HeadQuerier {
        HeadQuerier::new(self.shared.clone(), mint, maxt)
    }

    /// Exemplars in `[mint, maxt]` of series matching any of `matcher_sets`, per series
    /// sorted by labels (the shape of `/api/v1/query_exemplars`).
    pub fn exemplars(
        &self,
        mint: Timestamp,
        maxt: Timestamp,
        matcher_sets: &[Vec<Matcher>],
    ) -> Vec<ExemplarQueryResult> {
        self.shared.exemplars.exemplars(mint, maxt, matcher_sets)
    }

    /// What replay on open read, skipped and repaired.
    pub fn replay_stats(&self) -> ReplayStats {
        self.shared.replay.lock().clone()
    }

    /// A snapshot of counters and gauges.
    pub fn stats(&self) -> HeadStats {
        let s = &self.shared;
        let mut out = HeadStats {
            series: s.num_series.load(Ordering::Relaxed),
            min_time: s.min_time.load(Ordering::Relaxed),
            max_time: s.max_time.load(Ordering::Relaxed),
            ..HeadStats::default()
        };
        s.metrics.fill(&mut out);
        let (stored, series) = s.exemplars.counts();
        out.exemplars_in_storage = stored as u64;
        out.series_with_exemplars = series as u64;
        out.max_exemplars = s.exemplars.capacity() as u64;
        out.exemplars_appended = s.exemplars.appended.load(Ordering::Relaxed);
        out.out_of_order_exemplars = s.exemplars.out_of_order.load(Ordering::Relaxed);
        out.last_exemplar_seconds =
            s.exemplars.last_timestamp.load(Ordering::Relaxed) as i64 as f64 / 1000.0;
        out
    }

    /// Number of series.
    pub fn num_series(&self) -> u64 {
        self.shared.num_series.load(Ordering::Relaxed)
    }

    /// Lowest in-order sample time (`i64::MAX` while empty).
    pub fn min_time(&self) -> i64 {
        self.shared.min_time.load(Ordering::Relaxed)
    }

    /// Highest in-order sample time (`i64::MIN` while empty).
    pub fn max_time(&self) -> i64 {
        self.shared.max_time.load(Ordering::Relaxed)
    }

    /// Lowest and highest out-of-order sample times (`(i64::MAX, i64::MIN)` when none).
    pub fn ooo_time_range(&self) -> (i64, i64) {
        (
            self.shared.ooo_min_time.load(Ordering::Relaxed),
            self.shared.ooo_max_time.load(Ordering::Relaxed),
        )
    }

    /// Refuses samples older than `t` from now on (after a block up to `t` is written).
    pub fn set_min_valid_time(&self, t: i64) {
        self.shared.min_valid_time.fetch_max(t, Ordering::AcqRel);
    }

    /// The series reference of `labels`, if the head has the series.
    pub fn series_ref(&self, labels: &Labels) -> Option<SeriesRef> {
        self.shared
            .series
            .get_by_labels(labels.hash(), labels)
            .map(|s| s.series_ref)
    }

    /// Writes complete chunks held in memory to `chunks_head/` and keeps only their
    /// references; returns how many were written. Commits do it once
    /// [`HeadOptions::mmap_after_bytes`] accumulate; call it on a timer too (upstream
    /// does every minute) so quiet heads do not hold chunks.
    pub fn mmap_head_chunks(&self) -> Result<usize, HeadError> {
        self.shared.mmap_head_chunks()
    }

    /// Drops everything before `mint` (it is in a block now): chunks, series left empty,
    /// chunk files no longer referenced; then checkpoints the older two thirds of the WAL
    /// and deletes those segments, as upstream's `Head.Truncate`.
    pub fn truncate(&self, mint: i64) -> Result<TruncateStats, HeadError> {
        let r = self.shared.truncate(mint);
        if r.is_err() {
            stats::inc(&self.shared.metrics.truncations_failed);
        }
        r
    }

    /// Whether the head spans more than one and a half chunk ranges, so that its oldest
    /// range can be cut into a block (upstream's `compactable`).
    pub fn compactable(&self) -> bool {
        let (min, max) = (self.min_time(), self.max_time());
        min != i64::MAX
            && max != i64::MIN
            && max.saturating_sub(min) > self.shared.opts.chunk_range / 2 * 3
    }

    /// The chunk range the head was opened with (ms).
    pub fn chunk_range(&self) -> i64 {
        self.shared.opts.chunk_range
    }

    /// Deletes the samples of series matching `matchers` in `[mint, maxt]`: one interval
    /// per series, clamped to its data, logged to the WAL as a tombstones record before
    /// queries stop seeing the samples. Blocks cut from the head leave them out.
    pub fn delete(&self, mint: i64, maxt: i64, matchers: &[Matcher]) -> Result<(), HeadError> {
        let s = &self.shared;
        let refs = {
            let ix = s.postings.read();
            match crate::postings::postings_for_matchers(&*ix, matchers) {
                Ok(mut p) => crate::postings::collect(&mut p),
                Err(never) => match never {},
            }
        };
        let mut stones = Vec::new();
        for r in refs {
            let Some(series) = s.series.get_by_ref(r) else {
                continue;
            };
            let (lo, hi) = query::series_range(&series.state.lock());
            let iv = Interval::new(mint.max(lo), maxt.min(hi));
            // A whole-series tombstone means "series deleted" to WAL readers: never write
            // one for a sample deletion.
            if iv.mint > iv.maxt || (iv.mint == i64::MIN && iv.maxt == i64::MAX) {
                continue;
            }
            stones.push(Tombstone {
                series_ref: r,
                mint: iv.mint,
                maxt: iv.maxt,
            });
        }
        if stones.is_empty() {
            return Ok(());
        }
        if let Some(wal) = &s.wal {
            let mut buf = Vec::new();
            RecordEncoder::default().tombstones(&stones, &mut buf);
            wal.lock().log(&[&buf])?;
        }
        for t in stones {
            s.tombstones
                .add_interval(t.series_ref, Interval::new(t.mint, t.maxt));
        }
        Ok(())
    }

    /// Drops out-of-order data before `mint` (it is in a block now) when the in-order
    /// head starts later, which [`Head::truncate`] leaves alone; returns the chunks
    /// removed.
    pub fn truncate_ooo_before(&self, mint: i64) -> usize {
        let s = &self.shared;
        let _t = s.truncating.lock();
        let (mut lo, mut hi) = (i64::MAX, i64::MIN);
        let mut removed = 0;
        s.series.for_each(|series| {
            let mut st = series.state.lock();
            if let Some(o) = &mut st.ooo {
                removed += o.truncate_before(mint);
                match o.time_range() {
                    Some((a, b)) => {
                        lo = lo.min(a);
                        hi = hi.max(b);
                    }
                    None => st.ooo = None,
                }
            }
        });
        s.ooo_min_time.store(lo, Ordering::Release);
        s.ooo_max_time.store(hi, Ordering::Release);
        stats::add(&s.metrics.chunks_removed, removed as u64);
        removed
    }

    /// Number of deleted intervals the head holds.
    pub fn num_tombstones(&self) -> u64 {
        self.shared.tombstones.total()
    }

    /// Cardinality statistics of the head's series (`/api/v1/status/tsdb`), each list the
    /// `limit` largest.
    pub fn cardinality(&self, limit: usize) -> Cardinality {
        stats::cardinality(&self.shared.postings.read(), limit)
    }

    /// Deletes write-behind log segments before `segment`, once the out-of-order data they
    /// hold is in blocks (the database drives this after out-of-order compaction).
    pub fn truncate_wbl(&self, segment: u32) -> Result<(), HeadError> {
        if let Some(wbl) = &self.shared.wbl {
            wbl.lock().truncate(segment)?;
        }
        Ok(())
    }

    /// The write-behind log's active segment, if there is a WBL.
    pub fn wbl_active_segment(&self) -> Option<u32> {
        self.shared.wbl.as_ref().map(|w| w.lock().active_segment())
    }

    /// Writes pending chunks, then flushes and closes the chunk files, the WAL and the WBL.
    pub fn close(self) -> Result<(), HeadError> {
        self.sync()
    }

    /// What [`Head::close`] does, leaving the head usable: pending chunks written, chunk
    /// files flushed, WAL and WBL fsynced.
    pub fn sync(&self) -> Result<(), HeadError> {
        let s = &self.shared;
        let mmapped = s.mmap_head_chunks();
        let chunks = s.chunk_disk.close();
        let wal = match &s.wal {
            Some(w) => w.lock().sync(),
            None => Ok(()),
        };
        let wbl = match &s.wbl {
            Some(w) => w.lock().sync(),
            None => Ok(()),
        };
        mmapped?;
        chunks?;
        wal?;
        wbl?;
        Ok(())
    }

    pub(crate) fn shared(&self) -> &Arc<HeadShared> {
        &self.shared
    }
}

impl Appendable for Head {
    fn appender(&self) -> Box<dyn Appender + '_> {
        Box::new(Head::appender(self))
    }
}

impl Queryable for Head {
    fn querier(&self, mint: Timestamp, maxt: Timestamp) -> Result<Box<dyn Querier>, StorageError> {
        Ok(Box::new(Head::querier(self, mint, maxt)))
    }
}

impl HeadShared {
    /// The oldest sample an appender accepts in order: half a chunk range before the
    /// head's max time keeps appends out of the range being compacted.
    fn appendable_min_valid_time(&self) -> i64 {
        let max = self.max_time.load(Ordering::Acquire);
        let min_valid = self.min_valid_time.load(Ordering::Acquire);
        if max == i64::MIN {
            return min_valid;
        }
        max.saturating_sub(self.opts.chunk_range / 2).max(min_valid)
    }

    fn update_min_max_time(&self, mint: i64, maxt: i64) {
        if mint <= maxt {
            self.min_time.fetch_min(mint, Ordering::AcqRel);
            self.max_time.fetch_max(maxt, Ordering::AcqRel);
        }
    }

    fn update_ooo_min_max_time(&self, mint: i64, maxt: i64) {
        if mint <= maxt {
            self.ooo_min_time.fetch_min(mint, Ordering::AcqRel);
            self.ooo_max_time.fetch_max(maxt, Ordering::AcqRel);
        }
    }

    /// The series with `labels`, created (with the next reference) if missing.
    fn get_or_create(
        &self,
        labels: &Labels,
        enforce_limit: bool,
    ) -> Result<(Arc<MemSeries>, bool), AppendError> {
        let hash = labels.hash();
        let limit = self.opts.max_series;
        let (series, created) = self.series.get_or_create(hash, labels, || {
            if enforce_limit && limit > 0 && self.num_series.load(Ordering::Acquire) >= limit as u64
            {
                stats::inc(&self.metrics.series_limit_rejections);
                return Err(AppendError::SeriesLimit {
                    limit,
                    labels: labels.to_string(),
                });
            }
            let id = self.last_series_id.fetch_add(1, Ordering::AcqRel) + 1;
            Ok(MemSeries::new(id, hash, labels.clone()))
        })?;
        if created {
            self.on_series_created(&series);
        }
        Ok((series, created))
    }

    fn on_series_created(&self, series: &MemSeries) {
        self.num_series.fetch_add(1, Ordering::AcqRel);
        stats::inc(&self.metrics.series_created);
        self.postings.write().add(series.series_ref, &series.labels);
    }

    /// Queues `series` for the next pass writing chunks to disk.
    fn queue_mmap(&self, series: &Arc<MemSeries>, bytes: usize) {
        self.mmap_queue.lock().push(series.clone());
        self.mmap_queue_bytes.fetch_add(bytes, Ordering::AcqRel);
    }

    /// Queues `series` (locked as `st`) unless it is queued already.
    pub(crate) fn queue_series(
        &self,
        series: &Arc<MemSeries>,
        st: &mut series::SeriesState,
        bytes: usize,
    ) {
        if st.mmap_queued {
            self.mmap_queue_bytes.fetch_add(bytes, Ordering::AcqRel);
        } else {
            st.mmap_queued = true;
            self.queue_mmap(series, bytes);
        }
    }

    /// Accounts for the chunks an in-order append created, and queues a completed one
    /// for the next pass writing chunks to disk.
    pub(crate) fn note_chunks(
        &self,
        series: &Arc<MemSeries>,
        st: &mut series::SeriesState,
        out: series::Appended,
    ) {
        if out.chunk_created {
            self.metrics.chunks.fetch_add(1, Ordering::Relaxed);
            stats::inc(&self.metrics.chunks_created);
        }
        if out.chunk_completed {
            let bytes = st.chunks.last().map_or(0, |c| match &c.loc {
                ChunkLoc::Memory(ch) => ch.bytes().len(),
                _ => 0,
            });
            self.queue_series(series, st, bytes);
        }
    }

    fn mmap_due(&self) -> bool {
        self.mmap_queue_bytes.load(Ordering::Acquire) >= self.opts.mmap_after_bytes
    }

    /// See [`Head::mmap_head_chunks`]. Three phases so that no series lock is held while
    /// flushing: write each queued series' in-memory chunks (they become "written"),
    /// flush and remap the files, then swap written chunks for their references.
    fn mmap_head_chunks(&self) -> Result<usize, HeadError> {
        let _pass = self.mmap_pass.lock();
        let queue = std::mem::take(&mut *self.mmap_queue.lock());
        self.mmap_queue_bytes.store(0, Ordering::Release);
        if queue.is_empty() {
            return Ok(0);
        }
        let mut written = 0;
        let mut failed = None;
        for s in &queue {
            let mut st = s.state.lock();
            st.mmap_queued = false;
            if failed.is_some() {
                continue;
            }
            match write_series_chunks(&self.chunk_disk, s.series_ref, &mut st) {
                Ok(n) => written += n,
                Err(e) => failed = Some(e),
            }
        }
        let flushed = self.chunk_disk.flush();
        let upto = self.chunk_disk.flushed_upto();
        for s in &queue {
            let mut st = s.state.lock();
            map_written_chunks(&mut st, upto);
            // Anything still in memory (a failed write) is retried by the next pass.
            let left = pending_bytes(&st);
            if left > 0 && !st.mmap_queued {
                st.mmap_queued = true;
                drop(st);
                self.queue_mmap(s, left);
            }
        }
        stats::add(&self.metrics.mmap_chunks_written, written as u64);
        if let Some(e) = failed {
            return Err(e.into());
        }
        flushed?;
        Ok(written)
    }

    fn truncate(&self, mint: i64) -> Result<TruncateStats, HeadError> {
        let _t = self.truncating.lock();
        let mut out = TruncateStats::default();
        let initialized = self.min_time.load(Ordering::Acquire) != i64::MAX;
        if self.min_time.load(Ordering::Acquire) >= mint && initialized {
            return Ok(out);
        }
        stats::inc(&self.metrics.truncations);
        self.min_time.store(mint, Ordering::Release);
        self.min_valid_time.fetch_max(mint, Ordering::AcqRel);
        self.max_time.fetch_max(mint, Ordering::AcqRel);
        let gc = self.gc(mint);
        self.tombstones.truncate_before(mint);
        out.series_removed = gc.series_removed;
        out.chunks_removed = gc.chunks_removed;
        if gc.actual_mint > mint && gc.actual_mint != i64::MAX {
            let appendable = self.appendable_min_valid_time();
            let m = gc.actual_mint.min(appendable);
            self.min_time.store(m, Ordering::Release);
            self.min_valid_time.fetch_max(m, Ordering::AcqRel);
        }
        out.chunk_files_removed = self.chunk_disk.truncate_before(gc.min_file)?;
        if gc.series_removed > 0 {
            hearth_model::intern::sweep();
        }
        out.checkpoint = self.truncate_wal(mint)?;
        Ok(out)
    }

    /// Drops chunks before `mint` and series left without data.
    fn gc(&self, mint: i64) -> GcResult {
        let start = Instant::now();
        let mut r = GcResult {
            actual_mint: i64::MAX,
            min_file: u32::MAX,
            ..GcResult::default()
        };
        let mut deleted = Vec::new();
        self.series.for_each(|s| {
            let mut st = s.state.lock();
            r.chunks_removed += st.truncate_chunks_before(mint);
            if let Some(o) = &mut st.ooo {
                r.chunks_removed += o.truncate_before(mint);
                if o.is_empty() {
                    st.ooo = None;
                }
            }
            if st.is_empty() && st.pending_appenders == 0 {
                deleted.push((s.clone(), st.max_time()));
                return;
            }
            r.actual_mint = r.actual_mint.min(st.min_time());
            for c in st
                .chunks
                .iter()
                .chain(st.ooo.iter().flat_map(|o| o.chunks.iter()))
            {
                if let ChunkLoc::Mapped(cr, _) | ChunkLoc::Written(_, cr) = &c.loc {
                    r.min_file = r.min_file.min(cr.file());
                }
            }
        });
        if !deleted.is_empty() {
            let mut postings = self.postings.write();
            let mut expiries = self.wal_expiries.lock();
            for (s, _) in &deleted {
                // A series could have been revived by an appender since the scan.
                let st = s.state.lock();
                if !st.is_empty() || st.pending_appenders > 0 {
                    continue;
                }
                drop(st);
                self.series.remove(s);
                postings.delete(s.series_ref, &s.labels);
                self.tombstones.delete_tombstones([s.series_ref]);
                r.series_removed += 1;
                if self.wal.is_some() {
                    expiries.insert(s.series_ref, r.actual_mint.max(mint));
                }
            }
        }
        self.num_series
            .fetch_sub(r.series_removed as u64, Ordering::AcqRel);
        stats::add(&self.metrics.series_removed, r.series_removed as u64);
        stats::add(&self.metrics.chunks_removed, r.chunks_removed as u64);
        self.metrics
            .chunks
            .fetch_sub(r.chunks_removed as i64, Ordering::AcqRel);
        self.metrics
            .gc_duration_micros_last
            .store(start.elapsed().as_micros() as u64, Ordering::Relaxed);
        r
    }

    /// Checkpoints the older two thirds of the WAL's finished segments (keeping series
    /// the head still has, and data at or after `mint`) and deletes them.
    fn truncate_wal(&self, mint: i64) -> Result<Option<u32>, HeadError> {
        let Some(wal) = &self.wal else {
            return Ok(None);
        };
        if mint <= self.last_wal_truncation.load(Ordering::Acquire) {
            return Ok(None);
        }
        self.last_wal_truncation.store(mint, Ordering::Release);
        let (dir, compression, first, last) = {
            let mut w = wal.lock();
            let (first, last) = w.segments()?;
            // Low-volume heads should not keep more WAL than needed.
            w.next_segment()?;
            (w.dir().to_path_buf(), w.options().compression, first, last)
        };
        // Never the segment being written; two thirds of the rest are mostly obsolete.
        let Some(last) = last.checked_sub(1) else {
            return Ok(None);
        };
        if last < first {
            return Ok(None);
        }
        let last = first + (last - first) * 2 / 3;
        if last <= first {
            return Ok(None);
        }
        stats::inc(&self.metrics.checkpoints_created);
        let keep = |r: SeriesRef| {
            self.series.get_by_ref(r).is_some()
                || self.wal_expiries.lock().get(&r).is_some_and(|t| *t >= mint)
        };
        if let Err(e) = crate::wal::checkpoint_in(&dir, compression, first, last, keep, mint) {
            stats::inc(&self.metrics.checkpoints_failed);
            return Err(e.into());
        }
        if let Err(e) = wal.lock().truncate(last + 1) {
            // Leftover segments are ignored once a checkpoint supersedes them.
            tracing::error!(error = %e, "truncating WAL segments failed");
        }
        self.wal_expiries.lock().retain(|_, t| *t >= mint);
        tracing::info!(first, last, "WAL checkpoint complete");
        Ok(Some(last))
    }
}

#[derive(Debug, Default)]
struct GcResult {
    series_removed: usize,
    chunks_removed: usize,
    actual_mint: i64,
    min_file: u32,
}

/// Writes the in-memory chunks of one series (in-order and out-of-order); they become
/// `Written` until the files are flushed.
fn write_series_chunks(
    disk: &ChunkDiskMapper,
    series_ref: SeriesRef,
    st: &mut series::SeriesState,
) -> Result<usize, ChunkFileError> {
    let mut n = 0;
    let in_order = st.chunks.iter_mut().map(|c| (c, false));
    let ooo = st
        .ooo
        .iter_mut()
        .flat_map(|o| o.chunks.iter_mut().map(|c| (c, true)));
    for (c, out_of_order) in in_order.chain(ooo) {
        let ChunkLoc::Memory(chunk) = &c.loc else {
            continue;
        };
        let refs = disk.write([PendingWrite {
            series_ref,
            min_time: c.min_time,
            max_time: c.max_time,
            encoding: chunk.encoding(),
            data: chunk.bytes(),
            out_of_order,
        }])?;
        if let Some(r) = refs.first() {
            c.loc = ChunkLoc::Written(chunk.clone(), *r);
            n += 1;
        }
    }
    Ok(n)
}

/// Swaps written chunks whose bytes are flushed and mapped (references up to `upto`)
/// for their references.
fn map_written_chunks(st: &mut series::SeriesState, upto: Option<HeadChunkRef>) {
    let Some(upto) = upto else {
        return;
    };
    let ooo = st.ooo.iter_mut().flat_map(|o| o.chunks.iter_mut());
    for c in st.chunks.iter_mut().chain(ooo) {
        if let ChunkLoc::Written(chunk, r) = &c.loc
            && *r <= upto
        {
            c.loc = ChunkLoc::Mapped(*r, chunk.encoding());
        }
    }
}

/// Bytes of the series' chunks still only in memory.
fn pending_bytes(st: &series::SeriesState) -> usize {
    let ooo = st.ooo.iter().flat_map(|o| o.chunks.iter());
    st.chunks
        .iter()
        .chain(ooo)
        .map(|c| match &c.loc {
            ChunkLoc::Memory(ch) | ChunkLoc::Written(ch, _) => ch.bytes().len(),
            ChunkLoc::Mapped(..) => 0,
        })
        .sum()
}

/// A chunk reference as the WAL's m-map markers carry it.
pub(crate) fn marker_ref(r: HeadChunkRef) -> u64 {
    r.0
}
