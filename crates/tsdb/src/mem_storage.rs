//! A simple in-memory [`Storage`](crate::storage::Storage): every sample kept in a
//! vector per series, no chunks, no WAL, no limits.
//!
//! It exists so that crates above the TSDB (PromQL, rules, the HTTP API) can be tested
//! against the storage interface with exactly Prometheus' append semantics before and
//! independently of the head. It is not for production data.

use std::collections::BTreeMap;
use std::sync::Arc;

use parking_lot::RwLock;

use hearth_model::{
    Exemplar, FloatHistogram, Histogram, HistogramValue, Labels, Matcher, Metadata, Timestamp,
    matches_all,
};

use crate::storage::{
    AppendError, Appendable, Appender, Querier, Queryable, SampleIterator, SelectHints, Series,
    SeriesRef, SeriesSet, StorageError, ValueType,
};

/// One stored sample.
#[derive(Debug, Clone, PartialEq)]
pub enum StoredValue {
    Float(f64),
    Histogram(HistogramValue),
}

#[derive(Debug, Clone, PartialEq)]
pub struct StoredSample {
    pub t: Timestamp,
    pub value: StoredValue,
    /// Start timestamp, for storages that keep one.
    pub st: Option<Timestamp>,
}

#[derive(Default)]
struct Inner {
    series: Vec<(Labels, Vec<StoredSample>)>,
    by_labels: BTreeMap<Labels, SeriesRef>,
}

/// The in-memory storage. Clones share the same data.
#[derive(Clone, Default)]
pub struct MemStorage {
    inner: Arc<RwLock<Inner>>,
}

impl MemStorage {
    pub fn new() -> MemStorage {
        MemStorage::default()
    }

    /// Removes every series.
    pub fn clear(&self) {
        *self.inner.write() = Inner::default();
    }

    /// Number of series.
    pub fn series_count(&self) -> usize {
        self.inner.read().series.len()
    }

    /// Appends a float sample with a start timestamp, bypassing transactions (test data
    /// loading). Same ordering rules as the appender.
    pub fn append_with_st(
        &self,
        labels: &Labels,
        st: Option<Timestamp>,
        t: Timestamp,
        value: StoredValue,
    ) -> Result<(), AppendError> {
        let mut inner = self.inner.write();
        let r = inner.get_or_create(labels)?;
        let samples = &mut inner.series[r as usize].1;
        check_order(samples.last(), t, &value)?;
        if samples.last().is_some_and(|s| s.t == t) {
            return Ok(());
        }
        samples.push(StoredSample { t, value, st });
        Ok(())
    }
}

impl Inner {
    fn get_or_create(&mut self, labels: &Labels) -> Result<SeriesRef, AppendError> {
        if labels.is_empty() {
            return Err(AppendError::EmptyLabels);
        }
        if let Some(r) = self.by_labels.get(labels) {
            return Ok(*r);
        }
        let r = self.series.len() as SeriesRef;
        self.series.push((labels.clone(), Vec::new()));
        self.by_labels.insert(labels.clone(), r);
        Ok(r)
    }
}

/// Prometheus' in-order rules: a sample older than the last is out of order; one at the
/// same time is a duplicate unless it has the identical value (then it is dropped).
fn check_order(
    last: Option<&StoredSample>,
    t: Timestamp,
    v: &StoredValue,
) -> Result<(), AppendError> {
    let Some(last) = last else { return Ok(()) };
    if t < last.t {
        return Err(AppendError::OutOfOrderSample);
    }
    if t == last.t {
        let same = match (&last.value, v) {
            (StoredValue::Float(a), StoredValue::Float(b)) => a.to_bits() == b.to_bits(),
            (StoredValue::Histogram(a), StoredValue::Histogram(b)) => a == b,
            _ => false,
        };
        if !same {
            return Err(AppendError::DuplicateSampleForTimestamp);
        }
    }
    Ok(())
}

/// A transaction on [`MemStorage`].
pub struct MemAppender {
    storage: MemStorage,
    pending: Vec<(Labels, StoredSample)>,
}

impl MemAppender {
    fn push(
        &mut self,
        labels: &Labels,
        t: Timestamp,
        value: StoredValue,
    ) -> Result<SeriesRef, AppendError> {
        if labels.is_empty() {
            return Err(AppendError::EmptyLabels);
        }
        let inner = self.storage.inner.read();
        let committed_last = inner
            .by_labels
            .get(labels)
            .and_then(|r| inner.series[*r as usize].1.last().cloned());
        drop(inner);
        let pending_last = self
            .pending
            .iter()
            .rev()
            .find(|(l, _)| l == labels)
            .map(|(_, s)| s.clone());
        check_order(pending_last.as_ref().or(committed_last.as_ref()), t, &value)?;
        self.pending
            .push((labels.clone(), StoredSample { t, value, st: None }));
        Ok(labels.hash())
    }
}

impl Appender for MemAppender {
    fn append(
        &mut self,
        _series: Option<SeriesRef>,
        labels: &Labels,
        t: Timestamp,
        v: f64,
    ) -> Result<SeriesRef, AppendError> {
        self.push(labels, t, StoredValue::Float(v))
    }

    fn append_histogram(
        &mut self,
        _series: Option<SeriesRef>,
        labels: &Labels,
        t: Timestamp,
        h: &HistogramValue,
    ) -> Result<SeriesRef, AppendError> {
        let valid = match h {
            HistogramValue::Integer(h) => h.validate(),
            HistogramValue::Float(f) => f.validate(),
        };
        valid.map_err(|e| AppendError::InvalidHistogram(e.to_string()))?;
        self.push(labels, t, StoredValue::Histogram(h.clone()))
    }

    fn append_exemplar(
        &mut self,
        series: SeriesRef,
        _labels: &Labels,
        _e: &Exemplar,
    ) -> Result<SeriesRef, AppendError> {
        Ok(series)
    }

    fn update_metadata(
        &mut self,
        series: SeriesRef,
        _labels: &Labels,
        _m: &Metadata,
    ) -> Result<SeriesRef, AppendError> {
        Ok(series)
    }

    fn commit(self: Box<Self>) -> Result<(), AppendError> {
        let mut inner = self.storage.inner.write();
        for (labels, sample) in self.pending {
            let r = inner.get_or_create(&labels)?;
            let samples = &mut inner.series[r as usize].1;
            if samples.last().is_some_and(|s| s.t == sample.t) {
                continue;
            }
            samples.push(sample);
        }
        Ok(())
    }

    fn rollback(self: Box<Self>) -> Result<(), AppendError> {
        Ok(())
    }
}

impl Appendable for MemStorage {
    fn appender(&self) -> Box<dyn Appender + '_> {
        Box::new(MemAppender {
            storage: self.clone(),
            pending: Vec::new(),
        })
    }
}

impl Queryable for MemStorage {
    fn querier(&self, mint: Timestamp, maxt: Timestamp) -> Result<Box<dyn Querier>, StorageError> {
        Ok(Box::new(MemQuerier {
            storage: self.clone(),
            mint,
            maxt,
        }))
    }
}

struct MemQuerier {
    storage: MemStorage,
    mint: Timestamp,
    maxt: Timestamp,
}

impl MemQuerier {
    /// Series matching `matchers` that have samples in range, with those samples.
    fn matching(&self, matchers: &[Matcher]) -> Vec<(Labels, Vec<StoredSample>)> {
        let inner = self.storage.inner.read();
        inner
            .series
            .iter()
            .filter(|(l, _)| matches_all(l, matchers))
            .filter_map(|(l, samples)| {
                let in_range: Vec<StoredSample> = samples
                    .iter()
                    .filter(|s| s.t >= self.mint && s.t <= self.maxt)
                    .cloned()
                    .collect();
                (!in_range.is_empty()).then(|| (l.clone(), in_range))
            })
            .collect()
    }
}

impl Querier for MemQuerier {
    fn select(
        &self,
        sorted: bool,
        _hints: Option<&SelectHints>,
        matchers: &[Matcher],
    ) -> Result<SeriesSet, StorageError> {
        let mut found = self.matching(matchers);
        if sorted {
            found.sort_by(|a, b| a.0.cmp(&b.0));
        }
        Ok(SeriesSet {
            series: found
                .into_iter()
                .map(|(labels, samples)| Box::new(VecSeries { labels, samples }) as Box<dyn Series>)
                .collect(),
            warnings: Vec::new(),
        })
    }

    fn label_values(&self, name: &str, matchers: &[Matcher]) -> Result<Vec<String>, StorageError> {
        let mut v: Vec<String> = self
            .matching(matchers)
            .iter()
            .filter_map(|(l, _)| l.get(name).map(str::to_string))
            .collect();
        v.sort();
        v.dedup();
        Ok(v)
    }

    fn label_names(&self, matchers: &[Matcher]) -> Result<Vec<String>, StorageError> {
        let mut v: Vec<String> = self
            .matching(matchers)
            .iter()
            .flat_map(|(l, _)| l.iter().map(|l| l.name.to_string()).collect::<Vec<_>>())
            .collect();
        v.sort();
        v.dedup();
        Ok(v)
    }
}

/// A series whose samples are in a vector.
pub struct VecSeries {
    pub labels: Labels,
    pub samples: Vec<StoredSample>,
}

impl Series for VecSeries {
    fn labels(&self) -> &Labels {
        &self.labels
    }

    fn iterator(&self) -> Box<dyn SampleIterator + '_> {
        Box::new(VecIterator {
            samples: &self.samples,
            pos: None,
        })
    }
}

/// Iterates a slice of samples.
pub struct VecIterator<'a> {
    samples: &'a [StoredSample],
    /// Index of the current sample; `None` before the first `next`/`seek`.
    pos: Option<usize>,
}

impl VecIterator<'_> {
    fn value_type(&self) -> ValueType {
        match self.pos.and_then(|p| self.samples.get(p)) {
            None => ValueType::None,
            Some(StoredSample {
                value: StoredValue::Float(_),
                ..
            }) => ValueType::Float,
            Some(StoredSample {
                value: StoredValue::Histogram(HistogramValue::Integer(_)),
                ..
            }) => ValueType::Histogram,
            Some(StoredSample {
                value: StoredValue::Histogram(HistogramValue::Float(_)),
                ..
            }) => ValueType::FloatHistogram,
        }
    }

    fn current(&self) -> Option<&StoredSample> {
        self.pos.and_then(|p| self.samples.get(p))
    }
}

impl SampleIterator for VecIterator<'_> {
    fn next(&mut self) -> ValueType {
        self.pos = Some(self.pos.map_or(0, |p| (p + 1).min(self.samples.len())));
        self.value_type()
    }

    fn seek(&mut self, t: Timestamp) -> ValueType {
        let start = self.pos.unwrap_or(0);
        if self.current().is_some_and(|s| s.t >= t) {
            return self.value_type();
        }
        let rest = &self.samples[start.min(self.samples.len())..];
        self.pos = Some(start + rest.partition_point(|s| s.t < t));
        self.value_type()
    }

    fn at(&self) -> (Timestamp, f64) {
        match self.current() {
            Some(StoredSample {
                t,
                value: StoredValue::Float(v),
                ..
            }) => (*t, *v),
            Some(s) => (s.t, 0.0),
            None => (0, 0.0),
        }
    }

    fn at_histogram(&self) -> (Timestamp, Histogram) {
        match self.current() {
            Some(StoredSample {
                t,
                value: StoredValue::Histogram(HistogramValue::Integer(h)),
                ..
            }) => (*t, h.clone()),
            Some(s) => (s.t, Histogram::default()),
            None => (0, Histogram::default()),
        }
    }

    fn at_float_histogram(&self) -> (Timestamp, FloatHistogram) {
        match self.current() {
            Some(StoredSample {
                t,
                value: StoredValue::Histogram(h),
                ..
            }) => (*t, h.to_float()),
            Some(s) => (s.t, FloatHistogram::default()),
            None => (0, FloatHistogram::default()),
        }
    }

    fn at_t(&self) -> Timestamp {
        self.current().map_or(0, |s| s.t)
    }

    fn at_st(&self) -> Option<Timestamp> {
        self.current().and_then(|s| s.st)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hearth_model::{MatchOp, labels};

    #[test]
    fn append_commit_select_iterate() {
        let s = MemStorage::new();
        let a = labels!("__name__" => "up", "job" => "a");
        let b = labels!("__name__" => "up", "job" => "b");
        let mut app = s.appender();
        app.append(None, &a, 1000, 1.0).unwrap();
        app.append(None, &a, 2000, 2.0).unwrap();
        app.append(None, &b, 1000, 5.0).unwrap();
        assert_eq!(
            app.append(None, &a, 1500, 9.0),
            Err(AppendError::OutOfOrderSample)
        );
        assert_eq!(
            app.append(None, &a, 2000, 3.0),
            Err(AppendError::DuplicateSampleForTimestamp)
        );
        app.append(None, &a, 2000, 2.0).unwrap();
        // Nothing is visible before commit.
        assert!(
            s.querier(0, 10_000)
                .unwrap()
                .select(true, None, &[])
                .unwrap()
                .series
                .is_empty()
        );
        app.commit().unwrap();

        let q = s.querier(0, 1500).unwrap();
        let m = [Matcher::new(MatchOp::Equal, "__name__", "up").unwrap()];
        let set = q.select(true, None, &m).unwrap();
        assert_eq!(set.series.len(), 2);
        let mut it = set.series[0].iterator();
        assert_eq!(it.next(), ValueType::Float);
        assert_eq!(it.at(), (1000, 1.0));
        assert_eq!(
            it.next(),
            ValueType::None,
            "2000 is outside the querier's range"
        );
        assert_eq!(q.label_values("job", &[]).unwrap(), ["a", "b"]);
        assert_eq!(q.label_names(&m).unwrap(), ["__name__", "job"]);
    }

    #[test]
    fn seek_never_goes_back() {
        let samples: Vec<StoredSample> = (0..10)
            .map(|i| StoredSample {
                t: i * 10,
                value: StoredValue::Float(i as f64),
                st: None,
            })
            .collect();
        let mut it = VecIterator {
            samples: &samples,
            pos: None,
        };
        assert_eq!(it.seek(35), ValueType::Float);
        assert_eq!(it.at_t(), 40);
        assert_eq!(it.seek(10), ValueType::Float);
        assert_eq!(it.at_t(), 40);
        assert_eq!(it.seek(1000), ValueType::None);
    }
}
