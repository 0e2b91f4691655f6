//! Reading one stored series across the steps of a query, iterating its samples once:
//! [`InstantCursor`] finds the sample an instant selector sees at each step (lookback
//! and staleness), [`RangeWindow`] keeps the samples of a sliding range window.
//!
//! Both only move forward, as the steps of a query do, so every sample is read from the
//! storage iterator at most once; far jumps use the iterator's `seek`.

use std::sync::Arc;

use hearth_model::{FloatHistogram, is_stale_nan};
use hearth_tsdb::storage::{SampleIterator, StorageError, ValueType};

use super::value::{FPoint, HPoint};

/// A sample's value as read from storage.
#[derive(Debug, Clone)]
pub(crate) enum RawValue {
    Float(f64),
    Histogram(Arc<FloatHistogram>),
}

impl RawValue {
    fn is_stale(&self) -> bool {
        match self {
            RawValue::Float(f) => is_stale_nan(*f),
            RawValue::Histogram(h) => is_stale_nan(h.sum),
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct RawSample {
    pub t: i64,
    pub v: RawValue,
    /// Start timestamp (0 when unknown, as upstream).
    pub st: i64,
}

/// A storage iterator with its current sample's time (and float value) at hand, so
/// that readers can look at the next sample without taking it.
pub(crate) struct Reader<'s> {
    it: Box<dyn SampleIterator + 's>,
    /// The type of the current sample; `None` once the iterator is exhausted.
    vt: ValueType,
    /// The current sample's time, and its value when a float.
    t: i64,
    f: f64,
}

impl<'s> Reader<'s> {
    /// A reader not yet positioned: `seek` first.
    pub fn new(it: Box<dyn SampleIterator + 's>) -> Self {
        Reader {
            it,
            vt: ValueType::None,
            t: 0,
            f: 0.0,
        }
    }

    fn load(&mut self, vt: ValueType) -> Result<(), StorageError> {
        self.vt = vt;
        match vt {
            ValueType::Float => (self.t, self.f) = self.it.at(),
            ValueType::None => {
                if let Some(e) = self.it.err() {
                    return Err(e);
                }
            }
            ValueType::Histogram | ValueType::FloatHistogram => self.t = self.it.at_t(),
        }
        Ok(())
    }

    /// Moves to the first sample at or after `t` (never backwards).
    pub fn seek(&mut self, t: i64) -> Result<(), StorageError> {
        let vt = self.it.seek(t);
        self.load(vt)
    }

    /// Moves to the next sample (staying exhausted once exhausted).
    pub fn next(&mut self) -> Result<(), StorageError> {
        if self.vt == ValueType::None {
            return Ok(());
        }
        let vt = self.it.next();
        self.load(vt)
    }

    /// The current sample's time, `None` when exhausted.
    pub fn t(&self) -> Option<i64> {
        (self.vt != ValueType::None).then_some(self.t)
    }

    /// The current sample, `None` when exhausted.
    pub fn sample(&self, with_st: bool) -> Option<RawSample> {
        let v = match self.vt {
            ValueType::None => return None,
            ValueType::Float => RawValue::Float(self.f),
            _ => RawValue::Histogram(Arc::new(self.it.at_float_histogram().1)),
        };
        let st = if with_st {
            self.it.at_st().unwrap_or(0)
        } else {
            0
        };
        Some(RawSample { t: self.t, v, st })
    }
}

/// Finds, for increasing reference times, the latest sample at or before the reference
/// time and within the lookback delta (upstream's `vectorSelectorSingle` over a
/// memoized iterator).
pub(crate) struct InstantCursor<'s> {
    src: Reader<'s>,
    /// The latest sample read with `t <= ` the last reference time.
    last: Option<RawSample>,
    started: bool,
    /// Whether samples' start timestamps are read.
    with_st: bool,
}

impl<'s> InstantCursor<'s> {
    pub fn new(it: Box<dyn SampleIterator + 's>) -> Self {
        InstantCursor {
            src: Reader::new(it),
            last: None,
            started: false,
            with_st: true,
        }
    }

    /// A cursor that leaves start timestamps unread (0).
    pub fn without_start_timestamps(it: Box<dyn SampleIterator + 's>) -> Self {
        let mut c = InstantCursor::new(it);
        c.with_st = false;
        c
    }

    /// The sample seen at `ref_t`: the latest with `ref_t - lookback < t <= ref_t`,
    /// unless it is a staleness marker.
    pub fn at(&mut self, ref_t: i64, lookback: i64) -> Result<Option<&RawSample>, StorageError> {
        let earliest = ref_t - lookback + 1;
        if !self.started {
            self.started = true;
            self.src.seek(earliest)?;
        }
        // Jump over samples that are out of the window anyway.
        if self.src.t().is_some_and(|t| t < earliest) {
            self.last = None;
            self.src.seek(earliest)?;
        }
        while self.src.t().is_some_and(|t| t <= ref_t) {
            self.last = self.src.sample(self.with_st);
            self.src.next()?;
        }
        Ok(match &self.last {
            Some(s) if s.t >= earliest && s.t <= ref_t && !s.v.is_stale() => Some(s),
            _ => None,
        })
    }
}

/// The samples of a sliding window `(mint, maxt]` over one series, staleness markers
/// left out (upstream's `matrixIterSlice` over a buffered iterator).
///
/// The window reads a stored series through its iterator as the window advances, or
/// takes an evaluated series' points whole ([`load_points`](Self::load_points)); its
/// buffers are kept for the next series ([`reuse`](Self::reuse)), so that a range
/// function allocates nothing per series or step. It also notes where float counter
/// resets are, so that `rate` and `increase` need not rescan every window.
#[derive(Default)]
pub(crate) struct RangeWindow<'s> {
    src: Option<Reader<'s>>,
    started: bool,
    floats: Vec<FPoint>,
    /// Start timestamps of `floats`, index for index, once one was seen (`float_sts_on`;
    /// empty before).
    float_sts: Vec<i64>,
    float_sts_on: bool,
    fstart: usize,
    fend: usize,
    hists: Vec<HPoint>,
    hist_sts: Vec<i64>,
    hstart: usize,
    hend: usize,
    /// How many samples in the window have a start timestamp.
    with_st: usize,
    /// Indexes `i` of `floats` with `floats[i].f < floats[i - 1].f`, ascending.
    resets: Vec<u32>,
    rstart: usize,
    rend: usize,
}

impl<'s> RangeWindow<'s> {
    pub fn new(it: Box<dyn SampleIterator + 's>) -> Self {
        RangeWindow {
            src: Some(Reader::new(it)),
            ..RangeWindow::default()
        }
    }

    fn clear(&mut self) {
        self.src = None;
        self.started = false;
        self.floats.clear();
        self.float_sts.clear();
        self.float_sts_on = false;
        self.hists.clear();
        self.hist_sts.clear();
        self.resets.clear();
        (self.fstart, self.fend, self.hstart, self.hend) = (0, 0, 0, 0);
        (self.rstart, self.rend, self.with_st) = (0, 0, 0);
    }

    /// Starts over on another stored series, keeping the buffers.
    pub fn reuse(&mut self, it: Box<dyn SampleIterator + 's>) {
        self.clear();
        self.src = Some(Reader::new(it));
    }

    /// Starts over on the points of an evaluated series (sorted, no staleness markers,
    /// no start timestamps). Returns the previous buffers for the caller to recycle.
    pub fn load_points(
        &mut self,
        floats: Vec<FPoint>,
        hists: Vec<HPoint>,
    ) -> (Vec<FPoint>, Vec<HPoint>) {
        self.clear();
        self.started = true;
        let old_f = std::mem::replace(&mut self.floats, floats);
        let old_h = std::mem::replace(&mut self.hists, hists);
        for i in 1..self.floats.len() {
            if self.floats[i].f < self.floats[i - 1].f {
                self.resets.push(i as u32);
            }
        }
        (old_f, old_h)
    }

    /// Starts over on another stored series, reading all its samples in `(mint, maxt]`
    /// at once (in one pass, without looking back): for windows that together cover
    /// that span, as the windows of a range function do when its range is at least the
    /// query's step.
    pub fn preload(
        &mut self,
        it: Box<dyn SampleIterator + 's>,
        mint: i64,
        maxt: i64,
    ) -> Result<(), StorageError> {
        self.clear();
        let mut src = Reader::new(it);
        if mint < maxt {
            self.read_into(&mut src, mint, maxt)?;
        }
        // Only the samples inside the window count.
        self.with_st = 0;
        self.started = true;
        Ok(())
    }

    fn push_float(&mut self, t: i64, f: f64, st: i64) {
        let i = self.floats.len();
        if i > 0 && f < self.floats[i - 1].f {
            self.resets.push(i as u32);
        }
        self.floats.push(FPoint { t, f });
        if st != 0 {
            self.with_st += 1;
            if !self.float_sts_on {
                self.float_sts_on = true;
                self.float_sts.resize(i, 0);
            }
        }
        if self.float_sts_on {
            self.float_sts.push(st);
        }
    }

    /// Moves the window to `(mint, maxt]`; both bounds must not decrease between calls.
    pub fn advance(&mut self, mint: i64, maxt: i64) -> Result<(), StorageError> {
        while self.fstart < self.fend && self.floats[self.fstart].t <= mint {
            if self.float_sts.get(self.fstart).is_some_and(|st| *st != 0) {
                self.with_st -= 1;
            }
            self.fstart += 1;
        }
        while self.hstart < self.hend && self.hists[self.hstart].t <= mint {
            if self.hist_sts.get(self.hstart).is_some_and(|st| *st != 0) {
                self.with_st -= 1;
            }
            self.hstart += 1;
        }
        if self.src.is_none() {
            // Everything is loaded, only the bounds move.
            let sts_on = self.float_sts_on;
            while self.fstart < self.floats.len() && self.floats[self.fstart].t <= mint {
                self.fstart += 1;
            }
            self.fend = self.fend.max(self.fstart);
            while self.fend < self.floats.len() && self.floats[self.fend].t <= maxt {
                if sts_on && self.float_sts[self.fend] != 0 {
                    self.with_st += 1;
                }
                self.fend += 1;
            }
            while self.hstart < self.hists.len() && self.hists[self.hstart].t <= mint {
                self.hstart += 1;
            }
            self.hend = self.hend.max(self.hstart);
            while self.hend < self.hists.len() && self.hists[self.hend].t <= maxt {
                if self.hist_sts.get(self.hend).is_some_and(|st| *st != 0) {
                    self.with_st += 1;
                }
                self.hend += 1;
            }
            self.move_resets();
            return Ok(());
        }
        self.compact();
        let Some(mut src) = self.src.take() else {
            return Ok(());
        };
        let read = self.read_into(&mut src, mint, maxt);
        self.src = Some(src);
        read?;
        self.fend = self.floats.len();
        self.hend = self.hists.len();
        self.move_resets();
        Ok(())
    }

    fn read_into(
        &mut self,
        src: &mut Reader<'s>,
        mint: i64,
        maxt: i64,
    ) -> Result<(), StorageError> {
        if !self.started {
            self.started = true;
            src.seek(mint + 1)?;
        } else if src.t().is_some_and(|t| t <= mint) {
            src.seek(mint + 1)?;
        }
        if mint < maxt {
            loop {
                let t = match src.vt {
                    ValueType::None => break,
                    _ if src.t > maxt => break,
                    _ => src.t,
                };
                if t > mint {
                    match src.vt {
                        ValueType::Float => {
                            if !is_stale_nan(src.f) {
                                let st = src.it.at_st().unwrap_or(0);
                                let f = src.f;
                                self.push_float(t, f, st);
                            }
                        }
                        _ => {
                            let h = src.it.at_float_histogram().1;
                            if !is_stale_nan(h.sum) {
                                let st = src.it.at_st().unwrap_or(0);
                                if st != 0 {
                                    self.with_st += 1;
                                }
                                self.hists.push(HPoint { t, h: Arc::new(h) });
                                self.hist_sts.push(st);
                            }
                        }
                    }
                }
                src.next()?;
            }
        }
        Ok(())
    }

    /// Keeps `resets[rstart..rend]` to the resets strictly inside the window (both
    /// samples of the pair in it).
    fn move_resets(&mut self) {
        let (lo, hi) = (self.fstart as u32, self.fend as u32);
        while self.rstart < self.resets.len() && self.resets[self.rstart] <= lo {
            self.rstart += 1;
        }
        self.rend = self.rend.max(self.rstart);
        while self.rend < self.resets.len() && self.resets[self.rend] < hi {
            self.rend += 1;
        }
    }

    fn compact(&mut self) {
        if self.fstart > 0 && self.fstart * 2 >= self.floats.len() {
            let n = self.fstart;
            self.floats.drain(..n);
            if self.float_sts_on {
                self.float_sts.drain(..n);
            }
            self.resets.drain(..self.rstart);
            for r in &mut self.resets {
                *r = r.saturating_sub(n as u32);
            }
            self.fstart = 0;
            self.fend -= n;
            self.rend -= self.rstart;
            self.rstart = 0;
        }
        if self.hstart > 0 && self.hstart * 2 >= self.hists.len() {
            self.hists.drain(..self.hstart);
            self.hist_sts.drain(..self.hstart);
            self.hend -= self.hstart;
            self.hstart = 0;
        }
    }

    pub fn floats(&self) -> &[FPoint] {
        &self.floats[self.fstart..self.fend]
    }

    pub fn histograms(&self) -> &[HPoint] {
        &self.hists[self.hstart..self.hend]
    }

    /// Start timestamps of [`floats`](Self::floats), index for index (empty when no
    /// sample read had one).
    pub fn float_start_timestamps(&self) -> &[i64] {
        self.float_sts.get(self.fstart..self.fend).unwrap_or(&[])
    }

    /// Start timestamps of [`histograms`](Self::histograms), index for index.
    pub fn histogram_start_timestamps(&self) -> &[i64] {
        self.hist_sts.get(self.hstart..self.hend).unwrap_or(&[])
    }

    /// Whether any sample in the window has a start timestamp.
    pub fn has_start_timestamps(&self) -> bool {
        self.with_st > 0
    }

    /// The float counter resets inside the window: indexes `r` with
    /// `floats()[r - base].f < floats()[r - base - 1].f`, as `(indexes, base)`.
    pub fn float_resets(&self) -> (&[u32], usize) {
        (&self.resets[self.rstart..self.rend], self.fstart)
    }

    /// When the whole series is loaded (preloaded or evaluated points) and it is all
    /// floats without start timestamps: its floats and counter resets (indexes `i` with
    /// `floats[i].f < floats[i - 1].f`), for windows worked out by the caller.
    pub fn loaded_floats(&self) -> Option<(&[FPoint], &[u32])> {
        (self.src.is_none()
            && self.started
            && self.hists.is_empty()
            && !self.float_sts_on
            && self.fstart == 0
            && self.fend == 0)
            .then_some((&self.floats, &self.resets))
    }

    pub fn is_empty(&self) -> bool {
        self.fstart == self.fend && self.hstart == self.hend
    }
}
