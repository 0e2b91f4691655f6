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

/// Reads samples one by one from a storage iterator.
pub(crate) struct SampleSource<'s> {
    it: Box<dyn SampleIterator + 's>,
    done: bool,
}

impl<'s> SampleSource<'s> {
    pub fn new(it: Box<dyn SampleIterator + 's>) -> Self {
        SampleSource { it, done: false }
    }

    fn read(&mut self, vt: ValueType) -> Result<Option<RawSample>, StorageError> {
        let v = match vt {
            ValueType::None => {
                self.done = true;
                if let Some(e) = self.it.err() {
                    return Err(e);
                }
                return Ok(None);
            }
            ValueType::Float => {
                let (t, f) = self.it.at();
                (t, RawValue::Float(f))
            }
            ValueType::Histogram | ValueType::FloatHistogram => {
                let (t, h) = self.it.at_float_histogram();
                (t, RawValue::Histogram(Arc::new(h)))
            }
        };
        Ok(Some(RawSample {
            t: v.0,
            v: v.1,
            st: self.it.at_st().unwrap_or(0),
        }))
    }

    pub fn next(&mut self) -> Result<Option<RawSample>, StorageError> {
        if self.done {
            return Ok(None);
        }
        let vt = self.it.next();
        self.read(vt)
    }

    /// The first sample at or after `t` (never moving backwards).
    pub fn seek(&mut self, t: i64) -> Result<Option<RawSample>, StorageError> {
        if self.done {
            return Ok(None);
        }
        let vt = self.it.seek(t);
        self.read(vt)
    }
}

/// Finds, for increasing reference times, the latest sample at or before the reference
/// time and within the lookback delta (upstream's `vectorSelectorSingle` over a
/// memoized iterator).
pub(crate) struct InstantCursor<'s> {
    src: SampleSource<'s>,
    /// The latest sample read with `t <= ` the last reference time.
    last: Option<RawSample>,
    /// The first sample read after the last reference time.
    ahead: Option<RawSample>,
    started: bool,
}

impl<'s> InstantCursor<'s> {
    pub fn new(it: Box<dyn SampleIterator + 's>) -> Self {
        InstantCursor {
            src: SampleSource::new(it),
            last: None,
            ahead: None,
            started: false,
        }
    }

    /// The sample seen at `ref_t`: the latest with `ref_t - lookback < t <= ref_t`,
    /// unless it is a staleness marker.
    pub fn at(&mut self, ref_t: i64, lookback: i64) -> Result<Option<&RawSample>, StorageError> {
        let earliest = ref_t - lookback + 1;
        if !self.started {
            self.started = true;
            self.ahead = self.src.seek(earliest)?;
        }
        // Jump over samples that are out of the window anyway.
        if let Some(a) = &self.ahead
            && a.t < earliest
        {
            self.last = None;
            self.ahead = self.src.seek(earliest)?;
        }
        while let Some(a) = &self.ahead {
            if a.t > ref_t {
                break;
            }
            self.last = self.ahead.take();
            self.ahead = self.src.next()?;
        }
        Ok(match &self.last {
            Some(s) if s.t >= earliest && s.t <= ref_t && !s.v.is_stale() => Some(s),
            _ => None,
        })
    }
}

/// The samples of a sliding window `(mint, maxt]` over one series, staleness markers
/// left out (upstream's `matrixIterSlice` over a buffered iterator).
pub(crate) struct RangeWindow<'s> {
    src: SampleSource<'s>,
    ahead: Option<RawSample>,
    started: bool,
    floats: Vec<FPoint>,
    float_sts: Vec<i64>,
    fstart: usize,
    hists: Vec<HPoint>,
    hist_sts: Vec<i64>,
    hstart: usize,
    /// How many samples in the window have a start timestamp.
    with_st: usize,
}

impl<'s> RangeWindow<'s> {
    pub fn new(it: Box<dyn SampleIterator + 's>) -> Self {
        RangeWindow {
            src: SampleSource::new(it),
            ahead: None,
            started: false,
            floats: Vec::new(),
            float_sts: Vec::new(),
            fstart: 0,
            hists: Vec::new(),
            hist_sts: Vec::new(),
            hstart: 0,
            with_st: 0,
        }
    }

    /// Moves the window to `(mint, maxt]`; both bounds must not decrease between calls.
    pub fn advance(&mut self, mint: i64, maxt: i64) -> Result<(), StorageError> {
        while self.fstart < self.floats.len() && self.floats[self.fstart].t <= mint {
            if self.float_sts[self.fstart] != 0 {
                self.with_st -= 1;
            }
            self.fstart += 1;
        }
        while self.hstart < self.hists.len() && self.hists[self.hstart].t <= mint {
            if self.hist_sts[self.hstart] != 0 {
                self.with_st -= 1;
            }
            self.hstart += 1;
        }
        self.compact();
        if !self.started {
            self.started = true;
            self.ahead = self.src.seek(mint + 1)?;
        } else if let Some(a) = &self.ahead
            && a.t <= mint
        {
            self.ahead = self.src.seek(mint + 1)?;
        }
        if mint >= maxt {
            return Ok(());
        }
        while let Some(a) = &self.ahead {
            if a.t > maxt {
                break;
            }
            if let Some(s) = self.ahead.take()
                && s.t > mint
                && !s.v.is_stale()
            {
                if s.st != 0 {
                    self.with_st += 1;
                }
                match s.v {
                    RawValue::Float(f) => {
                        self.floats.push(FPoint { t: s.t, f });
                        self.float_sts.push(s.st);
                    }
                    RawValue::Histogram(h) => {
                        self.hists.push(HPoint { t: s.t, h });
                        self.hist_sts.push(s.st);
                    }
                }
            }
            self.ahead = self.src.next()?;
        }
        Ok(())
    }

    fn compact(&mut self) {
        if self.fstart > 0 && self.fstart * 2 >= self.floats.len() {
            self.floats.drain(..self.fstart);
            self.float_sts.drain(..self.fstart);
            self.fstart = 0;
        }
        if self.hstart > 0 && self.hstart * 2 >= self.hists.len() {
            self.hists.drain(..self.hstart);
            self.hist_sts.drain(..self.hstart);
            self.hstart = 0;
        }
    }

    pub fn floats(&self) -> &[FPoint] {
        &self.floats[self.fstart..]
    }

    pub fn histograms(&self) -> &[HPoint] {
        &self.hists[self.hstart..]
    }

    /// Start timestamps of [`floats`](Self::floats), index for index.
    pub fn float_start_timestamps(&self) -> &[i64] {
        &self.float_sts[self.fstart..]
    }

    /// Start timestamps of [`histograms`](Self::histograms), index for index.
    pub fn histogram_start_timestamps(&self) -> &[i64] {
        &self.hist_sts[self.hstart..]
    }

    /// Whether any sample in the window has a start timestamp.
    pub fn has_start_timestamps(&self) -> bool {
        self.with_st > 0
    }

    pub fn is_empty(&self) -> bool {
        self.floats().is_empty() && self.histograms().is_empty()
    }
}
