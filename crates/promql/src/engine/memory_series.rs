//! Stored series seen through a different lens: [`HistogramStatsSeries`] reads only the
//! count and sum of native histograms. (A subquery's result is read by range functions
//! directly, see `RangeWindow::load_points`.)

use hearth_model::{FloatHistogram, Histogram, Labels};
use hearth_tsdb::storage::{SampleIterator, Series as StorageSeries, ValueType};

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
