//! `convert_classic_histograms_to_nhcb`: classic histograms (`_bucket{le}`, `_count`,
//! `_sum` series of a `histogram` family) become native histograms with custom buckets
//! (schema -53), one per label set, as upstream's `NHCBParser` does. The classic series
//! are kept too with `always_scrape_classic_histograms`; a histogram that cannot be
//! converted (a bad `le`, counts that are not cumulative) keeps its classic series.

use std::borrow::Cow;

use hearth_exposition::LabelPair;
use hearth_model::histogram::CUSTOM_BUCKETS_SCHEMA;
use hearth_model::{Exemplar, FloatHistogram, Histogram, HistogramValue, Span, Timestamp};

/// A sample owned by the converter (a buffered classic series or a converted histogram).
#[derive(Debug, Clone)]
pub(crate) struct OwnedSample {
    pub key: Vec<u8>,
    pub name: String,
    pub labels: Vec<LabelPair<'static>>,
    pub value: f64,
    pub histogram: Option<HistogramValue>,
    pub timestamp: Option<Timestamp>,
    pub exemplars: Vec<Exemplar>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Part {
    Bucket,
    Count,
    Sum,
}

#[derive(Debug, Default)]
struct Group {
    labels: Vec<LabelPair<'static>>,
    buckets: Vec<(f64, f64)>,
    count: Option<f64>,
    sum: Option<f64>,
    timestamp: Option<Timestamp>,
    exemplars: Vec<Exemplar>,
    broken: bool,
    classic: Vec<OwnedSample>,
}

/// Collects the classic histograms of the current family.
#[derive(Debug, Default)]
pub(crate) struct NhcbCollector {
    family: String,
    groups: Vec<Group>,
}

fn owned(labels: &[LabelPair<'_>]) -> Vec<LabelPair<'static>> {
    labels
        .iter()
        .map(|l| LabelPair {
            name: Cow::Owned(l.name.to_string()),
            value: Cow::Owned(l.value.to_string()),
        })
        .collect()
}

fn same_labels(a: &[LabelPair<'_>], b: &[LabelPair<'_>]) -> bool {
    a.len() == b.len()
        && a.iter()
            .zip(b)
            .all(|(x, y)| x.name == y.name && x.value == y.value)
}

impl NhcbCollector {
    /// The histogram family whose series are being collected (empty: none).
    pub fn family(&self) -> &str {
        &self.family
    }

    pub fn start(&mut self, family: &str) {
        family.clone_into(&mut self.family);
        self.groups.clear();
    }

    /// Which part of the current family `name` is, if any.
    pub fn part(&self, name: &str) -> Option<Part> {
        if self.family.is_empty() {
            return None;
        }
        match name.strip_prefix(self.family.as_str())? {
            "_bucket" => Some(Part::Bucket),
            "_count" => Some(Part::Count),
            "_sum" => Some(Part::Sum),
            _ => None,
        }
    }

    #[allow(clippy::too_many_arguments)]
    pub fn add(
        &mut self,
        part: Part,
        series: &[u8],
        name: &str,
        labels: &[LabelPair<'_>],
        value: f64,
        timestamp: Option<Timestamp>,
        exemplars: &[Exemplar],
        keep_classic: bool,
    ) {
        let mut le = None;
        let rest: Vec<LabelPair<'_>> = labels
            .iter()
            .filter(|l| {
                if part == Part::Bucket && l.name == "le" {
                    le = Some(l.value.as_ref());
                    false
                } else {
                    true
                }
            })
            .cloned()
            .collect();
        let idx = match self
            .groups
            .iter()
            .rposition(|g| same_labels(&g.labels, &rest))
        {
            Some(i) => i,
            None => {
                self.groups.push(Group {
                    labels: owned(&rest),
                    ..Group::default()
                });
                self.groups.len() - 1
            }
        };
        let g = &mut self.groups[idx];
        if !keep_classic {
            g.classic.push(OwnedSample {
                key: series.to_vec(),
                name: name.to_string(),
                labels: owned(labels),
                value,
                histogram: None,
                timestamp,
                exemplars: exemplars.to_vec(),
            });
        }
        if g.timestamp.is_none() {
            g.timestamp = timestamp;
        }
        match part {
            Part::Count => g.count = Some(value),
            Part::Sum => g.sum = Some(value),
            Part::Bucket => match le.and_then(|s| hearth_model::float::parse_go_float(s).ok()) {
                Some(bound) if !bound.is_nan() => {
                    g.buckets.push((bound, value));
                    g.exemplars.extend_from_slice(exemplars);
                }
                _ => g.broken = true,
            },
        }
    }

    /// Ends the family: converted histograms, or the classic series of those that
    /// could not be converted (only buffered when classic series are not kept anyway).
    pub fn finish(&mut self) -> Vec<OwnedSample> {
        let mut out = Vec::new();
        let family = std::mem::take(&mut self.family);
        for g in self.groups.drain(..) {
            match convert(&g) {
                Some(h) => {
                    let mut key = b"\xffnhcb\xff".to_vec();
                    key.extend_from_slice(family.as_bytes());
                    for l in &g.labels {
                        key.push(0xff);
                        key.extend_from_slice(l.name.as_bytes());
                        key.push(0xff);
                        key.extend_from_slice(l.value.as_bytes());
                    }
                    out.push(OwnedSample {
                        key,
                        name: family.clone(),
                        labels: g.labels,
                        value: 0.0,
                        histogram: Some(h),
                        timestamp: g.timestamp,
                        exemplars: g.exemplars,
                    });
                }
                None => out.extend(g.classic),
            }
        }
        out
    }
}

/// Classic cumulative buckets to a custom-bucket native histogram; `None` when they do
/// not form a histogram.
fn convert(g: &Group) -> Option<HistogramValue> {
    if g.broken || (g.buckets.is_empty() && g.count.is_none()) {
        return None;
    }
    let mut buckets = g.buckets.clone();
    buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
    if buckets
        .windows(2)
        .any(|w| w[0].0 == w[1].0 || w[1].1 < w[0].1)
    {
        return None;
    }
    let inf = buckets.last().filter(|b| b.0 == f64::INFINITY).map(|b| b.1);
    let count = g.count.or(inf)?;
    if inf.is_none() {
        buckets.push((f64::INFINITY, count));
    }
    let custom_values: Vec<f64> = buckets
        .iter()
        .map(|b| b.0)
        .filter(|b| b.is_finite())
        .collect();
    let mut prev = 0.0;
    let counts: Vec<f64> = buckets
        .iter()
        .map(|&(_, c)| {
            let d = c - prev;
            prev = c;
            d
        })
        .collect();
    if counts.iter().any(|c| *c < 0.0) {
        return None;
    }
    let spans = vec![Span {
        offset: 0,
        length: counts.len() as u32,
    }];
    let sum = g.sum.unwrap_or(0.0);
    let integral = counts
        .iter()
        .chain([&count])
        .all(|c| c.fract() == 0.0 && *c < 9.0e15);
    if integral {
        let mut deltas = Vec::with_capacity(counts.len());
        let mut last = 0i64;
        for c in &counts {
            let c = *c as i64;
            deltas.push(c - last);
            last = c;
        }
        let mut h = Histogram {
            schema: CUSTOM_BUCKETS_SCHEMA,
            count: count as u64,
            sum,
            positive_spans: spans,
            positive_buckets: deltas,
            custom_values,
            ..Histogram::default()
        };
        h.compact(0);
        Some(HistogramValue::Integer(h))
    } else {
        let mut h = FloatHistogram {
            schema: CUSTOM_BUCKETS_SCHEMA,
            count,
            sum,
            positive_spans: spans,
            positive_buckets: counts,
            custom_values,
            ..FloatHistogram::default()
        };
        h.compact(0);
        Some(HistogramValue::Float(h))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lp(n: &'static str, v: &'static str) -> LabelPair<'static> {
        LabelPair {
            name: Cow::Borrowed(n),
            value: Cow::Borrowed(v),
        }
    }

    #[test]
    fn converts_cumulative_buckets() {
        let mut c = NhcbCollector::default();
        c.start("h");
        for (le, v) in [("0.1", 1.0), ("1", 3.0), ("+Inf", 4.0)] {
            c.add(
                Part::Bucket,
                b"x",
                "h_bucket",
                &[lp("a", "1"), lp("le", le)],
                v,
                None,
                &[],
                false,
            );
        }
        c.add(
            Part::Count,
            b"x",
            "h_count",
            &[lp("a", "1")],
            4.0,
            None,
            &[],
            false,
        );
        c.add(
            Part::Sum,
            b"x",
            "h_sum",
            &[lp("a", "1")],
            2.5,
            None,
            &[],
            false,
        );
        let out = c.finish();
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].name, "h");
        assert_eq!(out[0].labels, [lp("a", "1")]);
        let Some(HistogramValue::Integer(h)) = &out[0].histogram else {
            panic!("{out:?}")
        };
        assert_eq!(h.custom_values, [0.1, 1.0]);
        assert_eq!((h.count, h.sum), (4, 2.5));
        assert_eq!(h.positive_buckets, [1, 1, -1]);
        h.validate().unwrap();
    }

    #[test]
    fn broken_histograms_stay_classic() {
        let mut c = NhcbCollector::default();
        c.start("h");
        for (le, v) in [("0.1", 3.0), ("1", 1.0)] {
            c.add(
                Part::Bucket,
                b"x",
                "h_bucket",
                &[lp("le", le)],
                v,
                None,
                &[],
                false,
            );
        }
        let out = c.finish();
        assert_eq!(out.len(), 2);
        assert!(out.iter().all(|s| s.histogram.is_none()));
    }
}
