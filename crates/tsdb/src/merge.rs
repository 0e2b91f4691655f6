//! Merging queriers: one [`Querier`] over several (blocks and the head), with upstream's
//! `NewMergeQuerier` + `ChainedSeriesMerge` semantics.
//!
//! Series with the same labels from different queriers become one series whose samples
//! are the time-ordered union of theirs; samples at the same timestamp are deduplicated
//! (the first querier's wins). Label names and values are merged, sorted, distinct.

use hearth_model::{FloatHistogram, Histogram, Labels, Matcher, Timestamp};

use crate::storage::{
    Querier, SampleIterator, SelectHints, Series, SeriesSet, StorageError, ValueType,
};

/// A querier over the union of several queriers.
pub struct MergeQuerier {
    queriers: Vec<Box<dyn Querier>>,
}

impl MergeQuerier {
    /// Merges `queriers`; on equal timestamps earlier queriers win.
    pub fn new(queriers: Vec<Box<dyn Querier>>) -> MergeQuerier {
        MergeQuerier { queriers }
    }
}

/// Sorted, distinct union of sorted lists.
fn merge_sorted_strings(lists: Vec<Vec<String>>) -> Vec<String> {
    let mut all: Vec<String> = lists.into_iter().flatten().collect();
    all.sort_unstable();
    all.dedup();
    all
}

impl Querier for MergeQuerier {
    fn select(
        &self,
        sorted: bool,
        hints: Option<&SelectHints>,
        matchers: &[Matcher],
    ) -> Result<SeriesSet, StorageError> {
        if self.queriers.len() == 1
            && let Some(q) = self.queriers.first()
        {
            return q.select(sorted, hints, matchers);
        }
        // Merging by labels needs every input sorted.
        let mut warnings = Vec::new();
        let mut sets: Vec<std::iter::Peekable<std::vec::IntoIter<Box<dyn Series>>>> =
            Vec::with_capacity(self.queriers.len());
        for q in &self.queriers {
            let set = q.select(true, hints, matchers)?;
            warnings.extend(set.warnings);
            sets.push(set.series.into_iter().peekable());
        }
        let mut out: Vec<Box<dyn Series>> = Vec::new();
        loop {
            // The smallest label set among the heads of all inputs.
            let mut min: Option<Labels> = None;
            for s in &mut sets {
                if let Some(head) = s.peek()
                    && min.as_ref().is_none_or(|m| head.labels() < m)
                {
                    min = Some(head.labels().clone());
                }
            }
            let Some(min) = min else { break };
            let mut same: Vec<Box<dyn Series>> = Vec::new();
            for s in &mut sets {
                if let Some(series) = s.next_if(|h| *h.labels() == min) {
                    same.push(series);
                }
            }
            if same.len() == 1 {
                out.extend(same);
            } else {
                out.push(Box::new(MergedSeries {
                    labels: min,
                    series: same,
                }));
            }
        }
        Ok(SeriesSet {
            series: out,
            warnings,
        })
    }

    fn label_values(&self, name: &str, matchers: &[Matcher]) -> Result<Vec<String>, StorageError> {
        let lists = self
            .queriers
            .iter()
            .map(|q| q.label_values(name, matchers))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(merge_sorted_strings(lists))
    }

    fn label_names(&self, matchers: &[Matcher]) -> Result<Vec<String>, StorageError> {
        let lists = self
            .queriers
            .iter()
            .map(|q| q.label_names(matchers))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(merge_sorted_strings(lists))
    }
}

/// Series with equal labels from several queriers, seen as one.
pub struct MergedSeries {
    labels: Labels,
    series: Vec<Box<dyn Series>>,
}

impl MergedSeries {
    pub fn new(labels: Labels, series: Vec<Box<dyn Series>>) -> MergedSeries {
        MergedSeries { labels, series }
    }
}

impl Series for MergedSeries {
    fn labels(&self) -> &Labels {
        &self.labels
    }

    fn iterator(&self) -> Box<dyn SampleIterator + '_> {
        Box::new(ChainSampleIterator::new(
            self.series.iter().map(|s| s.iterator()).collect(),
        ))
    }
}

/// The time-ordered union of several iterators; equal timestamps are returned once, from
/// the earliest iterator positioned on them.
pub struct ChainSampleIterator<'a> {
    its: Vec<Box<dyn SampleIterator + 'a>>,
    /// Where each iterator is; `None` before it was first moved.
    states: Vec<Option<ValueType>>,
    cur: Option<usize>,
    last_t: Option<Timestamp>,
}

impl<'a> ChainSampleIterator<'a> {
    pub fn new(its: Vec<Box<dyn SampleIterator + 'a>>) -> ChainSampleIterator<'a> {
        let n = its.len();
        ChainSampleIterator {
            its,
            states: vec![None; n],
            cur: None,
            last_t: None,
        }
    }

    /// Positions on the earliest sample after the last one returned.
    fn pick(&mut self) -> ValueType {
        loop {
            let mut best: Option<(usize, Timestamp)> = None;
            for (i, it) in self.its.iter().enumerate() {
                if matches!(self.states[i], Some(vt) if vt != ValueType::None) {
                    let t = it.at_t();
                    if best.is_none_or(|(_, bt)| t < bt) {
                        best = Some((i, t));
                    }
                }
            }
            let Some((i, t)) = best else {
                self.cur = None;
                return ValueType::None;
            };
            if self.last_t.is_some_and(|l| t <= l) {
                // A duplicate of what was returned already.
                self.states[i] = Some(self.its[i].next());
                continue;
            }
            self.cur = Some(i);
            self.last_t = Some(t);
            return self.states[i].unwrap_or(ValueType::None);
        }
    }
}

impl SampleIterator for ChainSampleIterator<'_> {
    fn next(&mut self) -> ValueType {
        match self.cur {
            Some(i) => self.states[i] = Some(self.its[i].next()),
            None if self.last_t.is_none() => {
                for (i, it) in self.its.iter_mut().enumerate() {
                    if self.states[i].is_none() {
                        self.states[i] = Some(it.next());
                    }
                }
            }
            None => return ValueType::None,
        }
        self.pick()
    }

    fn seek(&mut self, t: Timestamp) -> ValueType {
        if let Some(i) = self.cur
            && self.its[i].at_t() >= t
        {
            return self.states[i].unwrap_or(ValueType::None);
        }
        for (i, it) in self.its.iter_mut().enumerate() {
            match self.states[i] {
                Some(ValueType::None) => {}
                _ => self.states[i] = Some(it.seek(t)),
            }
        }
        // Everything returned so far is before `t`, so nothing positioned now repeats it.
        self.pick()
    }

    fn at(&self) -> (Timestamp, f64) {
        self.cur.map_or((0, 0.0), |i| self.its[i].at())
    }

    fn at_histogram(&self) -> (Timestamp, Histogram) {
        self.cur
            .map_or((0, Histogram::default()), |i| self.its[i].at_histogram())
    }

    fn at_float_histogram(&self) -> (Timestamp, FloatHistogram) {
        self.cur.map_or((0, FloatHistogram::default()), |i| {
            self.its[i].at_float_histogram()
        })
    }

    fn at_t(&self) -> Timestamp {
        self.cur.map_or(0, |i| self.its[i].at_t())
    }

    fn at_st(&self) -> Option<Timestamp> {
        self.cur.and_then(|i| self.its[i].at_st())
    }

    fn err(&self) -> Option<StorageError> {
        self.its.iter().find_map(|it| it.err())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mem_storage::{StoredSample, StoredValue, VecSeries};

    fn series(labels: &Labels, ts: &[(i64, f64)]) -> Box<dyn Series> {
        Box::new(VecSeries {
            labels: labels.clone(),
            samples: ts
                .iter()
                .map(|&(t, v)| StoredSample {
                    t,
                    value: StoredValue::Float(v),
                    st: None,
                })
                .collect(),
        })
    }

    fn drain(it: &mut dyn SampleIterator) -> Vec<(i64, f64)> {
        let mut out = Vec::new();
        while it.next() == ValueType::Float {
            out.push(it.at());
        }
        out
    }

    #[test]
    fn chain_merges_and_dedups() {
        let l = Labels::new([("__name__", "a")]);
        let m = MergedSeries::new(
            l.clone(),
            vec![
                series(&l, &[(1, 1.0), (3, 3.0), (5, 5.0)]),
                series(&l, &[(2, 2.0), (3, 30.0), (6, 6.0)]),
                series(&l, &[]),
            ],
        );
        let mut it = m.iterator();
        assert_eq!(
            drain(it.as_mut()),
            [(1, 1.0), (2, 2.0), (3, 3.0), (5, 5.0), (6, 6.0)]
        );
        let mut it = m.iterator();
        assert_eq!(it.seek(4), ValueType::Float);
        assert_eq!(it.at(), (5, 5.0));
        assert_eq!(it.seek(2), ValueType::Float, "seek never goes back");
        assert_eq!(it.at(), (5, 5.0));
        assert_eq!(it.next(), ValueType::Float);
        assert_eq!(it.at(), (6, 6.0));
        assert_eq!(it.seek(7), ValueType::None);
    }
}
