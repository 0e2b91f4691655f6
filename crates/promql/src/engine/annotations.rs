//! Warnings and infos a query returns next to its result (upstream's
//! `util/annotations`): the exact texts of upstream's annotations, deduplicated by text,
//! each with the position of the expression that caused it.

use std::collections::HashSet;
use std::fmt::Write as _;

use crate::ast::PosRange;

/// Whether an annotation is a warning or an info.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AnnotationKind {
    Warning,
    Info,
}

/// One annotation: `PromQL warning: ...` or `PromQL info: ...`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Annotation {
    pub kind: AnnotationKind,
    /// The full text without position, as upstream's test harness compares it.
    pub message: String,
    /// The expression the annotation is about.
    pub pos: PosRange,
}

impl Annotation {
    fn warning(pos: PosRange, text: String) -> Annotation {
        Annotation {
            kind: AnnotationKind::Warning,
            message: format!("PromQL warning: {text}"),
            pos,
        }
    }

    fn info(pos: PosRange, text: String) -> Annotation {
        Annotation {
            kind: AnnotationKind::Info,
            message: format!("PromQL info: {text}"),
            pos,
        }
    }

    /// The text with the `line:column` of the expression in `query`, as the HTTP API
    /// reports it (`... (1:6)`).
    pub fn with_position(&self, query: &str) -> String {
        let start = self.pos.start.min(query.len());
        let before = &query.as_bytes()[..start];
        let line = before.iter().filter(|b| **b == b'\n').count() + 1;
        let col = match before.iter().rposition(|b| *b == b'\n') {
            Some(nl) => start - nl,
            None => start + 1,
        };
        format!("{} ({line}:{col})", self.message)
    }
}

/// Appends ` for metric name "x"` when the name is known (upstream's
/// `maybeAddMetricName`).
fn for_metric_name(text: &str, metric_name: &str) -> String {
    if metric_name.is_empty() {
        text.to_string()
    } else {
        format!("{text} for metric name {}", go_quote(metric_name))
    }
}

fn go_quote(s: &str) -> String {
    hearth_model::names::go_quote(s)
}

/// Which histogram operation an annotation is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HistogramOperation {
    Addition,
    Subtraction,
    Aggregation,
}

impl HistogramOperation {
    fn as_str(self) -> &'static str {
        match self {
            HistogramOperation::Addition => "addition",
            HistogramOperation::Subtraction => "subtraction",
            HistogramOperation::Aggregation => "aggregation",
        }
    }
}

/// Constructors for every annotation upstream emits, named as upstream's `New...`.
impl Annotation {
    pub fn invalid_quantile(q: f64, pos: PosRange) -> Annotation {
        Annotation::warning(
            pos,
            format!(
                "quantile value should be between 0 and 1, got {}",
                hearth_model::float::format_go_g(q)
            ),
        )
    }

    pub fn invalid_ratio(q: f64, to: f64, pos: PosRange) -> Annotation {
        Annotation::warning(
            pos,
            format!(
                "ratio value should be between -1 and 1, got {}, capping to {}",
                hearth_model::float::format_go_g(q),
                hearth_model::float::format_go_g(to)
            ),
        )
    }

    pub fn bad_bucket_label(metric_name: &str, label: &str, pos: PosRange) -> Annotation {
        Annotation::warning(
            pos,
            for_metric_name(
                &format!(
                    "bucket label \"le\" is missing or has a malformed value of {}",
                    go_quote(label)
                ),
                metric_name,
            ),
        )
    }

    pub fn mixed_floats_histograms(metric_name: &str, pos: PosRange) -> Annotation {
        Annotation::warning(
            pos,
            format!(
                "encountered a mix of histograms and floats for metric name {}",
                go_quote(metric_name)
            ),
        )
    }

    pub fn mixed_floats_histograms_aggregation(pos: PosRange) -> Annotation {
        Annotation::warning(
            pos,
            "encountered a mix of histograms and floats for aggregation".to_string(),
        )
    }

    pub fn mixed_classic_native_histograms(metric_name: &str, pos: PosRange) -> Annotation {
        Annotation::warning(
            pos,
            for_metric_name(
                "vector contains a mix of classic and native histograms",
                metric_name,
            ),
        )
    }

    pub fn native_histogram_not_counter(metric_name: &str, pos: PosRange) -> Annotation {
        Annotation::warning(
            pos,
            format!(
                "this native histogram metric is not a counter: {}",
                go_quote(metric_name)
            ),
        )
    }

    pub fn native_histogram_not_gauge(metric_name: &str, pos: PosRange) -> Annotation {
        Annotation::warning(
            pos,
            format!(
                "this native histogram metric is not a gauge: {}",
                go_quote(metric_name)
            ),
        )
    }

    pub fn mixed_exponential_custom_histograms(metric_name: &str, pos: PosRange) -> Annotation {
        Annotation::warning(
            pos,
            format!(
                "vector contains a mix of histograms with exponential and custom buckets schemas for metric name {}",
                go_quote(metric_name)
            ),
        )
    }

    pub fn incompatible_custom_buckets_histograms(metric_name: &str, pos: PosRange) -> Annotation {
        Annotation::warning(
            pos,
            format!(
                "vector contains histograms with incompatible custom buckets for metric name {}",
                go_quote(metric_name)
            ),
        )
    }

    pub fn incompatible_bucket_layout_in_binop(operator: &str, pos: PosRange) -> Annotation {
        Annotation::warning(
            pos,
            format!("incompatible bucket layout encountered for binary operator {operator}"),
        )
    }

    pub fn histogram_counter_reset_collision(op: HistogramOperation, pos: PosRange) -> Annotation {
        Annotation::warning(
            pos,
            format!(
                "conflicting counter resets during histogram {}",
                op.as_str()
            ),
        )
    }

    pub fn mismatched_custom_buckets(op: HistogramOperation, pos: PosRange) -> Annotation {
        Annotation::info(
            pos,
            format!(
                "mismatched custom buckets were reconciled during {}",
                op.as_str()
            ),
        )
    }

    pub fn sort_in_range_query(pos: PosRange) -> Annotation {
        Annotation::warning(
            pos,
            "sort is ineffective for range queries since results are always ordered by labels"
                .to_string(),
        )
    }

    pub fn start_timestamp_overlap(metric_name: &str, pos: PosRange) -> Annotation {
        Annotation::warning(
            pos,
            format!(
                "sample has start time that overlaps with previous sample timestamp for metric {}",
                go_quote(metric_name)
            ),
        )
    }

    pub fn possible_non_counter(metric_name: &str, pos: PosRange) -> Annotation {
        Annotation::info(
            pos,
            format!(
                "metric might not be a counter, name does not end in _total/_sum/_count/_bucket: {}",
                go_quote(metric_name)
            ),
        )
    }

    pub fn possible_non_counter_label(
        metric_name: &str,
        type_label: &str,
        pos: PosRange,
    ) -> Annotation {
        Annotation::info(
            pos,
            format!(
                "metric might not be a counter, __type__ label is not set to \"counter\" or \"histogram\", got {}: {}",
                go_quote(type_label),
                go_quote(metric_name)
            ),
        )
    }

    pub fn histogram_quantile_forced_monotonicity(metric_name: &str, pos: PosRange) -> Annotation {
        Annotation::info(
            pos,
            for_metric_name(
                "input to histogram_quantile needed to be fixed for monotonicity (see https://prometheus.io/docs/prometheus/latest/querying/functions/#histogram_quantile)",
                metric_name,
            ),
        )
    }

    pub fn incompatible_types_in_binop(
        lhs_type: &str,
        operator: &str,
        rhs_type: &str,
        pos: PosRange,
    ) -> Annotation {
        Annotation::info(
            pos,
            format!(
                "incompatible sample types encountered for binary operator {}: {lhs_type} {operator} {rhs_type}",
                go_quote(operator)
            ),
        )
    }

    pub fn histogram_ignored_in_aggregation(aggregation: &str, pos: PosRange) -> Annotation {
        Annotation::info(
            pos,
            format!("ignored histogram in {aggregation} aggregation"),
        )
    }

    pub fn histogram_ignored_in_mixed_range(metric_name: &str, pos: PosRange) -> Annotation {
        Annotation::info(
            pos,
            format!(
                "ignored histograms in a range containing both floats and histograms for metric name {}",
                go_quote(metric_name)
            ),
        )
    }

    pub fn native_histogram_quantile_nan_result(metric_name: &str, pos: PosRange) -> Annotation {
        Annotation::info(
            pos,
            for_metric_name(
                "input to histogram_quantile has NaN observations, result is NaN",
                metric_name,
            ),
        )
    }

    pub fn native_histogram_quantile_nan_skew(metric_name: &str, pos: PosRange) -> Annotation {
        Annotation::info(
            pos,
            for_metric_name(
                "input to histogram_quantile has NaN observations, result is skewed higher",
                metric_name,
            ),
        )
    }

    pub fn native_histogram_fraction_nans(metric_name: &str, pos: PosRange) -> Annotation {
        Annotation::info(
            pos,
            for_metric_name(
                "input to histogram_fraction has NaN observations, which are excluded from all fractions",
                metric_name,
            ),
        )
    }
}

/// The annotations of one query, in the order first seen, without repeats.
#[derive(Debug, Clone, Default)]
pub struct Annotations {
    items: Vec<Annotation>,
    seen: HashSet<String>,
}

impl Annotations {
    pub fn new() -> Annotations {
        Annotations::default()
    }

    pub fn add(&mut self, a: Annotation) {
        if !self.seen.contains(&a.message) {
            self.seen.insert(a.message.clone());
            self.items.push(a);
        }
    }

    pub fn merge(&mut self, other: Annotations) {
        for a in other.items {
            self.add(a);
        }
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn iter(&self) -> std::slice::Iter<'_, Annotation> {
        self.items.iter()
    }

    pub fn warnings(&self) -> impl Iterator<Item = &Annotation> {
        self.items
            .iter()
            .filter(|a| a.kind == AnnotationKind::Warning)
    }

    pub fn infos(&self) -> impl Iterator<Item = &Annotation> {
        self.items.iter().filter(|a| a.kind == AnnotationKind::Info)
    }

    /// Warnings and infos as the HTTP API returns them: texts with positions in `query`,
    /// at most `max_warnings`/`max_infos` of each (0: no limit), then a line saying how
    /// many were left out.
    pub fn as_strings(
        &self,
        query: &str,
        max_warnings: usize,
        max_infos: usize,
    ) -> (Vec<String>, Vec<String>) {
        let mut warnings = Vec::new();
        let mut infos = Vec::new();
        let (mut warn_skipped, mut info_skipped) = (0, 0);
        for a in &self.items {
            let (list, max, skipped) = match a.kind {
                AnnotationKind::Warning => (&mut warnings, max_warnings, &mut warn_skipped),
                AnnotationKind::Info => (&mut infos, max_infos, &mut info_skipped),
            };
            if max == 0 || list.len() < max {
                list.push(a.with_position(query));
            } else {
                *skipped += 1;
            }
        }
        let mut note = String::new();
        if warn_skipped > 0 {
            let _ = write!(note, "{warn_skipped} more warning annotations omitted");
            warnings.push(std::mem::take(&mut note));
        }
        if info_skipped > 0 {
            let _ = write!(note, "{info_skipped} more info annotations omitted");
            infos.push(note);
        }
        (warnings, infos)
    }
}

impl<'a> IntoIterator for &'a Annotations {
    type Item = &'a Annotation;
    type IntoIter = std::slice::Iter<'a, Annotation>;
    fn into_iter(self) -> Self::IntoIter {
        self.items.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts_and_positions() {
        let a = Annotation::possible_non_counter("foo", PosRange::new(5, 8));
        assert_eq!(
            a.message,
            "PromQL info: metric might not be a counter, name does not end in _total/_sum/_count/_bucket: \"foo\""
        );
        assert_eq!(
            a.with_position("rate(foo[5m])"),
            format!("{} (1:6)", a.message)
        );
        let q = Annotation::invalid_quantile(f64::NAN, PosRange::default());
        assert_eq!(
            q.message,
            "PromQL warning: quantile value should be between 0 and 1, got NaN"
        );
        let mut all = Annotations::new();
        all.add(q.clone());
        all.add(q);
        assert_eq!(all.len(), 1);
    }
}
