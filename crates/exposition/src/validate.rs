//! The semantic rules of OpenMetrics 1.0 that a parser alone does not enforce: metric
//! family structure (metadata before samples, no repeated metadata, no clashing names),
//! grouping and timestamp order, value rules per type (counters not negative or NaN,
//! info = 1, stateset ∈ {0, 1}, quantiles in [0, 1]), exemplar placement, and classic
//! histogram structure (ordered `le`, `+Inf` bucket, `_count` equal to it, `_sum`/`_count`
//! pairing).
//!
//! Prometheus' scrape path does not apply these (it is lenient, and so is hearth's);
//! `hearth tool check metrics --openmetrics` and the conformance suite do.

use std::collections::HashSet;

use hearth_model::MetricType;
use hearth_model::float::{format_go_g, parse_go_float};

use crate::entry::{Entry, LabelPair};

/// Validates a stream of entries from [`crate::OpenMetricsParser`] (run it with
/// [`crate::OpenMetricsOptions::strict`]). Feed every entry, then call [`finish`](Self::finish).
#[derive(Default)]
pub struct OpenMetricsValidator {
    /// Every name (family name plus type suffixes) used by a finished family.
    seen_names: HashSet<String>,
    family: Option<Family>,
}

#[derive(Default)]
struct Family {
    name: String,
    metric_type: Option<MetricType>,
    has_help: bool,
    unit: Option<String>,
    allowed: Vec<String>,
    has_samples: bool,
    group: Option<String>,
    group_timestamp: Option<Option<i64>>,
    seen_groups: HashSet<String>,
    histogram: Vec<HistogramSample>,
}

/// What the histogram check needs from one sample.
struct HistogramSample {
    group: String,
    timestamp: Option<i64>,
    suffix: String,
    le: f64,
    value: f64,
}

fn type_suffixes(t: MetricType) -> &'static [&'static str] {
    match t {
        MetricType::Counter => &["_total", "_created"],
        MetricType::Summary => &["", "_count", "_sum", "_created"],
        MetricType::Histogram => &["_count", "_sum", "_bucket", "_created"],
        MetricType::GaugeHistogram => &["_gcount", "_gsum", "_bucket"],
        MetricType::Info => &["_info"],
        _ => &[""],
    }
}

impl Family {
    fn new(name: &str) -> Family {
        Family {
            name: name.to_string(),
            allowed: vec![name.to_string()],
            ..Default::default()
        }
    }

    fn mtype(&self) -> MetricType {
        self.metric_type.unwrap_or(MetricType::Unknown)
    }
}

impl OpenMetricsValidator {
    pub fn new() -> OpenMetricsValidator {
        OpenMetricsValidator::default()
    }

    /// Checks one entry; the error says which rule it breaks.
    pub fn entry(&mut self, e: &Entry<'_>) -> Result<(), String> {
        match e {
            Entry::Help { name, .. } => self.metadata(name, "HELP", None, None),
            Entry::Type { name, metric_type } => {
                self.metadata(name, "TYPE", Some(*metric_type), None)
            }
            Entry::Unit { name, unit } => self.metadata(name, "UNIT", None, Some(unit)),
            Entry::Comment(_) => Err("comments are not allowed in OpenMetrics".into()),
            Entry::Sample(s) => self.sample(
                &s.name,
                s.labels,
                s.value,
                s.timestamp,
                !s.exemplars.is_empty(),
            ),
            Entry::Histogram(_) => {
                Err("native histograms are not part of OpenMetrics 1.0 text".into())
            }
        }
    }

    /// Closes the last family.
    pub fn finish(&mut self) -> Result<(), String> {
        match self.family.take() {
            Some(f) => self.finish_family(f),
            None => Ok(()),
        }
    }

    fn metadata(
        &mut self,
        name: &str,
        kind: &str,
        mtype: Option<MetricType>,
        unit: Option<&str>,
    ) -> Result<(), String> {
        match &self.family {
            Some(f) if f.name == name => {
                if f.has_samples {
                    return Err(format!("{kind} for metric {name:?} after its samples"));
                }
            }
            _ => {
                self.finish()?;
                self.family = Some(Family::new(name));
            }
        }
        let Some(f) = self.family.as_mut() else {
            return Ok(());
        };
        match kind {
            "HELP" => {
                if f.has_help {
                    return Err(format!("more than one HELP for metric {name:?}"));
                }
                f.has_help = true;
            }
            "TYPE" => {
                if f.metric_type.is_some() {
                    return Err(format!("more than one TYPE for metric {name:?}"));
                }
                let t = mtype.unwrap_or_default();
                f.metric_type = Some(t);
                f.allowed = type_suffixes(t)
                    .iter()
                    .map(|s| format!("{name}{s}"))
                    .collect();
            }
            _ => {
                if f.unit.is_some() {
                    return Err(format!("more than one UNIT for metric {name:?}"));
                }
                f.unit = Some(unit.unwrap_or_default().to_string());
            }
        }
        Ok(())
    }

    fn sample(
        &mut self,
        name: &str,
        labels: &[LabelPair<'_>],
        value: f64,
        ts: Option<i64>,
        has_exemplar: bool,
    ) -> Result<(), String> {
        if let Some(dup) = labels
            .iter()
            .enumerate()
            .find(|(i, l)| labels[..*i].iter().any(|o| o.name == l.name))
        {
            return Err(format!("duplicate label name {:?}", dup.1.name));
        }
        if !self
            .family
            .as_ref()
            .is_some_and(|f| f.allowed.iter().any(|a| a == name))
        {
            self.finish()?;
            let mut f = Family::new(name);
            f.metric_type = Some(MetricType::Unknown);
            self.family = Some(f);
        }
        let Some(f) = self.family.as_mut() else {
            return Ok(());
        };
        let mtype = f.mtype();
        let fam = f.name.clone();
        let suffix = &name[fam.len().min(name.len())..];
        let get = |n: &str| {
            labels
                .iter()
                .find(|l| l.name == n)
                .map(|l| l.value.as_ref())
        };
        if mtype == MetricType::StateSet && get(&fam).is_none() {
            return Err(format!(
                "stateset sample of {fam:?} lacks the label {fam:?}"
            ));
        }
        let mut le = f64::NAN;
        if mtype.is_histogram() && suffix == "_bucket" {
            le = match get("le").map(canonical_float) {
                Some(Ok(v)) if !v.is_nan() => v,
                _ => {
                    return Err(format!(
                        "invalid le label {:?} in {name:?}",
                        get("le").unwrap_or("")
                    ));
                }
            };
        }
        if mtype == MetricType::Summary && suffix.is_empty() {
            match get("quantile").map(canonical_float) {
                Some(Ok(q)) if (0.0..=1.0).contains(&q) => {}
                _ => {
                    return Err(format!(
                        "invalid quantile label {:?} in {name:?}",
                        get("quantile").unwrap_or("")
                    ));
                }
            }
        }
        let group = group_key(&fam, name, mtype, labels);
        if f.group.as_ref().is_some_and(|g| *g != group) && f.seen_groups.contains(&group) {
            return Err(format!(
                "samples of {name:?} are not grouped together: {group}"
            ));
        }
        if f.group.as_ref() == Some(&group)
            && let Some(prev) = f.group_timestamp
        {
            if prev.is_some() != ts.is_some() {
                return Err(format!(
                    "mix of samples with and without timestamps in {name:?}"
                ));
            }
            if let (Some(p), Some(t)) = (prev, ts)
                && p > t
                && mtype != MetricType::Info
            {
                return Err(format!("timestamps went backwards in {name:?}"));
            }
        }
        f.group = Some(group.clone());
        f.group_timestamp = Some(ts);
        f.seen_groups.insert(group.clone());
        f.has_samples = true;
        if mtype.is_histogram() {
            f.histogram.push(HistogramSample {
                group: histogram_group(suffix, labels),
                timestamp: ts,
                suffix: suffix.to_string(),
                le,
                value,
            });
        }
        match mtype {
            MetricType::StateSet if value != 0.0 && value != 1.0 => {
                return Err(format!(
                    "stateset samples can only have values 0 and 1: {name:?}"
                ));
            }
            MetricType::Info if value != 1.0 => {
                return Err(format!("info samples can only have value 1: {name:?}"));
            }
            MetricType::Summary if suffix.is_empty() && value < 0.0 => {
                return Err(format!("quantile values cannot be negative: {name:?}"));
            }
            _ => {}
        }
        let counter_like =
            ["_total", "_sum", "_count", "_bucket", "_gcount", "_gsum"].contains(&suffix);
        if counter_like && value.is_nan() {
            return Err(format!("counter-like sample {name:?} cannot be NaN"));
        }
        if counter_like && suffix != "_gsum" && value < 0.0 {
            return Err(format!("counter-like sample {name:?} cannot be negative"));
        }
        let exemplar_ok = (mtype.is_histogram() && name.ends_with("_bucket"))
            || (mtype == MetricType::Counter && name.ends_with("_total"));
        if has_exemplar && !exemplar_ok {
            return Err(format!(
                "only histogram and gaugehistogram buckets and counters can have exemplars: {name:?}"
            ));
        }
        Ok(())
    }

    fn finish_family(&mut self, f: Family) -> Result<(), String> {
        let mtype = f.mtype();
        let mut suffixes: Vec<&str> = type_suffixes(mtype).to_vec();
        if !suffixes.contains(&"") {
            suffixes.push("");
        }
        for suffix in suffixes {
            let n = format!("{}{suffix}", f.name);
            if !self.seen_names.insert(n.clone()) {
                return Err(format!("clashing name {n:?}"));
            }
        }
        if let Some(unit) = f.unit.as_deref().filter(|u| !u.is_empty()) {
            if !f.name.ends_with(&format!("_{unit}")) {
                return Err(format!(
                    "unit {unit:?} does not match metric name {:?}",
                    f.name
                ));
            }
            if matches!(mtype, MetricType::Info | MetricType::StateSet) {
                return Err(format!(
                    "units are not allowed for {} metric {:?}",
                    mtype, f.name
                ));
            }
        }
        if mtype.is_histogram() {
            check_histogram(&f.name, &f.histogram)?;
        }
        Ok(())
    }
}

/// Numbers in `le` and `quantile` may be written freely, except that infinity must be
/// spelled `+Inf` (OpenMetrics' canonical form).
fn canonical_float(s: &str) -> Result<f64, ()> {
    let v = parse_go_float(s).map_err(|_| ())?;
    if v == f64::INFINITY && s != format_go_g(v) {
        return Err(());
    }
    Ok(v)
}

/// Samples that belong to the same metric point share a group: the labels without the
/// ones that vary within a point (`le`, `quantile`, the stateset label).
fn group_key(family: &str, name: &str, mtype: MetricType, labels: &[LabelPair<'_>]) -> String {
    if mtype == MetricType::Info {
        return String::new();
    }
    let skip = match mtype {
        MetricType::Summary if name == family => "quantile",
        MetricType::StateSet => family,
        MetricType::Histogram | MetricType::GaugeHistogram
            if name == format!("{family}_bucket") =>
        {
            "le"
        }
        _ => "\u{0}",
    };
    labels_key(labels, skip)
}

fn histogram_group(suffix: &str, labels: &[LabelPair<'_>]) -> String {
    labels_key(labels, if suffix == "_bucket" { "le" } else { "\u{0}" })
}

fn labels_key(labels: &[LabelPair<'_>], skip: &str) -> String {
    let mut v: Vec<(&str, &str)> = labels
        .iter()
        .filter(|l| l.name != skip)
        .map(|l| (l.name.as_ref(), l.value.as_ref()))
        .collect();
    v.sort_unstable();
    let mut key = String::from("{");
    for (i, (n, val)) in v.iter().enumerate() {
        if i > 0 {
            key.push(',');
        }
        key.push_str(&format!("{n}={val:?}"));
    }
    key.push('}');
    key
}

#[derive(Default)]
struct HistogramPoint {
    count: Option<f64>,
    last_bucket: Option<f64>,
    last_value: f64,
    negative_buckets: bool,
    has_sum: bool,
    has_gsum: bool,
    negative_gsum: bool,
}

impl HistogramPoint {
    fn check(&self, name: &str) -> Result<(), String> {
        if self.last_bucket != Some(f64::INFINITY) {
            return Err(format!("histogram {name:?} lacks the +Inf bucket"));
        }
        if self.count.is_some_and(|c| c != self.last_value) {
            return Err(format!(
                "histogram {name:?}: count does not match the +Inf bucket"
            ));
        }
        if self.has_sum && self.count.is_none() {
            return Err(format!(
                "histogram {name:?}: _count must be present if _sum is present"
            ));
        }
        if self.has_gsum && self.count.is_none() {
            return Err(format!(
                "histogram {name:?}: _gcount must be present if _gsum is present"
            ));
        }
        if !(self.has_sum || self.has_gsum) && self.count.is_some() {
            return Err(format!(
                "histogram {name:?}: _sum/_gsum must be present if _count is present"
            ));
        }
        if self.negative_buckets && self.has_sum {
            return Err(format!(
                "histogram {name:?} cannot have _sum with negative buckets"
            ));
        }
        if !self.negative_buckets && self.negative_gsum {
            return Err(format!(
                "histogram {name:?} cannot have a negative _gsum without negative buckets"
            ));
        }
        Ok(())
    }
}

fn check_histogram(name: &str, samples: &[HistogramSample]) -> Result<(), String> {
    let mut point: Option<(&str, Option<i64>, HistogramPoint)> = None;
    for s in samples {
        let same = point
            .as_ref()
            .is_some_and(|(g, t, _)| *g == s.group && *t == s.timestamp);
        if !same {
            if let Some((_, _, p)) = &point {
                p.check(name)?;
            }
            point = Some((&s.group, s.timestamp, HistogramPoint::default()));
        }
        let Some((_, _, p)) = point.as_mut() else {
            continue;
        };
        match s.suffix.as_str() {
            "_bucket" => {
                if s.le < 0.0 {
                    p.negative_buckets = true;
                }
                if p.last_bucket.is_some_and(|b| s.le <= b) {
                    return Err(format!("histogram {name:?}: buckets out of order"));
                }
                if s.value < p.last_value {
                    return Err(format!("histogram {name:?}: bucket values out of order"));
                }
                p.last_bucket = Some(s.le);
                p.last_value = s.value;
            }
            "_count" | "_gcount" => p.count = Some(s.value),
            "_sum" => p.has_sum = true,
            "_gsum" => {
                p.has_gsum = true;
                if s.value < 0.0 {
                    p.negative_gsum = true;
                }
            }
            _ => {}
        }
    }
    if let Some((_, _, p)) = &point {
        p.check(name)?;
    }
    Ok(())
}
