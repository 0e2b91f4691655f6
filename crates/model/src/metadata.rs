//! Metric metadata: type, help and unit.

use std::fmt;
use std::str::FromStr;

/// The type of a metric family, as named in the exposition formats and the HTTP API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum MetricType {
    Counter,
    Gauge,
    Histogram,
    GaugeHistogram,
    Summary,
    Info,
    StateSet,
    #[default]
    Unknown,
}

impl MetricType {
    /// The name used by OpenMetrics and Prometheus' metadata API.
    pub fn as_str(self) -> &'static str {
        match self {
            MetricType::Counter => "counter",
            MetricType::Gauge => "gauge",
            MetricType::Histogram => "histogram",
            MetricType::GaugeHistogram => "gaugehistogram",
            MetricType::Summary => "summary",
            MetricType::Info => "info",
            MetricType::StateSet => "stateset",
            MetricType::Unknown => "unknown",
        }
    }

    /// The name used by the Prometheus text format 0.0.4 (which has no info/stateset and
    /// calls unknown "untyped").
    pub fn as_text_str(self) -> &'static str {
        match self {
            MetricType::Unknown | MetricType::Info | MetricType::StateSet => "untyped",
            MetricType::GaugeHistogram => "histogram",
            t => t.as_str(),
        }
    }

    pub fn is_histogram(self) -> bool {
        matches!(self, MetricType::Histogram | MetricType::GaugeHistogram)
    }
}

impl fmt::Display for MetricType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An unknown metric type name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid metric type {0:?}")]
pub struct UnknownMetricType(pub String);

impl FromStr for MetricType {
    type Err = UnknownMetricType;
    /// Accepts the OpenMetrics names and the text format's `untyped`.
    fn from_str(s: &str) -> Result<MetricType, UnknownMetricType> {
        Ok(match s {
            "counter" => MetricType::Counter,
            "gauge" => MetricType::Gauge,
            "histogram" => MetricType::Histogram,
            "gaugehistogram" => MetricType::GaugeHistogram,
            "summary" => MetricType::Summary,
            "info" => MetricType::Info,
            "stateset" => MetricType::StateSet,
            "unknown" | "untyped" => MetricType::Unknown,
            other => return Err(UnknownMetricType(other.to_string())),
        })
    }
}

/// What is known about a metric family besides its samples.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Metadata {
    pub metric_type: MetricType,
    pub help: String,
    pub unit: String,
}
