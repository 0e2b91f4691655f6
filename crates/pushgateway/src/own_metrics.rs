//! The pushgateway's own metrics, exposed at `/metrics` next to the pushed ones (as
//! upstream mixes its registry into the same endpoint): `process_*`,
//! `pushgateway_build_info`, `pushgateway_http_requests_total`, the push size and
//! duration summaries (count and sum only) and `promhttp_metric_handler_requests_total`.
//!
//! They are built as protobuf families so the consistency check sees them exactly as it
//! sees pushed ones: a push that reuses one of these names with another type is refused,
//! one with another help text gets this help.

use std::collections::{BTreeMap, HashMap};

use hearth_exposition::proto;
use hearth_node_exporter::process::ProcessSnapshot;
use parking_lot::Mutex;

/// What `pushgateway_build_info` and `/api/v1/status` report about this build.
#[derive(Debug, Clone, Default)]
pub struct BuildInfo {
    pub version: String,
    pub revision: String,
    pub branch: String,
    pub build_user: String,
    pub build_date: String,
    /// The toolchain, in the `goversion` label's place.
    pub toolchain: String,
}

/// Counters and summaries the HTTP layer updates.
pub struct OwnMetrics {
    build: BuildInfo,
    start_time_seconds: Option<f64>,
    requests: Mutex<BTreeMap<(&'static str, u16, String), u64>>,
    /// Per method: (count, sum) of push sizes in bytes and durations in seconds.
    push_size: Mutex<BTreeMap<String, (u64, f64)>>,
    push_duration: Mutex<BTreeMap<String, (u64, f64)>>,
    scrapes: Mutex<BTreeMap<u16, u64>>,
}

const REQUESTS: (&str, &str) = (
    "pushgateway_http_requests_total",
    "Total HTTP requests processed by the Pushgateway, excluding scrapes.",
);
const PUSH_SIZE: (&str, &str) = (
    "pushgateway_http_push_size_bytes",
    "HTTP request size for pushes to the Pushgateway.",
);
const PUSH_DURATION: (&str, &str) = (
    "pushgateway_http_push_duration_seconds",
    "HTTP request duration for pushes to the Pushgateway.",
);
const SCRAPES: (&str, &str) = (
    "promhttp_metric_handler_requests_total",
    "Total number of scrapes by HTTP status code.",
);
const BUILD_INFO: (&str, &str) = (
    "pushgateway_build_info",
    "A metric with a constant '1' value labeled by version, revision, branch, goversion from which pushgateway was built, and the goos and goarch for the build.",
);

/// (name, help, counter?) of the process metrics, in client_golang's words.
const PROCESS: [(&str, &str, bool); 9] = [
    (
        "process_cpu_seconds_total",
        "Total user and system CPU time spent in seconds.",
        true,
    ),
    (
        "process_max_fds",
        "Maximum number of open file descriptors.",
        false,
    ),
    (
        "process_network_receive_bytes_total",
        "Number of bytes received by the process over the network.",
        true,
    ),
    (
        "process_network_transmit_bytes_total",
        "Number of bytes sent by the process over the network.",
        true,
    ),
    (
        "process_open_fds",
        "Number of open file descriptors.",
        false,
    ),
    (
        "process_resident_memory_bytes",
        "Resident memory size in bytes.",
        false,
    ),
    (
        "process_start_time_seconds",
        "Start time of the process since unix epoch in seconds.",
        false,
    ),
    (
        "process_virtual_memory_bytes",
        "Virtual memory size in bytes.",
        false,
    ),
    (
        "process_virtual_memory_max_bytes",
        "Maximum amount of virtual memory available in bytes.",
        false,
    ),
];

fn labels(pairs: &[(&str, &str)]) -> Vec<proto::LabelPair> {
    pairs
        .iter()
        .map(|(n, v)| proto::LabelPair {
            name: n.to_string(),
            value: v.to_string(),
        })
        .collect()
}

fn family(
    (name, help): (&str, &str),
    t: proto::MetricType,
    metric: Vec<proto::Metric>,
) -> proto::MetricFamily {
    proto::MetricFamily {
        name: name.into(),
        help: help.into(),
        r#type: t as i32,
        metric,
        unit: String::new(),
    }
}

fn counter(label: Vec<proto::LabelPair>, value: f64) -> proto::Metric {
    proto::Metric {
        label,
        counter: Some(proto::Counter {
            value,
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn gauge(label: Vec<proto::LabelPair>, value: f64) -> proto::Metric {
    proto::Metric {
        label,
        gauge: Some(proto::Gauge { value }),
        ..Default::default()
    }
}

/// Go's name for the architecture.
fn goarch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        other => other,
    }
}

impl OwnMetrics {
    pub fn new(build: BuildInfo) -> OwnMetrics {
        OwnMetrics {
            build,
            start_time_seconds: ProcessSnapshot::read().start_time_seconds,
            requests: Mutex::default(),
            push_size: Mutex::default(),
            push_duration: Mutex::default(),
            scrapes: Mutex::default(),
        }
    }

    pub fn build(&self) -> &BuildInfo {
        &self.build
    }

    /// Counts a request to `handler` (upstream's handler names: push, delete, healthy,
    /// ready, wipe, api/v1/status, …).
    pub fn count_request(&self, handler: &'static str, method: &str, code: u16) {
        *self
            .requests
            .lock()
            .entry((handler, code, method.to_ascii_lowercase()))
            .or_default() += 1;
    }

    pub fn observe_push(&self, method: &str, size_bytes: usize, seconds: f64) {
        let m = method.to_ascii_lowercase();
        let mut s = self.push_size.lock();
        let e = s.entry(m.clone()).or_default();
        e.0 += 1;
        e.1 += size_bytes as f64;
        drop(s);
        let mut d = self.push_duration.lock();
        let e = d.entry(m).or_default();
        e.0 += 1;
        e.1 += seconds;
    }

    pub fn count_scrape(&self, code: u16) {
        *self.scrapes.lock().entry(code).or_default() += 1;
    }

    /// Help texts of every own family, for pushed families of the same names.
    pub fn predefined_help(&self) -> HashMap<String, String> {
        PROCESS
            .iter()
            .map(|(n, h, _)| (n.to_string(), h.to_string()))
            .chain(
                [REQUESTS, PUSH_SIZE, PUSH_DURATION, SCRAPES, BUILD_INFO]
                    .iter()
                    .map(|(n, h)| (n.to_string(), h.to_string())),
            )
            .collect()
    }

    /// Every own family with its current values (families without samples left out).
    pub fn families(&self) -> Vec<proto::MetricFamily> {
        let p = ProcessSnapshot::read();
        let values = [
            p.cpu_seconds,
            p.max_fds,
            p.network_receive_bytes,
            p.network_transmit_bytes,
            p.open_fds,
            p.resident_memory_bytes,
            self.start_time_seconds,
            p.virtual_memory_bytes,
            p.virtual_memory_max_bytes,
        ];
        let mut out = Vec::new();
        for ((name, help, is_counter), v) in PROCESS.iter().zip(values) {
            let Some(v) = v else { continue };
            out.push(if *is_counter {
                family(
                    (name, help),
                    proto::MetricType::Counter,
                    vec![counter(vec![], v)],
                )
            } else {
                family(
                    (name, help),
                    proto::MetricType::Gauge,
                    vec![gauge(vec![], v)],
                )
            });
        }
        let b = &self.build;
        out.push(family(
            BUILD_INFO,
            proto::MetricType::Gauge,
            vec![gauge(
                labels(&[
                    ("branch", &b.branch),
                    ("goarch", goarch()),
                    ("goos", std::env::consts::OS),
                    ("goversion", &b.toolchain),
                    ("revision", &b.revision),
                    ("tags", "unknown"),
                    ("version", &b.version),
                ]),
                1.0,
            )],
        ));
        let requests: Vec<proto::Metric> = self
            .requests
            .lock()
            .iter()
            .map(|((handler, code, method), n)| {
                counter(
                    labels(&[
                        ("code", &code.to_string()),
                        ("handler", handler),
                        ("method", method),
                    ]),
                    *n as f64,
                )
            })
            .collect();
        out.push(family(REQUESTS, proto::MetricType::Counter, requests));
        for (desc, data) in [
            (PUSH_SIZE, &self.push_size),
            (PUSH_DURATION, &self.push_duration),
        ] {
            let metrics = data
                .lock()
                .iter()
                .map(|(method, (count, sum))| proto::Metric {
                    label: labels(&[("method", method)]),
                    summary: Some(proto::Summary {
                        sample_count: *count,
                        sample_sum: *sum,
                        ..Default::default()
                    }),
                    ..Default::default()
                })
                .collect();
            out.push(family(desc, proto::MetricType::Summary, metrics));
        }
        let scrapes = self
            .scrapes
            .lock()
            .iter()
            .map(|(code, n)| counter(labels(&[("code", &code.to_string())]), *n as f64))
            .collect();
        out.push(family(SCRAPES, proto::MetricType::Counter, scrapes));
        out.retain(|f| !f.metric.is_empty());
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_are_consistent_and_named_as_upstream() {
        let m = OwnMetrics::new(BuildInfo {
            version: "0.1.0".into(),
            ..Default::default()
        });
        m.count_request("push", "PUT", 200);
        m.observe_push("PUT", 10, 0.5);
        m.count_scrape(200);
        let fams = m.families();
        let names: Vec<&str> = fams.iter().map(|f| f.name.as_str()).collect();
        for n in [
            "process_cpu_seconds_total",
            "process_start_time_seconds",
            "pushgateway_build_info",
            "pushgateway_http_requests_total",
            "pushgateway_http_push_size_bytes",
            "pushgateway_http_push_duration_seconds",
            "promhttp_metric_handler_requests_total",
        ] {
            assert!(names.contains(&n), "{n} missing from {names:?}");
        }
        let help = m.predefined_help();
        for f in &fams {
            assert_eq!(help.get(&f.name), Some(&f.help));
        }
        crate::consistency::gather(fams, vec![]).unwrap();
    }
}
