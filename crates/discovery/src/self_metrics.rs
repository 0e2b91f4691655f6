//! Samples of hearth's own SD and scrape metrics (upstream's `prometheus_sd_*`, and the
//! scrape crate's `prometheus_target_*`), in a form the binary exposes at `/metrics`.

/// One sample of an own metric.
#[derive(Clone, Debug, PartialEq)]
pub struct SelfMetric {
    pub name: &'static str,
    pub help: &'static str,
    /// Counter (else gauge).
    pub counter: bool,
    pub labels: Vec<(&'static str, String)>,
    pub value: f64,
}

impl SelfMetric {
    pub fn counter(name: &'static str, help: &'static str, value: u64) -> SelfMetric {
        SelfMetric {
            name,
            help,
            counter: true,
            labels: Vec::new(),
            value: value as f64,
        }
    }

    pub fn gauge(name: &'static str, help: &'static str, value: f64) -> SelfMetric {
        SelfMetric {
            name,
            help,
            counter: false,
            labels: Vec::new(),
            value,
        }
    }

    pub fn with(mut self, name: &'static str, value: impl Into<String>) -> SelfMetric {
        self.labels.push((name, value.into()));
        self
    }
}
