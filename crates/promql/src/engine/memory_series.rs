//! Evaluated series (a subquery's result) seen through the storage interface, so that
//! functions over subqueries read them with the same window code as stored series
//! (upstream's `NewStorageSeries`).

use hearth_model::{FloatHistogram, Histogram, Labels};
use hearth_tsdb::storage::{SampleIterator, Series as StorageSeries, ValueType};

use super::value::Series;

/// An evaluated series behind the storage `Series` trait.
pub(crate) struct MemorySeries(pub Series);

impl StorageSeries for MemorySeries {
    fn labels(&self) -> &Labels {
        &self.0.metric
    }

    fn iterator(&self) -> Box<dyn SampleIterator + '_> {
        Box::new(MemorySeriesIterator {
            series: &self.0,
            fi: 0,
            hi: 0,
            cur: Current::None,
        })
    }
}

#[derive(Clone, Copy)]
enum Current {
    None,
    Float(usize),
    Histogram(usize),
}

/// Merges a series' float and histogram points by time.
struct MemorySeriesIterator<'a> {
    series: &'a Series,
    /// Next float and histogram to visit.
    fi: usize,
    hi: usize,
    cur: Current,
}

impl MemorySeriesIterator<'_> {
    fn value_type(&self) -> ValueType {
        match self.cur {
            Current::None => ValueType::None,
            Current::Float(_) => ValueType::Float,
            Current::Histogram(_) => ValueType::FloatHistogram,
        }
    }
}

impl SampleIterator for MemorySeriesIterator<'_> {
    fn next(&mut self) -> ValueType {
        let f = self.series.floats.get(self.fi).map(|p| p.t);
        let h = self.series.histograms.get(self.hi).map(|p| p.t);
        self.cur = match (f, h) {
            (Some(ft), Some(ht)) if ht < ft => {
                self.hi += 1;
                Current::Histogram(self.hi - 1)
            }
            (Some(_), _) => {
                self.fi += 1;
                Current::Float(self.fi - 1)
            }
            (None, Some(_)) => {
                self.hi += 1;
                Current::Histogram(self.hi - 1)
            }
            (None, None) => Current::None,
        };
        self.value_type()
    }

    fn seek(&mut self, t: i64) -> ValueType {
        if let Current::Float(_) | Current::Histogram(_) = self.cur
            && self.at_t() >= t
        {
            return self.value_type();
        }
        self.fi += self.series.floats[self.fi..].partition_point(|p| p.t < t);
        self.hi += self.series.histograms[self.hi..].partition_point(|p| p.t < t);
        self.next()
    }

    fn at(&self) -> (i64, f64) {
        match self.cur {
            Current::Float(i) => self.series.floats.get(i).map_or((0, 0.0), |p| (p.t, p.f)),
            _ => (self.at_t(), 0.0),
        }
    }

    fn at_histogram(&self) -> (i64, Histogram) {
        (self.at_t(), Histogram::default())
    }

    fn at_float_histogram(&self) -> (i64, FloatHistogram) {
        match self.cur {
            Current::Histogram(i) => self
                .series
                .histograms
                .get(i)
                .map_or((0, FloatHistogram::default()), |p| (p.t, (*p.h).clone())),
            _ => (self.at_t(), FloatHistogram::default()),
        }
    }

    fn at_t(&self) -> i64 {
        match self.cur {
            Current::None => 0,
            Current::Float(i) => self.series.floats.get(i).map_or(0, |p| p.t),
            Current::Histogram(i) => self.series.histograms.get(i).map_or(0, |p| p.t),
        }
    }
}

/// A stored series seen only through the count and sum of its histograms, with
/// counter reset hints worked out while reading (upstream's `HistogramStatsIterator`).
/// Used where only `histogram_count`/`histogram_sum`/`histogram_avg` look at the
/// histograms, so that buckets need not be copied.
pub(crate) struct HistogramStatsSeries(pub Box<dyn StorageSeries>);

impl StorageSeries for HistogramStatsSeries {
    fn labels(&self) -> &Labels {
        self.0.labels()
    }

    fn iterator(&self) -> Box<dyn SampleIterator + '_> {
        Box::new(HistogramStatsIterator {
            inner: self.0.iterator(),
            last: std::cell::RefCell::new(None),
        })
    }
}

struct HistogramStatsIterator<'a> {
    inner: Box<dyn SampleIterator + 'a>,
    /// The previous histogram read, for counter reset detection.
    last: std::cell::RefCell<Option<FloatHistogram>>,
}

impl HistogramStatsIterator<'_> {
    fn map(vt: ValueType) -> ValueType {
        if vt == ValueType::Histogram {
            ValueType::FloatHistogram
        } else {
            vt
        }
    }
}

impl SampleIterator for HistogramStatsIterator<'_> {
    fn next(&mut self) -> ValueType {
        Self::map(self.inner.next())
    }

    fn seek(&mut self, t: i64) -> ValueType {
        // Moving on forgets the previous histogram: the one before is unknown.
        if t > self.inner.at_t() {
            *self.last.borrow_mut() = None;
        }
        Self::map(self.inner.seek(t))
    }

    fn at(&self) -> (i64, f64) {
        self.inner.at()
    }

    fn at_histogram(&self) -> (i64, Histogram) {
        (self.inner.at_t(), Histogram::default())
    }

    fn at_float_histogram(&self) -> (i64, FloatHistogram) {
        let (t, cur) = self.inner.at_float_histogram();
        if hearth_model::is_stale_nan(cur.sum) {
            return (
                t,
                FloatHistogram {
                    sum: cur.sum,
                    ..FloatHistogram::default()
                },
            );
        }
        let mut last = self.last.borrow_mut();
        let hint = match (cur.counter_reset_hint, last.as_ref()) {
            (hearth_model::CounterResetHint::Unknown, Some(prev)) => {
                if cur.detect_reset(prev) {
                    hearth_model::CounterResetHint::CounterReset
                } else {
                    hearth_model::CounterResetHint::NotCounterReset
                }
            }
            (hint, _) => hint,
        };
        // The schema stays so that mixes of exponential and custom buckets are noticed.
        let stats = FloatHistogram {
            counter_reset_hint: hint,
            schema: cur.schema,
            count: cur.count,
            sum: cur.sum,
            custom_values: cur.custom_values.clone(),
            ..FloatHistogram::default()
        };
        *last = Some(cur);
        (t, stats)
    }

    fn at_t(&self) -> i64 {
        self.inner.at_t()
    }

    fn at_st(&self) -> Option<i64> {
        self.inner.at_st()
    }

    fn err(&self) -> Option<hearth_tsdb::storage::StorageError> {
        self.inner.err()
    }
}
