//! Metric families in owned form: what encoders write, and what the pushgateway and
//! `promtool`-style tools collect from a parsed exposition.

use hearth_model::{Exemplar, MetricType, Timestamp};

use crate::entry::Entry;

/// A metric family: metadata and the samples that belong to it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct MetricFamily {
    /// The family name (for OpenMetrics counters, without `_total`).
    pub name: String,
    pub metric_type: MetricType,
    pub help: Option<String>,
    pub unit: Option<String>,
    pub samples: Vec<FamilySample>,
}

/// One sample of a family: its full name (with any `_total`, `_bucket`, … suffix).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct FamilySample {
    pub name: String,
    /// Labels in exposition order, without the metric name.
    pub labels: Vec<(String, String)>,
    pub value: f64,
    pub timestamp: Option<Timestamp>,
    pub exemplar: Option<Exemplar>,
}

impl FamilySample {
    pub fn label(&self, name: &str) -> Option<&str> {
        self.labels
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Suffixes a sample name may carry beyond its family name, per type.
pub fn sample_suffixes(t: MetricType) -> &'static [&'static str] {
    match t {
        MetricType::Counter => &["_total", "_created", ""],
        MetricType::Summary => &["", "_count", "_sum", "_created"],
        MetricType::Histogram => &["_bucket", "_count", "_sum", "_created"],
        MetricType::GaugeHistogram => &["_bucket", "_gcount", "_gsum"],
        MetricType::Info => &["_info"],
        _ => &[""],
    }
}

/// Groups entries into families the way Prometheus' text format reads them: metadata
/// opens a family, samples join the current family when their name fits it, and a
/// sample that fits no open family starts an untyped one. A family that has no samples
/// yet absorbs further metadata for its name, and is replaced by a new family of the
/// same name, so repeated or stray metadata never leaves an empty duplicate behind.
#[derive(Default)]
pub struct FamilyCollector {
    families: Vec<MetricFamily>,
}

impl FamilyCollector {
    pub fn new() -> FamilyCollector {
        FamilyCollector::default()
    }

    pub fn push(&mut self, e: &Entry<'_>) {
        match e {
            Entry::Help { name, help } => {
                self.family_for_metadata(name).help = Some(help.to_string())
            }
            Entry::Type { name, metric_type } => {
                self.family_for_metadata(name).metric_type = *metric_type
            }
            Entry::Unit { name, unit } => {
                self.family_for_metadata(name).unit = Some(unit.to_string())
            }
            Entry::Comment(_) | Entry::Histogram(_) => {}
            Entry::Sample(s) => {
                let sample = FamilySample {
                    name: s.name.to_string(),
                    labels: s
                        .labels
                        .iter()
                        .map(|l| (l.name.to_string(), l.value.to_string()))
                        .collect(),
                    value: s.value,
                    timestamp: s.timestamp,
                    exemplar: s.exemplars.first().cloned(),
                };
                let fits = self.families.last().is_some_and(|f| {
                    sample_suffixes(f.metric_type)
                        .iter()
                        .any(|suffix| s.name.strip_suffix(suffix) == Some(f.name.as_str()))
                });
                if !fits {
                    if self
                        .families
                        .last()
                        .is_some_and(|f| f.name == s.name && f.samples.is_empty())
                    {
                        self.families.pop();
                    }
                    self.families.push(MetricFamily {
                        name: s.name.to_string(),
                        ..Default::default()
                    });
                }
                if let Some(f) = self.families.last_mut() {
                    f.samples.push(sample);
                }
            }
        }
    }

    fn family_for_metadata(&mut self, name: &str) -> &mut MetricFamily {
        let reuse = self
            .families
            .last()
            .is_some_and(|f| f.name == name && f.samples.is_empty());
        if !reuse {
            self.families.push(MetricFamily {
                name: name.to_string(),
                ..Default::default()
            });
        }
        let last = self.families.len() - 1;
        &mut self.families[last]
    }

    pub fn finish(self) -> Vec<MetricFamily> {
        self.families
    }
}
