//! Rebuilding the head on open, as upstream's `Head.Init`: memory-mapped chunks of
//! `chunks_head/` first, then the last WAL checkpoint and the WAL segments after it, then
//! the write-behind log.
//!
//! Samples already in a mapped chunk are skipped (an append at or before a series' last
//! chunk is not in order); the rest rebuild the open chunks. Records are decoded one at
//! a time into reused vectors and complete chunks are written back to disk as replay
//! goes, so replay needs about the memory of the head it rebuilds.
//!
//! Damage is reported, never a panic and never silently dropped: a torn last record is
//! cut off (by `Wal::open`), corruption in a WAL segment ends replay there and the WAL is
//! repaired (everything after is deleted, as upstream), an undecodable record counts as
//! corruption, a corrupt chunk file is cut back to its last good chunk (the WAL still has
//! those samples). A corrupt checkpoint is an error: the series it holds cannot be
//! recovered from anywhere else.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::time::{Duration, Instant};

use hashbrown::HashMap;

use hearth_model::{HistogramValue, Metadata, is_stale_nan};

use crate::chunkenc::Encoding;
use crate::chunks::{HeadChunkReader, HeadChunkRef};
use crate::tombstones::Interval;
use crate::wal::record::{
    RecordDecoder, RecordType, RefExemplar, RefFloatHistogramSample, RefHistogramSample,
    RefMetadata, RefMmapMarker, RefSample, RefSeries, Tombstone, metric_type_from_wal,
};
use crate::wal::{
    CorruptionError, CorruptionReason, SegmentRange, Wal, WalError, WalReader, last_checkpoint,
};

use super::series::{ChunkLoc, ChunkMeta, MemSeries, SeriesState, stale_histogram};
use super::{HeadError, HeadShared, stats};

/// Where WAL replay is, for `/api/v1/status/walreplay`: segments `min..=max`, the one
/// being read. Shared with whoever reports it while the head opens.
#[derive(Debug)]
pub struct WalReplayProgress {
    min: AtomicI64,
    max: AtomicI64,
    current: AtomicI64,
}

impl Default for WalReplayProgress {
    fn default() -> Self {
        WalReplayProgress {
            min: AtomicI64::new(-1),
            max: AtomicI64::new(-1),
            current: AtomicI64::new(-1),
        }
    }
}

/// A reading of [`WalReplayProgress`]; -1 before replay knows the segments.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WalReplayStatus {
    pub min: i64,
    pub max: i64,
    pub current: i64,
}

impl WalReplayProgress {
    pub fn status(&self) -> WalReplayStatus {
        WalReplayStatus {
            min: self.min.load(Ordering::Relaxed),
            max: self.max.load(Ordering::Relaxed),
            current: self.current.load(Ordering::Relaxed),
        }
    }

    fn set_range(&self, min: u32, max: u32) {
        self.min.store(i64::from(min), Ordering::Relaxed);
        self.max.store(i64::from(max), Ordering::Relaxed);
    }

    fn set_current(&self, segment: u32) {
        self.current.store(i64::from(segment), Ordering::Relaxed);
    }
}

/// What replay read, skipped and repaired; logged as upstream's "WAL replay completed".
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReplayStats {
    pub duration: Duration,
    pub chunks_duration: Duration,
    pub checkpoint_duration: Duration,
    pub wal_duration: Duration,
    pub wbl_duration: Duration,
    /// Chunks loaded from `chunks_head/`.
    pub mmapped_chunks: u64,
    /// What was wrong with `chunks_head/`, if anything (the files were cut back).
    pub chunks_corruption: Option<String>,
    /// The checkpoint replayed, if any.
    pub checkpoint: Option<u32>,
    /// WAL records read (checkpoint included).
    pub records: u64,
    pub series: u64,
    pub samples: u64,
    pub histograms: u64,
    pub exemplars: u64,
    pub metadata: u64,
    /// Samples, histograms, exemplars and metadata of series the WAL never defined.
    pub unknown_refs: u64,
    /// Deleted intervals read (head tombstones).
    pub tombstones: u64,
    /// The torn record cut from the end of the WAL.
    pub wal_torn_tail: Option<String>,
    /// Corruption that ended WAL replay; the WAL was repaired there.
    pub wal_corruption: Option<String>,
    pub wbl_samples: u64,
    pub wbl_torn_tail: Option<String>,
    pub wbl_corruption: Option<String>,
}

impl ReplayStats {
    pub(crate) fn log(&self) {
        tracing::info!(
            checkpoint_replay_duration = ?self.checkpoint_duration,
            wal_replay_duration = ?self.wal_duration,
            wbl_replay_duration = ?self.wbl_duration,
            mmap_chunk_replay_duration = ?self.chunks_duration,
            total_replay_duration = ?self.duration,
            series = self.series,
            samples = self.samples,
            histograms = self.histograms,
            mmapped_chunks = self.mmapped_chunks,
            "WAL replay completed"
        );
        if self.unknown_refs > 0 {
            tracing::warn!(
                refs = self.unknown_refs,
                "unknown series references in the WAL"
            );
        }
        for (what, v) in [
            ("head chunks corruption", &self.chunks_corruption),
            ("WAL torn tail cut off", &self.wal_torn_tail),
            ("WAL corruption repaired", &self.wal_corruption),
            ("WBL torn tail cut off", &self.wbl_torn_tail),
            ("WBL corruption repaired", &self.wbl_corruption),
        ] {
            if let Some(v) = v {
                tracing::warn!(detail = %v, "{what}");
            }
        }
    }
}

/// Chunks read from `chunks_head/`, by the series reference they were written for.
#[derive(Default)]
pub(crate) struct LoadedChunks {
    in_order: HashMap<u64, Vec<ChunkMeta>>,
    ooo: HashMap<u64, Vec<ChunkMeta>>,
    pub(crate) count: u64,
    pub(crate) corruption: Option<String>,
    duration: Duration,
}

/// Reads every chunk of `dir`, cutting a corrupt tail off (see the module documentation).
pub(crate) fn load_head_chunks(dir: &Path, min_valid_time: i64) -> Result<LoadedChunks, HeadError> {
    let start = Instant::now();
    let mut out = LoadedChunks::default();
    let mut out_of_sequence = 0u64;
    let replayed = HeadChunkReader::replay(dir, |c| {
        let meta = ChunkMeta {
            loc: ChunkLoc::Mapped(c.chunk_ref, c.encoding),
            min_time: c.mint,
            max_time: c.maxt,
        };
        if c.out_of_order {
            out.ooo.entry(c.series_ref).or_default().push(meta);
            out.count += 1;
            return;
        }
        if c.maxt < min_valid_time {
            return;
        }
        let list = out.in_order.entry(c.series_ref).or_default();
        if list.last().is_some_and(|l| l.max_time >= c.mint) {
            // Chunks of a series are written in time order; this one is not to be
            // trusted, and the WAL has its samples.
            out_of_sequence += 1;
            return;
        }
        list.push(meta);
        out.count += 1;
    });
    match replayed {
        Ok(report) => {
            if let Some(e) = report.corruption {
                out.corruption = Some(format!(
                    "{e}; cut back to {:?}, removed {} later file(s)",
                    report.truncated,
                    report.removed.len()
                ));
            }
        }
        Err(e) => {
            // The files cannot be read in order at all: drop them, the WAL has the data.
            tracing::warn!(error = %e, "head chunk files unreadable; deleting them");
            out = LoadedChunks::default();
            out.corruption = Some(format!("{e}; all head chunk files deleted"));
            remove_numbered_files(dir)?;
        }
    }
    if out_of_sequence > 0 {
        let msg = format!("{out_of_sequence} out-of-sequence chunk(s) ignored");
        out.corruption = Some(match out.corruption.take() {
            Some(c) => format!("{c}; {msg}"),
            None => msg,
        });
    }
    out.duration = start.elapsed();
    Ok(out)
}

fn remove_numbered_files(dir: &Path) -> Result<(), HeadError> {
    let io = |op, source| HeadError::Io {
        op,
        path: dir.to_path_buf(),
        source,
    };
    for e in std::fs::read_dir(dir).map_err(|e| io("list", e))? {
        let e = e.map_err(|e| io("list", e))?;
        if e.file_name()
            .to_str()
            .is_some_and(|n| n.parse::<u64>().is_ok())
        {
            std::fs::remove_file(e.path()).map_err(|e| io("remove file in", e))?;
        }
    }
    Ok(())
}

/// Decode buffers, reused for every record.
#[derive(Default)]
struct Buffers {
    series: Vec<RefSeries>,
    samples: Vec<RefSample>,
    histograms: Vec<RefHistogramSample>,
    float_histograms: Vec<RefFloatHistogramSample>,
    exemplars: Vec<RefExemplar>,
    metadata: Vec<RefMetadata>,
    tombstones: Vec<Tombstone>,
    markers: Vec<RefMmapMarker>,
}

/// Work for a replay worker: the records' effects on the series of its partition, in
/// WAL order.
enum Work {
    Floats(Vec<RefSample>),
    Histograms(Vec<(u64, i64, HistogramValue)>),
    /// The mapped chunks of a series record.
    Attach(u64, Vec<ChunkMeta>, Vec<ChunkMeta>),
    /// A whole-series deletion (upstream's stale-series truncation tombstone).
    Delete(u64),
}

/// Samples per message to a worker.
const WORK_BATCH: usize = 5000;
/// Messages a worker may have queued: bounds replay memory.
const WORK_QUEUE: usize = 16;

/// What a worker did.
#[derive(Debug, Clone, Copy)]
struct WorkerResult {
    min_time: i64,
    max_time: i64,
    unknown_refs: u64,
}

/// Applies work to the series of one partition.
fn replay_worker(head: &HeadShared, rx: Receiver<Work>) -> WorkerResult {
    let mut r = WorkerResult {
        min_time: i64::MAX,
        max_time: i64::MIN,
        unknown_refs: 0,
    };
    let opts = head.chunk_opts;
    let appended =
        |r: &mut WorkerResult, series: &Arc<MemSeries>, st: &mut SeriesState, t: i64, out| {
            r.min_time = r.min_time.min(t);
            r.max_time = r.max_time.max(t);
            head.note_chunks(series, st, out);
        };
    for work in rx {
        match work {
            Work::Floats(v) => {
                for s in &v {
                    let Some(series) = head.series.get_by_ref(s.series_ref) else {
                        r.unknown_refs += 1;
                        continue;
                    };
                    let mut st = series.state.lock();
                    if is_stale_nan(s.v) && st.is_histogram() == Some(true) {
                        let h = stale_histogram(&histogram_kind(&st));
                        if let Ok(out) = st.append_histogram(s.t, &h, opts) {
                            stats::inc(&head.metrics.histogram_samples_appended);
                            appended(&mut r, &series, &mut st, s.t, out);
                        }
                        continue;
                    }
                    if let Ok(out) = st.append_float(s.t, s.v, opts) {
                        stats::inc(&head.metrics.float_samples_appended);
                        appended(&mut r, &series, &mut st, s.t, out);
                    }
                }
            }
            Work::Histograms(v) => {
                for (sref, t, h) in &v {
                    let Some(series) = head.series.get_by_ref(*sref) else {
                        r.unknown_refs += 1;
                        continue;
                    };
                    let mut st = series.state.lock();
                    if let Ok(out) = st.append_histogram(*t, h, opts) {
                        stats::inc(&head.metrics.histogram_samples_appended);
                        appended(&mut r, &series, &mut st, *t, out);
                    }
                }
            }
            Work::Attach(sref, in_order, ooo) => {
                let Some(series) = head.series.get_by_ref(sref) else {
                    continue;
                };
                let mut st = series.state.lock();
                attach_chunks(&mut st, in_order);
                if !ooo.is_empty() {
                    st.ooo
                        .get_or_insert_with(Default::default)
                        .chunks
                        .extend(ooo);
                }
            }
            Work::Delete(sref) => {
                if let Some(s) = head.series.get_by_ref(sref) {
                    head.postings.write().delete(s.series_ref, &s.labels);
                    head.series.remove(&s);
                    head.num_series.fetch_sub(1, Ordering::AcqRel);
                }
            }
        }
        if head.mmap_due()
            && let Err(e) = head.mmap_head_chunks()
        {
            tracing::error!(error = %e, "writing head chunks during replay failed");
        }
    }
    r
}

/// The decoding side of one replay: reads records, creates series, and hands samples to
/// the workers, partitioned by series so that each series' samples stay in order.
struct Replay<'h> {
    head: &'h HeadShared,
    loaded: LoadedChunks,
    /// WAL references of series defined twice, to the reference kept.
    multi_ref: HashMap<u64, u64>,
    dec: RecordDecoder,
    buf: Buffers,
    workers: Vec<SyncSender<Work>>,
    floats: Vec<Vec<RefSample>>,
    histograms: Vec<Vec<(u64, i64, HistogramValue)>>,
    min_time: i64,
    max_time: i64,
}

impl Replay<'_> {
    /// Whole pages of 64 references go to one worker, as to one stripe of the series
    /// map: workers then never share a stripe lock or a page.
    fn partition(&self, r: u64) -> usize {
        ((r / 64) % self.workers.len() as u64) as usize
    }

    /// The reference samples of WAL reference `r` go to.
    fn map_ref(&mut self, r: u64, t: i64) -> u64 {
        match self.multi_ref.get(&r) {
            Some(&kept) => {
                // Samples of the duplicate keep its series record in checkpoints.
                let mut exp = self.head.wal_expiries.lock();
                let e = exp.entry(r).or_insert(t);
                *e = (*e).max(t);
                kept
            }
            None => r,
        }
    }

    fn send(&mut self, i: usize, work: Work) {
        // A worker only stops when its queue closes; a failed send means it panicked,
        // which the scope reports when it joins.
        let _ = self.workers[i].send(work);
    }

    fn flush(&mut self, i: usize) {
        if !self.floats[i].is_empty() {
            let v = std::mem::take(&mut self.floats[i]);
            self.send(i, Work::Floats(v));
        }
        if !self.histograms[i].is_empty() {
            let v = std::mem::take(&mut self.histograms[i]);
            self.send(i, Work::Histograms(v));
        }
    }

    fn flush_all(&mut self) {
        for i in 0..self.workers.len() {
            self.flush(i);
        }
    }

    fn push_float(&mut self, s: RefSample) {
        let i = self.partition(s.series_ref);
        let p = &mut self.floats[i];
        if p.capacity() == 0 {
            p.reserve(WORK_BATCH);
        }
        p.push(s);
        if p.len() >= WORK_BATCH {
            self.flush(i);
        }
    }

    fn push_histogram(&mut self, r: u64, t: i64, h: HistogramValue) {
        let i = self.partition(r);
        self.histograms[i].push((r, t, h));
        if self.histograms[i].len() >= WORK_BATCH {
            self.flush(i);
        }
    }

    fn apply(&mut self, rec: &[u8], stats: &mut ReplayStats) -> Result<(), String> {
        let head = self.head;
        let min_valid = head.min_valid_time.load(Ordering::Acquire);
        let err = |e: crate::wal::RecordError| e.to_string();
        stats.records += 1;
        match RecordType::of(rec) {
            RecordType::Series => {
                let mut v = std::mem::take(&mut self.buf.series);
                v.clear();
                self.dec.series(rec, &mut v).map_err(err)?;
                for s in v.drain(..) {
                    stats.series += 1;
                    self.series(s, stats);
                }
                self.buf.series = v;
            }
            RecordType::Samples | RecordType::SamplesV2 => {
                let mut v = std::mem::take(&mut self.buf.samples);
                v.clear();
                self.dec.samples(rec, &mut v).map_err(err)?;
                stats.samples += v.len() as u64;
                for mut s in v.drain(..) {
                    if s.t < min_valid {
                        continue;
                    }
                    s.series_ref = self.map_ref(s.series_ref, s.t);
                    self.push_float(s);
                }
                self.buf.samples = v;
            }
            RecordType::HistogramSamples
            | RecordType::CustomBucketsHistogramSamples
            | RecordType::HistogramSamplesV2 => {
                let mut v = std::mem::take(&mut self.buf.histograms);
                v.clear();
                self.dec.histogram_samples(rec, &mut v).map_err(err)?;
                stats.histograms += v.len() as u64;
                for s in v.drain(..) {
                    if s.t >= min_valid {
                        let r = self.map_ref(s.series_ref, s.t);
                        self.push_histogram(r, s.t, HistogramValue::Integer(s.h));
                    }
                }
                self.buf.histograms = v;
            }
            RecordType::FloatHistogramSamples
            | RecordType::CustomBucketsFloatHistogramSamples
            | RecordType::FloatHistogramSamplesV2 => {
                let mut v = std::mem::take(&mut self.buf.float_histograms);
                v.clear();
                self.dec.float_histogram_samples(rec, &mut v).map_err(err)?;
                stats.histograms += v.len() as u64;
                for s in v.drain(..) {
                    if s.t >= min_valid {
                        let r = self.map_ref(s.series_ref, s.t);
                        self.push_histogram(r, s.t, HistogramValue::Float(s.fh));
                    }
                }
                self.buf.float_histograms = v;
            }
            RecordType::Exemplars => {
                let mut v = std::mem::take(&mut self.buf.exemplars);
                v.clear();
                self.dec.exemplars(rec, &mut v).map_err(err)?;
                for e in v.drain(..) {
                    stats.exemplars += 1;
                    if e.t < min_valid {
                        continue;
                    }
                    let r = self.map_ref(e.series_ref, e.t);
                    let Some(series) = head.series.get_by_ref(r) else {
                        stats.unknown_refs += 1;
                        continue;
                    };
                    let ex = hearth_model::Exemplar {
                        labels: e.labels,
                        value: e.v,
                        timestamp: Some(e.t),
                    };
                    // Out-of-order exemplars cannot come from a WAL hearth or upstream
                    // wrote; ignore them as upstream does.
                    let _ = head.exemplars.add(&series.labels, &ex, e.t);
                }
                self.buf.exemplars = v;
            }
            RecordType::Metadata => {
                let mut v = std::mem::take(&mut self.buf.metadata);
                v.clear();
                self.dec.metadata(rec, &mut v).map_err(err)?;
                for m in v.drain(..) {
                    stats.metadata += 1;
                    let r = self
                        .multi_ref
                        .get(&m.series_ref)
                        .copied()
                        .unwrap_or(m.series_ref);
                    let Some(series) = head.series.get_by_ref(r) else {
                        stats.unknown_refs += 1;
                        continue;
                    };
                    series.state.lock().extra_mut().metadata = Some(Metadata {
                        metric_type: metric_type_from_wal(m.metric_type),
                        help: m.help,
                        unit: m.unit,
                    });
                }
                self.buf.metadata = v;
            }
            RecordType::Tombstones => {
                let mut v = std::mem::take(&mut self.buf.tombstones);
                v.clear();
                self.dec.tombstones(rec, &mut v).map_err(err)?;
                for t in v.drain(..) {
                    // A tombstone means the reference was allocated: never reissue it.
                    head.last_series_id
                        .fetch_max(t.series_ref, Ordering::AcqRel);
                    if t.mint == i64::MIN && t.maxt == i64::MAX {
                        let r = self
                            .multi_ref
                            .get(&t.series_ref)
                            .copied()
                            .unwrap_or(t.series_ref);
                        if let Some(s) = head.series.get_by_ref(r) {
                            // A later series record with these labels makes a new series.
                            head.series.unlink_hash(&s);
                            let i = self.partition(r);
                            self.flush(i);
                            self.send(i, Work::Delete(r));
                        }
                        continue;
                    }
                    let r = self
                        .multi_ref
                        .get(&t.series_ref)
                        .copied()
                        .unwrap_or(t.series_ref);
                    head.tombstones
                        .add_interval(r, Interval::new(t.mint, t.maxt));
                    stats.tombstones += 1;
                }
                self.buf.tombstones = v;
            }
            RecordType::MinValidTime => {
                let t = self.dec.min_valid_time(rec).map_err(err)?;
                head.min_valid_time.fetch_max(t, Ordering::AcqRel);
            }
            // m-map markers belong to the WBL; unknown types come from newer writers and
            // are skipped so that a downgrade works, as upstream.
            _ => {}
        }
        Ok(())
    }

    /// A series record: create the series (or map a duplicate definition to the one
    /// kept) and give it its mapped chunks.
    fn series(&mut self, s: RefSeries, stats: &mut ReplayStats) {
        let head = self.head;
        head.last_series_id
            .fetch_max(s.series_ref, Ordering::AcqRel);
        let hash = s.labels.hash();
        let series = match head.series.get_by_labels(hash, &s.labels) {
            Some(e) => {
                if e.series_ref != s.series_ref {
                    self.multi_ref.insert(s.series_ref, e.series_ref);
                }
                e
            }
            None => {
                if head.series.get_by_ref(s.series_ref).is_some() {
                    // The reference names another label set: the record is not to be
                    // trusted (never written by a sane WAL writer).
                    stats.unknown_refs += 1;
                    return;
                }
                let made = head.series.get_or_create::<()>(hash, &s.labels, || {
                    Ok(MemSeries::new(s.series_ref, hash, s.labels.clone()))
                });
                let Ok((series, created)) = made else {
                    return;
                };
                if created {
                    head.on_series_created(&series);
                }
                series
            }
        };
        let in_order = self
            .loaded
            .in_order
            .remove(&s.series_ref)
            .unwrap_or_default();
        let ooo = self.loaded.ooo.remove(&s.series_ref).unwrap_or_default();
        if in_order.is_empty() && ooo.is_empty() {
            return;
        }
        let m = &head.metrics;
        let n = (in_order.len() + ooo.len()) as u64;
        m.chunks.fetch_add(n as i64, Ordering::Relaxed);
        stats::add(&m.chunks_created, n);
        if let (Some(first), Some(last)) = (in_order.first(), in_order.last()) {
            self.min_time = self.min_time.min(first.min_time);
            self.max_time = self.max_time.max(last.max_time);
        }
        for c in &ooo {
            head.update_ooo_min_max_time(c.min_time, c.max_time);
        }
        // Through the series' worker, behind the samples already queued for it.
        let i = self.partition(series.series_ref);
        self.flush(i);
        self.send(i, Work::Attach(series.series_ref, in_order, ooo));
    }
}

/// The kind of histogram a histogram series holds, for its staleness markers.
fn histogram_kind(st: &SeriesState) -> HistogramValue {
    match (st.last_histogram(), st.latest_encoding()) {
        (Some(h), _) => h.clone(),
        (None, Some(Encoding::FloatHistogram | Encoding::FloatHistogramSt)) => {
            HistogramValue::Float(Default::default())
        }
        _ => HistogramValue::Integer(Default::default()),
    }
}

/// Adds mapped chunks to a series, keeping its chunks ordered and disjoint. Samples
/// replayed into the open chunk that the chunks cover are dropped with it.
fn attach_chunks(st: &mut SeriesState, chunks: Vec<ChunkMeta>) {
    if chunks.is_empty() {
        return;
    }
    if st.chunks.is_empty() {
        st.chunks = chunks;
    } else {
        let mut all = std::mem::take(&mut st.chunks);
        all.extend(chunks);
        all.sort_by_key(|c| c.min_time);
        let mut kept: Vec<ChunkMeta> = Vec::with_capacity(all.len());
        for c in all {
            if kept.last().is_some_and(|l| l.max_time >= c.min_time) {
                continue;
            }
            kept.push(c);
        }
        st.chunks = kept;
    }
    let last = st.chunks.last().map_or(i64::MIN, |c| c.max_time);
    if st.open.as_ref().is_some_and(|o| o.min_time <= last) {
        st.open = None;
    }
}

fn describe_torn(t: &crate::wal::TornTail) -> String {
    format!(
        "segment {:08} of {:?} at offset {}: {} byte(s) dropped ({})",
        t.segment, t.dir, t.offset, t.dropped_bytes, t.reason
    )
}

/// Reads `reader` into `f`; on corruption (or an undecodable record, as upstream)
/// returns where it is so that the caller can repair.
fn read_all(
    reader: &mut WalReader,
    dir: &Path,
    progress: Option<&WalReplayProgress>,
    mut f: impl FnMut(&[u8]) -> Result<(), String>,
) -> Result<Option<CorruptionError>, HeadError> {
    loop {
        match reader.read_next() {
            Ok(true) => {
                if let Some(p) = progress {
                    p.set_current(reader.record_position().0);
                }
                if let Err(msg) = f(reader.record()) {
                    let (segment, offset) = reader.record_position();
                    return Ok(Some(CorruptionError {
                        dir: dir.to_path_buf(),
                        segment,
                        offset,
                        fragment_offset: offset,
                        reason: CorruptionReason::InvalidRecord(msg),
                    }));
                }
            }
            Ok(false) => return Ok(None),
            Err(WalError::Corruption(c)) => return Ok(Some(c)),
            Err(e) => return Err(e.into()),
        }
    }
}

/// Replays the last checkpoint and the WAL segments after it into `head`.
pub(crate) fn replay_wal(
    head: &mut HeadShared,
    wal: &mut Wal,
    mut loaded: LoadedChunks,
    stats: &mut ReplayStats,
) -> Result<(), HeadError> {
    stats.chunks_duration = loaded.duration;
    if let Some(t) = wal.recovered_tail() {
        stats.wal_torn_tail = Some(describe_torn(t));
        stats::inc(&head.metrics.wal_corruptions);
    }
    let dir = wal.dir().to_path_buf();
    let progress = head.opts.replay_progress.clone();
    if let Some(p) = &progress {
        let (first, last) = wal.segments()?;
        p.set_range(first, last);
    }
    let h: &HeadShared = head;
    let n = std::thread::available_parallelism()
        .map_or(2, |n| n.get())
        .clamp(1, 8);
    let (outcome, results) = std::thread::scope(|scope| {
        let mut senders = Vec::with_capacity(n);
        let mut handles = Vec::with_capacity(n);
        for _ in 0..n {
            let (tx, rx) = sync_channel::<Work>(WORK_QUEUE);
            senders.push(tx);
            handles.push(scope.spawn(move || replay_worker(h, rx)));
        }
        let mut r = Replay {
            head: h,
            loaded: std::mem::take(&mut loaded),
            multi_ref: HashMap::new(),
            dec: RecordDecoder::new(),
            buf: Buffers::default(),
            workers: senders,
            floats: vec![Vec::new(); n],
            histograms: vec![Vec::new(); n],
            min_time: i64::MAX,
            max_time: i64::MIN,
        };
        let outcome = read_wal(&mut r, &dir, progress.as_deref(), stats);
        r.flush_all();
        let (min, max) = (r.min_time, r.max_time);
        // Closing the queues ends the workers.
        drop(r);
        let mut results = vec![WorkerResult {
            min_time: min,
            max_time: max,
            unknown_refs: 0,
        }];
        for handle in handles {
            match handle.join() {
                Ok(w) => results.push(w),
                Err(p) => std::panic::resume_unwind(p),
            }
        }
        (outcome, results)
    });
    for w in &results {
        head.update_min_max_time(w.min_time, w.max_time);
        stats.unknown_refs += w.unknown_refs;
    }
    if let Some(p) = &progress {
        p.current
            .store(p.max.load(Ordering::Relaxed), Ordering::Relaxed);
    }
    if let Some(c) = outcome? {
        stats::inc(&head.metrics.wal_corruptions);
        stats.wal_corruption = Some(c.to_string());
        tracing::warn!(error = %c, "WAL corrupt; repairing (later records are lost)");
        wal.repair(&c)?;
    }
    Ok(())
}

/// Reads the checkpoint and the segments after it; returns the corruption that ended
/// the segments early, if any.
fn read_wal(
    r: &mut Replay<'_>,
    dir: &Path,
    progress: Option<&WalReplayProgress>,
    stats: &mut ReplayStats,
) -> Result<Option<CorruptionError>, HeadError> {
    let mut first = None;
    let start = Instant::now();
    if let Some((cp_dir, index)) = last_checkpoint(dir)? {
        stats.checkpoint = Some(index);
        first = index.checked_add(1);
        let mut reader = WalReader::from_ranges(&[SegmentRange::all(&cp_dir)])?;
        if let Some(c) = read_all(&mut reader, &cp_dir, None, |rec| r.apply(rec, stats))? {
            stats::inc(&r.head.metrics.wal_corruptions);
            return Err(HeadError::Wal(WalError::Checkpoint(format!(
                "checkpoint {cp_dir:?} is corrupt, the series it holds cannot be recovered: {c}"
            ))));
        }
    }
    stats.checkpoint_duration = start.elapsed();
    let start = Instant::now();
    let mut reader = WalReader::from_ranges(&[SegmentRange {
        dir: dir.to_path_buf(),
        first,
        last: None,
    }])?;
    let corruption = read_all(&mut reader, dir, progress, |rec| r.apply(rec, stats))?;
    if let Some(t) = reader.torn_tail() {
        stats.wal_torn_tail = Some(describe_torn(t));
    }
    stats.wal_duration = start.elapsed();
    Ok(corruption)
}

/// Replays the write-behind log: out-of-order samples, and m-map markers telling which
/// of them are already in a chunk file.
pub(crate) fn replay_wbl(
    head: &mut HeadShared,
    wbl: &mut Wal,
    stats: &mut ReplayStats,
) -> Result<(), HeadError> {
    let start = Instant::now();
    if let Some(t) = wbl.recovered_tail() {
        stats.wbl_torn_tail = Some(describe_torn(t));
    }
    let dir = wbl.dir().to_path_buf();
    let mut dec = RecordDecoder::new();
    let mut buf = Buffers::default();
    let min_valid = head.min_valid_time.load(Ordering::Acquire);
    let (mut min, mut max) = (i64::MAX, i64::MIN);
    let h: &HeadShared = head;
    let mut reader = WalReader::from_ranges(&[SegmentRange::all(&dir)])?;
    let corruption = read_all(&mut reader, &dir, None, |rec| {
        match RecordType::of(rec) {
            RecordType::Samples | RecordType::SamplesV2 => {
                buf.samples.clear();
                dec.samples(rec, &mut buf.samples)
                    .map_err(|e| e.to_string())?;
                for s in &buf.samples {
                    stats.wbl_samples += 1;
                    if s.t < min_valid {
                        continue;
                    }
                    let Some(series) = h.series.get_by_ref(s.series_ref) else {
                        stats.unknown_refs += 1;
                        continue;
                    };
                    let mut st = series.state.lock();
                    let o = st.ooo.get_or_insert_with(Default::default);
                    if o.insert(s.t, s.v) {
                        stats::inc(&h.metrics.out_of_order_samples_appended);
                        min = min.min(s.t);
                        max = max.max(s.t);
                    }
                }
            }
            RecordType::MmapMarkers => {
                buf.markers.clear();
                dec.mmap_markers(rec, &mut buf.markers)
                    .map_err(|e| e.to_string())?;
                for m in &buf.markers {
                    let Some(series) = h.series.get_by_ref(m.series_ref) else {
                        continue;
                    };
                    let mut st = series.state.lock();
                    let Some(o) = st.ooo.as_mut() else {
                        continue;
                    };
                    let on_disk = o.chunks.iter().any(|c| {
                        matches!(c.loc, ChunkLoc::Mapped(r, _) if r == HeadChunkRef(m.mmap_ref))
                    });
                    if on_disk {
                        // Those samples are in the chunk loaded from disk.
                        o.head.clear();
                    } else if o.cut().is_some() {
                        // The chunk did not survive: make it again from the samples.
                        h.metrics.chunks.fetch_add(1, Ordering::Relaxed);
                        let bytes = 0;
                        h.queue_series(&series, &mut st, bytes);
                    }
                }
            }
            _ => {}
        }
        Ok(())
    })?;
    h.update_ooo_min_max_time(min, max);
    if let Some(c) = corruption {
        stats.wbl_corruption = Some(c.to_string());
        tracing::warn!(error = %c, "WBL corrupt; repairing (later records are lost)");
        wbl.repair(&c)?;
    }
    stats.wbl_duration = start.elapsed();
    Ok(())
}
