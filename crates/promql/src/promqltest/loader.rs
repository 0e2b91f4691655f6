//! Executing `load` commands: appending the series of a block to the test storage as
//! upstream's harness does, including `load_with_nhcb` (classic histograms also loaded
//! as native histograms with custom buckets) and start timestamps.
//!
//! The storage used here keeps samples verbatim, while upstream's test storage is a real
//! TSDB whose histogram chunks change the counter reset hints a query reads back: the
//! first histogram of a chunk reads as "unknown", the others as "not a reset", gauges as
//! gauges. A new chunk starts at a counter reset, a layout change, or a change of sample
//! type. The loader assigns those read-back hints up front.

use std::collections::HashMap;

use hearth_model::{CounterResetHint, FloatHistogram, HistogramValue, Labels, Span, stale_nan};
use hearth_tsdb::mem_storage::{MemStorage, StoredValue};

use crate::series::SeriesValue;

use super::script::LoadCommand;

/// One sample to append.
struct LoadSample {
    t: i64,
    value: SeriesValue,
    st: Option<i64>,
}

/// Appends a `load` block to `storage`.
pub(crate) fn load(storage: &MemStorage, cmd: &LoadCommand) -> Result<(), String> {
    // A later line for the same series replaces an earlier one.
    let mut order: Vec<Labels> = Vec::new();
    let mut defs: HashMap<Labels, Vec<LoadSample>> = HashMap::new();
    for s in &cmd.series {
        let mut samples = Vec::with_capacity(s.values.len());
        for (i, v) in s.values.iter().enumerate() {
            let t = i as i64 * cmd.interval_ms;
            let Some(v) = v else { continue };
            let st = s
                .start_timestamps
                .as_ref()
                .and_then(|sts| sts.get(i).copied().flatten())
                .map(|rel| t + rel);
            samples.push(LoadSample {
                t,
                value: v.clone(),
                st,
            });
        }
        if !defs.contains_key(&s.labels) {
            order.push(s.labels.clone());
        }
        defs.insert(s.labels.clone(), samples);
    }
    for labels in &order {
        let Some(samples) = defs.get(labels) else {
            continue;
        };
        append_series(storage, labels, samples)?;
    }
    if cmd.with_nhcb {
        for (labels, hists) in classic_to_nhcb(&order, &defs)? {
            let samples: Vec<LoadSample> = hists
                .into_iter()
                .map(|(t, h)| LoadSample {
                    t,
                    value: SeriesValue::Histogram(Box::new(crate::series::HistogramValue {
                        histogram: h,
                        counter_reset_hint_set: false,
                    })),
                    st: None,
                })
                .collect();
            append_series(storage, &labels, &samples)?;
        }
    }
    Ok(())
}

/// What kind of chunk the previous sample went to.
#[derive(PartialEq)]
enum Chunk {
    None,
    Float,
    Counter,
    Gauge,
}

fn append_series(
    storage: &MemStorage,
    labels: &Labels,
    samples: &[LoadSample],
) -> Result<(), String> {
    let mut chunk = Chunk::None;
    let mut prev: Option<FloatHistogram> = None;
    for s in samples {
        let value = match &s.value {
            SeriesValue::Float(f) => {
                chunk = Chunk::Float;
                StoredValue::Float(*f)
            }
            SeriesValue::Stale => {
                // A staleness marker goes into the chunk of the series' current type.
                if chunk == Chunk::Counter || chunk == Chunk::Gauge {
                    let h = FloatHistogram {
                        sum: stale_nan(),
                        ..FloatHistogram::default()
                    };
                    prev = Some(h.clone());
                    StoredValue::Histogram(HistogramValue::Float(h))
                } else {
                    StoredValue::Float(stale_nan())
                }
            }
            SeriesValue::Histogram(hv) => {
                let mut h = hv.histogram.clone();
                let gauge = h.counter_reset_hint == CounterResetHint::Gauge;
                let new_chunk = if gauge {
                    chunk != Chunk::Gauge
                } else {
                    chunk != Chunk::Counter
                        || h.counter_reset_hint == CounterResetHint::CounterReset
                        || prev.as_ref().is_none_or(|p| needs_new_chunk(p, &h))
                };
                let stored = h.clone();
                h.counter_reset_hint = if gauge {
                    CounterResetHint::Gauge
                } else if new_chunk {
                    CounterResetHint::Unknown
                } else {
                    CounterResetHint::NotCounterReset
                };
                chunk = if gauge { Chunk::Gauge } else { Chunk::Counter };
                prev = Some(stored);
                StoredValue::Histogram(HistogramValue::Float(h))
            }
        };
        storage
            .append_with_st(labels, s.st, s.t, value)
            .map_err(|e| format!("appending {labels} at {}: {e}", s.t))?;
    }
    Ok(())
}

/// Whether a TSDB histogram chunk could not take `h` after `prev`: a counter reset or a
/// changed layout.
fn needs_new_chunk(prev: &FloatHistogram, h: &FloatHistogram) -> bool {
    if hearth_model::is_stale_nan(prev.sum) {
        return true;
    }
    if hearth_model::is_stale_nan(h.sum) {
        return false;
    }
    if h.count < prev.count
        || h.schema != prev.schema
        || h.zero_threshold != prev.zero_threshold
        || h.custom_values != prev.custom_values
        || h.zero_count < prev.zero_count
    {
        return true;
    }
    bucket_dropped(
        &prev.positive_spans,
        &prev.positive_buckets,
        &h.positive_spans,
        &h.positive_buckets,
    ) || bucket_dropped(
        &prev.negative_spans,
        &prev.negative_buckets,
        &h.negative_spans,
        &h.negative_buckets,
    )
}

/// Whether a bucket of the previous histogram is missing or smaller in the new one.
fn bucket_dropped(ps: &[Span], pb: &[f64], cs: &[Span], cb: &[f64]) -> bool {
    let index = |spans: &[Span], buckets: &[f64]| -> HashMap<i32, f64> {
        let mut out = HashMap::new();
        let mut idx = 0i32;
        let mut pos = 0usize;
        for s in spans {
            idx += s.offset;
            for _ in 0..s.length {
                if let Some(c) = buckets.get(pos) {
                    out.insert(idx, *c);
                }
                pos += 1;
                idx += 1;
            }
        }
        out
    };
    let prev = index(ps, pb);
    let cur = index(cs, cb);
    prev.iter().any(|(i, c)| match cur.get(i) {
        Some(n) => n < c,
        None => *c > 0.0,
    })
}

/// Collects a classic histogram's series per timestamp (upstream's `TempHistogram`).
#[derive(Default, Clone)]
struct TempHistogram {
    /// `(le, cumulative count)`, sorted by `le`.
    buckets: Vec<(f64, f64)>,
    count: Option<f64>,
    sum: f64,
    err: Option<String>,
}

impl TempHistogram {
    fn set_bucket(&mut self, le: f64, count: f64) {
        if self.err.is_some() {
            return;
        }
        if count < 0.0 {
            self.err = Some("bucket count must be non-negative".into());
            return;
        }
        let i = self.buckets.partition_point(|b| b.0 < le);
        if self.buckets.get(i).is_some_and(|b| b.0 == le) {
            return;
        }
        if i > 0 && count < self.buckets[i - 1].1 {
            self.err = Some("count is not cumulative".into());
            return;
        }
        if self.buckets.get(i).is_some_and(|b| count > b.1) {
            self.err = Some("count is not cumulative".into());
            return;
        }
        self.buckets.insert(i, (le, count));
    }

    fn convert(mut self) -> Result<FloatHistogram, String> {
        if let Some(e) = self.err {
            return Err(e);
        }
        let count = match self.count {
            Some(c) => c,
            None => match self.buckets.last() {
                Some(b) => b.1,
                None => return Err("count must be provided when no buckets are present".into()),
            },
        };
        if self.buckets.last().is_none_or(|b| b.0 != f64::INFINITY) {
            self.buckets.push((f64::INFINITY, count));
        }
        let integral = self.buckets.iter().all(|b| b.1 == b.1.round()) && count == count.round();
        let mut h = FloatHistogram {
            schema: hearth_model::histogram::CUSTOM_BUCKETS_SCHEMA,
            count,
            sum: self.sum,
            positive_spans: vec![Span {
                offset: 0,
                length: self.buckets.len() as u32,
            }],
            ..FloatHistogram::default()
        };
        let mut prev = 0.0;
        for (le, c) in &self.buckets {
            h.positive_buckets.push(c - prev);
            prev = *c;
            if le.is_finite() {
                h.custom_values.push(*le);
            }
        }
        if self.buckets.last().is_some_and(|b| b.1 != count) {
            return Err("count mismatch".into());
        }
        // Integer histograms are compacted keeping up to two empty buckets.
        h.compact(if integral { 2 } else { 0 });
        Ok(h)
    }
}

/// A series of native histograms: `(labels, [(t, histogram)])`.
type HistogramSeries = (Labels, Vec<(i64, FloatHistogram)>);

/// The native histograms with custom buckets that the classic histograms of a load
/// block convert to.
fn classic_to_nhcb(
    order: &[Labels],
    defs: &HashMap<Labels, Vec<LoadSample>>,
) -> Result<Vec<HistogramSeries>, String> {
    let mut out_order: Vec<Labels> = Vec::new();
    let mut by_base: HashMap<Labels, std::collections::BTreeMap<i64, TempHistogram>> =
        HashMap::new();
    for labels in order {
        let Some(samples) = defs.get(labels) else {
            continue;
        };
        let name = labels.get("__name__").unwrap_or("");
        enum Kind {
            Bucket(f64),
            Count,
            Sum,
        }
        let (kind, base_name) = if let Some(b) = name.strip_suffix("_bucket") {
            let Some(le) = labels.get("le") else {
                return Err(format!("expected bucket label in metric {labels}"));
            };
            match hearth_model::float::parse_go_float(le) {
                Ok(le) if !le.is_nan() => (Kind::Bucket(le), b),
                _ => continue,
            }
        } else if let Some(b) = name.strip_suffix("_sum") {
            (Kind::Sum, b)
        } else if let Some(b) = name.strip_suffix("_count") {
            (Kind::Count, b)
        } else {
            continue;
        };
        let mut builder = labels.builder();
        builder.set("__name__", base_name);
        builder.del("le");
        let base = builder.labels();
        if !by_base.contains_key(&base) {
            out_order.push(base.clone());
        }
        let per_ts = by_base.entry(base).or_default();
        for s in samples {
            // Staleness markers are converted like any value (upstream does too).
            let f = match s.value {
                SeriesValue::Float(f) => f,
                SeriesValue::Stale => stale_nan(),
                SeriesValue::Histogram(_) => continue,
            };
            let th = per_ts.entry(s.t).or_default();
            match kind {
                Kind::Bucket(le) => th.set_bucket(le, f),
                Kind::Count => {
                    if f < 0.0 {
                        th.err = Some("count must be non-negative".into());
                    } else {
                        th.count = Some(f);
                    }
                }
                Kind::Sum => th.sum = f,
            }
        }
    }
    let mut out = Vec::new();
    for base in out_order {
        let Some(per_ts) = by_base.remove(&base) else {
            continue;
        };
        let mut hists = Vec::with_capacity(per_ts.len());
        for (t, th) in per_ts {
            hists.push((t, th.convert()?));
        }
        out.push((base, hists));
    }
    Ok(out)
}
