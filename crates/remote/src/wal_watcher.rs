//! The WAL watcher: what feeds each remote write queue, as upstream's `wlog.Watcher`.
//!
//! One watcher per endpoint reads the WAL of the data directory on its own thread: the
//! latest checkpoint first, then every segment after it, then it follows the segment
//! being written (polling every `read_period`, checking for a newer segment every
//! `segment_check_period`). It decodes series, samples, histogram samples, exemplars and
//! metadata records, keeps the series references it has seen (ref → labels, metadata and
//! the segment that last mentioned it) and hands each record's samples, resolved to
//! their labels, to its [`WalSink`] (the queue). The sink blocks while it is full, so an
//! endpoint that is down holds the reader back and nothing is lost as long as the WAL
//! still holds what it has not read.
//!
//! Where it starts sending:
//! - first start (no progress file): samples newer than the watcher's start time, as
//!   upstream (earlier records are read for their series only);
//! - restart with a progress file: every record from the position saved there, which is
//!   the oldest record whose samples were not all delivered when it was written
//!   (at-least-once: a record partly delivered is sent again). Upstream starts from
//!   "now" on every restart and loses what was not sent; hearth resumes.
//!
//! Truncation: the head checkpoints and deletes old segments without waiting for remote
//! write, as upstream. A watcher that is behind keeps reading a segment it has open
//! (deleted files stay readable); when the next segment it needs is gone, it jumps to the
//! latest checkpoint, sends the checkpoint's samples newer than anything it read, goes
//! on after it and counts the segments it skipped (`segments_skipped`).
//!
//! Series garbage collection (upstream's `UpdateSeriesSegment` / `SeriesReset`): every
//! `checkpoint_period`, a checkpoint newer than the last one seen and older than the
//! segment being read is read for its series records; series it keeps are marked as
//! seen in it, and series last mentioned before it are forgotten (the head dropped them,
//! so no later record can refer to them).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use hearth_model::{Exemplar, HistogramValue, Labels, Metadata};
use hearth_tsdb::wal::record::{
    HeadSeriesRef, RefExemplar, RefFloatHistogramSample, RefHistogramSample, RefMetadata,
    RefSample, RefSeries, metric_type_from_wal,
};
use hearth_tsdb::wal::{
    LiveReader, RecordDecoder, RecordType, WalError, WalReader, last_checkpoint, segments,
};
use parking_lot::Mutex;

use crate::queue::QueueManager;
use crate::write_client::{OutgoingHistogram, OutgoingSample, OutgoingSeries};

/// A record's place in the WAL: segment index and byte offset of its first fragment.
/// Records of a checkpoint are at offset 0 of the checkpoint's index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct WalPosition {
    pub segment: u32,
    pub offset: u64,
}

/// Where a watcher's records go: the remote write queue, or a test's recorder.
pub trait WalSink: Send + Sync + 'static {
    /// Takes the series of one record; blocks while full. `false` when it is full and
    /// `stop` is set, or when the sink stopped (the watcher then ends).
    fn append(&self, batch: Vec<OutgoingSeries>, at: WalPosition, stop: &AtomicBool) -> bool;
    /// The oldest record not yet delivered, `None` when everything was.
    fn oldest_unsent(&self) -> Option<WalPosition>;
    /// Samples of series references the watcher does not know (upstream counts them in
    /// `samples_dropped`).
    fn unknown_series(&self, samples: usize);
}

impl WalSink for QueueManager {
    fn append(&self, batch: Vec<OutgoingSeries>, at: WalPosition, stop: &AtomicBool) -> bool {
        QueueManager::append(self, batch, at, stop)
    }

    fn oldest_unsent(&self) -> Option<WalPosition> {
        QueueManager::oldest_unsent(self)
    }

    fn unknown_series(&self, samples: usize) {
        self.stats()
            .samples_dropped_total
            .fetch_add(samples as u64, Ordering::Relaxed);
    }
}

/// How a watcher reads.
#[derive(Debug, Clone)]
pub struct WatcherOptions {
    /// The `wal` directory of the data directory.
    pub wal_dir: PathBuf,
    /// Where the resume position is kept across restarts; `None` for none.
    pub progress_file: Option<PathBuf>,
    /// Poll interval of the segment being written (upstream: 10 ms).
    pub read_period: Duration,
    /// How often a newer segment is looked for (upstream: 100 ms).
    pub segment_check_period: Duration,
    /// How often a new checkpoint is looked for, to forget series (upstream: 5 s).
    pub checkpoint_period: Duration,
    /// How often the progress file is written.
    pub progress_period: Duration,
}

impl WatcherOptions {
    pub fn new(wal_dir: impl Into<PathBuf>) -> WatcherOptions {
        WatcherOptions {
            wal_dir: wal_dir.into(),
            progress_file: None,
            read_period: Duration::from_millis(10),
            segment_check_period: Duration::from_millis(100),
            checkpoint_period: Duration::from_secs(5),
            progress_period: Duration::from_secs(1),
        }
    }
}

/// Record types counted in `records_read`, by upstream's names.
pub const RECORD_TYPES: [&str; 8] = [
    "series",
    "samples",
    "exemplars",
    "histogram_samples",
    "float_histogram_samples",
    "metadata",
    "tombstones",
    "unknown",
];

/// Counters of one watcher (upstream's `prometheus_wal_watcher_*`, and hearth's own).
#[derive(Debug, Default)]
pub struct WatcherStats {
    /// Per [`RECORD_TYPES`] entry.
    pub records_read: [AtomicU64; 8],
    pub record_decode_failures: AtomicU64,
    pub current_segment: AtomicI64,
    /// Segments deleted by a WAL truncation before the watcher read them.
    pub segments_skipped: AtomicU64,
    /// Finished segments whose end was a torn record, and segments whose rest was
    /// skipped after corruption.
    pub segments_cut_short: AtomicU64,
    /// Series the watcher currently knows.
    pub series: AtomicU64,
}

fn type_slot(t: RecordType) -> usize {
    match t {
        RecordType::Series => 0,
        RecordType::Samples | RecordType::SamplesV2 => 1,
        RecordType::Exemplars => 2,
        RecordType::HistogramSamples
        | RecordType::CustomBucketsHistogramSamples
        | RecordType::HistogramSamplesV2 => 3,
        RecordType::FloatHistogramSamples
        | RecordType::CustomBucketsFloatHistogramSamples
        | RecordType::FloatHistogramSamplesV2 => 4,
        RecordType::Metadata => 5,
        RecordType::Tombstones => 6,
        _ => 7,
    }
}

/// A running watcher; stopping it ends its thread.
pub struct WalWatcher {
    stop: Arc<AtomicBool>,
    thread: Mutex<Option<JoinHandle<()>>>,
    stats: Arc<WatcherStats>,
    shared: Arc<Shared>,
}

impl std::fmt::Debug for WalWatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WalWatcher").finish_non_exhaustive()
    }
}

/// What the thread shares with its handle: where reading has got to, for the last
/// progress write after the queue flushed.
struct Shared {
    read_position: Mutex<Option<WalPosition>>,
    progress_file: Option<PathBuf>,
    sink: Arc<dyn WalSink>,
}

impl Shared {
    /// The position a restart must read from: the oldest undelivered record, else where
    /// reading got to.
    fn resume_position(&self) -> Option<WalPosition> {
        self.sink.oldest_unsent().or(*self.read_position.lock())
    }

    fn save_progress(&self, last: &mut Option<WalPosition>) {
        let (Some(file), Some(p)) = (&self.progress_file, self.resume_position()) else {
            return;
        };
        if *last == Some(p) {
            return;
        }
        match write_progress(file, p) {
            Ok(()) => *last = Some(p),
            Err(e) => {
                tracing::warn!(file = %file.display(), error = %e, "remote write: cannot save WAL progress")
            }
        }
    }
}

impl WalWatcher {
    /// Starts reading `options.wal_dir` into `sink` on a new thread.
    pub fn start(
        name: &str,
        sink: Arc<dyn WalSink>,
        options: WatcherOptions,
    ) -> std::io::Result<WalWatcher> {
        let stop = Arc::new(AtomicBool::new(false));
        let stats = Arc::new(WatcherStats::default());
        let shared = Arc::new(Shared {
            read_position: Mutex::new(None),
            progress_file: options.progress_file.clone(),
            sink,
        });
        let gate = match options.progress_file.as_deref().map(read_progress) {
            Some(Ok(Some(p))) => {
                tracing::info!(
                    remote_name = name,
                    segment = p.segment,
                    offset = p.offset,
                    "remote write: resuming from the WAL position saved at the last stop"
                );
                Gate::From(p)
            }
            Some(Err(e)) => {
                tracing::warn!(remote_name = name, error = %e, "remote write: progress file unreadable, sending only new samples");
                Gate::After(hearth_model::sample::now_ms())
            }
            _ => Gate::After(hearth_model::sample::now_ms()),
        };
        let mut reader = Watcher {
            name: name.to_string(),
            options,
            stats: stats.clone(),
            stop: stop.clone(),
            shared: shared.clone(),
            series: HashMap::new(),
            dec: RecordDecoder::new(),
            gate,
            last_gc_checkpoint: None,
            highest_read: i64::MIN,
            saved: None,
            bufs: Buffers::default(),
            pending: Batch::default(),
        };
        let thread = std::thread::Builder::new()
            .name(format!("wal-watcher-{name}"))
            .spawn(move || reader.run())?;
        tracing::info!(remote_name = name, "starting WAL watcher");
        Ok(WalWatcher {
            stop,
            thread: Mutex::new(Some(thread)),
            stats,
            shared,
        })
    }

    pub fn stats(&self) -> &WatcherStats {
        &self.stats
    }

    /// Ends the thread and waits for it (a few read periods, or up to 100 ms when
    /// blocked on a full queue). The records the current segment holds are read once
    /// more first, into what the queue still has room for. Blocking: call it off the
    /// async runtime.
    pub fn stop(&self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.lock().take() {
            let _ = t.join();
        }
    }

    /// Writes the resume position now (after the queue flushed at shutdown).
    pub fn save_progress(&self) {
        self.shared.save_progress(&mut None);
    }

    /// Writes where reading got to, whatever the queue still holds: for a queue
    /// replaced by one of the same name on reload, which goes on from there while the
    /// old one flushes what it holds.
    pub fn hand_over_progress(&self) {
        let (Some(file), Some(p)) = (
            &self.shared.progress_file,
            *self.shared.read_position.lock(),
        ) else {
            return;
        };
        if let Err(e) = write_progress(file, p) {
            tracing::warn!(file = %file.display(), error = %e, "remote write: cannot save WAL progress");
        }
    }

    /// Removes the progress file: the queue is gone from the configuration, and one
    /// added later starts afresh.
    pub fn forget_progress(&self) {
        if let Some(file) = &self.shared.progress_file
            && let Err(e) = std::fs::remove_file(file)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!(file = %file.display(), error = %e, "remote write: cannot remove WAL progress");
        }
    }
}

/// Which samples are sent.
#[derive(Debug, Clone, Copy)]
enum Gate {
    /// Those with a timestamp after this (ms).
    After(i64),
    /// Those of records at or after this position; then all.
    From(WalPosition),
}

/// Why reading a segment stopped.
enum SegmentEnd {
    /// A later segment exists and this one was read to its end.
    Finished,
    Stopped,
    /// The segment does not exist (any more).
    Missing,
}

#[derive(Default)]
struct Buffers {
    series: Vec<RefSeries>,
    samples: Vec<RefSample>,
    histograms: Vec<RefHistogramSample>,
    float_histograms: Vec<RefFloatHistogramSample>,
    exemplars: Vec<RefExemplar>,
    metadata: Vec<RefMetadata>,
}

struct SeriesEntry {
    labels: Labels,
    metadata: Option<Metadata>,
    /// The last segment (or checkpoint index) that mentioned the series.
    segment: u32,
}

struct Watcher {
    name: String,
    options: WatcherOptions,
    stats: Arc<WatcherStats>,
    stop: Arc<AtomicBool>,
    shared: Arc<Shared>,
    series: HashMap<HeadSeriesRef, SeriesEntry>,
    dec: RecordDecoder,
    gate: Gate,
    last_gc_checkpoint: Option<u32>,
    /// Newest sample timestamp read, for the checkpoint after a truncation jump.
    highest_read: i64,
    saved: Option<WalPosition>,
    bufs: Buffers,
    pending: Batch,
}

impl Watcher {
    fn stopped(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    /// Sleeps `d` unless stopped meanwhile; `false` when stopped.
    fn pause(&self, d: Duration) -> bool {
        let until = Instant::now() + d;
        while !self.stopped() {
            let now = Instant::now();
            if now >= until {
                return true;
            }
            std::thread::sleep((until - now).min(Duration::from_millis(50)));
        }
        false
    }

    fn run(&mut self) {
        let mut skip_checkpoint_before = None;
        while !self.stopped() {
            match self.run_from_checkpoint(skip_checkpoint_before.take()) {
                Ok(None) => break,
                // Truncated past the reader: start again at the checkpoint.
                Ok(Some(at)) => skip_checkpoint_before = Some(at),
                Err(e) => {
                    tracing::error!(remote_name = %self.name, error = %e, "error tailing WAL, retrying in 5s");
                    // Go on from the first record not handed over, not from the start.
                    self.pending = Batch::default();
                    if let Some(p) = *self.shared.read_position.lock() {
                        self.gate = Gate::From(p);
                    }
                    if !self.pause(Duration::from_secs(5)) {
                        break;
                    }
                }
            }
        }
        self.shared.save_progress(&mut self.saved);
        tracing::info!(remote_name = %self.name, "WAL watcher stopped");
    }

    /// Reads the latest checkpoint, then follows the segments after it. `Ok(None)` when
    /// stopped; `Ok(Some(segment))` when `segment` was deleted before it was read.
    /// `jumped_from`: the segment the reader was at when the WAL was truncated past it.
    fn run_from_checkpoint(&mut self, jumped_from: Option<u32>) -> Result<Option<u32>, WalError> {
        let dir = self.options.wal_dir.clone();
        let checkpoint = last_checkpoint(&dir)?;
        let mut first = 0;
        if let Some((cp_dir, index)) = &checkpoint {
            // After a jump, the checkpoint's samples newer than anything read are sent.
            let send_after = jumped_from.map(|_| self.highest_read);
            self.read_checkpoint(cp_dir, *index, send_after)?;
            self.last_gc_checkpoint = Some(*index);
            first = index.saturating_add(1);
            if let Some(from) = jumped_from
                && from <= *index
            {
                let skipped = u64::from(index - from) + 1;
                self.stats
                    .segments_skipped
                    .fetch_add(skipped, Ordering::Relaxed);
                tracing::warn!(remote_name = %self.name, from, checkpoint = index, "WAL truncated past the remote write reader: segments skipped, only the checkpoint's samples are sent");
                self.gate = Gate::From(WalPosition {
                    segment: first,
                    offset: 0,
                });
            }
        }
        let mut current = loop {
            match segments(&dir)? {
                Some((lo, hi)) if hi >= first => break lo.max(first),
                _ => {
                    if !self.pause(self.options.segment_check_period) {
                        return Ok(None);
                    }
                }
            }
        };
        if let Gate::From(p) = self.gate
            && p.segment < current
            && jumped_from.is_none()
        {
            // The saved position is gone (truncated while hearth was down).
            let skipped = u64::from(current - p.segment);
            self.stats
                .segments_skipped
                .fetch_add(skipped, Ordering::Relaxed);
            tracing::warn!(remote_name = %self.name, saved = p.segment, first = current, "segments of the saved remote write position were truncated; sending from the first one left");
        }
        loop {
            self.stats
                .current_segment
                .store(i64::from(current), Ordering::Relaxed);
            match self.watch(current)? {
                SegmentEnd::Stopped => return Ok(None),
                SegmentEnd::Finished => current = current.saturating_add(1),
                SegmentEnd::Missing => return Ok(Some(current)),
            }
        }
    }

    fn read_checkpoint(
        &mut self,
        dir: &Path,
        index: u32,
        send_after: Option<i64>,
    ) -> Result<(), WalError> {
        let mut reader = WalReader::open(dir)?;
        let at = WalPosition {
            segment: index,
            offset: 0,
        };
        // A saved position inside what the checkpoint now covers: send its samples.
        let send_after = match (send_after, self.gate) {
            (Some(t), _) => Some(t),
            (None, Gate::From(p)) if p.segment <= index => Some(i64::MIN),
            (None, Gate::From(_)) => None,
            (None, Gate::After(t)) => Some(t),
        };
        while let Some(rec) = reader.next_record()? {
            let rec = rec.to_vec();
            if !self.process(&rec, at, send_after)? {
                return Ok(());
            }
        }
        self.flush();
        Ok(())
    }

    /// Reads segment `index` until a later one exists.
    fn watch(&mut self, index: u32) -> Result<SegmentEnd, WalError> {
        let dir = self.options.wal_dir.clone();
        let mut reader = match LiveReader::open(&dir, index) {
            Ok(r) => r,
            Err(WalError::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
                return Ok(SegmentEnd::Missing);
            }
            Err(e) => return Err(e),
        };
        let mut last_segment_check = Instant::now();
        let mut last_gc = Instant::now();
        let mut last_progress = Instant::now();
        let mut finished = false;
        loop {
            // Once stopped, what the segment holds is read one last time: the queue
            // takes what fits (and flushes it), the rest stays for the next start.
            let stopping = self.stopped();
            loop {
                let rec = match reader.next_record() {
                    Ok(Some(rec)) => rec.to_vec(),
                    Ok(None) => {
                        if !self.flush() {
                            return Ok(SegmentEnd::Stopped);
                        }
                        break;
                    }
                    Err(e) => {
                        if !self.flush() {
                            return Ok(SegmentEnd::Stopped);
                        }
                        tracing::error!(remote_name = %self.name, error = %e, "WAL segment unreadable; skipping its rest");
                        self.stats
                            .segments_cut_short
                            .fetch_add(1, Ordering::Relaxed);
                        return self.wait_for_next(index);
                    }
                };
                let at = WalPosition {
                    segment: index,
                    offset: reader.record_offset(),
                };
                let send_after = self.send_after(at);
                match self.process(&rec, at, send_after) {
                    Ok(true) => {}
                    Ok(false) => return Ok(SegmentEnd::Stopped),
                    Err(e) => {
                        self.stats
                            .record_decode_failures
                            .fetch_add(1, Ordering::Relaxed);
                        tracing::error!(remote_name = %self.name, error = %e, "WAL record does not decode; skipped");
                    }
                }
                self.note_position(&reader);
            }
            self.note_position(&reader);
            if stopping {
                return Ok(SegmentEnd::Stopped);
            }
            if finished {
                if let Some((offset, len)) = reader.unfinished() {
                    self.stats
                        .segments_cut_short
                        .fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(remote_name = %self.name, segment = index, offset, bytes = len, "WAL segment ends in a torn record; skipped");
                }
                return Ok(SegmentEnd::Finished);
            }
            let now = Instant::now();
            if now - last_gc >= self.options.checkpoint_period {
                last_gc = now;
                if let Err(e) = self.collect_series(index) {
                    tracing::warn!(remote_name = %self.name, error = %e, "reading the new WAL checkpoint failed; series are collected later");
                }
            }
            if now - last_progress >= self.options.progress_period {
                last_progress = now;
                self.shared.save_progress(&mut self.saved);
            }
            if now - last_segment_check >= self.options.segment_check_period {
                last_segment_check = now;
                // A later segment means this one is complete: read what is left of it.
                if later_segment_exists(&dir, index) {
                    finished = true;
                    continue;
                }
            }
            // Stopped meanwhile: the next round reads the rest and ends.
            self.pause(self.options.read_period);
        }
    }

    /// After corruption: waits until the next segment exists.
    fn wait_for_next(&self, index: u32) -> Result<SegmentEnd, WalError> {
        loop {
            if later_segment_exists(&self.options.wal_dir, index) {
                return Ok(SegmentEnd::Finished);
            }
            if !self.pause(self.options.segment_check_period) {
                return Ok(SegmentEnd::Stopped);
            }
        }
    }

    /// The timestamp after which samples of the record at `at` are sent, `None` for none.
    fn send_after(&mut self, at: WalPosition) -> Option<i64> {
        match self.gate {
            Gate::After(t) => Some(t),
            Gate::From(p) if at >= p => {
                self.gate = Gate::After(i64::MIN);
                Some(i64::MIN)
            }
            Gate::From(_) => None,
        }
    }

    /// Upstream's series garbage collection at a new checkpoint.
    fn collect_series(&mut self, current: u32) -> Result<(), WalError> {
        let Some((dir, index)) = last_checkpoint(&self.options.wal_dir)? else {
            return Ok(());
        };
        if self.last_gc_checkpoint == Some(index) || index >= current {
            return Ok(());
        }
        let mut reader = WalReader::open(&dir)?;
        let mut kept = Vec::new();
        while let Some(rec) = reader.next_record()? {
            if RecordType::of(rec) != RecordType::Series {
                continue;
            }
            kept.clear();
            self.dec
                .series(rec, &mut kept)
                .map_err(|source| WalError::Record {
                    record_type: RecordType::Series,
                    segment: index,
                    source,
                })?;
            for s in &kept {
                if let Some(e) = self.series.get_mut(&s.series_ref) {
                    e.segment = e.segment.max(index);
                }
            }
        }
        let before = self.series.len();
        self.series.retain(|_, e| e.segment >= index);
        self.last_gc_checkpoint = Some(index);
        self.stats
            .series
            .store(self.series.len() as u64, Ordering::Relaxed);
        tracing::debug!(remote_name = %self.name, checkpoint = index, forgotten = before - self.series.len(), "series garbage-collected at checkpoint");
        Ok(())
    }

    /// Handles one record; `Ok(false)` when the sink stopped.
    fn process(
        &mut self,
        rec: &[u8],
        at: WalPosition,
        send_after: Option<i64>,
    ) -> Result<bool, WalError> {
        let typ = RecordType::of(rec);
        self.stats.records_read[type_slot(typ)].fetch_add(1, Ordering::Relaxed);
        let err = |source| WalError::Record {
            record_type: typ,
            segment: at.segment,
            source,
        };
        let data = matches!(type_slot(typ), 1..=4);
        if !data && !self.flush() {
            return Ok(false);
        }
        let batch = &mut self.pending;
        if data && batch.at.is_none() {
            batch.at = Some(at);
        }
        match typ {
            RecordType::Series => {
                let mut v = std::mem::take(&mut self.bufs.series);
                v.clear();
                self.dec.series(rec, &mut v).map_err(err)?;
                for s in v.drain(..) {
                    let metadata = self.series.remove(&s.series_ref).and_then(|e| e.metadata);
                    self.series.insert(
                        s.series_ref,
                        SeriesEntry {
                            labels: s.labels,
                            metadata,
                            segment: at.segment,
                        },
                    );
                }
                self.bufs.series = v;
                self.stats
                    .series
                    .store(self.series.len() as u64, Ordering::Relaxed);
            }
            RecordType::Metadata => {
                let mut v = std::mem::take(&mut self.bufs.metadata);
                v.clear();
                self.dec.metadata(rec, &mut v).map_err(err)?;
                for m in v.drain(..) {
                    if let Some(e) = self.series.get_mut(&m.series_ref) {
                        e.metadata = Some(Metadata {
                            metric_type: metric_type_from_wal(m.metric_type),
                            help: m.help,
                            unit: m.unit,
                        });
                    }
                }
                self.bufs.metadata = v;
            }
            RecordType::Samples | RecordType::SamplesV2 => {
                let mut v = std::mem::take(&mut self.bufs.samples);
                v.clear();
                self.dec.samples(rec, &mut v).map_err(err)?;
                for s in &v {
                    self.highest_read = self.highest_read.max(s.t);
                    if send_after.is_some_and(|after| s.t > after)
                        && let Some(o) = batch.series(&self.series, s.series_ref)
                    {
                        o.samples.push(OutgoingSample {
                            st: s.st,
                            t: s.t,
                            v: s.v,
                        });
                    }
                }
                self.bufs.samples = v;
            }
            RecordType::HistogramSamples
            | RecordType::CustomBucketsHistogramSamples
            | RecordType::HistogramSamplesV2
            | RecordType::FloatHistogramSamples
            | RecordType::CustomBucketsFloatHistogramSamples
            | RecordType::FloatHistogramSamplesV2 => {
                let histograms =
                    decode_histograms(&mut self.dec, &mut self.bufs, rec, type_slot(typ) == 4)
                        .map_err(err)?;
                for (series_ref, st, t, h) in histograms {
                    self.highest_read = self.highest_read.max(t);
                    if send_after.is_some_and(|after| t > after)
                        && let Some(o) = batch.series(&self.series, series_ref)
                    {
                        o.histograms.push(OutgoingHistogram { st, t, h });
                    }
                }
            }
            RecordType::Exemplars => {
                let mut v = std::mem::take(&mut self.bufs.exemplars);
                v.clear();
                self.dec.exemplars(rec, &mut v).map_err(err)?;
                for e in v.drain(..) {
                    if send_after.is_some_and(|after| e.t > after)
                        && let Some(o) = batch.series(&self.series, e.series_ref)
                    {
                        o.exemplars.push(Exemplar {
                            labels: e.labels,
                            value: e.v,
                            timestamp: Some(e.t),
                        });
                    }
                }
                self.bufs.exemplars = v;
            }
            _ => {}
        }
        if self.pending.samples >= FLUSH_SAMPLES {
            return Ok(self.flush());
        }
        Ok(true)
    }

    /// Hands the collected records to the sink; `false` when it stopped.
    fn flush(&mut self) -> bool {
        let batch = std::mem::take(&mut self.pending);
        if batch.unknown > 0 {
            self.shared.sink.unknown_series(batch.unknown);
        }
        match batch.at {
            Some(at) if !batch.out.is_empty() => self.shared.sink.append(batch.out, at, &self.stop),
            _ => true,
        }
    }

    /// Where reading got to: the first record not handed to the sink.
    fn note_position(&self, reader: &LiveReader) {
        let p = self.pending.at.unwrap_or(WalPosition {
            segment: reader.segment(),
            offset: reader.offset(),
        });
        *self.shared.read_position.lock() = Some(p);
    }
}

/// Whether the WAL has a segment after `index` (which may itself be gone already).
fn later_segment_exists(dir: &Path, index: u32) -> bool {
    match segments(dir) {
        Ok(Some((_, last))) => last > index,
        _ => false,
    }
}

/// The histograms of an integer or (`float`) float histogram record, as
/// `(ref, st, t, value)`.
fn decode_histograms(
    dec: &mut RecordDecoder,
    bufs: &mut Buffers,
    rec: &[u8],
    float: bool,
) -> Result<Vec<(HeadSeriesRef, i64, i64, HistogramValue)>, hearth_tsdb::wal::RecordError> {
    if float {
        bufs.float_histograms.clear();
        dec.float_histogram_samples(rec, &mut bufs.float_histograms)?;
        return Ok(bufs
            .float_histograms
            .drain(..)
            .map(|s| (s.series_ref, s.st, s.t, HistogramValue::Float(s.fh)))
            .collect());
    }
    bufs.histograms.clear();
    dec.histogram_samples(rec, &mut bufs.histograms)?;
    Ok(bufs
        .histograms
        .drain(..)
        .map(|s| (s.series_ref, s.st, s.t, HistogramValue::Integer(s.h)))
        .collect())
}

/// Samples collected before they are handed over even if more records follow.
const FLUSH_SAMPLES: usize = 5_000;

/// The series of consecutive data records (samples, histograms, exemplars: what one
/// commit logs together), grouped by reference, so that exemplars travel with their
/// samples.
#[derive(Default)]
struct Batch {
    out: Vec<OutgoingSeries>,
    index: HashMap<HeadSeriesRef, usize>,
    unknown: usize,
    /// Position of the first record collected.
    at: Option<WalPosition>,
    samples: usize,
}

impl Batch {
    /// The outgoing series of `r`, `None` (counted) when the reference is unknown.
    fn series(
        &mut self,
        known: &HashMap<HeadSeriesRef, SeriesEntry>,
        r: HeadSeriesRef,
    ) -> Option<&mut OutgoingSeries> {
        self.samples += 1;
        if let Some(&i) = self.index.get(&r) {
            return self.out.get_mut(i);
        }
        let Some(entry) = known.get(&r) else {
            self.unknown += 1;
            return None;
        };
        self.out.push(OutgoingSeries {
            labels: entry.labels.clone(),
            metadata: entry.metadata.clone(),
            ..Default::default()
        });
        self.index.insert(r, self.out.len() - 1);
        self.out.last_mut()
    }
}

/// Reads a progress file: `<segment> <offset>`. `Ok(None)` when there is none.
fn read_progress(path: &Path) -> Result<Option<WalPosition>, String> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("{}: {e}", path.display())),
    };
    let mut fields = text.split_whitespace();
    let mut num = |what: &str| {
        fields
            .next()
            .and_then(|f| f.parse::<u64>().ok())
            .ok_or_else(|| format!("{}: {what} is missing or not a number", path.display()))
    };
    let segment = num("segment")?;
    let offset = num("offset")?;
    let segment = u32::try_from(segment)
        .map_err(|_| format!("{}: segment {segment} out of range", path.display()))?;
    Ok(Some(WalPosition { segment, offset }))
}

/// Writes a progress file atomically (temporary file, rename).
fn write_progress(path: &Path, p: WalPosition) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    std::fs::write(&tmp, format!("{} {}\n", p.segment, p.offset))?;
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_files_round_trip_and_bad_ones_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/q.progress");
        assert_eq!(read_progress(&path), Ok(None));
        let p = WalPosition {
            segment: 7,
            offset: 32_775,
        };
        write_progress(&path, p).unwrap();
        assert_eq!(read_progress(&path), Ok(Some(p)));
        std::fs::write(&path, "7\n").unwrap();
        let e = read_progress(&path).unwrap_err();
        assert!(e.contains("offset is missing"), "{e}");
        std::fs::write(&path, "99999999999 0\n").unwrap();
        assert!(read_progress(&path).unwrap_err().contains("out of range"));
    }
}
