//! [`HeadAppender`]: a transaction on the head.
//!
//! Appends are validated right away against the series' committed state and what this
//! transaction already holds for it, with upstream's rules (out of bounds before the
//! appendable window, out of order, duplicate timestamp with another value, too old for
//! the out-of-order window, histogram validation). Nothing is visible before
//! [`HeadAppender::commit`], which logs every record to the WAL in one batch and only
//! then applies the samples to memory, re-checking each against the series as it is by
//! then (another transaction may have appended meanwhile: such samples are dropped and
//! counted, as upstream does).

use std::sync::Arc;
use std::sync::atomic::Ordering;

use hearth_model::{Exemplar, HistogramValue, Labels, Metadata, Timestamp, is_stale_nan};

use crate::chunkenc::Encoding;
use crate::storage::{AppendError, Appender, SeriesRef};
use crate::wal::record::{
    HistogramSample, RecordEncoder, RefExemplar, RefFloatHistogramSample, RefHistogramSample,
    RefMetadata, RefMmapMarker, RefSample, RefSeries, metric_type_to_wal,
};

use super::chunk_disk::PendingWrite;
use super::exemplars::ExemplarCheck;
use super::isolation::CommitGuard;
use super::series::{
    ChunkLoc, MemSeries, SeriesState, is_stale_histogram, same_histogram, stale_histogram,
};
use super::{HeadShared, stats};

/// The newest sample a series had when a check was made, as far as duplicates go.
#[derive(Debug, Clone, Copy)]
enum LastValue {
    Float(f64),
    Histogram,
    /// Not known without decoding a chunk (only after replay, until the next append).
    Unknown,
}

/// Where a float sample at `t` goes given the series' last in-order sample: `Ok(false)`
/// in order (an identical duplicate included; it is dropped when applied), `Ok(true)`
/// out of order within the window, or why it is refused. Upstream's `appendable`.
fn float_appendable(
    t: i64,
    v: f64,
    last: Option<(i64, LastValue)>,
    head_max_t: i64,
    min_valid_time: i64,
    ooo_window: i64,
) -> Result<bool, AppendError> {
    if t >= min_valid_time {
        let Some((last_t, last_v)) = last else {
            return Ok(false);
        };
        if t > last_t {
            return Ok(false);
        }
        if t == last_t {
            return match last_v {
                LastValue::Float(x) if x.to_bits() == v.to_bits() => Ok(false),
                LastValue::Unknown => Ok(false),
                LastValue::Float(_) | LastValue::Histogram => {
                    Err(AppendError::DuplicateSampleForTimestamp)
                }
            };
        }
    }
    if ooo_window > 0 && t >= head_max_t.saturating_sub(ooo_window) {
        return Ok(true);
    }
    if ooo_window > 0 {
        return Err(AppendError::TooOldSample);
    }
    if t < min_valid_time {
        return Err(AppendError::OutOfBounds);
    }
    Err(AppendError::OutOfOrderSample)
}

/// The committed last in-order sample of a series.
fn committed_last(st: &SeriesState) -> Option<(i64, LastValue)> {
    let t = st.max_time();
    if t == i64::MIN {
        return None;
    }
    let v = match (st.last_float(), st.last_histogram()) {
        (Some((lt, v)), _) if lt == t => LastValue::Float(v),
        (_, Some(_)) if st.is_histogram() == Some(true) => LastValue::Histogram,
        _ => LastValue::Unknown,
    };
    Some((t, v))
}

/// What this transaction holds for a series.
struct Touched {
    /// Dropped by the commit right after the series' last sample, while it is in cache.
    series: Option<Arc<MemSeries>>,
    series_ref: SeriesRef,
    /// Newest in-order sample pending in this transaction: time and value (a float, or
    /// the index of a pending histogram).
    last: Option<(i64, PendingValue)>,
    /// Samples pending for it; the commit releases the series after the last one.
    samples: u32,
    /// This transaction counts in the series' `pending_appenders`.
    counted: bool,
}

#[derive(Debug, Clone, Copy)]
enum PendingValue {
    Float(f64),
    Histogram(usize),
}

struct PendingHistogram {
    /// Index into `touched`.
    owner: u32,
    t: i64,
    h: HistogramValue,
}

/// The growable parts of an appender, reused by the next one (as upstream pools them):
/// a scrape of 10k series should not grow them from nothing every time.
#[derive(Default)]
pub(crate) struct AppendBuffers {
    floats: Vec<RefSample>,
    float_owner: Vec<u32>,
    touched: Vec<Touched>,
    wal: Vec<u8>,
}

/// Buffers larger than this are dropped rather than pooled.
const MAX_POOLED_SAMPLES: usize = 1 << 20;
/// Buffers kept for reuse at most.
const MAX_POOLED: usize = 16;

/// A transaction on the head; see the module documentation.
pub struct HeadAppender<'a> {
    head: &'a HeadShared,
    min_valid_time: i64,
    head_max_t: i64,
    ooo_window: i64,
    new_series: Vec<RefSeries>,
    floats: Vec<RefSample>,
    /// Index into `touched` of each float sample's series.
    float_owner: Vec<u32>,
    histograms: Vec<PendingHistogram>,
    exemplars: Vec<(Arc<MemSeries>, Exemplar, i64)>,
    metadata: Vec<(Arc<MemSeries>, Metadata)>,
    touched: Vec<Touched>,
    wal_buf: Vec<u8>,
    /// Marks the series this transaction touched (see `SeriesState::pending_owner`).
    id: u32,
    finished: bool,
}

impl<'a> HeadAppender<'a> {
    pub(crate) fn new(head: &'a HeadShared) -> HeadAppender<'a> {
        head.metrics
            .active_appenders
            .fetch_add(1, Ordering::Relaxed);
        let b = head.append_pool.lock().pop().unwrap_or_default();
        HeadAppender {
            head,
            min_valid_time: head.appendable_min_valid_time(),
            head_max_t: head.max_time.load(Ordering::Acquire),
            ooo_window: head.opts.out_of_order_time_window,
            new_series: Vec::new(),
            floats: b.floats,
            float_owner: b.float_owner,
            histograms: Vec::new(),
            exemplars: Vec::new(),
            metadata: Vec::new(),
            touched: b.touched,
            wal_buf: b.wal,
            id: head
                .next_appender_id
                .fetch_add(1, Ordering::Relaxed)
                .wrapping_add(1),
            finished: false,
        }
    }

    /// The series of an append: by cached reference, else by labels (created if new).
    fn resolve(
        &mut self,
        r: Option<SeriesRef>,
        labels: &Labels,
    ) -> Result<Arc<MemSeries>, AppendError> {
        if let Some(s) = r.and_then(|r| self.head.series.get_by_ref(r)) {
            return Ok(s);
        }
        if labels.is_empty() {
            return Err(AppendError::EmptyLabels);
        }
        let (s, created) = self.head.get_or_create(labels, true)?;
        if created {
            self.new_series.push(RefSeries {
                series_ref: s.series_ref,
                labels: labels.clone(),
            });
        }
        Ok(s)
    }

    /// A series that must exist already (for exemplars and metadata), by reference or
    /// labels.
    fn existing_series(
        &self,
        r: SeriesRef,
        labels: &Labels,
    ) -> Result<Arc<MemSeries>, AppendError> {
        match self.head.series.get_by_ref(r) {
            Some(s) => Ok(s),
            None => self
                .head
                .series
                .get_by_labels(labels.hash(), labels)
                .ok_or(AppendError::UnknownSeriesRef(r)),
        }
    }

    /// This transaction's entry for `series` (locked as `st`), made on first use. The
    /// series remembers the entry, so no map of the transaction's series is needed.
    fn mark(&mut self, series: &Arc<MemSeries>, st: &mut SeriesState) -> usize {
        let i = st.pending_index as usize;
        let mine = st.pending_owner == self.id
            && self
                .touched
                .get(i)
                .and_then(|t| t.series.as_ref())
                .is_some_and(|s| Arc::ptr_eq(s, series));
        if mine {
            return i;
        }
        let i = self.touched.len();
        self.touched.push(Touched {
            series: Some(series.clone()),
            series_ref: series.series_ref,
            last: None,
            samples: 0,
            counted: true,
        });
        // Garbage collection must not remove the series under this transaction.
        st.pending_appenders += 1;
        st.pending_owner = self.id;
        st.pending_index = i as u32;
        i
    }

    /// Adds a float sample; see [`Appender::append`].
    pub fn append(
        &mut self,
        r: Option<SeriesRef>,
        labels: &Labels,
        t: Timestamp,
        v: f64,
    ) -> Result<SeriesRef, AppendError> {
        let head = self.head;
        let m = &head.metrics;
        if self.ooo_window == 0 && t < self.min_valid_time {
            stats::inc(&m.out_of_bound_float);
            return Err(AppendError::OutOfBounds);
        }
        let series = self.resolve(r, labels)?;
        let sref = series.series_ref;
        let (head_max_t, min_valid, window) =
            (self.head_max_t, self.min_valid_time, self.ooo_window);
        let (idx, committed, series_is_histogram, last_hist) = {
            let mut st = series.state.lock();
            let idx = self.mark(&series, &mut st);
            let hist = st.is_histogram();
            let last_hist = if hist == Some(true) && is_stale_nan(v) {
                st.last_histogram().cloned()
            } else {
                None
            };
            (idx, committed_last(&st), hist, last_hist)
        };
        drop(series);
        let pending_last = self.touched[idx].last;
        let pending_hist = match pending_last {
            Some((_, PendingValue::Histogram(i))) => Some(i),
            Some((_, PendingValue::Float(_))) => None,
            None if series_is_histogram == Some(true) => Some(usize::MAX),
            None => None,
        };
        if is_stale_nan(v)
            && let Some(i) = pending_hist
        {
            // A staleness marker of a histogram series is a histogram one.
            let like = self
                .histograms
                .get(i)
                .map(|h| h.h.clone())
                .or(last_hist)
                .unwrap_or(HistogramValue::Integer(Default::default()));
            return self.append_histogram(Some(sref), labels, t, &stale_histogram(&like));
        }
        let last = match pending_last {
            Some((lt, PendingValue::Float(x))) => Some((lt, LastValue::Float(x))),
            Some((lt, PendingValue::Histogram(_))) => Some((lt, LastValue::Histogram)),
            None => committed,
        };
        let ooo = match float_appendable(t, v, last, head_max_t, min_valid, window) {
            Ok(ooo) => ooo,
            Err(e) => {
                match e {
                    AppendError::OutOfOrderSample => stats::inc(&m.out_of_order_float),
                    AppendError::TooOldSample => stats::inc(&m.too_old_float),
                    AppendError::OutOfBounds => stats::inc(&m.out_of_bound_float),
                    _ => {}
                }
                return Err(e);
            }
        };
        let touched = &mut self.touched[idx];
        if !ooo {
            if pending_last.is_some_and(|(lt, _)| lt == t) {
                // An identical duplicate of a pending sample: nothing to add.
                return Ok(sref);
            }
            touched.last = Some((t, PendingValue::Float(v)));
        }
        touched.samples += 1;
        self.floats.push(RefSample {
            series_ref: sref,
            st: 0,
            t,
            v,
        });
        self.float_owner.push(idx as u32);
        Ok(sref)
    }

    /// Adds a native histogram sample; see [`Appender::append_histogram`].
    pub fn append_histogram(
        &mut self,
        r: Option<SeriesRef>,
        labels: &Labels,
        t: Timestamp,
        h: &HistogramValue,
    ) -> Result<SeriesRef, AppendError> {
        let head = self.head;
        let m = &head.metrics;
        if t < self.min_valid_time {
            stats::inc(&m.out_of_bound_histogram);
            return Err(AppendError::OutOfBounds);
        }
        if !is_stale_histogram(h) {
            let valid = match h {
                HistogramValue::Integer(h) => h.validate(),
                HistogramValue::Float(f) => f.validate(),
            };
            valid.map_err(|e| AppendError::InvalidHistogram(e.to_string()))?;
        }
        let series = self.resolve(r, labels)?;
        let sref = series.series_ref;
        let (idx, committed_t, committed_same) = {
            let mut st = series.state.lock();
            let idx = self.mark(&series, &mut st);
            let ct = st.max_time();
            let same = (ct == t).then(|| match st.last_histogram() {
                Some(last) if st.is_histogram() == Some(true) => same_histogram(last, h),
                _ => false,
            });
            (idx, ct, same)
        };
        drop(series);
        let pending_last = self.touched[idx].last;
        let (last_t, same) = match pending_last {
            Some((lt, PendingValue::Histogram(i))) => (
                lt,
                (lt == t).then(|| {
                    self.histograms
                        .get(i)
                        .is_some_and(|p| same_histogram(&p.h, h))
                }),
            ),
            Some((lt, PendingValue::Float(_))) => (lt, (lt == t).then_some(false)),
            None => (committed_t, committed_same),
        };
        if last_t != i64::MIN {
            if t < last_t {
                stats::inc(&m.out_of_order_histogram);
                return Err(AppendError::OutOfOrderSample);
            }
            match same {
                Some(true) => return Ok(sref),
                Some(false) => return Err(AppendError::DuplicateSampleForTimestamp),
                None => {}
            }
        }
        let touched = &mut self.touched[idx];
        touched.last = Some((t, PendingValue::Histogram(self.histograms.len())));
        touched.samples += 1;
        self.histograms.push(PendingHistogram {
            owner: idx as u32,
            t,
            h: h.clone(),
        });
        Ok(sref)
    }

    /// Attaches an exemplar; see [`Appender::append_exemplar`]. Without a timestamp it
    /// takes the time of the series' newest sample.
    pub fn append_exemplar(
        &mut self,
        r: SeriesRef,
        labels: &Labels,
        e: &Exemplar,
    ) -> Result<SeriesRef, AppendError> {
        if self.head.exemplars.capacity() == 0 {
            return Ok(r);
        }
        let series = self.existing_series(r, labels)?;
        let pending_t = {
            let st = series.state.lock();
            let t = self.touched.get(st.pending_index as usize);
            t.filter(|t| st.pending_owner == self.id && t.series_ref == series.series_ref)
                .and_then(|t| t.last.map(|l| l.0))
        };
        let t = match (e.timestamp, pending_t) {
            (Some(t), _) | (None, Some(t)) => t,
            (None, None) => {
                let max = series.state.lock().max_time();
                if max == i64::MIN {
                    return Err(AppendError::ExemplarWithoutTimestamp);
                }
                max
            }
        };
        match self.head.exemplars.validate(&series.labels, e, t)? {
            ExemplarCheck::Duplicate => return Ok(series.series_ref),
            ExemplarCheck::Ok => {}
        }
        let sref = series.series_ref;
        self.exemplars.push((series, e.clone(), t));
        Ok(sref)
    }

    /// Records metadata of a series; only changes are logged.
    pub fn update_metadata(
        &mut self,
        r: SeriesRef,
        labels: &Labels,
        m: &Metadata,
    ) -> Result<SeriesRef, AppendError> {
        let series = self.existing_series(r, labels)?;
        let changed = series
            .state
            .lock()
            .extra
            .as_ref()
            .and_then(|e| e.metadata.as_ref())
            != Some(m);
        if changed {
            self.metadata.push((series.clone(), m.clone()));
        }
        Ok(series.series_ref)
    }

    fn is_empty(&self) -> bool {
        self.new_series.is_empty()
            && self.floats.is_empty()
            && self.histograms.is_empty()
            && self.exemplars.is_empty()
            && self.metadata.is_empty()
    }

    /// Logs the transaction to the WAL, then makes it visible at once.
    pub fn commit(mut self) -> Result<(), AppendError> {
        let r = self.commit_inner();
        self.finish();
        r
    }

    /// Discards the transaction. Series it created stay (they are in the index already)
    /// and are logged, so that references handed out remain valid after a restart.
    pub fn rollback(mut self) -> Result<(), AppendError> {
        let r = self.log_series_only();
        self.finish();
        r
    }

    fn log_series_only(&mut self) -> Result<(), AppendError> {
        let (Some(wal), false) = (&self.head.wal, self.new_series.is_empty()) else {
            return Ok(());
        };
        let mut buf = Vec::new();
        RecordEncoder::default().series(&self.new_series, &mut buf);
        wal.lock()
            .log(&[&buf])
            .map_err(|e| AppendError::Io(format!("log series: {e}")))
    }

    /// Releases the series this transaction held.
    fn finish(&mut self) {
        if self.finished {
            return;
        }
        self.finished = true;
        for t in &mut self.touched {
            if t.counted
                && let Some(s) = &t.series
            {
                let mut st = s.state.lock();
                st.pending_appenders = st.pending_appenders.saturating_sub(1);
                t.counted = false;
            }
        }
        self.head
            .metrics
            .active_appenders
            .fetch_sub(1, Ordering::Relaxed);
        if self.floats.capacity() <= MAX_POOLED_SAMPLES {
            let mut b = AppendBuffers {
                floats: std::mem::take(&mut self.floats),
                float_owner: std::mem::take(&mut self.float_owner),
                touched: std::mem::take(&mut self.touched),
                wal: std::mem::take(&mut self.wal_buf),
            };
            b.floats.clear();
            b.float_owner.clear();
            b.touched.clear();
            b.wal.clear();
            let mut pool = self.head.append_pool.lock();
            if pool.len() < MAX_POOLED {
                pool.push(b);
            }
        }
    }

    /// Encodes every record of the transaction and logs them as one batch.
    fn log(&mut self) -> Result<(), AppendError> {
        let Some(wal) = &self.head.wal else {
            return Ok(());
        };
        let enc = RecordEncoder::default();
        let mut buf = std::mem::take(&mut self.wal_buf);
        buf.clear();
        let mut bounds = Vec::with_capacity(6);
        let mut add = |buf: &mut Vec<u8>, f: &mut dyn FnMut(&mut Vec<u8>)| {
            let start = buf.len();
            f(buf);
            if buf.len() > start {
                bounds.push((start, buf.len()));
            }
        };
        if !self.new_series.is_empty() {
            add(&mut buf, &mut |b| enc.series(&self.new_series, b));
        }
        if !self.metadata.is_empty() {
            let md: Vec<RefMetadata> = self
                .metadata
                .iter()
                .map(|(s, m)| RefMetadata {
                    series_ref: s.series_ref,
                    metric_type: metric_type_to_wal(m.metric_type),
                    unit: m.unit.clone(),
                    help: m.help.clone(),
                })
                .collect();
            add(&mut buf, &mut |b| enc.metadata(&md, b));
        }
        if !self.floats.is_empty() {
            add(&mut buf, &mut |b| enc.samples(&self.floats, b));
        }
        let (mut ints, mut floats) = (Vec::new(), Vec::new());
        for p in &self.histograms {
            let series_ref = self.touched[p.owner as usize].series_ref;
            match &p.h {
                HistogramValue::Integer(h) => ints.push(RefHistogramSample {
                    series_ref,
                    st: 0,
                    t: p.t,
                    h: h.clone(),
                }),
                HistogramValue::Float(fh) => floats.push(RefFloatHistogramSample {
                    series_ref,
                    st: 0,
                    t: p.t,
                    fh: fh.clone(),
                }),
            }
        }
        add_histograms(&mut add, &mut buf, enc, &ints);
        add_histograms(&mut add, &mut buf, enc, &floats);
        // After the samples, as upstream: readers of the WAL (remote write) see the
        // series' samples before its exemplars.
        if !self.exemplars.is_empty() {
            let ex: Vec<RefExemplar> = self
                .exemplars
                .iter()
                .map(|(s, e, t)| RefExemplar {
                    series_ref: s.series_ref,
                    t: *t,
                    v: e.value,
                    labels: e.labels.clone(),
                })
                .collect();
            add(&mut buf, &mut |b| enc.exemplars(&ex, b));
        }
        let recs: Vec<&[u8]> = bounds.iter().map(|&(s, e)| &buf[s..e]).collect();
        let r = wal
            .lock()
            .log(&recs)
            .map_err(|e| AppendError::Io(format!("write to WAL: {e}")));
        drop(recs);
        self.wal_buf = buf;
        r
    }

    fn commit_inner(&mut self) -> Result<(), AppendError> {
        if self.is_empty() {
            return Ok(());
        }
        self.log()?;
        let head = self.head;
        let guard = head.isolation.begin_commit();
        let mut apply = Apply {
            head,
            guard: &guard,
            in_min: i64::MAX,
            in_max: i64::MIN,
            ooo_min: i64::MAX,
            ooo_max: i64::MIN,
            wbl: WblRecords::default(),
        };
        let m = &head.metrics;
        let (mut floats_ok, mut ooo_ok) = (0u64, 0u64);
        for (s, &owner) in self.floats.iter().zip(&self.float_owner) {
            let Touched {
                series: Some(series),
                samples,
                counted,
                ..
            } = &mut self.touched[owner as usize]
            else {
                continue;
            };
            let mut st = series.state.lock();
            let placement = float_appendable(
                s.t,
                s.v,
                committed_last(&st),
                self.head_max_t,
                self.min_valid_time,
                self.ooo_window,
            );
            match placement {
                Ok(false) => {
                    apply.mark_commit(series, &mut st);
                    if let Ok(out) = st.append_float(s.t, s.v, head.chunk_opts) {
                        floats_ok += 1;
                        apply.in_min = apply.in_min.min(s.t);
                        apply.in_max = apply.in_max.max(s.t);
                        head.note_chunks(series, &mut st, out);
                    }
                }
                Ok(true) => {
                    if apply.insert_ooo(series, &mut st, *s) {
                        floats_ok += 1;
                        ooo_ok += 1;
                    }
                }
                Err(AppendError::OutOfOrderSample) => stats::inc(&m.out_of_order_float),
                Err(AppendError::TooOldSample) => stats::inc(&m.too_old_float),
                Err(AppendError::OutOfBounds) => stats::inc(&m.out_of_bound_float),
                Err(_) => {}
            }
            if release_after_last(samples, counted, &mut st) {
                drop(st);
                self.touched[owner as usize].series = None;
            }
        }
        let mut hists_ok = 0u64;
        for p in &self.histograms {
            let Touched {
                series: Some(series),
                samples,
                counted,
                ..
            } = &mut self.touched[p.owner as usize]
            else {
                continue;
            };
            let mut st = series.state.lock();
            if p.t <= st.max_time() {
                if p.t < st.max_time() {
                    stats::inc(&m.out_of_order_histogram);
                }
            } else {
                apply.mark_commit(series, &mut st);
                if let Ok(out) = st.append_histogram(p.t, &p.h, head.chunk_opts) {
                    hists_ok += 1;
                    apply.in_min = apply.in_min.min(p.t);
                    apply.in_max = apply.in_max.max(p.t);
                    head.note_chunks(series, &mut st, out);
                }
            }
            if release_after_last(samples, counted, &mut st) {
                drop(st);
                self.touched[p.owner as usize].series = None;
            }
        }
        for (series, md) in &self.metadata {
            series.state.lock().extra_mut().metadata = Some(md.clone());
        }
        for (series, e, t) in &self.exemplars {
            // Out-of-order ones were reported at append; a racing transaction is the
            // only way to get one here, and upstream ignores those too.
            let _ = head.exemplars.add(&series.labels, e, *t);
        }
        head.update_min_max_time(apply.in_min, apply.in_max);
        head.update_ooo_min_max_time(apply.ooo_min, apply.ooo_max);
        stats::add(&m.float_samples_appended, floats_ok);
        stats::add(&m.histogram_samples_appended, hists_ok);
        stats::add(&m.out_of_order_samples_appended, ooo_ok);
        let wbl = std::mem::take(&mut apply.wbl);
        drop(guard);
        wbl.log(head);
        if head.mmap_due()
            && let Err(e) = head.mmap_head_chunks()
        {
            tracing::error!(error = %e, "writing head chunks to disk failed; they stay in memory");
        }
        Ok(())
    }
}

/// Adds the records of `items` (exponential-bucket and custom-bucket ones apart, as
/// upstream writes them) through `add`.
fn add_histograms<S: HistogramSample>(
    add: &mut impl FnMut(&mut Vec<u8>, &mut dyn FnMut(&mut Vec<u8>)),
    buf: &mut Vec<u8>,
    enc: RecordEncoder,
    items: &[S],
) {
    if items.is_empty() {
        return;
    }
    let mut custom = false;
    add(buf, &mut |b| custom = enc.histograms(items, b));
    if custom {
        add(buf, &mut |b| enc.custom_bucket_histograms(items, b));
    }
}

/// Releases the series once its last pending sample is applied, under the same lock;
/// returns whether that was the last one.
fn release_after_last(samples: &mut u32, counted: &mut bool, st: &mut SeriesState) -> bool {
    *samples = samples.saturating_sub(1);
    if *samples > 0 {
        return false;
    }
    if *counted {
        st.pending_appenders = st.pending_appenders.saturating_sub(1);
        *counted = false;
    }
    true
}

/// Bookkeeping while a commit applies its samples.
struct Apply<'h, 'g> {
    head: &'h HeadShared,
    guard: &'g CommitGuard<'g>,
    in_min: i64,
    in_max: i64,
    ooo_min: i64,
    ooo_max: i64,
    wbl: WblRecords,
}

impl Apply<'_, '_> {
    /// Before the first in-order append of this commit to a series: remember its state
    /// before the commit for older queriers.
    fn mark_commit(&self, series: &MemSeries, st: &mut SeriesState) {
        if st.commit_id == self.guard.id {
            return;
        }
        self.head.isolation.record_superseded(
            self.guard,
            series.series_ref,
            (st.commit_id, st.prev_maxt),
        );
        st.prev_maxt = st.max_time();
        st.commit_id = self.guard.id;
    }

    /// Inserts an out-of-order sample; a full buffer becomes a chunk, written at once
    /// when there is a WBL so that its m-map marker can name it.
    fn insert_ooo(&mut self, series: &Arc<MemSeries>, st: &mut SeriesState, s: RefSample) -> bool {
        let head = self.head;
        let cap = head.opts.out_of_order_cap_max.max(1);
        let o = st.ooo.get_or_insert_with(Default::default);
        let created = o.head.is_empty();
        if !o.insert(s.t, s.v) {
            return false;
        }
        if created {
            head.metrics.chunks.fetch_add(1, Ordering::Relaxed);
            stats::inc(&head.metrics.chunks_created);
        }
        self.ooo_min = self.ooo_min.min(s.t);
        self.ooo_max = self.ooo_max.max(s.t);
        self.wbl.samples.push(s);
        if o.head.len() < cap {
            return true;
        }
        let Some(idx) = o.cut() else {
            return true;
        };
        let mut bytes = 0;
        if head.wbl.is_some()
            && let Some(c) = o.chunks.get_mut(idx)
            && let ChunkLoc::Memory(chunk) = &c.loc
        {
            bytes = chunk.bytes().len();
            let written = head.chunk_disk.write([PendingWrite {
                series_ref: series.series_ref,
                min_time: c.min_time,
                max_time: c.max_time,
                encoding: Encoding::Xor,
                data: chunk.bytes(),
                out_of_order: true,
            }]);
            match written.as_deref() {
                Ok([r]) => {
                    c.loc = ChunkLoc::Written(chunk.clone(), *r);
                    self.wbl.marker(series.series_ref, *r);
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::error!(error = %e, "writing an out-of-order chunk failed; it stays in memory");
                }
            }
        }
        head.queue_series(series, st, bytes);
        true
    }
}

/// Out-of-order records for the WBL, in the order upstream writes them: the samples that
/// went into a chunk, then the chunk's m-map marker, then later samples.
#[derive(Default)]
struct WblRecords {
    records: Vec<Vec<u8>>,
    samples: Vec<RefSample>,
}

impl WblRecords {
    fn flush_samples(&mut self) {
        if !self.samples.is_empty() {
            let mut b = Vec::new();
            RecordEncoder::default().samples(&self.samples, &mut b);
            self.records.push(b);
            self.samples.clear();
        }
    }

    fn marker(&mut self, series_ref: SeriesRef, r: crate::chunks::HeadChunkRef) {
        self.flush_samples();
        let mut b = Vec::new();
        RecordEncoder::default().mmap_markers(
            &[RefMmapMarker {
                series_ref,
                mmap_ref: super::marker_ref(r),
            }],
            &mut b,
        );
        self.records.push(b);
    }

    /// Best effort, as upstream: the samples are in memory already.
    fn log(mut self, head: &HeadShared) {
        self.flush_samples();
        let Some(wbl) = &head.wbl else {
            return;
        };
        if self.records.is_empty() {
            return;
        }
        let recs: Vec<&[u8]> = self.records.iter().map(Vec::as_slice).collect();
        if let Err(e) = wbl.lock().log(&recs) {
            tracing::error!(error = %e, "failed to log out-of-order samples to the WBL");
        }
    }
}

impl Drop for HeadAppender<'_> {
    fn drop(&mut self) {
        if !self.finished {
            if let Err(e) = self.log_series_only() {
                tracing::error!(error = %e, "logging series of a dropped transaction failed");
            }
            self.finish();
        }
    }
}

impl Appender for HeadAppender<'_> {
    fn append(
        &mut self,
        series: Option<SeriesRef>,
        labels: &Labels,
        t: Timestamp,
        v: f64,
    ) -> Result<SeriesRef, AppendError> {
        HeadAppender::append(self, series, labels, t, v)
    }

    fn append_histogram(
        &mut self,
        series: Option<SeriesRef>,
        labels: &Labels,
        t: Timestamp,
        h: &HistogramValue,
    ) -> Result<SeriesRef, AppendError> {
        HeadAppender::append_histogram(self, series, labels, t, h)
    }

    fn append_exemplar(
        &mut self,
        series: SeriesRef,
        labels: &Labels,
        e: &Exemplar,
    ) -> Result<SeriesRef, AppendError> {
        HeadAppender::append_exemplar(self, series, labels, e)
    }

    fn update_metadata(
        &mut self,
        series: SeriesRef,
        labels: &Labels,
        m: &Metadata,
    ) -> Result<SeriesRef, AppendError> {
        HeadAppender::update_metadata(self, series, labels, m)
    }

    fn commit(self: Box<Self>) -> Result<(), AppendError> {
        HeadAppender::commit(*self)
    }

    fn rollback(self: Box<Self>) -> Result<(), AppendError> {
        HeadAppender::rollback(*self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn appendable_follows_upstream() {
        let last = Some((100, LastValue::Float(1.0)));
        let f = |t, v, w| float_appendable(t, v, last, 100, 50, w);
        assert_eq!(f(101, 2.0, 0), Ok(false));
        assert_eq!(f(100, 1.0, 0), Ok(false));
        assert_eq!(
            f(100, 2.0, 0),
            Err(AppendError::DuplicateSampleForTimestamp)
        );
        assert_eq!(f(90, 2.0, 0), Err(AppendError::OutOfOrderSample));
        assert_eq!(f(40, 2.0, 0), Err(AppendError::OutOfBounds));
        assert_eq!(f(90, 2.0, 20), Ok(true));
        assert_eq!(f(70, 2.0, 20), Err(AppendError::TooOldSample));
        assert_eq!(
            float_appendable(5, 1.0, None, 100, 50, 0),
            Err(AppendError::OutOfBounds)
        );
        assert_eq!(float_appendable(60, 1.0, None, 100, 50, 0), Ok(false));
    }
}
