//! hearth's own metrics: build info and process metrics, through the official
//! `prometheus-client` crate. Components register their metrics into the same
//! [`Registry`]; whatever serves HTTP exposes it at `/metrics`.

use std::fmt::Write as _;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric, MetricEncoder};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::registry::Registry;

use hearth_discovery::self_metrics::{SelfMetric, SelfValue, SummarySnapshot};
use hearth_exposition::{FamilySample, MetricFamily};
use hearth_model::MetricType;
use hearth_model::float::format_openmetrics;
use hearth_node_exporter::process::ProcessSnapshot;

use crate::build_info;

/// Builds the registry with `hearth_build_info` and the `process_*` metrics.
pub fn new_registry() -> Registry {
    let mut registry = Registry::default();
    let build_info = Family::<Vec<(String, String)>, Gauge>::default();
    build_info
        .get_or_create(&vec![
            ("version".into(), build_info::VERSION.into()),
            ("revision".into(), build_info::REVISION.into()),
            ("branch".into(), build_info::BRANCH.into()),
            ("rustversion".into(), build_info::RUST_VERSION.into()),
            ("goos".into(), std::env::consts::OS.into()),
            ("goarch".into(), std::env::consts::ARCH.into()),
        ])
        .set(1);
    registry.register(
        "hearth_build_info",
        "A metric with a constant '1' value labeled by version, revision, branch, and rustversion from which hearth was built",
        build_info,
    );
    registry.register_collector(Box::new(ProcessCollector::new()));
    registry
}

/// Encodes the registry as OpenMetrics text.
pub fn encode(registry: &Registry) -> String {
    let mut out = String::new();
    if prometheus_client::encoding::text::encode(&mut out, registry).is_err() {
        // Encoding into a String only fails if a collector fails; report it in-band.
        out.clear();
        let _ = writeln!(out, "# hearth: encoding own metrics failed\n# EOF");
    }
    out
}

/// Encodes the registry, then `families` (metrics kept outside `prometheus-client`:
/// summaries and per-label counters of components), as one OpenMetrics exposition.
pub fn encode_with(registry: &Registry, families: &[hearth_exposition::MetricFamily]) -> String {
    let mut out = encode(registry);
    if out.ends_with("# EOF\n") {
        out.truncate(out.len() - "# EOF\n".len());
    }
    let families: Vec<_> = families
        .iter()
        .filter(|f| !f.samples.is_empty())
        .cloned()
        .collect();
    hearth_exposition::encode_openmetrics(&families, &mut out);
    out
}

/// One sample of a family kept outside `prometheus-client`.
pub fn sample(name: &str, labels: &[(&str, &str)], value: f64) -> FamilySample {
    FamilySample {
        name: name.to_string(),
        labels: labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        value,
        timestamp: None,
        exemplar: None,
    }
}

/// A family kept outside `prometheus-client`.
pub fn family(name: &str, typ: MetricType, help: &str, samples: Vec<FamilySample>) -> MetricFamily {
    MetricFamily {
        name: name.to_string(),
        metric_type: typ,
        help: Some(help.to_string()),
        unit: None,
        samples,
    }
}

/// A summary's samples: one per quantile, then `_sum` and `_count`.
pub fn summary_samples(
    name: &str,
    labels: &[(&str, &str)],
    s: &SummarySnapshot,
) -> Vec<FamilySample> {
    let mut out = Vec::new();
    for (q, v) in &s.quantiles {
        let q = format_openmetrics(*q);
        let mut l = labels.to_vec();
        l.push(("quantile", &q));
        out.push(sample(name, &l, *v));
    }
    out.push(sample(&format!("{name}_sum"), labels, s.sum));
    out.push(sample(&format!("{name}_count"), labels, s.count as f64));
    out
}

/// Own metrics of discovery and scraping as families: consecutive samples of one name
/// form one family.
pub fn self_metric_families(metrics: &[SelfMetric]) -> Vec<MetricFamily> {
    let mut out: Vec<MetricFamily> = Vec::new();
    for m in metrics {
        let labels: Vec<(&str, &str)> = m.labels.iter().map(|(n, v)| (*n, v.as_str())).collect();
        let (typ, samples) = match &m.value {
            SelfValue::Counter(v) => (MetricType::Counter, vec![sample(m.name, &labels, *v)]),
            SelfValue::Gauge(v) => (MetricType::Gauge, vec![sample(m.name, &labels, *v)]),
            SelfValue::Summary(s) => (MetricType::Summary, summary_samples(m.name, &labels, s)),
        };
        match out.last_mut() {
            Some(f) if f.name == m.name => f.samples.extend(samples),
            _ => out.push(family(m.name, typ, m.help, samples)),
        }
    }
    out
}

/// The `process_*` metrics client libraries export, read by the node exporter's
/// [`ProcessSnapshot`] so every component reports them alike and dashboards built for
/// Prometheus' own process metrics work against hearth.
#[derive(Debug)]
struct ProcessCollector {
    start_time_seconds: f64,
}

impl ProcessCollector {
    fn new() -> ProcessCollector {
        ProcessCollector {
            start_time_seconds: ProcessSnapshot::read().start_time_seconds.unwrap_or(0.0),
        }
    }
}

fn gauge(
    enc: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    v: f64,
) -> Result<(), std::fmt::Error> {
    let g = ConstGauge::new(v);
    let m = enc.encode_descriptor(name, help, None, g.metric_type())?;
    g.encode(m)
}

fn counter(
    enc: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    v: f64,
) -> Result<(), std::fmt::Error> {
    let c = ConstCounter::new(v);
    let m = enc.encode_descriptor(name, help, None, c.metric_type())?;
    c.encode(m)
}

impl Collector for ProcessCollector {
    fn encode(&self, mut enc: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let p = ProcessSnapshot::read();
        // prometheus-client appends `_total` to counter names itself.
        let counters = [
            (
                "process_cpu_seconds",
                "Total user and system CPU time spent in seconds.",
                p.cpu_seconds,
            ),
            (
                "process_network_receive_bytes",
                "Number of bytes received by the process over the network.",
                p.network_receive_bytes,
            ),
            (
                "process_network_transmit_bytes",
                "Number of bytes sent by the process over the network.",
                p.network_transmit_bytes,
            ),
        ];
        for (name, help, v) in counters {
            if let Some(v) = v {
                counter(&mut enc, name, help, v)?;
            }
        }
        let gauges = [
            (
                "process_virtual_memory_bytes",
                "Virtual memory size in bytes.",
                p.virtual_memory_bytes,
            ),
            (
                "process_resident_memory_bytes",
                "Resident memory size in bytes.",
                p.resident_memory_bytes,
            ),
            (
                "process_start_time_seconds",
                "Start time of the process since unix epoch in seconds.",
                Some(self.start_time_seconds),
            ),
            (
                "process_open_fds",
                "Number of open file descriptors.",
                p.open_fds,
            ),
            (
                "process_max_fds",
                "Maximum number of open file descriptors.",
                p.max_fds,
            ),
            (
                "process_virtual_memory_max_bytes",
                "Maximum amount of virtual memory available in bytes.",
                p.virtual_memory_max_bytes,
            ),
        ];
        for (name, help, v) in gauges {
            if let Some(v) = v {
                gauge(&mut enc, name, help, v)?;
            }
        }
        Ok(())
    }
}

/// One sample of a metric a component keeps itself, read at every scrape.
#[derive(Debug, Clone)]
pub struct OwnSample {
    pub name: &'static str,
    pub help: &'static str,
    pub kind: hearth_tsdb::head::MetricKind,
    pub labels: Vec<(&'static str, String)>,
    pub value: f64,
}

impl From<hearth_tsdb::head::MetricSample> for OwnSample {
    fn from(s: hearth_tsdb::head::MetricSample) -> OwnSample {
        OwnSample {
            name: s.name,
            help: s.help,
            kind: s.kind,
            labels: s
                .label
                .into_iter()
                .map(|(n, v)| (n, v.to_string()))
                .collect(),
            value: s.value,
        }
    }
}

/// Metrics a component keeps itself (the head's `prometheus_tsdb_*`, the remote write
/// queues' `prometheus_remote_storage_*`), read at every scrape: consecutive samples of
/// one name form one family, told apart by their labels.
pub struct SampleCollector {
    samples: Box<dyn Fn() -> Vec<OwnSample> + Send + Sync>,
}

impl SampleCollector {
    pub fn new(samples: impl Fn() -> Vec<OwnSample> + Send + Sync + 'static) -> SampleCollector {
        SampleCollector {
            samples: Box::new(samples),
        }
    }
}

impl std::fmt::Debug for SampleCollector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SampleCollector")
    }
}

impl Collector for SampleCollector {
    fn encode(&self, mut enc: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        use hearth_tsdb::head::MetricKind;
        use prometheus_client::encoding::NoLabelSet;
        use prometheus_client::metrics::MetricType;
        let samples = (self.samples)();
        let mut i = 0;
        while i < samples.len() {
            let first = &samples[i];
            let same = samples[i..]
                .iter()
                .take_while(|s| s.name == first.name)
                .count();
            let (name, typ) = match first.kind {
                // prometheus-client appends `_total` to counters itself.
                MetricKind::Counter => (
                    first.name.strip_suffix("_total").unwrap_or(first.name),
                    MetricType::Counter,
                ),
                MetricKind::Gauge => (first.name, MetricType::Gauge),
            };
            let mut family = enc.encode_descriptor(name, first.help, None, typ)?;
            for s in &samples[i..i + same] {
                let labels: Vec<(&str, &str)> =
                    s.labels.iter().map(|(n, v)| (*n, v.as_str())).collect();
                let value = |m: &mut MetricEncoder| match s.kind {
                    MetricKind::Counter => m.encode_counter::<NoLabelSet, _, f64>(&s.value, None),
                    MetricKind::Gauge => m.encode_gauge(&s.value),
                };
                // An empty label set would still print as `{}`.
                if labels.is_empty() {
                    value(&mut family)?;
                } else {
                    value(&mut family.encode_family(&labels)?)?;
                }
            }
            i += same;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exposes_build_info_and_process_metrics() {
        let text = encode(&new_registry());
        for name in [
            "hearth_build_info{",
            "process_cpu_seconds_total ",
            "process_resident_memory_bytes ",
            "process_start_time_seconds ",
            "process_open_fds ",
            "process_max_fds ",
        ] {
            assert!(text.contains(name), "missing {name} in:\n{text}");
        }
        assert!(text.ends_with("# EOF\n"));
        // The output is valid OpenMetrics by hearth's own strict parser.
        let mut p =
            hearth_exposition::OpenMetricsParser::new(text.as_bytes(), Default::default()).unwrap();
        let mut samples = 0;
        while let Some(e) = p.next().unwrap() {
            samples += usize::from(matches!(e, hearth_exposition::Entry::Sample(_)));
        }
        assert!(samples >= 6);
    }
}
